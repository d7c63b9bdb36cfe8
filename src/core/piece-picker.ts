/**
 * The piece picker: which 16 KiB blocks to ask a peer for next.
 *
 * Owns: swarm availability (refcounts fed by HAVE / BITFIELD / HAVE ALL and peer loss), per-block state of
 * the pieces in progress (free → requested(n) → received → written), which pieces we have, and the picking
 * policy — finish partial pieces first, a few random pieces while we have fewer than `randomFirstPieces`,
 * then rarest-first with a random tie-break drawn from the injected `random`.
 *
 * Does not own (modelled on libtorrent's `piece_picker` and Transmission's wishlist): peers (they are
 * opaque; a peer is only "which pieces it has"), sockets, timers, hashing, storage, which peer a block was
 * requested from, and the endgame decision. `pick(…, { endgame: true })` only *offers* blocks that are
 * already requested; the scheduler duplicates them and cancels the losers.
 *
 * Memory is O(pieces): a few typed arrays of `pieceCount` entries, plus one byte per block for pieces in
 * progress only. Availability is kept as buckets over one permutation of the missing pieces (libtorrent's
 * trick): a HAVE moves one piece across one bucket boundary in O(1), and rarest-first is a scan from the
 * front of the permutation that stops as soon as `n` blocks are found.
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

/** Bytes per block on the wire (a BitTorrent constant). */
export const BLOCK_SIZE = 16384;

/** One block: `length` bytes at `begin` within piece `index` (the fields of REQUEST / PIECE / CANCEL). */
export interface BlockSpan {
  index: number;
  begin: number;
  length: number;
}

/**
 * What a peer has: a predicate, anything with `get(index)` (the wire codec's `BitSet`), or raw BEP 3
 * bitfield bytes (MSB-first: piece 0 is the high bit of byte 0; bits past the end count as absent).
 */
export type PeerHas = ((index: number) => boolean) | { get(index: number): boolean } | Uint8Array;

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

export class PiecePicker {
  readonly pieceCount: number;
  readonly pieceLength: number;
  readonly length: number;
  /** Blocks in a full-size piece; also the stride of `blockKey`. */
  readonly blocksPerPiece: number;

  private readonly random: () => number;
  private readonly randomFirstPieces: number;

  /** Per-piece count of peers that announced it (HAVE / BITFIELD), seeds excluded. */
  private readonly avail: Uint32Array;
  /** Peers that sent HAVE ALL: counted once here instead of once per piece, so a seed costs O(1). */
  private seeds = 0;
  private readonly haveFlags: Uint8Array;
  private verified = 0;

  /**
   * Missing pieces in [0, size), sorted by `avail` ascending, random order within equal availability.
   * Bucket b (all pieces with avail b) is order[bucketStart[b] .. bucketStart[b+1]) (the last ends at size).
   */
  private readonly order: Uint32Array;
  private readonly pos: Uint32Array;
  private size: number;
  private readonly bucketStart: number[] = [0];

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
    this.pieceCount = pieceCount;
    this.pieceLength = pieceLength;
    this.length = length;
    this.blocksPerPiece = ceil(pieceLength / BLOCK_SIZE);
    this.random = opts.random ?? Math.random;
    this.randomFirstPieces = opts.randomFirstPieces ?? 4;

    this.avail = new Uint32Array(pieceCount);
    this.haveFlags = new Uint8Array(pieceCount);
    this.order = new Uint32Array(pieceCount);
    this.pos = new Uint32Array(pieceCount);
    this.size = pieceCount;
    this.untouched = pieceCount;
    for (let i = 0; i < pieceCount; i++) {
      this.order[i] = i;
      this.freeBlocks += this.blocksInPiece(i);
    }
    // Shuffle once so ties among equally rare pieces are broken at random (Fisher–Yates).
    for (let i = pieceCount - 1; i > 0; i--) this.swap(i, this.randInt(i + 1));
    for (let i = 0; i < pieceCount; i++) this.pos[this.order[i]] = i;
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

  // -------------------------------------------------------------------------------------- availability

  /** A peer announced piece `index` (HAVE). */
  peerHave(index: number): void {
    this.checkIndex(index);
    this.avail[index]++;
    if (!this.haveFlags[index]) this.moveUp(index, this.avail[index] - 1, true);
  }

