/**
 * The tracker's packed peer store: every tracked peer is one 68-byte record in a pool of fixed-size
 * chunks, found through one open-addressing hash index keyed by (swarm, peer id); each swarm keeps an
 * Int32Array of its records' numbers. No per-peer JS object and no per-peer string: at 50,000 peers the
 * whole store is about 85 bytes a peer (record 68, index 5–10, swarm member list ~6, swarm headers).
 *
 * Owns: the bytes, growth and reuse of freed records, lookups, counts and random windows of members.
 * Does not own: the announce rules (src/core/swarm-registry.ts), clocks or randomness (passed in).
 * It is mutable on purpose: an immutable per-peer structure cost ~1 KB a peer (issue 13).
 *
 * Record `<peer_id:20><addr:16><port:2><flags:1><pad:1><swarm:4><pos:4><lastSeen:4><key:4>
 *         <left:f32><uploaded:f32><downloaded:f32>`, little-endian; IPv4 as `::ffff:a.b.c.d`;
 * `lastSeen` in whole seconds since the store's epoch (rounded up, so a peer never expires early).
 * Transfer totals are float32: exact below 16 MiB, 7 significant digits above (display only).
 */

export const RECORD_BYTES = 68;
// 1,024 records (68 KiB) a chunk: at most that much unused at the end of the pool.
const CHUNK_RECORDS = 1024;
const CHUNK_SHIFT = 10;

const F_V6 = 1;
const F_HAS_LEFT = 2;
const F_HAS_KEY = 4;
const F_SEED = 8;

const O_ADDR = 20;
const O_PORT = 36;
const O_FLAGS = 38;
const O_SWARM = 40;
const O_POS = 44;
const O_SEEN = 48;
const O_KEY = 52;
const O_LEFT = 56;
const O_UP = 60;
const O_DOWN = 64;

export interface SwarmHead {
  /** Hex info-hash. */
  readonly infoHash: string;
  members: Int32Array;
  size: number;
  seeders: number;
  completed: number;
}

/** What an announce stores about a peer. */
export interface PeerFields {
  addr: Buffer; // 16 bytes
  v6: boolean;
  port: number;
  left: number | undefined;
  uploaded: number;
  downloaded: number;
  keyHash: number | undefined;
}

/** FNV-1a over a string's char codes (keys, peer ids as latin1). */
export function hash32(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193);
  return h >>> 0;
}

export class PeerStore {
  private chunks: Buffer[] = [];
  private free: number[] = [];
  private used = 0;
  private index = new Int32Array(1024); // record + 1; 0 = empty
  private indexed = 0;
  private swarmList: (SwarmHead | undefined)[] = [];
  private freeSwarms: number[] = [];
  private byHash = new Map<string, number>();
  peers = 0;
  seeders = 0;
  completed = 0;

  constructor(readonly epochMs: number) {}

  get swarmCount(): number {
    return this.byHash.size;
  }

  toSeconds(ms: number): number {
    return Math.max(0, Math.ceil((ms - this.epochMs) / 1000));
  }

  swarmOf(infoHashHex: string): number {
    return this.byHash.get(infoHashHex) ?? -1;
  }

  swarm(s: number): SwarmHead {
    return this.swarmList[s] as SwarmHead;
  }

  *swarms(): IterableIterator<SwarmHead> {
    for (const s of this.swarmList) if (s) yield s;
  }

  addSwarm(infoHashHex: string): number {
    const s = this.freeSwarms.pop() ?? this.swarmList.length;
    this.swarmList[s] = {
      infoHash: infoHashHex,
      members: new Int32Array(4),
      size: 0,
      seeders: 0,
      completed: 0,
    };
    this.byHash.set(infoHashHex, s);
    return s;
  }

  /** Forget a swarm with no peers left. */
  dropSwarm(s: number): void {
    const head = this.swarm(s);
    if (head.size !== 0) throw new Error('dropSwarm: swarm still has peers');
    this.completed -= head.completed;
    this.byHash.delete(head.infoHash);
    this.swarmList[s] = undefined;
    this.freeSwarms.push(s);
  }

  // ---- records ----

  private buf(r: number): Buffer {
    return this.chunks[r >>> CHUNK_SHIFT];
  }
  private at(r: number): number {
    return (r & (CHUNK_RECORDS - 1)) * RECORD_BYTES;
  }

