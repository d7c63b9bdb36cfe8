/**
 * The RPC server's HTTP layer against hostile and broken requests: session-id exchange, basic auth,
 * Host checks, methods, paths, body limits, malformed envelopes, and a backend that throws or hangs.
 * Every bad request gets its status or `result` string, and the server keeps answering afterwards.
 */
import * as net from 'node:net';
import { firstValueFrom, filter, toArray, take, timeout } from 'rxjs';
import type { EventInput } from '../../src/events/engine-event';
import { RpcServer, createRpcServer, parseRpcAuth } from '../../src/rpc/rpc-server';
import { MemoryBackend } from './memory-backend';
import { RpcClient, parseReply, rawRequest } from './rpc-client';

let backend: MemoryBackend;
let server: RpcServer;
let port: number;
let events: EventInput[];

async function startServer(extra: Partial<Parameters<typeof createRpcServer>[0]> = {}): Promise<void> {
  await server?.stop();
  server = createRpcServer({ backend, port: 0, commandTimeoutMs: 300, ...extra });
  events = [];
  server.events$.subscribe((e) => events.push(e));
  port = (await server.start()).port;
}

beforeEach(async () => {
  backend = new MemoryBackend();
  backend.put({ name: 'alpha.iso' });
  await startServer();
});
afterEach(async () => server.stop());

/** The server still answers a good request (nothing above broke it). */
async function stillServing(): Promise<void> {
  const r = await new RpcClient(port).call('session-get', { fields: ['rpc-version'] }, 5);
  expect(r).toEqual({ arguments: { 'rpc-version': 17 }, result: 'success', tag: 5 });
}

describe('session id (CSRF) exchange', () => {
  it('answers 409 with the id to a request without one, then 200 with it', async () => {
    const first = await rawRequest(port, { body: '{"method":"session-get"}' });
    expect(first.status).toBe(409);
    expect(first.headers['x-transmission-session-id']).toBe(server.sessionId);
    expect(first.body).toContain(server.sessionId);
    const second = await rawRequest(port, {
      body: '{"method":"session-get","tag":0}',
      headers: { 'X-Transmission-Session-Id': server.sessionId },
    });
    expect(second.status).toBe(200);
    const reply = parseReply(second);
    expect(reply).toMatchObject({ result: 'success', tag: 0 });
    expect(reply.arguments['session-id']).toBe(server.sessionId);
  });

  it('refuses a stale id (from a previous run) with 409 and the new id', async () => {
    const old = server.sessionId;
    await startServer();
    expect(server.sessionId).not.toBe(old);
    const r = await rawRequest(port, {
      body: '{"method":"session-get"}',
      headers: { 'X-Transmission-Session-Id': old },
    });
    expect(r.status).toBe(409);
    expect(r.headers['x-transmission-session-id']).toBe(server.sessionId);
  });

  it('sends no CORS headers, so another origin cannot read the id', async () => {
    const r = await rawRequest(port, { body: '{}', headers: { Origin: 'http://evil.example' } });
    expect(r.status).toBe(409);
    expect(r.headers['access-control-allow-origin']).toBeUndefined();
    expect(r.headers['access-control-expose-headers']).toBeUndefined();
    const pre = await rawRequest(port, {
      method: 'OPTIONS',
      headers: {
        Origin: 'http://evil.example',
        'Access-Control-Request-Headers': 'x-transmission-session-id',
      },
    });
    expect(pre.headers['access-control-allow-headers']).toBeUndefined();
  });
});

describe('basic auth', () => {
  beforeEach(() => startServer({ auth: parseRpcAuth('admin:s3cr:et') }));

  it.each([
    ['no Authorization header', {}],
    ['a wrong password', { Authorization: `Basic ${Buffer.from('admin:wrong').toString('base64')}` }],
    ['a wrong user', { Authorization: `Basic ${Buffer.from('root:s3cr:et').toString('base64')}` }],
    ['another scheme', { Authorization: 'Bearer s3cr:et' }],
    ['garbage', { Authorization: 'Basic !!!***' }],
    ['an oversized header', { Authorization: `Basic ${'A'.repeat(5000)}` }],
  ])('answers 401 to %s, before the session-id check', async (_label, headers) => {
    const r = await rawRequest(port, { body: '{"method":"session-get"}', headers });
    expect(r.status).toBe(401);
    expect(r.headers['www-authenticate']).toMatch(/^Basic realm=/);
    expect(r.headers['x-transmission-session-id']).toBeUndefined();
    expect(r.body).not.toContain('s3cr');
  });

  it('lets the right credentials through (the password may contain a colon)', async () => {
    const reply = await new RpcClient(port, 'admin:s3cr:et').call('session-get', { fields: ['version'] });
    expect(reply.result).toBe('success');
  });

  it('reports refusals as events without the credentials', async () => {
    for (let i = 0; i < 3; i++) {
      await rawRequest(port, {
        headers: { Authorization: `Basic ${Buffer.from('admin:guess').toString('base64')}` },
      });
    }
    const refused = events.filter((e) => e.type === 'RpcAuthRefused');
    expect(refused).toHaveLength(1); // the first, then every 100th: a flood cannot flood the log
    expect(JSON.stringify(events)).not.toMatch(/guess|s3cr/);
  });

  it('accepts any Host name when auth is on', async () => {
    const c = new RpcClient(port, 'admin:s3cr:et');
    const r = await c.post('{"method":"session-stats"}', { Host: 'nas.example:9091' });
    expect(r.status).toBe(200);
  });

  it('rejects a malformed --rpc-auth', () => {
    expect(() => parseRpcAuth('nopassword')).toThrow(/user:password/);
    expect(() => parseRpcAuth(':pw')).toThrow();
    expect(() => parseRpcAuth('user:')).toThrow();
  });
});

