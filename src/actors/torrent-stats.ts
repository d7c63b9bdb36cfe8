/**
 * A torrent's figures at one moment, read from its logic: what the CLI's progress line, the serve
 * console and the RPC show. Pure reads; nothing here changes state.
 */
import type { TorrentLogic } from '../core/torrent-logic';
import type { Metainfo } from '../protocol/metainfo';

export type TorrentStatus = 'new' | 'checking' | 'downloading' | 'seeding' | 'paused' | 'stopped' | 'error';

export interface TorrentStats {
  status: TorrentStatus;
  pieces: number;
  /** Pieces we can send (verified, or on a seed's disk awaiting its first-read check). */
  have: number;
  bytesHave: number;
  downloaded: number;
  uploaded: number;
  wasted: number;
  downRate: number;
  upRate: number;
  /** Connections (handshake done or not). */
  peers: number;
  complete: boolean;
  port: number;
  /** When the first payload byte arrived (clock ms), if one has. */
  firstByteAt: number | undefined;
}

export function torrentStats(
  t: TorrentLogic,
  meta: Pick<Metainfo, 'pieceCount' | 'length'>,
  status: TorrentStatus,
  now: number,
  port: number,
): TorrentStats {
  return {
    status,
    pieces: meta.pieceCount,
    have: t.pieces.count('have') + t.pieces.count('unchecked'),
    bytesHave: meta.length - t.pieces.bytesMissing(),
    downloaded: t.stats.downloaded,
    uploaded: t.stats.uploaded,
    wasted: t.stats.wasted,
    downRate: t.downRate.rate(now),
    upRate: t.upRate.rate(now),
    peers: t.peers.size,
    complete: t.completed,
    port,
    firstByteAt: t.firstByteAt,
  };
}

/** When things happened (clock ms), for remote views: started, completed, last byte either way. */
export interface TorrentTimes {
  startedAt?: number;
  doneAt?: number;
  activityAt?: number;
  downloadingMs: number;
  seedingMs: number;
}

/**
 * A torrent's one-second bookkeeping: time spent downloading and seeding, when bytes last moved, and
 * whether anything changed since the last `Progress` event (an idle torrent emits none).
 */
export class TorrentBeat {
  readonly times: TorrentTimes = { downloadingMs: 0, seedingMs: 0 };
  private lastTick = 0;
  private lastBytes = 0;
  private lastProgress = '';

  started(now: number): void {
    this.lastTick = now;
    this.times.startedAt ??= now;
  }

  /** Counts the second; returns true when the figures moved (a `Progress` event is due). */
  beat(now: number, seeding: boolean, s: TorrentStats): boolean {
    const spent = Math.max(0, now - this.lastTick);
    this.lastTick = now;
    if (seeding) this.times.seedingMs += spent;
    else this.times.downloadingMs += spent;
    const sig = `${s.have}|${s.downloaded}|${s.uploaded}|${s.wasted}|${s.peers}|${s.downRate}|${s.upRate}`;
    if (sig === this.lastProgress) return false;
    this.lastProgress = sig;
    const bytes = s.downloaded + s.uploaded;
    if (bytes !== this.lastBytes) this.times.activityAt = now;
    this.lastBytes = bytes;
    return true;
  }
}
