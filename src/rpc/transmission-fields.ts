/**
 * Transmission's names and units for the engine's torrent facts: the `torrent-get` fields (the
 * `session-get` keys are in transmission-session.ts).
 *
 * Owns: the mapping from `TorrentView` / `SessionView` (bytes, milliseconds, our states) to what
 * Transmission clients parse (status codes 0–6, seconds since the epoch, kB/s limits with 1 kB = 1000 B,
 * ratios with -1 = none and -2 = infinite, flag letters for peers). Every integer field is a JSON integer
 * (`int()`); every double is finite. Pure: no I/O.
 *
 * Fields a client asks for that we do not know are left out, as Transmission does for unknown keys.
 *
 * @example
 *   torrentFields(view, ['id', 'name', 'status'], limits) // → { id: 1, name: 'a.iso', status: 6 }
 */
import { magnetUri } from '../protocol/metainfo';
import type { PeerView, TorrentState, TorrentView, TrackerView } from './rpc-backend';

/** Transmission 4.0's RPC: the legacy format, version 17. */
export const RPC_VERSION = 17;
export const RPC_VERSION_MIN = 14;
export const RPC_VERSION_SEMVER = '5.3.0';
/** Transmission's kB: speeds and limits travel in units of 1000 bytes per second. */
export const SPEED_K = 1000;

const STATUS: readonly TorrentState[] = [
  'stopped',
  'check-queued',
  'checking',
  'download-queued',
  'downloading',
  'seed-queued',
  'seeding',
];

/** Our state → Transmission's `status` (0 stopped … 6 seeding). */
export function statusCode(state: TorrentState): number {
  const i = STATUS.indexOf(state);
  return i < 0 ? 0 : i;
}

/** A JSON integer whatever the input (NaN, ±Infinity, fractions) — clients reject `1.5` for an int. */
export function int(x: number | undefined, fallback = 0): number {
  return x !== undefined && Number.isFinite(x) ? Math.trunc(x) || 0 : fallback;
}

function real(x: number): number {
  return Number.isFinite(x) ? x : 0;
}

/** Milliseconds since the epoch → whole seconds; 0 for "never". */
function secs(ms: number | undefined): number {
  return ms !== undefined && Number.isFinite(ms) && ms > 0 ? Math.floor(ms / 1000) : 0;
}

/** Limits as Transmission shows them: the kB/s value, kept even while the limit is off. */
export interface LimitMemory {
  /** Last kB/s value set for `key` (`session:down`, `<infoHash>:up`, …). */
  get(key: string): number | undefined;
}

/** (enabled, kB/s) for a limit in bytes per second; a disabled limit shows its last value, else 100. */
export function limitFields(
  bytesPerSec: number | undefined,
  remembered: number | undefined,
): [boolean, number] {
  if (bytesPerSec !== undefined && Number.isFinite(bytesPerSec)) return [true, int(bytesPerSec / SPEED_K)];
  return [false, int(remembered, 100)];
}

/** Transmission's tr_getRatio: -1 = nothing either way, -2 = infinite. */
export function ratio(up: number, down: number): number {
  if (down > 0) return real(up / down);
  return up > 0 ? -2 : -1;
}

function left(t: TorrentView): number {
  return Math.max(0, t.totalSize - t.haveValid);
}

function eta(t: TorrentView): number {
  if (t.state !== 'downloading') return -1;
  return t.downRate > 0 ? int(Math.ceil(left(t) / t.downRate)) : -2;
}

function downloadingFrom(p: PeerView): boolean {
  return !p.amChoked && p.amInterested;
}

function uploadingTo(p: PeerView): boolean {
  return !p.peerChoked && p.peerInterested;
}

/** Transmission's peer flag letters (see its docs/Peer-Status-Text.md). */
export function flagStr(p: PeerView): string {
  let s = '';
  if (downloadingFrom(p)) s += 'D';
  else if (p.amInterested) s += 'd';
  if (uploadingTo(p)) s += 'U';
  else if (p.peerInterested) s += 'u';
  if (!p.amChoked && !p.amInterested) s += 'K';
  if (!p.peerChoked && !p.peerInterested) s += '?';
  if (p.encrypted) s += 'E';
  if (p.source === 'dht') s += 'H';
  if (p.source === 'pex') s += 'X';
  if (p.incoming) s += 'I';
  return s;
}

/** Bytes we still want that connected peers have (an estimate from their progress). */
function desiredAvailable(t: TorrentView): number {
  const best = t.peers.reduce((m, p) => Math.max(m, p.progress), 0);
  return int(Math.min(left(t), Math.max(0, best * t.totalSize - t.haveValid)));
}

function scrapeUrl(announce: string): string {
  const i = announce.lastIndexOf('/');
  return announce.startsWith('announce', i + 1)
    ? `${announce.slice(0, i + 1)}scrape${announce.slice(i + 9)}`
    : '';
}

