/**
 * One side of an MSE benchmark, run as its own process by bench-mse.ts (so each side has its own core
 * and its own OpenSSL configuration). Prints one JSON line with its result.
 *
 *   cipher <js|native> <MiB>                 RC4 throughput on 16 KiB blocks
 *   recv <plain|plaintext|rc4>               listen, accept one connection, count bytes until EOF
 *   send <plain|plaintext|rc4> <port> <MiB>  dial, send MiB as 16 KiB blocks with 13-byte headers
 * For rc4, the cipher is whatever createRc4 picks in this process (native under
 * --openssl-legacy-provider, TypeScript otherwise).
 */
import { createHash, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import * as net from 'node:net';
import { Duplex } from 'node:stream';
import { Cipher } from '../../src/protocol/mse-codec';
import { req2Hash } from '../../src/protocol/mse-crypto';
import { createRc4, JsRc4, nativeRc4Available } from '../../src/protocol/mse-rc4';
import { mseAccept, mseConnect } from '../../src/streams/mse-connection';

const INFO_HASH = createHash('sha1').update('bench mse').digest();
const BLOCK = 16384;
const [mode, ...args] = process.argv.slice(2);
const out = (o: object) => process.stdout.write(JSON.stringify(o) + '\n');
const cpuSeconds = () => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
};
const ciphersOf = (m: string): Cipher[] => (m === 'rc4' ? ['rc4'] : ['plaintext']);

async function cipher(impl: string, mib: number): Promise<void> {
  const key = randomBytes(20);
  const blocks = Array.from({ length: 64 }, () => randomBytes(BLOCK));
  const n = (mib * 2 ** 20) / BLOCK;
  const results: Record<string, number> = {};
  const modes = impl === 'js' ? (['update', 'owned'] as const) : (['update'] as const);
  for (const m of modes) {
    const rc4 = createRc4(key, impl === 'js' ? 'js' : 'native');
    const t = process.hrtime.bigint();
    for (let i = 0; i < n; i++) {
      const b = blocks[i & 63];
      if (m === 'update') rc4.update(b);
      else rc4.updateOwned(b);
    }
    results[m] = (mib * 2 ** 20) / 1e6 / (Number(process.hrtime.bigint() - t) / 1e9);
  }
  // The two implementations must agree (checked here, where native runs).
  let agrees: boolean | undefined;
  if (impl === 'native') {
    const sample = randomBytes(100_000);
    agrees = createRc4(key, 'native').update(sample).equals(new JsRc4(key).update(sample));
  }
  out({ impl, native: nativeRc4Available(), mbps: results, agrees });
}

async function recv(m: string): Promise<void> {
  const server = net.createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  out({ port: (server.address() as net.AddressInfo).port });
  const [socket] = (await once(server, 'connection')) as [net.Socket];
  server.close();
  socket.setNoDelay(true);
  let stream: Duplex = socket;
  let implementation = 'none';
  let bytes = 0;
  if (m !== 'plain') {
    const lookup = (h: Buffer) => (h.equals(req2Hash(INFO_HASH)) ? INFO_HASH : undefined);
    const done = await mseAccept(socket, { lookup, ciphers: ciphersOf(m) });
    stream = done.transport.stream;
    bytes += done.transport.prelude?.length ?? 0;
    implementation = done.cipher === 'rc4' ? (nativeRc4Available() ? 'native' : 'js') : 'plaintext';
  }
  let first = 0n;
  let cpu0 = 0;
  stream.on('data', (c: Buffer) => {
    if (first === 0n) {
      first = process.hrtime.bigint();
      cpu0 = cpuSeconds();
    }
    bytes += c.length;
  });
  stream.resume();
  await once(stream, 'end');
  const seconds = Number(process.hrtime.bigint() - first) / 1e9;
  out({ bytes, seconds, mbps: bytes / 1e6 / seconds, cpu: cpuSeconds() - cpu0, implementation });
  stream.destroy();
}

async function send(m: string, port: number, mib: number): Promise<void> {
  const socket = net.connect(port, '127.0.0.1');
  await once(socket, 'connect');
  socket.setNoDelay(true);
  let stream: Duplex = socket;
  if (m !== 'plain')
    stream = (await mseConnect(socket, { infoHash: INFO_HASH, ciphers: ciphersOf(m) })).transport.stream;
  const header = Buffer.alloc(13);
  const blocks = Array.from({ length: 64 }, () => randomBytes(BLOCK));
  const n = (mib * 2 ** 20) / (BLOCK + 13);
  const cpu0 = cpuSeconds();
  const t = process.hrtime.bigint();
  for (let i = 0; i < n; i++) {
    // Like a piece message: header and block written corked, then wait when the stream says so.
    stream.cork();
    stream.write(header);
    const ok = stream.write(blocks[i & 63]);
    stream.uncork();
    if (!ok) await once(stream, 'drain');
  }
  stream.end();
  await once(stream, 'finish');
  out({ seconds: Number(process.hrtime.bigint() - t) / 1e9, cpu: cpuSeconds() - cpu0 });
}

const main: Record<string, () => Promise<void>> = {
  cipher: () => cipher(args[0], Number(args[1])),
  recv: () => recv(args[0]),
  send: () => send(args[0], Number(args[1]), Number(args[2])),
};
(main[mode] ?? (() => Promise.reject(new Error(`unknown mode ${mode}`))))().catch((err) => {
  process.stderr.write(String((err as Error).stack ?? err) + '\n');
  process.exit(1);
});
