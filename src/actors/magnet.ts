/**
 * A torrent added by magnet link: the engine's handle for it from "downloading metadata" to a running
 * torrent. `Engine.addMagnet` returns one; `serve`, the CLI and tests use only what is public here.
 *
 * Owns: the lifecycle — a `MagnetFetcher` (src/actors/magnet-fetcher.ts) finds peers (the link's `x.pe`,
 * its trackers, LSD, PEX, later the DHT) and gets the info dictionary; once it is verified, a .torrent is
 * built around it (the bytes as received, the link's trackers), the fetcher is stopped, and the engine
 * adds a real `Torrent` for it that is started with every address the fetcher learned (by their source).
 * The fetcher's connections are closed rather than handed over: they spoke without a piece geometry, and
 * the torrent dials the same peers again at once. Does not own: the torrent store (the CLI and `serve`
 * publish `torrentFile` where they keep torrents) or routing (the engine's).
 *
 * Status: `new` → `downloading metadata` → `starting` (metadata verified; files being opened and
 * checked) → `started`; or `removed`, or `error` (the metadata hashes right but is not a torrent we can
 * use, e.g. an unsafe file name; or the torrent failed to start).
 *
 * @example
 *   const m = engine.addMagnet('magnet:?xt=urn:btih:…&tr=…', { dir: 'downloads' });
 *   m.start();
 *   const { meta, torrentFile } = await m.whenMetadata(); // status was 'downloading metadata'
 *   await store.publish(`${meta.name}.torrent`, torrentFile);
 *   const torrent = await m.whenTorrent(); // started, downloading
 */
import { Observable } from 'rxjs/internal/Observable';
import { MagnetFetchStats, MagnetFetcher } from './magnet-fetcher';
import type { PeerTransport } from './peer-connection';
import type { Torrent } from './torrent';
import type { TorrentOptions, TorrentServices } from './torrent-options';
import type { PeerSource } from '../core/peer-list';
import type { EventInput } from '../events/engine-event';
import type { MagnetLink } from '../protocol/magnet';
import { Metainfo, MetainfoError, parseMetainfo } from '../protocol/metainfo';
import { torrentFromMetadata } from '../protocol/torrent-from-metadata';
import type { PeerAddress } from '../protocol/tracker-codec';
import type { Handshake } from '../protocol/wire-codec';

export interface MagnetOptions extends Omit<TorrentOptions, 'meta' | 'trackers' | 'mode'> {
  /** Announce tiers before the link's own `tr` (each of which becomes a tier of its own). */
  trackers?: string[][];
  /** Connections while fetching the metadata (default 30). */
  fetchPeers?: number;
}

export type MagnetStatus = 'new' | 'downloading metadata' | 'starting' | 'started' | 'removed' | 'error';

export interface MagnetMetadata {
  meta: Metainfo;
  /** A .torrent for it: the info dictionary exactly as received, with the link's trackers. */
  torrentFile: Buffer;
  /** From `start()` to the verified info dictionary. */
  elapsedMs: number;
}

export interface MagnetStats extends MagnetFetchStats {
  status: MagnetStatus;
}

/** What the engine lends a magnet: the services every torrent gets, and adding the torrent itself. */
export interface MagnetHost {
  services: TorrentServices;
  /** Adds the torrent that replaces the fetcher (not started). */
  adopt(opts: TorrentOptions): Torrent;
  /** The magnet is done with (started, removed or failed): stop routing to it. */
  forget(infoHashHex: string): void;
}

export class Magnet {
  readonly infoHashHex: string;
  /** The fetcher's events (the torrent's come from the engine's `events$`, like any torrent's). */
  readonly events$: Observable<EventInput>;
  private readonly fetcher: MagnetFetcher;
  private readonly trackers: string[][];
  private statusValue: MagnetStatus = 'new';
  private failure: Error | null = null;
  private torrentValue: Torrent | undefined;
  private startedAt = 0;
  private readonly metadata: Promise<MagnetMetadata>;
  private readonly started: Promise<Torrent>;
  private settle!: {
    metadata: (m: MagnetMetadata) => void;
    metadataFailed: (e: Error) => void;
    torrent: (t: Torrent) => void;
    torrentFailed: (e: Error) => void;
  };

