/**
 * The piece picker: which 16 KiB blocks to ask a peer for next.
 *
 * Owns: per-block state of the pieces in progress (free → requested(n) → received → written), when a
 * piece becomes ours (`have`, `pieceVerified`), and the picking policy — finish partial pieces first, a few random pieces while we have
 * fewer than `randomFirstPieces`, then rarest-first with a random tie-break drawn from the injected
 * `random`. Swarm availability and the rarest-first order are in piece-availability.ts (the base class),
 * the shared types in piece-picker-types.ts (re-exported here).
 *
 * Does not own (modelled on libtorrent's `piece_picker` and Transmission's wishlist): peers (they are
 * opaque; a peer is only "which pieces it has"), sockets, timers, hashing, storage, which peer a block was
 * requested from, and the endgame decision. `pick(…, { endgame: true })` only *offers* blocks that are
 * already requested; the scheduler duplicates them and cancels the losers.
 *
 * Memory is O(pieces): a few typed arrays of `pieceCount` entries, plus one byte per block for pieces in
 * progress only.
 *
 * The picker is a mutable object, not an immutable value: it is called per block at thousands of calls a
 * second, and copying O(pieces) state per call would dominate. An actor owns exactly one and never shares it.
 *
 * @example
 *   const picker = new PiecePicker({ pieceLength: 512 * 1024, length: 3 * 512 * 1024 + 1, random: Math.random });
 *   picker.peerBitfield(bits);                     // a peer's BITFIELD
 *   for (const span of picker.pick(bits, 8)) {     // ≤ 8 spans { index, begin, length }
 *     picker.requested(span);                      // after the REQUEST frame is queued
 *   }
 *   if (picker.received(span)) hash(span.index);   // true when the piece has all its blocks
 *   picker.pieceVerified(span.index);              // or picker.pieceFailed(span.index)
 */
import { PeerHas, PieceAvailability, hasFn } from './piece-availability';
import { BLOCK_SIZE, BlockSpan, BlockState, PickOptions, PiecePickerOptions } from './piece-picker-types';

export * from './piece-picker-types';
export { hasFn } from './piece-availability';
export type { PeerHas } from './piece-availability';

// Hot paths use these local bindings: global lookups are slow inside a vm context (jest), and free elsewhere.
const { ceil, floor, min } = Math;
const { isInteger } = Number;

// Block states in a piece's Uint8Array: 0 free, 1..MAX_REQUESTS outstanding request count, then received/written.
const FREE = 0;
const MAX_REQUESTS = 250;
const RECEIVED = 254;
const WRITTEN = 255;

interface PieceProgress {
  blocks: Uint8Array;
  free: number;
  /** Blocks received or written. */
  received: number;
  written: number;
}

export class PiecePicker extends PieceAvailability {
  readonly pieceLength: number;
  readonly length: number;
  /** Blocks in a full-size piece; also the stride of `blockKey`. */
  readonly blocksPerPiece: number;

  private readonly randomFirstPieces: number;
  private verified = 0;

  private readonly progress = new Map<number, PieceProgress>();
  /** Free blocks over all missing pieces: 0 means every missing block is requested or received. */
  private freeBlocks = 0;
  /** Missing pieces with no progress entry (nothing requested or received). */
  private untouched: number;

  constructor(opts: PiecePickerOptions) {
    const { pieceLength, length } = opts;
    if (!Number.isSafeInteger(pieceLength) || pieceLength <= 0)
      throw new RangeError(`bad pieceLength ${pieceLength}`);
    if (!Number.isSafeInteger(length) || length <= 0) throw new RangeError(`bad length ${length}`);
    const pieceCount = ceil(length / pieceLength);
    if (opts.pieceCount !== undefined && opts.pieceCount !== pieceCount) {
      throw new RangeError(
        `pieceCount ${opts.pieceCount} does not match ${length} bytes in ${pieceLength}-byte pieces`,
      );
    }
    super(pieceCount, opts.random ?? Math.random);
    this.pieceLength = pieceLength;
    this.length = length;
    this.blocksPerPiece = ceil(pieceLength / BLOCK_SIZE);
    this.randomFirstPieces = opts.randomFirstPieces ?? 4;
    this.untouched = pieceCount;
    for (let i = 0; i < pieceCount; i++) this.freeBlocks += this.blocksInPiece(i);
  }

