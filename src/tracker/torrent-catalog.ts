/**
 * What the tracker knows about torrents from the torrent store: name, size, pieces, files, info-hash.
 *
 * Owns: a cache of parsed store entries (re-read only when a file's size or time changes), lookups by
 * info-hash, the `--allow-only-known` check, and resolving what a user typed (`movie.mp4`,
 * `movie.mp4.torrent`, an info-hash prefix) to one torrent. Does not own: the store itself or the
 * swarms (the registry).
 */
import { Metainfo, parseMetainfo } from '../protocol/metainfo';
import { TorrentStore } from '../store/torrent-store';

export interface CatalogEntry {
  /** File name in the store (`movie.mp4.torrent`). */
  fileName: string;
  meta: Metainfo;
}

export type Resolution =
  | { kind: 'found'; infoHash: string; entry?: CatalogEntry }
  | { kind: 'none' }
  | { kind: 'ambiguous'; candidates: string[] };

export class TorrentCatalog {
  private byFile = new Map<string, { stamp: string; entry: CatalogEntry | null }>();
  private byHex = new Map<string, CatalogEntry>();
  private lastRefresh = -Infinity;
  private inflight: Promise<void> | null = null;
  /** Store files that could not be read or parsed, with the reason (shown by the console). */
  problems: string[] = [];

  constructor(
    private readonly store: TorrentStore,
    private readonly clock: () => number = Date.now,
    /** Minimum milliseconds between store reads triggered by unknown info-hashes. */
    private readonly missRefreshEvery = 2000,
  ) {}

  /** Re-read the store listing; parse only new or changed files. Concurrent calls share one read. */
  refresh(): Promise<void> {
    this.inflight ??= this.load().finally(() => {
      this.inflight = null;
    });
    return this.inflight;
  }

  private async load(): Promise<void> {
    this.lastRefresh = this.clock();
    const list = await this.store.list();
    const next = new Map<string, { stamp: string; entry: CatalogEntry | null }>();
    const problems: string[] = [];
    for (const e of list) {
      const stamp = `${e.size}:${e.modified.getTime()}`;
      const old = this.byFile.get(e.name);
      if (old && old.stamp === stamp) {
        next.set(e.name, old);
        if (!old.entry) problems.push(`${e.name}: unreadable`);
        continue;
      }
      try {
        const meta = parseMetainfo(await this.store.fetch(e.name));
        next.set(e.name, { stamp, entry: { fileName: e.name, meta } });
      } catch (err) {
        next.set(e.name, { stamp, entry: null });
        problems.push(`${e.name}: ${(err as Error).message}`);
      }
    }
    this.byFile = next;
    this.byHex = new Map();
    for (const { entry } of next.values()) if (entry) this.byHex.set(entry.meta.infoHashHex, entry);
    this.problems = problems;
  }

  entries(): CatalogEntry[] {
    return [...this.byHex.values()].sort((a, b) => a.meta.name.localeCompare(b.meta.name));
  }

  byHash(hex: string): CatalogEntry | undefined {
    return this.byHex.get(hex);
  }

  /**
   * Is this info-hash in the store? Answers synchronously for known torrents; for an unknown one it
   * re-reads the store (at most every `missRefreshEvery` ms), so a freshly created torrent is accepted.
   */
  isKnown(hex: string): boolean | Promise<boolean> {
    if (this.byHex.has(hex)) return true;
    if (this.clock() - this.lastRefresh < this.missRefreshEvery && !this.inflight) return false;
    return this.refresh().then(
      () => this.byHex.has(hex),
      () => false,
    );
  }

  /** Resolve a name, a `.torrent` name, or a hex info-hash prefix among catalog and tracked hashes. */
  resolve(query: string, trackedHashes: Iterable<string> = []): Resolution {
    const q = query.trim();
    if (!q) return { kind: 'none' };
    const found = (infoHash: string): Resolution => ({
      kind: 'found',
      infoHash,
      entry: this.byHex.get(infoHash),
    });
    for (const e of this.byHex.values()) {
      if (e.fileName === q || e.meta.name === q || e.fileName === `${q}.torrent`)
        return found(e.meta.infoHashHex);
    }
    const lower = q.toLowerCase();
    if (/^[0-9a-f]+$/.test(lower)) {
      const hashes = new Set<string>([...this.byHex.keys(), ...trackedHashes]);
      const hits = [...hashes].filter((h) => h.startsWith(lower));
      if (hits.length === 1) return found(hits[0]);
      if (hits.length > 1) return { kind: 'ambiguous', candidates: hits.sort() };
    }
    // Last resort: a unique case-insensitive name prefix.
    const named = [...this.byHex.values()].filter((e) => e.meta.name.toLowerCase().startsWith(lower));
    if (named.length === 1) return found(named[0].meta.infoHashHex);
    if (named.length > 1) return { kind: 'ambiguous', candidates: named.map((e) => e.meta.name).sort() };
    return { kind: 'none' };
  }

  /** Names for tab completion. */
  names(): string[] {
    return this.entries().map((e) => e.meta.name);
  }
}
