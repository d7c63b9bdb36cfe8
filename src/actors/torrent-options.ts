/**
 * What a torrent is given: its options (from the CLI, serve's state or the RPC) and the services the
 * engine lends every torrent.
 */
import type { PeerTransport } from '../streams/peer-transport';
import type { BufferPool } from '../core/buffer-pool';
import type { RateLimiter } from '../core/token-bucket';
import type { Metainfo } from '../protocol/metainfo';
import type { PeerAddress } from '../protocol/tracker-codec';
import type { HashPool } from '../streams/hash-pool';

/** What the engine lends every torrent. */
export interface TorrentServices {
  peerId: Buffer;
  pool: HashPool;
  buffers: BufferPool;
  /** The engine's listen port (announced to trackers). */
  port: () => number;
  downBucket?: RateLimiter;
  upBucket?: RateLimiter;
  clock: () => number;
  random: () => number;
  localAddresses: ReadonlySet<string>;
  /** Connections the engine's global cap still allows. */
  slots: () => number;
  /**
   * Open a connection to a peer; the engine decides encryption. `handshake` is ours: an encrypted dial
   * sends it as the MSE initial payload (then the transport says `handshakeSent`).
   */
  connect: (ip: string, port: number, infoHash: Buffer, handshake: Buffer) => Promise<PeerTransport>;
  /** A connection of this torrent opened (+1) or closed (−1). */
  counted: (delta: 1 | -1) => void;
  /** A public torrent began (`on`) or stopped talking to peers: local service discovery (BEP 14). */
  localDiscovery?: (infoHash: Buffer, on: boolean) => void;
  /** BEP 5 on peer connections (absent: no DHT; leave it out for a private torrent). */
  dht?: PeerDhtHooks;
}

/** Our DHT node as peer connections see it: the port we send in PORT, and where a peer's PORT goes. */
export interface PeerDhtHooks {
  /** Our DHT node's UDP port; undefined while none runs (then no DHT bit, no PORT). */
  port: () => number | undefined;
  /** A peer at `ip` said its DHT node listens on UDP `port`. */
  portMessage: (ip: string, port: number) => void;
}

export interface TorrentOptions {
  meta: Metainfo;
  /** Data folder (the torrent's files are `dir/name…`). */
  dir: string;
  mode: 'seed' | 'leech';
  /** Announce tiers (BEP 12); empty = no tracker. */
  trackers: string[][];
  /** Peers to dial besides the trackers' (`--peer host:port`). */
  peers?: PeerAddress[];
  maxPeers?: number;
  uploadSlots?: number;
  /** Hash every piece before starting, whatever the resume file says (`--verify`). */
  verify?: boolean;
  /** Resume file path; default `<dir>/.<name>.rxresume`; `false`: none. */
  resumeFile?: string | false;
  /** Save the resume file this often when something changed (default 5 s). */
  resumeIntervalMs?: number;
  /** Announce interval floor (default 30 s); the retry backoff scales with it. */
  minAnnounceIntervalMs?: number;
}
