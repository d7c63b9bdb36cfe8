/**
 * Our side of the KRPC conversation: transactions and the lookup tasks that use them.
 *
 * Owns: transaction ids (2 bytes, from a random start; an answer must come from the address we asked),
 * soft and hard timeouts, the running and queued lookup tasks (search with `Lookup`, then — for
 * announces — announce_peer to the k closest nodes that gave a token), what an answer means for the
 * routing table (an answer from the id we expected: responded; silence: failed; an error reply: alive,
 * so neither), the peers a get_peers lookup finds (de-duplicated per lookup), and each lookup's
 * outcome. Does not own: answering queries, limits on incoming traffic, or when to start a lookup
 * (dht-state.ts decides that).
 */
import { Candidate, Lookup, LookupFigures } from './dht-lookup';
import type { RoutingTable } from './routing-table';
import type { DhtConfig, DhtCounters, DhtEffect } from './dht-messages';
import type { EventInput } from '../events/engine-event';
import { KrpcMessage, KrpcQuery, NodeAddress, NodeContact, encodeQuery } from '../protocol/krpc';
import type { PeerAddress } from '../protocol/tracker-codec';

/** Client version sent as `v`: "RX" and version 0.1. */
export const DHT_VERSION = Buffer.from([0x52, 0x58, 0x00, 0x01]);
/** Peers remembered per lookup for de-duplication. */
const MAX_SEEN_PEERS = 4096;

export type TaskKind = 'user' | 'bootstrap' | 'refresh' | 'announce';

export interface TaskSpec {
  id: number;
  kind: TaskKind;
  method: 'find_node' | 'get_peers';
  target: Buffer;
  announce?: { port: number; impliedPort: boolean };
  /** For re-announces: the registered torrent (hex info-hash). */
  torrentKey?: string;
  /** Bootstrap routers to ask as well as our table. */
  routers?: NodeAddress[];
}

export interface Task extends TaskSpec {
  lookup: Lookup;
  startedAt: number;
  phase: 'search' | 'announce' | 'done';
  acksPending: number;
  acks: number;
  seen: Set<string>;
  peers: number;
  cancelled: boolean;
}

export interface LookupOutcome extends LookupFigures {
  target: Buffer;
  /** The k closest nodes that answered, closest first. */
  nodes: NodeContact[];
  /** Distinct peers found (get_peers). */
  peers: number;
  /** Nodes that accepted our announce_peer. */
  announced: number;
  ms: number;
  cancelled: boolean;
}

export interface Pending {
  t: Buffer;
  to: NodeAddress;
  sentAt: number;
  slow: boolean;
  expectId?: Buffer;
  purpose: 'lookup' | 'announce' | 'ping';
  task?: Task;
  candidate?: Candidate;
}

type Out = { effects: DhtEffect[]; events: EventInput[] };

interface RunnerContext {
  cfg: DhtConfig;
  id: Buffer;
  family: 4 | 6;
  table: RoutingTable;
  counters: DhtCounters;
  randomBytes: (n: number) => Buffer;
}

export class TaskRunner {
  readonly randomBytes: (n: number) => Buffer;
  private readonly pending = new Map<string, Pending>();
  private readonly pinging = new Set<string>();
  private readonly running = new Map<number, Task>();
  private readonly queued: Task[] = [];
  private finished: { task: Task; outcome: LookupOutcome }[] = [];
  private tid: number;
  private nextInternal = -1;

  constructor(private readonly ctx: RunnerContext) {
    this.randomBytes = ctx.randomBytes;
    this.tid = ctx.randomBytes(2).readUInt16BE(0);
  }

  get active(): number {
    return this.running.size;
  }

  get pendingCount(): number {
    return this.pending.size;
  }

  /** Ids for lookups the node starts itself (negative, so they never meet the runtime's). */
  internalId(): number {
    return this.nextInternal--;
  }

