/**
 * The local-folder watcher beyond the shared contract: a torrent still being written is not published
 * until it is complete; the periodic rescan finds what fs.watch would have; a folder that disappears
 * or cannot be listed is a warning and a recovery, not a crash or a flood of removals.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { LocalTorrentStore } from '../../src/store/local-store';
import { watchLocalStore } from '../../src/store/local-store-watcher';
import type { StoreWatchOptions } from '../../src/store/store-index';
import { tempDir } from '../support/run-cli';
import { collect, published, removed, torrentBytes } from './store-fixtures';

let t: { dir: string; cleanup: () => void };
let dir: string;
let store: LocalTorrentStore;
let stops: Array<() => void>;

beforeEach(() => {
  t = tempDir('rxt-lwatch-');
  dir = path.join(t.dir, 'torrents');
  store = new LocalTorrentStore(dir);
  stops = [];
});
afterEach(() => {
  stops.forEach((s) => s());
  t.cleanup();
});

function watch(opts: StoreWatchOptions): ReturnType<typeof collect> {
  const c = collect((onEvent) => watchLocalStore(store, { ...opts, onEvent }));
  stops.push(c.stop);
  return c;
}

const tick = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

it('holds back a torrent while it is being written, and publishes it once, complete', async () => {
  const w = watch({ settleMs: 300, rescanMs: 100 });
  await w.event((e) => e.type === 'StoreWatchStarted');
  const bytes = torrentBytes('slow.iso');
  const file = path.join(dir, 'slow.iso.torrent');
  const fd = fs.openSync(file, 'w');
  // A slow writer (a copy over a network share): a few bytes every 100 ms, for 1.2 s — four times the
  // settle time, and twelve rescans that each see a half-written file.
  const step = Math.ceil(bytes.length / 12);
  for (let i = 0; i < bytes.length; i += step) {
    fs.writeSync(fd, bytes.subarray(i, i + step));
    await tick(100);
  }
  expect(w.changes).toEqual([]);
  fs.closeSync(fd);
  const c = await w.next(published('slow.iso.torrent'));
  expect(c).toMatchObject({ entry: { size: bytes.length }, replaced: false });
  await store.publish('after.iso', torrentBytes('after.iso')); // later changes still flow
  await w.next(published('after.iso.torrent'));
  expect(w.changes.filter((x) => x.name === 'slow.iso.torrent')).toHaveLength(1);
});

it('finds changes by rescanning alone when fs.watch is off (file systems that never report)', async () => {
  const w = watch({ useFsWatch: false, rescanMs: 150, settleMs: 100 });
  await w.event((e) => e.type === 'StoreWatchStarted');
  await store.publish('a.bin', torrentBytes('a.bin'));
  await w.next(published('a.bin.torrent'));
  await store.remove('a.bin');
  await w.next(removed('a.bin.torrent'));
});

it('creates a missing store folder so that it can be watched from the start', async () => {
  expect(fs.existsSync(dir)).toBe(false);
  const w = watch({ rescanMs: 60_000, settleMs: 100 }); // only fs.watch can see this in time
  await w.event((e) => e.type === 'StoreWatchStarted');
  expect(fs.statSync(dir).isDirectory()).toBe(true);
  await store.publish('b.bin', torrentBytes('b.bin'));
  await w.next(published('b.bin.torrent'));
});

it('reports a folder it cannot list once, keeps what it knew, and recovers', async () => {
  await store.publish('kept.bin', torrentBytes('kept.bin'));
  fs.utimesSync(path.join(dir, 'kept.bin.torrent'), new Date(0), new Date(0));
  const w = watch({ rescanMs: 100, settleMs: 100 });
  await w.next(published('kept.bin.torrent', { existing: true }));
  const moved = `${dir}.away`;
  fs.renameSync(dir, moved);
  fs.writeFileSync(dir, 'not a folder'); // readdir now fails with ENOTDIR
  const failed = await w.event((e) => e.type === 'StoreWatchFailed');
  expect(failed).toMatchObject({ level: 'warn', store: 'local' });
  await tick(350); // several failing rescans
  expect(w.events.filter((e) => e.type === 'StoreWatchFailed')).toHaveLength(1);
  expect(w.changes.filter((c) => c.type === 'TorrentRemoved')).toEqual([]);
  fs.rmSync(dir);
  fs.renameSync(moved, dir);
  await w.event((e) => e.type === 'StoreWatchRecovered');
  await store.publish('new.bin', torrentBytes('new.bin'));
  await w.next(published('new.bin.torrent'));
  expect(w.changes.map((c) => `${c.type} ${c.name}`)).toEqual([
    'TorrentPublished kept.bin.torrent',
    'TorrentPublished new.bin.torrent',
  ]);
});

it('reports every torrent removed when the folder is deleted, and new ones when it comes back', async () => {
  await store.publish('x.bin', torrentBytes('x.bin'));
  const w = watch({ rescanMs: 100, settleMs: 100 });
  await w.next(published('x.bin.torrent'));
  fs.rmSync(dir, { recursive: true });
  await w.next(removed('x.bin.torrent'));
  await store.publish('y.bin', torrentBytes('y.bin'));
  await w.next(published('y.bin.torrent'));
});

it('stops its timers and fs.watch when unsubscribed', async () => {
  const w = watch({ rescanMs: 50, settleMs: 50 });
  await w.event((e) => e.type === 'StoreWatchStarted');
  w.stop();
  await store.publish('late.bin', torrentBytes('late.bin'));
  await tick(300);
  expect(w.changes).toEqual([]);
});