describe('HTTP-level refusals', () => {
  it('answers 404 outside /transmission/rpc, and accepts the trailing slash transmission-remote uses', async () => {
    expect((await rawRequest(port, { path: '/' })).status).toBe(404);
    expect((await rawRequest(port, { path: '/transmission/web/' })).status).toBe(404);
    expect((await rawRequest(port, { path: '/transmission/rpcx' })).status).toBe(404);
    const c = new RpcClient(port);
    await c.post('{}');
    const r = await rawRequest(port, {
      path: '/transmission/rpc/?x=1',
      body: '{"method":"session-stats"}',
      headers: { 'X-Transmission-Session-Id': c.sessionId },
    });
    expect(r.status).toBe(200);
  });

  it('answers 405 to GET with a valid session id, 409 to GET without (some clients fetch the id so)', async () => {
    expect((await rawRequest(port, { method: 'GET' })).status).toBe(409);
    const r = await rawRequest(port, {
      method: 'GET',
      headers: { 'X-Transmission-Session-Id': server.sessionId },
    });
    expect(r.status).toBe(405);
    expect(r.headers.allow).toBe('POST');
  });

  it('answers 421 to a Host name that could be DNS rebinding, but not to IPs or localhost', async () => {
    const c = new RpcClient(port);
    expect((await c.post('{}', { Host: 'evil.example' })).status).toBe(421);
    expect((await c.post('{"method":"session-stats"}', { Host: 'localhost:9091' })).status).toBe(200);
    expect((await c.post('{"method":"session-stats"}', { Host: '[::1]:9091' })).status).toBe(200);
    await startServer({ allowedHosts: ['nas.lan'] });
    expect((await new RpcClient(port).post('{"method":"session-stats"}', { Host: 'NAS.lan' })).status).toBe(
      200,
    );
  });

  it('answers 413 to a body over 10 MiB, declared or streamed, and keeps serving', async () => {
    const c = new RpcClient(port);
    await c.post('{}');
    const big = Buffer.alloc(10 * 1024 * 1024 + 1, 0x20);
    const declared = await rawRequest(port, {
      headers: { 'X-Transmission-Session-Id': c.sessionId, 'Content-Length': big.length },
    });
    expect(declared.status).toBe(413); // refused from the header, before any body is read
    const streamed = await rawRequest(port, {
      body: big,
      chunked: true,
      headers: { 'X-Transmission-Session-Id': c.sessionId },
    }).catch((e: Error) => e); // the server may close before the client finishes writing
    if (streamed instanceof Error) expect(streamed.message).toMatch(/EPIPE|ECONNRESET|socket hang up/);
    else expect(streamed.status).toBe(413);
    const exactly = Buffer.concat([
      Buffer.from('{"method":"session-stats"}'),
      Buffer.alloc(10 * 1024 * 1024 - 26, 0x20),
    ]);
    expect((await c.post(exactly.toString())).status).toBe(200);
    await stillServing();
  });

  it('drops the connection of a refused request whose body goes on past the cap', async () => {
    const big = Buffer.alloc(10 * 1024 * 1024 + 64 * 1024, 0x20);
    const r = await rawRequest(port, { body: big, chunked: true }).catch((e: Error) => e); // no session id: 409
    if (r instanceof Error) expect(r.message).toMatch(/EPIPE|ECONNRESET|socket hang up/);
    else expect(r.status).toBe(409);
    await stillServing();
  });

  it('drops a raw-socket request that is not HTTP without disturbing others', async () => {
    await new Promise<void>((resolve) => {
      const s = net.connect(port, '127.0.0.1', () => s.end('\x00\x01GARBAGE / HTTP/9\r\n\r\n'));
      s.on('close', () => resolve());
      s.on('error', () => resolve());
      s.resume();
    });
    await stillServing();
  });

  it('binds to 127.0.0.1 unless told otherwise', async () => {
    expect(server.url()).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/transmission\/rpc$/);
  });
});

