/**
 * What the remote-control server needs from the engine: plain data out, a few async commands in.
 *
 * Owns: the seam between the RPC module and the engine. The engine implements `RpcBackend`; the RPC
 * module (src/rpc/…) turns these views into Transmission's field names and units, and checks every
 * argument before a command reaches the engine. Nothing here knows about HTTP or JSON.
 *
 * Rules for implementors:
 * - The getters (`torrents`, `session`, `stats`) answer from memory, synchronously. They are called on
 *   every request (a remote UI polls `torrent-get` every second or two), so they must never touch the
 *   disk or the network.
 * - Commands return promises. The server waits for them with a timeout and then answers; a command
 *   that times out may still complete. Throw `RpcCommandError` (or any Error) to refuse: its message
 *   becomes the RPC `result` string the user sees, so make it say what to do.
 * - Units: bytes and bytes per second; times in milliseconds since the epoch. `undefined` means
 *   "unknown" or "not set" wherever a field is optional.
 *
 * @example
 *   const backend: RpcBackend = {
 *     torrents: () => engine.torrents().map(toView),
 *     session: () => ({ version: 'rxtorrent 0.1.0', peerPort: 6881, downloadDir: '/data', ... }),
 *     ...
 *   };
 *   const server = createRpcServer({ backend, port: 9091 });
 */

/** The engine's states; the RPC maps them onto Transmission's status codes 0–6 in this order. */
export type TorrentState =
  'stopped' | 'check-queued' | 'checking' | 'download-queued' | 'downloading' | 'seed-queued' | 'seeding';

export interface PeerView {
  /** IP address only (`192.0.2.1`, `::1`). */
  ip: string;
  port: number;
  /** Client name from the peer id or extended handshake (`qBittorrent 4.6.0`); `''` when unknown. */
  client: string;
  /** Fraction of the torrent the peer has, 0..1. */
  progress: number;
  /** Bytes per second from the peer to us, and from us to the peer. */
  downRate: number;
  upRate: number;
  /** The peer chokes us / we are interested in the peer. */
  amChoked: boolean;
  amInterested: boolean;
  /** We choke the peer / the peer is interested in us. */
  peerChoked: boolean;
  peerInterested: boolean;
  incoming: boolean;
  encrypted?: boolean;
  /** How we learnt of the peer (for `peersFrom` and the flag letters). */
  source?: 'tracker' | 'pex' | 'lsd' | 'dht' | 'manual' | 'incoming';
}

export interface TrackerView {
  /** BEP 12 tier, from 0. */
  tier: number;
  announce: string;
  lastAnnounceAt?: number;
  lastAnnounceOk?: boolean;
  /** `Success`, or the tracker's failure reason / the network error. */
  lastAnnounceResult?: string;
  lastAnnouncePeers?: number;
  nextAnnounceAt?: number;
  /** An announce is in flight. */
  announcing?: boolean;
  /** From the last announce or scrape, when the tracker said. */
  seeders?: number;
  leechers?: number;
  downloads?: number;
}

export interface FileView {
  /** Path inside the torrent, `/`-separated, starting with the torrent's name (`album/cd1/01.flac`). */
  path: string;
  length: number;
  /** Bytes of this file inside verified pieces. */
  bytesCompleted: number;
}

export interface TorrentView {
  /** Small positive integer shown to users; stable while the process runs and never reused. */
  id: number;
  /** Info-hash, 40 lowercase hex digits. */
  infoHash: string;
  name: string;
  state: TorrentState;
  /** 0..1 while `checking`. */
  checkProgress?: number;
  /** 0..1 while a magnet link's metadata is being fetched (1, or absent, once the torrent is known). */
  metadataPercentComplete?: number;
  /** A failure that stops or degrades the torrent; `local` for disk and data errors. */
  error?: { kind: 'local' | 'tracker-warning' | 'tracker-error'; message: string };
  /** The folder holding the torrent's content (the content itself is `downloadDir/name`). */
  downloadDir: string;
  totalSize: number;
  pieceSize: number;
  pieceCount: number;
  /** Bytes in verified pieces. */
  haveValid: number;
  /** Bytes received but not verified yet. */
  haveUnchecked?: number;
  /** Verified pieces, BEP 3 bitfield order; optional (only the `pieces` field needs it). */
  bitfield?: Uint8Array;
  downloadedEver: number;
  uploadedEver: number;
  /** Bytes thrown away because their piece failed its hash. */
  corruptEver?: number;
  /** Bytes per second, now. */
  downRate: number;
  upRate: number;
  /** Connected peers (an empty list while stopped). */
  peers: readonly PeerView[];
  trackers: readonly TrackerView[];
  files: readonly FileView[];
  /** Per-torrent limits in bytes per second; `undefined` = no limit of its own. */
  downloadLimit?: number;
  uploadLimit?: number;
  /** Most peers this torrent connects to. */
  peerLimit: number;
  isPrivate: boolean;
  comment?: string;
  creator?: string;
  createdAt?: number;
  addedAt: number;
  startedAt?: number;
  /** When the last byte was verified (the torrent became complete). */
  doneAt?: number;
  /** Last time a block went either way. */
  activityAt?: number;
  secondsDownloading?: number;
  secondsSeeding?: number;
  /** `store` = from the torrent store, `manual` = added by hand (RPC, console). */
  origin?: 'store' | 'manual';
}

