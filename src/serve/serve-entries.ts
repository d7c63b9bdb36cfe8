/**
 * serve's torrent list entries: what one torrent is as users see it (its number, where it came from,
 * its state and why), and finding one from what a user typed.
 *
 * Owns: `ServeEntry`, its states, `findEntry` and `attachTorrent` (a running torrent's limits and
 * fatal errors shown on its entry). Does not own: changing the list (serve-daemon.ts), starting
 * torrents (serve-start-queue.ts) or presenting entries (serve-views.ts). Why apart: the console,
 * the RPC backend and the views read entries without the daemon that keeps them.
 */
import type { Magnet } from '../actors/magnet';
import type { Torrent } from '../actors/torrent';
import type { Metainfo } from '../protocol/metainfo';

export type EntryState = 'metadata' | 'queued' | 'checking' | 'running' | 'paused' | 'error';

export interface ServeEntry {
  readonly id: number;
  /** Info-hash (hex), or `store:<file name>` for a store file that does not parse. */
  readonly key: string;
  name: string;
  origin: 'store' | 'manual';
  /** File name in the store, for store torrents. */
  storeName?: string;
  meta?: Metainfo;
  torrent?: Torrent;
  state: EntryState;
  error?: string;
  addedAt: number;
  limits: { down?: number; up?: number };
  /** Its next start hashes every piece (`verify`). */
  verifyNext?: boolean;
  /** Added as a magnet link: the link (kept to fetch again after a pause), and the fetch while it runs. */
  magnetUri?: string;
  magnet?: Magnet;
}

/** A name (or its unique start), an info-hash prefix (4+ hex digits), or the number `list` shows. */
export function findEntry(
  entries: readonly ServeEntry[],
  spec: string,
): { entry?: ServeEntry; error?: string } {
  const s = spec.trim();
  const byId = /^\d+$/.test(s) ? entries.find((e) => e.id === Number(s)) : undefined;
  if (byId) return { entry: byId };
  const hits = entries.filter(
    (e) =>
      e.name === s ||
      e.storeName === s ||
      e.storeName === `${s}.torrent` ||
      (/^[0-9a-f]{4,40}$/i.test(s) && e.key.startsWith(s.toLowerCase())),
  );
  if (hits.length === 1) return { entry: hits[0] };
  if (hits.length === 0) {
    // Then a unique start of a name: `movie` for `movie.mp4`.
    const starts = entries.filter((e) => s.length > 0 && e.name.startsWith(s));
    if (starts.length === 1) return { entry: starts[0] };
    if (starts.length > 1) hits.push(...starts);
    else return { error: `no torrent matches ${JSON.stringify(s)}` };
  }
  return { error: `${JSON.stringify(s)} is ambiguous: ${hits.map((e) => `${e.id} ${e.name}`).join(', ')}` };
}

/** Makes `t` the entry's torrent: its limits apply, and a fatal error shows on the entry. */
export function attachTorrent(e: ServeEntry, t: Torrent): void {
  e.torrent = t;
  t.setLimits({ down: e.limits.down ?? 0, up: e.limits.up ?? 0 });
  t.onFatal((err) => {
    e.state = 'error';
    e.error = err.message;
  });
}
