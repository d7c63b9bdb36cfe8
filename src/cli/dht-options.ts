/**
 * Whether and how to run the DHT, from the command line and the environment — for seed, leech and
 * serve to share once they start a DHT node.
 *
 * Owns: `RXTORRENT_NO_DHT` (set to anything but `0`/`false`/empty, the DHT stays off, as the test
 * setup requires), `--no-dht`, `--dht-port` (default: the peer port), `--dht-bootstrap host:port`
 * (repeatable; replaces the public routers), BEP 27 (never for a private torrent), and the state
 * file's path. Does not own: starting the node (src/actors/dht-node.ts).
 *
 * @example
 *   dhtSettings({ dht: true, dhtBootstrap: ['127.0.0.1:7000'] }, process.env, 6881)
 *   // { enabled: true, port: 6881, bootstrap: [{ host: '127.0.0.1', port: 7000 }], stateFile: '…/rxtorrent/dht.json' }
 */
import { defaultDhtStatePath } from '../storage/dht-state-file';

export interface HostPort {
  host: string;
  port: number;
}

/** The well-known public routers, used when no `--dht-bootstrap` is given. */
export const DEFAULT_DHT_BOOTSTRAP: readonly HostPort[] = [
  { host: 'router.bittorrent.com', port: 6881 },
  { host: 'dht.transmissionbt.com', port: 6881 },
  { host: 'router.utorrent.com', port: 6881 },
];

export interface DhtFlags {
  /** Commander's `--no-dht` sets this to false. */
  dht?: boolean;
  dhtPort?: string | number;
  dhtBootstrap?: readonly string[];
}

export type DhtSettings =
  | { enabled: false; reason: string }
  | { enabled: true; port: number; bootstrap: readonly HostPort[]; stateFile: string };

/** True when the environment turns the DHT off. */
export function dhtDisabledByEnv(env: NodeJS.ProcessEnv): boolean {
  const v = (env.RXTORRENT_NO_DHT ?? '').trim().toLowerCase();
  return v !== '' && v !== '0' && v !== 'false';
}

export function dhtSettings(
  flags: DhtFlags,
  env: NodeJS.ProcessEnv,
  peerPort: number,
  torrent: { private?: boolean } = {},
): DhtSettings {
  if (flags.dht === false) return { enabled: false, reason: '--no-dht' };
  if (dhtDisabledByEnv(env)) return { enabled: false, reason: 'RXTORRENT_NO_DHT is set' };
  if (torrent.private) return { enabled: false, reason: 'private torrent (BEP 27)' };
  const port = flags.dhtPort === undefined ? peerPort : Number(flags.dhtPort);
  if (!Number.isInteger(port) || port < 0 || port > 65535)
    throw new Error(`--dht-port must be an integer from 0 to 65535, not ${JSON.stringify(flags.dhtPort)}`);
  const bootstrap = flags.dhtBootstrap?.length
    ? flags.dhtBootstrap.map(parseHostPort)
    : DEFAULT_DHT_BOOTSTRAP;
  return { enabled: true, port, bootstrap, stateFile: defaultDhtStatePath(env) };
}

/** `host:port` or `[ipv6]:port`; throws with a message naming the input. */
export function parseHostPort(s: string): HostPort {
  const m = /^\[([0-9a-fA-F:.]+)\]:(\d+)$/.exec(s) ?? /^([^:\s[\]]+):(\d+)$/.exec(s);
  const port = m ? Number(m[2]) : NaN;
  if (!m || !(port >= 1 && port <= 65535))
    throw new Error(`want host:port or [ipv6]:port, not ${JSON.stringify(s)}`);
  return { host: m[1], port };
}
