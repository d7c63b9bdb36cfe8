/**
 * One torrent being seeded or leeched: the runtime that wires the engine's parts together.
 *
 * Owns: the listen socket and outgoing connections (one PeerConnection actor each), the scheduler (picker
 * + per-peer credit), piece buffers for pieces in progress, verification on the hash pool, writes through
 * the storage actor, uploads from a small piece cache, the choker's rounds, the announcer, and the
 * session's event stream. Everything that happens arrives as a message on one inbox, so the engine's
 * state is only ever touched by one handler at a time.
 *
 * Data path of a block: socket → framing → PeerSentBlock → scheduler.blockReceived → copied into the
 * piece's buffer → (piece complete) hash in a worker → good: written to disk → PieceWritten → we have it,
 * HAVE to every peer; bad: blocks freed, senders blamed. A piece is never "ours" before it is verified
 * and written.
 *
 * Backpressure: each peer's credit follows its measured rate (pipelineDepth); requests stop while the
 * disk queue is above its high watermark or too many pieces wait for hashing; and the number of piece
 * buffers is capped — so memory does not grow with the file.
 *
 * Resume (src/core/resume-data.ts decides, src/storage/resume-file.ts stores): `start()` trusts the
 * pieces the resume file lists when their files are unchanged and hashes only the pieces of changed
 * files (all cores, `CheckProgress` events). The record is saved every `resumeIntervalMs` when a piece
 * was verified since, on `stop()` and after a fatal write error — always data fsync first, mtimes
 * second. A seed without `verify` serves at once: pieces not known verified are hashed when first read
 * for upload, and a piece that fails is never sent (`PieceCorrupt`, then refused to every peer).
 */
import { EventEmitter } from 'node:events';
import * as net from 'node:net';
import * as os from 'node:os';
import { Observable, Subject, Subscription } from 'rxjs';
import { Announcer, createAnnouncer } from './announcer';
import { PeerCommand, PeerConnection, PeerEvent } from './peer-connection';
import { StorageActor, createStorageActor } from './storage-actor';
import { chokeRound, CHOKE_INTERVAL_MS, OptimisticState } from '../core/choker';
import { BlockSpan, PiecePicker } from '../core/piece-picker';
import { RateMeter, pipelineDepth } from '../core/rate-meter';
import { Scheduler } from '../core/scheduler';
import { TokenBucket } from '../core/token-bucket';
import { EventInput } from '../events/engine-event';
import { Metainfo, pieceHash, pieceSize } from '../protocol/metainfo';
import { BitSet } from '../protocol/wire-codec';
import { PeerAddress } from '../protocol/tracker-codec';
import { PieceStorage, StorageError } from '../storage/piece-storage';
import { HashPool } from '../streams/hash-pool';
import { hashFiles } from './create-actor';
import { CurrentFile, bitfieldOf, planCheck } from '../core/resume-data';
import { currentFiles, readResume, resumePath, toResumeFiles, writeResume } from '../storage/resume-file';

export interface SessionOptions {
  meta: Metainfo;
  /** Download folder (the torrent's files are `dir/name…`). */
  dir: string;
  mode: 'seed' | 'leech';
  /** Listen port (0 = any free port). */
  port: number;
  /** Listen address; default all interfaces. */
  bind?: string;
  /** Announce tiers (BEP 12); empty = no tracker. */
  trackers: string[][];
  peerId: Buffer;
  /** Peers to dial besides the tracker's (e.g. `--peer host:port`). */
  peers?: PeerAddress[];
  maxPeers?: number;
  uploadSlots?: number;
  pool?: HashPool;
  clock?: () => number;
  random?: () => number;
  /**
   * Announce interval floor (default 30 s; lower for tests and LANs). The retry backoff after a tracker
   * failure scales with it: usual first retry after half of it, capped at 60 times it (15 s and 30 min at 30 s).
   */
  minAnnounceIntervalMs?: number;
  /** Process-wide rate limits (`--max-down`, `--max-up`), shared by every peer. */
  downBucket?: TokenBucket;
  upBucket?: TokenBucket;
  /** Hash every piece before starting, whatever the resume file says (`--verify`). */
  verify?: boolean;
  /** Resume file path; default `<dir>/.<name>.rxresume`; `false`: none. */
  resumeFile?: string | false;
  /** Save the resume file this often when something changed (default 5 s). */
  resumeIntervalMs?: number;
}

export interface SessionStats {
  pieces: number;
  have: number;
  bytesHave: number;
  downloaded: number;
  uploaded: number;
  wasted: number;
  downRate: number;
  upRate: number;
  peers: number;
  complete: boolean;
  port: number;
  /** When the first block of this run arrived (session clock, ms); null before. */
  firstByteAt: number | null;
}

type SessionIn =
  | { type: 'Peer'; conn: PeerConnection; event: PeerEvent }
  | { type: 'Tick' }
  | { type: 'ChokeRound' }
  | { type: 'PeersFound'; peers: PeerAddress[] }
  | { type: 'Incoming'; socket: net.Socket }
  | { type: 'Verified'; index: number; ok: boolean; data: Buffer }
  | { type: 'PieceWritten'; index: number }
  | { type: 'WriteFailed'; index: number; message: string; code?: string; path?: string }
  | { type: 'DiskPressure'; on: boolean };

