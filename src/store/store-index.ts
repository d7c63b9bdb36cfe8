/**
 * What every store watcher shares: the change type, the options, and the index of known torrents that
 * turns a listing or a batch of deltas into changes. Pure but for `sleep`. See store-watcher.ts.
 */
import type { EventInput } from '../events/engine-event';
import type { StoredTorrentEntry } from './torrent-store';

export type StoreChange =
  | {
      type: 'TorrentPublished';
      /** File name in the store (`movie.mp4.torrent`). */
      name: string;
      entry: StoredTorrentEntry;
      /** A torrent of this name was known before: its file was overwritten. */
      replaced: boolean;
      /** It was in the store when watching started (not published while we watched). */
      existing: boolean;
    }
  | { type: 'TorrentRemoved'; name: string };

export interface StoreWatchOptions {
  /** Emit `TorrentPublished { existing: true }` for what is in the store at the start (default true). */
  emitExisting?: boolean;
  /** `StoreWatchStarted`, `StoreWatchFailed` (with the retry delay), `StoreWatchRecovered`, … */
  onEvent?: (e: EventInput) => void;
  /** Local: rescan this often whatever fs.watch says (default 5 s). */
  rescanMs?: number;
  /** Local: a new or changed file must stay the same this long before it is published (default 1 s). */
  settleMs?: number;
  /** Local: use fs.watch besides the rescan (default true; some file systems never report). */
  useFsWatch?: boolean;
  /** Dropbox: how long one longpoll may wait, in seconds (30–480; default 30). */
  longpollTimeoutSec?: number;
  /** Dropbox: while the folder does not exist, look again this often (default 5 s). */
  missingFolderPollMs?: number;
  /** After a failure: first retry delay, doubling up to `maxRetryDelayMs` (defaults 2 s and 60 s). */
  retryDelayMs?: number;
  maxRetryDelayMs?: number;
  now?: () => number;
}

/** A listed torrent and a string that changes whenever its content does. */
export interface VersionedEntry {
  entry: StoredTorrentEntry;
  version: string;
}

/** Ignored names: hidden files (editors' and sync tools' temp files) and anything not `.torrent`. */
export function isWatchedName(name: string): boolean {
  return name.endsWith('.torrent') && !name.startsWith('.') && name !== '.torrent';
}

/**
 * What is known about the store, and the changes a listing or a delta implies. Keys are lowercased
 * for stores whose names are case-insensitive (Dropbox).
 */
export class StoreIndex {
  private readonly known = new Map<string, { name: string; version: string }>();
  /** The first listing's versions: a torrent accepted later (it was settling) still counts as existing. */
  private initial: Map<string, string> | undefined;
  private listed = false;

  constructor(private readonly caseInsensitive: boolean) {}

  get size(): number {
    return this.known.size;
  }

  private key(name: string): string {
    return this.caseInsensitive ? name.toLowerCase() : name;
  }

  has(name: string): boolean {
    return this.known.has(this.key(name));
  }

  version(name: string): string | undefined {
    return this.known.get(this.key(name))?.version;
  }

  /** A new or changed torrent is now accepted; returns its change, or none if nothing changed. */
  publish(v: VersionedEntry): StoreChange[] {
    if (!isWatchedName(v.entry.name)) return [];
    const k = this.key(v.entry.name);
    const prev = this.known.get(k);
    if (prev?.version === v.version) return [];
    this.known.set(k, { name: v.entry.name, version: v.version });
    const existing = !prev && this.initial?.get(k) === v.version;
    this.initial?.delete(k);
    return [{ type: 'TorrentPublished', name: v.entry.name, entry: v.entry, replaced: !!prev, existing }];
  }

  remove(name: string): StoreChange[] {
    const k = this.key(name);
    this.initial?.delete(k);
    const prev = this.known.get(k);
    if (!prev) return [];
    this.known.delete(k);
    return [{ type: 'TorrentRemoved', name: prev.name }];
  }

  /**
   * A full listing: removals for what is gone, publications for what is new or changed (`accept` may
   * hold some back, e.g. files still being written). The first listing's torrents are `existing`.
   */
  applyListing(
    entries: readonly VersionedEntry[],
    accept: (v: VersionedEntry) => boolean = () => true,
  ): StoreChange[] {
    const watched = entries.filter((v) => isWatchedName(v.entry.name));
    if (!this.listed) this.initial = new Map(watched.map((v) => [this.key(v.entry.name), v.version]));
    this.listed = true;
    const present = new Set(watched.map((v) => this.key(v.entry.name)));
    const out: StoreChange[] = [];
    for (const [k, { name }] of [...this.known]) if (!present.has(k)) out.push(...this.remove(name));
    for (const [k] of this.initial ?? []) if (!present.has(k)) this.initial?.delete(k);
    for (const v of watched)
      if (this.version(v.entry.name) !== v.version && accept(v)) out.push(...this.publish(v));
    if (this.initial?.size === 0) this.initial = undefined;
    return out;
  }

  /** Every known torrent, removed (the folder itself is gone). */
  clear(): StoreChange[] {
    return [...this.known.values()].flatMap(({ name }) => this.remove(name));
  }

  /** Whatever comes next was published while watching (the first look found no folder). */
  markStarted(): void {
    this.listed = true;
    this.initial = undefined;
  }
}

/** The changes to emit: without the first listing's torrents when `emitExisting` is false. */
export function toEmit(changes: StoreChange[], opts: StoreWatchOptions): StoreChange[] {
  if (opts.emitExisting !== false) return changes;
  return changes.filter((c) => c.type !== 'TorrentPublished' || !c.existing);
}

/** Exponential backoff with a cap, for retrying a failed store call. */
export function retryDelay(failures: number, opts: StoreWatchOptions): number {
  const base = opts.retryDelayMs ?? 2000;
  return Math.min(opts.maxRetryDelayMs ?? 60_000, base * 2 ** Math.max(0, failures - 1));
}

/** A sleep that ends early (resolving `false`) when `signal` aborts. */
export function sleep(ms: number, signal: AbortSignal): Promise<boolean> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve(false);
    const timer = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve(true);
    }, ms);
    const onAbort = (): void => {
      clearTimeout(timer);
      resolve(false);
    };
    signal.addEventListener('abort', onAbort, { once: true });
  });
}
