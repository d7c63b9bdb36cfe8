/**
 * One iterative Kademlia lookup (find_node or get_peers) as a deterministic state machine.
 *
 * Owns: the candidate list (sorted by XOR distance to the target, at most `maxCandidates`), which
 * candidates to query next (α in flight, always among the closest not yet asked), when the lookup is
 * done (the k closest live candidates have all answered and none of them is still in flight, or
 * nothing is left to ask), the query budget, and the figures a lookup reports (queries, answers,
 * failures, hops). Does not own: sending, timers or the clock — the DHT node sends the queries `next()`
 * returns, tells the lookup about answers and timeouts, and enforces the lookup's time limit.
 *
 * Hops: nodes taken from our routing table (or the bootstrap routers) are hop 1; nodes named in the
 * answer of a hop-n node are hop n + 1. A lookup's hops are those of the closest node that answered.
 *
 * A query that is slow (the node's soft timeout) stops counting against α, so one slow node does not
 * stall the lookup; its answer is still taken if it comes before the hard timeout. In-flight queries
 * are capped at 3α all the same.
 *
 * @example
 *   const l = new Lookup(infoHash, ourId);
 *   l.seed(table.closest(infoHash, 8, now, { unverified: true }));
 *   for (const c of l.next()) send(c);            // up to α queries
 *   l.answered(c, reply.id, reply.nodes ?? [], reply.token);
 *   l.next();                                      // more, until l.done
 */
import { compareDistance, idHex } from './dht-id';
import type { NodeAddress, NodeContact } from '../protocol/krpc';

export interface LookupConfig {
  /** Results wanted: the lookup ends when the k closest live nodes have answered (default 8). */
  k: number;
  /** Queries in flight (default 3). */
  alpha: number;
  /** Candidates kept, closest first (default 100). */
  maxCandidates: number;
  /** Queries sent, at most (default 128). */
  maxQueries: number;
}

export const DEFAULT_LOOKUP: LookupConfig = { k: 8, alpha: 3, maxCandidates: 100, maxQueries: 128 };

export type CandidateState = 'new' | 'inflight' | 'answered' | 'failed';

export interface Candidate extends NodeAddress {
  id: Buffer;
  /** A bootstrap router whose id we do not know yet. */
  router: boolean;
  state: CandidateState;
  depth: number;
  /** Write token from its get_peers answer. */
  token?: Buffer;
  slow: boolean;
}

export interface LookupFigures {
  queries: number;
  answers: number;
  failures: number;
  hops: number;
}

export class Lookup {
  private readonly cfg: LookupConfig;
  /** Candidates with known ids, closest first. */
  private sorted: Candidate[] = [];
  private routers: Candidate[] = [];
  private readonly endpoints = new Set<string>();
  private readonly ids = new Set<string>();
  private active = 0; // in flight and not slow
  private inflight = 0;
  private finished = false;
  private readonly figures = { queries: 0, answers: 0, failures: 0 };

  constructor(
    readonly target: Buffer,
    private readonly ownId: Buffer,
    config: Partial<LookupConfig> = {},
  ) {
    this.cfg = { ...DEFAULT_LOOKUP, ...config };
  }

  get done(): boolean {
    return this.finished;
  }

  /** Nodes from our own table (hop 1). */
  seed(nodes: readonly NodeContact[]): void {
    for (const n of nodes) this.add(n, 1);
  }

  /** Bootstrap routers: asked first, their ids learned from their answers. */
  seedRouters(addrs: readonly NodeAddress[]): void {
    for (const a of addrs) {
      const key = `${a.ip}:${a.port}`;
      if (this.endpoints.has(key)) continue;
      this.endpoints.add(key);
      this.routers.push({
        id: this.target,
        ip: a.ip,
        port: a.port,
        router: true,
        state: 'new',
        depth: 1,
        slow: false,
      });
    }
  }