const MAX_HASH_QUEUE = 16;
const REQUEST_TIMEOUT_MS = 30_000;
/** Redial backoff for a known address that refused or timed out: 5 s, 10 s, 20 s, then every 30 s. */
const REDIAL_BASE_MS = 5_000;
const REDIAL_MAX_MS = 30_000;
/** Fewer connected peers than this while downloading: ask the tracker for more (within its min interval). */
const FEW_PEERS = 3;
const MAX_BAD_PIECES = 3;
const READ_CACHE_PIECES = 16;
/** Periodic resume saves fsync the data at most this often (forced saves always do). */
const DATA_SYNC_INTERVAL_MS = 60_000;
const RESUME_INTERVAL_MS = 5_000;

export class TorrentSession {
  readonly meta: Metainfo;
  readonly picker: PiecePicker;
  readonly scheduler: Scheduler;
  private readonly events = new Subject<EventInput>();
  /** Everything the session does, as engine events (the CLI prints or logs them). */
  readonly events$: Observable<EventInput> = this.events.asObservable();
  private readonly inbox = new Subject<SessionIn>();
  private readonly sub = new Subscription();
  private readonly storage: PieceStorage;
  private disk!: StorageActor;
  private readonly pool: HashPool;
  private readonly ownPool: boolean;
  private readonly clock: () => number;
  private readonly random: () => number;
  private readonly peers = new Map<string, PeerConnection>();
  private readonly connecting = new Set<string>();
  /** Addresses to dial; `seed` once the peer there showed it had every piece (no use to us when complete). */
  private readonly known = new Map<string, KnownPeer>();
  private readonly banned = new Set<string>();
  private readonly badPieces = new Map<string, number>();
  private readonly buffers = new Map<number, Buffer>();
  private readonly readCache = new Map<number, Promise<Buffer>>();
  private hashing = 0;
  private diskPressure = false;
  private server: net.Server | null = null;
  private announcer: Announcer | null = null;
  private timers: NodeJS.Timeout[] = [];
  private optimistic: OptimisticState | undefined;
  private readonly downRate = new RateMeter();
  private readonly upRate = new RateMeter();
  private stats = { downloaded: 0, uploaded: 0, wasted: 0 };
  private firstByteAt: number | null = null;
  private listenPort = 0;
  private stopped = false;
  private completed = false;
  /** Every peer left while we were still downloading (said once, with `PeersLost`, until one is back). */
  private peersLost = false;
  private readonly done = new EventEmitter();
  private readonly localAddresses: Set<string>;
  /** Pieces verified by hash in this run or trusted from the resume file: what the resume file records. */
  private readonly verified = new Set<number>();
  /** Seed without --verify: pieces we serve but have not hashed yet (hashed on first upload read). */
  private readonly unverified = new Set<number>();
  /** Pieces whose bytes on disk failed that hash: never sent. */
  private readonly corrupt = new Set<number>();
  private readonly resumeFile: string | false;
  private resumeDirty = false;
  private saving: Promise<void> | null = null;
  private resumeError: string | undefined;
  /** The start-up check is done: from here on a resume save describes real state. */
  private checked = false;

  constructor(private readonly o: SessionOptions) {
    this.meta = o.meta;
    this.clock = o.clock ?? Date.now;
    this.random = o.random ?? Math.random;
    this.picker = new PiecePicker({
      pieceLength: o.meta.pieceLength,
      length: o.meta.length,
      pieceCount: o.meta.pieceCount,
      random: this.random,
    });
    const maxPeers = o.maxPeers ?? 60;
    // Piece buffers in flight: enough for every fast peer to work on its own pieces, and never more than
    // 24 MiB of them whatever the file size.
    const maxPieces = Math.max(8, Math.min(48, Math.floor((24 * 1024 * 1024) / o.meta.pieceLength)));
    this.scheduler = new Scheduler(this.picker, { maxPiecesInProgress: maxPieces, initialDepth: 32 });
    this.storage = new PieceStorage(o.meta, o.dir);
    this.pool = o.pool ?? new HashPool();
    this.ownPool = !o.pool;
    this.resumeFile = o.resumeFile ?? resumePath(o.dir, o.meta.name);
    this.localAddresses = new Set(['127.0.0.1', '::1', '0.0.0.0', '::']);
    for (const list of Object.values(os.networkInterfaces()))
      for (const a of list ?? []) this.localAddresses.add(a.address);
    void maxPeers;
  }

