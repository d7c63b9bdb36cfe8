/**
 * The DHT node (BEP 5): one UDP socket per engine, running the transition of src/core/dht-state.ts.
 *
 * Owns: the socket (src/streams/udp-socket.ts), the clock and the tick timer, resolving bootstrap
 * router names (DNS, bounded in time, retried while nothing resolved), the state file (loaded on
 * `start`, written atomically on `stop`), matching lookup results to their callers, and the public
 * API the engine uses: `getPeers`, `announce`, `addTorrent` / `removeTorrent` (re-announced every
 * 15–30 minutes), `addNode` (a PORT message's node), `stats`, `events$`. Does not own: the protocol
 * (core), deciding whether the DHT runs at all (src/cli/dht-options.ts: `--no-dht`,
 * `RXTORRENT_NO_DHT`, private torrents), or what happens to the peers found (the torrent's peer list).
 *
 * `start()` and `stop()` are idempotent; a stopped node stays stopped (make a new one to restart).
 *
 * @example
 *   const dht = new DhtNode({ port: 6881, bootstrap: [{ host: 'router.bittorrent.com', port: 6881 }], stateFile });
 *   dht.events$.subscribe((e) => log(e));
 *   await dht.start();
 *   dht.getPeers(infoHash).subscribe((peers) => torrent.addPeers(peers, 'dht'));
 *   dht.addTorrent(infoHash, 6881); // announce now and every 15-30 minutes
 *   await dht.stop();               // state saved
 */
import { randomBytes as cryptoRandomBytes } from 'node:crypto';
import { promises as dns } from 'node:dns';
import { isIP } from 'node:net';
import { Observable } from 'rxjs/internal/Observable';
import { Subject } from 'rxjs/internal/Subject';
import { Subscription } from 'rxjs/internal/Subscription';
import { ActorRef, createActor } from './actor';
import {
  DhtConfig,
  DhtEffect,
  DhtIn,
  DhtState,
  DhtStats,
  LookupOutcome,
  dhtStats,
  dhtTransition,
  initialDhtState,
} from '../core/dht-state';
import type { EventInput } from '../events/engine-event';
import type { NodeAddress } from '../protocol/krpc';
import type { PeerAddress } from '../protocol/tracker-codec';
import { DhtSaved, loadDhtState, saveDhtState } from '../storage/dht-state-file';
import { UdpEndpoint, openUdpSocket } from '../streams/udp-socket';
import type { HostPort } from '../cli/dht-options';

export interface DhtNodeOptions {
  /** UDP port (default 0: any free port). */
  port?: number;
  /** Bind address (default 0.0.0.0; an IPv6 address makes an IPv6 node, BEP 32). */
  host?: string;
  /** Routers or nodes to bootstrap from. Default none: pass DEFAULT_DHT_BOOTSTRAP for the public DHT. */
  bootstrap?: readonly HostPort[];
  /** Where the node id and routing table persist; none when absent. */
  stateFile?: string;
  /** Node id (default: the state file's, else random). */
  id?: Buffer;
  config?: Partial<DhtConfig>;
  /** Milliseconds between ticks (timeouts, maintenance); default 250. */
  tickMs?: number;
  clock?: () => number;
  randomBytes?: (n: number) => Buffer;
  random?: () => number;
  /** Name → addresses (default: DNS, 5 s limit). */
  resolve?: (host: string, family: 4 | 6) => Promise<string[]>;
}

export interface DhtNodeStats extends DhtStats {
  port: number;
  sendErrors: number;
  sendsDropped: number;
}

const RESOLVE_TIMEOUT_MS = 5000;

interface AnnounceSpec {
  port: number;
  /** BEP 5 `implied_port`: peers should use the port our datagrams come from. */
  impliedPort?: boolean;
}

interface Waiter {
  peers?: (p: PeerAddress[]) => void;
  done: (o: LookupOutcome) => void;
}

export class DhtNode {
  readonly events$: Observable<EventInput>;
  private readonly events = new Subject<EventInput>();
  private readonly clock: () => number;
  private readonly randomBytes: (n: number) => Buffer;
  private readonly waiters = new Map<number, Waiter>();
  private readonly subs = new Subscription();
  private actor?: ActorRef<DhtIn, EventInput, DhtState>;
  private socket?: UdpEndpoint;
  private nodeId?: Buffer;
  private starting?: Promise<void>;
  private stopping?: Promise<void>;
  private nextLookup = 1;
  private sendErrors = 0;
  private readonly errorCodes = new Set<string>();
  private timers: NodeJS.Timeout[] = [];

  constructor(private readonly opts: DhtNodeOptions = {}) {
    this.events$ = this.events.asObservable();
    this.clock = opts.clock ?? Date.now;
    this.randomBytes = opts.randomBytes ?? cryptoRandomBytes;
  }

  get id(): Buffer | undefined {
    return this.nodeId;
  }

  start(): Promise<void> {
    this.starting ??= this.doStart();
    return this.starting;
  }

  async stop(): Promise<void> {
    this.stopping ??= this.doStop();
    return this.stopping;
  }