  start(spec: TaskSpec, now: number, out: Out): void {
    const { cfg, id, table } = this.ctx;
    const lookup = new Lookup(spec.target, id, {
      k: cfg.k,
      alpha: cfg.alpha,
      maxQueries: cfg.maxQueriesPerLookup,
    });
    const task: Task = {
      ...spec,
      lookup,
      startedAt: now,
      phase: 'search',
      acksPending: 0,
      acks: 0,
      seen: new Set(),
      peers: 0,
      cancelled: false,
    };
    if (this.running.size >= cfg.maxLookups) {
      if (this.queued.length < cfg.maxQueuedLookups) this.queued.push(task);
      else this.complete(task, now, out);
      return;
    }
    this.running.set(task.id, task);
    task.startedAt = now;
    lookup.seed(table.closest(spec.target, cfg.k * 2, now, { unverified: true }));
    if (spec.routers) lookup.seedRouters(spec.routers);
    this.drive(task, now, out);
  }

  cancel(id: number, now: number, out: Out): void {
    const task = this.running.get(id) ?? this.queued.find((t) => t.id === id);
    if (!task || task.phase === 'done') return;
    task.cancelled = true;
    const qi = this.queued.indexOf(task);
    if (qi >= 0) this.queued.splice(qi, 1);
    this.complete(task, now, out);
  }

  /** Ping a node (to verify a newcomer or test a questionable one); at most one ping per address at a time. */
  ping(to: NodeAddress, expectId: Buffer | undefined, now: number, out: Out): void {
    const key = `${to.ip}:${to.port}`;
    if (this.pinging.has(key)) return;
    if (this.query(to, { method: 'ping', id: this.ctx.id }, now, out, { purpose: 'ping', expectId }))
      this.pinging.add(key);
  }

  /** An answer or error reply to one of our queries (anything else is counted and dropped). */
  answer(msg: Exclude<KrpcMessage, { y: 'q' }>, from: NodeAddress, now: number, out: Out): void {
    const { table, counters, family } = this.ctx;
    const key = msg.t.toString('latin1');
    const p = this.pending.get(key);
    if (!p || p.to.ip !== from.ip || p.to.port !== from.port) {
      counters.unsolicited++;
      return;
    }
    this.settle(key, p);
    let ok = false;
    if (msg.y === 'r') {
      if (p.expectId && !p.expectId.equals(msg.response.id)) table.failed(p.expectId, now);
      else {
        ok = true;
        const seen = table.observe({ id: msg.response.id, ip: from.ip, port: from.port }, 'responded', now);
        if (seen.ping) this.ping(seen.ping, seen.ping.id, now, out);
      }
    }
    const task = p.task;
    if (!task || task.phase === 'done') return;
    if (p.purpose === 'announce') {
      if (ok) task.acks++;
      this.ackSettled(task, now, out);
      return;
    }
    if (!p.candidate) return;
    if (ok && msg.y === 'r') {
      const r = msg.response;
      const named = (family === 4 ? r.nodes : r.nodes6) ?? [];
      // Heard-of nodes fill free room in the table (libtorrent's heard_about); they are offered to
      // others only once they answered us.
      for (const n of named) table.observe(n, 'heard', now);
      task.lookup.answered(p.candidate, r.id, named, r.token);
      if (r.values && task.method === 'get_peers') this.found(task, r.values, out);
    } else task.lookup.failed(p.candidate);
    this.drive(task, now, out);
  }

  /** Soft and hard timeouts of our queries; the time limit of lookups. */
  expire(now: number, out: Out): void {
    const { cfg, table } = this.ctx;
    for (const [key, p] of this.pending) {
      const age = now - p.sentAt;
      if (age >= cfg.queryTimeoutMs) {
        this.settle(key, p);
        if (p.expectId) table.failed(p.expectId, now);
        const task = p.task;
        if (!task || task.phase === 'done') continue;
        if (p.purpose === 'announce') this.ackSettled(task, now, out);
        else if (p.candidate) {
          task.lookup.failed(p.candidate);
          this.drive(task, now, out);
        }
      } else if (!p.slow && age >= cfg.slowQueryMs) {
        p.slow = true;
        if (p.task && p.candidate && p.task.phase === 'search') {
          p.task.lookup.slow(p.candidate);
          this.drive(p.task, now, out);
        }
      }
    }
    for (const task of this.running.values())
      if (task.phase === 'search' && now - task.startedAt >= cfg.lookupTimeoutMs) {
        task.lookup.abort();
        this.endSearch(task, now, out);
      }
  }

  /** Lookups that ended since the last call, with their outcomes. */
  drainFinished(): { task: Task; outcome: LookupOutcome }[] {
    const f = this.finished;
    this.finished = [];
    return f;
  }