  /** Open (or create) the files, check what is already there, listen, and start announcing. */
  async start(): Promise<void> {
    const infoHash = this.meta.infoHashHex;
    // Sizes and mtimes before open: opening may extend a short file, which is then a changed file.
    const before = await currentFiles(this.storage.paths);
    const existing = await this.storage.open({ create: this.o.mode === 'leech' }).then(
      () => true,
      (err: unknown) => {
        throw err;
      },
    );
    void existing;
    this.disk = createStorageActor({
      storage: this.storage,
      pieceLength: this.meta.pieceLength,
      total: this.meta.length,
    });
    this.sub.add(
      this.disk.events$.subscribe((e) => {
        if (e.type === 'PieceWritten') this.inbox.next({ type: 'PieceWritten', index: e.index });
        else if (e.type === 'WriteFailed')
          this.inbox.next({
            type: 'WriteFailed',
            index: e.index,
            message: e.message,
            code: e.code,
            path: e.path,
          });
      }),
    );
    this.sub.add(this.disk.pressure$.subscribe((on) => this.inbox.next({ type: 'DiskPressure', on })));
    this.sub.add(this.inbox.subscribe((m) => this.handle(m)));

    await this.checkExisting(before);
    this.checked = true;
    this.emit({
      category: 'piece',
      type: 'CheckFinished',
      torrent: infoHash,
      have: this.picker.haveCount(),
      pieces: this.meta.pieceCount,
    });
    if (this.picker.isComplete()) this.completed = true;
    else if (this.o.mode === 'seed') {
      throw new StorageError(
        'size-mismatch',
        this.storage.paths[0],
        `cannot seed: ${this.meta.pieceCount - this.picker.haveCount()} of ${this.meta.pieceCount} pieces do not match the torrent in ${this.storage.root}`,
      );
    }

    await this.listen();
    this.timers.push(setInterval(() => this.inbox.next({ type: 'Tick' }), 1000));
    this.timers.push(setInterval(() => this.inbox.next({ type: 'ChokeRound' }), CHOKE_INTERVAL_MS));
    this.timers.push(
      setInterval(() => void this.saveResume(), this.o.resumeIntervalMs ?? RESUME_INTERVAL_MS),
    );
    for (const t of this.timers) t.unref();

    if (this.o.trackers.length > 0) {
      this.announcer = createAnnouncer({
        infoHash: this.meta.infoHash,
        peerId: this.o.peerId,
        port: this.listenPort,
        tiers: this.o.trackers,
        stats: () => ({
          uploaded: this.stats.uploaded,
          downloaded: this.stats.downloaded,
          left: this.bytesLeft(),
        }),
        random: this.random,
        minIntervalMs: this.o.minAnnounceIntervalMs,
        ...(this.o.minAnnounceIntervalMs !== undefined
          ? {
              backoffBaseMs: Math.min(15_000, this.o.minAnnounceIntervalMs / 2),
              backoffMaxMs: Math.min(30 * 60_000, this.o.minAnnounceIntervalMs * 60),
            }
          : {}),
      });
      this.sub.add(
        this.announcer.peers$.subscribe((peers) => this.inbox.next({ type: 'PeersFound', peers })),
      );
      this.sub.add(this.announcer.events$.subscribe((e) => this.emit({ ...e, torrent: infoHash })));
      if (this.completed) this.announcer.completed(); // before start(): complete already, no `completed` event
      this.announcer.start();
    }
    if (this.o.peers?.length) this.inbox.next({ type: 'PeersFound', peers: this.o.peers });
  }

  /** Resolves when every piece is verified and on disk. */
  whenComplete(): Promise<void> {
    if (this.completed) return Promise.resolve();
    return new Promise((resolve) => this.done.once('complete', resolve));
  }

  get port(): number {
    return this.listenPort;
  }

  snapshot(): SessionStats {
    const now = this.clock();
    return {
      pieces: this.meta.pieceCount,
      have: this.picker.haveCount() - this.corrupt.size,
      bytesHave: this.meta.length - this.bytesLeft(),
      downloaded: this.stats.downloaded,
      uploaded: this.stats.uploaded,
      wasted: this.stats.wasted,
      downRate: this.downRate.rate(now),
      upRate: this.upRate.rate(now),
      peers: this.peers.size,
      complete: this.completed,
      port: this.listenPort,
      firstByteAt: this.firstByteAt,
    };
  }

