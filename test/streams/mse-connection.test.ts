import { createHash, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import * as net from 'node:net';
import { Duplex } from 'node:stream';
import { Cipher, EncryptionPolicy, MseError, sniffIncoming } from '../../src/protocol/mse-codec';
import { req2Hash } from '../../src/protocol/mse-crypto';
import { MseLookup } from '../../src/protocol/mse-responder';
import { mseAccept, MseAcceptOptions, mseConnect, MseConnectOptions } from '../../src/streams/mse-connection';
import { PeerTransport } from '../../src/streams/peer-transport';

const INFO_HASH = createHash('sha1').update('mse socket test').digest();
const lookup: MseLookup = (h) => (h.equals(req2Hash(INFO_HASH)) ? INFO_HASH : undefined);
const handshake = (tag: number) =>
  Buffer.concat([
    Buffer.from('\x13BitTorrent protocol', 'latin1'),
    Buffer.alloc(8),
    INFO_HASH,
    Buffer.alloc(20, tag),
  ]);

jest.setTimeout(20_000);

const cleanups: (() => void)[] = [];
afterEach(() => {
  while (cleanups.length) cleanups.pop()?.();
});

/** A loopback server; resolves each accepted socket through `accepted`. */
async function listen(): Promise<{ port: number; accepted: () => Promise<net.Socket> }> {
  const queue: net.Socket[] = [];
  const waiters: ((s: net.Socket) => void)[] = [];
  const server = net.createServer((s) => {
    s.on('error', () => undefined);
    const w = waiters.shift();
    if (w) w(s);
    else queue.push(s);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  cleanups.push(() => server.close());
  return {
    port: (server.address() as net.AddressInfo).port,
    accepted: () =>
      new Promise((resolve) => (queue.length ? resolve(queue.shift() as net.Socket) : waiters.push(resolve))),
  };
}

async function dial(port: number): Promise<net.Socket> {
  const s = net.connect(port, '127.0.0.1');
  s.on('error', () => undefined);
  cleanups.push(() => s.destroy());
  await once(s, 'connect');
  return s;
}

/** Everything `t` yields (prelude first) until `n` bytes have arrived. */
function readN(t: PeerTransport, n: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const parts: Buffer[] = t.prelude ? [t.prelude] : [];
    let got = t.prelude?.length ?? 0;
    const check = () => {
      if (got < n) return;
      t.stream.off('data', onData);
      t.stream.pause();
      resolve(Buffer.concat(parts));
    };
    const onData = (c: Buffer) => {
      parts.push(Buffer.from(c));
      got += c.length;
      check();
    };
    t.stream.on('data', onData);
    t.stream.once('error', reject);
    t.stream.resume();
    check();
  });
}

async function connectPair(c: Partial<MseConnectOptions> = {}, a: Partial<MseAcceptOptions> = {}) {
  const { port, accepted } = await listen();
  const client = await dial(port);
  const server = await accepted();
  const [outgoing, incoming] = await Promise.all([
    mseConnect(client, { infoHash: INFO_HASH, initialPayload: handshake(1), ...c }),
    mseAccept(server, { lookup, ...a }),
  ]);
  return { client, server, outgoing, incoming };
}

describe('mseConnect / mseAccept over loopback', () => {
  const policies: [EncryptionPolicy, EncryptionPolicy, Cipher][] = [
    ['preferred', 'preferred', 'rc4'],
    ['preferred', 'tolerated', 'plaintext'],
    ['required', 'tolerated', 'rc4'],
    ['required', 'preferred', 'rc4'],
    ['preferred', 'required', 'rc4'],
    ['required', 'required', 'rc4'],
  ];
  it.each(policies)(
    'dialler %s, listener %s: %s, handshakes and 4 MiB each way intact',
    async (dp, lp, cipher) => {
      const { outgoing, incoming } = await connectPair({ policy: dp }, { policy: lp });
      expect(outgoing.cipher).toBe(cipher);
      expect(incoming.cipher).toBe(cipher);
      expect(outgoing.transport.encryption).toBe(cipher);
      expect(incoming.infoHash.equals(INFO_HASH)).toBe(true);
      expect(incoming.initialPayload.equals(handshake(1))).toBe(true);
      if (cipher === 'plaintext') expect(incoming.transport.stream).toBeInstanceOf(net.Socket);

      const up = randomBytes(4 << 20);
      const down = randomBytes(4 << 20);
      const toServer = readN(incoming.transport, 68 + up.length);
      const toClient = readN(outgoing.transport, 68 + down.length);
      incoming.transport.stream.write(handshake(2));
      for (let at = 0; at < down.length; at += 16384)
        incoming.transport.stream.write(down.subarray(at, at + 16384));
      outgoing.transport.stream.cork();
      for (let at = 0; at < up.length; at += 16384) {
        outgoing.transport.stream.write(up.subarray(at, at + 13));
        outgoing.transport.stream.write(up.subarray(at + 13, at + 16384));
      }
      outgoing.transport.stream.uncork();
      const [atServer, atClient] = await Promise.all([toServer, toClient]);
      expect(atServer.subarray(0, 68).equals(handshake(1))).toBe(true);
      expect(atServer.subarray(68).equals(up)).toBe(true);
      expect(atClient.subarray(0, 68).equals(handshake(2))).toBe(true);
      expect(atClient.subarray(68).equals(down)).toBe(true);
    },
  );

  it('refuses to agree when a required listener is offered plaintext only', async () => {
    const { port, accepted } = await listen();
    const client = await dial(port);
    const server = await accepted();
    const results = await Promise.allSettled([
      mseConnect(client, { infoHash: INFO_HASH, ciphers: ['plaintext'] }),
      mseAccept(server, { lookup, policy: 'required' }),
    ]);
    expect(results.map((r) => r.status)).toEqual(['rejected', 'rejected']);
    const [dialErr, acceptErr] = results.map((r) => (r as PromiseRejectedResult).reason as MseError);
    expect(acceptErr.code).toBe('no-common-cipher');
    expect(dialErr.code).toBe('closed');
    expect(server.destroyed).toBe(true);
  });

  it('says "closed" quickly when a plain-only peer hangs up on our key', async () => {
    const { port, accepted } = await listen();
    const client = await dial(port);
    const server = await accepted();
    // A plain-only peer reads the first byte as pstrlen, sees it is not 19 and closes.
    server.once('data', () => server.destroy());
    const err = (await mseConnect(client, { infoHash: INFO_HASH }).catch((e) => e)) as MseError;
    expect(err).toBeInstanceOf(MseError);
    expect(err.code).toBe('closed');
    expect(err.message).toMatch(/step 2/);
  });

  it('times out a silent peer and a peer that stops halfway, and destroys the socket', async () => {
    const { port, accepted } = await listen();
    const silent = await dial(port);
    const s1 = await accepted();
    const halfway = await dial(port);
    const s2 = await accepted();
    halfway.write(randomBytes(96 + 40));
    silent.resume();
    halfway.resume();
    const clientsClosed = Promise.all([once(silent, 'close'), once(halfway, 'close')]);
    const started = Date.now();
    const [e1, e2] = (await Promise.all([
      mseAccept(s1, { lookup, timeoutMs: 300 }).catch((e) => e),
      mseAccept(s2, { lookup, timeoutMs: 300 }).catch((e) => e),
    ])) as MseError[];
    expect(e1.code).toBe('timeout');
    expect(e2.code).toBe('timeout');
    expect(e2.message).toMatch(/sync hash/);
    expect(Date.now() - started).toBeLessThan(5_000);
    expect(s1.destroyed && s2.destroyed).toBe(true);
    await clientsClosed;
  });

  it('says "closed" when the stream ends inside the handshake', async () => {
    const { port, accepted } = await listen();
    const client = await dial(port);
    const server = await accepted();
    client.end(randomBytes(50));
    const err = (await mseAccept(server, { lookup }).catch((e) => e)) as MseError;
    expect(err.code).toBe('closed');
    expect(err.message).toMatch(/public key/);
  });

  it('takes the bytes a listener read to sniff the connection', async () => {
    const { port, accepted } = await listen();
    const client = await dial(port);
    const server = await accepted();
    const outgoing = mseConnect(client, { infoHash: INFO_HASH, initialPayload: handshake(1) });
    const [head] = (await once(server, 'data')) as [Buffer];
    server.pause();
    expect(sniffIncoming(head)).toBe('encrypted');
    const incoming = await mseAccept(server, { lookup, head });
    await outgoing;
    expect(incoming.initialPayload.equals(handshake(1))).toBe(true);
  });

  it('passes backpressure through the RC4 stream: bounded reader buffer, writer told to wait, drain', async () => {
    const { outgoing, incoming } = await connectPair({ policy: 'required' });
    const writer = outgoing.transport.stream;
    const reader = incoming.transport.stream as Duplex;
    // The reader is paused (as handed over): the writer's queue grows, TCP fills, write() says stop.
    const block = randomBytes(64 * 1024);
    let writes = 0;
    while (writer.write(block) && writes < 1000) writes++;
    expect(writes).toBeLessThan(1000);
    await new Promise((r) => setTimeout(r, 100));
    expect(writer.writableLength).toBeGreaterThan(0);
    // The receiving side holds a bounded amount: its socket is paused once its own buffer is full.
    expect(reader.readableLength).toBeLessThanOrEqual(reader.readableHighWaterMark + 64 * 1024);
    const total = (writes + 1) * block.length;
    const drained = once(writer, 'drain');
    const got = await readN({ stream: reader, encryption: 'rc4' }, total);
    await drained;
    expect(got.length).toBe(total);
    expect(got.subarray(0, block.length).equals(block)).toBe(true);
  });

  it('ends and closes the other side when one side ends or is destroyed', async () => {
    const { outgoing, incoming } = await connectPair({ policy: 'required' });
    const r = incoming.transport.stream;
    r.resume();
    const ended = once(r, 'end');
    const closed1 = once(r, 'close');
    outgoing.transport.stream.end(Buffer.from('bye'));
    await ended;
    await closed1;

    const second = await connectPair({ policy: 'required' });
    const closed = once(second.outgoing.transport.stream, 'close');
    second.outgoing.transport.stream.resume();
    second.incoming.transport.stream.destroy();
    await closed;
    expect(second.client.destroyed).toBe(true);
  });
});
