/**
 * The parts one torrent is made of, created and wired to its inbox: the torrent actor itself (over
 * `TorrentLogic`), storage, verifier, uploader, resume keeper and choker. Every part reports back to
 * the torrent's inbox as a message; a part that fails (a throw in its transition or an effect) fails
 * the torrent through `fail`.
 *
 * Owns: which part's event becomes which `TorrentIn` message. Does not own: the parts' logic (their own
 * modules), effects of the torrent (src/actors/torrent.ts performs them) or lifetimes (the torrent stops
 * each part).
 */
import { Subscription } from 'rxjs/internal/Subscription';
import { ActorRef, createActor } from './actor';
import { Announcer, createAnnouncer } from './announcer';
import { MAX_QUEUED_REQUESTS } from './peer-connection';
import { TorrentConnections } from './torrent-connections';
import type { TorrentOptions, TorrentServices } from './torrent-options';
import { createChokerActor } from './choker-actor';
import { ResumeKeeper, createResumeKeeper } from './resume-keeper';
import { StorageActor, createStorageActor } from './storage-actor';
import { Uploader, createUploader } from './uploader';
import { Verifier, createVerifier } from './verifier';
import type { AnnounceStats } from '../core/announce-state';
import type { AnnouncerEvent } from '../core/announce-messages';
import type { BufferPool } from '../core/buffer-pool';
import { TorrentEffect, TorrentLogic } from '../core/torrent-logic';
import { TorrentIn, torrentTransition } from '../core/torrent-transition';
import type { EventInput } from '../events/engine-event';
import { Metainfo, pieceHash, pieceSize } from '../protocol/metainfo';
import type { PieceStorage } from '../storage/piece-storage';
import type { HashPool } from '../streams/hash-pool';
import { ipOfKey } from '../core/peer-list';
import { ourExtensions } from '../core/peer-extensions';
import type { PeerAddress } from '../protocol/tracker-codec';

export interface TorrentParts {
  actor: ActorRef<TorrentIn, EventInput, TorrentLogic>;
  disk: StorageActor;
  verifier: Verifier;
  uploader: Uploader;
  resume: ResumeKeeper | null;
  choker: ReturnType<typeof createChokerActor>;
  /** Every subscription between the parts; unsubscribe on stop. */
  sub: Subscription;
}

export function createTorrentParts(o: {
  meta: Metainfo;
  logic: TorrentLogic;
  storage: PieceStorage;
  pool: HashPool;
  buffers: BufferPool;
  resumeFile: string | false;
  uploadSlots: number;
  clock: () => number;
  random: () => number;
  perform: (eff: TorrentEffect) => void;
  emit: (e: EventInput) => void;
  fail: (err: unknown) => void;
}): TorrentParts {
  const { meta, fail } = o;
  const sub = new Subscription();
  const actor = createActor<TorrentLogic, TorrentIn, EventInput, TorrentEffect>({
    name: `torrent ${meta.infoHashHex}`,
    initial: o.logic,
    transition: torrentTransition,
    perform: o.perform,
    onError: fail,
  });
  sub.add(actor.events$.subscribe(o.emit));
  const inbox = (m: TorrentIn) => actor.send(m);

  const disk = createStorageActor({
    storage: o.storage,
    pieceLength: meta.pieceLength,
    total: meta.length,
    onError: fail,
  });
  sub.add(
    disk.events$.subscribe((e) => {
      if (e.type === 'PieceWritten') inbox({ type: 'Written', index: e.index });
      else if (e.type === 'WriteFailed')
        inbox({ type: 'WriteFailed', index: e.index, message: e.message, code: e.code, path: e.path });
    }),
  );
  sub.add(disk.pressure$.subscribe((on) => inbox({ type: 'DiskPressure', on })));

  const verifier = createVerifier({ expected: (i) => pieceHash(meta, i), onError: fail });
  sub.add(
    verifier.events$.subscribe((e) =>
      inbox({ type: 'Hashed', index: e.index, ok: e.ok, data: e.data, error: e.error }),
    ),
  );
  sub.add(verifier.busy$.subscribe((on) => inbox({ type: 'HashPressure', on })));

  const uploader = createUploader({
    storage: o.storage,
    pool: o.pool,
    buffers: o.buffers,
    expected: (i) => pieceHash(meta, i),
    pieceSize: (i) => pieceSize(meta, i),
    onError: fail,
  });
  sub.add(uploader.events$.subscribe((out) => inbox({ type: 'Upload', out })));

  const resume = o.resumeFile
    ? createResumeKeeper({
        file: o.resumeFile,
        meta,
        storage: o.storage,
        clock: o.clock,
        onEvent: o.emit,
        onError: fail,
      })
    : null;

  const choker = createChokerActor({ slots: o.uploadSlots, random: o.random, onError: fail });
  sub.add(
    choker.events$.subscribe((d) => inbox({ type: 'ChokeDecision', unchoke: d.unchoke, choke: d.choke })),
  );

  return { actor, disk, verifier, uploader, resume, choker, sub };
}

