/**
 * A magnet link's fetcher: the runtime that finds peers for an info-hash whose torrent we do not have yet
 * and gets its info dictionary from them (BEP 9), folding everything through src/core/magnet-logic.ts.
 *
 * Owns: the connections (PeerConnection actors without a piece geometry: they speak BEP 10 and nothing
 * about pieces), the dialling, the magnet's trackers (an announcer while fetching), its LSD registration
 * (through the engine's `localDiscovery`), the `x.pe` peers of the link (host names resolved once), and
 * the one result: the verified info dictionary (`whenVerified`). Does not own: routing
 * incoming connections (the engine calls `acceptIncoming`), what becomes of the metadata (the engine's
 * `Magnet` handle, src/actors/magnet.ts, builds the torrent that replaces this fetcher), or any decision
 * (the logic's).
 *
 * Stopping: `stop('handover')` closes the connections and drops the announcer without a `stopped`
 * announce (the torrent that takes over announces as the same peer); `stop('cancel')` says `stopped`.
 * Supervision: a throw in the logic or an effect fails the fetch (`whenVerified` rejects); nothing
 * reaches the process.
 */
import { promises as dns } from 'node:dns';
import * as net from 'node:net';
import { Observable } from 'rxjs/internal/Observable';
import { Subject } from 'rxjs/internal/Subject';
import { ActorRef, createActor } from './actor';
import type { Announcer } from './announcer';
import { MAX_QUEUED_REQUESTS, PeerTransport } from './peer-connection';
import { TorrentConnections } from './torrent-connections';
import type { TorrentServices } from './torrent-options';
import { createTorrentAnnouncer } from './torrent-parts';
import { MagnetEffect, MagnetIn, MagnetLogic, magnetTransition } from '../core/magnet-logic';
import { ourExtensions } from '../core/peer-extensions';
import { PeerSource, ipOfKey } from '../core/peer-list';
import type { EventInput } from '../events/engine-event';
import type { MagnetLink } from '../protocol/magnet';
import type { PeerAddress } from '../protocol/tracker-codec';
import { BitSet, Handshake } from '../protocol/wire-codec';
import { METADATA_PIECE_SIZE } from '../protocol/ut-metadata';

export interface MagnetFetcherOptions {
  link: MagnetLink;
  /** Announce tiers (BEP 12); empty: no tracker. */
  trackers: string[][];
  /** Peers to dial besides the link's `x.pe`. */
  peers?: PeerAddress[];
  /** Connections while fetching (default 30). */
  maxPeers?: number;
  minAnnounceIntervalMs?: number;
}

export interface MagnetFetchStats {
  /** Connections open now. */
  peers: number;
  /** Addresses known. */
  known: number;
  /** Metadata size being assembled, when known; pieces received of it. */
  size?: number;
  have: number;
  pieces: number;
}

export class MagnetFetcher {
  readonly infoHashHex: string;
  private readonly events = new Subject<EventInput>();
  readonly events$: Observable<EventInput> = this.events.asObservable();
  readonly logic: MagnetLogic;
  private readonly conns: TorrentConnections;
  private readonly actor: ActorRef<MagnetIn, EventInput, MagnetLogic>;
  private announcer: Announcer | null = null;
  private state: 'new' | 'fetching' | 'done' | 'stopped' = 'new';
  private readonly verified: Promise<Buffer>;
  private settle!: { done: (info: Buffer) => void; fail: (err: Error) => void };

  constructor(
    private readonly o: MagnetFetcherOptions,
    private readonly svc: TorrentServices,
  ) {
    const { link } = o;
    this.infoHashHex = link.infoHashHex;
    this.verified = new Promise<Buffer>((done, fail) => (this.settle = { done, fail }));
    this.verified.catch(() => undefined); // a caller that never asks must not see an unhandled rejection
    this.logic = new MagnetLogic({
      infoHash: link.infoHash,
      peerId: svc.peerId,
      clock: svc.clock,
      maxPeers: o.maxPeers ?? 30,
      engineSlots: svc.slots,
      localAddresses: svc.localAddresses,
      port: svc.port,
    });
    this.actor = createActor<MagnetLogic, MagnetIn, EventInput, MagnetEffect>({
      name: `magnet ${link.infoHashHex}`,
      initial: this.logic,
      transition: magnetTransition,
      perform: (eff) => this.perform(eff),
      onError: (err) => this.fail(err instanceof Error ? err : new Error(String(err))),
    });
    this.actor.events$.subscribe((e) => this.emit(e));
    this.conns = new TorrentConnections({
      infoHash: link.infoHash,
      peerId: svc.peerId,
      geometry: null,
      ourBitfield: () => BitSet.empty(0),
      clock: svc.clock,
      downBucket: svc.downBucket,
      upBucket: svc.upBucket,
      inbox: (m) => this.actor.send(m),
      counted: svc.counted,
      dht: svc.dht,
      extensions: (key) => ourExtensions({ port: svc.port, reqq: MAX_QUEUED_REQUESTS, peerIp: ipOfKey(key) }),
    });
  }

