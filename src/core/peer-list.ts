/**
 * The swarm as we know it: peer addresses from every source, which to dial next, redial backoff,
 * strikes for bad data and bans.
 *
 * Owns: known addresses (bounded; where each came from: tracker, pex, lsd, dht, manual, incoming),
 * whether each is idle, being dialled or connected, its failures and next allowed dial time, whether it
 * showed it is a seed, strikes per machine and the banned set. Does not own: sockets or timers (the
 * torrent dials what `candidates` returns and reports back), or which peers to choke.
 *
 * Rules: an address listed again (e.g. by a tracker reply) is fresh evidence and may be dialled without
 * waiting out its backoff, unless banned. Strikes count per IP, except for our own addresses, where every
 * loopback peer shares one IP: there they count per connection, and reaching the limit closes that
 * connection instead of banning the machine. Failed dials, and connections that end without any payload
 * (a duplicate the peer closed, a peer that refuses our encryption policy, a peer with nothing for us),
 * back off 5 s, 10 s, 20 s, then every 30 s; the failures are forgiven after a connection with payload.
 *
 * A mutable object owned by one actor (the torrent).
 *
 * @example
 *   const list = new PeerList({ localAddresses: new Set(['127.0.0.1']), isSelf: () => false });
 *   list.learn([{ ip: '10.0.0.2', port: 6881 }], 'tracker', now);
 *   for (const k of list.candidates(now, 4)) dial(k);   // then list.connected(k.key) or list.dialFailed(k.key, now)
 */
import * as net from 'node:net';
import type { PeerAddress } from '../protocol/tracker-codec';

export type PeerSource = 'tracker' | 'pex' | 'lsd' | 'dht' | 'manual' | 'incoming';

export interface KnownPeer {
  readonly key: string;
  readonly ip: string;
  readonly port: number;
  source: PeerSource;
  state: 'idle' | 'connecting' | 'connected';
  failures: number;
  nextTry: number;
  /** It had every piece last time we saw it (a finished seed does not dial it). */
  seed: boolean;
}

export interface PeerListOptions {
  /** Our own addresses (loopback, interfaces): strikes there count per connection. */
  localAddresses: ReadonlySet<string>;
  /** True for our own listen address (never dialled). */
  isSelf: (ip: string, port: number) => boolean;
  /** Most addresses kept (default 2,000); idle ones that failed most are dropped first. */
  maxKnown?: number;
  /** Strikes before a ban (default 3). */
  maxStrikes?: number;
}

export const REDIAL_BASE_MS = 5_000;
export const REDIAL_MAX_MS = 30_000;
/** Strike records kept at most (per-connection keys for loopback peers could otherwise pile up). */
const MAX_STRIKE_RECORDS = 4096;
const NEVER = Number.MAX_SAFE_INTEGER;

export function addressKey(ip: string, port: number): string {
  return ip.includes(':') ? `[${ip}]:${port}` : `${ip}:${port}`;
}

/** `[::1]:6881` or `10.0.0.1:6881` → its IP. */
export function ipOfKey(key: string): string {
  return key.slice(0, key.lastIndexOf(':')).replace(/^\[|\]$/g, '');
}

export interface StrikeOutcome {
  /** The strikes reached the limit: close this connection. */
  close: boolean;
  /** The machine is banned from now on (never for our own addresses). */
  bannedIp?: string;
}

export class PeerList {
  private readonly known = new Map<string, KnownPeer>();
  private readonly strikes = new Map<string, number>();
  private readonly banned = new Set<string>();
  private readonly maxKnown: number;
  private readonly maxStrikes: number;

  constructor(private readonly o: PeerListOptions) {
    this.maxKnown = o.maxKnown ?? 2000;
    this.maxStrikes = o.maxStrikes ?? 3;
  }

  get size(): number {
    return this.known.size;
  }

  get(key: string): KnownPeer | undefined {
    return this.known.get(key);
  }

  isBanned(ip: string): boolean {
    return this.banned.has(ip.replace(/^::ffff:/, ''));
  }

  /** New addresses from a source; returns how many were new. Invalid, self and banned ones are skipped. */
  learn(peers: readonly PeerAddress[], source: PeerSource, now: number): number {
    let added = 0;
    for (const p of peers) {
      if (
        typeof p.ip !== 'string' ||
        !net.isIP(p.ip) ||
        !Number.isInteger(p.port) ||
        p.port <= 0 ||
        p.port > 65535
      )
        continue;
      const ip = p.ip.replace(/^::ffff:/, '');
      const key = addressKey(ip, p.port);
      const k = this.known.get(key);
      if (k) {
        if (k.nextTry !== NEVER) k.nextTry = Math.min(k.nextTry, now);
        continue;
      }
      if (this.o.isSelf(ip, p.port) || this.banned.has(ip)) continue;
      if (this.known.size >= this.maxKnown && !this.makeRoom()) continue;
      this.known.set(key, {
        key,
        ip,
        port: p.port,
        source,
        state: 'idle',
        failures: 0,
        nextTry: now,
        seed: false,
      });
      added++;
    }
    return added;
  }

