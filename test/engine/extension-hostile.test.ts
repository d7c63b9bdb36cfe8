/**
 * Hostile extended messages against a seeding engine (issue 11), in-process on loopback: a malformed or
 * oversized extended handshake, a malformed or oversized ut_pex or ut_metadata message, a PEX flood and a
 * metadata request flood each close that peer only — another peer connected all along still downloads
 * the whole file — while unknown extension ids and unknown ut_metadata types are ignored, as BEP 10 and
 * BEP 9 ask.
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import { Engine } from '../../src/actors/engine';
import {
  ExtensionHandshake,
  OUR_EXTENSION_IDS,
  decodeExtensionHandshake,
  encodeExtensionHandshake,
} from '../../src/protocol/extension-handshake';
import { parseMetainfo } from '../../src/protocol/metainfo';
import { decodeUtMetadata, encodeUtMetadata } from '../../src/protocol/ut-metadata';
import { encodePex } from '../../src/protocol/ut-pex';
import { Extended, encodeHandshake, makeReserved } from '../../src/protocol/wire-codec';
import { RawPeer, RawTorrent, downloadAll, writeSingleFileTorrent } from '../support/raw-peer';
import { pseudoRandomBytes, tempDir } from '../support/run-cli';

jest.setTimeout(30_000);

const PIECE = 64 * 1024;
const SIZE = 20 * PIECE + 999;
const UT_METADATA = OUR_EXTENSION_IDS.get('ut_metadata') as number;
const UT_PEX = OUR_EXTENSION_IDS.get('ut_pex') as number;

let tmp: { dir: string; cleanup: () => void };
let engine: Engine;
let data: Buffer;
let torrent: RawTorrent;
let infoBytes: Buffer;

beforeAll(async () => {
  tmp = tempDir('rxt-ext-hostile-');
  data = pseudoRandomBytes(SIZE, 17);
  const made = writeSingleFileTorrent(tmp.dir, 'x', 'x.bin', data, PIECE, '.');
  torrent = made.torrent;
  const meta = parseMetainfo(fs.readFileSync(made.torrentFile));
  infoBytes = meta.infoBytes;
  engine = new Engine({ port: 0, bind: '127.0.0.1' });
  await engine.start();
  await engine.add({ meta, dir: tmp.dir, mode: 'seed', trackers: [] }).start();
});
afterAll(async () => {
  await engine?.stop();
  tmp?.cleanup();
});

/** A raw peer past both handshakes: ours (with `m`) sent, the engine's read. */
async function extPeer(m: Record<string, number> = { ut_pex: 5, ut_metadata: 6 }): Promise<{
  peer: RawPeer;
  theirs: ExtensionHandshake;
}> {
  const peer = await RawPeer.connect(engine.port, { pieceCount: torrent.pieceCount });
  peer.write(
    encodeHandshake({
      infoHash: torrent.infoHash,
      peerId: Buffer.from(`-HX0001-${Math.random().toString(36).slice(2, 14).padEnd(12, '0')}`),
      reserved: makeReserved({ extensions: true, fast: true }),
    }),
  );
  await peer.nextFrame((f) => f.type === 'Handshake');
  const ext = (await peer.nextFrame((f) => f.type === 'Extended' && f.id === 0)) as Extended;
  peer.send({
    type: 'Extended',
    id: 0,
    payload: encodeExtensionHandshake({ m: new Map(Object.entries(m)) }),
  });
  return { peer, theirs: decodeExtensionHandshake(ext.payload) };
}

/** Sends `frames`, expects the engine to hang up, and a bystander to download everything meanwhile. */
async function closesOnlyThatPeer(send: (peer: RawPeer) => void): Promise<void> {
  const { peer } = await extPeer();
  const bystander = downloadAll(engine.port, torrent, { timeoutMs: 15_000 });
  send(peer);
  await peer.waitClosed(5_000);
  expect((await bystander).equals(data)).toBe(true);
}

const metadataRequest = (piece: number): Buffer => encodeUtMetadata({ type: 'MetadataRequest', piece });

it('offers ut_metadata and ut_pex, with the metadata size, and serves the info dictionary', async () => {
  const { peer, theirs } = await extPeer();
  expect(theirs.m.get('ut_metadata')).toBe(UT_METADATA);
  expect(theirs.m.get('ut_pex')).toBe(UT_PEX);
  expect(theirs.metadataSize).toBe(infoBytes.length);
  peer.send({ type: 'Extended', id: UT_METADATA, payload: metadataRequest(0) });
  const reply = (await peer.nextFrame((f) => f.type === 'Extended' && f.id === 6)) as Extended;
  const msg = decodeUtMetadata(reply.payload);
  expect(msg.type === 'MetadataData' && createHash('sha1').update(msg.data).digest()).toEqual(
    torrent.infoHash,
  );
  peer.destroy();
});

it('ignores unknown extension ids and unknown ut_metadata message types', async () => {
  const { peer } = await extPeer();
  peer.send(
    { type: 'Extended', id: 77, payload: Buffer.from('not bencode at all') },
    { type: 'Extended', id: UT_METADATA, payload: Buffer.from('d8:msg_typei9e5:piecei0ee') },
    { type: 'Extended', id: UT_METADATA, payload: metadataRequest(5) }, // past the end: a reject
  );
  const reply = (await peer.nextFrame((f) => f.type === 'Extended' && f.id === 6)) as Extended;
  expect(decodeUtMetadata(reply.payload)).toEqual({ type: 'MetadataReject', piece: 5 });
  expect(peer.isClosed).toBe(false);
  peer.destroy();
});

it.each([
  [
    'a malformed extended handshake',
    (p: RawPeer) => p.send({ type: 'Extended', id: 0, payload: Buffer.from('d1:mi5ee') }),
  ],
  [
    'an extended handshake over 16 KiB',
    (p: RawPeer) =>
      p.send({ type: 'Extended', id: 0, payload: Buffer.from(`d1:v${17000}:${'x'.repeat(17000)}e`) }),
  ],
  [
    'an extended message over the frame cap (length prefix only)',
    (p: RawPeer) => p.write(Buffer.from([0, 1, 0, 0, 20, UT_PEX])),
  ],
  [
    'a malformed ut_pex message',
    (p: RawPeer) => p.send({ type: 'Extended', id: UT_PEX, payload: Buffer.from('d5:added3:abce') }),
  ],
  [
    'a ut_pex message with too many peers',
    (p: RawPeer) =>
      p.send({
        type: 'Extended',
        id: UT_PEX,
        payload: Buffer.from(`d5:added${6 * 201}:${'\x0a\x00\x00\x01\x1a\xe1'.repeat(201)}e`, 'latin1'),
      }),
  ],
  [
    'a malformed ut_metadata message',
    (p: RawPeer) => p.send({ type: 'Extended', id: UT_METADATA, payload: Buffer.from('d5:piecei0ee') }),
  ],
  [
    'a PEX flood (seven messages within a minute)',
    (p: RawPeer) => {
      for (let i = 0; i < 7; i++)
        p.send({ type: 'Extended', id: UT_PEX, payload: encodePex({ added: [], dropped: [] }) });
    },
  ],
  [
    'a metadata request flood',
    (p: RawPeer) => {
      for (let i = 0; i < 300; i++)
        p.send({ type: 'Extended', id: UT_METADATA, payload: metadataRequest(0) });
    },
  ],
])('%s closes that peer only', async (_what, send) => {
  await closesOnlyThatPeer(send);
});
