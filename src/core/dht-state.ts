/**
 * The DHT node's logic as one transition: datagrams, ticks and commands in; datagrams to send,
 * lookup results and events out.
 *
 * Owns: our transactions (2-byte ids, matched on id *and* source address; soft and hard timeouts),
 * lookup tasks (find_node / get_peers through `Lookup`, then announce_peer to the k closest nodes that
 * gave us a token), bootstrap (a lookup of our own id seeded with the table and the routers; one event
 * when nobody answers, then quiet retries every few minutes), maintenance (bucket refresh, pinging
 * questionable nodes when a better one waits, expiring stored peers), re-announcing registered
 * torrents every 15–30 minutes, per-source query limits, and counters. Answers to queries come from
 * dht-responder.ts. Does not own: sockets, DNS, timers or files (src/actors/dht-node.ts).
 *
 * Nothing a datagram holds can throw past `dhtTransition`: decoding throws only KrpcError, caught here;
 * every table, store and lookup is bounded. The state is mutable and owned by one actor; the
 * transition is deterministic given its messages (time and randomness come in with them or through
 * the injected sources), which is what the tests drive.
 * Its configuration, messages, effects and counters are in dht-messages.ts (re-exported here).
 *
 * @example
 *   const s = initialDhtState({ id, family: 4, now: 0, randomBytes, random });
 *   const step = dhtTransition(s, { type: 'Bootstrap', routers: [{ ip: '127.0.0.1', port: 6881 }], at: 0 });
 *   step.effects; // [{ type: 'Send', to: { ip: '127.0.0.1', port: 6881 }, data: <find_node> }]
 */
import type { Step } from '../actors/actor';
import { PeerStore } from './dht-peer-store';
import { TokenIssuer } from './dht-tokens';
import { QueryLimiter } from './query-limiter';
import { RoutingStats, RoutingTable, isLoopback } from './routing-table';
import { answerQuery } from './dht-responder';
import { DHT_VERSION, LookupOutcome, Pending, Task, TaskRunner } from './dht-tasks';
import { DEFAULT_DHT_CONFIG, DhtConfig, DhtCounters, DhtEffect, DhtIn } from './dht-messages';
import type { EventInput } from '../events/engine-event';
import { KrpcError, KrpcMessage, NodeAddress, decodeKrpc, encodeError } from '../protocol/krpc';

export * from './dht-messages';

export interface DhtState {
  readonly cfg: DhtConfig;
  readonly id: Buffer;
  readonly family: 4 | 6;
  readonly table: RoutingTable;
  readonly tokens: TokenIssuer;
  readonly peers: PeerStore;
  readonly limiter: QueryLimiter;
  readonly tasks: TaskRunner;
  readonly counters: DhtCounters;
  readonly torrents: Map<
    string,
    { infoHash: Buffer; port: number; impliedPort: boolean; next: number; running: boolean }
  >;
  routers: NodeAddress[];
  bootstrap: { state: 'idle' | 'running' | 'ok' | 'failed'; reported: boolean; lastAttempt: number };
  lastMaintenance: number;
  lastLimiterSweep: number;
  readonly random: () => number;
}

export interface DhtStateOptions {
  id: Buffer;
  family: 4 | 6;
  now: number;
  randomBytes: (n: number) => Buffer;
  /** Uniform in [0, 1): re-announce jitter. */
  random: () => number;
  config?: Partial<DhtConfig>;
}

export function initialDhtState(o: DhtStateOptions): DhtState {
  const cfg: DhtConfig = { ...DEFAULT_DHT_CONFIG, ...o.config };
  const table = new RoutingTable(o.id, { k: cfg.k, onePerIp: cfg.onePerIp }, o.now);
  const counters: DhtCounters = {
    received: 0,
    sent: 0,
    queriesIn: 0,
    badDatagrams: 0,
    unsolicited: 0,
    limited: 0,
    errorsSent: 0,
    peersStored: 0,
    badTokens: 0,
  };
  return {
    cfg,
    id: o.id,
    family: o.family,
    table,
    tokens: new TokenIssuer(o.randomBytes, o.now),
    peers: new PeerStore(cfg.peerStore),
    limiter: new QueryLimiter(cfg.queryLimit),
    tasks: new TaskRunner({ cfg, id: o.id, family: o.family, table, counters, randomBytes: o.randomBytes }),
    counters,
    torrents: new Map(),
    routers: [],
    bootstrap: { state: 'idle', reported: false, lastAttempt: -Infinity },
    lastMaintenance: o.now,
    lastLimiterSweep: o.now,
    random: o.random,
  };
}