  address(): NodeAddress | undefined {
    return this.socket?.address();
  }

  /**
   * Peers for `infoHash`, in batches as nodes answer; completes when the lookup ends. Unsubscribe to
   * cancel. With `announce`, announces us to the closest nodes too; `done` hears how it went.
   */
  getPeers(
    infoHash: Buffer,
    o: { announce?: AnnounceSpec; done?: (r: LookupOutcome) => void } = {},
  ): Observable<PeerAddress[]> {
    checkHash(infoHash);
    const announce = o.announce && { port: o.announce.port, impliedPort: o.announce.impliedPort ?? false };
    return new Observable<PeerAddress[]>((sub) => {
      const id = this.lookup(
        { method: 'get_peers', target: infoHash, announce },
        { peers: (p) => sub.next(p), done: (r) => (o.done?.(r), sub.complete()) },
      );
      if (id === undefined) {
        sub.error(new Error('DHT node is not running'));
        return undefined;
      }
      return () => this.cancel(id);
    });
  }

  /** Look up `infoHash`, then announce us as a peer on `port` to the closest nodes. */
  announce(infoHash: Buffer, port: number, opts: { impliedPort?: boolean } = {}): Promise<LookupOutcome> {
    checkHash(infoHash);
    return this.lookupOnce({
      method: 'get_peers',
      target: infoHash,
      announce: { port, impliedPort: opts.impliedPort ?? false },
    });
  }

  /** The k nodes closest to `target` that answered. */
  findNode(target: Buffer): Promise<LookupOutcome> {
    checkHash(target);
    return this.lookupOnce({ method: 'find_node', target });
  }

  /** Announce `infoHash` now and every 15–30 minutes until `removeTorrent`. */
  addTorrent(infoHash: Buffer, port: number, opts: { impliedPort?: boolean } = {}): void {
    checkHash(infoHash);
    this.actor?.send({ type: 'AddTorrent', infoHash, port, impliedPort: opts.impliedPort, at: this.clock() });
  }

  removeTorrent(infoHash: Buffer): void {
    this.actor?.send({ type: 'RemoveTorrent', infoHash, at: this.clock() });
  }

  /** Ping a node we were told about (e.g. by a peer's PORT message); it joins the table if it answers. */
  addNode(address: NodeAddress): void {
    if (isIP(address.ip) && address.port > 0 && address.port <= 0xffff)
      this.actor?.send({ type: 'PingNode', address, at: this.clock() });
  }

  stats(): DhtNodeStats | undefined {
    if (!this.actor || !this.socket) return undefined;
    return {
      ...dhtStats(this.actor.snapshot(), this.clock()),
      port: this.socket.address().port,
      sendErrors: this.sendErrors,
      sendsDropped: this.socket.dropped(),
    };
  }

  // ---- internals ----

  private async doStart(): Promise<void> {
    const saved = await this.loadState();
    const socket = await openUdpSocket({ port: this.opts.port ?? 0, host: this.opts.host });
    this.socket = socket;
    const now = this.clock();
    const id = this.opts.id ?? saved?.id ?? this.randomBytes(20);
    this.nodeId = id;
    const state = initialDhtState({
      id,
      family: socket.family,
      now,
      randomBytes: this.randomBytes,
      random: this.opts.random ?? Math.random,
      config: this.opts.config,
    });
    const restored = saved && saved.id.equals(id) ? state.table.restore(saved.nodes, now) : 0;
    const actor = createActor<DhtState, DhtIn, EventInput, DhtEffect>({
      name: 'dht-node',
      initial: state,
      transition: dhtTransition,
      perform: (eff) => this.perform(eff),
      onError: (err) => {
        this.emit({
          category: 'dht',
          type: 'DhtFailed',
          level: 'error',
          error: (err as Error).message ?? String(err),
        });
        void this.stop();
      },
    });
    this.actor = actor;
    this.subs.add(actor.events$.subscribe((e) => this.emit(e)));
    this.subs.add(
      socket.messages$.subscribe(({ data, from }) =>
        actor.send({ type: 'DatagramReceived', data, from, at: this.clock() }),
      ),
    );
    this.subs.add(socket.errors$.subscribe((err) => this.sendFailed(err)));
    const tick = setInterval(() => actor.send({ type: 'Tick', at: this.clock() }), this.opts.tickMs ?? 250);
    tick.unref();
    this.timers.push(tick);
    this.emit({
      category: 'dht',
      type: 'DhtStarted',
      level: 'info',
      port: socket.address().port,
      id: id.toString('hex'),
      nodes: restored,
    });
    void this.bootstrap();
  }

