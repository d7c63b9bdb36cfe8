/**
 * One peer connection's vocabulary and state: the commands, facts, events and effects of
 * src/core/peer-protocol.ts (which owns the rules) and the state object it mutates.
 *
 * Owns: the message and effect types, the protocol's constants, `PeerState` and its initial value.
 * Does not own: any rule (peer-protocol.ts) or the socket (src/actors/peer-connection.ts).
 */
import type { BitSet, Handshake, PieceGeometry, WireMessage } from '../protocol/wire-codec';
import type { ExtensionHandshake } from '../protocol/extension-handshake';
import { ExtendedMessage, PeerExtensions, initialPeerExtensions } from './peer-extensions';
import type { BlockSpan } from './piece-picker';
import { RateMeter } from './rate-meter';

export type PeerCommand =
  | { type: 'RequestBlocks'; spans: readonly BlockSpan[] }
  | { type: 'CancelBlock'; span: BlockSpan }
  | { type: 'SendHave'; index: number }
  | { type: 'Choke' }
  | { type: 'Unchoke' }
  | { type: 'SetInterested'; interested: boolean }
  | { type: 'SendBlock'; span: BlockSpan; data: Buffer }
  | { type: 'BlockUnavailable'; span: BlockSpan }
  /** An extension message by name; dropped when the peer did not declare that extension. */
  | { type: 'SendExtended'; name: string; payload: Buffer }
  | { type: 'Close'; reason: string };

/** Facts the runtime feeds in (stamped with the injected clock's `now`). */
export type PeerInput =
  | { type: 'GotFrame'; frame: WireMessage | Handshake; now: number }
  | { type: 'WireFailed'; reason: string; violation: boolean }
  | { type: 'Tick'; now: number }
  /** Answer to a `Pump` effect: whether the socket has room for more upload data. */
  | { type: 'Pump'; canSend: boolean }
  /**
   * A `SendPiece` effect was carried out (after any upload-limit wait); `sent` false if the socket was
   * gone. `canSend` is the answer a `Pump` would get now, so the next block is asked for in this step.
   */
  | { type: 'PieceSent'; bytes: number; sent: boolean; now: number; canSend: boolean };

export type PeerIn = PeerCommand | PeerInput;

export type PeerEvent =
  | { type: 'PeerHandshaked'; peerId: Buffer; fast: boolean; extensions: boolean; reserved: Buffer }
  | { type: 'PeerGotBitfield'; bits: BitSet }
  | { type: 'PeerGotHave'; index: number }
  | { type: 'PeerGotHaveAll' }
  | { type: 'PeerGotAllowedFast'; index: number }
  | { type: 'PeerChokedUs' }
  | { type: 'PeerUnchokedUs' }
  | { type: 'PeerInterested' }
  | { type: 'PeerNotInterested' }
  | { type: 'PeerSentBlock'; span: BlockSpan; data: Buffer }
  | { type: 'PeerRejected'; span: BlockSpan }
  | { type: 'PeerWantsBlock'; span: BlockSpan }
  /** Its extended handshake (BEP 10 allows more than one; each updates the ids). */
  | { type: 'PeerSentExtensionHandshake'; handshake: ExtensionHandshake }
  | { type: 'PeerSentExtended'; message: ExtendedMessage }
  | { type: 'PeerSentPort'; port: number }
  | { type: 'PeerClosed'; reason: string; violation: boolean };

export type PeerEffect =
  | { type: 'Write'; message: WireMessage }
  /** Several requests in one socket write (corked). */
  | { type: 'WriteRequests'; spans: readonly BlockSpan[] }
  | { type: 'SendHandshake' }
  /** Send a block, after waiting for upload tokens when a limit is set; answer with `PieceSent`. */
  | { type: 'SendPiece'; span: BlockSpan; data: Buffer }
  /** Ask the runtime whether the socket has room; it answers with a `Pump` message. */
  | { type: 'Pump' }
  | { type: 'Close' };

export interface PeerConfig {
  /** The torrent's shape; null while it is not known (a magnet's connection fetching metadata). */
  geometry: PieceGeometry | null;
  /** Our reserved bytes (BEP 6 / BEP 10 bits). */
  reserved: Buffer;
  ourPeerId: Buffer;
  outgoing: boolean;
  /** Our pieces, for the first message. */
  ourBitfield: () => BitSet;
  /** Most peer requests queued at once; with BEP 10 the owner advertises it as our `reqq`. */
  maxQueuedRequests: number;
  idleTimeoutMs: number;
  /**
   * BEP 10, when our reserved bit is set: the extensions we offer (name → the id peers send them with;
   * empty for a private torrent) and our extended handshake's payload, built when it is sent.
   */
  extensions?: { local: ReadonlyMap<string, number>; handshake: () => Buffer };
  /** BEP 5: our DHT node's UDP port, sent in a PORT message when both sides set the DHT bit. */
  dhtPort?: number;
}

export const KEEPALIVE_MS = 90_000;
/** Blocks being read for this peer at once. */
export const MAX_READS_IN_FLIGHT = 4;
/**
 * Requests refused (choked or queue full) before we call it a flood: counted since we last unchoked the
 * peer or last found our socket draining (a peer that reads what we send is only fast, not flooding).
 */
export const MAX_EXCESS_REQUESTS = 10_000;

export interface PeerState {
  readonly config: PeerConfig;
  peerId: Buffer | null;
  fast: boolean;
  extensions: boolean;
  handshaked: boolean;
  amChoking: boolean;
  amInterested: boolean;
  peerChoking: boolean;
  peerInterested: boolean;
  closed: boolean;
  downloaded: number;
  uploaded: number;
  readonly downRate: RateMeter;
  readonly upRate: RateMeter;
  lastReceived: number;
  lastSent: number;
  readonly handshakeDeadline: number;
  /** The peer's requests waiting to be read (12-byte spans; bounded by maxQueuedRequests). */
  readonly uploads: BlockSpan[];
  readsInFlight: number;
  gotFirstMessage: boolean;
  /** The first message was BITFIELD, HAVE ALL or HAVE NONE (so a later one is an update, not a violation). */
  openedWithPieces: boolean;
  excessRequests: number;
  ext: PeerExtensions;
}

export function initialPeerState(config: PeerConfig, now: number, handshakeTimeoutMs: number): PeerState {
  return {
    config,
    peerId: null,
    fast: false,
    extensions: false,
    handshaked: false,
    amChoking: true,
    amInterested: false,
    peerChoking: true,
    peerInterested: false,
    closed: false,
    downloaded: 0,
    uploaded: 0,
    downRate: new RateMeter({ start: now }),
    upRate: new RateMeter({ start: now }),
    lastReceived: now,
    lastSent: now,
    // A silent socket still holds one of the few connection slots: it gets seconds, not minutes.
    handshakeDeadline: now + handshakeTimeoutMs,
    uploads: [],
    readsInFlight: 0,
    gotFirstMessage: false,
    openedWithPieces: false,
    excessRequests: 0,
    ext: initialPeerExtensions(),
  };
}
