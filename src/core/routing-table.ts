/**
 * The DHT routing table (BEP 5): who we know, in buckets of k = 8 split around our own id.
 *
 * Owns: buckets (bucket i holds ids sharing exactly i leading bits with ours; the last bucket holds
 * the rest and is the only one that splits, as BEP 5 prescribes), node states, replacement caches,
 * bucket freshness for refresh, a one-node-per-IP rule against table flooding, and the plain form
 * saved to the state file. Does not own: sockets, timers or the clock (every call takes `now`), nor
 * deciding to send anything — `observe` names a node worth pinging and the caller pings it.
 *
 * Node states, by BEP 5's 15-minute rules:
 *   good         answered one of our queries in the last 15 minutes, or has ever answered one and
 *                sent us a query in the last 15 minutes;
 *   questionable neither, but not failing;
 *   bad          failed to answer `MAX_FAILURES` of our queries in a row.
 * A full bucket takes a newcomer only in place of a bad node; otherwise the newcomer waits in the
 * bucket's replacement cache, and the least recently seen questionable node is named for a ping.
 * When that node fails, the best replacement takes its slot. A node we only heard of (named in
 * another node's answer) takes free room and nothing else. Bad nodes stay until replaced, so a
 * machine that went offline does not forget its table.
 *
 * Bounded: at most 160 buckets of k nodes and k / 2 replacements each (1,920 entries with k = 8),
 * whatever a flood of fake nodes claims. Entries are compact (routing-entry.ts); callers see
 * snapshots (`RoutingNode`, `NodeContact`) built on demand. Mutable, owned by one actor (the DHT
 * node), and deterministic (no I/O, no timers, injected time), which is what the tests rely on.
 *
 * @example
 *   const table = new RoutingTable(ourId);
 *   table.observe({ id, ip: '10.0.0.2', port: 6881 }, 'responded', now); // { outcome: 'added' }
 *   table.closest(infoHash, 8, now);                                     // up to 8 contacts, closest first
 */
import { ID_BITS, commonPrefixBits, randomIdWithPrefix } from './dht-id';
import { sinceEpoch } from './small-time';
import {
  Entry,
  GOOD_WINDOW_MS,
  MAX_FAILURES,
  NEVER,
  NodeStatus,
  Seen,
  best,
  closerKey,
  contactOf,
  fresh,
  ipOf,
  prefixOf,
  lastSeen,
  statusAt,
  touch,
  worst,
} from './routing-entry';
import type { NodeContact } from '../protocol/krpc';
import { compactPeer } from '../protocol/compact-peers';

export const K = 8;
export { GOOD_WINDOW_MS, MAX_FAILURES };
/** A questionable node is named for a ping at most this often. */
export const PING_SPACING_MS = 30_000;

export type { NodeStatus, Seen };

/** A snapshot of one table entry. Times are the caller's clock; -Infinity means never. */
export interface RoutingNode extends NodeContact {
  /** Has answered one of our queries at least once (this session or, when restored, the last). */
  verified: boolean;
  lastResponse: number;
  lastQuery: number;
  failures: number;
}

export interface ObserveResult {
  outcome: 'added' | 'updated' | 'replacement' | 'ignored';
  /** A questionable node to ping: if it fails, a replacement can take its place. */
  ping?: NodeContact;
}

export interface RoutingTableOptions {
  k?: number;
  /** One node per IP address (loopback exempt: every loopback node shares 127.0.0.1). Default true. */
  onePerIp?: boolean;
  /** Replacement cache per bucket (default k / 2: a few spares; BEP 5 itself keeps none). */
  replacements?: number;
}

export interface RoutingStats {
  nodes: number;
  good: number;
  questionable: number;
  bad: number;
  buckets: number;
  replacements: number;
}

/** What the state file keeps per node. */
export interface SavedNode {
  id: string;
  ip: string;
  port: number;
  verified: boolean;
}

interface Bucket {
  nodes: Entry[];
  replacements: Entry[];
  lastChanged: number;
}

export function isLoopback(ip: string): boolean {
  return ip.startsWith('127.') || ip === '::1' || ip.startsWith('::ffff:127.');
}

