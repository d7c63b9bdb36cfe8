/**
 * The HTTP tracker's request and reply shapes (BEP 3, BEP 48) and its one error type.
 *
 * Owns: the typed forms both sides of the codec share, and `TrackerRequestError`, whose message is
 * what the client sees as `failure reason`. Does not own: parsing or encoding (tracker-codec.ts for
 * the server side, tracker-client-codec.ts for the client side). Why apart: both codecs and the UDP
 * tracker codec use these types, and neither codec should import the other for them.
 */
import type { PeerAddress } from './compact-peers';

/** Raw query parameters: name → every value given, as bytes (first one wins for single-valued keys). */
export type RawQuery = Map<string, Buffer[]>;

export type AnnounceEvent = 'started' | 'completed' | 'stopped' | '';

export type TrackerErrorCode =
  | 'missing-info-hash'
  | 'bad-info-hash'
  | 'missing-peer-id'
  | 'bad-peer-id'
  | 'bad-port'
  | 'bad-number'
  | 'bad-event'
  | 'bad-ip'
  | 'query-too-large'
  | 'too-many-info-hashes'
  | 'not-tracked'
  | 'key-mismatch'
  | 'bad-reply';

/** A request the tracker refuses; `message` is sent to the client as `failure reason`. */
export class TrackerRequestError extends Error {
  constructor(
    readonly code: TrackerErrorCode,
    message: string,
  ) {
    super(message);
    this.name = 'TrackerRequestError';
  }
}

export interface AnnounceRequest {
  infoHash: Buffer;
  peerId: Buffer;
  /** Address the peer is reachable on: the connection's address, or `ip=` when trusted. */
  ip: string;
  port: number;
  uploaded: number;
  downloaded: number;
  /** Bytes still missing; undefined when the client did not say (then it counts as a leecher). */
  left: number | undefined;
  event: AnnounceEvent;
  /** Peers wanted, already clamped to [0, maxNumwant]. */
  numwant: number;
  compact: boolean;
  noPeerId: boolean;
  key: string | undefined;
  /** Only peers of this address family in the reply (a UDP reply holds one family); both when absent. */
  only?: 4 | 6;
}

export interface AnnounceReply {
  interval: number;
  minInterval: number;
  complete: number;
  incomplete: number;
  peers: readonly PeerAddress[];
}

export interface ScrapeFile {
  infoHash: Buffer;
  /** Seeders. */
  complete: number;
  /** Completed downloads ever reported (event=completed). */
  downloaded: number;
  /** Leechers. */
  incomplete: number;
}

export interface AnnounceLimits {
  /** Address of the connection; used unless `trustIpParam` and a valid `ip=` is given. */
  remoteIp: string;
  trustIpParam?: boolean;
  defaultNumwant?: number;
  maxNumwant?: number;
}
