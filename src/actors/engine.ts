/**
 * The engine: one per process, the root every torrent runs under (libtorrent's session, Transmission's
 * daemon core).
 *
 * Owns: the listen socket and routing each incoming connection to its torrent by the info-hash in its
 * handshake (an unknown one is closed without a reply and counted); the hash worker pool; the read-buffer
 * budget for uploads; the process-wide rate buckets; the global connection cap; the peer id; dialling
 * peers for torrents; and the set of torrents, which are added, paused, resumed and removed while it
 * runs. Every torrent's events come out of one stream, each naming its torrent.
 *
 * Routing is by a lookup from info-hash to torrent. The listener hands over anything that is not a
 * plain handshake through one hook (`onOther`) to the encryption part (engine-encryption.ts), which
 * finds the torrent of an encrypted handshake through HASH('req2', info-hash) and routes it here like a
 * plain one; it also dials for every torrent, per the encryption policy (`encryption`,
 * `setEncryption`).
 *
 * @example
 *   const engine = new Engine({ port: 6881 });
 *   await engine.start();
 *   const t = engine.add({ meta, dir: 'downloads', mode: 'leech', trackers: meta.announceList });
 *   await t.start();
 *   engine.events$.subscribe((e) => console.log(e.type, e.torrent));
 */
import * as fsp from 'node:fs/promises';
import type * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { Observable } from 'rxjs/internal/Observable';
import { Subject } from 'rxjs/internal/Subject';
import { Subscription } from 'rxjs/internal/Subscription';
import { EncryptionPolicy, EngineEncryption, parseEncryptionPolicy } from './engine-encryption';
import { Magnet, MagnetOptions } from './magnet';
import { Torrent, TorrentOptions, TorrentServices } from './torrent';
import { BufferPool } from '../core/buffer-pool';
import { TokenBucket } from '../core/token-bucket';
import { EventInput, EventLevel } from '../events/engine-event';
import type { Handshake } from '../protocol/wire-codec';
import { HashPool } from '../streams/hash-pool';
import { PeerListener } from '../streams/peer-listener';
import { PeerTransport, plainTransport } from '../streams/peer-transport';
import { PeerSource, addressKey } from '../core/peer-list';
import { MagnetLink, parseMagnet } from '../protocol/magnet';
import type { PeerAddress } from '../protocol/tracker-codec';
import { LsdOptions, LsdService, lsdDisabled } from './lsd';
import { EngineDht, EngineDhtOptions } from './engine-dht';

import { EngineOptions, EngineStats, newPeerId } from './engine-options';

export { newPeerId, type EngineOptions, type EngineStats } from './engine-options';

export class Engine {
  readonly peerId: Buffer;
  readonly pool: HashPool;
  readonly downBucket: TokenBucket;
  readonly upBucket: TokenBucket;
  private readonly ownPool: boolean;
  private readonly buffers: BufferPool;
  private readonly byHash = new Map<string, Torrent>();
  /** Magnets still fetching their metadata (then their torrent is in `byHash`). */
  private readonly pending = new Map<string, Magnet>();
  private readonly subs = new Map<string, Subscription>();
  private readonly events = new Subject<EventInput>();
  /** Every torrent's events and the engine's own, in one stream. */
  readonly events$: Observable<EventInput> = this.events.asObservable();
  private readonly listener: PeerListener;
  private readonly crypto: EngineEncryption;
  private readonly clock: () => number;
  private readonly random: () => number;
  private readonly maxConnections: number;
  private readonly localAddresses = new Set(['127.0.0.1', '::1', '0.0.0.0', '::']);
  private connections = 0;
  private counters = { unknownInfoHash: 0, droppedIncoming: 0 };
  private stopped = false;
  /** One timer for every torrent's one-second tick. */
  private beat: NodeJS.Timeout | undefined;
  private readonly lsd: LsdService | null;
  private readonly dht: EngineDht | null;

