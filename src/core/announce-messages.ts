/**
 * The announcer's messages: what goes into the pure announce logic (`AnnounceIn`), the effects it
 * asks the runtime to perform (`AnnounceEffect`), the events it tells the user (`AnnouncerEvent`),
 * and its configuration.
 *
 * Owns: these types only. Does not own: the transition (announce-state.ts), the retry delays
 * (announce-backoff.ts) or HTTP (src/actors/announcer.ts). Why apart: the runtime, the torrent actor
 * and the tests speak these types without needing the logic that folds them.
 */
import type { AnnounceEvent, PeerAddress } from '../protocol/tracker-codec';

export interface AnnounceStats {
  uploaded: number;
  downloaded: number;
  left: number;
}

export interface AnnounceConfig {
  /** BEP 12 tiers (`Metainfo.announceList`); empty tiers and duplicates are dropped. */
  tiers: readonly (readonly string[])[];
  /** Uniform in [0, 1); used once, here, to shuffle each tier (default: no shuffle). */
  random?: () => number;
  /** Floor for the tracker's interval and min interval (default 30 s; tests lower it). */
  minIntervalMs?: number;
  maxIntervalMs?: number;
  backoffBaseMs?: number;
  backoffMaxMs?: number;
  /** First fast retry before any tracker answered (default 1 s; ≥ `backoffBaseMs` turns it off). */
  startupRetryMs?: number;
  numwant?: number;
  /** Info-hash (hex) stamped on events. */
  torrent?: string;
}

export type AnnounceStatus = 'idle' | 'ok' | 'failing';
export type AnnouncePhase = 'idle' | 'running' | 'stopping' | 'finished';

/** The reply fields the logic needs (what `decodeAnnounceReply` gives when `ok`). */
export interface AnnounceReplyOk {
  interval: number;
  minInterval?: number;
  complete?: number;
  incomplete?: number;
  peers: readonly PeerAddress[];
}

export type AnnounceIn =
  | { type: 'Start'; now: number }
  /** A timer fired; announces when the scheduled time has come (early ticks reschedule). */
  | { type: 'Tick'; now: number }
  | {
      type: 'AnnounceSucceeded';
      id: number;
      url: string;
      reply: AnnounceReplyOk;
      warning?: string;
      now: number;
    }
  /** `rand` (uniform in [0, 1)) jitters the backoff; 0 when absent. */
  | { type: 'AnnounceFailed'; id: number; url: string; error: string; now: number; rand?: number }
  /** The download finished (send `completed` once). Before `Start`: it was complete already. */
  | { type: 'Completed' }
  | { type: 'Stop' }
  | { type: 'UpdateStats'; uploaded: number; downloaded: number; left: number }
  /** Ask for peers earlier than the interval, but not before the tracker's min interval. */
  | { type: 'NeedPeers'; now: number };

export type AnnounceEffect =
  | {
      type: 'Announce';
      /** Matches the `AnnounceSucceeded` / `AnnounceFailed` that answers it. */
      id: number;
      url: string;
      event: AnnounceEvent;
      stats: AnnounceStats;
      numwant: number;
    }
  /** Send `Tick` at this time (replaces any earlier schedule). */
  | { type: 'ScheduleNext'; atMs: number }
  /** The stopped announce is done (or was not needed): release everything. */
  | { type: 'Finished' };

interface TrackerEventBase {
  category: 'tracker';
  torrent?: string;
  url: string;
}

export type AnnouncerEvent =
  | (TrackerEventBase & { type: 'AnnounceSent'; level: 'debug'; event: AnnounceEvent })
  | (TrackerEventBase & {
      type: 'PeersReceived';
      level: 'info';
      count: number;
      complete?: number;
      incomplete?: number;
      intervalMs: number;
    })
  /** Every tracker failed; said when becoming failing or when the reason changes. */
  | (TrackerEventBase & {
      type: 'TrackerFailed';
      level: 'warn';
      message: string;
      failures: number;
      retryInMs: number;
    })
  /** One tracker failed and the next one is tried; said when that tracker's reason changes. */
  | (TrackerEventBase & { type: 'TrackerFailedOver'; level: 'info'; message: string; next: string })
  /** A tracker answered after the announcer was failing, or after this tracker had failed. */
  | (TrackerEventBase & { type: 'TrackerRecovered'; level: 'info'; failures: number })
  /** The reply's `warning message`; said when it changes. */
  | (TrackerEventBase & { type: 'TrackerWarning'; level: 'warn'; message: string });
