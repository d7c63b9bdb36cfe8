/**
 * `BitSet`: a set of piece indices backed by BEP 3 bitfield bytes (MSB-first: piece 0 is the high bit
 * of byte 0).
 *
 * Owns: validating a peer's bitfield bytes (length, spare bits) and the set operations on them. Does
 * not own: the Bitfield message frame (wire-codec.ts) or swarm availability (the piece picker).
 *
 * Separate because peers, the scheduler and the torrent logic keep BitSets long after decoding;
 * wire-codec.ts re-exports it.
 */
import { WireError } from './wire-messages';

/**
 * A set of piece indices backed by BEP 3 bitfield bytes (MSB-first).
 *
 * @example
 *   const have = BitSet.fromBuffer(msg.bits, 10); // throws bad-bitfield-length / spare-bits-set
 *   have.get(3); have.count(); have.isComplete();
 */
export class BitSet {
  private constructor(
    readonly pieceCount: number,
    private readonly bytes: Buffer,
  ) {}

  static byteLength(pieceCount: number): number {
    return Math.ceil(pieceCount / 8);
  }

  static empty(pieceCount: number): BitSet {
    return new BitSet(pieceCount, Buffer.alloc(BitSet.byteLength(pieceCount)));
  }

  static full(pieceCount: number): BitSet {
    const b = BitSet.empty(pieceCount);
    for (let i = 0; i < pieceCount; i++) b.set(i);
    return b;
  }

  /** Validates peer bytes (exact length, spare bits zero) and copies them. */
  static fromBuffer(bits: Buffer, pieceCount: number): BitSet {
    const expected = BitSet.byteLength(pieceCount);
    if (bits.length !== expected) {
      throw new WireError(
        'bad-bitfield-length',
        `bitfield is ${bits.length} bytes, ${pieceCount} pieces need ${expected}`,
      );
    }
    const spare = expected * 8 - pieceCount;
    if (spare > 0 && (bits[expected - 1] & ((1 << spare) - 1)) !== 0) {
      throw new WireError('spare-bits-set', 'bitfield has bits set past the last piece');
    }
    return new BitSet(pieceCount, Buffer.from(bits));
  }

  get(index: number): boolean {
    if (!(index >= 0 && index < this.pieceCount)) return false;
    return (this.bytes[index >> 3] & (0x80 >> (index & 7))) !== 0;
  }

  set(index: number, value = true): void {
    if (!Number.isInteger(index) || index < 0 || index >= this.pieceCount) {
      throw new RangeError(`piece ${index} outside 0..${this.pieceCount - 1}`);
    }
    if (value) this.bytes[index >> 3] |= 0x80 >> (index & 7);
    else this.bytes[index >> 3] &= ~(0x80 >> (index & 7));
  }

  count(): number {
    let n = 0;
    for (const byte of this.bytes) {
      let v = byte;
      while (v) {
        v &= v - 1;
        n++;
      }
    }
    return n;
  }

  isComplete(): boolean {
    return this.count() === this.pieceCount;
  }

  isEmpty(): boolean {
    return this.bytes.every((b) => b === 0);
  }

  /** A copy of the bytes, ready for a Bitfield message. */
  toBuffer(): Buffer {
    return Buffer.from(this.bytes);
  }
}
