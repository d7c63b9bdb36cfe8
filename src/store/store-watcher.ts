/**
 * Store watching: an Observable of torrents published to and removed from the torrent store, for
 * `serve` to follow while it runs.
 *
 * Owns: picking the watcher for the store's kind — the local folder (local-store-watcher.ts: fs.watch
 * plus a periodic rescan, files still being written held back) or Dropbox (dropbox-store-watcher.ts:
 * list_folder/continue driven by list_folder/longpoll). What they share — the change type, the
 * options, and the index that turns listings and deltas into changes — is in store-index.ts. Does not
 * own: fetching or parsing the torrents (the consumer does that; a torrent that does not parse is the
 * consumer's error to show, and when its file changes it is published again).
 *
 * The Observable is cold (each subscriber gets its own watcher), never errors for a store failure
 * (those are `StoreWatchFailed` events and the watcher retries), and stops all timers, watches and
 * polls when unsubscribed.
 *
 * @example
 *   watchStore(store, { onEvent: log.emit }).subscribe((c) =>
 *     c.type === 'TorrentPublished' ? engine.addFromStore(c.name) : engine.stopFromStore(c.name));
 */
import type { Observable } from 'rxjs/internal/Observable';
import type { DropboxTorrentStore } from './dropbox-store';
import { watchDropboxStore } from './dropbox-store-watcher';
import type { LocalTorrentStore } from './local-store';
import { watchLocalStore } from './local-store-watcher';
import type { StoreChange, StoreWatchOptions } from './store-index';
import type { TorrentStore } from './torrent-store';

export type { StoreChange, StoreWatchOptions } from './store-index';

/** Watch `store`: the local folder or the Dropbox folder, by its kind. */
export function watchStore(store: TorrentStore, opts: StoreWatchOptions = {}): Observable<StoreChange> {
  if (store.kind === 'local') return watchLocalStore(store as LocalTorrentStore, opts);
  return watchDropboxStore(store as DropboxTorrentStore, opts);
}
