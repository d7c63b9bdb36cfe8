/**
 * The contract between the tracker's front ends (HTTP and UDP servers, console) and wherever the
 * swarms live.
 *
 * Owns: the `TrackerRegistry` interface only. Two implementations: the in-process registry actor
 * (src/actors/registry-actor.ts) and the Redis registry shared by several tracker processes
 * (src/tracker/redis-registry.ts). Everything is async for that reason, and every answer is plain data.
 * A registry that cannot reach its storage answers announces with `{ ok: false, code:
 * 'storage-unavailable' }` and rejects the queries; it never hangs.
 */
import type { Observable } from 'rxjs/internal/Observable';
import type { AnnounceOutcome, PeerView, RegistryStats, SwarmSummary } from '../core/swarm-registry';
import type { EventInput } from '../events/engine-event';
import type { AnnounceRequest, ScrapeFile } from '../protocol/tracker-codec';

/** What clients are told when the registry cannot reach its storage (Redis down). */
export const STORAGE_UNAVAILABLE = 'tracker storage unavailable, retry later';

export interface TrackerRegistry {
  /** Record an announce and answer it (peers without the asker, counts, intervals). */
  announce(request: AnnounceRequest): Promise<AnnounceOutcome>;
  /** In-process registries may answer synchronously (undefined: not now, use `announce`). */
  announceNow?(request: AnnounceRequest): AnnounceOutcome | undefined;
  /** BEP 48 counts for these 20-byte info-hashes; an empty list means every tracked torrent. */
  scrape(infoHashes: readonly Buffer[]): Promise<ScrapeFile[]>;
  stats(): Promise<RegistryStats>;
  /** Every tracked swarm, sorted by info-hash (the console's `list` and `details`). */
  swarms(): Promise<SwarmSummary[]>;
  /** The peers of one swarm (hex info-hash), seeders first; undefined when it is not tracked. */
  peers(infoHashHex: string): Promise<PeerView[] | undefined>;
  /** Tracker events (`PeerJoined`, `PeerAnnounced`, `PeerStopped`, `PeerExpired`, ...) for the event log. */
  readonly events$: Observable<EventInput>;
  /** Stop timers and connections and refuse further announces. */
  close(): Promise<void>;
}