function hostOf(announce: string): { host: string; sitename: string } {
  try {
    const u = new URL(announce);
    const labels = u.hostname.split('.');
    const isIp = /^[\d.]+$/.test(u.hostname) || u.hostname.startsWith('[');
    const sitename = isIp || labels.length < 2 ? u.hostname : labels[labels.length - 2];
    return { host: `${u.protocol}//${u.host}`, sitename };
  } catch {
    return { host: announce.slice(0, 200), sitename: '' };
  }
}

function trackerStats(t: TorrentView): Record<string, unknown>[] {
  return t.trackers.map((tr: TrackerView, id) => {
    const { host, sitename } = hostOf(tr.announce);
    return {
      announce: tr.announce,
      announceState: t.state === 'stopped' ? 0 : tr.announcing ? 3 : 1,
      downloadCount: int(tr.downloads, -1),
      hasAnnounced: tr.lastAnnounceAt !== undefined,
      hasScraped: false,
      host,
      id,
      isBackup: false,
      lastAnnouncePeerCount: int(tr.lastAnnouncePeers),
      lastAnnounceResult: tr.lastAnnounceResult ?? '',
      lastAnnounceStartTime: secs(tr.lastAnnounceAt),
      lastAnnounceSucceeded: tr.lastAnnounceOk === true,
      lastAnnounceTime: secs(tr.lastAnnounceAt),
      lastAnnounceTimedOut: false,
      lastScrapeResult: '',
      lastScrapeStartTime: 0,
      lastScrapeSucceeded: false,
      lastScrapeTime: 0,
      lastScrapeTimedOut: false,
      leecherCount: int(tr.leechers, -1),
      nextAnnounceTime: secs(tr.nextAnnounceAt),
      nextScrapeTime: 0,
      scrape: scrapeUrl(tr.announce),
      scrapeState: 0,
      seederCount: int(tr.seeders, -1),
      sitename,
      tier: int(tr.tier),
    };
  });
}

function bitfieldBase64(t: TorrentView): string {
  if (t.bitfield) return Buffer.from(t.bitfield).toString('base64');
  const bytes = Buffer.alloc(Math.ceil(t.pieceCount / 8), t.haveValid >= t.totalSize ? 0xff : 0);
  if (t.haveValid >= t.totalSize && t.pieceCount % 8)
    bytes[bytes.length - 1] = (0xff << (8 - (t.pieceCount % 8))) & 0xff;
  return bytes.toString('base64');
}

function tiers(t: TorrentView): string[][] {
  const out: string[][] = [];
  for (const tr of t.trackers) (out[tr.tier] ??= []).push(tr.announce);
  return out.filter((x) => x !== undefined);
}

function peersFrom(t: TorrentView): Record<string, number> {
  const n = (s: PeerView['source']): number => t.peers.filter((p) => p.source === s).length;
  return {
    fromCache: 0,
    fromDht: n('dht'),
    fromIncoming: t.peers.filter((p) => p.incoming).length,
    fromLpd: n('lsd'),
    fromLtep: 0,
    fromPex: n('pex'),
    fromTracker: n('tracker'),
  };
}

type Field = (t: TorrentView, limits: LimitMemory) => unknown;

const files = (t: TorrentView): unknown =>
  t.files.map((f) => ({ bytesCompleted: int(f.bytesCompleted), length: int(f.length), name: f.path }));

