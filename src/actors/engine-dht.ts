/**
 * The engine's DHT part (BEP 5): the one DhtNode an engine runs, and what ties it to the torrents.
 *
 * Owns: starting the node on the engine's listen port (or `port`; when the implied port is taken, any
 * free one), with the bootstrap nodes (default: the public routers) and the state file (default
 * `$XDG_STATE_HOME/rxtorrent/dht.json`: loaded on start, saved on stop); the schedule of get_peers +
 * announce_peer for every public torrent and magnet the engine tracks (at start, then every 15–30
 * minutes once peers were found, sooner with back-off while none were), run on the engine's
 * one-second beat — no timer per torrent; peers found, to their torrent as source 'dht'; and peers'
 * PORT messages (BEP 5), each pinged once, a few per second, so its node can join our table.
 *
 * Does not own: which torrents may use the DHT (the engine tracks only public ones, through the same
 * hook as local discovery: BEP 27), the protocol (src/core/dht-*.ts), or the command line
 * (src/cli/dht-options.ts turns flags into `EngineDhtOptions`). `RXTORRENT_NO_DHT=1` in `env` keeps
 * it off whatever the options say: no socket is opened.
 *
 * @example
 *   const dht = new EngineDht({ bootstrap: [{ host: '127.0.0.1', port: 7000 }] }, host);
 *   await dht.start(6881);           // UDP 6881, or a free port if that is taken
 *   dht.track(meta.infoHash, true);  // looked up and announced on the next beats
 *   dht.tick(Date.now());            // from the engine's beat
 *   await dht.stop();                // routing table saved
 */
import { isIP } from 'node:net';
import type { Subscription } from 'rxjs/internal/Subscription';
import { DhtNode, DhtNodeOptions } from './dht-node';
import type { PeerDhtHooks } from './torrent-options';
import type { LookupOutcome } from '../core/dht-state';
import type { EventInput } from '../events/engine-event';
import type { PeerAddress } from '../protocol/tracker-codec';
import { DEFAULT_DHT_BOOTSTRAP, HostPort, dhtDisabledByEnv } from '../cli/dht-options';
import { defaultDhtStatePath, lockDhtState } from '../storage/dht-state-file';

export interface EngineDhtOptions {
  /** UDP port (default: the engine's listen port, or any free port when that one is taken). */
  port?: number;
  /** Bind address (default: the engine's `bind`, else all IPv4 interfaces). */
  host?: string;
  /** Nodes or routers to join through (default: the public routers, DEFAULT_DHT_BOOTSTRAP). */
  bootstrap?: readonly HostPort[];
  /** Node id and routing table across runs (default `$XDG_STATE_HOME/rxtorrent/dht.json`; false: none). */
  stateFile?: string | false;
  /** Read for RXTORRENT_NO_DHT and XDG_STATE_HOME (default `process.env`). */
  env?: NodeJS.ProcessEnv;
  /** Passed to the node (tests: `config`, `tickMs`, `resolve`). */
  node?: Partial<DhtNodeOptions>;
}

/** What the engine lends its DHT part. */
export interface EngineDhtHost {
  emit(e: EventInput): void;
  /** Peers the DHT found for an info-hash, to the torrent or magnet that has it. */
  peersFound(infoHashHex: string, peers: PeerAddress[]): void;
  /** The engine's TCP listen port: the port we announce. */
  listenPort(): number;
  random(): number;
}

const MINUTE = 60_000;
/** Lookups started per beat, and running at once: a serve with many torrents spreads them out. */
const STARTS_PER_BEAT = 4;
const MAX_RUNNING = 8;
/** Back-off while a lookup finds no peer or reaches no node: 30 s, doubling, up to 15 minutes. */
const RETRY_FIRST_MS = 30_000;
const RETRY_MAX_MS = 15 * MINUTE;
/** PORT messages: pings per beat, and how long one address is not pinged again. */
const PINGS_PER_BEAT = 8;
const PORT_MEMORY = 1024;
const PORT_QUIET_MS = 15 * MINUTE;

interface Tracked {
  infoHash: Buffer;
  next: number;
  fails: number;
  lookup?: Subscription;
}

export class EngineDht {
  private node?: DhtNode;
  private state: 'new' | 'starting' | 'running' | 'failed' | 'stopped' = 'new';
  private starting?: Promise<void>;
  private unlock?: () => Promise<void>;
  private readonly tracked = new Map<string, Tracked>();
  private pings = 0;
  private readonly portsHeard = new Map<string, number>();
  /** What torrents' peer connections use (BEP 5 bit and PORT). */
  readonly hooks: PeerDhtHooks = {
    port: () => (this.state === 'running' ? this.node?.address()?.port : undefined),
    portMessage: (ip, port) => this.portMessage(ip, port),
  };

  constructor(
    private readonly o: EngineDhtOptions,
    private readonly host: EngineDhtHost,
    private readonly clock: () => number,
  ) {}

  /** Off by RXTORRENT_NO_DHT, or a node that could not start. */
  get enabled(): boolean {
    return !dhtDisabledByEnv(this.o.env ?? process.env) && this.state !== 'failed';
  }

  /** The node's UDP port while it runs. */
  get port(): number | undefined {
    return this.hooks.port();
  }

  /** Opens the node's socket and joins the DHT; a failure is an event, never a throw. */
  start(listenPort: number, bind?: string): Promise<void> {
    if (this.state === 'new' && this.enabled) {
      this.state = 'starting';
      this.starting = this.open(listenPort, bind);
    }
    return this.starting ?? Promise.resolve();
  }

  /** Saves the routing table and closes the socket. Idempotent. */
  async stop(): Promise<void> {
    this.state = 'stopped';
    for (const t of this.tracked.values()) t.lookup?.unsubscribe();
    this.tracked.clear();
    await this.starting;
    await this.node?.stop();
    await this.unlock?.().catch(() => undefined);
  }