  /** Stop cleanly: `stopped` announce, sockets closed, data flushed. Safe to call twice. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    for (const t of this.timers) clearInterval(t);
    this.server?.close();
    for (const p of [...this.peers.values()]) {
      p.close('shutting down', false);
      if (!p.handshaked) continue;
      // The inbox ignores the PeerClosed that follows (we are stopped): report the peer's totals here.
      this.emit({
        category: 'peer',
        type: 'PeerDisconnected',
        peer: p.address,
        reason: 'shutting down',
        downloaded: p.downloaded,
        uploaded: p.uploaded,
      });
    }
    const announcer = this.announcer;
    this.announcer = null;
    await announcer?.stop().catch(() => undefined);
    this.sub.unsubscribe();
    this.disk?.stop();
    // Resume last: data flushed and closed first, so the mtimes it records include every write.
    const closed = await this.storage.close().then(
      () => true,
      () => false,
    );
    if (closed) await this.saveResume(true);
    if (this.ownPool) await this.pool.close();
    this.emit({
      category: 'engine',
      type: 'SessionStopped',
      torrent: this.meta.infoHashHex,
      ...this.publicStats(),
    });
    this.events.complete();
  }

  // ------------------------------------------------------------------------------------------ startup

  /**
   * What is already on disk: trusted from the resume file where its files are unchanged, hashed (only
   * those pieces, on every core) where they changed; a seed without `verify` hashes nothing now.
   */
  private async checkExisting(before: (CurrentFile | null)[]): Promise<void> {
    const m = this.meta;
    const loaded = this.resumeFile
      ? await readResume(this.resumeFile, {
          infoHashHex: m.infoHashHex,
          pieceLength: m.pieceLength,
          pieceCount: m.pieceCount,
          fileCount: m.files.length,
        })
      : ({ ok: false, reason: 'resume disabled' } as const);
    const record = loaded.ok ? loaded.record : undefined;
    const sizesOk = m.files.every((f, i) => before[i]?.size === f.length);
    const lazy = this.o.mode === 'seed' && !this.o.verify && sizesOk;
    // A seed whose files have the wrong size re-checks everything, as it always did.
    const force = this.o.verify === true || (this.o.mode === 'seed' && !sizesOk);
    const plan = planCheck(m, record, before, force);
    for (const i of plan.trusted) this.markVerified(i);
    this.emit({
      category: 'storage',
      type: 'ResumeLoaded',
      torrent: m.infoHashHex,
      resume: loaded.ok ? 'ok' : loaded.reason,
      trusted: plan.trusted.length,
      recheck: lazy ? 0 : plan.recheck.length,
      changedFiles: plan.changedFiles.map((i) => this.storage.paths[i]),
    });
    this.resumeDirty = true; // say what we found (and drop a stale or corrupt record) at the next save
    if (lazy) {
      for (let i = 0; i < m.pieceCount; i++) {
        if (this.verified.has(i)) continue;
        this.unverified.add(i);
        this.scheduler.pieceDone(i);
      }
      return;
    }
    if (plan.recheck.length === 0) return;
    const started = this.clock();
    const hashes = await hashFiles({
      layout: this.storage.layout(),
      total: m.length,
      pieceLength: m.pieceLength,
      pool: this.pool,
      pieces: plan.recheck,
      onEvent: (e) => {
        if (e.type === 'PiecesHashed')
          this.emit({
            category: 'piece',
            type: 'CheckProgress',
            level: 'debug',
            torrent: m.infoHashHex,
            done: e.done,
            pieces: e.pieces,
            bytes: e.bytes,
          });
      },
    });
    plan.recheck.forEach((index, k) => {
      if (hashes.subarray(k * 20, k * 20 + 20).equals(pieceHash(m, index))) this.markVerified(index);
    });
    this.emit({
      category: 'piece',
      type: 'PiecesChecked',
      torrent: m.infoHashHex,
      ms: this.clock() - started,
      checked: plan.recheck.length,
      have: this.picker.haveCount(),
    });
  }

  /** When data was last fsync'd for a resume save (clock ms). */
  private lastDataSync = 0;

  private markVerified(index: number): void {
    this.verified.add(index);
    this.unverified.delete(index);
    this.resumeDirty = true;
    this.scheduler.pieceDone(index);
  }

  /**
   * Records the verified pieces: bitfield first, then data fsync, then the files' sizes and mtimes, then
   * an atomic write. A failure keeps the previous file (it stays valid: it never claims more than was on
   * disk) and is reported once per distinct message.
   *
   * The data fsync runs on forced saves (stop, fatal error) and at most once a minute otherwise: an fsync
   * every 5 s of a file written at LAN speed flushes a gigabyte at a time and halved a 4 GiB download's
   * speed. The saves in between still record mtimes taken after the writes: after a process crash the
   * page cache holds the data anyway, and after a power cut a file whose mtime still matches had its
   * hole-filling writes committed before that metadata (ext4's default ordered mode); any other file no
   * longer matches and is re-checked.
   */
  private saveResume(force = false): Promise<void> {
    const file = this.resumeFile;
    if (!file || !this.checked || (!force && !this.resumeDirty)) return Promise.resolve();
    if (this.saving) return force ? this.saving.then(() => this.saveResume(true)) : this.saving;
    this.resumeDirty = false;
    const verified = bitfieldOf(this.meta.pieceCount, this.verified);
    const m = this.meta;
    const now = this.clock();
    const sync = force || now - this.lastDataSync >= DATA_SYNC_INTERVAL_MS;
    this.saving = (async () => {
      if (sync) {
        await this.storage.flush();
        this.lastDataSync = now;
      }
      const files = toResumeFiles(await currentFiles(this.storage.paths));
      await writeResume(file, {
        infoHash: m.infoHashHex,
        pieceLength: m.pieceLength,
        pieceCount: m.pieceCount,
        verified,
        files,
      });
      this.resumeError = undefined;
    })()
      .catch((err: Error) => {
        this.resumeDirty = true;
        if (this.resumeError === err.message) return;
        this.resumeError = err.message;
        this.emit({
          category: 'storage',
          type: 'ResumeSaveFailed',
          level: 'warn',
          torrent: m.infoHashHex,
          path: file,
          message: `cannot save resume data to ${file}: ${err.message}`,
        });
      })
      .finally(() => {
        this.saving = null;
      });
    return this.saving;
  }

  private listen(): Promise<void> {
    return new Promise((resolve, reject) => {
      const server = net.createServer((socket) => this.inbox.next({ type: 'Incoming', socket }));
      server.once('error', reject);
      server.listen({ port: this.o.port, host: this.o.bind }, () => {
        server.off('error', reject);
        server.on('error', (err) =>
          this.emit({ category: 'error', type: 'ListenError', level: 'error', message: err.message }),
        );
        this.listenPort = (server.address() as net.AddressInfo).port;
        this.server = server;
        this.emit({
          category: 'peer',
          type: 'Listening',
          torrent: this.meta.infoHashHex,
          port: this.listenPort,
          address: this.o.bind ?? '0.0.0.0',
        });
        resolve();
      });
    });
  }