type Out = { effects: DhtEffect[]; events: EventInput[] };

const LIMITER_SWEEP_MS = 5000;

export function dhtTransition(s: DhtState, m: DhtIn): Step<DhtState, DhtEffect, EventInput> {
  const out: Out = { effects: [], events: [] };
  switch (m.type) {
    case 'DatagramReceived':
      receive(s, m.data, m.from, m.at, out);
      break;
    case 'Tick':
      tick(s, m.at, out);
      break;
    case 'Bootstrap':
      s.routers = m.routers;
      startBootstrap(s, m.at, out);
      break;
    case 'StartLookup':
      s.tasks.start(
        { id: m.lookup, kind: 'user', method: m.method, target: m.target, announce: m.announce },
        m.at,
        out,
      );
      break;
    case 'CancelLookup':
      s.tasks.cancel(m.lookup, m.at, out);
      break;
    case 'AddTorrent':
      s.torrents.set(m.infoHash.toString('hex'), {
        infoHash: m.infoHash,
        port: m.port,
        impliedPort: m.impliedPort ?? false,
        next: m.at,
        running: false,
      });
      announceDue(s, m.at, out);
      break;
    case 'RemoveTorrent':
      s.torrents.delete(m.infoHash.toString('hex'));
      break;
    case 'PingNode':
      s.tasks.ping(m.address, undefined, m.at, out);
      break;
  }
  for (const done of s.tasks.drainFinished()) finished(s, done.task, done.outcome, m.at, out);
  return { state: s, effects: out.effects, events: out.events };
}

function receive(s: DhtState, data: Buffer, from: NodeAddress, now: number, out: Out): void {
  s.counters.received++;
  let msg: KrpcMessage;
  try {
    msg = decodeKrpc(data);
  } catch (err) {
    s.counters.badDatagrams++;
    // A bad query we can name gets the error it earned (rate-limited like any query); the rest, silence.
    if (err instanceof KrpcError && err.reply && err.t && admit(s, from, now, out))
      send(s, from, encodeError(err.t, err.reply, err.message.replace(/^krpc: /, '')), out, true);
    return;
  }
  if (msg.y !== 'q') {
    s.tasks.answer(msg, from, now, out);
    return;
  }
  if (!admit(s, from, now, out)) return;
  s.counters.queriesIn++;
  const q = msg.query;
  if (!msg.ro) {
    const seen = s.table.observe({ id: q.id, ip: from.ip, port: from.port }, 'queried', now);
    // A newcomer that queried us is pinged once, so it can be offered to others (verified nodes only).
    if (seen.outcome === 'added') s.tasks.ping(from, q.id, now, out);
    if (seen.ping) s.tasks.ping(seen.ping, seen.ping.id, now, out);
  }
  const answer = answerQuery(
    {
      id: s.id,
      family: s.family,
      k: s.cfg.k,
      version: DHT_VERSION,
      table: s.table,
      tokens: s.tokens,
      peers: s.peers,
      maxValues: s.family === 4 ? s.cfg.maxValuesPerReply : Math.floor(s.cfg.maxValuesPerReply / 2),
    },
    msg.t,
    q,
    from,
    now,
  );
  if (answer.stored) s.counters.peersStored++;
  if (answer.badToken) s.counters.badTokens++;
  send(s, from, answer.reply, out, answer.isError);
}

/** The per-source query limit: loopback sources are keyed by port too (every local node shares the IP). */
function admit(s: DhtState, from: NodeAddress, now: number, out: Out): boolean {
  const key = isLoopback(from.ip) ? `${from.ip}:${from.port}` : from.ip;
  const verdict = s.limiter.take(key, now);
  if (verdict === 'ok') return true;
  s.counters.limited++;
  if (verdict === 'limited')
    out.events.push({
      category: 'dht',
      type: 'DhtQueriesLimited',
      level: 'warn',
      peer: `${from.ip}:${from.port}`,
    });
  return false;
}

function send(s: DhtState, to: NodeAddress, data: Buffer, out: Out, isError = false): void {
  s.counters.sent++;
  if (isError) s.counters.errorsSent++;
  out.effects.push({ type: 'Send', to, data });
}