  private async open(listenPort: number, bind?: string): Promise<void> {
    const env = this.o.env ?? process.env;
    const stateFile = await this.claim(
      this.o.stateFile === undefined ? defaultDhtStatePath(env) : this.o.stateFile,
    );
    const open = async (port: number): Promise<DhtNode> => {
      const node = new DhtNode({
        random: () => this.host.random(),
        ...this.o.node,
        port,
        host: this.o.host ?? (bind && isIP(bind) ? bind : undefined),
        bootstrap: this.o.bootstrap ?? DEFAULT_DHT_BOOTSTRAP,
        stateFile: stateFile || undefined,
      });
      const sub = node.events$.subscribe((e) => this.nodeEvent(e));
      try {
        await node.start();
        return node;
      } catch (err) {
        sub.unsubscribe();
        throw err;
      }
    };
    try {
      try {
        this.node = await open(this.o.port ?? listenPort);
      } catch (err) {
        if (this.o.port !== undefined || listenPort === 0) throw err;
        this.node = await open(0); // the peer port's UDP twin is taken: any port will do
      }
    } catch (err) {
      this.state = 'failed';
      this.host.emit({
        category: 'dht',
        type: 'DhtUnavailable',
        level: 'warn',
        message: `DHT off: ${(err as Error).message}`,
      });
      return;
    }
    if (this.state === 'starting') this.state = 'running';
  }

  /** The state file, unless another engine (this process or another) runs with it: then none. */
  private async claim(file: string | false): Promise<string | false> {
    if (!file) return false;
    try {
      this.unlock = await lockDhtState(file);
    } catch {
      this.unlock = undefined; // an unwritable folder: the node says so when it cannot save either
      return file;
    }
    if (this.unlock) return file;
    this.host.emit({
      category: 'dht',
      type: 'DhtStateInUse',
      level: 'info',
      file,
      message:
        'another rxtorrent runs the DHT with this state file: this one uses a fresh node id and saves nothing',
    });
    return false;
  }

  /** A public torrent or magnet started (`on`) or stopped talking to peers. */
  track(infoHash: Buffer, on: boolean): void {
    const hex = infoHash.toString('hex');
    const t = this.tracked.get(hex);
    if (!on) {
      t?.lookup?.unsubscribe();
      this.tracked.delete(hex);
      return;
    }
    if (!t && this.state !== 'stopped' && this.enabled)
      this.tracked.set(hex, { infoHash, next: 0, fails: 0 });
  }

  /** The engine's one-second beat: lookups that are due, the PORT ping budget. */
  tick(now: number): void {
    this.pings = 0;
    if (this.state !== 'running') return;
    let running = 0;
    for (const t of this.tracked.values()) if (t.lookup) running++;
    let starts = 0;
    for (const [hex, t] of this.tracked) {
      if (starts >= STARTS_PER_BEAT || running >= MAX_RUNNING) break;
      if (t.lookup || now < t.next) continue;
      starts++;
      running++;
      this.lookup(hex, t);
    }
  }

  stats(): ReturnType<DhtNode['stats']> {
    return this.state === 'running' ? this.node?.stats() : undefined;
  }

  /** get_peers, then announce_peer to the closest nodes that gave a token. */
  private lookup(hex: string, t: Tracked): void {
    const node = this.node;
    if (!node) return;
    const listen = this.host.listenPort();
    let found = 0;
    let outcome: LookupOutcome | undefined;
    let finished = false;
    const done = (): void => {
      finished = true;
      t.lookup = undefined;
      const ok = found > 0 && (outcome?.announced ?? 0) > 0;
      t.fails = ok ? 0 : t.fails + 1;
      t.next = this.clock() + (ok ? (15 + 15 * this.host.random()) * MINUTE : retryMs(t.fails));
    };
    const sub = node
      .getPeers(t.infoHash, {
        // implied_port: our UDP source port is our peer port too (it is, unless --dht-port differs).
        announce: { port: listen, impliedPort: this.port === listen },
        done: (r) => (outcome = r),
      })
      .subscribe({
        next: (peers) => {
          found += peers.length;
          this.host.peersFound(hex, peers);
        },
        complete: done,
        error: done,
      });
    if (!finished) t.lookup = sub; // (a node that is stopping ends the lookup at once)
  }

  private nodeEvent(e: EventInput): void {
    this.host.emit(e);
    // Joined (or rejoined) the DHT: torrents waiting out a back-off look up now.
    if (e.type === 'DhtBootstrapped') for (const t of this.tracked.values()) if (t.fails > 0) t.next = 0;
  }

  /** A peer's PORT: ping its node once (it joins our table if it answers); bounded per beat and in memory. */
  private portMessage(ip: string, port: number): void {
    const node = this.node;
    const ours = node?.address();
    if (this.state !== 'running' || !node || !ours) return;
    if (!(port > 0 && port <= 0xffff) || isIP(ip) !== (isIP(ours.ip) || 4)) return;
    const key = `${ip}:${port}`;
    const last = this.portsHeard.get(key);
    const now = this.clock();
    if (last !== undefined && now - last < PORT_QUIET_MS) return;
    if (this.pings >= PINGS_PER_BEAT) return;
    this.pings++;
    this.portsHeard.delete(key);
    this.portsHeard.set(key, now);
    if (this.portsHeard.size > PORT_MEMORY)
      this.portsHeard.delete(this.portsHeard.keys().next().value as string);
    node.addNode({ ip, port });
  }
}

function retryMs(fails: number): number {
  return Math.min(RETRY_MAX_MS, RETRY_FIRST_MS * 2 ** Math.min(fails - 1, 10));
}