  // ------------------------------------------------------------------------------------------ inbox

  private handle(m: SessionIn): void {
    if (this.stopped) {
      if (m.type === 'Incoming') m.socket.destroy();
      return;
    }
    switch (m.type) {
      case 'Peer':
        return this.onPeerEvent(m.conn, m.event);
      case 'Tick':
        return this.onTick();
      case 'ChokeRound':
        return this.runChoker();
      case 'PeersFound':
        for (const p of m.peers) this.learnPeer(p);
        return this.connectMore();
      case 'Incoming':
        return this.accept(m.socket);
      case 'Verified':
        return this.onVerified(m.index, m.ok, m.data);
      case 'PieceWritten':
        return this.onPieceWritten(m.index);
      case 'WriteFailed':
        return this.onWriteFailed(m);
      case 'DiskPressure':
        this.diskPressure = m.on;
        this.emit({ category: 'storage', type: m.on ? 'DiskBusy' : 'DiskReady', level: 'debug' });
        this.updatePause();
        if (!m.on) this.fillAll();
        return;
    }
  }

  // ------------------------------------------------------------------------------------------ peers

  private learnPeer(p: PeerAddress): void {
    if (!net.isIP(p.ip) || p.port <= 0 || p.port > 65535) return;
    const key = addressKey(p.ip, p.port);
    const k = this.known.get(key);
    // Listed again (by a tracker reply): fresh evidence it is there, so dial it without waiting out the
    // backoff; an address banned for bad data stays out.
    if (k && k.nextTry !== Number.MAX_SAFE_INTEGER) k.nextTry = 0;
    if (this.isSelf(p.ip, p.port) || this.banned.has(p.ip) || k) return;
    if (p.peerId && Buffer.from(p.peerId).equals(this.o.peerId)) return;
    this.known.set(key, { ip: p.ip, port: p.port, failures: 0, nextTry: 0, seed: false });
  }

  private isSelf(ip: string, port: number): boolean {
    return port === this.listenPort && this.localAddresses.has(ip.replace(/^::ffff:/, ''));
  }

  private connectMore(): void {
    if (this.stopped) return;
    const now = this.clock();
    const max = this.o.maxPeers ?? 60;
    // A finished seed does not dial other seeds' addresses: leechers find it through the tracker.
    for (const [key, k] of this.known) {
      if (this.peers.size + this.connecting.size >= max || this.connecting.size >= 16) break;
      if (this.peers.has(key) || this.connecting.has(key) || k.nextTry > now) continue;
      if (this.completed && k.seed) continue;
      this.dial(key, k);
    }
  }

  private dial(key: string, k: KnownPeer): void {
    this.connecting.add(key);
    const socket = net.connect({ host: k.ip, port: k.port });
    socket.setTimeout(10_000);
    const fail = (why: string): void => {
      socket.destroy();
      if (!this.connecting.delete(key)) return;
      k.failures++;
      k.nextTry = this.clock() + Math.min(REDIAL_MAX_MS, REDIAL_BASE_MS * 2 ** Math.min(6, k.failures - 1));
      this.emit({ category: 'peer', type: 'ConnectFailed', level: 'debug', peer: key, reason: why });
    };
    socket.once('error', (err) => fail(err.message));
    socket.once('timeout', () => fail('connect timeout'));
    socket.once('connect', () => {
      socket.setTimeout(0);
      socket.removeAllListeners('error');
      socket.removeAllListeners('timeout');
      if (!this.connecting.delete(key) || this.stopped) {
        socket.destroy();
        return;
      }
      k.failures = 0;
      this.attach(socket, key, true);
    });
  }

  private accept(socket: net.Socket): void {
    const ip = (socket.remoteAddress ?? '').replace(/^::ffff:/, '');
    if (this.banned.has(ip) || this.peers.size >= (this.o.maxPeers ?? 60) + 10) {
      socket.destroy();
      return;
    }
    this.attach(socket, addressKey(ip, socket.remotePort ?? 0), false);
  }

  private attach(socket: net.Socket, key: string, outgoing: boolean): void {
    socket.on('error', () => undefined); // reported through the connection's stream
    const conn = new PeerConnection({
      socket,
      address: key,
      outgoing,
      infoHash: this.meta.infoHash,
      peerId: this.o.peerId,
      geometry: this.meta,
      ourBitfield: () => this.ourBitfield(),
      clock: this.clock,
      downBucket: this.o.downBucket,
      upBucket: this.o.upBucket,
    });
    this.peers.set(key, conn);
    this.scheduler.addPeer(key);
    conn.events$.subscribe((event) => this.inbox.next({ type: 'Peer', conn, event }));
  }