  flags(r: number): number {
    return this.buf(r)[this.at(r) + O_FLAGS];
  }
  isSeed(r: number): boolean {
    return (this.flags(r) & F_SEED) !== 0;
  }
  isV6(r: number): boolean {
    return (this.flags(r) & F_V6) !== 0;
  }
  left(r: number): number | undefined {
    return this.flags(r) & F_HAS_LEFT ? this.buf(r).readFloatLE(this.at(r) + O_LEFT) : undefined;
  }
  uploaded(r: number): number {
    return this.buf(r).readFloatLE(this.at(r) + O_UP);
  }
  downloaded(r: number): number {
    return this.buf(r).readFloatLE(this.at(r) + O_DOWN);
  }
  key(r: number): number | undefined {
    return this.flags(r) & F_HAS_KEY ? this.buf(r).readUInt32LE(this.at(r) + O_KEY) : undefined;
  }
  lastSeenMs(r: number): number {
    return this.epochMs + this.buf(r).readUInt32LE(this.at(r) + O_SEEN) * 1000;
  }
  port(r: number): number {
    return this.buf(r).readUInt16BE(this.at(r) + O_PORT);
  }
  swarmIndexOf(r: number): number {
    return this.buf(r).readUInt32LE(this.at(r) + O_SWARM);
  }
  peerId(r: number): Buffer {
    const o = this.at(r);
    return Buffer.from(this.buf(r).subarray(o, o + 20));
  }
  /** The 16-byte address (IPv4 mapped), a copy. */
  addr(r: number): Buffer {
    const o = this.at(r) + O_ADDR;
    return Buffer.from(this.buf(r).subarray(o, o + 16));
  }
  sameAddress(r: number, addr: Buffer): boolean {
    return this.buf(r).compare(addr, 0, 16, this.at(r) + O_ADDR, this.at(r) + O_ADDR + 16) === 0;
  }
  /** Write `<ip><port>` (6 bytes for IPv4, 18 for IPv6) at `out[o]`; returns the bytes written. */
  writeCompact(r: number, out: Buffer, o: number): number {
    // A byte loop: Buffer#copy costs more than the copy itself at 6 or 18 bytes.
    const b = this.buf(r);
    const a = this.at(r);
    const from = b[a + O_FLAGS] & F_V6 ? a + O_ADDR : a + O_ADDR + 12;
    const n = a + O_PORT + 2 - from;
    for (let i = 0; i < n; i++) out[o + i] = b[from + i];
    return n;
  }

  // ---- the (swarm, peer id) index ----

  private slotHash(s: number, id: Buffer, o: number): number {
    let h = Math.imul(0x811c9dc5 ^ s, 0x01000193);
    for (let i = 0; i < 20; i++) h = Math.imul(h ^ id[o + i], 0x01000193);
    return (h ^ (h >>> 15)) >>> 0;
  }