  // ---- internals ----

  private drive(task: Task, now: number, out: Out): void {
    if (task.phase !== 'search') return;
    const { id, family } = this.ctx;
    const want = family === 6 ? { want: ['n6' as const] } : {};
    for (;;) {
      const picks = task.lookup.next();
      let refused = false;
      for (const c of picks) {
        const q: KrpcQuery =
          task.method === 'find_node'
            ? { method: 'find_node', id, target: task.target, ...want }
            : { method: 'get_peers', id, infoHash: task.target, ...want };
        const link = {
          purpose: 'lookup' as const,
          task,
          candidate: c,
          expectId: c.router ? undefined : c.id,
        };
        if (!this.query(c, q, now, out, link)) {
          task.lookup.failed(c);
          refused = true;
        }
      }
      if (!refused) break; // else: ask the lookup again, it settles the refused ones (bounded by its budget)
    }
    if (task.lookup.done) this.endSearch(task, now, out);
  }

  private endSearch(task: Task, now: number, out: Out): void {
    if (task.phase !== 'search') return;
    task.phase = 'announce';
    if (task.announce)
      for (const c of task.lookup.closestAnswered(this.ctx.cfg.k, true)) {
        const q: KrpcQuery = {
          method: 'announce_peer',
          id: this.ctx.id,
          infoHash: task.target,
          port: task.announce.port,
          token: c.token as Buffer,
          impliedPort: task.announce.impliedPort,
        };
        if (this.query(c, q, now, out, { purpose: 'announce', task, expectId: c.id })) task.acksPending++;
      }
    if (task.acksPending === 0) this.complete(task, now, out);
  }

  private ackSettled(task: Task, now: number, out: Out): void {
    if (--task.acksPending <= 0) this.complete(task, now, out);
  }

  private complete(task: Task, now: number, out: Out): void {
    if (task.phase === 'done') return;
    task.phase = 'done';
    this.running.delete(task.id);
    const nodes = task.lookup
      .closestAnswered(this.ctx.cfg.k)
      .map((c) => ({ id: c.id, ip: c.ip, port: c.port }));
    this.finished.push({
      task,
      outcome: {
        target: task.target,
        nodes,
        peers: task.peers,
        announced: task.acks,
        ...task.lookup.stats(),
        ms: now - task.startedAt,
        cancelled: task.cancelled,
      },
    });
    while (this.running.size < this.ctx.cfg.maxLookups && this.queued.length > 0)
      this.start(this.queued.shift() as Task, now, out);
  }

  private found(task: Task, values: PeerAddress[], out: Out): void {
    const fresh: PeerAddress[] = [];
    for (const v of values) {
      const key = `${v.ip}:${v.port}`;
      if (v.port === 0 || task.seen.has(key) || task.seen.size >= MAX_SEEN_PEERS) continue;
      task.seen.add(key);
      fresh.push(v);
    }
    task.peers += fresh.length;
    if (fresh.length > 0 && task.kind === 'user')
      out.effects.push({ type: 'LookupPeers', lookup: task.id, peers: fresh });
  }

  private query(
    to: NodeAddress,
    q: KrpcQuery,
    now: number,
    out: Out,
    link: Pick<Pending, 'purpose' | 'task' | 'candidate' | 'expectId'>,
  ): boolean {
    if (this.pending.size >= this.ctx.cfg.maxPending) return false;
    let key: string;
    do {
      this.tid = (this.tid + 1) & 0xffff;
      key = String.fromCharCode(this.tid >> 8, this.tid & 0xff);
    } while (this.pending.has(key));
    const t = Buffer.from(key, 'latin1');
    this.pending.set(key, { t, to: { ip: to.ip, port: to.port }, sentAt: now, slow: false, ...link });
    this.ctx.counters.sent++;
    out.effects.push({
      type: 'Send',
      to: { ip: to.ip, port: to.port },
      data: encodeQuery(t, q, { v: DHT_VERSION }),
    });
    return true;
  }

  private settle(key: string, p: Pending): void {
    this.pending.delete(key);
    if (p.purpose === 'ping') this.pinging.delete(`${p.to.ip}:${p.to.port}`);
  }
}
