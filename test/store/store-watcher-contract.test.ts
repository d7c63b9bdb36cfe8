/**
 * The store-watching contract, run against every store: the local folder (fs.watch + rescan) and
 * Dropbox (the real SDK against the loopback emulator: list_folder, continue, longpoll). A watcher
 * passes if it reports what is there at the start, sees a torrent published while it watches within
 * 10 s, reports overwrites and removals once each, ignores files that are not torrents, and stops when
 * unsubscribed.
 */
import type { StoreWatchOptions } from '../../src/store/store-index';
import { watchStore } from '../../src/store/store-watcher';
import {
  StoreHarness,
  collect,
  dropboxHarness,
  localHarness,
  published,
  removed,
  torrentBytes,
} from './store-fixtures';

interface Harness extends StoreHarness {
  /** Watcher settings that keep the tests short (the defaults are for real use). */
  fast: StoreWatchOptions;
}

// Planted files are back-dated: written "a while ago", so the local watcher need not wait for them to settle.
const harnesses: [string, () => Promise<Harness>][] = [
  ['local folder', async () => ({ ...localHarness('rxt-watch-'), fast: { settleMs: 200, rescanMs: 500 } })],
  [
    'dropbox (SDK → loopback emulator)',
    async () => ({
      ...(await dropboxHarness({ pageSize: 2, longpollMaxMs: 2000 })),
      fast: { missingFolderPollMs: 200, retryDelayMs: 50 },
    }),
  ],
];

describe.each(harnesses)('store watcher contract: %s', (_label, make) => {
  let h: Harness;
  let stops: Array<() => void>;
  beforeEach(async () => {
    h = await make();
    stops = [];
  });
  afterEach(async () => {
    stops.forEach((s) => s());
    await h.close();
  });

  const watch = (opts: StoreWatchOptions = {}): ReturnType<typeof collect> => {
    const c = collect((onEvent) => watchStore(h.store, { ...h.fast, ...opts, onEvent }));
    stops.push(c.stop);
    return c;
  };

  it('reports the torrents already in the store as existing (across several listing pages)', async () => {
    for (const n of ['a.bin', 'b.bin', 'c.bin', 'd.bin', 'e.bin'])
      h.plant(`${n}.torrent`, torrentBytes(n), 60_000);
    const w = watch();
    for (const n of ['a.bin', 'b.bin', 'c.bin', 'd.bin', 'e.bin']) {
      await w.next(published(`${n}.torrent`, { existing: true, replaced: false }));
    }
    expect(w.changes).toHaveLength(5);
  });

  it('with emitExisting: false, reports only what changes after the start', async () => {
    h.plant('old.bin.torrent', torrentBytes('old.bin'), 60_000);
    const w = watch({ emitExisting: false });
    await w.event((e) => e.type === 'StoreWatchStarted');
    await h.store.publish('new.bin', torrentBytes('new.bin'));
    await w.next(published('new.bin.torrent', { existing: false }));
    expect(w.changes.map((c) => c.name)).toEqual(['new.bin.torrent']);
  });

  it('sees a torrent published while watching within 10 s, with the default settings', async () => {
    const w = collect((onEvent) => watchStore(h.store, { onEvent }));
    stops.push(w.stop);
    await w.event((e) => e.type === 'StoreWatchStarted');
    const started = Date.now();
    await h.store.publish('late.iso', torrentBytes('late.iso'));
    const c = await w.next(published('late.iso.torrent', { existing: false, replaced: false }), 10_000);
    expect(Date.now() - started).toBeLessThan(10_000);
    expect(c).toMatchObject({ entry: { name: 'late.iso.torrent', size: torrentBytes('late.iso').length } });
  });

  it('reports an overwrite as a replaced publication, and a removal once', async () => {
    await h.store.publish('x.img', torrentBytes('x.img', 1));
    const w = watch();
    await w.next(published('x.img.torrent', { existing: true }));
    await h.store.publish('x.img', torrentBytes('x.img', 2));
    await w.next(published('x.img.torrent', { replaced: true, existing: false }));
    await h.store.remove('x.img');
    await w.next(removed('x.img.torrent'));
    await h.store.publish('y.img', torrentBytes('y.img'));
    await w.next(published('y.img.torrent'));
    expect(w.changes.map((c) => `${c.type} ${c.name}`)).toEqual([
      'TorrentPublished x.img.torrent',
      'TorrentPublished x.img.torrent',
      'TorrentRemoved x.img.torrent',
      'TorrentPublished y.img.torrent',
    ]);
  });

  it('ignores files that are not torrents: other names, hidden files, temp files', async () => {
    const w = watch();
    await w.event((e) => e.type === 'StoreWatchStarted');
    h.plant('notes.txt', Buffer.from('hello'), 60_000);
    h.plant('.hidden.torrent', torrentBytes('hidden'), 60_000);
    h.plant('half.torrent.tmp', Buffer.from('d4:info'), 60_000);
    h.plant('real.bin.torrent', torrentBytes('real.bin'), 60_000);
    await w.next(published('real.bin.torrent'));
    expect(w.changes.map((c) => c.name)).toEqual(['real.bin.torrent']);
  });

  it('starts with an empty or missing folder and sees the first torrent published', async () => {
    const w = watch();
    await w.event((e) => e.type === 'StoreWatchStarted');
    await h.store.publish('first.bin', torrentBytes('first.bin'));
    await w.next(published('first.bin.torrent', { existing: false }));
  });

  it('stops when unsubscribed: nothing more is emitted', async () => {
    const w = watch();
    await h.store.publish('one.bin', torrentBytes('one.bin'));
    await w.next(published('one.bin.torrent'));
    w.stop();
    await h.store.publish('two.bin', torrentBytes('two.bin'));
    const other = watch(); // a second watcher proves the change was visible
    await other.next(published('two.bin.torrent'));
    expect(w.changes.map((c) => c.name)).toEqual(['one.bin.torrent']);
  });
});
