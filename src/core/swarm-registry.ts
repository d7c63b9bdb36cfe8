/**
 * The tracker's swarm registry as a pure transition: `{ info-hash → swarm of peers }`.
 *
 * Owns: who is in which swarm (per-peer address, left, uploaded/downloaded, first/last seen, key),
 * seeder/leecher counts, completed-download counts, choosing which peers an announce gets back, and
 * expiring silent peers. Does not own: clocks, timers, randomness or sockets — time and a random
 * number arrive inside messages, replies leave as effects (see src/actors/registry-actor.ts), and
 * policy such as the torrent whitelist lives in the HTTP layer.
 *
 * State is immutable and shared structurally: swarms and peers live in a small persistent map
 * (copy-on-write buckets), so an announce copies one bucket of each level instead of the whole
 * registry. That keeps the transition pure without making an announce O(peers).
 *
 * @example
 *   let s = initialRegistry({ interval: 1800, minInterval: 60, grace: 120 }, 0);
 *   const step = registryTransition(s, { type: 'Announce', id: 1, at: 1000, rand: 0.5, request });
 *   step.effects[0] // { type: 'ReplyAnnounce', id: 1, outcome: { ok: true, reply: { complete: 0, ... } } }
 */
import type { Step } from './step';
import type { EventInput } from '../events/engine-event';
import { compactPeer } from '../protocol/tracker-codec';
import type { AnnounceEvent, AnnounceReply, AnnounceRequest, ScrapeFile } from '../protocol/tracker-codec';

// ---- a persistent map with copy-on-write buckets ----

/** Immutable string-keyed map; `set`/`delete` copy the bucket array and one bucket (≤ ~32 entries). */
export interface PMap<V> {
  readonly size: number;
  readonly buckets: readonly (ReadonlyMap<string, V> | undefined)[];
}

const BUCKET_TARGET = 32;
const MAX_BUCKETS = 8192;

export function pmapEmpty<V>(): PMap<V> {
  return { size: 0, buckets: [undefined] };
}

