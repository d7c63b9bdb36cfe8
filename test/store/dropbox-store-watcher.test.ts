/**
 * The Dropbox watcher beyond the shared contract, through the real SDK against the loopback emulator:
 * it waits in longpolls instead of polling, honours `backoff`, recovers from a reset cursor, server
 * errors and an expired token through the store's own retry and auth code, follows the folder being
 * deleted and recreated, and stops polling when unsubscribed.
 */
import { watchDropboxStore } from '../../src/store/dropbox-store-watcher';
import type { DropboxTorrentStore } from '../../src/store/dropbox-store';
import type { StoreWatchOptions } from '../../src/store/store-index';
import { DropboxEmulator, startDropboxEmulator } from '../support/dropbox-emulator';
import { collect, emulatorStore, published, removed, torrentBytes } from './store-fixtures';

const LONGPOLL_MS = 300;
let emu: DropboxEmulator;
let store: DropboxTorrentStore;
let stops: Array<() => void>;

beforeEach(async () => {
  emu = await startDropboxEmulator({ longpollMaxMs: LONGPOLL_MS });
  store = emulatorStore(emu);
  stops = [];
});
afterEach(async () => {
  stops.forEach((s) => s());
  await emu.close();
});

function watch(opts: StoreWatchOptions = {}): ReturnType<typeof collect> {
  const c = collect((onEvent) => watchDropboxStore(store, { retryDelayMs: 50, ...opts, onEvent }));
  stops.push(c.stop);
  return c;
}

const put = (name: string, seed = 1): void =>
  void emu.put(`/SharedTorrents/${name}.torrent`, torrentBytes(name, seed));
const tick = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Wait (bounded) until the emulator has answered `n` requests on `route`. */
async function answered(route: string, n: number, ms = 5000): Promise<void> {
  const until = Date.now() + ms;
  while (emu.count(route) < n) {
    if (Date.now() > until) throw new Error(`only ${emu.count(route)} answers on ${route} within ${ms} ms`);
    await tick(20);
  }
}

it('waits in longpolls (without a token) instead of polling the listing', async () => {
  put('a.bin');
  const w = watch();
  await w.next(published('a.bin.torrent'));
  const started = Date.now();
  await answered('files/list_folder/longpoll', 4);
  // Four held longpolls took at least four longpoll periods; the listing was fetched once.
  expect(Date.now() - started).toBeGreaterThanOrEqual(3 * LONGPOLL_MS);
  expect(emu.count('files/list_folder')).toBe(1);
  expect(emu.count('files/list_folder/continue')).toBe(0);
  expect(
    emu.requests.filter((r) => r.route === 'files/list_folder/longpoll').every((r) => r.status === 200),
  ).toBe(true);
  put('b.bin'); // a change ends the held longpoll at once
  await w.next(published('b.bin.torrent', { existing: false }));
  expect(emu.count('files/list_folder/continue')).toBe(1);
});

it('waits for the backoff a longpoll asks for before the next one', async () => {
  emu.failNext('files/list_folder/longpoll', { backoff: 1 });
  put('a.bin');
  const w = watch();
  await w.next(published('a.bin.torrent'));
  await answered('files/list_folder/longpoll', 2);
  const [first, second] = emu.requests.filter((r) => r.route === 'files/list_folder/longpoll');
  expect(second.at - first.at).toBeGreaterThanOrEqual(1000);
});

it('lists again after a reset cursor and reports what changed meanwhile', async () => {
  put('gone.bin');
  put('stays.bin');
  const w = watch();
  await w.next(published('gone.bin.torrent'));
  await w.next(published('stays.bin.torrent'));
  emu.files.delete('/sharedtorrents/gone.bin.torrent'); // behind the journal's back: only a relist can tell
  emu.resetCursors();
  await w.event((e) => e.type === 'StoreListingReset');
  await w.next(removed('gone.bin.torrent'));
  put('new.bin');
  await w.next(published('new.bin.torrent'));
  expect(w.changes.filter((c) => c.name === 'stays.bin.torrent')).toHaveLength(1);
});

it('reports server errors that outlast the store retries, then recovers and keeps watching', async () => {
  const w = watch();
  await w.event((e) => e.type === 'StoreWatchStarted');
  put('a.bin');
  await w.next(published('a.bin.torrent'));
  emu.failNext('files/list_folder/longpoll', ...Array.from({ length: 6 }, () => ({ status: 503 as const })));
  put('b.bin'); // wakes the held longpoll; the next ones fail
  await w.next(published('b.bin.torrent'));
  const failed = await w.event((e) => e.type === 'StoreWatchFailed');
  expect(failed).toMatchObject({ level: 'warn', store: 'dropbox', retryMs: 50 });
  expect(String(failed.message)).toMatch(/HTTP 503/);
  await w.event((e) => e.type === 'StoreWatchRecovered');
  put('c.bin');
  await w.next(published('c.bin.torrent'));
});

it('refreshes an expired access token inside the watch, through the store', async () => {
  put('a.bin');
  const w = watch();
  await w.next(published('a.bin.torrent'));
  const tokensBefore = emu.count('oauth2/token');
  emu.expireAccessTokens();
  put('b.bin');
  await w.next(published('b.bin.torrent'));
  expect(emu.count('oauth2/token')).toBe(tokensBefore + 1);
  expect(w.events.filter((e) => e.type === 'StoreWatchFailed')).toEqual([]);
});

it('reports an overwrite from another machine as replaced (content hash changed)', async () => {
  put('x.bin', 1);
  const w = watch();
  await w.next(published('x.bin.torrent'));
  put('x.bin', 2);
  await w.next(published('x.bin.torrent', { replaced: true }));
});

it('follows the folder being deleted and created again', async () => {
  put('a.bin');
  put('b.bin');
  const w = watch({ missingFolderPollMs: 100 });
  await w.next(published('b.bin.torrent'));
  emu.deleteFolder('/SharedTorrents');
  await w.next(removed('a.bin.torrent'));
  await w.next(removed('b.bin.torrent'));
  put('c.bin');
  await w.next(published('c.bin.torrent'));
});

it('stops polling when unsubscribed', async () => {
  put('a.bin');
  const w = watch();
  await w.next(published('a.bin.torrent'));
  await answered('files/list_folder/longpoll', 1);
  w.stop();
  // Requests dispatched just before stop() may still arrive, be held and be answered (the longpoll in
  // flight, a continue already sent); once they have, nothing new is asked.
  const atStop = emu.received;
  await tick(LONGPOLL_MS);
  const until = Date.now() + 5 * LONGPOLL_MS;
  while (emu.open > 0 && Date.now() < until) await tick(20);
  expect(emu.open).toBe(0);
  expect(emu.received - atStop).toBeLessThanOrEqual(2);
  const settled = emu.received;
  await tick(3 * LONGPOLL_MS);
  expect(emu.received).toBe(settled);
});