  // ------------------------------------------------------------------------------------------ geometry

  /** Bytes in piece `index` (the last piece may be shorter). */
  pieceSize(index: number): number {
    return index === this.pieceCount - 1
      ? this.length - this.pieceLength * (this.pieceCount - 1)
      : this.pieceLength;
  }

  blocksInPiece(index: number): number {
    return ceil(this.pieceSize(index) / BLOCK_SIZE);
  }

  /** The span of block `block` of piece `index` (the last block of a piece may be shorter). */
  blockSpan(index: number, block: number): BlockSpan {
    const begin = block * BLOCK_SIZE;
    return { index, begin, length: min(BLOCK_SIZE, this.pieceSize(index) - begin) };
  }

  /** A number naming a block, for per-peer sets (`PickOptions.exclude`). */
  blockKey(span: { index: number; begin: number }): number {
    return span.index * this.blocksPerPiece + floor(span.begin / BLOCK_SIZE);
  }

  /** True when `span` is exactly one block of this torrent (index in range, aligned, right length). */
  isValidBlock(span: BlockSpan): boolean {
    const { index, begin, length } = span;
    if (!isInteger(index) || index < 0 || index >= this.pieceCount) return false;
    if (!isInteger(begin) || begin < 0 || begin % BLOCK_SIZE !== 0) return false;
    const size = this.pieceSize(index);
    return begin < size && length === min(BLOCK_SIZE, size - begin);
  }

  // ------------------------------------------------------------------------------------------- picking

  /**
   * Up to `n` blocks to request from a peer that has `peerHas`: never a piece the peer lacks, never a
   * piece we have, never a block already requested (unless `endgame`) or received. Order: free blocks of
   * pieces in progress (oldest first), then new pieces — at random while fewer than `randomFirstPieces`
   * are verified, else rarest first with random tie-break. Does not mark anything: call `requested` for
   * each span actually sent.
   */
  pick(peerHas: PeerHas, n: number, opts: PickOptions = {}): BlockSpan[] {
    const out: BlockSpan[] = [];
    if (!(n > 0)) return out;
    const has = hasFn(peerHas);
    const exclude = opts.exclude;

    // (a) Partial pieces first: fewer pieces in progress means pieces verify (and can be shared) sooner.
    // Keys, then get: `for (const [k, v] of map)` allocates an entry per piece, and this runs per fill.
    for (const index of this.progress.keys()) {
      if (out.length >= n) return out;
      const p = this.progress.get(index) as PieceProgress;
      if (p.free === 0 || !has(index)) continue;
      this.takeBlocks(index, p.blocks, out, n, exclude);
    }

    // (b)/(c) New pieces. Skipped when every missing piece is already in progress (then a scan finds nothing).
    const maxNew = opts.maxNewPieces ?? Infinity;
    if (out.length < n && this.untouched > 0 && this.size > 0 && maxNew > 0) {
      let started = 0;
      // While we have almost nothing, a rare piece would take long to finish; a random one gives us
      // something to trade sooner. The permutation is shuffled, so a random starting point is a random pick.
      const start = this.verified < this.randomFirstPieces ? this.randInt(this.size) : 0;
      for (let k = 0; k < this.size && out.length < n; k++) {
        let at = start + k;
        if (at >= this.size) at -= this.size;
        const index = this.order[at];
        if (this.progress.has(index) || !has(index)) continue;
        this.takeBlocks(index, undefined, out, n, exclude);
        if (++started >= maxNew) break;
      }
    }

    // (d) Endgame: blocks others are already fetching, least duplicated first.
    if (opts.endgame && out.length < n) {
      const extra: { span: BlockSpan; count: number }[] = [];
      for (const index of this.progress.keys()) {
        if (!has(index)) continue;
        const p = this.progress.get(index) as PieceProgress;
        for (let b = 0; b < p.blocks.length; b++) {
          const s = p.blocks[b];
          if (s === FREE || s > MAX_REQUESTS) continue;
          const span = this.blockSpan(index, b);
          if (exclude?.has(this.blockKey(span))) continue;
          extra.push({ span, count: s });
        }
      }
      extra.sort((x, y) => x.count - y.count); // stable: oldest piece first among equals
      for (const e of extra) {
        if (out.length >= n) break;
        out.push(e.span);
      }
    }
    return out;
  }

