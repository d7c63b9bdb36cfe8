/**
 * Transmission's `session-get` keys for the engine's `SessionView`: our settings where we have them,
 * Transmission's defaults (alt speeds off, queues off, no scripts) where we do not, and limits in kB/s.
 */
import type { SessionView } from './rpc-backend';
import {
  LimitMemory,
  RPC_VERSION,
  RPC_VERSION_MIN,
  RPC_VERSION_SEMVER,
  SPEED_K,
  int,
  limitFields,
} from './transmission-fields';

const UNITS = {
  'speed-units': ['kB/s', 'MB/s', 'GB/s', 'TB/s'],
  'speed-bytes': SPEED_K,
  'size-units': ['kB', 'MB', 'GB', 'TB'],
  'size-bytes': 1000,
  'memory-units': ['KiB', 'MiB', 'GiB', 'TiB'],
  'memory-bytes': 1024,
};

/** Every session-get key: the engine's settings, and Transmission's defaults for what we do not have. */
export function sessionObject(
  s: SessionView,
  sessionId: string,
  limits: LimitMemory,
): Record<string, unknown> {
  const [downOn, down] = limitFields(s.downloadLimit, limits.get('session:down'));
  const [upOn, up] = limitFields(s.uploadLimit, limits.get('session:up'));
  return {
    'alt-speed-down': 50,
    'alt-speed-enabled': false,
    'alt-speed-time-begin': 540,
    'alt-speed-time-day': 127,
    'alt-speed-time-enabled': false,
    'alt-speed-time-end': 1020,
    'alt-speed-up': 50,
    'blocklist-enabled': false,
    'blocklist-size': 0,
    'blocklist-url': '',
    'cache-size-mb': 4,
    'config-dir': s.configDir ?? '',
    'default-trackers': '',
    'dht-enabled': s.dhtEnabled,
    'download-dir': s.downloadDir,
    'download-queue-enabled': false,
    'download-queue-size': 5,
    encryption: s.encryption,
    'idle-seeding-limit': 30,
    'idle-seeding-limit-enabled': false,
    'incomplete-dir': s.downloadDir,
    'incomplete-dir-enabled': false,
    'lpd-enabled': s.lpdEnabled,
    'peer-limit-global': int(s.peerLimitGlobal),
    'peer-limit-per-torrent': int(s.peerLimitPerTorrent),
    'peer-port': int(s.peerPort),
    'peer-port-random-on-start': false,
    'pex-enabled': s.pexEnabled,
    'port-forwarding-enabled': false,
    'queue-stalled-enabled': false,
    'queue-stalled-minutes': 30,
    'rename-partial-files': false,
    'rpc-version': RPC_VERSION,
    'rpc-version-minimum': RPC_VERSION_MIN,
    'rpc-version-semver': RPC_VERSION_SEMVER,
    'script-torrent-added-enabled': false,
    'script-torrent-added-filename': '',
    'script-torrent-done-enabled': false,
    'script-torrent-done-filename': '',
    'script-torrent-done-seeding-enabled': false,
    'script-torrent-done-seeding-filename': '',
    'seed-queue-enabled': false,
    'seed-queue-size': 10,
    seedRatioLimit: 2,
    seedRatioLimited: false,
    'session-id': sessionId,
    'speed-limit-down': down,
    'speed-limit-down-enabled': downOn,
    'speed-limit-up': up,
    'speed-limit-up-enabled': upOn,
    'start-added-torrents': s.startAddedTorrents,
    'tcp-enabled': true,
    'trash-original-torrent-files': false,
    units: UNITS,
    'utp-enabled': s.utpEnabled,
    version: s.version,
  };
}