  private onPeerEvent(conn: PeerConnection, e: PeerEvent): void {
    const id = conn.address;
    if (this.peers.get(id) !== conn) return;
    switch (e.type) {
      case 'PeerHandshaked': {
        for (const [other, c] of this.peers) {
          if (c !== conn && c.peerId?.equals(e.peerId)) {
            conn.close(`duplicate connection (already connected as ${other})`, false);
            return;
          }
        }
        this.emit({
          category: 'peer',
          type: 'PeerConnected',
          peer: id,
          client: clientName(e.peerId),
          fast: e.fast,
          outgoing: conn.outgoing,
        });
        if (this.peersLost) {
          this.peersLost = false;
          this.emit({ category: 'peer', type: 'PeersReturned', torrent: this.meta.infoHashHex, peer: id });
        }
        return;
      }
      case 'PeerGotBitfield':
        this.scheduler.peerBitfield(id, e.bits);
        return this.updateInterest(conn);
      case 'PeerGotHaveAll':
        this.scheduler.peerHaveAll(id);
        return this.updateInterest(conn);
      case 'PeerGotHave':
        this.scheduler.peerHave(id, e.index);
        return this.updateInterest(conn);
      case 'PeerGotAllowedFast':
        this.scheduler.peerAllowedFast(id, e.index);
        return this.fill(conn);
      case 'PeerChokedUs':
        this.scheduler.peerChoked(id, conn.fast);
        this.emit({ category: 'peer', type: 'PeerChokedUs', peer: id, level: 'debug' });
        return;
      case 'PeerUnchokedUs':
        this.scheduler.peerUnchoked(id);
        this.emit({ category: 'peer', type: 'PeerUnchokedUs', peer: id, level: 'debug' });
        return this.fill(conn);
      case 'PeerInterested':
      case 'PeerNotInterested':
        // Give a newly interested peer a free slot now rather than at the next 10 s round.
        if (
          e.type === 'PeerInterested' &&
          conn.amChoking &&
          this.unchokedCount() < (this.o.uploadSlots ?? 8)
        ) {
          this.setChoke(conn, false);
        }
        return;
      case 'PeerSentBlock':
        return this.onBlock(conn, e.span, e.data);
      case 'PeerRejected':
        this.scheduler.rejected(id, e.span);
        return this.fill(conn);
      case 'PeerWantsBlock':
        return this.serveBlock(conn, e.span);
      case 'PeerClosed': {
        const k = this.known.get(id);
        if (k && this.scheduler.peerPieces(id) === this.meta.pieceCount) k.seed = true;
        this.peers.delete(id);
        this.scheduler.removePeer(id);
        this.emit({
          category: 'peer',
          type: 'PeerDisconnected',
          peer: id,
          reason: e.reason,
          level: e.violation ? 'warn' : 'info',
          downloaded: conn.downloaded,
          uploaded: conn.uploaded,
        });
        if (e.violation) this.strike(id, e.reason);
        if (!this.completed && conn.handshaked) this.onPeerLeft();
        this.fillAll();
        this.connectMore();
        return;
      }
    }
  }

  /** While downloading: ask for peers when few are left, and say once that none are. */
  private onPeerLeft(): void {
    let connected = 0;
    for (const c of this.peers.values()) if (c.handshaked && !c.closed) connected++;
    if (connected < FEW_PEERS) this.announcer?.needPeers();
    if (connected > 0 || this.peersLost) return;
    this.peersLost = true;
    this.emit({
      category: 'peer',
      type: 'PeersLost',
      level: 'warn',
      torrent: this.meta.infoHashHex,
      have: this.picker.haveCount(),
      pieces: this.meta.pieceCount,
    });
  }

  private updateInterest(conn: PeerConnection): void {
    if (this.completed && this.scheduler.peerPieces(conn.address) === this.meta.pieceCount) {
      conn.close('both sides are seeds', false); // neither has anything the other wants
      return;
    }
    const want = this.scheduler.isInteresting(conn.address);
    conn.send({ type: 'SetInterested', interested: want });
    if (want) this.fill(conn);
  }

  private fill(conn: PeerConnection): void {
    if (conn.closed || !conn.amInterested) return;
    const spans = this.scheduler.fill(conn.address, this.clock());
    if (spans.length > 0) conn.send({ type: 'RequestBlocks', spans });
  }

  private fillAll(): void {
    for (const c of this.peers.values()) this.fill(c);
  }

  private onBlock(conn: PeerConnection, span: BlockSpan, data: Buffer): void {
    const outcome = this.scheduler.blockReceived(conn.address, span);
    if (outcome.kind === 'unexpected') {
      this.stats.wasted += data.length;
      return this.fill(conn);
    }
    let buf = this.buffers.get(span.index);
    if (!buf) {
      // Over 4 KiB, so not from Node's shared pool: the hash worker can take and give back the memory.
      buf = Buffer.allocUnsafe(pieceSize(this.meta, span.index));
      this.buffers.set(span.index, buf);
    }
    data.copy(buf, span.begin);
    this.firstByteAt ??= this.clock();
    this.stats.downloaded += data.length;
    this.downRate.add(data.length, this.clock());
    for (const c of outcome.cancels) this.peers.get(c.peer)?.send({ type: 'CancelBlock', span: c.span });
    if (outcome.complete) this.verify(span.index);
    this.fill(conn);
  }

  private verify(index: number): void {
    const buf = this.buffers.get(index) as Buffer;
    this.buffers.delete(index);
    this.hashing++;
    this.updatePause();
    this.pool.hashOwned(buf).then(
      ({ hash, bytes }) =>
        this.inbox.next({
          type: 'Verified',
          index,
          ok: hash.equals(pieceHash(this.meta, index)),
          data: bytes,
        }),
      () => this.inbox.next({ type: 'Verified', index, ok: false, data: Buffer.alloc(0) }),
    );
  }