export class RoutingTable {
  readonly k: number;
  private readonly onePerIp: boolean;
  private readonly spares: number;
  private readonly ownKey: string;
  private readonly buckets: Bucket[];
  /** Entries per compact IP (main nodes and replacements), for the one-node-per-IP rule. */
  private readonly ips = new Map<string, number>();
  private count = 0;

  constructor(
    readonly id: Buffer,
    opts: RoutingTableOptions = {},
    private readonly epoch = 0,
  ) {
    this.k = opts.k ?? K;
    this.onePerIp = opts.onePerIp ?? true;
    this.spares = opts.replacements ?? Math.ceil(this.k / 2);
    this.ownKey = id.toString('latin1');
    this.buckets = [{ nodes: [], replacements: [], lastChanged: 0 }];
  }

  get size(): number {
    return this.count;
  }

  get bucketCount(): number {
    return this.buckets.length;
  }

  get(id: Buffer): RoutingNode | undefined {
    const key = id.toString('latin1');
    const e = this.bucketFor(id).nodes.find((x) => x.key === key);
    return e && this.snapshot(e);
  }

  /** The state of a snapshot (from `get` or `nodes`) at `now`. */
  status(n: RoutingNode, now: number): NodeStatus {
    return statusAt(n.failures, n.verified, n.lastResponse, n.lastQuery, now);
  }

  /** Record that we heard of, were queried by, or got an answer from a node. */
  observe(c: NodeContact, seen: Seen, now: number): ObserveResult {
    if (c.port <= 0 || c.port > 0xffff || c.id.length !== 20 || c.ip === '0.0.0.0' || c.ip === '::')
      return IGNORED;
    const addr = compactPeer(c.ip, c.port); // '' for anything that is not an IP address
    const key = c.id.toString('latin1');
    if (addr === '' || key === this.ownKey) return IGNORED;
    const t = this.rel(now);
    let b = this.bucketFor(c.id);
    const known = b.nodes.find((x) => x.key === key);
    if (known) {
      if (known.addr !== addr) {
        // An id moving to another address is taken only from the node itself, and only when the
        // address we know has gone bad: otherwise anyone could redirect a good node's traffic.
        if (seen !== 'responded' || this.state(known, t) !== 'bad' || !this.ipFree(c.ip, addr))
          return IGNORED;
        this.countIp(known.addr, -1);
        known.addr = addr;
        this.countIp(addr, 1);
      }
      touch(known, seen, t);
      if (seen === 'responded') b.lastChanged = t;
      return UPDATED;
    }
    const r = b.replacements.find((x) => x.key === key);
    if (r && r.addr !== addr) return IGNORED;
    if (!r && !this.ipFree(c.ip, addr)) return IGNORED;
    const e = r ?? fresh(key, addr);
    touch(e, seen, t);

    while (
      b.nodes.length >= this.k &&
      b === this.buckets[this.buckets.length - 1] &&
      this.buckets.length < ID_BITS
    ) {
      this.split(t);
      b = this.bucketFor(c.id);
    }
    if (b.nodes.length < this.k) {
      this.insert(b, e, t);
      return ADDED;
    }
    // A node we only heard of takes free room, never anyone's place.
    if (seen === 'heard' && !r) return IGNORED;
    const bad = b.nodes.findIndex((x) => this.state(x, t) === 'bad');
    if (bad >= 0) {
      this.remove(b, bad);
      this.insert(b, e, t);
      return ADDED;
    }
    if (!r) {
      if (b.replacements.length >= this.spares) this.drop(b, worst(b.replacements));
      b.replacements = [...b.replacements, e]; // exact size: `push` would reserve 17 slots
      this.countIp(addr, 1);
    }
    const ping = this.pingCandidate(b, t);
    return ping ? { outcome: 'replacement', ping: contactOf(ping) } : REPLACEMENT;
  }

