/**
 * What the RPC layer remembers between requests that the engine has no reason to keep.
 *
 * Owns: limit values in kB/s while a limit is switched off (Transmission shows `speed-limit-down: 250`
 * with `speed-limit-down-enabled: false`), and which torrents changed or disappeared recently (for
 * `ids: "recently-active"` and its `removed` list). Learns from each torrent snapshot it is shown.
 * Bounded: entries for removed torrents are dropped after `keepMs`.
 */
import type { TorrentView } from './rpc-backend';
import type { LimitMemory } from './transmission-fields';

/** Transmission's window for "recently active". */
export const RECENT_MS = 60_000;

interface Seen {
  state: string;
  changedAt: number;
  infoHash: string;
}

export class RpcMemory implements LimitMemory {
  private readonly limits = new Map<string, number>();
  private readonly seen = new Map<number, Seen>();
  private readonly removed = new Map<number, number>();

  constructor(private readonly keepMs = 10 * RECENT_MS) {}

  get(key: string): number | undefined {
    return this.limits.get(key);
  }

  remember(key: string, kBps: number): void {
    this.limits.set(key, kBps);
  }

  /** Learn from a snapshot: state changes, new torrents, and torrents that are gone. */
  observe(torrents: readonly TorrentView[], now: number): void {
    const present = new Set<number>();
    for (const t of torrents) {
      present.add(t.id);
      const prev = this.seen.get(t.id);
      if (!prev || prev.state !== t.state)
        this.seen.set(t.id, { state: t.state, changedAt: now, infoHash: t.infoHash });
    }
    for (const [id, s] of this.seen) {
      if (present.has(id)) continue;
      this.seen.delete(id);
      this.removed.set(id, now);
      this.limits.delete(`${s.infoHash}:down`);
      this.limits.delete(`${s.infoHash}:up`);
    }
    for (const [id, at] of this.removed) if (now - at > this.keepMs) this.removed.delete(id);
  }

  /** A command touched this torrent (it counts as active even if its state did not change). */
  touch(id: number, now: number): void {
    const s = this.seen.get(id);
    if (s) s.changedAt = now;
  }

  /** Changed state, was added, or moved data within the window. */
  isRecentlyActive(t: TorrentView, now: number): boolean {
    const since = now - RECENT_MS;
    const changed = this.seen.get(t.id)?.changedAt ?? 0;
    return Math.max(changed, t.addedAt, t.activityAt ?? 0, t.startedAt ?? 0, t.doneAt ?? 0) >= since;
  }

  /** Ids of torrents removed within the window. */
  removedSince(now: number): number[] {
    const since = now - RECENT_MS;
    return [...this.removed].filter(([, at]) => at >= since).map(([id]) => id);
  }
}