  /** An incoming connection from `key` (its address is not dialable, but it is connected). */
  accepted(key: string, now: number): void {
    const k = this.known.get(key);
    if (k) k.state = 'connected';
    else if (this.known.size < this.maxKnown || this.makeRoom()) {
      const ip = ipOfKey(key);
      const port = Number(key.slice(key.lastIndexOf(':') + 1));
      this.known.set(key, {
        key,
        ip,
        port,
        source: 'incoming',
        state: 'connected',
        failures: 0,
        nextTry: now,
        seed: false,
      });
    }
  }

  /** Up to `limit` idle addresses whose backoff has passed (seeds skipped when `skipSeeds`). */
  candidates(now: number, limit: number, skipSeeds: boolean): KnownPeer[] {
    const out: KnownPeer[] = [];
    if (limit <= 0) return out;
    for (const k of this.known.values()) {
      if (k.state !== 'idle' || k.nextTry > now || k.source === 'incoming') continue;
      if (skipSeeds && k.seed) continue;
      out.push(k);
      if (out.length >= limit) break;
    }
    return out;
  }

  connecting(key: string): void {
    const k = this.known.get(key);
    if (k) k.state = 'connecting';
  }

  /** Dialled and connected; its failures are forgiven once the connection carried payload (`disconnected`). */
  connected(key: string): void {
    const k = this.known.get(key);
    if (k) k.state = 'connected';
  }

  dialFailed(key: string, now: number): void {
    const k = this.known.get(key);
    if (!k) return;
    k.state = 'idle';
    this.backOff(k, now);
  }

  /**
   * The connection ended; `seed` when the peer had every piece. Incoming-only addresses are forgotten.
   * `failedAt`: it ended without anything useful (no payload either way — e.g. the peer closed it as a
   * duplicate of a connection we already have), so the address backs off like a failed dial instead of
   * being dialled again at once.
   */
  disconnected(key: string, seed: boolean, failedAt?: number): void {
    const k = this.known.get(key);
    if (!k) return;
    if (k.source === 'incoming') {
      this.known.delete(key);
      return;
    }
    k.state = 'idle';
    if (seed) k.seed = true;
    if (failedAt !== undefined) this.backOff(k, failedAt);
    else k.failures = 0;
  }

  private backOff(k: KnownPeer, now: number): void {
    k.failures++;
    if (k.nextTry !== NEVER)
      k.nextTry = now + Math.min(REDIAL_MAX_MS, REDIAL_BASE_MS * 2 ** Math.min(6, k.failures - 1));
  }

  /** Every address that may be dialled, now or later (not struck out, not incoming-only). */
  dialable(): KnownPeer[] {
    return [...this.known.values()].filter((k) => k.source !== 'incoming' && k.nextTry !== NEVER);
  }

  /** Connecting addresses (for the connection cap). */
  connectingCount(): number {
    let n = 0;
    for (const k of this.known.values()) if (k.state === 'connecting') n++;
    return n;
  }

  /**
   * A strike against the peer at `key` (bad data; `weight` < 1 when the blame is shared). At the limit the
   * connection is closed and, unless the address is one of ours, the machine is banned.
   */
  strike(key: string, weight = 1): StrikeOutcome {
    const ip = ipOfKey(key);
    const local = this.o.localAddresses.has(ip);
    const who = local ? key : ip;
    const n = (this.strikes.get(who) ?? 0) + weight;
    this.strikes.delete(who); // re-insert: the map's order is recency, the oldest record goes first
    this.strikes.set(who, n);
    if (this.strikes.size > MAX_STRIKE_RECORDS)
      this.strikes.delete(this.strikes.keys().next().value as string);
    if (n < this.maxStrikes) return { close: false };
    const k = this.known.get(key);
    if (k) k.nextTry = NEVER;
    if (local || this.banned.has(ip)) return { close: true };
    this.banned.add(ip);
    for (const [other, kp] of this.known) if (kp.ip === ip && kp.state === 'idle') this.known.delete(other);
    return { close: true, bannedIp: ip };
  }

  /** Drops the idle address with the most failures; false when every address is in use. */
  private makeRoom(): boolean {
    let worst: KnownPeer | undefined;
    for (const k of this.known.values()) {
      if (k.state !== 'idle') continue;
      if (!worst || k.failures > worst.failures) worst = k;
    }
    if (!worst) return false;
    this.known.delete(worst.key);
    return true;
  }
}