function tick(s: DhtState, now: number, out: Out): void {
  s.tasks.expire(now, out);
  // Quiet sources are forgotten within seconds (a bucket refills in burst / rate = 2.5 s by default).
  if (now - s.lastLimiterSweep >= LIMITER_SWEEP_MS) {
    s.lastLimiterSweep = now;
    s.limiter.sweep(now);
  }
  if (now - s.lastMaintenance >= s.cfg.maintenanceMs) {
    s.lastMaintenance = now;
    s.peers.sweep(now);
    if (s.table.size > 0)
      for (const target of s.table.refreshTargets(now, s.tasks.randomBytes))
        s.tasks.start({ id: s.tasks.internalId(), kind: 'refresh', method: 'find_node', target }, now, out);
    const lonely = s.bootstrap.state === 'failed' || (s.bootstrap.state === 'ok' && s.table.size === 0);
    if (lonely && now - s.bootstrap.lastAttempt >= s.cfg.bootstrapRetryMs) startBootstrap(s, now, out);
  }
  announceDue(s, now, out);
}

function startBootstrap(s: DhtState, now: number, out: Out): void {
  if (s.bootstrap.state === 'running') return;
  s.bootstrap.state = 'running';
  s.bootstrap.lastAttempt = now;
  s.tasks.start(
    { id: s.tasks.internalId(), kind: 'bootstrap', method: 'find_node', target: s.id, routers: s.routers },
    now,
    out,
  );
}

function announceDue(s: DhtState, now: number, out: Out): void {
  for (const [key, t] of s.torrents) {
    if (t.running || now < t.next) continue;
    t.running = true;
    s.tasks.start(
      {
        id: s.tasks.internalId(),
        kind: 'announce',
        method: 'get_peers',
        target: t.infoHash,
        announce: { port: t.port, impliedPort: t.impliedPort },
        torrentKey: key,
      },
      now,
      out,
    );
  }
}

function finished(s: DhtState, task: Task, outcome: LookupOutcome, now: number, out: Out): void {
  const figures = { queries: outcome.queries, hops: outcome.hops, ms: outcome.ms };
  switch (task.kind) {
    case 'user':
      out.effects.push({ type: 'LookupDone', lookup: task.id, outcome });
      out.events.push({
        category: 'dht',
        type: 'DhtLookupDone',
        level: 'debug',
        ...(task.method === 'get_peers' ? { torrent: task.target.toString('hex') } : {}),
        peers: outcome.peers,
        announced: outcome.announced,
        ...figures,
      });
      break;
    case 'bootstrap': {
      const answered = outcome.answers > 0;
      const was = s.bootstrap.state;
      s.bootstrap.state = answered ? 'ok' : 'failed';
      if (answered && was !== 'ok') {
        out.events.push({
          category: 'dht',
          type: 'DhtBootstrapped',
          level: 'info',
          nodes: s.table.size,
          ...figures,
        });
        // Kademlia's join: after finding our neighbours, fill every bucket farther away.
        for (const target of s.table.farTargets(s.tasks.randomBytes))
          s.tasks.start({ id: s.tasks.internalId(), kind: 'refresh', method: 'find_node', target }, now, out);
      }
      if (!answered && !s.bootstrap.reported) {
        s.bootstrap.reported = true;
        out.events.push({
          category: 'dht',
          type: 'DhtBootstrapFailed',
          level: 'warn',
          routers: s.routers.length,
          nodes: s.table.size,
          message: 'no DHT node answered; peers come from trackers, LSD and PEX until one does',
        });
      }
      break;
    }
    case 'announce': {
      const t = task.torrentKey ? s.torrents.get(task.torrentKey) : undefined;
      if (t) {
        t.running = false;
        const span = s.cfg.reannounceMaxMs - s.cfg.reannounceMinMs;
        t.next =
          now + (outcome.announced > 0 ? s.cfg.reannounceMinMs + s.random() * span : s.cfg.announceRetryMs);
      }
      out.events.push({
        category: 'dht',
        type: 'DhtAnnounced',
        level: outcome.announced > 0 ? 'info' : 'debug',
        torrent: task.target.toString('hex'),
        nodes: outcome.announced,
        peers: outcome.peers,
        ...figures,
      });
      break;
    }
    case 'refresh':
      break;
  }
}

export interface DhtStats extends RoutingStats {
  id: string;
  storedPeers: number;
  storedInfoHashes: number;
  torrents: number;
  lookups: number;
  pending: number;
  bootstrapped: boolean;
  counters: DhtCounters;
}

export function dhtStats(s: DhtState, now: number): DhtStats {
  return {
    id: s.id.toString('hex'),
    ...s.table.stats(now),
    storedPeers: s.peers.size,
    storedInfoHashes: s.peers.infoHashes,
    torrents: s.torrents.size,
    lookups: s.tasks.active,
    pending: s.tasks.pendingCount,
    bootstrapped: s.bootstrap.state === 'ok',
    counters: { ...s.counters },
  };
}

export { DHT_VERSION };
export type { LookupOutcome, Pending };
