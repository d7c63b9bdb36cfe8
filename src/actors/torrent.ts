/**
 * One torrent in the engine: the runtime that composes its actors and performs the effects of its logic.
 *
 * Owns: the torrent actor (inbox → `torrentTransition` over `TorrentLogic`), its parts — storage (disk
 * writes with watermarks), verifier (hashes on the engine's pool), uploader (read cache, lazy
 * verification), resume keeper, choker, announcer — and one PeerConnection actor per connection; the
 * timers (1 s tick, 10 s choke rounds, resume saves); and the lifecycle: checking → downloading/seeding,
 * paused, stopped, or error. Every outcome of a promise or a part comes back as a message to the inbox.
 * Does not own: the listen socket, the hash pool, rate buckets, the peer id or the connection cap (the
 * engine's, src/actors/engine.ts), nor any decision (src/core/torrent-logic.ts).
 *
 * Supervision: a throw in the torrent's transition or an effect fails this torrent (status `error`, an
 * `error` event `TorrentFailed`, peers closed); the engine and other torrents go on.
 */
import { Observable } from 'rxjs/internal/Observable';
import { Subject } from 'rxjs/internal/Subject';
import { Subscription } from 'rxjs/internal/Subscription';
import type { ActorRef } from './actor';
import type { Announcer } from './announcer';
import type { createChokerActor } from './choker-actor';
import type { PeerTransport } from '../streams/peer-transport';
import type { ResumeKeeper } from './resume-keeper';
import type { StorageActor } from './storage-actor';
import { checkExisting } from './torrent-check';
import { TorrentConnections } from './torrent-connections';
import type { TorrentOptions, TorrentServices } from './torrent-options';
import { createTorrentCore, createTorrentParts, wireTorrentAnnouncer } from './torrent-parts';
import type { Uploader } from './uploader';
import type { Verifier } from './verifier';
import { CHOKE_INTERVAL_MS } from '../core/choker';
import type { PeerSource } from '../core/peer-list';
import { TorrentEffect, TorrentLogic } from '../core/torrent-logic';
import type { AnnounceState } from '../core/announce-state';
import type { TorrentIn } from '../core/torrent-transition';
import { EventInput } from '../events/engine-event';
import type { Metainfo } from '../protocol/metainfo';
import type { PeerAddress } from '../protocol/tracker-codec';
import type { Handshake } from '../protocol/wire-codec';
import { PieceStorage, StorageError } from '../storage/piece-storage';
import { currentFiles, resumePath } from '../storage/resume-file';
import { TorrentBeat, TorrentStatus, torrentStats, TorrentStats } from './torrent-stats';

export type { TorrentStatus, TorrentStats, TorrentOptions, TorrentServices };

export class Torrent {
  readonly meta: Metainfo;
  readonly infoHashHex: string;
  private readonly events = new Subject<EventInput>();
  /** Everything this torrent does, as engine events carrying `torrent`. */
  readonly events$: Observable<EventInput> = this.events.asObservable();
  readonly logic: TorrentLogic;
  private readonly storage: PieceStorage;
  private readonly conns: TorrentConnections;
  private readonly sub = new Subscription();
  private actor!: ActorRef<TorrentIn, EventInput, TorrentLogic>;
  private disk!: StorageActor;
  private verifier!: Verifier;
  private uploader!: Uploader;
  private resume: ResumeKeeper | null = null;
  private choker!: ReturnType<typeof createChokerActor>;
  private announcer: Announcer | null = null;
  private statusValue: TorrentStatus = 'new';
  private failure: Error | null = null;
  private readonly waiters: { done: () => void; fail?: (e: Error) => void }[] = [];
  private readonly fatalListeners: ((err: Error) => void)[] = [];
  private readonly resumeFile: string | false;
  /** What each tracker said last: swarm counts and how many peers it gave. */
  readonly trackerCounts = new Map<string, { seeders?: number; leechers?: number; peers: number }>();
  private readonly beat = new TorrentBeat();
  /** When things happened (for remote views). */
  readonly times = this.beat.times;

