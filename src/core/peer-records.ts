/**
 * The record pool under the tracker's peer store (src/core/peer-store.ts): fixed-size records in
 * large slabs, freed records reused, and one open-addressing hash index over every record keyed by
 * the record's first 24 bytes, `<peer_id:20><swarm:4>`. The store owns the rest of the layout.
 *
 * Slabs hold 16,384 records (768 KiB), allocated uninitialised: pages cost memory only once written,
 * and one slab replaces hundreds of small buffers with their allocator and V8 overhead. The index is
 * an Int32Array of record + 1 (0 = empty) with linear probing, grown at 80 % full, and backward-shift
 * deletion (no tombstones).
 */

export const RECORD_BYTES = 48;
export const O_SWARM = 20;
const SLAB_SHIFT = 14;
const SLAB_RECORDS = 1 << SLAB_SHIFT;

export const u32 = (b: Buffer, o: number): number =>
  (b[o] | (b[o + 1] << 8) | (b[o + 2] << 16) | (b[o + 3] << 24)) >>> 0;

export function put32(b: Buffer, o: number, v: number): void {
  b[o] = v;
  b[o + 1] = v >>> 8;
  b[o + 2] = v >>> 16;
  b[o + 3] = v >>> 24;
}

export class RecordPool {
  private slabs: Buffer[] = [];
  private free: number[] = [];
  private used = 0;
  private index = new Int32Array(1024);
  private indexed = 0;

  /** The slab holding record `r`, and the record's offset in it. */
  buf(r: number): Buffer {
    return this.slabs[r >>> SLAB_SHIFT];
  }
  at(r: number): number {
    return (r & (SLAB_RECORDS - 1)) * RECORD_BYTES;
  }

  /** A record number for a new record: its bytes are the caller's to fill (uninitialised). */
  allocate(): number {
    const r = this.free.pop();
    if (r !== undefined) return r;
    if (this.used === this.slabs.length * SLAB_RECORDS)
      this.slabs.push(Buffer.allocUnsafeSlow(SLAB_RECORDS * RECORD_BYTES));
    return this.used++;
  }

  /** Give a record back (take it out of the index first). */
  release(r: number): void {
    this.free.push(r);
  }

  /** Bytes of records ever handed out (untouched slab pages cost nothing), the index and free list. */
  bytes(): number {
    return this.used * RECORD_BYTES + this.index.byteLength + this.free.length * 8;
  }

  private slotHash(s: number, id: Buffer, o: number): number {
    let h = Math.imul(0x811c9dc5 ^ s, 0x01000193);
    for (let i = 0; i < 20; i++) h = Math.imul(h ^ id[o + i], 0x01000193);
    return (h ^ (h >>> 15)) >>> 0;
  }

  private home(r: number, mask: number): number {
    const b = this.buf(r);
    const o = this.at(r);
    return this.slotHash(u32(b, o + O_SWARM), b, o) & mask;
  }

  private matches(r: number, s: number, id: Buffer): boolean {
    const b = this.buf(r);
    const o = this.at(r);
    if (u32(b, o + O_SWARM) !== s) return false;
    for (let i = 0; i < 20; i++) if (b[o + i] !== id[i]) return false;
    return true;
  }

  /** The record of peer `id` in swarm `s`, or -1. */
  find(s: number, id: Buffer): number {
    const mask = this.index.length - 1;
    for (let i = this.slotHash(s, id, 0) & mask; ; i = (i + 1) & mask) {
      const v = this.index[i];
      if (v === 0) return -1;
      if (this.matches(v - 1, s, id)) return v - 1;
    }
  }

  /** Index record `r` under its (swarm, peer id), already written. */
  indexInsert(r: number): void {
    // Grown at 80 % full: linear probing over 4-byte slots stays short, and the table stays small.
    if ((this.indexed + 1) * 5 > this.index.length * 4) this.regrow(this.index.length * 2);
    const mask = this.index.length - 1;
    let i = this.home(r, mask);
    while (this.index[i] !== 0) i = (i + 1) & mask;
    this.index[i] = r + 1;
    this.indexed++;
  }

  private regrow(size: number): void {
    const old = this.index;
    this.index = new Int32Array(size);
    this.indexed = 0;
    for (const v of old) if (v !== 0) this.indexInsert(v - 1);
  }

  /** Backward-shift deletion keeps linear probing correct without tombstones. */
  indexDelete(r: number): void {
    const mask = this.index.length - 1;
    let i = this.home(r, mask);
    while (this.index[i] !== r + 1) i = (i + 1) & mask;
    for (let j = (i + 1) & mask; this.index[j] !== 0; j = (j + 1) & mask) {
      const h = this.home(this.index[j] - 1, mask);
      // Move j back to i unless its home lies cyclically in (i, j].
      if (i <= j ? h <= i || h > j : h <= i && h > j) {
        this.index[i] = this.index[j];
        i = j;
      }
    }
    this.index[i] = 0;
    this.indexed--;
  }
}