  /** Every block requested but not yet received, for an endgame scheduler that wants the full list. */
  requestedBlocksNotReceived(): BlockSpan[] {
    const out: BlockSpan[] = [];
    for (const [index, p] of this.progress) {
      for (let b = 0; b < p.blocks.length; b++) {
        const s = p.blocks[b];
        if (s !== FREE && s <= MAX_REQUESTS) out.push(this.blockSpan(index, b));
      }
    }
    return out;
  }

  // ------------------------------------------------------------------------------------- block states

  /** We sent a REQUEST for `span` (again, in endgame: the count goes up). Throws on a span that is no block. */
  requested(span: BlockSpan): void {
    this.checkBlock(span);
    if (this.haveFlags[span.index]) return;
    const p = this.ensureProgress(span.index);
    const b = span.begin / BLOCK_SIZE;
    const s = p.blocks[b];
    if (s === FREE) {
      p.blocks[b] = 1;
      p.free--;
      this.freeBlocks--;
    } else if (s < MAX_REQUESTS) {
      p.blocks[b] = s + 1;
    }
  }

  /**
   * One outstanding request for `span` is gone without data (we sent CANCEL, the peer choked us or
   * rejected it, or the peer left). When no request remains the block is free again.
   */
  cancelled(span: BlockSpan): void {
    this.checkBlock(span);
    const p = this.progress.get(span.index);
    if (!p) return;
    const b = span.begin / BLOCK_SIZE;
    const s = p.blocks[b];
    if (s === FREE || s > MAX_REQUESTS) return;
    p.blocks[b] = s - 1;
    if (s === 1) {
      p.free++;
      this.freeBlocks++;
      if (p.free === p.blocks.length) this.dropProgress(span.index);
    }
  }

  /** A request timed out; same as `cancelled` (the scheduler may also count it against the peer). */
  peerTimedOut(span: BlockSpan): void {
    this.cancelled(span);
  }

  /**
   * The block's data arrived. Returns true exactly when this completes the piece (every block received or
   * written): the piece is ready to hash. Returns false for a duplicate (endgame), a piece we have, or a
   * span that is not a block — peer data never throws here.
   */
  received(span: BlockSpan): boolean {
    if (!this.isValidBlock(span) || this.haveFlags[span.index]) return false;
    const p = this.ensureProgress(span.index);
    const b = span.begin / BLOCK_SIZE;
    const s = p.blocks[b];
    if (s > MAX_REQUESTS) return false;
    if (s === FREE) {
      p.free--;
      this.freeBlocks--;
    }
    p.blocks[b] = RECEIVED;
    p.received++;
    return p.received === p.blocks.length;
  }

  /** Storage wrote the block. Returns true when every block of the piece is written. */
  written(span: BlockSpan): boolean {
    if (!this.isValidBlock(span) || this.haveFlags[span.index]) return false;
    const p = this.progress.get(span.index);
    const b = span.begin / BLOCK_SIZE;
    if (!p || p.blocks[b] !== RECEIVED) return false;
    p.blocks[b] = WRITTEN;
    p.written++;
    return p.written === p.blocks.length;
  }

