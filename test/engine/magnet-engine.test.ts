/**
 * Magnet links in-process: two engines on loopback. A seeding engine serves its info dictionary; a
 * leeching engine given only the link (info-hash and `x.pe`) fetches it, checks it, replaces the fetcher
 * with a torrent and downloads the data byte-identical.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Engine } from '../../src/actors/engine';
import { formatMagnet } from '../../src/protocol/magnet';
import { parseMetainfo } from '../../src/protocol/metainfo';
import { writeSingleFileTorrent } from '../support/raw-peer';
import { pseudoRandomBytes, tempDir } from '../support/run-cli';

jest.setTimeout(30_000);

let tmp: { dir: string; cleanup: () => void };
const engines: Engine[] = [];

beforeAll(() => {
  tmp = tempDir('rxt-magnet-engine-');
});
afterEach(async () => {
  await Promise.all(engines.splice(0).map((e) => e.stop()));
});
afterAll(() => tmp?.cleanup());

function seedFixture(name: string, size: number, pieceLength = 64 * 1024) {
  const data = pseudoRandomBytes(size, 7);
  const root = path.join(tmp.dir, name);
  const made = writeSingleFileTorrent(root, name, `${name}.bin`, data, pieceLength, 'seed');
  return { data, seedDir: path.join(root, 'seed'), meta: parseMetainfo(fs.readFileSync(made.torrentFile)) };
}

async function engine(): Promise<Engine> {
  const e = new Engine({ port: 0, bind: '127.0.0.1' });
  engines.push(e);
  await e.start();
  return e;
}

test('a magnet link with x.pe: metadata from the seeding engine, then the data', async () => {
  const f = seedFixture('m1', 3 * 1024 * 1024 + 77);
  const seeder = await engine();
  const seeding = seeder.add({ meta: f.meta, dir: f.seedDir, mode: 'seed', trackers: [] });
  await seeding.start();

  const leecher = await engine();
  const out = path.join(tmp.dir, 'm1', 'out');
  const link = formatMagnet({
    infoHashHex: f.meta.infoHashHex,
    name: 'm1',
    trackers: [],
    peers: [{ host: '127.0.0.1', port: seeder.port }],
  });
  const m = leecher.addMagnet(link, { dir: out });
  expect(m.status).toBe('new');
  expect(leecher.magnets()).toEqual([m]);
  m.start();
  expect(m.status).toBe('downloading metadata');
  const { meta, torrentFile } = await m.whenMetadata();
  expect(meta.infoHashHex).toBe(f.meta.infoHashHex);
  expect(meta.infoBytes.equals(f.meta.infoBytes)).toBe(true);
  expect(parseMetainfo(torrentFile).infoHashHex).toBe(f.meta.infoHashHex);
  const t = await m.whenTorrent();
  expect(leecher.get(f.meta.infoHashHex)).toBe(t);
  expect(leecher.magnets()).toEqual([]);
  expect(m.status).toBe('started');
  await t.whenFinishedOrFailed();
  expect(fs.readFileSync(path.join(out, 'm1.bin')).equals(f.data)).toBe(true);
});

test('removing a magnet while it fetches: its promises reject, nothing is left in the engine', async () => {
  const leecher = await engine();
  const link = formatMagnet({
    infoHashHex: 'ab'.repeat(20),
    trackers: [],
    peers: [{ host: '127.0.0.1', port: 1 }],
  });
  const m = leecher.addMagnet(link, { dir: path.join(tmp.dir, 'removed') });
  m.start();
  expect(() => leecher.addMagnet(link, { dir: tmp.dir })).toThrow(/already added/);
  const metadata = m.whenMetadata();
  await leecher.remove(m.infoHashHex);
  await expect(metadata).rejects.toThrow(/removed/);
  await expect(m.whenTorrent()).rejects.toThrow(/removed/);
  expect(m.status).toBe('removed');
  expect(leecher.magnets()).toEqual([]);
  expect(leecher.stats().torrents).toBe(0);
  expect(fs.existsSync(path.join(tmp.dir, 'removed'))).toBe(false);
});