  constructor(
    readonly o: TorrentOptions,
    private readonly svc: TorrentServices,
  ) {
    this.meta = o.meta;
    this.infoHashHex = o.meta.infoHashHex;
    this.storage = new PieceStorage(o.meta, o.dir);
    this.resumeFile = o.resumeFile ?? resumePath(o.dir, o.meta.name);
    ({ logic: this.logic, conns: this.conns } = createTorrentCore(o, svc, (m) => this.actor.send(m)));
  }

  /** This torrent's own rate limits in bytes/s (0 = none; the process-wide ones apply as well). */
  setLimits(l: { down?: number; up?: number }): void {
    this.conns.setLimits(l, this.svc.clock());
  }

  /** The announcer's state (trackers, last results), while it runs. */
  announceState(): AnnounceState | undefined {
    return this.announcer?.snapshot();
  }

  get status(): TorrentStatus {
    return this.statusValue;
  }

  get error(): Error | null {
    return this.failure;
  }

  /** Opens (or creates) the files, checks what is there, then talks to peers and trackers. */
  async start(): Promise<void> {
    if (this.statusValue !== 'new') return;
    this.statusValue = 'checking';
    const before = await currentFiles(this.storage.paths);
    await this.storage.open({ create: this.o.mode === 'leech' });
    this.createParts();
    const result = await checkExisting({
      meta: this.meta,
      storage: this.storage,
      pool: this.svc.pool,
      mode: this.o.mode,
      verify: this.o.verify === true,
      resumeFile: this.resumeFile,
      before,
      clock: this.svc.clock,
      emit: (e) => this.emit(e),
    });
    if (this.failure || this.statusValue !== 'checking') return;
    this.actor.send({ type: 'Checked', have: result.have, unchecked: result.unchecked });
    this.resume?.send({ type: 'Ready' });
    const have = this.logic.picker.haveCount();
    this.emit({
      category: 'piece',
      type: 'CheckFinished',
      torrent: this.infoHashHex,
      have,
      pieces: this.meta.pieceCount,
    });
    if (this.o.mode === 'seed' && !this.logic.completed) {
      throw new StorageError(
        'size-mismatch',
        this.storage.paths[0],
        `cannot seed: ${this.meta.pieceCount - have} of ${this.meta.pieceCount} pieces do not match the torrent in ${this.storage.root}`,
      );
    }
    if (this.logic.completed) this.finish();
    this.activate();
  }

  /** Stops talking to peers and trackers; data and state stay (resume with `resume()`). */
  async pause(): Promise<void> {
    if (this.statusValue !== 'downloading' && this.statusValue !== 'seeding') return;
    this.statusValue = 'paused';
    this.deactivate();
    await Promise.all([this.stopAnnouncer(), this.resume?.save(true)]);
    for (const e of this.uploader.release()) this.actor.send({ type: 'Upload', out: e });
  }

  resumeTorrent(): void {
    if (this.statusValue !== 'paused') return;
    this.activate();
  }

  /** Stops cleanly: `stopped` announce, connections closed, data flushed, resume saved. Idempotent. */
  async stop(): Promise<void> {
    if (this.statusValue === 'stopped') return;
    const was = this.statusValue;
    this.statusValue = 'stopped';
    this.deactivate();
    this.conns.closeAll('shutting down');
    await this.stopAnnouncer();
    this.disk?.stop();
    // Resume last: data flushed and closed first, so the mtimes it records include every write.
    const closed = await this.storage.close().then(
      () => true,
      () => false,
    );
    if (closed && was !== 'new' && was !== 'checking') await this.resume?.save(true);
    for (const part of [this.actor, this.verifier, this.uploader, this.resume, this.choker]) part?.stop();
    this.sub.unsubscribe();
    this.emit({
      category: 'engine',
      type: 'SessionStopped',
      torrent: this.infoHashHex,
      ...this.publicStats(),
    });
    this.events.complete();
  }

  /** An incoming connection the engine's listener routed here (its handshake already read). */
  acceptIncoming(transport: PeerTransport, handshake: Handshake, key: string, ip: string): void {
    if (!this.actor || this.statusValue === 'stopped' || !this.logic.mayAccept(ip)) {
      transport.stream.destroy();
      return;
    }
    this.conns.open(key, transport, false, handshake);
  }

  addPeers(peers: readonly PeerAddress[], source: PeerSource): void {
    this.actor?.send({ type: 'PeersFound', peers, source });
  }