function hashOf(key: string): number {
  // FNV-1a over the key's char codes: peer ids share client prefixes, so hash every character.
  let h = 0x811c9dc5;
  for (let i = 0; i < key.length; i++) {
    h ^= key.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

function slot(key: string, n: number): number {
  return n === 1 ? 0 : hashOf(key) & (n - 1);
}

export function pmapGet<V>(m: PMap<V>, key: string): V | undefined {
  return m.buckets[slot(key, m.buckets.length)]?.get(key);
}

export function pmapSet<V>(m: PMap<V>, key: string, value: V): PMap<V> {
  const n = m.buckets.length;
  const i = slot(key, n);
  const old = m.buckets[i];
  const had = old?.has(key) ?? false;
  const size = had ? m.size : m.size + 1;
  if (!had && size > n * BUCKET_TARGET && n < MAX_BUCKETS) {
    // Grow eightfold and rehash; amortised O(1) per insertion.
    const grown = rehash(m, Math.min(n * 8, MAX_BUCKETS));
    return pmapSet(grown, key, value);
  }
  const bucket = new Map(old);
  bucket.set(key, value);
  const buckets = m.buckets.slice();
  buckets[i] = bucket;
  return { size, buckets };
}

export function pmapDelete<V>(m: PMap<V>, key: string): PMap<V> {
  const i = slot(key, m.buckets.length);
  const old = m.buckets[i];
  if (!old?.has(key)) return m;
  const buckets = m.buckets.slice();
  if (old.size === 1) buckets[i] = undefined;
  else {
    const bucket = new Map(old);
    bucket.delete(key);
    buckets[i] = bucket;
  }
  return { size: m.size - 1, buckets };
}

function rehash<V>(m: PMap<V>, n: number): PMap<V> {
  const buckets: Map<string, V>[] = Array.from({ length: n }, () => new Map<string, V>());
  for (const b of m.buckets) if (b) for (const [k, v] of b) buckets[slot(k, n)].set(k, v);
  return { size: m.size, buckets: buckets.map((b) => (b.size > 0 ? b : undefined)) };
}

export function* pmapValues<V>(m: PMap<V>): IterableIterator<V> {
  for (const b of m.buckets) if (b) yield* b.values();
}

// ---- registry state ----

export interface PeerEntry {
  /** Peer id, 20 bytes as a latin1 string (also the key in its swarm). */
  readonly id: string;
  readonly ip: string;
  readonly port: number;
  /** BEP 23 / BEP 7 compact form `<ip><port>` as a latin1 string (6 or 18 bytes), built once. */
  readonly compact: string;
  readonly uploaded: number;
  readonly downloaded: number;
  /** Bytes left; undefined when the client never said (counted as a leecher). */
  readonly left: number | undefined;
  readonly firstSeen: number;
  readonly lastSeen: number;
  readonly key: string | undefined;
}

export interface Swarm {
  /** Hex info-hash. */
  readonly infoHash: string;
  readonly peers: PMap<PeerEntry>;
  readonly seeders: number;
  readonly leechers: number;
  /** Completed downloads (BEP 48 `downloaded`): event=completed, or a leecher reporting left=0. */
  readonly completed: number;
}

export interface RegistryConfig {
  /** Seconds between regular announces that we ask clients for. */
  interval: number;
  /** Seconds a client must wait at least between announces. */
  minInterval: number;
  /** Extra seconds of silence tolerated after `interval` before a peer is expired. */
  grace: number;
}

export interface RegistryState {
  readonly config: RegistryConfig;
  readonly swarms: PMap<Swarm>;
  readonly peers: number;
  readonly seeders: number;
  readonly announces: number;
  /** Epoch milliseconds when the registry started. */
  readonly startedAt: number;
}

export type RegistryIn =
  /** A client announced. `at` is epoch ms, `rand` in [0, 1) picks where the peer list starts. */
  | { type: 'Announce'; id: number; at: number; rand: number; request: AnnounceRequest }
  /** Expire every peer silent since before `at - (interval + grace)`. */
  | { type: 'Sweep'; at: number };

export type AnnounceOutcome =
  | { ok: true; reply: Omit<AnnounceReply, 'peers'> & { peers: readonly PeerEntry[] } }
  | { ok: false; code: 'key-mismatch'; reason: string };

export type RegistryEffect = { type: 'ReplyAnnounce'; id: number; outcome: AnnounceOutcome };

export type RegistryStep = Step<RegistryState, RegistryEffect, EventInput>;

export const DEFAULT_REGISTRY_CONFIG: RegistryConfig = { interval: 1800, minInterval: 60, grace: 300 };

export function initialRegistry(
  config: RegistryConfig = DEFAULT_REGISTRY_CONFIG,
  startedAt = 0,
): RegistryState {
  return { config, swarms: pmapEmpty(), peers: 0, seeders: 0, announces: 0, startedAt };
}

export function registryTransition(state: RegistryState, msg: RegistryIn): RegistryStep {
  switch (msg.type) {
    case 'Announce':
      return announce(state, msg);
    case 'Sweep':
      return sweep(state, msg.at);
  }
}

const isSeed = (left: number | undefined): boolean => left === 0;

function announce(state: RegistryState, msg: Extract<RegistryIn, { type: 'Announce' }>): RegistryStep {
  const r = msg.request;
  const hash = r.infoHash.toString('hex');
  const id = r.peerId.toString('latin1');
  const swarm0 = pmapGet(state.swarms, hash);
  const existing = swarm0 ? pmapGet(swarm0.peers, id) : undefined;
  const peerLabel = `${r.ip.includes(':') ? `[${r.ip}]` : r.ip}:${r.port}`;

  // A peer id that moved to another address must prove it is the same client with its `key`.
  if (existing && existing.ip !== r.ip && existing.key !== undefined && existing.key !== r.key) {
    return {
      state: { ...state, announces: state.announces + 1 },
      effects: [
        {
          type: 'ReplyAnnounce',
          id: msg.id,
          outcome: { ok: false, code: 'key-mismatch', reason: 'peer_id already in use from another address' },
        },
      ],
      events: [
        {
          category: 'tracker',
          type: 'AnnounceRefused',
          level: 'warn',
          torrent: hash,
          peer: peerLabel,
          reason: 'key-mismatch',
        },
      ],
    };
  }

  let swarm: Swarm = swarm0 ?? { infoHash: hash, peers: pmapEmpty(), seeders: 0, leechers: 0, completed: 0 };
  let { peers, seeders } = state;
  const events: EventInput[] = [];
  if (existing) {
    swarm = {
      ...swarm,
      peers: pmapDelete(swarm.peers, id),
      seeders: swarm.seeders - (isSeed(existing.left) ? 1 : 0),
      leechers: swarm.leechers - (isSeed(existing.left) ? 0 : 1),
    };
    peers--;
    if (isSeed(existing.left)) seeders--;
  }

  // A completion is event=completed from a peer not already known as a seed, or a known leecher
  // turning up with left=0 (some clients fold `completed` into their `stopped` announce).
  const completedNow =
    r.event === 'completed'
      ? !(existing && isSeed(existing.left))
      : isSeed(r.left) && existing !== undefined && existing.left !== undefined && existing.left > 0;
  let listed: readonly PeerEntry[] = [];
  if (r.event === 'stopped') {
    swarm = { ...swarm, completed: swarm.completed + (completedNow ? 1 : 0) };
    events.push(peerEvent('PeerStopped', hash, peerLabel, r.event, r.left, id));
  } else {
    const entry: PeerEntry = {
      id,
      ip: r.ip,
      port: r.port,
      compact:
        existing && existing.ip === r.ip && existing.port === r.port
          ? existing.compact
          : compactPeer(r.ip, r.port),
      uploaded: r.uploaded,
      downloaded: r.downloaded,
      left: r.left,
      firstSeen: existing?.firstSeen ?? msg.at,
      lastSeen: msg.at,
      key: r.key ?? existing?.key,
    };
    listed = pickPeers(swarm.peers, r.numwant, isSeed(r.left), msg.rand);
    swarm = {
      ...swarm,
      peers: pmapSet(swarm.peers, id, entry),
      seeders: swarm.seeders + (isSeed(r.left) ? 1 : 0),
      leechers: swarm.leechers + (isSeed(r.left) ? 0 : 1),
      completed: swarm.completed + (completedNow ? 1 : 0),
    };
    peers++;
    if (isSeed(r.left)) seeders++;
    events.push(peerEvent(existing ? 'PeerAnnounced' : 'PeerJoined', hash, peerLabel, r.event, r.left, id));
  }
  if (completedNow)
    events.push({
      category: 'tracker',
      type: 'DownloadCompleted',
      level: 'info',
      torrent: hash,
      peer: peerLabel,
    });

  // An empty swarm that never completed a download carries no information worth keeping.
  const swarms =
    swarm.peers.size === 0 && swarm.completed === 0
      ? pmapDelete(state.swarms, hash)
      : pmapSet(state.swarms, hash, swarm);
  const reply = {
    interval: state.config.interval,
    minInterval: state.config.minInterval,
    complete: swarm.seeders,
    incomplete: swarm.leechers,
    peers: listed,
  };
  return {
    state: { ...state, swarms, peers, seeders, announces: state.announces + 1 },
    effects: [{ type: 'ReplyAnnounce', id: msg.id, outcome: { ok: true, reply } }],
    events,
  };
}

function peerEvent(
  type: string,
  torrent: string,
  peer: string,
  event: AnnounceEvent,
  left: number | undefined,
  id: string,
): EventInput {
  return {
    category: 'tracker',
    type,
    level: 'info',
    torrent,
    peer,
    ...(event ? { event } : {}),
    ...(left !== undefined ? { left } : {}),
    client: printableClient(id),
  };
}

/** The printable client prefix of a peer id (`-lt2080-`, `A2-1-36-0-`), for logs. */
export function printableClient(id: string): string {
  let s = '';
  for (let i = 0; i < id.length && i < 10; i++) {
    const c = id.charCodeAt(i);
    if (c < 0x21 || c > 0x7e) break;
    s += id[i];
  }
  return s;
}

/**
 * Up to `n` peers of a swarm (the asker is already out of it), starting at a random bucket so
 * repeated announces see different peers; a seeder is only given leechers, since seeds have
 * nothing to trade with each other.
 */
export function pickPeers(peers: PMap<PeerEntry>, n: number, forSeed: boolean, rand: number): PeerEntry[] {
  const out: PeerEntry[] = [];
  if (n <= 0 || peers.size === 0) return out;
  const nb = peers.buckets.length;
  const start = Math.min(nb - 1, Math.floor(rand * nb));
  for (let k = 0; k < nb && out.length < n; k++) {
    const b = peers.buckets[(start + k) % nb];
    if (!b) continue;
    for (const p of b.values()) {
      if (forSeed && isSeed(p.left)) continue;
      out.push(p);
      if (out.length >= n) break;
    }
  }
  return out;
}

function sweep(state: RegistryState, at: number): RegistryStep {
  const deadline = at - (state.config.interval + state.config.grace) * 1000;
  let swarms = state.swarms;
  let { peers, seeders } = state;
  const events: EventInput[] = [];
  for (const swarm of pmapValues(state.swarms)) {
    let s = swarm;
    for (const p of pmapValues(swarm.peers)) {
      if (p.lastSeen >= deadline) continue;
      const seed = isSeed(p.left);
      s = {
        ...s,
        peers: pmapDelete(s.peers, p.id),
        seeders: s.seeders - (seed ? 1 : 0),
        leechers: s.leechers - (seed ? 0 : 1),
      };
      peers--;
      if (seed) seeders--;
      const label = `${p.ip.includes(':') ? `[${p.ip}]` : p.ip}:${p.port}`;
      events.push({
        category: 'tracker',
        type: 'PeerExpired',
        level: 'info',
        torrent: swarm.infoHash,
        peer: label,
        silentFor: Math.round((at - p.lastSeen) / 1000),
      });
    }
    if (s === swarm) continue;
    swarms =
      s.peers.size === 0 && s.completed === 0
        ? pmapDelete(swarms, s.infoHash)
        : pmapSet(swarms, s.infoHash, s);
  }
  if (events.length === 0) return { state };
  return { state: { ...state, swarms, peers, seeders }, events };
}

// ---- queries ----

/** BEP 48 counts for the given hex info-hashes (unknown ones count zero), or for every swarm. */
export function scrapeRegistry(state: RegistryState, infoHashes: readonly string[] | 'all'): ScrapeFile[] {
  const files: ScrapeFile[] = [];
  const add = (hash: string, s: Swarm | undefined): void => {
    files.push({
      infoHash: Buffer.from(hash, 'hex'),
      complete: s?.seeders ?? 0,
      downloaded: s?.completed ?? 0,
      incomplete: s?.leechers ?? 0,
    });
  };
  if (infoHashes === 'all') for (const s of pmapValues(state.swarms)) add(s.infoHash, s);
  else for (const h of infoHashes) add(h, pmapGet(state.swarms, h));
  return files;
}

export interface RegistryStats {
  torrents: number;
  peers: number;
  seeders: number;
  leechers: number;
  completed: number;
  announces: number;
  /** Seconds since start. */
  uptime: number;
}

export function registryStats(state: RegistryState, now: number): RegistryStats {
  let completed = 0;
  for (const s of pmapValues(state.swarms)) completed += s.completed;
  return {
    torrents: state.swarms.size,
    peers: state.peers,
    seeders: state.seeders,
    leechers: state.peers - state.seeders,
    completed,
    announces: state.announces,
    uptime: Math.max(0, Math.floor((now - state.startedAt) / 1000)),
  };
}

/** Swarms sorted by info-hash (stable output for the console). */
export function listSwarms(state: RegistryState): Swarm[] {
  return [...pmapValues(state.swarms)].sort((a, b) =>
    a.infoHash < b.infoHash ? -1 : a.infoHash > b.infoHash ? 1 : 0,
  );
}

/** A swarm's peers, seeders first, then by address. */
export function listPeers(swarm: Swarm): PeerEntry[] {
  return [...pmapValues(swarm.peers)].sort(
    (a, b) => Number(isSeed(b.left)) - Number(isSeed(a.left)) || a.ip.localeCompare(b.ip) || a.port - b.port,
  );
}