/**
 * A torrent's (or a magnet's) announcer (BEP 12 tiers): `stats` read before every announce; with a
 * lowered announce interval (tests, LANs) the retry backoff scales with it.
 */
export function createTorrentAnnouncer(o: {
  infoHash: Buffer;
  peerId: Buffer;
  port: number;
  tiers: string[][];
  stats: () => AnnounceStats;
  random: () => number;
  minIntervalMs?: number;
}): Announcer {
  const min = o.minIntervalMs;
  return createAnnouncer({
    infoHash: o.infoHash,
    peerId: o.peerId,
    port: o.port,
    tiers: o.tiers,
    stats: o.stats,
    random: o.random,
    minIntervalMs: min,
    ...(min !== undefined
      ? { backoffBaseMs: Math.min(15_000, min / 2), backoffMaxMs: Math.min(30 * 60_000, min * 60) }
      : {}),
  });
}

/**
 * A torrent's announcer, wired but not started: the peers it finds go to `addPeers`, each tracker's
 * last counts into `counts`, its events to `emit`; subscriptions end with `sub`.
 */
export function wireTorrentAnnouncer(o: {
  infoHash: Buffer;
  peerId: Buffer;
  port: number;
  tiers: string[][];
  logic: TorrentLogic;
  random: () => number;
  minIntervalMs?: number;
  sub: Subscription;
  addPeers: (peers: readonly PeerAddress[]) => void;
  counts: Map<string, { seeders?: number; leechers?: number; peers: number }>;
  emit: (e: AnnouncerEvent) => void;
}): Announcer {
  const logic = o.logic;
  const a = createTorrentAnnouncer({
    ...o,
    stats: () => ({
      uploaded: logic.stats.uploaded,
      downloaded: logic.stats.downloaded,
      left: logic.pieces.bytesMissing(),
    }),
  });
  o.sub.add(a.peers$.subscribe((peers) => o.addPeers(peers)));
  o.sub.add(
    a.events$.subscribe((e) => {
      if (e.type === 'PeersReceived')
        o.counts.set(e.url, { seeders: e.complete, leechers: e.incomplete, peers: e.count });
      o.emit(e);
    }),
  );
  return a;
}

/** A torrent's logic and its connection table, wired to its inbox. */
export function createTorrentCore(
  o: TorrentOptions,
  svc: TorrentServices,
  inbox: (m: TorrentIn) => void,
): { logic: TorrentLogic; conns: TorrentConnections } {
  const logic = new TorrentLogic({
    meta: o.meta,
    peerId: svc.peerId,
    clock: svc.clock,
    random: svc.random,
    maxPeers: o.maxPeers ?? 60,
    uploadSlots: o.uploadSlots ?? 8,
    engineSlots: svc.slots,
    localAddresses: svc.localAddresses,
    port: svc.port,
    private: o.meta.private,
    info: o.meta.infoBytes,
  });
  const conns = new TorrentConnections({
    infoHash: o.meta.infoHash,
    peerId: svc.peerId,
    geometry: o.meta,
    ourBitfield: () => logic.ourBitfield(),
    clock: svc.clock,
    downBucket: svc.downBucket,
    upBucket: svc.upBucket,
    inbox,
    counted: svc.counted,
    dht: o.meta.private ? undefined : svc.dht, // BEP 27
    extensions: (key) =>
      ourExtensions({
        port: svc.port,
        metadataSize: o.meta.infoBytes.length,
        private: o.meta.private,
        reqq: MAX_QUEUED_REQUESTS,
        peerIp: ipOfKey(key),
        seed: () => logic.completed,
      }),
  });
  return { logic, conns };
}