  whenComplete(): Promise<void> {
    if (this.logic.completed && this.statusValue !== 'checking') return Promise.resolve();
    return new Promise((done) => this.waiters.push({ done }));
  }

  /** Resolves on completion, rejects when the torrent fails. */
  whenFinishedOrFailed(): Promise<void> {
    if (this.failure) return Promise.reject(this.failure);
    if (this.logic.completed && this.statusValue !== 'checking') return Promise.resolve();
    return new Promise((done, fail) => this.waiters.push({ done, fail }));
  }

  onFatal(listener: (err: Error) => void): void {
    if (this.failure) listener(this.failure);
    else this.fatalListeners.push(listener);
  }

  stats(): TorrentStats {
    return torrentStats(this.logic, this.meta, this.statusValue, this.svc.clock(), this.svc.port());
  }

  // ------------------------------------------------------------------------------------------ parts

  private createParts(): void {
    const p = createTorrentParts({
      meta: this.meta,
      logic: this.logic,
      storage: this.storage,
      pool: this.svc.pool,
      buffers: this.svc.buffers,
      resumeFile: this.resumeFile,
      uploadSlots: this.o.uploadSlots ?? 8,
      clock: this.svc.clock,
      random: this.svc.random,
      perform: (eff) => this.perform(eff),
      emit: (e) => this.emit(e),
      fail: (err) => this.fail(err instanceof Error ? err : new Error(String(err))),
    });
    ({ actor: this.actor, disk: this.disk, verifier: this.verifier, uploader: this.uploader } = p);
    ({ resume: this.resume, choker: this.choker } = p);
    this.sub.add(p.sub);
  }

  private activate(): void {
    this.statusValue = this.logic.completed ? 'seeding' : 'downloading';
    this.actor.send({ type: 'SetActive', active: true });
    const now = this.svc.clock();
    this.lastChoke = this.lastResumeSave = now;
    this.beat.started(now);
    this.startAnnouncer();
    if (!this.meta.private) this.svc.localDiscovery?.(this.meta.infoHash, true);
    if (this.o.peers?.length) this.addPeers(this.o.peers, 'manual');
  }

  /**
   * The engine's one-second beat (one timer for every torrent, so an idle daemon with hundreds of
   * torrents wakes once a second, not hundreds of times): keep-alives and timeouts, a choke round every
   * CHOKE_INTERVAL_MS, a resume save every `resumeIntervalMs` when something changed, and a `Progress`
   * event when anything moved.
   */
  tick(now: number): void {
    if (this.statusValue !== 'downloading' && this.statusValue !== 'seeding') return;
    // An idle torrent (no connection, nobody to dial yet) has nothing to tick: hundreds stay cheap.
    if (this.logic.peers.size > 0 || this.logic.peerList.candidates(now, 1, this.logic.completed).length > 0)
      this.actor.send({ type: 'Tick' });
    if (now - this.lastChoke >= CHOKE_INTERVAL_MS) {
      this.lastChoke = now;
      if (this.logic.peers.size > 0) this.perform({ type: 'Choke', round: true }); // nobody to choke
    }
    if (now - this.lastResumeSave >= (this.o.resumeIntervalMs ?? 5_000)) {
      this.lastResumeSave = now;
      void this.resume?.save(false);
    }
    if (this.beat.beat(now, this.statusValue === 'seeding', this.stats()))
      this.emit({ category: 'engine', type: 'Progress', level: 'debug', torrent: this.infoHashHex, ...this.publicStats() }); // prettier-ignore
  }

  private lastChoke = 0;
  private lastResumeSave = 0;

  private deactivate(): void {
    if (!this.meta.private) this.svc.localDiscovery?.(this.meta.infoHash, false);
    this.actor?.send({ type: 'SetActive', active: false });
  }

  private startAnnouncer(): void {
    if (this.o.trackers.length === 0) return;
    const a = (this.announcer = wireTorrentAnnouncer({
      infoHash: this.meta.infoHash,
      peerId: this.svc.peerId,
      port: this.svc.port(),
      tiers: this.o.trackers,
      logic: this.logic,
      random: this.svc.random,
      minIntervalMs: this.o.minAnnounceIntervalMs,
      sub: this.sub,
      addPeers: (peers) => this.addPeers(peers, 'tracker'),
      counts: this.trackerCounts,
      emit: (e) => this.emit({ ...e, torrent: this.infoHashHex }),
    }));
    if (this.logic.completed) a.completed(); // before start(): complete already, no `completed` event
    a.start();
  }

