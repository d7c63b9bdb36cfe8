/**
 * The tracker's swarm rules as a transition over a packed peer store: `{ info-hash → swarm of peers }`.
 *
 * Owns: who is in which swarm, seeder/leecher counts, completed-download counts, choosing which peers
 * an announce gets back, the `key` check for a peer id that moved, and expiring silent peers. Does not
 * own: clocks, timers, randomness or sockets (time and a random number arrive inside messages, replies
 * leave as effects; see src/actors/registry-actor.ts), the bytes of the store (src/core/peer-store.ts),
 * or policy such as the whitelist (the front ends).
 *
 * Unlike the engine's other transitions this one updates its store in place and returns a new state
 * shell around it: copying per-peer structures cost ~1 KB per tracked peer, the packed store ~85 B.
 * The transition still does no I/O and reads no clock, so tests drive it with plain messages.
 *
 * @example
 *   let s = initialRegistry({ interval: 1800, minInterval: 60, grace: 120 }, 0);
 *   const step = registryTransition(s, { type: 'Announce', id: 1, at: 1000, rand: 0.5, request });
 *   step.effects[0] // { type: 'ReplyAnnounce', id: 1, outcome: { ok: true, reply: { complete: 0, ... } } }
 */
import type { Step } from './step';
import type { EventInput } from '../events/engine-event';
import { bytesToIp, ipInto, peerLabel } from '../protocol/ip-bytes';
import type { AnnounceRequest, ScrapeFile } from '../protocol/tracker-codec';
import { MAX_SWARM_PEERS, PeerStore, hash32 } from './peer-store';

export interface RegistryConfig {
  /** Seconds between regular announces that we ask clients for. */
  interval: number;
  /** Seconds a client must wait at least between announces. */
  minInterval: number;
  /** Extra seconds of silence tolerated after `interval` before a peer is expired. */
  grace: number;
}

export const DEFAULT_REGISTRY_CONFIG: RegistryConfig = { interval: 1800, minInterval: 60, grace: 300 };

/** An announce's answer: counts, intervals and the chosen peers in compact form. */
export interface AnnounceAnswer {
  interval: number;
  minInterval: number;
  complete: number;
  incomplete: number;
  /** 6-byte `<ipv4><port>` entries. */
  peers4: Buffer;
  /** 18-byte `<ipv6><port>` entries. */
  peers6: Buffer;
  /** 20-byte peer ids in the order of peers4 then peers6; only for a non-compact request. */
  peerIds?: Buffer;
}

export type AnnounceOutcome =
  | { ok: true; reply: AnnounceAnswer }
  | { ok: false; code: 'key-mismatch' | 'bad-address' | 'storage-unavailable'; reason: string };

/** A tracked swarm as the console and scrape see it. */
export interface SwarmSummary {
  infoHash: string;
  seeders: number;
  leechers: number;
  completed: number;
}

