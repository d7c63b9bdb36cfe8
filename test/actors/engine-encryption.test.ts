/**
 * The engine's encryption API and bookkeeping, in-process on loopback: `setEncryption` (what serve's
 * RPC `session-set encryption` calls) takes effect for the next connection and says so; a removed
 * torrent can no longer be named by an encrypted handshake; `stop()` ends handshakes still running.
 */
import { once } from 'node:events';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { Engine } from '../../src/actors/engine';
import { EventInput } from '../../src/events/engine-event';
import { MseError } from '../../src/protocol/mse-codec';
import { buildMetainfo, Metainfo, parseMetainfo } from '../../src/protocol/metainfo';
import { encodeHandshake } from '../../src/protocol/wire-codec';
import { mseConnect } from '../../src/streams/mse-connection';
import { until } from '../support/child-process';
import { pieceHashes } from '../support/raw-peer';
import { pseudoRandomBytes, tempDir } from '../support/run-cli';

let tmp: { dir: string; cleanup: () => void };
let meta: Metainfo;
let engine: Engine;
const events: EventInput[] = [];
const PEER_ID = Buffer.from('-TT0001-000000000001');

beforeAll(() => {
  tmp = tempDir('rxt-engine-enc-');
  const data = pseudoRandomBytes(100_000, 5);
  fs.writeFileSync(path.join(tmp.dir, 'e.bin'), data);
  meta = parseMetainfo(
    buildMetainfo({
      name: 'e.bin',
      pieceLength: 32768,
      pieces: pieceHashes(data, 32768),
      files: [{ path: ['e.bin'], length: data.length }],
      multiFile: false,
    }),
  );
});

beforeEach(async () => {
  events.length = 0;
  engine = new Engine({ port: 0, bind: '127.0.0.1', handshakeTimeoutMs: 2_000 });
  engine.events$.subscribe((e) => events.push(e));
  await engine.start();
  await engine.add({ meta, dir: tmp.dir, mode: 'seed', trackers: [], resumeFile: false }).start();
});

afterEach(() => engine.stop());
afterAll(() => tmp?.cleanup());

async function connect(): Promise<net.Socket> {
  const s = net.connect(engine.port, '127.0.0.1');
  s.on('error', () => undefined);
  await once(s, 'connect');
  return s;
}

/** A plain handshake; resolves with whether the engine answered (true) or hung up (false). */
async function plainAnswered(): Promise<boolean> {
  const s = await connect();
  s.write(encodeHandshake({ infoHash: meta.infoHash, peerId: PEER_ID }));
  const r = await Promise.race([once(s, 'data').then(() => true), once(s, 'close').then(() => false)]);
  s.destroy();
  return r;
}

it('setEncryption: refuses an unknown policy, says a change once, applies it to the next connection', async () => {
  expect(engine.encryption).toBe('preferred');
  expect(() => engine.setEncryption('always')).toThrow(RangeError);
  expect(() => engine.setEncryption('always')).toThrow(/preferred, required, tolerated/);
  expect(await plainAnswered()).toBe(true);

  engine.setEncryption('required');
  engine.setEncryption('required');
  expect(engine.encryption).toBe('required');
  expect(events.filter((e) => e.type === 'EncryptionPolicyChanged')).toMatchObject([
    { category: 'engine', policy: 'required', previous: 'preferred' },
  ]);
  expect(await plainAnswered()).toBe(false);
  expect(events.find((e) => e.type === 'IncomingRefused')).toMatchObject({
    level: 'info',
    reason: 'plain handshake refused: encryption is required',
  });
  // Plaintext after the header is refused too; RC4 is what `required` selects.
  await expect(
    mseConnect(await connect(), { infoHash: meta.infoHash, ciphers: ['plaintext'] }),
  ).rejects.toThrow(MseError);
  const ok = await mseConnect(await connect(), { infoHash: meta.infoHash, policy: 'preferred' });
  expect(ok.cipher).toBe('rc4');
  ok.transport.stream.destroy();

  engine.setEncryption('tolerated');
  expect(await plainAnswered()).toBe(true);
  const header = await mseConnect(await connect(), { infoHash: meta.infoHash, policy: 'preferred' });
  expect(header.cipher).toBe('plaintext');
  header.transport.stream.destroy();
});

it('a removed torrent can no longer be named by an encrypted handshake', async () => {
  const s = await connect();
  await engine.remove(meta.infoHashHex);
  const closed = once(s, 'close');
  await expect(mseConnect(s, { infoHash: meta.infoHash })).rejects.toThrow(MseError);
  await closed;
  await until('the refusal', () => events.find((e) => e.code === 'unknown-info-hash'));
  expect(engine.stats().unknownInfoHash).toBe(1);
});

it('stop() ends encrypted handshakes still running, in both directions', async () => {
  // Incoming: a peer that sent half a public key and waits.
  const s = await connect();
  s.write(Buffer.alloc(40, 7));
  // Outgoing: a dial to a peer that accepts and never answers.
  let dialled = 0;
  const silent = net.createServer((c) => {
    dialled++;
    c.on('error', () => undefined);
  });
  silent.listen(0, '127.0.0.1');
  await once(silent, 'listening');
  const t = engine.get(meta.infoHashHex);
  t?.addPeers([{ ip: '127.0.0.1', port: (silent.address() as net.AddressInfo).port }], 'manual');
  await until('the engine to dial', () => (dialled > 0 ? true : undefined));
  const started = Date.now();
  await Promise.all([engine.stop(), once(s, 'close')]);
  expect(Date.now() - started).toBeLessThan(1_500); // not the 2 s handshake timeout
  silent.close();
});
