/**
 * Watching the Dropbox store folder the way Dropbox asks apps to: one `files/list_folder` for a cursor,
 * then `files/list_folder/longpoll` (which holds the request until something changes, up to
 * `longpollTimeoutSec`) and `files/list_folder/continue` for the changes — no tight polling loop.
 *
 * Owns: the cursor, the longpoll's `backoff`, turning deltas (`file` / `deleted` entries) into changes,
 * and recovering: a `reset` cursor or a deleted folder lists again from scratch (and reports what
 * vanished meanwhile); a missing folder is waited for by longpolling its parent (or, if that is missing
 * too, by looking again every `missingFolderPollMs`); any other failure
 * (after the store's own retries) is a `StoreWatchFailed` event and a retry with exponential backoff.
 * Every call goes through DropboxTorrentStore.listCall: its token refresh, 429 and 5xx handling.
 * Does not own: what a change means (StoreIndex).
 */
import type { files } from 'dropbox';
import { Observable } from 'rxjs/internal/Observable';
import type { DropboxTorrentStore } from './dropbox-store';
import {
  StoreChange,
  StoreIndex,
  StoreWatchOptions,
  VersionedEntry,
  retryDelay,
  sleep,
  toEmit,
} from './store-index';
import { StoreError } from './torrent-store';

type Entry = files.FileMetadataReference | files.FolderMetadataReference | files.DeletedMetadataReference;

function versioned(e: files.FileMetadataReference): VersionedEntry {
  return {
    entry: { name: e.name, size: e.size, modified: new Date(e.server_modified) },
    version: e.content_hash ?? e.rev,
  };
}

/** The folder's files and a cursor for what comes next, or `undefined` when the folder does not exist. */
async function listFolder(
  store: DropboxTorrentStore,
): Promise<{ entries: VersionedEntry[]; cursor: string } | undefined> {
  let page: files.ListFolderResult;
  try {
    page = await store.listCall((dbx) => dbx.filesListFolder({ path: store.location, recursive: false }));
  } catch (err) {
    if (err instanceof StoreError && err.code === 'not-found') return undefined;
    throw err;
  }
  const entries: VersionedEntry[] = [];
  for (;;) {
    for (const e of page.entries) if (e['.tag'] === 'file') entries.push(versioned(e));
    if (!page.has_more) return { entries, cursor: page.cursor };
    const cursor = page.cursor;
    page = await store.listCall((dbx) => dbx.filesListFolderContinue({ cursor }));
  }
}

/** Every change after `cursor`, and the cursor after them. */
async function changesSince(
  store: DropboxTorrentStore,
  cursor: string,
): Promise<{ entries: Entry[]; cursor: string }> {
  const entries: Entry[] = [];
  let next = cursor;
  for (;;) {
    const c = next;
    const page = await store.listCall((dbx) => dbx.filesListFolderContinue({ cursor: c }));
    entries.push(...page.entries);
    next = page.cursor;
    if (!page.has_more) return { entries, cursor: next };
  }
}

export function watchDropboxStore(
  store: DropboxTorrentStore,
  opts: StoreWatchOptions = {},
): Observable<StoreChange> {
  return new Observable<StoreChange>((subscriber) => {
    const ac = new AbortController();
    const signal = ac.signal;
    const emit = opts.onEvent ?? (() => undefined);
    const index = new StoreIndex(true);
    const timeout = Math.min(480, Math.max(30, Math.round(opts.longpollTimeoutSec ?? 30)));
    const folder = store.location.toLowerCase();
    const push = (changes: StoreChange[]): void => {
      for (const c of changes) if (!signal.aborted) subscriber.next(c);
    };

    /**
     * No folder yet: take a cursor on its parent, look once more (it may have appeared meanwhile), then
     * longpoll the parent, whose listing changes when the folder appears. If the parent is missing
     * too, look again after `missingFolderPollMs`.
     */
    const waitForFolder = async (): Promise<void> => {
      const parent = store.location.slice(0, store.location.lastIndexOf('/'));
      try {
        const { cursor } = await store.listCall((dbx) =>
          dbx.filesListFolderGetLatestCursor({ path: parent, recursive: false }),
        );
        if (signal.aborted || (await listFolder(store))) return;
        await store.listCall((dbx) => dbx.filesListFolderLongpoll({ cursor, timeout }));
      } catch {
        await sleep(opts.missingFolderPollMs ?? 5000, signal);
      }
    };

    const run = async (): Promise<void> => {
      let cursor: string | undefined;
      let failures = 0;
      let resets = 0;
      while (!signal.aborted) {
        try {
          if (!cursor) {
            const listing = await listFolder(store);
            if (signal.aborted) return;
            if (!listing) {
              push(index.clear()); // the folder was deleted (or never existed)
              index.markStarted();
              await waitForFolder();
              continue;
            }
            push(toEmit(index.applyListing(listing.entries), opts));
            cursor = listing.cursor;
          }
          const current = cursor;
          const poll = await store.listCall((dbx) =>
            dbx.filesListFolderLongpoll({ cursor: current, timeout }),
          );
          if (failures) emit({ category: 'store', type: 'StoreWatchRecovered', store: 'dropbox' });
          failures = 0;
          resets = 0;
          if (signal.aborted) return;
          if (poll.changes) {
            const delta = await changesSince(store, current);
            for (const e of delta.entries) {
              if (e['.tag'] === 'file') push(index.publish(versioned(e)));
              else if (e['.tag'] === 'deleted' && e.path_lower === folder) {
                push(index.clear());
                cursor = undefined;
              } else if (e['.tag'] === 'deleted') push(index.remove(e.name));
            }
            if (cursor) cursor = delta.cursor;
          }
          if (poll.backoff) await sleep(poll.backoff * 1000, signal);
        } catch (err) {
          if (signal.aborted) return;
          cursor = undefined;
          if (err instanceof StoreError && (err.code === 'reset' || err.code === 'not-found')) {
            // The cursor is void (reset) or its folder is gone: list again from scratch; the index
            // reports what changed meanwhile.
            emit({ category: 'store', type: 'StoreListingReset', store: 'dropbox', reason: err.code });
            if (++resets > 1) await sleep(retryDelay(resets - 1, opts), signal); // resets in a row: no tight loop
            continue;
          }
          failures++;
          const retryMs = retryDelay(failures, opts);
          emit({ category: 'store', type: 'StoreWatchFailed', level: 'warn', store: 'dropbox', message: (err as Error)?.message ?? String(err), retryMs }); // prettier-ignore
          await sleep(retryMs, signal);
        }
      }
    };

    emit({ category: 'store', type: 'StoreWatchStarted', store: 'dropbox', location: store.location });
    void run();
    return () => ac.abort();
  });
}