  private matches(r: number, s: number, id: Buffer): boolean {
    const b = this.buf(r);
    const o = this.at(r);
    if (b.readUInt32LE(o + O_SWARM) !== s) return false;
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

  private indexInsert(r: number): void {
    // Grown at 80 % full: linear probing over 4-byte slots stays short, and the table stays small.
    if ((this.indexed + 1) * 5 > this.index.length * 4) this.regrow(this.index.length * 2);
    const b = this.buf(r);
    const mask = this.index.length - 1;
    let i = this.slotHash(b.readUInt32LE(this.at(r) + O_SWARM), b, this.at(r)) & mask;
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
  private indexDelete(r: number): void {
    const mask = this.index.length - 1;
    const home = (x: number): number =>
      this.slotHash(this.buf(x).readUInt32LE(this.at(x) + O_SWARM), this.buf(x), this.at(x)) & mask;
    let i = home(r);
    while (this.index[i] !== r + 1) i = (i + 1) & mask;
    for (let j = (i + 1) & mask; this.index[j] !== 0; j = (j + 1) & mask) {
      const h = home(this.index[j] - 1);
      // Move j back to i unless its home lies cyclically in (i, j].
      if (i <= j ? h <= i || h > j : h <= i && h > j) {
        this.index[i] = this.index[j];
        i = j;
      }
    }
    this.index[i] = 0;
    this.indexed--;
  }

  // ---- adding, updating, removing ----

  private allocate(): number {
    const r = this.free.pop();
    if (r !== undefined) return r;
    if (this.used === this.chunks.length * CHUNK_RECORDS)
      this.chunks.push(Buffer.alloc(CHUNK_RECORDS * RECORD_BYTES));
    return this.used++;
  }

  /** Store a new peer in swarm `s`; returns its record. */
  insert(s: number, id: Buffer, f: PeerFields, seenS: number): number {
    const r = this.allocate();
    const b = this.buf(r);
    const o = this.at(r);
    id.copy(b, o, 0, 20);
    b.writeUInt32LE(s, o + O_SWARM);
    const head = this.swarm(s);
    if (head.size === head.members.length) {
      const grown = new Int32Array(head.members.length * 2);
      grown.set(head.members);
      head.members = grown;
    }
    b.writeUInt32LE(head.size, o + O_POS);
    head.members[head.size++] = r;
    b[o + O_FLAGS] = 0;
    this.peers++;
    this.indexInsert(r);
    this.update(r, f, seenS);
    return r;
  }

  /** Overwrite a peer's address and counters (its seed status follows `left`). */
  update(r: number, f: PeerFields, seenS: number): void {
    const b = this.buf(r);
    const o = this.at(r);
    const head = this.swarm(b.readUInt32LE(o + O_SWARM));
    const wasSeed = (b[o + O_FLAGS] & F_SEED) !== 0;
    const seed = f.left === 0;
    f.addr.copy(b, o + O_ADDR, 0, 16);
    b.writeUInt16BE(f.port, o + O_PORT);
    let flags = f.v6 ? F_V6 : 0;
    if (f.left !== undefined) flags |= F_HAS_LEFT;
    if (seed) flags |= F_SEED;
    const oldKey = b[o + O_FLAGS] & F_HAS_KEY;
    if (f.keyHash !== undefined) {
      flags |= F_HAS_KEY;
      b.writeUInt32LE(f.keyHash, o + O_KEY);
    } else flags |= oldKey; // a client that stops sending its key keeps the one it had
    b[o + O_FLAGS] = flags;
    b.writeUInt32LE(seenS, o + O_SEEN);
    b.writeFloatLE(f.left ?? 0, o + O_LEFT);
    b.writeFloatLE(f.uploaded, o + O_UP);
    b.writeFloatLE(f.downloaded, o + O_DOWN);
    if (seed !== wasSeed) {
      const d = seed ? 1 : -1;
      head.seeders += d;
      this.seeders += d;
    }
  }

  remove(r: number): void {
    const b = this.buf(r);
    const o = this.at(r);
    const head = this.swarm(b.readUInt32LE(o + O_SWARM));
    if (b[o + O_FLAGS] & F_SEED) {
      head.seeders--;
      this.seeders--;
    }
    this.indexDelete(r);
    const pos = b.readUInt32LE(o + O_POS);
    const last = head.members[--head.size];
    head.members[pos] = last;
    this.buf(last).writeUInt32LE(pos, this.at(last) + O_POS);
    if (head.size * 4 < head.members.length && head.members.length > 4)
      head.members = head.members.slice(0, head.members.length / 2);
    b[o + O_FLAGS] = 0;
    this.peers--;
    this.free.push(r);
  }

  /**
   * Up to `n` members of swarm `s` from a random start (`rand` in [0, 1)), leaving out `skip` (-1 for
   * none), seeds when `forSeed`, and the other address family when `family` is 4 or 6.
   */
  pick(
    s: number,
    n: number,
    forSeed: boolean,
    family: 0 | 4 | 6,
    rand: number,
    skip: number,
    out: number[],
  ): void {
    const head = this.swarm(s);
    if (n <= 0 || head.size === 0) return;
    const start = Math.min(head.size - 1, Math.floor(rand * head.size));
    for (let k = 0; k < head.size && out.length < n; k++) {
      const r = head.members[(start + k) % head.size];
      if (r === skip) continue;
      const fl = this.flags(r);
      if (forSeed && fl & F_SEED) continue;
      if (family === 4 && fl & F_V6) continue;
      if (family === 6 && !(fl & F_V6)) continue;
      out.push(r);
    }
  }

  /** Records of swarm `s` last seen before `deadlineS`. */
  stale(s: number, deadlineS: number): number[] {
    const head = this.swarm(s);
    const out: number[] = [];
    for (let k = 0; k < head.size; k++) {
      const r = head.members[k];
      if (this.buf(r).readUInt32LE(this.at(r) + O_SEEN) < deadlineS) out.push(r);
    }
    return out;
  }

  /** Bytes held by the store's arrays (for tests and /stats). */
  footprint(): number {
    let n = this.chunks.length * CHUNK_RECORDS * RECORD_BYTES + this.index.byteLength + this.free.length * 8;
    for (const s of this.swarms()) n += s.members.byteLength + 120;
    return n;
  }
}