  /** A peer sent its BITFIELD (or, with a predicate, any set of pieces). */
  peerBitfield(bits: PeerHas): void {
    const has = hasFn(bits);
    for (let i = 0; i < this.pieceCount; i++) if (has(i)) this.peerHave(i);
  }

  /** A peer sent HAVE ALL (BEP 6). Do not also call `peerHave` for it. */
  peerHaveAll(): void {
    this.seeds++;
  }

  /**
   * A peer went away: pass the pieces it had announced (its current bitfield), or 'all' for a peer that
   * sent HAVE ALL. Counts never go below zero, so a mismatched call cannot corrupt the order.
   */
  peerLost(bits: PeerHas | 'all'): void {
    if (bits === 'all') {
      if (this.seeds > 0) this.seeds--;
      return;
    }
    const has = hasFn(bits);
    for (let i = 0; i < this.pieceCount; i++) {
      if (!has(i) || this.avail[i] === 0) continue;
      this.avail[i]--;
      if (!this.haveFlags[i]) this.moveDown(i, this.avail[i] + 1);
    }
  }

  /** Connected peers that have piece `index`. */
  availability(index: number): number {
    this.checkIndex(index);
    return this.avail[index] + this.seeds;
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
    for (const [index, p] of this.progress) {
      if (out.length >= n) return out;
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
      for (const [index, p] of this.progress) {
        if (!has(index)) continue;
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

  private bucketEnd(b: number): number {
    return b + 1 < this.bucketStart.length ? this.bucketStart[b + 1] : this.size;
  }

  /** Moves piece `index` from bucket `from` to `from + 1` (O(1)): swap with the bucket's last, shift the boundary. */
  private moveUp(index: number, from: number, shuffle: boolean): void {
    if (from + 1 >= this.bucketStart.length) this.bucketStart.push(this.size);
    const last = this.bucketStart[from + 1] - 1;
    this.swap(this.pos[index], last);
    this.bucketStart[from + 1] = last;
    if (shuffle) this.swap(last, last + this.randInt(this.bucketEnd(from + 1) - last));
  }

  /** Moves piece `index` from bucket `from` to `from - 1`: swap with the bucket's first, shift the boundary. */
  private moveDown(index: number, from: number): void {
    const first = this.bucketStart[from];
    this.swap(this.pos[index], first);
    this.bucketStart[from] = first + 1;
    const lo = this.bucketStart[from - 1];
    this.swap(first, lo + this.randInt(first - lo + 1));
  }

  /** Takes a piece we now have out of the permutation: carry it to the top bucket, then past the end. */
  private remove(index: number): void {
    const top = this.bucketStart.length - 1;
    for (let b = this.avail[index]; b < top; b++) this.moveUp(index, b, false);
    this.swap(this.pos[index], this.size - 1);
    this.size--;
  }

  private swap(a: number, b: number): void {
    if (a === b) return;
    const x = this.order[a];
    const y = this.order[b];
    this.order[a] = y;
    this.order[b] = x;
    this.pos[y] = a;
    this.pos[x] = b;
  }

  /** Uniform integer in [0, n); robust to a random source that returns 1. */
  private randInt(n: number): number {
    return min(n - 1, floor(this.random() * n));
  }

  private checkIndex(index: number): void {
    if (!isInteger(index) || index < 0 || index >= this.pieceCount) {
      throw new RangeError(`piece ${index} outside 0..${this.pieceCount - 1}`);
    }
  }

  private checkBlock(span: BlockSpan): void {
    if (!this.isValidBlock(span)) {
      throw new RangeError(`not a block: piece ${span.index} begin ${span.begin} length ${span.length}`);
    }
  }
}

/** Normalises the three `PeerHas` forms to a predicate. */
export function hasFn(peerHas: PeerHas): (index: number) => boolean {
  if (typeof peerHas === 'function') return peerHas;
  if (peerHas instanceof Uint8Array) {
    const bytes = peerHas;
    return (i) => (i >> 3 < bytes.length ? (bytes[i >> 3] & (0x80 >> (i & 7))) !== 0 : false);
  }
  return (i) => peerHas.get(i);
}