  private async stopAnnouncer(): Promise<void> {
    const a = this.announcer;
    this.announcer = null;
    await a?.stop().catch(() => undefined);
  }

  // ---------------------------------------------------------------------------------------- effects

  private perform(eff: TorrentEffect): void {
    switch (eff.type) {
      case 'ToPeer':
        return this.conns.get(eff.key)?.send(eff.command);
      case 'Verify':
        return this.verifier.send({ type: 'Verify', index: eff.index, data: eff.data });
      case 'Write':
        return this.disk.send({ type: 'WriteBlock', index: eff.index, begin: 0, data: eff.data });
      case 'Read':
        return this.uploader.send({ type: 'ReadBlock', peer: eff.peer, span: eff.span, check: eff.check });
      case 'Dial':
        return this.dial(eff.key, eff.ip, eff.port);
      case 'ResumeVerified':
        return this.resume?.send({ type: 'Verified', index: eff.index });
      case 'SaveResume':
        return void this.resume?.save(false);
      case 'NeedPeers':
        return this.announcer?.needPeers();
      case 'Choke':
        if (eff.round)
          this.choker.send({
            type: 'Round',
            now: this.svc.clock(),
            seeding: this.logic.completed,
            peers: this.logic.chokerPeers(),
          });
        else if (eff.id)
          this.choker.send({ type: 'Interested', id: eff.id, unchoked: this.logic.unchokedCount() });
        return;
      case 'Completed':
        return void this.completed();
      case 'Fatal':
        return this.fail(eff.error instanceof StorageError ? eff.error : eff.error, true);
    }
  }

  private dial(key: string, ip: string, port: number): void {
    this.svc.connect(ip, port, this.meta.infoHash, this.conns.ourHandshake(key)).then(
      (transport) => {
        if (this.statusValue !== 'downloading' && this.statusValue !== 'seeding') {
          transport.stream.destroy();
          this.actor.send({ type: 'DialFailed', key, reason: 'torrent not active' });
          return;
        }
        this.conns.open(key, transport, true);
      },
      (err: Error) => this.actor?.send({ type: 'DialFailed', key, reason: err.message }),
    );
  }

  private async completed(): Promise<void> {
    await this.storage.flush().catch((err: Error) =>
      this.emit({
        category: 'error',
        type: 'FlushFailed',
        level: 'error',
        torrent: this.infoHashHex,
        message: err.message,
      }),
    );
    if (this.statusValue === 'downloading') this.statusValue = 'seeding';
    this.times.doneAt = this.svc.clock();
    this.emit({
      category: 'piece',
      type: 'DownloadCompleted',
      torrent: this.infoHashHex,
      ...this.publicStats(),
    });
    this.announcer?.completed();
    this.finish();
  }

  private finish(): void {
    for (const w of this.waiters.splice(0)) w.done();
  }

  /**
   * The torrent cannot go on: a fatal storage error, or a throw in one of its parts (a bug — peer data is
   * checked before it reaches them). Said once, as an `error` event; peers are closed; nothing reaches
   * the process as an unhandled error.
   */
  private fail(err: Error, reported = false): void {
    if (this.failure) return;
    this.failure = err;
    if (!reported)
      this.emit({
        category: 'error',
        type: 'TorrentFailed',
        level: 'error',
        torrent: this.infoHashHex,
        message: err.message,
      });
    if (this.statusValue !== 'stopped') this.statusValue = 'error';
    this.deactivate();
    this.conns.closeAll('torrent failed');
    void this.stopAnnouncer();
    for (const w of this.waiters.splice(0)) w.fail?.(err);
    for (const f of this.fatalListeners.splice(0)) f(err);
  }

  private publicStats(): Record<string, number> {
    const s = this.stats();
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
    this.events.next(e.torrent === undefined ? { ...e, torrent: this.infoHashHex } : e);
  }
}
