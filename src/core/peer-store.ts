/**
 * The tracker's packed peer store. Every tracked peer is one 48-byte record (src/core/peer-records.ts:
 * large slabs, one hash index keyed by (swarm, peer id)) and one 10-byte entry in its swarm's member
 * list (src/core/swarm-list.ts) holding what an answer needs: `<record|flags><ip4 or v6 slot><port>`.
 * No per-peer JS object or string. At 50,000 peers in 1,000 swarms: ~48 (record) + ~13 (entry and
 * list slack) + ~5 (index) bytes a peer, plus each swarm's own few hundred bytes.
 *
 * Why the split: choosing an answer's peers reads only its swarm's member list, one contiguous buffer,
 * instead of one record per candidate scattered over the slabs; those cache misses were most of an
 * announce's cost (issue 13).
 *
 * Owns: the record layout past its key, swarms and their counts, random windows of members.
 * Does not own: the announce rules (src/core/swarm-registry.ts), clocks or randomness (passed in).
 * It is mutable on purpose: an immutable per-peer structure cost ~1 KB a peer (issue 13).
 *
 * Record `<peer_id:20><swarm:4><pos:3><flags:1><lastSeen:4><key:4><left:f32><uploaded:f32>
 * <downloaded:f32>`, little-endian, `pos` being the peer's place in its member list; `lastSeen` in
 * whole seconds since the store's epoch (rounded up, so a peer never expires early). Transfer totals
 * are float32: exact below 16 MiB, 7 significant digits above (display only). A swarm holds at most
 * 2^24 - 1 peers (`pos`); past that, new peers are answered but not stored.
 */
import { O_SWARM, RECORD_BYTES, RecordPool, put32, u32 } from './peer-records';
import { E_REC, E_SEED, E_V6, SwarmList, V6Pool } from './swarm-list';

export { RECORD_BYTES };
/** Most peers a swarm holds (`pos` has 24 bits). */
export const MAX_SWARM_PEERS = 0xffffff;

const F_HAS_LEFT = 1;
const F_HAS_KEY = 2;

const O_POS = 24; // 3 bytes of position, then the flags byte
const O_FLAGS = 27;
const O_SEEN = 28;
const O_KEY = 32;
const O_LEFT = 36;
const O_UP = 40;
const O_DOWN = 44;

/** A swarm as the registry sees it; `list` holds `size` member entries. */
export interface SwarmHead {
  /** The swarm's key as the registry chose it (the info-hash as a latin1 string). */
  readonly infoHash: string;
  list: SwarmList;
  seeders: number;
  completed: number;
}

/** What an announce stores about a peer. */
export interface PeerFields {
  addr: Buffer; // 16 bytes, IPv4 as ::ffff:a.b.c.d
  v6: boolean;
  port: number;
  left: number | undefined;
  uploaded: number;
  downloaded: number;
  keyHash: number | undefined;
}

/** Compact peer lists for an answer: 6-byte IPv4 entries, 18-byte IPv6 entries, ids in that order. */
export interface Picked {
  peers4: Buffer;
  peers6: Buffer;
  peerIds?: Buffer;
}

/** FNV-1a over a string's char codes (keys, peer ids as latin1). */
export function hash32(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193);
  return h >>> 0;
}

const EMPTY = Buffer.alloc(0);