describe('malformed envelopes', () => {
  const cases: Array<[string, string, RegExp]> = [
    ['not JSON', '{"method": "session-get"', /^malformed JSON request/],
    ['empty body', '', /^malformed JSON request/],
    ['a JSON array', '[1,2]', /^malformed request: expected a JSON object/],
    ['a JSON string', '"session-get"', /^malformed request/],
    ['null', 'null', /^malformed request/],
    ['no method', '{"arguments":{}}', /^no method name$/],
    ['a numeric method', '{"method":7}', /^invalid 'method'/],
    ['an unknown method', '{"method":"torrent-explode"}', /^method name not recognized$/],
    ['a prototype key as method', '{"method":"constructor"}', /^method name not recognized$/],
    ['__proto__ as method', '{"method":"__proto__"}', /^method name not recognized$/],
    [
      'a known but unsupported method',
      '{"method":"port-test"}',
      /^method not supported by rxtorrent: port-test$/,
    ],
    ['arguments as an array', '{"method":"session-get","arguments":[1]}', /^invalid 'arguments'/],
    ['arguments as a string', '{"method":"session-get","arguments":"x"}', /^invalid 'arguments'/],
    ['a string tag', '{"method":"session-get","tag":"abc"}', /^invalid 'tag'/],
    ['a fractional tag', '{"method":"session-get","tag":1.5}', /^invalid 'tag'/],
    [
      'deep nesting',
      `{"method":"session-get","arguments":${'['.repeat(200_000)}${']'.repeat(200_000)}}`,
      /./,
    ],
  ];

  it.each(cases)(
    '%s → HTTP 200 with a result string and an arguments object',
    async (_label, body, result) => {
      const reply = await new RpcClient(port).callRaw(body);
      expect(reply.result).toMatch(result);
      expect(reply.result).not.toBe('success');
      expect(reply.arguments).toEqual({});
    },
  );

  it('reads invalid UTF-8 as replacement characters, not a crash', async () => {
    const c = new RpcClient(port);
    await c.post('{}');
    const body = Buffer.concat([
      Buffer.from('{"method":"'),
      Buffer.from([0xff, 0xfe, 0xc3]),
      Buffer.from('"}'),
    ]);
    const reply = parseReply(
      await rawRequest(port, { body, headers: { 'X-Transmission-Session-Id': c.sessionId } }),
    );
    expect(reply.result).toBe('method name not recognized');
  });

  it('echoes an integer tag on errors too (0 included: transmission-remote uses it)', async () => {
    const c = new RpcClient(port);
    expect(await c.callRaw('{"method":"nope","tag":0}')).toEqual({
      arguments: {},
      result: 'method name not recognized',
      tag: 0,
    });
    expect((await c.callRaw('{"arguments":{},"tag":99}')).tag).toBe(99);
    await stillServing();
  });

  it('ignores a __proto__ key in arguments', async () => {
    const reply = await new RpcClient(port).callRaw(
      '{"method":"torrent-get","arguments":{"__proto__":{"fields":["id"]}}}',
    );
    expect(reply.result).toBe('no fields specified');
  });
});

describe('a misbehaving backend', () => {
  it('turns a throwing getter into an internal-error result and an event', async () => {
    backend.brokenGetter = true;
    const reply = await new RpcClient(port).call('torrent-get', { fields: ['id'] });
    expect(reply.result).toBe('internal error: engine exploded');
    expect(events.some((e) => e.type === 'RpcInternalError' && e.method === 'torrent-get')).toBe(true);
    backend.brokenGetter = false;
    await stillServing();
  });

  it('answers a command that never settles with a timeout result, and other requests meanwhile', async () => {
    backend.hang.add('stop');
    const c = new RpcClient(port);
    const pending = c.call('torrent-stop', { ids: [1] });
    await stillServing(); // not blocked by the hanging command
    const reply = await pending;
    expect(reply.result).toMatch(/alpha\.iso: torrent-stop 1: the engine did not answer within 300 ms/);
  });

  it('emits RpcListening with the URL', async () => {
    const s = createRpcServer({ backend, port: 0 });
    const seen = firstValueFrom(
      s.events$.pipe(
        filter((e) => e.type === 'RpcListening'),
        take(1),
        toArray(),
        timeout(5000),
      ),
    );
    await s.start();
    await s.start(); // idempotent
    expect((await seen)[0].url).toBe(s.url());
    await s.stop();
    await s.stop();
  });
});