/** Every torrent-get field we answer. */
const TORRENT_FIELDS: Record<string, Field> = {
  activityDate: (t) => secs(t.activityAt),
  addedDate: (t) => secs(t.addedAt),
  bandwidthPriority: () => 0,
  comment: (t) => t.comment ?? '',
  corruptEver: (t) => int(t.corruptEver),
  creator: (t) => t.creator ?? '',
  dateCreated: (t) => secs(t.createdAt),
  desiredAvailable: (t) => desiredAvailable(t),
  doneDate: (t) => secs(t.doneAt),
  downloadDir: (t) => t.downloadDir,
  downloadedEver: (t) => int(t.downloadedEver),
  downloadLimit: (t, m) => limitFields(t.downloadLimit, m.get(`${t.infoHash}:down`))[1],
  downloadLimited: (t) => t.downloadLimit !== undefined,
  editDate: () => 0,
  error: (t) => (t.error ? { 'tracker-warning': 1, 'tracker-error': 2, local: 3 }[t.error.kind] : 0),
  errorString: (t) => t.error?.message ?? '',
  eta: (t) => eta(t),
  etaIdle: () => -1,
  'file-count': (t) => t.files.length,
  files,
  fileStats: (t) =>
    t.files.map((f) => ({ bytesCompleted: int(f.bytesCompleted), priority: 0, wanted: true })),
  group: () => '',
  hashString: (t) => t.infoHash,
  haveUnchecked: (t) => int(t.haveUnchecked),
  haveValid: (t) => int(t.haveValid),
  honorsSessionLimits: () => true,
  id: (t) => int(t.id),
  isFinished: () => false,
  isPrivate: (t) => t.isPrivate,
  isStalled: () => false,
  labels: () => [],
  leftUntilDone: (t) => int(left(t)),
  magnetLink: (t) => magnetUri({ infoHashHex: t.infoHash, name: t.name, announceList: tiers(t) }),
  manualAnnounceTime: () => -1,
  maxConnectedPeers: (t) => int(t.peerLimit),
  metadataPercentComplete: (t) => t.metadataPercentComplete ?? 1,
  name: (t) => t.name,
  'peer-limit': (t) => int(t.peerLimit),
  peers: (t) =>
    t.peers.map((p) => ({
      address: p.ip,
      clientIsChoked: p.amChoked,
      clientIsInterested: p.amInterested,
      clientName: p.client,
      flagStr: flagStr(p),
      isDownloadingFrom: downloadingFrom(p),
      isEncrypted: p.encrypted === true,
      isIncoming: p.incoming,
      isUploadingTo: uploadingTo(p),
      isUTP: false,
      peerIsChoked: p.peerChoked,
      peerIsInterested: p.peerInterested,
      port: int(p.port),
      progress: real(p.progress),
      rateToClient: int(p.downRate),
      rateToPeer: int(p.upRate),
    })),
  peersConnected: (t) => t.peers.length,
  peersFrom,
  peersGettingFromUs: (t) => t.peers.filter(uploadingTo).length,
  peersSendingToUs: (t) => t.peers.filter(downloadingFrom).length,
  percentComplete: (t) => (t.totalSize > 0 ? real(t.haveValid / t.totalSize) : 1),
  percentDone: (t) => (t.totalSize > 0 ? real(t.haveValid / t.totalSize) : 1),
  pieces: bitfieldBase64,
  pieceCount: (t) => int(t.pieceCount),
  pieceSize: (t) => int(t.pieceSize),
  priorities: (t) => t.files.map(() => 0),
  'primary-mime-type': () => 'application/octet-stream',
  queuePosition: (t) => Math.max(0, int(t.id) - 1),
  rateDownload: (t) => int(t.downRate),
  rateUpload: (t) => int(t.upRate),
  recheckProgress: (t) => (t.state === 'checking' ? real(t.checkProgress ?? 0) : 0),
  secondsDownloading: (t) => int(t.secondsDownloading),
  secondsSeeding: (t) => int(t.secondsSeeding),
  seedIdleLimit: () => 30,
  seedIdleMode: () => 0,
  seedRatioLimit: () => 2,
  seedRatioMode: () => 2,
  sizeWhenDone: (t) => int(t.totalSize),
  startDate: (t) => secs(t.startedAt),
  status: (t) => statusCode(t.state),
  torrentFile: () => '',
  totalSize: (t) => int(t.totalSize),
  trackerList: (t) =>
    tiers(t)
      .map((tier) => tier.join('\n'))
      .join('\n\n'),
  trackers: (t) =>
    t.trackers.map((tr, id) => ({
      announce: tr.announce,
      id,
      scrape: scrapeUrl(tr.announce),
      sitename: hostOf(tr.announce).sitename,
      tier: int(tr.tier),
    })),
  trackerStats,
  uploadedEver: (t) => int(t.uploadedEver),
  uploadLimit: (t, m) => limitFields(t.uploadLimit, m.get(`${t.infoHash}:up`))[1],
  uploadLimited: (t) => t.uploadLimit !== undefined,
  // Seeding from the start (nothing downloaded): the ratio is against what we have, as Transmission does.
  uploadRatio: (t) => ratio(t.uploadedEver, t.downloadedEver > 0 ? t.downloadedEver : t.haveValid),
  wanted: (t) => t.files.map(() => 1),
  webseeds: () => [],
  webseedsSendingToUs: () => 0,
};

/** Names of the torrent-get fields we answer (for docs and tests). */
export const TORRENT_FIELD_NAMES: readonly string[] = Object.keys(TORRENT_FIELDS);

/** The requested fields that we know, each once, in request order. */
export function knownTorrentFields(requested: readonly string[]): string[] {
  return [...new Set(requested)].filter((f) => Object.hasOwn(TORRENT_FIELDS, f));
}

/** One torrent as an object of `fields` (already filtered by `knownTorrentFields`). */
export function torrentObject(
  t: TorrentView,
  fields: readonly string[],
  limits: LimitMemory,
): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const f of fields) out[f] = TORRENT_FIELDS[f](t, limits);
  return out;
}

/** One torrent as a row of values (`format: "table"`). */
export function torrentRow(t: TorrentView, fields: readonly string[], limits: LimitMemory): unknown[] {
  return fields.map((f) => TORRENT_FIELDS[f](t, limits));
}