  constructor(
    readonly link: MagnetLink,
    readonly opts: MagnetOptions,
    private readonly host: MagnetHost,
  ) {
    this.infoHashHex = link.infoHashHex;
    this.trackers = [...(opts.trackers ?? []), ...link.trackers.map((t) => [t])];
    const settle: Partial<Magnet['settle']> = {};
    this.metadata = new Promise((done, fail) =>
      Object.assign(settle, { metadata: done, metadataFailed: fail }),
    );
    this.started = new Promise((done, fail) => Object.assign(settle, { torrent: done, torrentFailed: fail }));
    this.settle = settle as Magnet['settle'];
    // Callers that never ask must not see unhandled rejections.
    this.metadata.catch(() => undefined);
    this.started.catch(() => undefined);
    this.fetcher = new MagnetFetcher(
      {
        link,
        trackers: this.trackers,
        peers: opts.peers,
        maxPeers: opts.fetchPeers,
        minAnnounceIntervalMs: opts.minAnnounceIntervalMs,
      },
      host.services,
    );
    this.events$ = this.fetcher.events$;
  }

  get status(): MagnetStatus {
    return this.statusValue;
  }

  /** The link's `dn`, the torrent's name once known, else the info-hash. */
  get name(): string {
    return this.torrentValue?.meta.name ?? this.link.name ?? this.infoHashHex;
  }

  get error(): Error | null {
    return this.failure;
  }

  /** The torrent, once the metadata is in and it has been added. */
  get torrent(): Torrent | undefined {
    return this.torrentValue;
  }

  /** Starts fetching the metadata. Idempotent. */
  start(): void {
    if (this.statusValue !== 'new') return;
    this.statusValue = 'downloading metadata';
    this.startedAt = this.host.services.clock();
    this.fetcher.start();
    this.fetcher.whenVerified().then(
      (info) => void this.verified(info),
      (err: Error) => this.fail(err),
    );
  }

  /** Resolves with the verified metadata; rejects if the magnet is removed or fails first. */
  whenMetadata(): Promise<MagnetMetadata> {
    return this.metadata;
  }

  /** Resolves with the started torrent; rejects if the magnet is removed or fails first. */
  whenTorrent(): Promise<Torrent> {
    return this.started;
  }

  stats(): MagnetStats {
    return { status: this.statusValue, ...this.fetcher.stats() };
  }

  /** The engine's one-second beat, while the metadata is being fetched. */
  tick(): void {
    this.fetcher.tick();
  }

  /** An incoming connection for this info-hash while the metadata is being fetched. */
  acceptIncoming(transport: PeerTransport, handshake: Handshake, key: string, ip: string): void {
    this.fetcher.acceptIncoming(transport, handshake, key, ip);
  }

  addPeers(peers: readonly PeerAddress[], source: PeerSource): void {
    this.fetcher.addPeers(peers, source);
  }

  /** Stops fetching (the engine's `remove`); a torrent already started is the engine's to remove. */
  async remove(): Promise<void> {
    if (this.statusValue === 'removed' || this.statusValue === 'started' || this.statusValue === 'error')
      return;
    this.statusValue = 'removed';
    this.host.forget(this.infoHashHex);
    await this.fetcher.stop('cancel');
    const err = new Error('magnet removed');
    this.settle.metadataFailed(err);
    this.settle.torrentFailed(err);
  }

  private async verified(info: Buffer): Promise<void> {
    if (this.statusValue !== 'downloading metadata') return;
    const torrentFile = torrentFromMetadata(info, this.trackers);
    let meta: Metainfo;
    try {
      meta = parseMetainfo(torrentFile);
    } catch (err) {
      // It hashes right, so every peer will send the same: nothing to retry.
      const why = err instanceof MetainfoError ? err.message : String(err);
      return this.fail(new Error(`the metadata of ${this.infoHashHex} is not a usable torrent: ${why}`));
    }
    const known = this.fetcher.logic.knownPeers();
    await this.fetcher.stop('handover');
    if (meta.private) this.host.services.localDiscovery?.(meta.infoHash, false); // BEP 27
    this.statusValue = 'starting';
    this.settle.metadata({ meta, torrentFile, elapsedMs: this.host.services.clock() - this.startedAt });
    const { trackers: _extra, fetchPeers: _fetch, ...torrentOpts } = this.opts;
    let torrent: Torrent;
    try {
      this.host.forget(this.infoHashHex);
      torrent = this.host.adopt({ ...torrentOpts, meta, mode: 'leech', trackers: this.trackers });
      this.torrentValue = torrent;
      await torrent.start();
    } catch (err) {
      return this.fail(err instanceof Error ? err : new Error(String(err)));
    }
    if (torrent.status === 'stopped') return this.fail(new Error('removed while starting'));
    for (const [source, peers] of known) torrent.addPeers(peers, source);
    this.statusValue = 'started';
    this.settle.torrent(torrent);
  }

  private fail(err: Error): void {
    if (this.statusValue === 'removed' || this.statusValue === 'error') return;
    this.statusValue = 'error';
    this.failure = err;
    this.host.forget(this.infoHashHex);
    void this.fetcher.stop('cancel');
    this.settle.metadataFailed(err);
    this.settle.torrentFailed(err);
  }
}
