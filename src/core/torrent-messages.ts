/**
 * What one torrent's logic talks in: the view of a peer connection it reads, the effects it asks its
 * runtime to perform, and its options.
 *
 * Owns: the types `PeerView`, `TorrentEffect` and `LogicOptions`. Does not own: the decisions that
 * produce effects (torrent-logic.ts, torrent-peer-events.ts, torrent-extensions.ts) or performing them
 * (src/actors/torrent.ts).
 *
 * Separate so the runtime, the peer-event handlers and test labs can name the contract without the
 * logic's code; torrent-logic.ts re-exports everything here.
 */
import type { PeerCommand } from './peer-protocol';
import type { BlockSpan } from './piece-picker';
import type { RateMeter } from './rate-meter';

/** What the logic reads from a connection (a `PeerConnection` satisfies it). */
export interface PeerView {
  readonly address: string;
  readonly outgoing: boolean;
  readonly encryption: string;
  readonly peerId: Buffer | null;
  readonly fast: boolean;
  readonly handshaked: boolean;
  readonly closed: boolean;
  readonly amChoking: boolean;
  readonly amInterested: boolean;
  readonly peerChoking: boolean;
  readonly peerInterested: boolean;
  readonly downloaded: number;
  readonly uploaded: number;
  readonly downRate: RateMeter;
  readonly upRate: RateMeter;
  unrequestedBlock(): number;
  tick(now: number): void;
}

export type TorrentEffect =
  | { type: 'ToPeer'; key: string; command: PeerCommand }
  | { type: 'Verify'; index: number; data: Buffer }
  | { type: 'Write'; index: number; data: Buffer }
  | { type: 'Read'; peer: string; span: BlockSpan; check: boolean }
  | { type: 'Dial'; key: string; ip: string; port: number }
  | { type: 'ResumeVerified'; index: number }
  | { type: 'SaveResume' }
  | { type: 'NeedPeers' }
  | { type: 'Choke'; round: boolean; id?: string }
  | { type: 'Completed' }
  | { type: 'Fatal'; error: Error };

export interface LogicOptions {
  meta: { infoHashHex: string; pieceCount: number; pieceLength: number; length: number };
  peerId: Buffer;
  clock: () => number;
  random: () => number;
  maxPeers: number;
  uploadSlots: number;
  /** Connections the engine still allows (its global cap), read before dialling. */
  engineSlots: () => number;
  localAddresses: ReadonlySet<string>;
  /** Our listen port (for recognising our own address). */
  port: () => number;
  /** BEP 27: no PEX, no metadata for others. */
  private?: boolean;
  /** The info dictionary's bytes, served to peers over ut_metadata (BEP 9). */
  info?: Buffer;
}