  private async doStop(): Promise<void> {
    await this.starting?.catch(() => undefined);
    for (const t of this.timers) clearInterval(t);
    this.timers = [];
    const actor = this.actor;
    if (actor && this.opts.stateFile && this.nodeId) {
      try {
        await saveDhtState(this.opts.stateFile, {
          id: this.nodeId,
          nodes: actor.snapshot().table.save(this.clock()),
        });
      } catch (err) {
        this.emit({
          category: 'dht',
          type: 'DhtStateNotSaved',
          level: 'warn',
          error: (err as Error).message,
        });
      }
    }
    actor?.stop();
    this.subs.unsubscribe();
    await this.socket?.close();
    // Lookups still running end now, with what they found.
    for (const [, w] of this.waiters) w.done(emptyOutcome());
    this.waiters.clear();
    this.emit({ category: 'dht', type: 'DhtStopped', level: 'info' });
    this.events.complete();
  }

  private async loadState(): Promise<DhtSaved | undefined> {
    if (!this.opts.stateFile) return undefined;
    try {
      return await loadDhtState(this.opts.stateFile);
    } catch (err) {
      this.emit({
        category: 'dht',
        type: 'DhtStateUnreadable',
        level: 'warn',
        error: (err as Error).message,
      });
      return undefined;
    }
  }

  /** Resolve the routers (IP literals as they are), then bootstrap; re-resolve later if nothing resolved. */
  private async bootstrap(): Promise<void> {
    const hosts = this.opts.bootstrap ?? [];
    const family = this.socket?.family ?? 4;
    const resolve = this.opts.resolve ?? defaultResolve;
    const routers: NodeAddress[] = [];
    await Promise.all(
      hosts.map(async (h) => {
        if (isIP(h.host)) return routers.push({ ip: h.host, port: h.port });
        try {
          for (const ip of await resolve(h.host, family)) routers.push({ ip, port: h.port });
        } catch (err) {
          this.emit({
            category: 'dht',
            type: 'DhtRouterUnresolved',
            level: 'debug',
            host: h.host,
            error: (err as Error).message,
          });
        }
      }),
    );
    if (!this.actor || this.actor.status() !== 'active') return;
    this.actor.send({ type: 'Bootstrap', routers, at: this.clock() });
    if (routers.length === 0 && hosts.length > 0) {
      const retry = setTimeout(() => void this.bootstrap(), this.opts.config?.bootstrapRetryMs ?? 5 * 60_000);
      retry.unref();
      this.timers.push(retry);
    }
  }

  private lookup(
    spec: Omit<Extract<DhtIn, { type: 'StartLookup' }>, 'type' | 'lookup' | 'at'>,
    w: Waiter,
  ): number | undefined {
    const actor = this.actor;
    if (!actor || actor.status() !== 'active' || this.stopping) return undefined;
    const id = this.nextLookup++;
    this.waiters.set(id, w);
    actor.send({ type: 'StartLookup', lookup: id, ...spec, at: this.clock() });
    return id;
  }

  private lookupOnce(
    spec: Omit<Extract<DhtIn, { type: 'StartLookup' }>, 'type' | 'lookup' | 'at'>,
  ): Promise<LookupOutcome> {
    return new Promise((resolve, reject) => {
      if (this.lookup(spec, { done: resolve }) === undefined) reject(new Error('DHT node is not running'));
    });
  }

  private cancel(id: number): void {
    if (this.waiters.delete(id)) this.actor?.send({ type: 'CancelLookup', lookup: id, at: this.clock() });
  }

  private perform(eff: DhtEffect): void {
    switch (eff.type) {
      case 'Send':
        this.socket?.send(eff.data, eff.to);
        break;
      case 'LookupPeers':
        this.waiters.get(eff.lookup)?.peers?.(eff.peers);
        break;
      case 'LookupDone': {
        const w = this.waiters.get(eff.lookup);
        this.waiters.delete(eff.lookup);
        w?.done(eff.outcome);
        break;
      }
    }
  }

  private sendFailed(err: Error): void {
    this.sendErrors++;
    // Unreachable hosts are everyday DHT life: say so once per kind, count the rest.
    const code = (err as NodeJS.ErrnoException).code ?? err.message;
    if (this.errorCodes.has(code) || this.errorCodes.size > 16) return;
    this.errorCodes.add(code);
    this.emit({ category: 'dht', type: 'DhtSendFailed', level: 'debug', error: code });
  }

  private emit(e: EventInput): void {
    if (!this.events.closed) this.events.next(e);
  }
}

function checkHash(h: Buffer): void {
  if (!Buffer.isBuffer(h) || h.length !== 20) throw new TypeError('info-hash / target must be 20 bytes');
}

function emptyOutcome(): LookupOutcome {
  return {
    target: Buffer.alloc(20),
    nodes: [],
    peers: 0,
    announced: 0,
    queries: 0,
    answers: 0,
    failures: 0,
    hops: 0,
    ms: 0,
    cancelled: true,
  };
}

async function defaultResolve(host: string, family: 4 | 6): Promise<string[]> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new Error(`no answer for ${host} in ${RESOLVE_TIMEOUT_MS} ms`)),
      RESOLVE_TIMEOUT_MS,
    );
  });
  try {
    const found = await Promise.race([dns.lookup(host, { all: true, family }), timeout]);
    return found.map((a) => a.address);
  } finally {
    clearTimeout(timer);
  }
}