  constructor(private readonly o: EngineOptions) {
    this.peerId = o.peerId ?? newPeerId();
    this.pool = o.pool ?? new HashPool(undefined, { eager: false });
    this.ownPool = !o.pool;
    this.buffers = new BufferPool(o.readBudgetBytes ?? 64 * 1024 * 1024);
    this.clock = o.clock ?? Date.now;
    this.random = o.random ?? Math.random;
    this.maxConnections = o.maxConnections ?? 500;
    const now = this.clock();
    this.downBucket = o.downBucket ?? new TokenBucket(0);
    this.upBucket = o.upBucket ?? new TokenBucket(0);
    this.downBucket.reserve(0, now);
    this.upBucket.reserve(0, now);
    for (const list of Object.values(os.networkInterfaces()))
      for (const a of list ?? []) this.localAddresses.add(a.address);
    const handshakeTimeoutMs = o.handshakeTimeoutMs ?? 10_000;
    this.crypto = new EngineEncryption({
      policy: o.encryption ?? 'preferred',
      timeoutMs: handshakeTimeoutMs,
      connectTimeoutMs: 10_000,
      maxPending: 256,
      serving: (hex) => this.byHash.has(hex) || this.pending.has(hex),
      emit: (e) => this.emit(e),
      route: (socket, hs, transport) => this.route(socket, hs, transport),
      refused: (peer, reason, r) => {
        if (r.code === 'unknown-info-hash') this.counters.unknownInfoHash++;
        else this.counters.droppedIncoming++;
        this.refused(peer, reason, r);
      },
    });
    this.listener = new PeerListener({
      port: o.port,
      host: o.bind,
      handshakeTimeoutMs,
      onPlain: (socket, hs, rest) => this.plainIncoming(socket, hs, rest),
      onOther: (socket, head) => this.crypto.accept(socket, head),
    });
    this.listener.events$.subscribe((e) => {
      if (e.type === 'ListenError')
        return this.emit({ category: 'error', type: 'ListenError', level: 'error', message: e.message });
      this.counters.droppedIncoming++;
      this.refused(e.address, e.why);
    });
    this.lsd = this.startLsd(o.lsd ?? true);
    this.dht = this.makeDht(o.dht ?? true);
  }

  /** The listen port (after `start()`). */
  get port(): number {
    return this.listener.port;
  }

  async start(): Promise<void> {
    await this.listener.listen();
    this.beat = setInterval(() => {
      const now = this.clock();
      for (const t of this.byHash.values()) t.tick(now);
      for (const m of this.pending.values()) m.tick();
      this.dht?.tick(now);
    }, 1000);
    this.beat.unref();
    this.emit({ category: 'peer', type: 'Listening', port: this.port, address: this.o.bind ?? '0.0.0.0' });
    await this.lsd?.start();
    await this.dht?.start(this.port, this.o.bind);
  }

  /** Whether local service discovery runs (not turned off by option or RXTORRENT_NO_LSD). */
  get lsdEnabled(): boolean {
    return this.lsd !== null && !lsdDisabled();
  }

  /** Adds a torrent (not started: call `start()` on it). Throws if that info-hash is already here. */
  add(opts: TorrentOptions): Torrent {
    const hex = opts.meta.infoHashHex;
    if (this.byHash.has(hex) || this.pending.has(hex))
      throw new Error(`torrent ${opts.meta.name} (${hex}) is already added`);
    const t = new Torrent(opts, this.services());
    this.byHash.set(hex, t);
    this.crypto.serve(opts.meta.infoHash);
    this.subs.set(
      hex,
      t.events$.subscribe((e) => this.events.next(e)),
    );
    return t;
  }

  /**
   * Adds a torrent by magnet link (BEP 9): its status is `downloading metadata` until peers (the link's
   * `x.pe` and trackers, `opts.peers`, LSD, PEX) have sent an info dictionary that hashes to the link's
   * info-hash; then a torrent for it is added to the engine (listed by `torrents()`, found by `get()`)
   * and started. Not started: call `start()` on the handle. Throws a `MagnetError` for a bad link, an
   * Error if that info-hash is already here. See src/actors/magnet.ts.
   */
  addMagnet(uri: string | MagnetLink, opts: MagnetOptions): Magnet {
    const link = typeof uri === 'string' ? parseMagnet(uri) : uri;
    const hex = link.infoHashHex;
    if (this.byHash.has(hex) || this.pending.has(hex)) throw new Error(`torrent ${hex} is already added`);
    const m = new Magnet(link, opts, {
      services: this.services(),
      adopt: (o) => this.add(o),
      forget: (h) => this.pending.get(h) === m && this.pending.delete(h),
    });
    this.pending.set(hex, m);
    this.crypto.serve(link.infoHash);
    m.events$.subscribe((e) => this.events.next(e));
    return m;
  }

