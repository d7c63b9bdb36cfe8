/**
 * What an engine is started with (`EngineOptions`), what it reports (`EngineStats`), and the peer id it
 * makes when none is given. Kept apart from engine.ts so the options read as one page.
 */
import { randomBytes } from 'node:crypto';
import type { TokenBucket } from '../core/token-bucket';
import type { HashPool } from '../streams/hash-pool';
import type { EncryptionPolicy } from './engine-encryption';
import type { EngineDhtOptions } from './engine-dht';
import type { LsdOptions } from './lsd';

export interface EngineOptions {
  /** Listen port for peers (0: any free port). */
  port: number;
  /** Listen address; default all interfaces. */
  bind?: string;
  peerId?: Buffer;
  /** Connections across all torrents (default 500). */
  maxConnections?: number;
  /** Process-wide limits (`--max-down`, `--max-up`); unlimited when absent. */
  downBucket?: TokenBucket;
  upBucket?: TokenBucket;
  pool?: HashPool;
  /** Bytes of piece buffers all upload caches together may hold (default 64 MiB). */
  readBudgetBytes?: number;
  clock?: () => number;
  random?: () => number;
  /**
   * Local service discovery (BEP 14) for public torrents (default on; `--no-lsd` sets false, and
   * RXTORRENT_NO_LSD=1 in the environment turns it off whatever this says). Options are for tests.
   */
  lsd?: boolean | LsdOptions;
  /**
   * The DHT (BEP 5) for public torrents and magnets (default on; `--no-dht` sets false, and
   * RXTORRENT_NO_DHT=1 in the environment turns it off whatever this says). See engine-dht.ts.
   */
  dht?: boolean | EngineDhtOptions;
  /** MSE/PE policy for new connections (`--encryption`; default 'preferred'). See `setEncryption`. */
  encryption?: EncryptionPolicy;
  /** Longest an incoming connection may take to say which torrent it wants, plain or encrypted, and
   * an outgoing encrypted handshake may take (default 10 s). */
  handshakeTimeoutMs?: number;
}

export interface EngineStats {
  torrents: number;
  connections: number;
  /** Incoming handshakes for an info-hash we do not serve (closed without a reply). */
  unknownInfoHash: number;
  /** Incoming connections dropped before a handshake (garbage, silence, refused at the cap). */
  droppedIncoming: number;
}

/** A fresh peer id in Azureus style: `-RX0100-` and 12 random characters. */
export function newPeerId(): Buffer {
  return Buffer.concat([
    Buffer.from('-RX0100-'),
    Buffer.from(randomBytes(12).toString('base64url').slice(0, 12)),
  ]);
}