  /** The piece hashed correctly: we have it. */
  pieceVerified(index: number): void {
    this.have(index);
  }

  /** The piece failed its hash: every block goes back to free, to be fetched again (maybe from others). */
  pieceFailed(index: number): void {
    this.checkIndex(index);
    if (this.haveFlags[index]) return;
    const p = this.progress.get(index);
    if (!p) return;
    this.freeBlocks += p.blocks.length - p.free;
    this.dropProgress(index);
  }

  /** We have piece `index` (verified now, or on resume). Idempotent. */
  have(index: number): void {
    this.checkIndex(index);
    if (this.haveFlags[index]) return;
    const p = this.progress.get(index);
    if (p) {
      this.freeBlocks -= p.free;
      this.progress.delete(index);
    } else {
      this.freeBlocks -= this.blocksInPiece(index);
      this.untouched--;
    }
    this.haveFlags[index] = 1;
    this.verified++;
    this.remove(index);
  }

  // ------------------------------------------------------------------------------------------- queries

  hasPiece(index: number): boolean {
    return index >= 0 && index < this.pieceCount && this.haveFlags[index] === 1;
  }

  /** Pieces we have. */
  haveCount(): number {
    return this.verified;
  }

  missingCount(): number {
    return this.pieceCount - this.verified;
  }

  isComplete(): boolean {
    return this.verified === this.pieceCount;
  }

  /** Blocks of missing pieces nobody has been asked for: 0 is the usual signal to enter endgame. */
  unrequestedBlocks(): number {
    return this.freeBlocks;
  }

  /** Pieces with some block requested or received, oldest first. */
  piecesInProgress(): number[] {
    return [...this.progress.keys()];
  }

  /** How many pieces are in progress (no array built). */
  piecesInProgressCount(): number {
    return this.progress.size;
  }

  /** State of one block (a piece we have reports 'written'). */
  blockState(span: BlockSpan): BlockState {
    this.checkBlock(span);
    if (this.haveFlags[span.index]) return 'written';
    const s = this.progress.get(span.index)?.blocks[span.begin / BLOCK_SIZE] ?? FREE;
    return s === FREE ? 'free' : s === RECEIVED ? 'received' : s === WRITTEN ? 'written' : 'requested';
  }

  /** Outstanding requests for one block (0 unless state is 'requested'). */
  requestCount(span: BlockSpan): number {
    this.checkBlock(span);
    const s = this.progress.get(span.index)?.blocks[span.begin / BLOCK_SIZE] ?? FREE;
    return s <= MAX_REQUESTS ? s : 0;
  }

  // ------------------------------------------------------------------------------------------ internals

  private takeBlocks(
    index: number,
    blocks: Uint8Array | undefined,
    out: BlockSpan[],
    n: number,
    exclude: PickOptions['exclude'],
  ): void {
    const count = blocks ? blocks.length : this.blocksInPiece(index);
    for (let b = 0; b < count && out.length < n; b++) {
      if (blocks && blocks[b] !== FREE) continue;
      const span = this.blockSpan(index, b);
      if (exclude?.has(this.blockKey(span))) continue;
      out.push(span);
    }
  }

  private ensureProgress(index: number): PieceProgress {
    let p = this.progress.get(index);
    if (!p) {
      const count = this.blocksInPiece(index);
      p = { blocks: new Uint8Array(count), free: count, received: 0, written: 0 };
      this.progress.set(index, p);
      this.untouched--;
    }
    return p;
  }

  private dropProgress(index: number): void {
    this.progress.delete(index);
    this.untouched++;
  }

  private checkBlock(span: BlockSpan): void {
    if (!this.isValidBlock(span)) {
      throw new RangeError(`not a block: piece ${span.index} begin ${span.begin} length ${span.length}`);
    }
  }
}