  /** Magnets still fetching their metadata. */
  magnets(): Magnet[] {
    return [...this.pending.values()];
  }

  getMagnet(infoHashHex: string): Magnet | undefined {
    return this.pending.get(infoHashHex);
  }

  get(infoHashHex: string): Torrent | undefined {
    return this.byHash.get(infoHashHex);
  }

  torrents(): Torrent[] {
    return [...this.byHash.values()];
  }

  /**
   * Stops a torrent (or a magnet still fetching its metadata) and forgets it; with `deleteData`, its files
   * (and resume file) go too.
   */
  async remove(infoHashHex: string, opts: { deleteData?: boolean } = {}): Promise<void> {
    const m = this.pending.get(infoHashHex);
    if (m) {
      this.crypto.unserve(Buffer.from(infoHashHex, 'hex'));
      await m.remove();
      this.emit({ category: 'engine', type: 'TorrentRemoved', torrent: infoHashHex, deletedData: false });
      return;
    }
    const t = this.byHash.get(infoHashHex);
    if (!t) return;
    this.byHash.delete(infoHashHex);
    this.crypto.unserve(t.meta.infoHash);
    await t.stop();
    this.subs.get(infoHashHex)?.unsubscribe();
    this.subs.delete(infoHashHex);
    if (opts.deleteData) {
      const root = path.resolve(t.o.dir, t.meta.name);
      await fsp.rm(root, { recursive: true, force: true });
      await fsp.rm(path.join(path.resolve(t.o.dir), `.${t.meta.name}.rxresume`), { force: true });
    }
    this.emit({
      category: 'engine',
      type: 'TorrentRemoved',
      torrent: infoHashHex,
      deletedData: opts.deleteData === true,
    });
  }

  stats(): EngineStats {
    return {
      torrents: this.byHash.size + this.pending.size,
      connections: this.connections,
      ...this.counters,
    };
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    clearInterval(this.beat);
    this.listener.close();
    this.crypto.stop();
    await Promise.all([
      ...[...this.byHash.values()].map((t) => t.stop().catch(() => undefined)),
      ...[...this.pending.values()].map((m) => m.remove()),
      this.lsd?.stop(),
    ]);
    await this.dht?.stop(); // after the torrents: their last word is in the saved table
    for (const s of this.subs.values()) s.unsubscribe();
    if (this.ownPool) await this.pool.close();
    this.events.complete();
  }

  /** What the engine lends every torrent (and every magnet's fetcher). */
  private services(): TorrentServices {
    return {
      peerId: this.peerId,
      pool: this.pool,
      buffers: this.buffers,
      port: () => this.port,
      downBucket: this.downBucket,
      upBucket: this.upBucket,
      clock: this.clock,
      random: this.random,
      localAddresses: this.localAddresses,
      slots: () => this.maxConnections - this.connections,
      connect: (ip, port, infoHash, handshake) => this.crypto.dial(ip, port, infoHash, handshake),
      counted: (d) => (this.connections += d),
      localDiscovery: (infoHash, on) => this.localDiscovery(infoHash, on),
      dht: this.dht?.hooks,
    };
  }

  // ------------------------------------------------------------------------------------- encryption

  /** The MSE/PE policy new connections follow: 'preferred', 'required' or 'tolerated'. */
  get encryption(): EncryptionPolicy {
    return this.crypto.policy;
  }

  /**
   * Changes the encryption policy (serve's RPC `session-set encryption` calls this). Connections made
   * from now on follow it; open ones stay as they are. Throws RangeError for an unknown policy name.
   *
   * @example
   *   engine.setEncryption('required'); // dial encrypted only, refuse plain incoming handshakes
   */
  setEncryption(policy: EncryptionPolicy | string): void {
    const next = parseEncryptionPolicy(policy);
    const previous = this.crypto.policy;
    if (next === previous) return;
    this.crypto.policy = next;
    this.emit({ category: 'engine', type: 'EncryptionPolicyChanged', policy: next, previous });
  }

