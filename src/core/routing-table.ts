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
 * A node we only heard of (named in another node's answer) takes free room and nothing else.
 * When that node fails, the best replacement takes its slot. Bad nodes stay until replaced, so a
 * machine that went offline does not forget its table.
 *
 * Bounded: at most 160 buckets of k nodes and k replacements each (2,560 entries with k = 8),
 * whatever a flood of fake nodes claims. The state is mutable and owned by one actor (the DHT node);
 * it is deterministic (no I/O, no timers, injected time), which is what the tests rely on.
 *
 * @example
 *   const table = new RoutingTable(ourId);
 *   table.observe({ id, ip: '10.0.0.2', port: 6881 }, 'responded', now); // { outcome: 'added' }
 *   table.closest(infoHash, 8, now);                                     // up to 8 nodes, closest first
 */
import * as net from 'node:net';
import { ID_BITS, commonPrefixBits, compareDistance, idHex, randomIdWithPrefix } from './dht-id';
import type { NodeContact } from '../protocol/krpc';

export const K = 8;
/** BEP 5's freshness window for good nodes and buckets. */
export const GOOD_WINDOW_MS = 15 * 60_000;
/** Failed queries in a row that make a node bad. */
export const MAX_FAILURES = 2;
/** A questionable node is named for a ping at most this often. */
export const PING_SPACING_MS = 30_000;

export type NodeStatus = 'good' | 'questionable' | 'bad';
/** How we learned of a node: listed in someone's reply, it queried us, or it answered our query. */
export type Seen = 'heard' | 'queried' | 'responded';

export interface RoutingNode extends NodeContact {
  /** Has answered one of our queries at least once (this session or, when restored, the last). */
  verified: boolean;
  /** Time of its last answer to us, of its last query to us (-Infinity: never). */
  lastResponse: number;
  lastQuery: number;
  failures: number;
  /** When we last named it for a ping (maintenance), so it is not pinged again at once. */
  lastAsked: number;
  /** The id's first 30 bits (a small integer): sorts by distance without touching the Buffer. */
  prefix: number;
}

interface Bucket {
  nodes: RoutingNode[];
  replacements: RoutingNode[];
  lastChanged: number;
}

export interface ObserveResult {
  outcome: 'added' | 'updated' | 'replacement' | 'ignored';
  /** A questionable node to ping: if it fails, a replacement can take its place. */
  ping?: RoutingNode;
}

export interface RoutingTableOptions {
  k?: number;
  /** One node per IP address (loopback exempt: every loopback node shares 127.0.0.1). Default true. */
  onePerIp?: boolean;
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

export function isLoopback(ip: string): boolean {
  return ip.startsWith('127.') || ip === '::1' || ip.startsWith('::ffff:127.');
}

export class RoutingTable {
  readonly k: number;
  private readonly onePerIp: boolean;
  private readonly buckets: Bucket[];
  private readonly byId = new Map<string, RoutingNode>();
  private readonly ips = new Map<string, number>();

  constructor(
    readonly id: Buffer,
    opts: RoutingTableOptions = {},
    now = 0,
  ) {
    this.k = opts.k ?? K;
    this.onePerIp = opts.onePerIp ?? true;
    this.buckets = [{ nodes: [], replacements: [], lastChanged: now }];
  }

  get size(): number {
    return this.byId.size;
  }

  get bucketCount(): number {
    return this.buckets.length;
  }

  get(id: Buffer): RoutingNode | undefined {
    return this.byId.get(idHex(id));
  }

  status(n: RoutingNode, now: number): NodeStatus {
    if (n.failures >= MAX_FAILURES) return 'bad';
    // Times of events that never happened are -Infinity, so these differences are then Infinity.
    if (now - n.lastResponse < GOOD_WINDOW_MS) return 'good';
    if (n.verified && now - n.lastQuery < GOOD_WINDOW_MS) return 'good';
    return 'questionable';
  }

  /** Record that we heard of, were queried by, or got an answer from a node. */
  observe(c: NodeContact, seen: Seen, now: number): ObserveResult {
    if (c.port <= 0 || c.port > 0xffff || c.id.length !== 20 || c.id.equals(this.id)) return IGNORED;
    if (!net.isIP(c.ip) || c.ip === '0.0.0.0' || c.ip === '::') return IGNORED;
    const known = this.byId.get(idHex(c.id));
    if (known) {
      if (known.ip !== c.ip || known.port !== c.port) {
        // An id moving to another address is taken only from the node itself, and only when the
        // address we know has gone bad: otherwise anyone could redirect a good node's traffic.
        if (seen !== 'responded' || this.status(known, now) !== 'bad' || !this.ipFree(c.ip)) return IGNORED;
        this.countIp(known.ip, -1);
        known.ip = c.ip;
        known.port = c.port;
        this.countIp(c.ip, 1);
      }
      touch(known, seen, now);
      if (seen === 'responded') this.bucketFor(c.id).lastChanged = now;
      return UPDATED;
    }

    let b = this.bucketFor(c.id);
    const r = b.replacements.find((x) => x.id.equals(c.id));
    if (r && (r.ip !== c.ip || r.port !== c.port)) return IGNORED;
    if (!r && !this.ipFree(c.ip)) return IGNORED;
    const node = r ?? fresh(c);
    touch(node, seen, now);

    while (b.nodes.length >= this.k && b === this.buckets[this.buckets.length - 1] && this.canSplit()) {
      this.split(now);
      b = this.bucketFor(c.id);
    }
    if (b.nodes.length < this.k) {
      this.insert(b, node, now);
      return ADDED;
    }
    // A node we only heard of (named in someone's answer) takes free room, never anyone's place.
    if (seen === 'heard' && !r) return IGNORED;
    const bad = b.nodes.findIndex((x) => this.status(x, now) === 'bad');
    if (bad >= 0) {
      this.remove(b, bad);
      this.insert(b, node, now);
      return ADDED;
    }
    if (!r) {
      if (b.replacements.length >= this.k) b.replacements.splice(this.worstReplacement(b), 1);
      b.replacements.push(node);
      this.countIp(node.ip, 1);
    }
    return { outcome: 'replacement', ping: this.pingCandidate(b, now) };
  }

  /** One of our queries to this node went unanswered. */
  failed(id: Buffer, now: number): void {
    const b = this.bucketFor(id);
    const n = this.byId.get(idHex(id));
    if (!n) {
      const ri = b.replacements.findIndex((x) => x.id.equals(id));
      if (ri >= 0) {
        this.countIp(b.replacements[ri].ip, -1);
        b.replacements.splice(ri, 1);
      }
      return;
    }
    n.failures++;
    if (this.status(n, now) !== 'bad' || b.replacements.length === 0) return;
    this.remove(b, b.nodes.indexOf(n));
    const best = this.bestReplacement(b);
    const promoted = b.replacements.splice(best, 1)[0];
    this.countIp(promoted.ip, -1);
    this.insert(b, promoted, now);
  }

  /** The `count` nodes closest to `target`, closest first: bad nodes never, unverified ones unless asked. */
  closest(target: Buffer, count: number, now: number, opts: { unverified?: boolean } = {}): RoutingNode[] {
    const out: RoutingNode[] = [];
    const far: number[] = []; // XOR distance of the first 30 bits, parallel to `out`
    const t30 = target.readUInt32BE(0) >>> 2;
    for (const b of this.buckets)
      for (const n of b.nodes) {
        if ((!n.verified && !opts.unverified) || this.status(n, now) === 'bad') continue;
        // Insertion into a short sorted list (count is k); the 30-bit prefix decides almost always.
        const d = n.prefix ^ t30;
        let i = out.length;
        while (
          i > 0 &&
          (d < far[i - 1] || (d === far[i - 1] && compareDistance(n.id, out[i - 1].id, target) < 0))
        )
          i--;
        if (i >= count) continue;
        out.splice(i, 0, n);
        far.splice(i, 0, d);
        if (out.length > count) {
          out.pop();
          far.pop();
        }
      }
    return out;
  }

  /** Random targets in buckets unchanged for 15 minutes (to refresh with find_node); marks them fresh. */
  refreshTargets(now: number, randomBytes: (n: number) => Buffer): Buffer[] {
    const out: Buffer[] = [];
    this.buckets.forEach((b, i) => {
      if (now - b.lastChanged < GOOD_WINDOW_MS) return;
      b.lastChanged = now;
      out.push(randomIdWithPrefix(this.id, i, randomBytes, i < this.buckets.length - 1));
    });
    return out;
  }

  /** A random target in every bucket but the last: what a joining node looks up (Kademlia's join). */
  farTargets(randomBytes: (n: number) => Buffer): Buffer[] {
    return this.buckets.slice(0, -1).map((_, i) => randomIdWithPrefix(this.id, i, randomBytes));
  }

  *nodes(): IterableIterator<RoutingNode> {
    for (const b of this.buckets) yield* b.nodes;
  }

  stats(now: number): RoutingStats {
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
      for (const n of b.nodes) {
        s.nodes++;
        s[this.status(n, now)]++;
      }
    }
    return s;
  }

  /** Nodes worth keeping across a restart: everything not bad, answering nodes first. */
  save(now: number): SavedNode[] {
    const keep = [...this.nodes()].filter((n) => this.status(n, now) !== 'bad');
    keep.sort((a, b) => Number(b.verified) - Number(a.verified));
    return keep.map((n) => ({ id: idHex(n.id), ip: n.ip, port: n.port, verified: n.verified }));
  }

  /** Load saved nodes as questionable (they get pinged by the first lookup); bad entries are skipped. */
  restore(saved: readonly SavedNode[], now: number): number {
    let added = 0;
    for (const s of saved) {
      if (!/^[0-9a-f]{40}$/i.test(s.id) || typeof s.ip !== 'string' || !Number.isInteger(s.port)) continue;
      const id = Buffer.from(s.id, 'hex');
      if (this.observe({ id, ip: s.ip, port: s.port }, 'heard', now).outcome !== 'added') continue;
      const n = this.byId.get(s.id.toLowerCase());
      if (n) n.verified = s.verified === true;
      added++;
    }
    return added;
  }

  // ---- internals ----

  private bucketFor(id: Buffer): Bucket {
    return this.buckets[Math.min(commonPrefixBits(id, this.id), this.buckets.length - 1)];
  }

  private canSplit(): boolean {
    return this.buckets.length < ID_BITS;
  }

  /** Split the last bucket: ids sharing more bits with ours than its index move to a new last bucket. */
  private split(now: number): void {
    const depth = this.buckets.length - 1;
    const old = this.buckets[depth];
    const next: Bucket = { nodes: [], replacements: [], lastChanged: now };
    const far = (n: RoutingNode): boolean => commonPrefixBits(n.id, this.id) > depth;
    next.nodes = old.nodes.filter(far);
    old.nodes = old.nodes.filter((n) => !far(n));
    next.replacements = old.replacements.filter(far);
    old.replacements = old.replacements.filter((n) => !far(n));
    this.buckets.push(next);
    for (const b of [old, next])
      while (b.nodes.length < this.k && b.replacements.length > 0) {
        const promoted = b.replacements.splice(this.bestReplacement(b), 1)[0];
        this.countIp(promoted.ip, -1);
        this.insert(b, promoted, now);
      }
  }

  private insert(b: Bucket, n: RoutingNode, now: number): void {
    const ri = b.replacements.indexOf(n);
    if (ri >= 0) {
      b.replacements.splice(ri, 1);
      this.countIp(n.ip, -1);
    }
    b.nodes.push(n);
    b.lastChanged = now;
    this.byId.set(idHex(n.id), n);
    this.countIp(n.ip, 1);
  }

  private remove(b: Bucket, index: number): void {
    const [n] = b.nodes.splice(index, 1);
    this.byId.delete(idHex(n.id));
    this.countIp(n.ip, -1);
  }

  /** The least recently seen questionable node not named for a ping recently. */
  private pingCandidate(b: Bucket, now: number): RoutingNode | undefined {
    let best: RoutingNode | undefined;
    for (const n of b.nodes) {
      if (this.status(n, now) !== 'questionable' || now - n.lastAsked < PING_SPACING_MS) continue;
      if (!best || lastSeen(n) < lastSeen(best)) best = n;
    }
    if (best) best.lastAsked = now;
    return best;
  }

  /** Index of the replacement to promote: answered us most recently, then most recently seen. */
  private bestReplacement(b: Bucket): number {
    let best = 0;
    for (let i = 1; i < b.replacements.length; i++) {
      const x = b.replacements[i];
      const y = b.replacements[best];
      if (x.lastResponse > y.lastResponse || (x.lastResponse === y.lastResponse && lastSeen(x) > lastSeen(y)))
        best = i;
    }
    return best;
  }

  /** Index of the replacement to drop when the cache is full: the opposite of the best. */
  private worstReplacement(b: Bucket): number {
    let worst = 0;
    for (let i = 1; i < b.replacements.length; i++) {
      const x = b.replacements[i];
      const y = b.replacements[worst];
      if (x.lastResponse < y.lastResponse || (x.lastResponse === y.lastResponse && lastSeen(x) < lastSeen(y)))
        worst = i;
    }
    return worst;
  }

  private ipFree(ip: string): boolean {
    return !this.onePerIp || isLoopback(ip) || !this.ips.has(ip);
  }

  private countIp(ip: string, delta: number): void {
    const n = (this.ips.get(ip) ?? 0) + delta;
    if (n > 0) this.ips.set(ip, n);
    else this.ips.delete(ip);
  }
}

const NEVER = -Infinity;
const IGNORED: ObserveResult = { outcome: 'ignored' };
const UPDATED: ObserveResult = { outcome: 'updated' };
const ADDED: ObserveResult = { outcome: 'added' };

function fresh(c: NodeContact): RoutingNode {
  return {
    // A copy: ids decoded from a datagram are views that would keep the whole datagram alive.
    id: Buffer.from(c.id),
    ip: c.ip,
    port: c.port,
    verified: false,
    lastResponse: NEVER,
    lastQuery: NEVER,
    failures: 0,
    lastAsked: NEVER,
    prefix: c.id.readUInt32BE(0) >>> 2,
  };
}

function touch(n: RoutingNode, seen: Seen, now: number): void {
  if (seen === 'responded') {
    n.lastResponse = now;
    n.verified = true;
    n.failures = 0;
  } else if (seen === 'queried') n.lastQuery = now;
}

function lastSeen(n: RoutingNode): number {
  return Math.max(n.lastResponse, n.lastQuery);
}
