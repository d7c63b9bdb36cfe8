/**
 * Watching the local store folder: fs.watch for speed, a periodic rescan for certainty.
 *
 * Owns: when to list the folder (an fs.watch event, debounced; and a periodic rescan whatever happens,
 * since fs.watch misses events on some file systems and cannot watch a folder that does not exist yet:
 * every `rescanMs`, or six times that while fs.watch is on, which keeps an idle daemon quiet), and
 * holding back files that are still being written: a new or changed `.torrent` is published only once
 * its size and mtime have stayed the same for `settleMs` (or its mtime is already that old). Temp
 * files (`*.tmp`, hidden files) are never torrents. A torrent still written to after `settleMs` of
 * silence is published early; when its file changes again it is published again (`replaced`). Creates
 * the store folder if it is missing, so that there is something to watch. Does not own: listing (LocalTorrentStore.list) or
 * deciding what changed (StoreIndex).
 *
 * Scans never overlap: a trigger during a scan runs one more scan after it.
 */
import * as fs from 'node:fs';
import { Observable } from 'rxjs/internal/Observable';
import type { LocalTorrentStore } from './local-store';
import { StoreChange, StoreIndex, StoreWatchOptions, VersionedEntry, toEmit } from './store-index';

const DEBOUNCE_MS = 100;

export function watchLocalStore(
  store: LocalTorrentStore,
  opts: StoreWatchOptions = {},
): Observable<StoreChange> {
  return new Observable<StoreChange>((subscriber) => {
    const now = opts.now ?? Date.now;
    const settleMs = opts.settleMs ?? 1000;
    const index = new StoreIndex(false);
    const pending = new Map<string, { version: string; since: number }>();
    const emit = opts.onEvent ?? (() => undefined);
    let closed = false;
    let running = false;
    let again = false;
    let failing = false;
    let watcher: fs.FSWatcher | undefined;
    let debounceTimer: NodeJS.Timeout | undefined;
    let settleTimer: NodeJS.Timeout | undefined;

    const arm = (): void => {
      if (opts.useFsWatch === false || watcher || closed) return;
      try {
        watcher = fs.watch(store.location, { persistent: false }, () => {
          clearTimeout(debounceTimer);
          debounceTimer = setTimeout(kick, DEBOUNCE_MS);
        });
        watcher.on('error', () => {
          watcher?.close();
          watcher = undefined; // the folder went away; the rescan re-arms when it is back
        });
      } catch {
        // No folder yet (nothing published): the periodic rescan arms the watch once it exists.
      }
    };

    /** Accept a new or changed file once it has stopped changing. */
    const settled = (v: VersionedEntry, t: number): boolean => {
      const name = v.entry.name;
      const p = pending.get(name);
      if (
        t - v.entry.modified.getTime() >= settleMs ||
        (p?.version === v.version && t - p.since >= settleMs)
      ) {
        pending.delete(name);
        return true;
      }
      if (p?.version !== v.version) pending.set(name, { version: v.version, since: t });
      return false;
    };

    const scanOnce = async (): Promise<void> => {
      let listed;
      try {
        listed = await store.list();
      } catch (err) {
        if (!failing) {
          emit({ category: 'store', type: 'StoreWatchFailed', level: 'warn', store: 'local', message: (err as Error).message, retryMs: opts.rescanMs ?? 5000 }); // prettier-ignore
        }
        failing = true;
        return;
      }
      if (failing) emit({ category: 'store', type: 'StoreWatchRecovered', store: 'local' });
      failing = false;
      arm();
      if (closed) return;
      const t = now();
      const entries = listed.map((entry) => ({
        entry,
        version: `${entry.size}:${entry.modified.getTime()}`,
      }));
      const names = new Set(entries.map((v) => v.entry.name));
      for (const name of pending.keys()) if (!names.has(name)) pending.delete(name);
      const changes = toEmit(
        index.applyListing(entries, (v) => settled(v, t)),
        opts,
      );
      for (const c of changes) if (!closed) subscriber.next(c);
      if (pending.size && !settleTimer) {
        settleTimer = setTimeout(() => {
          settleTimer = undefined;
          kick();
        }, settleMs);
      }
    };

    const kick = (): void => {
      if (closed) return;
      if (running) {
        again = true;
        return;
      }
      running = true;
      void (async () => {
        do {
          again = false;
          await scanOnce().catch((err: unknown) =>
            emit({
              category: 'store',
              type: 'StoreWatchFailed',
              level: 'warn',
              store: 'local',
              message: String(err),
            }),
          );
        } while (again && !closed);
        running = false;
      })();
    };

    emit({ category: 'store', type: 'StoreWatchStarted', store: 'local', location: store.location });
    // The folder exists from now on, so fs.watch can watch it before the first torrent is published.
    try {
      fs.mkdirSync(store.location, { recursive: true });
    } catch {
      // Not ours to create (read-only mount, …): the rescan still lists it once it appears.
    }
    arm();
    // While fs.watch is on, the rescan is only a safety net: every `rescanMs` × 6 (30 s by default).
    // Without it (no folder yet, a file system that does not report), every `rescanMs`.
    let rescan: NodeJS.Timeout | undefined;
    const schedule = (): void => {
      if (closed) return;
      const every = opts.rescanMs ?? 5000;
      rescan = setTimeout(
        () => {
          kick();
          schedule();
        },
        watcher ? every * 6 : every,
      );
      rescan.unref?.();
    };
    schedule();
    kick();
    return () => {
      closed = true;
      clearTimeout(rescan);
      clearTimeout(debounceTimer);
      clearTimeout(settleTimer);
      watcher?.close();
    };
  });
}
