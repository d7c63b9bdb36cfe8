/**
 * The tracker's lean HTTP/1.1 server with raw sockets: keep-alive and pipelining in order,
 * `Connection: close`, HTTP/1.0, HEAD, and every malformed or hostile request closing only its own
 * connection (bad request line, a body, an oversized head, a head that never ends).
 */
import * as net from 'node:net';
import { createHttpWire } from '../../src/tracker/http-wire';

let server: net.Server;
let port: number;
let bad = 0;

beforeEach(async () => {
  bad = 0;
  server = createHttpWire(
    (req, reply) => {
      // Answer out of order in time: later pipelined requests must still come back in order.
      const delay = req.target === '/slow' ? 30 : 0;
      setTimeout(() => reply(200, Buffer.from(`${req.method} ${req.target}`)), delay);
    },
    {
      maxHeadBytes: 1024,
      headTimeoutMs: 200,
      idleTimeoutMs: 300,
      onOversize: () => Buffer.from('too big'),
      onBadRequest: () => bad++,
    },
  );
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  port = (server.address() as net.AddressInfo).port;
});
afterEach(async () => {
  await new Promise((r) => server.close(r));
});

/** Send `data`, collect everything until the server closes (or `untilBytes` arrived). */
function exchange(
  data: string,
  untilBytes?: (s: string) => boolean,
): Promise<{ text: string; closed: boolean }> {
  return new Promise((resolve, reject) => {
    const s = net.connect(port, '127.0.0.1', () => s.write(data, 'latin1'));
    let text = '';
    s.on('data', (d) => {
      text += d.toString('latin1');
      if (untilBytes?.(text)) {
        s.destroy();
        resolve({ text, closed: false });
      }
    });
    s.on('end', () => resolve({ text, closed: true }));
    s.on('error', reject);
  });
}

const get = (path: string, headers = ''): string => `GET ${path} HTTP/1.1\r\nHost: x\r\n${headers}\r\n`;

it('keeps a connection alive and answers pipelined requests in order', async () => {
  const r = await exchange(get('/slow') + get('/a') + get('/b'), (t) => t.includes('GET /b'));
  const bodies = r.text
    .split('HTTP/1.1 200 OK')
    .slice(1)
    .map((x) => x.split('\r\n\r\n')[1]);
  expect(bodies).toEqual(['GET /slow', 'GET /a', 'GET /b']);
  expect(r.text).not.toMatch(/Connection: close/);
});

it('Connection: close and HTTP/1.0 get one answer, with Connection: close, then the server closes', async () => {
  for (const req of [get('/c', 'Connection: close\r\n'), 'GET /d HTTP/1.0\r\n\r\n']) {
    const r = await exchange(req);
    expect(r.closed).toBe(true);
    expect(r.text).toMatch(
      /^HTTP\/1\.1 200 OK\r\n.*Content-Length: \d+\r\nConnection: close\r\n\r\nGET \/[cd]$/s,
    );
  }
});

it('HEAD gets the headers only', async () => {
  const r = await exchange('HEAD /h HTTP/1.1\r\nConnection: close\r\n\r\n');
  expect(r.text).toMatch(/Content-Length: 7\r\nConnection: close\r\n\r\n$/);
});

it.each([
  ['a garbage request line', 'HELLO\r\n\r\n', /400 Bad Request/],
  ['a lower-case method', 'get / HTTP/1.1\r\n\r\n', /400 Bad Request/],
  ['HTTP/2.0', 'GET / HTTP/2.0\r\n\r\n', /400 Bad Request/],
  ['a body', 'GET / HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello', /400 Bad Request[^]*bodies/],
  ['chunked', 'GET / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n', /400 Bad Request/],
  ['an oversized head', `GET /${'x'.repeat(2000)} HTTP/1.1\r\n\r\n`, /200 OK[^]*too big$/],
  ['an endless head', `GET / HTTP/1.1\r\nX: ${'y'.repeat(1500)}`, /200 OK[^]*too big$/],
])('%s: an answer, then the connection is closed', async (_n, req, re) => {
  const r = await exchange(req);
  expect(r.closed).toBe(true);
  expect(r.text).toMatch(re);
  expect(bad).toBe(1);
});

it('a head that never completes is dropped after the head timeout; an idle keep-alive after the idle timeout', async () => {
  const t0 = Date.now();
  const slow = await exchange('GET / HTTP/1.1\r\nHost');
  expect(slow).toEqual({ text: '', closed: true });
  expect(Date.now() - t0).toBeGreaterThanOrEqual(150);
  const idle = await exchange(get('/i'));
  expect(idle.closed).toBe(true);
  expect(idle.text).toMatch(/GET \/i$/);
});
