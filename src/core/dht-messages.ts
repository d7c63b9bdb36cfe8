/**
 * The DHT node's vocabulary: its configuration (with defaults), the messages its transition takes
 * (`DhtIn`), the effects it asks the runtime to perform (`DhtEffect`) and its counters.
 *
 * Owns: these types and `DEFAULT_DHT_CONFIG`. Does not own: the transition (dht-state.ts), the
 * lookup tasks (dht-tasks.ts) or sockets and timers (src/actors/dht-node.ts). Why apart: the task
 * runner, the runtime and the test simulator share them without importing the node's logic.
 */
import { DEFAULT_LOOKUP } from './dht-lookup';
import type { PeerStoreConfig } from './dht-peer-store';
import type { LookupOutcome } from './dht-tasks';
import type { QueryLimitConfig } from './query-limiter';
import type { NodeAddress } from '../protocol/krpc';
import type { PeerAddress } from '../protocol/compact-peers';

export interface DhtConfig {
  k: number;
  alpha: number;
  /** A query not answered after this is slow: its lookup slot goes to another node. */
  slowQueryMs: number;
  /** A query not answered after this failed. */
  queryTimeoutMs: number;
  lookupTimeoutMs: number;
  maxQueriesPerLookup: number;
  /** Lookups running at once; more wait their turn (up to `maxQueuedLookups`). */
  maxLookups: number;
  maxQueuedLookups: number;
  /** Our queries awaiting an answer, at most. */
  maxPending: number;
  reannounceMinMs: number;
  reannounceMaxMs: number;
  /** Next try after an announce that reached no node. */
  announceRetryMs: number;
  bootstrapRetryMs: number;
  maintenanceMs: number;
  maxValuesPerReply: number;
  onePerIp: boolean;
  queryLimit: Partial<QueryLimitConfig>;
  peerStore: Partial<PeerStoreConfig>;
}

export const DEFAULT_DHT_CONFIG: DhtConfig = {
  k: DEFAULT_LOOKUP.k,
  alpha: DEFAULT_LOOKUP.alpha,
  slowQueryMs: 1500,
  queryTimeoutMs: 5000,
  lookupTimeoutMs: 30_000,
  maxQueriesPerLookup: DEFAULT_LOOKUP.maxQueries,
  maxLookups: 16,
  maxQueuedLookups: 1024,
  maxPending: 2048,
  reannounceMinMs: 15 * 60_000,
  reannounceMaxMs: 30 * 60_000,
  announceRetryMs: 60_000,
  bootstrapRetryMs: 5 * 60_000,
  maintenanceMs: 60_000,
  maxValuesPerReply: 100,
  onePerIp: true,
  queryLimit: {},
  peerStore: {},
};

export type DhtIn =
  | { type: 'DatagramReceived'; data: Buffer; from: NodeAddress; at: number }
  | { type: 'Tick'; at: number }
  | { type: 'Bootstrap'; routers: NodeAddress[]; at: number }
  | {
      type: 'StartLookup';
      lookup: number;
      method: 'find_node' | 'get_peers';
      target: Buffer;
      announce?: { port: number; impliedPort: boolean };
      at: number;
    }
  | { type: 'CancelLookup'; lookup: number; at: number }
  | { type: 'AddTorrent'; infoHash: Buffer; port: number; impliedPort?: boolean; at: number }
  | { type: 'RemoveTorrent'; infoHash: Buffer; at: number }
  | { type: 'PingNode'; address: NodeAddress; at: number };

export type DhtEffect =
  | { type: 'Send'; to: NodeAddress; data: Buffer }
  | { type: 'LookupPeers'; lookup: number; peers: PeerAddress[] }
  | { type: 'LookupDone'; lookup: number; outcome: LookupOutcome };

export interface DhtCounters {
  received: number;
  sent: number;
  queriesIn: number;
  badDatagrams: number;
  unsolicited: number;
  limited: number;
  errorsSent: number;
  peersStored: number;
  badTokens: number;
}