  private onVerified(index: number, ok: boolean, data: Buffer): void {
    this.hashing--;
    this.updatePause();
    if (!ok) {
      const blamed = this.scheduler.pieceFailed(index);
      this.stats.wasted += data.length;
      this.emit({
        category: 'piece',
        type: 'HashFailed',
        level: 'warn',
        torrent: this.meta.infoHashHex,
        index,
        peers: blamed,
      });
      // A piece built from several peers' blocks cannot tell who lied: each shares the strike, so an
      // honest peer that happened to contribute is not banned alongside a bad one.
      for (const id of blamed) this.strike(id, `sent bad data for piece ${index}`, 1 / blamed.length);
      this.fillAll();
      return;
    }
    this.disk.send({ type: 'WriteBlock', index, begin: 0, data });
    this.fillAll();
  }

  private onPieceWritten(index: number): void {
    if (this.picker.hasPiece(index)) return;
    this.scheduler.pieceDone(index);
    this.verified.add(index);
    this.resumeDirty = true;
    this.emit({
      category: 'piece',
      type: 'PieceVerified',
      level: 'debug',
      torrent: this.meta.infoHashHex,
      index,
      have: this.picker.haveCount(),
      pieces: this.meta.pieceCount,
    });
    for (const c of this.peers.values()) {
      if (!c.handshaked) continue;
      c.send({ type: 'SendHave', index });
      if (c.amInterested && !this.scheduler.isInteresting(c.address))
        c.send({ type: 'SetInterested', interested: false });
    }
    if (this.picker.isComplete()) void this.onComplete();
  }

  private async onComplete(): Promise<void> {
    if (this.completed) return;
    this.completed = true;
    await this.storage
      .flush()
      .catch((err: Error) =>
        this.emit({ category: 'error', type: 'FlushFailed', level: 'error', message: err.message }),
      );
    this.emit({
      category: 'piece',
      type: 'DownloadCompleted',
      torrent: this.meta.infoHashHex,
      ...this.publicStats(),
    });
    this.announcer?.completed();
    for (const c of [...this.peers.values()]) {
      if (this.scheduler.peerPieces(c.address) === this.meta.pieceCount)
        c.close('both sides are seeds', false);
    }
    this.runChoker();
    this.done.emit('complete');
  }

  private onWriteFailed(m: { index: number; message: string; code?: string; path?: string }): void {
    this.scheduler.pieceAbandoned(m.index);
    void this.saveResume(); // what is verified stays verified on the next start
    this.emit({
      category: 'error',
      type: 'WriteFailed',
      level: 'error',
      torrent: this.meta.infoHashHex,
      index: m.index,
      code: m.code,
      path: m.path,
      message: m.message,
    });
    this.done.emit('error', new StorageError(m.code ?? 'EIO', m.path, m.message));
  }

  /** Resolves on completion, rejects on a fatal storage error. */
  whenFinishedOrFailed(): Promise<void> {
    if (this.completed) return Promise.resolve();
    return new Promise((resolve, reject) => {
      this.done.once('complete', resolve);
      this.done.once('error', reject);
    });
  }

  /** Fatal storage errors (disk full, permission denied) while running. */
  onFatal(listener: (err: StorageError) => void): void {
    this.done.on('error', listener);
  }

  private strike(id: string, reason: string, weight = 1): void {
    const ip = id.slice(0, id.lastIndexOf(':')).replace(/^\[|\]$/g, '');
    const n = (this.badPieces.get(ip) ?? 0) + weight;
    this.badPieces.set(ip, n);
    if (n >= MAX_BAD_PIECES && !this.banned.has(ip) && !this.localAddresses.has(ip)) {
      this.banned.add(ip);
      this.emit({ category: 'peer', type: 'PeerBanned', level: 'warn', peer: id, reason });
    }
    if (n >= MAX_BAD_PIECES) {
      // Loopback peers share one address: ban the connection, not the machine.
      this.peers.get(id)?.close(`banned: ${reason}`, false);
      const k = this.known.get(id);
      if (k) k.nextTry = Number.MAX_SAFE_INTEGER;
    }
  }

  // ------------------------------------------------------------------------------------------ uploads

  private serveBlock(conn: PeerConnection, span: BlockSpan): void {
    if (!this.picker.hasPiece(span.index) || this.corrupt.has(span.index)) {
      conn.send({ type: 'BlockUnavailable', span });
      return;
    }
    this.readPiece(span.index).then(
      (piece) => {
        if (conn.closed) return;
        conn.send({ type: 'SendBlock', span, data: piece.subarray(span.begin, span.begin + span.length) });
        this.stats.uploaded += span.length;
        this.upRate.add(span.length, this.clock());
      },
      (err: Error) => {
        if (!this.corrupt.has(span.index))
          this.emit({
            category: 'error',
            type: 'ReadFailed',
            level: 'error',
            index: span.index,
            message: err.message,
          });
        conn.send({ type: 'BlockUnavailable', span });
      },
    );
  }

