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
