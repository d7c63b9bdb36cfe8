/**
 * A swarm's member list for the packed peer store (src/core/peer-store.ts): one contiguous buffer of
 * 10-byte entries, `<word: record | E_V6 | E_SEED (u32 LE)><ip4, or an IPv6 slot (u32 LE)><port (BE)>`,
 * so that choosing and writing an answer's peers reads this buffer only. An IPv4 entry's last six
 * bytes are already its compact form. IPv6 addresses live in a shared pool of 16-byte slots.
 *
 * Owns: entry layout, growth (doubling from 4) and shrinking (at a quarter full), swap-removal.
 * Does not own: records, positions stored in them, or counts (the store).
 */

export const ENTRY_BYTES = 10;
/** Entry word bits: the peer is a seed, the peer is IPv6, and the record number. */
export const E_SEED = 0x80000000 | 0;
export const E_V6 = 0x40000000;
export const E_REC = 0x3fffffff;

const EMPTY = Buffer.alloc(0);

/** IPv6 addresses by slot, 16 bytes each, with freed slots reused. */
export class V6Pool {
  private buf: Buffer = EMPTY;
  private used = 0;
  private free: number[] = [];

  alloc(): number {
    const s = this.free.pop();
    if (s !== undefined) return s;
    if ((this.used + 1) * 16 > this.buf.length) {
      const grown = Buffer.allocUnsafeSlow(Math.max(64, this.used * 2) * 16);
      this.buf.copy(grown, 0, 0, this.used * 16);
      this.buf = grown;
    }
    return this.used++;
  }

  release(slot: number): void {
    this.free.push(slot);
  }

  write(slot: number, addr16: Buffer): void {
    addr16.copy(this.buf, slot * 16, 0, 16);
  }

  copyTo(slot: number, out: Buffer, o: number): void {
    this.buf.copy(out, o, slot * 16, slot * 16 + 16);
  }

  equals(slot: number, addr16: Buffer): boolean {
    const o = slot * 16;
    for (let i = 0; i < 16; i++) if (this.buf[o + i] !== addr16[i]) return false;
    return true;
  }

  bytes(): number {
    return this.buf.length + this.free.length * 8;
  }
}

export class SwarmList {
  private buf: Buffer = EMPTY;
  size = 0;

  /** The entry word at position `i` (a signed int32; mask with E_REC for the record). */
  word(i: number): number {
    const b = this.buf;
    const o = i * ENTRY_BYTES;
    return b[o] | (b[o + 1] << 8) | (b[o + 2] << 16) | (b[o + 3] << 24);
  }

  private setWord(i: number, w: number): void {
    const b = this.buf;
    const o = i * ENTRY_BYTES;
    b[o] = w;
    b[o + 1] = w >>> 8;
    b[o + 2] = w >>> 16;
    b[o + 3] = w >>> 24;
  }

  private slot(i: number): number {
    return this.buf.readUInt32LE(i * ENTRY_BYTES + 4);
  }

  port(i: number): number {
    const o = i * ENTRY_BYTES + 8;
    return (this.buf[o] << 8) | this.buf[o + 1];
  }

  private resize(capacity: number): void {
    const next = Buffer.allocUnsafeSlow(capacity * ENTRY_BYTES);
    this.buf.copy(next, 0, 0, this.size * ENTRY_BYTES);
    this.buf = next;
  }

  /** Append an entry for record `r` (filled in by `setPeer`); returns its position. */
  push(r: number): number {
    if (this.size * ENTRY_BYTES === this.buf.length) this.resize(Math.max(4, this.size * 2));
    this.setWord(this.size, r & E_REC);
    return this.size++;
  }

  /** Write the peer's address, port and seed flag at `pos` (its record stays `r`). */
  setPeer(
    pos: number,
    r: number,
    addr16: Buffer,
    v6: boolean,
    port: number,
    seed: boolean,
    pool: V6Pool,
  ): void {
    const b = this.buf;
    const o = pos * ENTRY_BYTES;
    const wasV6 = (this.word(pos) & E_V6) !== 0;
    if (v6) {
      const slot = wasV6 ? this.slot(pos) : pool.alloc();
      pool.write(slot, addr16);
      b.writeUInt32LE(slot, o + 4);
    } else {
      if (wasV6) pool.release(this.slot(pos));
      for (let k = 0; k < 4; k++) b[o + 4 + k] = addr16[12 + k];
    }
    b[o + 8] = port >>> 8;
    b[o + 9] = port;
    this.setWord(pos, (r & E_REC) | (v6 ? E_V6 : 0) | (seed ? E_SEED : 0));
  }

  /** Remove the entry at `pos` by moving the last one there; returns the moved record, or -1. */
  removeAt(pos: number, pool: V6Pool): number {
    if (this.word(pos) & E_V6) pool.release(this.slot(pos));
    const last = --this.size;
    let moved = -1;
    if (pos !== last) {
      this.buf.copy(this.buf, pos * ENTRY_BYTES, last * ENTRY_BYTES, (last + 1) * ENTRY_BYTES);
      moved = this.word(pos) & E_REC;
    }
    const capacity = this.buf.length / ENTRY_BYTES;
    if (this.size === 0) this.buf = EMPTY;
    else if (this.size * 4 < capacity && capacity > 4) this.resize(capacity / 2);
    return moved;
  }

  /** `<ip4><port>` of the (IPv4) entry at `i` into `out[o]`; returns 6. */
  writeCompact4(i: number, out: Buffer, o: number): number {
    // A byte loop: Buffer#copy costs more than the copy itself at 6 bytes.
    const b = this.buf;
    const from = i * ENTRY_BYTES + 4;
    for (let k = 0; k < 6; k++) out[o + k] = b[from + k];
    return 6;
  }

  /** `<ip6><port>` of the (IPv6) entry at `i` into `out[o]`; returns 18. */
  writeCompact6(i: number, pool: V6Pool, out: Buffer, o: number): number {
    pool.copyTo(this.slot(i), out, o);
    out[o + 16] = this.buf[i * ENTRY_BYTES + 8];
    out[o + 17] = this.buf[i * ENTRY_BYTES + 9];
    return 18;
  }

  /** The 16-byte address at `i` (IPv4 as ::ffff:a.b.c.d) into `out`. */
  writeAddr16(i: number, pool: V6Pool, out: Buffer): void {
    if (this.word(i) & E_V6) return pool.copyTo(this.slot(i), out, 0);
    out.fill(0, 0, 10);
    out[10] = 0xff;
    out[11] = 0xff;
    this.buf.copy(out, 12, i * ENTRY_BYTES + 4, i * ENTRY_BYTES + 8);
  }

  sameAddr(i: number, pool: V6Pool, addr16: Buffer, v6: boolean): boolean {
    if (((this.word(i) & E_V6) !== 0) !== v6) return false;
    if (v6) return pool.equals(this.slot(i), addr16);
    const o = i * ENTRY_BYTES + 4;
    for (let k = 0; k < 4; k++) if (this.buf[o + k] !== addr16[12 + k]) return false;
    return true;
  }

  bytes(): number {
    return this.buf.length;
  }
}
