/**
 * The Redis registry: all swarm state in Redis, so several tracker processes (`--workers`, or
 * trackers on several hosts) serve one set of swarms. Implements `TrackerRegistry`.
 *
 * Owns: the connection (ioredis: reconnects with capped backoff, fails commands at once while
 * disconnected and after `commandTimeoutMs`, so no request ever hangs), calling the scripts of
 * src/tracker/redis-scripts.ts, the shared UDP connection-id secret, and adding this process's
 * HTTP/UDP counters into Redis once a second. Does not own: the rules' text (the scripts) or the
 * front ends. Time is Redis's (`TIME`), so processes on hosts with skewed clocks agree on expiry.
 *
 * Redis down: announces answer `{ ok: false, code: 'storage-unavailable' }` ("tracker storage
 * unavailable, retry later"), queries reject, and the connection comes back by itself.
 *
 * @example
 *   const registry = await createRedisRegistry({ url: 'redis://127.0.0.1:6379/0', config });
 *   await registry.announce(request);
 */
import Redis from 'ioredis';
import { Observable } from 'rxjs/internal/Observable';
import { Subject } from 'rxjs/internal/Subject';
import { hash32 } from '../core/peer-store';
import {
  AnnounceOutcome,
  PeerView,
  RegistryConfig,
  RegistryStats,
  SwarmSummary,
  printableClient,
  sortPeers,
} from '../core/swarm-registry';
import type { EventInput } from '../events/engine-event';
import { bytesToIp, ipToBytes, peerLabel } from '../protocol/ip-bytes';
import type { AnnounceRequest, ScrapeFile } from '../protocol/tracker-codec';
import { newSecret } from './connection-ids';
import { ANNOUNCE_LUA, COUNT_LUA, LIVE_SWARMS_LUA, PEERS_LUA } from './redis-scripts';
import { STORAGE_UNAVAILABLE, TrackerRegistry } from './registry';
import { Traffic, TrafficCounts, unflatten } from './traffic';

const EMPTY = Buffer.alloc(0);

export interface RedisRegistryOptions {
  /** `redis://[user:pass@]HOST:PORT[/DB]`. */
  url: string;
  config: RegistryConfig;
  /** Key prefix (default `rxt:`): several trackers with their own swarms can share one Redis. */
  prefix?: string;
  /** This process's counters, added into Redis every `flushEveryMs` (default 1 s). */
  traffic?: Traffic;
  flushEveryMs?: number;
  commandTimeoutMs?: number;
  clock?: () => number;
}

export interface RedisRegistry extends TrackerRegistry {
  /** HTTP and UDP counts of every process on this Redis. */
  trafficTotals(): Promise<TrafficCounts>;
  /** The UDP connection-id secret shared through Redis (created by the first tracker that asks). */
  sharedSecret(): Promise<string>;
  /** Whether the connection is up now. */
  connected(): boolean;
  /** Resolves true once connected, or false after `timeoutMs` (start-up waits this long at most). */
  ready(timeoutMs: number): Promise<boolean>;
}

interface Scripts {
  rxtAnnounceBuffer(...args: (string | Buffer | number)[]): Promise<(Buffer | number)[]>;
  rxtCount(...args: (string | number)[]): Promise<number[]>;
  rxtLiveSwarms(...args: (string | number)[]): Promise<string[]>;
  rxtPeersBuffer(...args: (string | number)[]): Promise<Buffer[]>;
}

/** `redis://HOST:PORT[/DB]` checked up front, so a typo is a clear error at start. */
export function parseRedisUrl(url: string): URL {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new Error(`not a Redis URL: ${url} (use redis://HOST:PORT[/DB])`);
  }
  if (u.protocol !== 'redis:') throw new Error(`not a Redis URL: ${url} (use redis://HOST:PORT[/DB])`);
  if (u.pathname.length > 1 && !/^\/\d{1,2}$/.test(u.pathname))
    throw new Error(`bad Redis database in ${url}`);
  return u;
}