  /** Whole pieces are read once and served block by block from a small LRU. */
  private readPiece(index: number): Promise<Buffer> {
    let p = this.readCache.get(index);
    if (p) {
      this.readCache.delete(index);
      this.readCache.set(index, p);
      return p;
    }
    p = this.storage.readPiece(index);
    if (this.unverified.has(index)) p = p.then((bytes) => this.verifyRead(index, bytes));
    p.catch(() => this.readCache.delete(index));
    this.readCache.set(index, p);
    if (this.readCache.size > READ_CACHE_PIECES)
      this.readCache.delete(this.readCache.keys().next().value as number);
    return p;
  }

  /** A seed's first read of a piece it has not hashed: the bytes go out only if they match. */
  private async verifyRead(index: number, bytes: Buffer): Promise<Buffer> {
    const { hash, bytes: back } = await this.pool.hashOwned(bytes);
    if (hash.equals(pieceHash(this.meta, index))) {
      if (this.unverified.delete(index)) this.markVerified(index);
      return back;
    }
    if (!this.corrupt.has(index)) {
      this.corrupt.add(index);
      this.unverified.delete(index);
      this.emit({
        category: 'error',
        type: 'PieceCorrupt',
        level: 'error',
        torrent: this.meta.infoHashHex,
        index,
        message: `piece ${index} on disk does not match the torrent (file changed?); not sending it — run with --verify to check every piece`,
      });
    }
    throw new StorageError('hash-mismatch', undefined, `piece ${index} failed its hash check`);
  }

  // ------------------------------------------------------------------------------------------ timers

  private onTick(): void {
    const now = this.clock();
    for (const c of this.peers.values()) {
      c.tick(now);
      if (!c.closed)
        this.scheduler.setDepth(
          c.address,
          pipelineDepth(c.downRate.rate(now), { minDepth: 8, maxDepth: 500 }),
        );
    }
    for (const t of this.scheduler.expire(now, REQUEST_TIMEOUT_MS)) {
      this.peers.get(t.peer)?.send({ type: 'CancelBlock', span: t.span });
    }
    this.fillAll();
    this.connectMore();
    this.emit({
      category: 'engine',
      type: 'Progress',
      level: 'debug',
      torrent: this.meta.infoHashHex,
      ...this.publicStats(),
    });
  }

  private runChoker(): void {
    const now = this.clock();
    const list = [...this.peers.values()].filter((c) => c.handshaked);
    const decision = chokeRound(
      list.map((c) => ({
        id: c.address,
        interested: c.peerInterested,
        downloadRate: c.downRate.rate(now),
        uploadRate: c.upRate.rate(now),
      })),
      {
        seeding: this.completed,
        slots: this.o.uploadSlots ?? 8,
        now,
        optimistic: this.optimistic,
        random: this.random,
      },
    );
    this.optimistic = decision.optimistic;
    for (const id of decision.unchoke) {
      const c = this.peers.get(id);
      if (c) this.setChoke(c, false);
    }
    for (const id of decision.choke) {
      const c = this.peers.get(id);
      // Keep uninterested peers as they are: choking them changes nothing and costs a message.
      if (c && c.peerInterested) this.setChoke(c, true);
    }
  }

  private setChoke(c: PeerConnection, choke: boolean): void {
    if (c.amChoking === choke) return;
    c.send(choke ? { type: 'Choke' } : { type: 'Unchoke' });
    this.emit({ category: 'peer', type: choke ? 'PeerChoked' : 'PeerUnchoked', peer: c.address });
  }

  private unchokedCount(): number {
    let n = 0;
    for (const c of this.peers.values()) if (!c.amChoking) n++;
    return n;
  }

  private updatePause(): void {
    this.scheduler.setPaused(this.diskPressure || this.hashing >= MAX_HASH_QUEUE);
  }

  // ------------------------------------------------------------------------------------------ helpers

  private ourBitfield(): BitSet {
    const bits = BitSet.empty(this.meta.pieceCount);
    for (let i = 0; i < this.meta.pieceCount; i++)
      if (this.picker.hasPiece(i) && !this.corrupt.has(i)) bits.set(i);
    return bits;
  }

  private bytesLeft(): number {
    let left = 0;
    for (let i = 0; i < this.meta.pieceCount; i++)
      if (!this.picker.hasPiece(i)) left += pieceSize(this.meta, i);
    return left;
  }

  private publicStats(): Record<string, number | boolean> {
    const s = this.snapshot();
    return {
      have: s.have,
      pieces: s.pieces,
      downloaded: s.downloaded,
      uploaded: s.uploaded,
      wasted: s.wasted,
      peers: s.peers,
    };
  }

  private emit(e: EventInput): void {
    this.events.next(e);
  }
}

interface KnownPeer {
  ip: string;
  port: number;
  failures: number;
  nextTry: number;
  seed: boolean;
}

function addressKey(ip: string, port: number): string {
  return ip.includes(':') ? `[${ip}]:${port}` : `${ip}:${port}`;
}

/** `-qB4650-…` → `qB 4.6.5.0`; anything else shown as hex prefix. */
export function clientName(peerId: Buffer): string {
  const s = peerId.toString('latin1', 0, 8);
  const m = /^-([A-Za-z~]{2})([0-9A-Za-z]{4})-$/.exec(s);
  return m ? `${m[1]} ${m[2].split('').join('.')}` : peerId.toString('hex', 0, 4);
}

export type { PeerCommand };