  /** Candidates to query now (marked in flight). Returns [] and sets `done` when the lookup is over. */
  next(): Candidate[] {
    if (this.finished) return [];
    const picks: Candidate[] = [];
    const canSend = (): boolean =>
      this.active < this.cfg.alpha &&
      this.inflight < this.cfg.alpha * 3 &&
      this.figures.queries < this.cfg.maxQueries;
    for (const r of this.routers) if (r.state === 'new' && canSend()) this.send(r, picks);
    let answered = 0;
    let outstanding = 0;
    for (const c of this.sorted) {
      if (answered >= this.cfg.k) break;
      if (c.state === 'answered') answered++;
      else if (c.state === 'inflight') outstanding++;
      else if (c.state === 'new' && canSend()) {
        this.send(c, picks);
        outstanding++;
      }
    }
    if ((answered >= this.cfg.k && outstanding === 0) || this.inflight === 0) this.finished = true;
    return picks;
  }

  /** `c` answered with its id, the nodes it named and (get_peers) a write token. */
  answered(c: Candidate, id: Buffer, nodes: readonly NodeContact[], token?: Buffer): void {
    if (c.state !== 'inflight') return;
    this.settle(c, 'answered');
    this.figures.answers++;
    if (token) c.token = token;
    if (c.router) {
      this.routers = this.routers.filter((r) => r !== c);
      // A router that is a real node joins the results under its real id.
      if (!id.equals(this.ownId) && !this.ids.has(idHex(id))) {
        c.id = id;
        c.router = false;
        this.ids.add(idHex(id));
        this.insert(c);
      }
    }
    for (const n of nodes) this.add(n, c.depth + 1);
  }

  /** `c` did not answer (hard timeout) or answered with an error. */
  failed(c: Candidate): void {
    if (c.state !== 'inflight') return;
    this.settle(c, 'failed');
    this.figures.failures++;
  }

  /** `c` is slow (soft timeout): its slot goes to another candidate while we keep waiting. */
  slow(c: Candidate): void {
    if (c.state !== 'inflight' || c.slow) return;
    c.slow = true;
    this.active--;
  }

  /** End the lookup now (time limit, or the caller lost interest). */
  abort(): void {
    this.finished = true;
  }

  /** The `n` closest candidates that answered, closest first; with `withToken`, only those holding a token. */
  closestAnswered(n: number, withToken = false): Candidate[] {
    const out: Candidate[] = [];
    for (const c of this.sorted) {
      if (out.length >= n) break;
      if (c.state === 'answered' && (!withToken || c.token)) out.push(c);
    }
    return out;
  }

  stats(): LookupFigures {
    const closest = this.sorted.find((c) => c.state === 'answered');
    return { ...this.figures, hops: closest?.depth ?? 0 };
  }

  // ---- internals ----

  private send(c: Candidate, picks: Candidate[]): void {
    c.state = 'inflight';
    this.active++;
    this.inflight++;
    this.figures.queries++;
    picks.push(c);
  }

  private settle(c: Candidate, state: 'answered' | 'failed'): void {
    if (!c.slow) this.active--;
    this.inflight--;
    c.state = state;
  }

  private add(n: NodeContact, depth: number): void {
    if (n.port <= 0 || n.id.length !== 20 || n.id.equals(this.ownId)) return;
    const key = `${n.ip}:${n.port}`;
    const hex = idHex(n.id);
    if (this.endpoints.has(key) || this.ids.has(hex)) return;
    this.endpoints.add(key);
    this.ids.add(hex);
    this.insert({ id: n.id, ip: n.ip, port: n.port, router: false, state: 'new', depth, slow: false });
  }

  private insert(c: Candidate): void {
    let lo = 0;
    let hi = this.sorted.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (compareDistance(this.sorted[mid].id, c.id, this.target) < 0) lo = mid + 1;
      else hi = mid;
    }
    if (lo >= this.cfg.maxCandidates) return;
    this.sorted.splice(lo, 0, c);
    // Dropped candidates stay in the dedupe sets, so a far node named again does not churn the list;
    // one still in flight is settled normally when it answers (settle does not need it listed).
    if (this.sorted.length > this.cfg.maxCandidates) this.sorted.length = this.cfg.maxCandidates;
  }
}