export function createRedisRegistry(o: RedisRegistryOptions): RedisRegistry {
  parseRedisUrl(o.url);
  const prefix = o.prefix ?? 'rxt:';
  const ttl = (o.config.interval + o.config.grace) * 1000;
  const clock = o.clock ?? Date.now;
  const startedAt = clock();
  const events = new Subject<EventInput>();
  const redis = new Redis(o.url, {
    enableOfflineQueue: false, // fail at once while disconnected: never queue an announce
    maxRetriesPerRequest: 0,
    commandTimeout: o.commandTimeoutMs ?? 2000,
    connectTimeout: 2000,
    retryStrategy: (times) => Math.min(50 * 2 ** Math.min(times, 10), 2000),
  });
  let up = false;
  let failures = 0;
  redis.on('ready', () => {
    if (!up && failures > 0) events.next({ category: 'tracker', type: 'StorageRecovered', level: 'info' });
    up = true;
    failures = 0;
  });
  redis.on('error', (err: Error) => {
    // Said once per outage, not once per reconnect attempt.
    if (up || failures === 0)
      events.next({ category: 'tracker', type: 'StorageUnavailable', level: 'warn', reason: err.message });
    up = false;
    failures++;
  });
  redis.on('end', () => (up = false));
  redis.defineCommand('rxtAnnounce', { numberOfKeys: 6, lua: ANNOUNCE_LUA });
  redis.defineCommand('rxtCount', { lua: COUNT_LUA });
  redis.defineCommand('rxtLiveSwarms', { numberOfKeys: 1, lua: LIVE_SWARMS_LUA });
  redis.defineCommand('rxtPeers', { numberOfKeys: 3, lua: PEERS_LUA });
  const scripts = redis as unknown as Scripts;
  const swarmKeys = (hex: string): string[] => ['s', 'l', 'd', 'm'].map((k) => `${prefix}{${hex}}:${k}`);

  // This process's counters, flushed as increments so every process's add up.
  const traffic = o.traffic;
  let flushed: Record<string, number> = {};
  const flush = async (): Promise<void> => {
    if (!traffic || !up) return;
    const now = traffic.flat();
    const pipe = redis.pipeline();
    let n = 0;
    for (const [k, v] of Object.entries(now)) {
      const delta = v - (flushed[k] ?? 0);
      if (delta !== 0) {
        pipe.hincrby(`${prefix}traffic`, k, delta);
        n++;
      }
    }
    if (n === 0) return;
    await pipe.exec();
    flushed = now;
  };
  const flushTimer = setInterval(() => void flush().catch(() => undefined), o.flushEveryMs ?? 1000);
  flushTimer.unref();

  const announce = async (r: AnnounceRequest): Promise<AnnounceOutcome> => {
    const ip = ipToBytes(r.ip);
    if (!ip) return { ok: false, code: 'bad-address', reason: 'invalid peer address' };
    const hex = r.infoHash.toString('hex');
    const head = Buffer.allocUnsafe(19);
    head[0] =
      (ip.v6 ? 1 : 0) |
      (r.left !== undefined ? 2 : 0) |
      (r.key !== undefined ? 4 : 0) |
      (r.left === 0 ? 8 : 0);
    ip.addr.copy(head, 1);
    head.writeUInt16BE(r.port, 17);
    const key = r.key === undefined ? EMPTY : Buffer.alloc(4);
    if (r.key !== undefined) key.writeUInt32BE(hash32(r.key), 0);
    let out: (Buffer | number)[];
    try {
      out = await scripts.rxtAnnounceBuffer(
        ...swarmKeys(hex),
        `${prefix}swarms`,
        `${prefix}stats`,
        r.peerId,
        head,
        key,
        `${r.left ?? ''},${r.uploaded},${r.downloaded}`,
        r.event,
        r.numwant,
        Math.random(),
        ttl,
        r.only ?? 0,
        r.compact ? '' : '1',
        hex,
      );
    } catch (err) {
      if (events.observed)
        events.next({
          category: 'tracker',
          type: 'AnnounceFailed',
          level: 'debug',
          reason: (err as Error).message,
        });
      return { ok: false, code: 'storage-unavailable', reason: STORAGE_UNAVAILABLE };
    }
    const status = String(out[0]);
    if (status === 'key-mismatch')
      return { ok: false, code: 'key-mismatch', reason: 'peer_id already in use from another address' };
    if (events.observed) {
      const type =
        status === 'joined' ? 'PeerJoined' : status === 'announced' ? 'PeerAnnounced' : 'PeerStopped';
      const peer = peerLabel(r.ip, r.port);
      events.next({
        category: 'tracker',
        type,
        level: 'info',
        torrent: hex,
        peer,
        client: printableClient(r.peerId),
      });
      if (out[6] === 1)
        events.next({ category: 'tracker', type: 'DownloadCompleted', level: 'info', torrent: hex, peer });
    }
    const ids = out[5] as Buffer;
    return {
      ok: true,
      reply: {
        interval: o.config.interval,
        minInterval: o.config.minInterval,
        complete: Number(out[1]),
        incomplete: Number(out[2]),
        peers4: out[3] as Buffer,
        peers6: out[4] as Buffer,
        ...(r.compact ? {} : { peerIds: ids }),
      },
    };
  };

  /** Counts for hex info-hashes, 100 per script call. */
  const counts = async (hexes: readonly string[]): Promise<SwarmSummary[]> => {
    const out: SwarmSummary[] = [];
    for (let i = 0; i < hexes.length; i += 100) {
      const batch = hexes.slice(i, i + 100);
      const keys = batch.flatMap((h) => {
        const [s, l, , m] = swarmKeys(h);
        return [s, l, m];
      });
      const n = await scripts.rxtCount(keys.length, ...keys, ttl);
      batch.forEach((h, k) =>
        out.push({ infoHash: h, seeders: n[k * 3], leechers: n[k * 3 + 1], completed: n[k * 3 + 2] }),
      );
    }
    return out;
  };

  const swarms = async (): Promise<SwarmSummary[]> => {
    const live = (await scripts.rxtLiveSwarms(`${prefix}swarms`, ttl)).sort();
    return (await counts(live)).filter((s) => s.seeders + s.leechers + s.completed > 0);
  };

  return {
    announce,
    scrape: async (infoHashes) => {
      const list =
        infoHashes.length === 0 ? await swarms() : await counts(infoHashes.map((h) => h.toString('hex')));
      return list.map((s): ScrapeFile => ({
        infoHash: Buffer.from(s.infoHash, 'hex'),
        complete: s.seeders,
        downloaded: s.completed,
        incomplete: s.leechers,
      }));
    },
    stats: async (): Promise<RegistryStats> => {
      const all = await swarms();
      const announces = Number((await redis.hget(`${prefix}stats`, 'announces')) ?? 0);
      const seeders = all.reduce((a, s) => a + s.seeders, 0);
      const leechers = all.reduce((a, s) => a + s.leechers, 0);
      return {
        torrents: all.length,
        peers: seeders + leechers,
        seeders,
        leechers,
        completed: all.reduce((a, s) => a + s.completed, 0),
        announces,
        uptime: Math.max(0, Math.floor((clock() - startedAt) / 1000)),
      };
    },
    swarms,
    peers: async (hex: string): Promise<PeerView[] | undefined> => {
      const [s, l, d] = swarmKeys(hex);
      const flat = await scripts.rxtPeersBuffer(s, l, d, ttl);
      if (flat.length === 0) return undefined;
      const peers: PeerView[] = [];
      for (let i = 0; i < flat.length; i += 3) {
        const rec = flat[i + 2];
        const [left, up, down] = rec.subarray(23).toString('latin1').split(',');
        peers.push({
          id: flat[i].toString('latin1'),
          ip: bytesToIp(rec.subarray(1, 17), (rec[0] & 1) !== 0),
          port: rec.readUInt16BE(17),
          left: left === '' ? undefined : Number(left),
          uploaded: Number(up),
          downloaded: Number(down),
          lastSeen: Number(flat[i + 1].toString()),
        });
      }
      return sortPeers(peers);
    },
    trafficTotals: async () => {
      await flush().catch(() => undefined);
      const h = await redis.hgetall(`${prefix}traffic`);
      return unflatten(Object.fromEntries(Object.entries(h).map(([k, v]) => [k, Number(v)])));
    },
    sharedSecret: async () => {
      await redis.set(`${prefix}udp-secret`, newSecret(), 'NX');
      const secret = await redis.get(`${prefix}udp-secret`);
      if (!secret) throw new Error('no UDP secret in Redis');
      return secret;
    },
    connected: () => up,
    ready: (timeoutMs) =>
      up
        ? Promise.resolve(true)
        : new Promise<boolean>((resolve) => {
            const t = setTimeout(() => {
              redis.off('ready', onReady);
              resolve(false);
            }, timeoutMs);
            const onReady = (): void => {
              clearTimeout(t);
              resolve(true);
            };
            redis.once('ready', onReady);
          }),
    events$: events.asObservable() as Observable<EventInput>,
    close: async () => {
      clearInterval(flushTimer);
      await flush().catch(() => undefined);
      events.complete();
      redis.disconnect();
    },
  };
}