  /** A plain incoming handshake: routed, unless the policy requires encryption. */
  private plainIncoming(socket: net.Socket, hs: Handshake, rest: Buffer): void {
    if (this.crypto.acceptsPlain) return this.route(socket, hs, plainTransport(socket, rest));
    const ip = (socket.remoteAddress ?? '').replace(/^::ffff:/, '');
    socket.destroy();
    this.counters.droppedIncoming++;
    this.refused(addressKey(ip, socket.remotePort ?? 0), 'plain handshake refused: encryption is required', {
      level: 'info',
    });
  }

  /** An incoming handshake: to its torrent, or closed without a reply. */
  private route(socket: net.Socket, hs: Handshake, transport: PeerTransport): void {
    const ip = (socket.remoteAddress ?? '').replace(/^::ffff:/, '');
    const key = addressKey(ip, socket.remotePort ?? 0);
    const hex = hs.infoHash.toString('hex');
    const t = this.byHash.get(hex) ?? this.pending.get(hex);
    if (!t || this.stopped || this.connections >= this.maxConnections) {
      if (!t) this.counters.unknownInfoHash++;
      else this.counters.droppedIncoming++;
      socket.destroy();
      this.refused(key, t ? 'connection limit reached' : `unexpected info-hash ${hex}`);
      return;
    }
    t.acceptIncoming(transport, hs, key, ip);
  }

  // ------------------------------------------------------------------------------ local discovery

  private startLsd(option: boolean | LsdOptions): LsdService | null {
    if (option === false) return null;
    const lsd = new LsdService(option === true ? {} : option);
    lsd.events$.subscribe((e) => this.emit(e));
    lsd.peers$.subscribe(({ infoHash, peer }) => this.peersFor(infoHash, [peer], 'lsd'));
    return lsd;
  }

  /** A public torrent started (`on`) or stopped talking to peers: announce it on the LAN, or stop. */
  private localDiscovery(infoHash: Buffer, on: boolean): void {
    this.dht?.track(infoHash, on);
    if (!this.lsd || this.stopped) return;
    if (!on) return this.lsd.unregister(infoHash);
    if (this.port > 0) this.lsd.register(infoHash, this.port);
  }

  /** Addresses a discovery source found for an info-hash, to whatever serves it here. */
  private peersFor(infoHashHex: string, peers: PeerAddress[], source: PeerSource): void {
    (this.byHash.get(infoHashHex) ?? this.pending.get(infoHashHex))?.addPeers(peers, source);
  }

  // ------------------------------------------------------------------------------------------- DHT

  /** Whether the DHT runs (on by default; off by option, RXTORRENT_NO_DHT, or a socket that failed). */
  get dhtEnabled(): boolean {
    return this.dht?.enabled ?? false;
  }

  /** The DHT node's figures (routing table, lookups, counters) while it runs. */
  dhtStats(): ReturnType<EngineDht['stats']> {
    return this.dht?.stats();
  }

  private makeDht(option: boolean | EngineDhtOptions): EngineDht | null {
    if (option === false) return null;
    return new EngineDht(
      option === true ? {} : option,
      {
        emit: (e) => this.emit(e),
        peersFound: (hex, peers) => this.peersFor(hex, peers, 'dht'),
        listenPort: () => this.port,
        random: this.random,
      },
      this.clock,
    );
  }

  /**
   * An incoming connection closed before it reached a torrent: a debug event (floods cost no more), or
   * info when our policy refused it (so `-v` says why such a peer never connects).
   */
  private refused(peer: string, reason: string, o: { level?: EventLevel; code?: string } = {}): void {
    this.emit({
      category: 'peer',
      type: 'IncomingRefused',
      level: o.level ?? 'debug',
      peer,
      reason,
      code: o.code,
    });
  }

  private emit(e: EventInput): void {
    this.events.next(e);
  }
}
