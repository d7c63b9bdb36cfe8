/**
 * The contract between the tracker's front ends (HTTP server, console) and wherever the swarms live.
 *
 * Owns: the `TrackerRegistry` interface only. Today the one implementation is the in-process registry
 * actor (src/actors/registry-actor.ts); a backend shared by several tracker processes can implement
 * the same interface later without the HTTP layer or the console changing. Everything is async for
 * that reason, and the state it exposes is plain data (`RegistryState`), not the actor.
 */
import type { Observable } from 'rxjs';
import type { AnnounceOutcome, RegistryState, RegistryStats } from '../core/swarm-registry';
import type { EventInput } from '../events/engine-event';
import type { AnnounceRequest, ScrapeFile } from '../protocol/tracker-codec';

export interface TrackerRegistry {
  /** Record an announce and answer it (peer list without the asker, counts, intervals). */
  announce(request: AnnounceRequest): Promise<AnnounceOutcome>;
  /** BEP 48 counts for these 20-byte info-hashes; an empty list means every tracked torrent. */
  scrape(infoHashes: readonly Buffer[]): Promise<ScrapeFile[]>;
  stats(): Promise<RegistryStats>;
  /** Every state the registry passes through; the console reads this, never the actor. */
  readonly state$: Observable<RegistryState>;
  /** The current state (what `state$` last emitted). */
  snapshot(): RegistryState;
  /** Tracker events (`PeerJoined`, `PeerAnnounced`, `PeerStopped`, `PeerExpired`, ...) for the event log. */
  readonly events$: Observable<EventInput>;
  /** Stop timers and refuse further announces. */
  close(): Promise<void>;
}
