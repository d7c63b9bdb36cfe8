/**
 * Hostile metadata sources for a magnet link (issue 11), in-process on loopback: scripted peers
 * (test/support/metadata-peer.ts) that send metadata pieces of the wrong size or index, metadata that
 * does not hash to the info-hash, a `metadata_size` over 32 MiB, or a size that differs from other
 * peers'. Each is dropped or struck (and never trusted again), and the metadata then comes from an
 * honest seeder — a real engine — byte-identical.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { firstValueFrom, filter } from 'rxjs';
import { Engine } from '../../src/actors/engine';
import { Magnet } from '../../src/actors/magnet';
import type { EventInput } from '../../src/events/engine-event';
import { formatMagnet } from '../../src/protocol/magnet';
import { Metainfo, parseMetainfo } from '../../src/protocol/metainfo';
import { METADATA_PIECE_SIZE } from '../../src/protocol/ut-metadata';
import { MetadataPeer, MetadataScript, honest, metadataPeer, rawData } from '../support/metadata-peer';
import { writeSingleFileTorrent } from '../support/raw-peer';
import { pseudoRandomBytes, tempDir } from '../support/run-cli';

jest.setTimeout(30_000);

let tmp: { dir: string; cleanup: () => void };
let meta: Metainfo;
let seedDir: string;
const engines: Engine[] = [];
const liars: MetadataPeer[] = [];

beforeAll(() => {
  tmp = tempDir('rxt-magnet-hostile-');
  // 1,700 pieces of 16 KiB: an info dictionary of ~34 KiB, three metadata pieces.
  const data = pseudoRandomBytes(1700 * 16 * 1024 - 77, 5);
  const made = writeSingleFileTorrent(tmp.dir, 'h', 'h.bin', data, 16 * 1024, 'seed');
  seedDir = path.join(tmp.dir, 'seed');
  meta = parseMetainfo(fs.readFileSync(made.torrentFile));
  expect(Math.ceil(meta.infoBytes.length / METADATA_PIECE_SIZE)).toBe(3);
});
afterEach(async () => {
  for (const l of liars.splice(0)) l.close();
  await Promise.all(engines.splice(0).map((e) => e.stop()));
});
afterAll(() => tmp?.cleanup());

async function engine(): Promise<Engine> {
  const e = new Engine({ port: 0, bind: '127.0.0.1' });
  engines.push(e);
  await e.start();
  return e;
}

async function honestSeeder(): Promise<Engine> {
  const e = await engine();
  await e.add({ meta, dir: seedDir, mode: 'seed', trackers: [] }).start();
  return e;
}

async function liar(script: MetadataScript, metadataSize: number | undefined = meta.infoBytes.length) {
  const l = await metadataPeer({ infoHash: meta.infoHash, metadataSize, script });
  liars.push(l);
  return l;
}

/** A leeching engine with a magnet for `meta` whose only peers are `ports`; events recorded. */
async function magnetFrom(ports: number[]): Promise<{ m: Magnet; events: EventInput[]; leecher: Engine }> {
  const leecher = await engine();
  const events: EventInput[] = [];
  leecher.events$.subscribe((e) => events.push(e));
  const link = formatMagnet({
    infoHashHex: meta.infoHashHex,
    trackers: [],
    peers: ports.map((port) => ({ host: '127.0.0.1', port })),
  });
  const m = leecher.addMagnet(link, { dir: path.join(tmp.dir, `out-${engines.length}`) });
  m.start();
  return { m, events, leecher };
}

const event = (leecher: Engine, test: (e: EventInput) => boolean): Promise<EventInput> =>
  firstValueFrom(leecher.events$.pipe(filter(test)));

async function thenHonest(m: Magnet): Promise<void> {
  const seeder = await honestSeeder();
  m.addPeers([{ ip: '127.0.0.1', port: seeder.port }], 'manual');
  const got = await m.whenMetadata();
  expect(got.meta.infoBytes.equals(meta.infoBytes)).toBe(true);
}

test('a metadata piece of the wrong size closes that peer with a strike; another peer supplies it', async () => {
  const l = await liar((piece) => rawData(piece, meta.infoBytes.length, Buffer.alloc(100, 1)));
  const { m, leecher } = await magnetFrom([l.port]);
  const closed = await event(leecher, (e) => e.type === 'PeerDisconnected' && e.level === 'warn');
  expect(String(closed.reason)).toMatch(/ut_metadata: piece \d carries 100 bytes/);
  await thenHonest(m);
});

test('a piece index past the end closes the peer; an unrequested index is ignored', async () => {
  const size = meta.infoBytes.length;
  const pastEnd = await liar(() => rawData(9, size, Buffer.alloc(10)));
  const { m, leecher, events } = await magnetFrom([pastEnd.port]);
  const closed = await event(leecher, (e) => e.type === 'PeerDisconnected' && e.level === 'warn');
  expect(String(closed.reason)).toMatch(/past the end/);
  // Another peer sends, before each piece asked for, one nobody asked for (piece 2 while 0 and 1 are
  // out): ignored, and the right ones are taken.
  const good = honest(meta.infoBytes);
  const pushy = await liar((piece) => [good(2) as Buffer, good(piece) as Buffer]);
  m.addPeers([{ ip: '127.0.0.1', port: pushy.port }], 'manual');
  const got = await m.whenMetadata();
  expect(got.meta.infoBytes.equals(meta.infoBytes)).toBe(true);
  expect(events.some((e) => e.type === 'MetadataPieceIgnored' && e.piece === 2)).toBe(true);
});

test('metadata that does not hash: its only source is struck out, the honest seeder is used', async () => {
  const junk = pseudoRandomBytes(meta.infoBytes.length, 99);
  const l = await liar(honest(junk));
  const { m, leecher } = await magnetFrom([l.port]);
  const struck = await event(leecher, (e) => e.type === 'MetadataPeerStruck');
  expect(struck).toMatchObject({ struckOut: true, reason: expect.stringMatching(/does not hash/) });
  await thenHonest(m);
  const asked = l.requests.length;
  expect(asked).toBe(3); // one attempt, never asked again
});

test('a metadata_size over 32 MiB: struck out at once and never asked', async () => {
  const l = await liar(honest(meta.infoBytes), 33 * 1024 * 1024);
  const { m, leecher } = await magnetFrom([l.port]);
  const struck = await event(leecher, (e) => e.type === 'MetadataPeerStruck');
  expect(struck).toMatchObject({ struckOut: true, reason: expect.stringMatching(/out of range/) });
  await thenHonest(m);
  expect(l.requests).toEqual([]);
});

test('a peer whose size differs from the others: its size is tried, fails, and it is struck', async () => {
  const other = meta.infoBytes.length + 1000;
  const l = await liar(honest(pseudoRandomBytes(other, 3)), other);
  const { m, leecher, events } = await magnetFrom([l.port]);
  await event(leecher, (e) => e.type === 'MetadataPeerStruck');
  await thenHonest(m);
  expect(events.filter((e) => e.type === 'MetadataSizeChosen').map((e) => e.size)).toEqual([
    other,
    meta.infoBytes.length,
  ]);
});