export interface SessionView {
  /** `rxtorrent 0.1.0`. */
  version: string;
  peerPort: number;
  /** Where new torrents' data goes. */
  downloadDir: string;
  /** Global limits in bytes per second; `undefined` = unlimited. */
  downloadLimit?: number;
  uploadLimit?: number;
  peerLimitGlobal: number;
  peerLimitPerTorrent: number;
  encryption: 'required' | 'preferred' | 'tolerated';
  dhtEnabled: boolean;
  pexEnabled: boolean;
  lpdEnabled: boolean;
  utpEnabled: boolean;
  /** Torrents added without `paused` start at once. */
  startAddedTorrents: boolean;
  /** Where serve keeps its own files, if anywhere. */
  configDir?: string;
}

/** Changes to the session; each key present is a change (`null` limit = unlimited). */
export interface SessionPatch {
  downloadLimit?: number | null;
  uploadLimit?: number | null;
  peerLimitGlobal?: number;
  peerLimitPerTorrent?: number;
  encryption?: 'required' | 'preferred' | 'tolerated';
  dhtEnabled?: boolean;
  pexEnabled?: boolean;
  lpdEnabled?: boolean;
  startAddedTorrents?: boolean;
}

/** Changes to one torrent (`null` limit = no limit of its own). */
export interface TorrentPatch {
  downloadLimit?: number | null;
  uploadLimit?: number | null;
  peerLimit?: number;
}

export interface TransferTotals {
  uploadedBytes: number;
  downloadedBytes: number;
  /** Torrents added. */
  filesAdded: number;
  secondsActive: number;
  /** Times serve was started (1 for the current run). */
  sessionCount: number;
}

export interface SessionStatsView {
  /** This run. */
  current: TransferTotals;
  /** Every run, as far as the engine remembers (the same as `current` if it keeps no history). */
  cumulative: TransferTotals;
}

/**
 * A torrent to add. `metainfo` arrives already parsed and validated by the RPC module; `source` is what
 * a client typed as `filename` (a path on the server, a name in the torrent store, or later a magnet
 * link) and is for the engine to resolve — reading files is its job, so the RPC never waits on a disk.
 */
export type AddSource =
  | { kind: 'metainfo'; bytes: Buffer; infoHash: string; name: string }
  | { kind: 'filename'; filename: string };

export interface AddRequest {
  source: AddSource;
  /** Add stopped (`true`), started (`false`), or as the session's `startAddedTorrents` says. */
  paused?: boolean;
  /** Absolute folder for the data, instead of the session's. */
  downloadDir?: string;
}

export interface AddResult {
  /** The torrent was already there: nothing was added, `torrent` is the existing one. */
  duplicate: boolean;
  torrent: { id: number; name: string; infoHash: string };
}

export interface RpcBackend {
  /** Every torrent, in any order, from memory. */
  torrents(): readonly TorrentView[];
  /** Session settings, from memory. */
  session(): SessionView;
  /** Transfer totals, from memory. */
  stats(): SessionStatsView;
  /** Add a torrent; resolve when it is in the torrent set (not when its data is checked). */
  add(request: AddRequest): Promise<AddResult>;
  /** Start (resume) a stopped torrent; a running one is left alone. */
  start(id: number): Promise<void>;
  /** Stop (pause) a torrent: peers closed, announce `stopped`, resume data saved. */
  stop(id: number): Promise<void>;
  /** Re-check the torrent's data against its piece hashes. */
  verify(id: number): Promise<void>;
  /** Remove a torrent from the session; with `deleteData`, also its downloaded files. */
  remove(id: number, opts: { deleteData: boolean }): Promise<void>;
  /** Change per-torrent settings. */
  setTorrent(id: number, patch: TorrentPatch): Promise<void>;
  /** Change session settings; refuse (throw) a key the engine cannot honour yet. */
  setSession(patch: SessionPatch): Promise<void>;
}

/** A refusal the user should read as is (it becomes the RPC `result`). */
export class RpcCommandError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'RpcCommandError';
  }
}
