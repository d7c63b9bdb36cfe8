/**
 * The piece picker's vocabulary: the block size, a block span, block states and the picker's options.
 *
 * Owns: types and the one constant that the picker, the scheduler, the peer protocol and the read
 * cache share. Does not own: any state or logic (piece-picker.ts, piece-availability.ts).
 *
 * Separate so that modules that only name a block need not reach into the picker; piece-picker.ts
 * re-exports everything here.
 */

/** Bytes per block on the wire (a BitTorrent constant). */
export const BLOCK_SIZE = 16384;

/** One block: `length` bytes at `begin` within piece `index` (the fields of REQUEST / PIECE / CANCEL). */
export interface BlockSpan {
  index: number;
  begin: number;
  length: number;
}

export type BlockState = 'free' | 'requested' | 'received' | 'written';

export interface PickOptions {
  /**
   * After the free blocks run out, also offer blocks that are requested but not yet received (fewest
   * outstanding requests first), for the scheduler to duplicate. Never offers received blocks.
   */
  endgame?: boolean;
  /** Block keys (`picker.blockKey(span)`) already requested from this peer; never offered again. */
  exclude?: { has(key: number): boolean };
  /**
   * Start at most this many pieces that have no progress yet (default: no limit). A caller that caps the
   * pieces in progress passes its remaining room: at 0 the scan over new pieces is skipped entirely,
   * which keeps a pick O(pieces in progress) rather than O(missing pieces) while the cap is reached.
   */
  maxNewPieces?: number;
}

export interface PiecePickerOptions {
  pieceLength: number;
  /** Total bytes in the torrent. */
  length: number;
  /** Optional; checked against `ceil(length / pieceLength)` when given (a `Metainfo` can be passed as is). */
  pieceCount?: number;
  /** Uniform in [0, 1). Injected so tests are deterministic; default `Math.random`. */
  random?: () => number;
  /** Pick at random (not rarest-first) until this many pieces are verified; default 4. */
  randomFirstPieces?: number;
}
