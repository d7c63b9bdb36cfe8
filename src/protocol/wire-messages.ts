/**
 * Peer wire message types (BEP 3, BEP 6 fast extension, BEP 10 envelope, port) and the codec's error.
 *
 * Owns: the `WireMessage` union on `type`, one interface per message, `BlockMessage`, and `WireError`
 * with its typed codes. Does not own: the wire ids and sizes, encoding or decoding (wire-codec.ts),
 * the handshake (wire-handshake.ts) or bitfields (bitset.ts).
 *
 * Separate so the handshake, bitfield and framing modules can name messages and throw `WireError`
 * without importing the codec; wire-codec.ts re-exports everything here.
 */

export interface KeepAlive {
  type: 'KeepAlive';
}
export interface Choke {
  type: 'Choke';
}
export interface Unchoke {
  type: 'Unchoke';
}
export interface Interested {
  type: 'Interested';
}
export interface NotInterested {
  type: 'NotInterested';
}
export interface Have {
  type: 'Have';
  index: number;
}
export interface Bitfield {
  type: 'Bitfield';
  /** Raw bitfield bytes; check them with `BitSet.fromBuffer(bits, pieceCount)` before use. */
  bits: Buffer;
}
export interface Request {
  type: 'Request';
  index: number;
  begin: number;
  length: number;
}
export interface Piece {
  type: 'Piece';
  index: number;
  begin: number;
  /** The block; when decoded it may share memory with the socket chunk: copy it to keep it long. */
  block: Buffer;
}
export interface Cancel {
  type: 'Cancel';
  index: number;
  begin: number;
  length: number;
}
export interface Port {
  type: 'Port';
  port: number;
}
export interface Suggest {
  type: 'Suggest';
  index: number;
}
export interface HaveAll {
  type: 'HaveAll';
}
export interface HaveNone {
  type: 'HaveNone';
}
export interface Reject {
  type: 'Reject';
  index: number;
  begin: number;
  length: number;
}
export interface AllowedFast {
  type: 'AllowedFast';
  index: number;
}
export interface Extended {
  type: 'Extended';
  /** BEP 10 extended message id: 0 is the extended handshake, others as the peer's `m` dictionary says. */
  id: number;
  payload: Buffer;
}

export type WireMessage =
  | KeepAlive
  | Choke
  | Unchoke
  | Interested
  | NotInterested
  | Have
  | Bitfield
  | Request
  | Piece
  | Cancel
  | Port
  | Suggest
  | HaveAll
  | HaveNone
  | Reject
  | AllowedFast
  | Extended;

export type WireMessageType = WireMessage['type'];

/** A message that names a block: `<index><begin><length>` (for Piece the length is the block's). */
export type BlockMessage = Request | Cancel | Reject | Piece;

export type WireErrorCode =
  /** Handshake does not start with `\x13BitTorrent protocol`. */
  | 'bad-protocol'
  /** `decodeHandshake` was given other than 68 bytes. */
  | 'bad-handshake-length'
  /** The handshake names a torrent we are not serving on this connection. */
  | 'info-hash-mismatch'
  | 'unknown-id'
  /** The body length does not fit the message id. */
  | 'bad-length'
  /** A BEP 6 / BEP 10 message arrived though the extension was not negotiated. */
  | 'not-negotiated'
  /** A length prefix above the connection's cap. */
  | 'message-too-large'
  /** The stream ended inside a handshake or message. */
  | 'truncated'
  | 'bad-bitfield-length'
  /** Bits past the last piece are set (BEP 3: drop such peers). */
  | 'spare-bits-set'
  | 'index-out-of-range'
  /** A block span that is empty, above BLOCK_SIZE, or past the end of its piece. */
  | 'bad-span'
  /** A value that cannot be put on the wire (not a uint32, wrong buffer size...). */
  | 'unencodable';

/** A malformed or illegal frame from a peer: drop that peer, keep the engine. */
export class WireError extends Error {
  constructor(
    readonly code: WireErrorCode,
    detail: string,
  ) {
    super(`wire: ${detail}`);
    this.name = 'WireError';
  }
}