  /** Starts looking for peers: the link's and the given ones, trackers, LSD. Idempotent. */
  start(): void {
    if (this.state !== 'new') return;
    this.state = 'fetching';
    this.emit({
      category: 'metadata',
      type: 'MetadataFetchStarted',
      name: this.o.link.name,
      trackers: this.o.trackers.length,
      peers: this.o.link.peers.length + (this.o.peers?.length ?? 0),
    });
    if (this.o.peers?.length) this.addPeers(this.o.peers, 'manual');
    void this.resolveLinkPeers();
    this.svc.localDiscovery?.(this.o.link.infoHash, true);
    if (this.o.trackers.length > 0) this.startAnnouncer();
  }

  /** The engine's one-second beat: keep-alives, timeouts, PEX, more peers. */
  tick(): void {
    if (this.state === 'fetching') this.actor.send({ type: 'Tick' });
  }

  /** Resolves with the verified info dictionary; rejects if the fetch is stopped or fails first. */
  whenVerified(): Promise<Buffer> {
    return this.verified;
  }

  get status(): 'new' | 'fetching' | 'done' | 'stopped' {
    return this.state;
  }

  /** An incoming connection the engine routed here (its handshake already read). */
  acceptIncoming(transport: PeerTransport, handshake: Handshake, key: string, ip: string): void {
    if (
      this.state !== 'fetching' ||
      this.logic.peerList.isBanned(ip) ||
      this.logic.peers.size >= (this.o.maxPeers ?? 30) + 10
    ) {
      transport.stream.destroy();
      return;
    }
    this.conns.open(key, transport, false, handshake);
  }

  addPeers(peers: readonly PeerAddress[], source: PeerSource): void {
    if (this.state === 'fetching') this.actor.send({ type: 'PeersFound', peers, source });
  }

  stats(): MagnetFetchStats {
    const p = this.logic.progress();
    return { peers: this.logic.peers.size, known: this.logic.peerList.size, ...p };
  }

  /**
   * Stops fetching: connections closed, announcer gone. `handover`: the torrent that replaces
   * this fetcher goes on as the same peer (no `stopped` announce, LSD stays registered). Idempotent.
   */
  async stop(how: 'handover' | 'cancel'): Promise<void> {
    if (this.state === 'stopped') return;
    const was = this.state;
    this.state = 'stopped';
    this.conns.closeAll(how === 'handover' ? 'metadata complete' : 'magnet removed');
    const a = this.announcer;
    this.announcer = null;
    if (how === 'handover') a?.abandon();
    else {
      this.svc.localDiscovery?.(this.o.link.infoHash, false);
      await a?.stop().catch(() => undefined);
    }
    this.actor.stop();
    if (was !== 'done') this.settle.fail(new Error('magnet removed before its metadata arrived'));
    this.events.complete();
  }

  // ---------------------------------------------------------------------------------------- effects

  private perform(eff: MagnetEffect): void {
    switch (eff.type) {
      case 'ToPeer':
        return this.conns.get(eff.key)?.send(eff.command);
      case 'Dial':
        return this.dial(eff.key, eff.ip, eff.port);
      case 'NeedPeers':
        return this.announcer?.needPeers();
      case 'MetadataVerified':
        this.state = 'done';
        this.settle.done(eff.info);
        return;
    }
  }

  private dial(key: string, ip: string, port: number): void {
    this.svc.connect(ip, port, this.o.link.infoHash, this.conns.ourHandshake(key)).then(
      (transport) => {
        if (this.state !== 'fetching') {
          transport.stream.destroy();
          return;
        }
        this.conns.open(key, transport, true);
      },
      (err: Error) => this.actor.send({ type: 'DialFailed', key, reason: err.message }),
    );
  }

  private startAnnouncer(): void {
    const a = createTorrentAnnouncer({
      infoHash: this.o.link.infoHash,
      peerId: this.svc.peerId,
      port: this.svc.port(),
      tiers: this.o.trackers,
      // The size is unknown: say something is left (not a seed), as other clients do.
      stats: () => ({ uploaded: 0, downloaded: 0, left: this.o.link.length ?? METADATA_PIECE_SIZE }),
      random: this.svc.random,
      minIntervalMs: this.o.minAnnounceIntervalMs,
    });
    this.announcer = a;
    a.peers$.subscribe((peers) => this.addPeers(peers, 'tracker'));
    a.events$.subscribe((e) => this.emit({ ...e, torrent: this.infoHashHex }));
    a.start();
  }

  /** The link's `x.pe` peers: IP literals at once, host names once resolved (a failure is an event). */
  private async resolveLinkPeers(): Promise<void> {
    const literal = this.o.link.peers.filter((p) => net.isIP(p.host));
    if (literal.length > 0)
      this.addPeers(
        literal.map((p) => ({ ip: p.host, port: p.port })),
        'manual',
      );
    for (const p of this.o.link.peers.filter((x) => !net.isIP(x.host))) {
      try {
        const { address } = await dns.lookup(p.host);
        this.addPeers([{ ip: address, port: p.port }], 'manual');
      } catch (err) {
        this.emit({
          category: 'metadata',
          type: 'MagnetPeerUnresolved',
          level: 'warn',
          peer: `${p.host}:${p.port}`,
          message: (err as Error).message,
        });
      }
    }
  }

  private fail(err: Error): void {
    this.emit({ category: 'error', type: 'MagnetFailed', level: 'error', message: err.message });
    this.settle.fail(err);
    void this.stop('cancel');
  }

  private emit(e: EventInput): void {
    if (!this.events.closed)
      this.events.next(e.torrent === undefined ? { ...e, torrent: this.infoHashHex } : e);
  }
}