/** A tracked peer as the console sees it. */
export interface PeerView {
  /** Peer id as a latin1 string. */
  id: string;
  ip: string;
  port: number;
  left: number | undefined;
  uploaded: number;
  downloaded: number;
  lastSeen: number;
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

export interface RegistryState {
  readonly config: RegistryConfig;
  /** Mutable, owned by the transition; read it only through the query functions below. */
  readonly store: PeerStore;
  readonly announces: number;
  /** Epoch milliseconds when the registry started. */
  readonly startedAt: number;
}

export type RegistryIn =
  /**
   * A client announced. `at` is epoch ms, `rand` in [0, 1) picks where the peer list starts; `quiet`
   * leaves out the per-peer events (nobody listens, and at thousands of announces a second they cost).
   */
  | { type: 'Announce'; id: number; at: number; rand: number; request: AnnounceRequest; quiet?: boolean }
  /** Expire every peer silent since before `at - (interval + grace)`. */
  | { type: 'Sweep'; at: number };

export type RegistryEffect = { type: 'ReplyAnnounce'; id: number; outcome: AnnounceOutcome };
export type RegistryStep = Step<RegistryState, RegistryEffect, EventInput>;

export function initialRegistry(
  config: RegistryConfig = DEFAULT_REGISTRY_CONFIG,
  startedAt = 0,
): RegistryState {
  return { config, store: new PeerStore(startedAt), announces: 0, startedAt };
}

export function registryTransition(state: RegistryState, msg: RegistryIn): RegistryStep {
  switch (msg.type) {
    case 'Announce':
      return announce(state, msg);
    case 'Sweep':
      return sweep(state, msg.at);
  }
}

const EMPTY: Buffer = Buffer.alloc(0);
/** The asker's address as 16 bytes: the store copies it, so one scratch buffer serves every announce. */
const ADDR = Buffer.alloc(16);

function announce(state: RegistryState, msg: Extract<RegistryIn, { type: 'Announce' }>): RegistryStep {
  const { store } = state;
  const r = msg.request;
  // Swarms are keyed by the info-hash as a 20-character latin1 string: hex only for events.
  const key = r.infoHash.toString('latin1');
  const hash = msg.quiet ? '' : r.infoHash.toString('hex');
  const label = msg.quiet ? '' : peerLabel(r.ip, r.port);
  const family = ipInto(r.ip, ADDR);
  const next = { ...state, announces: state.announces + 1 };
  if (family === 0) {
    const outcome: AnnounceOutcome = { ok: false, code: 'bad-address', reason: 'invalid peer address' };
    return {
      state: next,
      effects: [{ type: 'ReplyAnnounce', id: msg.id, outcome }],
      events: [refusedEvent(hexOf(key), peerLabel(r.ip, r.port), 'bad-address')],
    };
  }
  let s = store.swarmOf(key);
  const rec = s < 0 ? -1 : store.find(s, r.peerId);
  const keyHash = r.key === undefined ? undefined : hash32(r.key);

  // A peer id that moved to another address must prove it is the same client with its `key`.
  if (rec >= 0 && !store.sameAddress(rec, ADDR, family === 6)) {
    const had = store.key(rec);
    if (had !== undefined && had !== keyHash) {
      const outcome: AnnounceOutcome = {
        ok: false,
        code: 'key-mismatch',
        reason: 'peer_id already in use from another address',
      };
      return {
        state: next,
        effects: [{ type: 'ReplyAnnounce', id: msg.id, outcome }],
        events: [refusedEvent(hexOf(key), peerLabel(r.ip, r.port), 'key-mismatch')],
      };
    }
  }

  const wasSeed = rec >= 0 && store.isSeed(rec);
  const oldLeft = rec >= 0 ? store.left(rec) : undefined;
  // A completion is event=completed from a peer not already known as a seed, or a known leecher
  // turning up with left=0 (some clients fold `completed` into their `stopped` announce).
  const completedNow =
    r.event === 'completed' ? !wasSeed : r.left === 0 && rec >= 0 && oldLeft !== undefined && oldLeft > 0;
  if (s < 0 && (r.event !== 'stopped' || completedNow)) s = store.addSwarm(key);
  const events: EventInput[] = [];
  let peers4: Buffer = EMPTY;
  let peers6: Buffer = EMPTY;
  let peerIds: Buffer | undefined;
  if (r.event === 'stopped') {
    if (rec >= 0) store.remove(rec);
    if (!msg.quiet) events.push(peerEvent('PeerStopped', hash, label, r));
  } else {
    ({ peers4, peers6, peerIds } = store.pickCompact(
      s,
      r.numwant,
      r.left === 0,
      r.only ?? 0,
      msg.rand,
      rec,
      !r.compact,
    ));
    const fields = {
      addr: ADDR,
      v6: family === 6,
      port: r.port,
      left: r.left,
      uploaded: r.uploaded,
      downloaded: r.downloaded,
      keyHash,
    };
    const seen = store.toSeconds(msg.at);
    if (rec >= 0) store.update(rec, fields, seen);
    else if (store.swarm(s).list.size < MAX_SWARM_PEERS) store.insert(s, r.peerId, fields, seen);
    if (!msg.quiet) events.push(peerEvent(rec >= 0 ? 'PeerAnnounced' : 'PeerJoined', hash, label, r));
  }
  if (completedNow && s >= 0) {
    store.swarm(s).completed++;
    store.completed++;
    const peer = peerLabel(r.ip, r.port);
    events.push({ category: 'tracker', type: 'DownloadCompleted', level: 'info', torrent: hexOf(key), peer });
  }
  let complete = 0;
  let incomplete = 0;
  if (s >= 0) {
    const head = store.swarm(s);
    complete = head.seeders;
    incomplete = head.list.size - head.seeders;
    // An empty swarm that never completed a download carries no information worth keeping.
    if (head.list.size === 0 && head.completed === 0) store.dropSwarm(s);
  }
  const { interval, minInterval } = state.config;
  const reply: AnnounceAnswer = { interval, minInterval, complete, incomplete, peers4, peers6 };
  if (peerIds) reply.peerIds = peerIds;
  return {
    state: next,
    effects: [{ type: 'ReplyAnnounce', id: msg.id, outcome: { ok: true, reply } }],
    events,
  };
}

const keyOf = (hex: string): string => Buffer.from(hex, 'hex').toString('latin1');
const hexOf = (key: string): string => Buffer.from(key, 'latin1').toString('hex');

function refusedEvent(torrent: string, peer: string, reason: string): EventInput {
  return { category: 'tracker', type: 'AnnounceRefused', level: 'warn', torrent, peer, reason };
}

function peerEvent(type: string, torrent: string, peer: string, r: AnnounceRequest): EventInput {
  return {
    category: 'tracker',
    type,
    level: 'info',
    torrent,
    peer,
    ...(r.event ? { event: r.event } : {}),
    ...(r.left !== undefined ? { left: r.left } : {}),
    client: printableClient(r.peerId),
  };
}

/** The printable client prefix of a peer id (`-lt2080-`, `A2-1-36-0-`), for logs. */
export function printableClient(id: Buffer | string): string {
  const s = typeof id === 'string' ? id : id.toString('latin1');
  let out = '';
  for (let i = 0; i < s.length && i < 10; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x21 || c > 0x7e) break;
    out += s[i];
  }
  return out;
}