  /** One of our queries to this node went unanswered. */
  failed(id: Buffer, now: number): void {
    const key = id.toString('latin1');
    const b = this.bucketFor(id);
    const i = b.nodes.findIndex((x) => x.key === key);
    if (i < 0) {
      const ri = b.replacements.findIndex((x) => x.key === key);
      if (ri >= 0) this.drop(b, ri);
      return;
    }
    const t = this.rel(now);
    const n = b.nodes[i];
    n.failures++;
    if (this.state(n, t) !== 'bad' || b.replacements.length === 0) return;
    this.remove(b, i);
    this.promote(b, t);
  }

  /** The `count` nodes closest to `target`, closest first: bad nodes never, unverified ones unless asked. */
  closest(target: Buffer, count: number, now: number, opts: { unverified?: boolean } = {}): NodeContact[] {
    const t = this.rel(now);
    const out: Entry[] = [];
    const far: number[] = []; // XOR distance of the first 30 bits, parallel to `out`
    const t30 = target.readUInt32BE(0) >>> 2;
    for (const b of this.buckets)
      for (const e of b.nodes) {
        if ((!e.verified && !opts.unverified) || this.state(e, t) === 'bad') continue;
        // Insertion into a short sorted list (count is k); the 30-bit prefix decides almost always.
        const d = prefixOf(e.key) ^ t30;
        let i = out.length;
        while (i > 0 && (d < far[i - 1] || (d === far[i - 1] && closerKey(e.key, out[i - 1].key, target))))
          i--;
        if (i >= count) continue;
        out.splice(i, 0, e);
        far.splice(i, 0, d);
        if (out.length > count) {
          out.pop();
          far.pop();
        }
      }
    return out.map(contactOf);
  }

  /** Random targets in buckets unchanged for 15 minutes (to refresh with find_node); marks them fresh. */
  refreshTargets(now: number, randomBytes: (n: number) => Buffer): Buffer[] {
    const t = this.rel(now);
    const out: Buffer[] = [];
    this.buckets.forEach((b, i) => {
      if (t - b.lastChanged < GOOD_WINDOW_MS) return;
      b.lastChanged = t;
      out.push(randomIdWithPrefix(this.id, i, randomBytes, i < this.buckets.length - 1));
    });
    return out;
  }

  /** A random target in every bucket but the last: what a joining node looks up (Kademlia's join). */
  farTargets(randomBytes: (n: number) => Buffer): Buffer[] {
    return this.buckets.slice(0, -1).map((_, i) => randomIdWithPrefix(this.id, i, randomBytes));
  }

  *nodes(): IterableIterator<RoutingNode> {
    for (const b of this.buckets) for (const e of b.nodes) yield this.snapshot(e);
  }

  stats(now: number): RoutingStats {
    const t = this.rel(now);
    const s: RoutingStats = {
      nodes: 0,
      good: 0,
      questionable: 0,
      bad: 0,
      buckets: this.buckets.length,
      replacements: 0,
    };
    for (const b of this.buckets) {
      s.replacements += b.replacements.length;
      for (const e of b.nodes) {
        s.nodes++;
        s[this.state(e, t)]++;
      }
    }
    return s;
  }

  /** Nodes worth keeping across a restart: everything not bad, answering nodes first. */
  save(now: number): SavedNode[] {
    const t = this.rel(now);
    const keep: Entry[] = [];
    for (const b of this.buckets) for (const e of b.nodes) if (this.state(e, t) !== 'bad') keep.push(e);
    keep.sort((a, b) => Number(b.verified) - Number(a.verified));
    return keep.map((e) => {
      const c = contactOf(e);
      return { id: c.id.toString('hex'), ip: c.ip, port: c.port, verified: e.verified };
    });
  }

  /** Load saved nodes as questionable (they get pinged by the first lookup); bad entries are skipped. */
  restore(saved: readonly SavedNode[], now: number): number {
    let added = 0;
    for (const s of saved) {
      if (!/^[0-9a-f]{40}$/i.test(s.id) || typeof s.ip !== 'string' || !Number.isInteger(s.port)) continue;
      const id = Buffer.from(s.id, 'hex');
      if (this.observe({ id, ip: s.ip, port: s.port }, 'heard', now).outcome !== 'added') continue;
      const key = id.toString('latin1');
      const e = this.bucketFor(id).nodes.find((x) => x.key === key);
      if (e) e.verified = s.verified === true;
      added++;
    }
    return added;
  }

