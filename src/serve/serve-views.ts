/**
 * What serve shows of a torrent: the RPC backend's plain views (src/rpc/rpc-backend.ts) built from a
 * serve entry and its running torrent. Pure reads at one moment; nothing here changes state or waits
 * on a disk.
 */
import type { ServeEntry } from './serve-daemon';
import type { Torrent } from '../actors/torrent';
import { ipOfKey } from '../core/peer-list';
import { clientName } from '../core/torrent-peer-events';
import type { FileView, PeerView, TorrentState, TorrentView, TrackerView } from '../rpc/rpc-backend';

export function torrentView(e: ServeEntry, dataDir: string, now: number): TorrentView {
  const t = e.torrent;
  const meta = e.meta;
  const stats = t?.stats();
  return {
    id: e.id,
    infoHash: meta ? meta.infoHashHex : '0'.repeat(40),
    name: e.name,
    state: stateOf(e),
    metadataPercentComplete: e.state === 'metadata' ? metadataProgress(e) : 1,
    error: e.error ? { kind: 'local', message: e.error } : undefined,
    downloadDir: dataDir,
    totalSize: meta?.length ?? 0,
    pieceSize: meta?.pieceLength ?? 0,
    pieceCount: meta?.pieceCount ?? 0,
    haveValid: stats?.bytesHave ?? 0,
    downloadedEver: stats?.downloaded ?? 0,
    uploadedEver: stats?.uploaded ?? 0,
    corruptEver: stats?.wasted ?? 0,
    downRate: stats?.downRate ?? 0,
    upRate: stats?.upRate ?? 0,
    peers: t && isActive(e) ? peerViews(t, now) : [],
    trackers: meta ? trackerViews(meta.announceList, t) : [],
    files: meta ? fileViews(e, t) : [],
    downloadLimit: e.limits.down,
    uploadLimit: e.limits.up,
    peerLimit: t?.o.maxPeers ?? 60,
    isPrivate: meta?.private ?? false,
    comment: meta?.comment,
    creator: meta?.createdBy,
    createdAt: meta?.creationDate?.getTime(),
    addedAt: e.addedAt,
    startedAt: t?.times.startedAt,
    doneAt: t?.times.doneAt,
    activityAt: t?.times.activityAt,
    secondsDownloading: t ? Math.floor(t.times.downloadingMs / 1000) : 0,
    secondsSeeding: t ? Math.floor(t.times.seedingMs / 1000) : 0,
    origin: e.origin,
  };
}

function metadataProgress(e: ServeEntry): number {
  const s = e.magnet?.stats();
  return s && s.pieces > 0 ? s.have / s.pieces : 0;
}

function isActive(e: ServeEntry): boolean {
  return e.state === 'running';
}

/** serve's states onto Transmission's: queued → check-queued, paused and failed → stopped. */
export function stateOf(e: ServeEntry): TorrentState {
  switch (e.state) {
    case 'metadata':
      return 'downloading';
    case 'queued':
      return 'check-queued';
    case 'checking':
      return 'checking';
    case 'running':
      return e.torrent?.status === 'seeding' ? 'seeding' : 'downloading';
    default:
      return 'stopped';
  }
}

export function peerViews(t: Torrent, now: number): PeerView[] {
  const out: PeerView[] = [];
  const pieces = t.meta.pieceCount;
  for (const [key, c] of t.logic.peers) {
    if (!c.handshaked) continue;
    out.push({
      ip: ipOfKey(key),
      port: Number(key.slice(key.lastIndexOf(':') + 1)),
      client: c.peerId ? clientName(c.peerId) : '',
      progress: t.logic.scheduler.peerPieces(key) / pieces,
      downRate: c.downRate.rate(now),
      upRate: c.upRate.rate(now),
      amChoked: c.peerChoking,
      amInterested: c.amInterested,
      peerChoked: c.amChoking,
      peerInterested: c.peerInterested,
      incoming: !c.outgoing,
      encrypted: c.encryption !== 'none',
      source: t.logic.peerList.get(key)?.source,
    });
  }
  return out;
}

function trackerViews(tiers: string[][], t: Torrent | undefined): TrackerView[] {
  const s = t?.announceState();
  const out: TrackerView[] = [];
  tiers.forEach((tier, i) => {
    for (const url of tier) {
      const counts = t?.trackerCounts.get(url);
      const error = s?.urlErrors[url];
      out.push({
        tier: i,
        announce: url,
        lastAnnounceAt: s?.lastGoodUrl === url && s.lastSuccessAt !== null ? s.lastSuccessAt : undefined,
        lastAnnounceOk: error ? false : s?.lastGoodUrl === url ? true : undefined,
        lastAnnounceResult: error ?? (s?.lastGoodUrl === url ? 'Success' : undefined),
        lastAnnouncePeers: counts?.peers,
        nextAnnounceAt: s?.nextAt ?? undefined,
        announcing: s?.inFlight?.url === url,
        seeders: counts?.seeders,
        leechers: counts?.leechers,
      });
    }
  });
  return out;
}

/** Bytes of each file inside pieces we have (pieces span file boundaries: each counts its overlap). */
function fileViews(e: ServeEntry, t: Torrent | undefined): FileView[] {
  const meta = e.meta as NonNullable<ServeEntry['meta']>;
  const pl = meta.pieceLength;
  return meta.files.map((f) => {
    let done = 0;
    if (t && f.length > 0) {
      const first = Math.floor(f.offset / pl);
      const last = Math.floor((f.offset + f.length - 1) / pl);
      for (let i = first; i <= last; i++) {
        if (!t.logic.pieces.servable(i)) continue;
        const start = Math.max(f.offset, i * pl);
        const end = Math.min(f.offset + f.length, (i + 1) * pl);
        done += end - start;
      }
    }
    const path = meta.multiFile ? [meta.name, ...f.path].join('/') : meta.name;
    return { path, length: f.length, bytesCompleted: done };
  });
}