export class PeerStore {
  private readonly records = new RecordPool();
  private swarmList: (SwarmHead | undefined)[] = [];
  private freeSwarms: number[] = [];
  private byHash = new Map<string, number>();
  private readonly v6 = new V6Pool();
  /** Positions chosen by the last `choose`, reused from announce to announce. */
  private chosen = new Int32Array(64);
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
    this.swarmList[s] = { infoHash: infoHashHex, list: new SwarmList(), seeders: 0, completed: 0 };
    this.byHash.set(infoHashHex, s);
    return s;
  }

  /** Forget a swarm with no peers left. */
  dropSwarm(s: number): void {
    const head = this.swarm(s);
    if (head.list.size !== 0) throw new Error('dropSwarm: swarm still has peers');
    this.completed -= head.completed;
    this.byHash.delete(head.infoHash);
    this.swarmList[s] = undefined;
    this.freeSwarms.push(s);
  }

  /** The records of swarm `s`, in list order (tests, sweeps). */
  members(s: number): number[] {
    const l = this.swarm(s).list;
    const out: number[] = [];
    for (let i = 0; i < l.size; i++) out.push(l.word(i) & E_REC);
    return out;
  }

  // ---- records ----

  private buf(r: number): Buffer {
    return this.records.buf(r);
  }
  private at(r: number): number {
    return this.records.at(r);
  }

  /** The record of peer `id` in swarm `s`, or -1. */
  find(s: number, id: Buffer): number {
    return this.records.find(s, id);
  }
  private flags(r: number): number {
    return this.buf(r)[this.at(r) + O_FLAGS];
  }
  private pos(r: number): number {
    return u32(this.buf(r), this.at(r) + O_POS) & 0xffffff;
  }
  private listOf(r: number): SwarmList {
    return this.swarm(this.swarmIndexOf(r)).list;
  }
  /** The record's member entry word (record | E_V6 | E_SEED). */
  private word(r: number): number {
    return this.listOf(r).word(this.pos(r));
  }

  isSeed(r: number): boolean {
    return (this.word(r) & E_SEED) !== 0;
  }
  isV6(r: number): boolean {
    return (this.word(r) & E_V6) !== 0;
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
    return this.flags(r) & F_HAS_KEY ? u32(this.buf(r), this.at(r) + O_KEY) : undefined;
  }
  lastSeenMs(r: number): number {
    return this.epochMs + u32(this.buf(r), this.at(r) + O_SEEN) * 1000;
  }
  port(r: number): number {
    return this.listOf(r).port(this.pos(r));
  }
  swarmIndexOf(r: number): number {
    return u32(this.buf(r), this.at(r) + O_SWARM);
  }
  peerId(r: number): Buffer {
    const o = this.at(r);
    return Buffer.from(this.buf(r).subarray(o, o + 20));
  }
  /** The 16-byte address (IPv4 mapped), a copy. */
  addr(r: number): Buffer {
    const out = Buffer.alloc(16);
    this.listOf(r).writeAddr16(this.pos(r), this.v6, out);
    return out;
  }
  sameAddress(r: number, addr: Buffer, v6: boolean): boolean {
    return this.listOf(r).sameAddr(this.pos(r), this.v6, addr, v6);
  }

  // ---- adding, updating, removing ----

  private setPos(r: number, pos: number): void {
    const b = this.buf(r);
    const o = this.at(r) + O_POS;
    b[o] = pos;
    b[o + 1] = pos >>> 8;
    b[o + 2] = pos >>> 16;
  }

  /** Store a new peer in swarm `s`; returns its record. */
  insert(s: number, id: Buffer, f: PeerFields, seenS: number): number {
    const r = this.records.allocate();
    const b = this.buf(r);
    const o = this.at(r);
    id.copy(b, o, 0, 20);
    put32(b, o + O_SWARM, s);
    b[o + O_FLAGS] = 0;
    put32(b, o + O_KEY, 0);
    const list = this.swarm(s).list;
    this.setPos(r, list.push(r));
    this.peers++;
    this.records.indexInsert(r);
    this.update(r, f, seenS);
    return r;
  }

  /** Overwrite a peer's address and counters (its seed status follows `left`). */
  update(r: number, f: PeerFields, seenS: number): void {
    const b = this.buf(r);
    const o = this.at(r);
    const head = this.swarm(u32(b, o + O_SWARM));
    const pos = this.pos(r);
    const wasSeed = (head.list.word(pos) & E_SEED) !== 0;
    const seed = f.left === 0;
    head.list.setPeer(pos, r, f.addr, f.v6, f.port, seed, this.v6);
    let flags = f.left !== undefined ? F_HAS_LEFT : 0;
    if (f.keyHash !== undefined) {
      flags |= F_HAS_KEY;
      put32(b, o + O_KEY, f.keyHash);
    } else flags |= b[o + O_FLAGS] & F_HAS_KEY; // a client that stops sending its key keeps the one it had
    b[o + O_FLAGS] = flags;
    put32(b, o + O_SEEN, seenS);
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
    const head = this.swarm(this.swarmIndexOf(r));
    const pos = this.pos(r);
    if (head.list.word(pos) & E_SEED) {
      head.seeders--;
      this.seeders--;
    }
    this.records.indexDelete(r);
    const moved = head.list.removeAt(pos, this.v6);
    if (moved >= 0) this.setPos(moved, pos);
    this.peers--;
    this.records.release(r);
  }

  /**
   * Positions of up to `n` members of swarm `s` from a random start (`rand` in [0, 1)) into
   * `this.chosen`, leaving out record `skip` (-1 for none), seeds when `forSeed`, and the other
   * address family when `family` is 4 or 6. Returns how many.
   */
  private choose(
    s: number,
    n: number,
    forSeed: boolean,
    family: 0 | 4 | 6,
    rand: number,
    skip: number,
  ): number {
    const l = this.swarm(s).list;
    const size = l.size;
    if (n <= 0 || size === 0) return 0;
    if (this.chosen.length < Math.min(n, size)) this.chosen = new Int32Array(Math.min(n, size) * 2);
    const skipPos = skip >= 0 ? this.pos(skip) : -1;
    const start = Math.min(size - 1, Math.floor(rand * size));
    const drop = (forSeed ? E_SEED : 0) | (family === 4 ? E_V6 : 0);
    const need = family === 6 ? E_V6 : 0;
    let count = 0;
    for (let k = 0, i = start; k < size && count < n; k++, i = i + 1 === size ? 0 : i + 1) {
      if (i === skipPos) continue;
      const w = l.word(i);
      if ((w & drop) !== 0 || (w & need) !== need) continue;
      this.chosen[count++] = i;
    }
    return count;
  }

  /** Like `pickCompact`, but the chosen records (tests and tools). */
  pick(
    s: number,
    n: number,
    forSeed: boolean,
    family: 0 | 4 | 6,
    rand: number,
    skip: number,
    out: number[],
  ): void {
    const count = this.choose(s, n, forSeed, family, rand, skip);
    const l = this.swarm(s).list;
    for (let k = 0; k < count; k++) out.push(l.word(this.chosen[k]) & E_REC);
  }

  /** Choose as `pick` does and write the answer's compact peer lists (and peer ids, `withIds`). */
  pickCompact(
    s: number,
    n: number,
    forSeed: boolean,
    family: 0 | 4 | 6,
    rand: number,
    skip: number,
    withIds: boolean,
  ): Picked {
    const count = this.choose(s, n, forSeed, family, rand, skip);
    const l = this.swarm(s).list;
    let n6 = 0;
    for (let k = 0; k < count; k++) if (l.word(this.chosen[k]) & E_V6) n6++;
    const peers4 = count - n6 > 0 ? Buffer.allocUnsafe((count - n6) * 6) : EMPTY;
    const peers6 = n6 > 0 ? Buffer.allocUnsafe(n6 * 18) : EMPTY;
    let o4 = 0;
    let o6 = 0;
    for (let k = 0; k < count; k++) {
      const i = this.chosen[k];
      if (l.word(i) & E_V6) o6 += l.writeCompact6(i, this.v6, peers6, o6);
      else o4 += l.writeCompact4(i, peers4, o4);
    }
    if (!withIds) return { peers4, peers6 };
    const peerIds = Buffer.allocUnsafe(count * 20);
    let o = 0;
    for (const v6 of [0, E_V6])
      for (let k = 0; k < count; k++) {
        const w = l.word(this.chosen[k]);
        if ((w & E_V6) !== v6) continue;
        const r = w & E_REC;
        this.buf(r).copy(peerIds, o, this.at(r), this.at(r) + 20);
        o += 20;
      }
    return { peers4, peers6, peerIds };
  }

  /** Records of swarm `s` last seen before `deadlineS`. */
  stale(s: number, deadlineS: number): number[] {
    return this.members(s).filter((r) => u32(this.buf(r), this.at(r) + O_SEEN) < deadlineS);
  }

  /** Bytes held by the store's arrays (for tests and /stats): slabs in use, index, lists, swarms. */
  footprint(): number {
    let n = this.records.bytes() + this.v6.bytes();
    for (const s of this.swarms()) n += s.list.bytes() + 120;
    return n;
  }
}