  // ---- internals ----

  /** Table time: milliseconds since creation, kept small so entry fields stay unboxed. */
  private rel(now: number): number {
    return sinceEpoch(now, this.epoch);
  }

  private state(e: Entry, t: number): NodeStatus {
    return statusAt(e.failures, e.verified, e.lastResponse, e.lastQuery, t);
  }

  private snapshot(e: Entry): RoutingNode {
    const abs = (x: number): number => (x === NEVER ? -Infinity : x + this.epoch);
    return {
      ...contactOf(e),
      verified: e.verified,
      lastResponse: abs(e.lastResponse),
      lastQuery: abs(e.lastQuery),
      failures: e.failures,
    };
  }

  private bucketFor(id: Buffer): Bucket {
    return this.buckets[Math.min(commonPrefixBits(id, this.id), this.buckets.length - 1)];
  }

  /** Split the last bucket: ids sharing more bits with ours than its index move to a new last bucket. */
  private split(t: number): void {
    const depth = this.buckets.length - 1;
    const old = this.buckets[depth];
    const next: Bucket = { nodes: [], replacements: [], lastChanged: t };
    const far = (e: Entry): boolean => commonPrefixBits(Buffer.from(e.key, 'latin1'), this.id) > depth;
    next.nodes = old.nodes.filter(far);
    old.nodes = old.nodes.filter((e) => !far(e));
    next.replacements = old.replacements.filter(far);
    old.replacements = old.replacements.filter((e) => !far(e));
    this.buckets.push(next);
    for (const b of [old, next])
      while (b.nodes.length < this.k && b.replacements.length > 0) this.promote(b, t);
  }

  /** Move the best replacement (answered us most recently, then seen most recently) into the bucket. */
  private promote(b: Bucket, t: number): void {
    const [e] = b.replacements.splice(best(b.replacements), 1);
    this.countIp(e.addr, -1);
    this.insert(b, e, t);
  }

  private insert(b: Bucket, e: Entry, t: number): void {
    const ri = b.replacements.indexOf(e);
    if (ri >= 0) {
      b.replacements.splice(ri, 1);
      this.countIp(e.addr, -1);
    }
    b.nodes = [...b.nodes, e]; // exact size: `push` would reserve 17 slots for at most k
    b.lastChanged = t;
    this.count++;
    this.countIp(e.addr, 1);
  }

  private remove(b: Bucket, index: number): void {
    const [e] = b.nodes.splice(index, 1);
    this.count--;
    this.countIp(e.addr, -1);
  }

  private drop(b: Bucket, replacementIndex: number): void {
    const [e] = b.replacements.splice(replacementIndex, 1);
    this.countIp(e.addr, -1);
  }

  /** The least recently seen questionable node not named for a ping recently. */
  private pingCandidate(b: Bucket, t: number): Entry | undefined {
    let pick: Entry | undefined;
    for (const e of b.nodes) {
      if (this.state(e, t) !== 'questionable' || t - e.lastAsked < PING_SPACING_MS) continue;
      if (!pick || lastSeen(e) < lastSeen(pick)) pick = e;
    }
    if (pick) pick.lastAsked = t;
    return pick;
  }

  private ipFree(ip: string, addr: string): boolean {
    return !this.onePerIp || isLoopback(ip) || !this.ips.has(ipOf(addr));
  }

  private countIp(addr: string, delta: number): void {
    if (!this.onePerIp) return;
    const ip = ipOf(addr);
    const n = (this.ips.get(ip) ?? 0) + delta;
    if (n > 0) this.ips.set(ip, n);
    else this.ips.delete(ip);
  }
}

const IGNORED: ObserveResult = { outcome: 'ignored' };
const UPDATED: ObserveResult = { outcome: 'updated' };
const ADDED: ObserveResult = { outcome: 'added' };
const REPLACEMENT: ObserveResult = { outcome: 'replacement' };