function sweep(state: RegistryState, at: number): RegistryStep {
  const { store } = state;
  const deadlineMs = at - (state.config.interval + state.config.grace) * 1000;
  // Records hold whole seconds rounded up: a peer seen at second k is stale once k*1000 < deadline.
  const deadlineS = Math.ceil((deadlineMs - store.epochMs) / 1000);
  if (deadlineS <= 0) return { state };
  const events: EventInput[] = [];
  for (const head of [...store.swarms()]) {
    const s = store.swarmOf(head.infoHash);
    for (const r of store.stale(s, deadlineS)) {
      const lastSeen = store.lastSeenMs(r);
      if (lastSeen >= deadlineMs) continue;
      events.push({
        category: 'tracker',
        type: 'PeerExpired',
        level: 'info',
        torrent: hexOf(head.infoHash),
        peer: peerLabel(bytesToIp(store.addr(r), store.isV6(r)), store.port(r)),
        silentFor: Math.round((at - lastSeen) / 1000),
      });
      store.remove(r);
    }
    if (head.list.size === 0 && head.completed === 0) store.dropSwarm(s);
  }
  if (events.length === 0) return { state };
  return { state: { ...state }, events };
}

// ---- queries ----

function summary(store: PeerStore, hex: string): SwarmSummary | undefined {
  const s = store.swarmOf(keyOf(hex));
  if (s < 0) return undefined;
  const h = store.swarm(s);
  return { infoHash: hex, seeders: h.seeders, leechers: h.list.size - h.seeders, completed: h.completed };
}

/** BEP 48 counts for the given hex info-hashes (unknown ones count zero), or for every swarm. */
export function scrapeRegistry(state: RegistryState, infoHashes: readonly string[] | 'all'): ScrapeFile[] {
  const hashes = infoHashes === 'all' ? [...state.store.swarms()].map((h) => hexOf(h.infoHash)) : infoHashes;
  return hashes.map((hex) => {
    const s = summary(state.store, hex);
    return {
      infoHash: Buffer.from(hex, 'hex'),
      complete: s?.seeders ?? 0,
      downloaded: s?.completed ?? 0,
      incomplete: s?.leechers ?? 0,
    };
  });
}

export function registryStats(state: RegistryState, now: number): RegistryStats {
  const { store } = state;
  return {
    torrents: store.swarmCount,
    peers: store.peers,
    seeders: store.seeders,
    leechers: store.peers - store.seeders,
    completed: store.completed,
    announces: state.announces,
    uptime: Math.max(0, Math.floor((now - state.startedAt) / 1000)),
  };
}

/** Swarms sorted by info-hash (stable output for the console). */
export function listSwarms(state: RegistryState): SwarmSummary[] {
  return [...state.store.swarms()]
    .map((h) => summary(state.store, hexOf(h.infoHash)) as SwarmSummary)
    .sort((a, b) => (a.infoHash < b.infoHash ? -1 : a.infoHash > b.infoHash ? 1 : 0));
}

/** A swarm's peers, seeders first, then by address; undefined when the swarm is not tracked. */
export function listPeers(state: RegistryState, infoHashHex: string): PeerView[] | undefined {
  const { store } = state;
  const s = store.swarmOf(keyOf(infoHashHex));
  if (s < 0) return undefined;
  const out: PeerView[] = [];
  for (const r of store.members(s)) {
    out.push({
      id: store.peerId(r).toString('latin1'),
      ip: bytesToIp(store.addr(r), store.isV6(r)),
      port: store.port(r),
      left: store.left(r),
      uploaded: store.uploaded(r),
      downloaded: store.downloaded(r),
      lastSeen: store.lastSeenMs(r),
    });
  }
  return sortPeers(out);
}

export function sortPeers(peers: PeerView[]): PeerView[] {
  const seed = (p: PeerView): number => (p.left === 0 ? 1 : 0);
  return peers.sort((a, b) => seed(b) - seed(a) || a.ip.localeCompare(b.ip) || a.port - b.port);
}
