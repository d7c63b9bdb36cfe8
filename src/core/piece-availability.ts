/**
 * Swarm availability for the piece picker: how many peers have each piece, and the missing pieces
 * kept in rarest-first order.
 *
 * Owns: the refcounts fed by HAVE / BITFIELD / HAVE ALL and peer loss, the flags of pieces we have
 * (set by the picker), and the permutation of missing pieces sorted by availability with random order among equals (libtorrent's
 * trick): buckets over one array, so a HAVE moves one piece across one bucket boundary in O(1) and a
 * rarest-first scan reads `order` from the front. Does not own: blocks, pieces in progress or the
 * picking policy (piece-picker.ts).
 *
 * A base class of `PiecePicker` rather than an object it holds: the picker reads `order`, `size` and
 * `haveFlags` in its per-block loops, and as fields of one object they cost what they cost before the
 * split (no extra hop, the same object shape at every call site).
 */

/**
 * What a peer has: a predicate, anything with `get(index)` (the wire codec's `BitSet`), or raw BEP 3
 * bitfield bytes (MSB-first: piece 0 is the high bit of byte 0; bits past the end count as absent).
 */
export type PeerHas = ((index: number) => boolean) | { get(index: number): boolean } | Uint8Array;

// Hot paths use these local bindings: global lookups are slow inside a vm context (jest), and free elsewhere.
const { floor, min } = Math;
const { isInteger } = Number;

export class PieceAvailability {
  readonly pieceCount: number;

  private readonly random: () => number;

  /** Per-piece count of peers that announced it (HAVE / BITFIELD), seeds excluded. */
  private readonly avail: Uint32Array;
  /** Peers that sent HAVE ALL: counted once here instead of once per piece, so a seed costs O(1). */
  private seeds = 0;
  protected readonly haveFlags: Uint8Array;

  /**
   * Missing pieces in [0, size), sorted by `avail` ascending, random order within equal availability.
   * Bucket b (all pieces with avail b) is order[bucketStart[b] .. bucketStart[b+1]) (the last ends at size).
   */
  protected readonly order: Uint32Array;
  private readonly pos: Uint32Array;
  protected size: number;
  private readonly bucketStart: number[] = [0];

  constructor(pieceCount: number, random: () => number) {
    this.pieceCount = pieceCount;
    this.random = random;
    this.avail = new Uint32Array(pieceCount);
    this.haveFlags = new Uint8Array(pieceCount);
    this.order = new Uint32Array(pieceCount);
    this.pos = new Uint32Array(pieceCount);
    this.size = pieceCount;
    for (let i = 0; i < pieceCount; i++) this.order[i] = i;
    // Shuffle once so ties among equally rare pieces are broken at random (Fisher–Yates).
    for (let i = pieceCount - 1; i > 0; i--) this.swap(i, this.randInt(i + 1));
    for (let i = 0; i < pieceCount; i++) this.pos[this.order[i]] = i;
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

  // ------------------------------------------------------------------------------------------ internals

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
  protected remove(index: number): void {
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
  protected randInt(n: number): number {
    return min(n - 1, floor(this.random() * n));
  }

  protected checkIndex(index: number): void {
    if (!isInteger(index) || index < 0 || index >= this.pieceCount) {
      throw new RangeError(`piece ${index} outside 0..${this.pieceCount - 1}`);
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
