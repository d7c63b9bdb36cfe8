/**
 * BEP 11 peer exchange for one torrent, as pure logic: what to tell each peer, when, and what to learn
 * from what peers tell us.
 *
 * Owns: the set of connected peers worth advertising (the engine says which, with the address others
 * can dial and the flags we know), per remote peer what it has already been told, the once-a-minute
 * pace (a message only when something changed, at most MAX_ADDED added and MAX_DROPPED dropped, the
 * rest next time), and the checks on what arrives: a flood (more than `maxMessagesPerMinute`) closes the
 * peer; unusable addresses (port 0, unspecified, multicast, broadcast), duplicates, more than `maxPerIp`
 * ports of one address, local addresses from a non-local peer, and anything past `maxLearnedPerPeer` from
 * one peer are dropped. Private torrents (BEP 27) neither send nor learn anything.
 * Does not own: sockets, timers (the runtime sends `Tick`), the extended-message envelope, or the
 * torrent's peer list (learned addresses go out as an `AddPeers` effect with source 'pex'; the list
 * owns bounds, backoff and bans).
 *
 * @example
 *   let s = initialPexState({ private: false });
 *   s = pexTransition(s, { type: 'PeerConnected', peer: 'A', address: { ip: '10.0.0.2', port: 6881 }, flags: PexFlag.Reachable, now: 0 }).state;
 *   s = pexTransition(s, { type: 'PeerSupportsPex', peer: 'B', ip: '10.0.0.3', now: 0 }).state;
 *   pexTransition(s, { type: 'Tick', now: 1000 }).effects; // [{ type: 'SendPex', peer: 'B', payload: <added: A> }]
 */
import * as net from 'node:net';
import type { Step } from '../actors/actor';
import type { EventInput } from '../events/engine-event';
import { PeerAddress, normalizeIp } from '../protocol/compact-peers';
import { PexFlag, PexMessage, PexPeer, encodePex } from '../protocol/ut-pex';

export const PEX_INTERVAL_MS = 60_000;
export const MAX_ADDED = 50;
export const MAX_DROPPED = 50;
/** The flags we can vouch for; uTP and hole punching are not ours to claim. */
export const KNOWN_PEX_FLAGS = PexFlag.Encryption | PexFlag.Seed | PexFlag.Reachable;

export interface PexConfig {
  private: boolean;
  intervalMs?: number;
  /** Incoming messages tolerated per minute before the peer is closed (libtorrent allows 6). */
  maxMessagesPerMinute?: number;
  /** Addresses learned from one peer over its connection (default 200). */
  maxLearnedPerPeer?: number;
  /** Ports of one IP accepted in one message (default 8; loopback swarms share an IP). */
  maxPerIp?: number;
  /** Our own listen addresses (`ip:port`), never learned. */
  self?: readonly string[];
  /** Info-hash (hex) for events. */
  torrent?: string;
}

interface Remote {
  ip: string;
  /** Advertised addresses (`ip:port`) this peer was told about and not yet told dropped. */
  told: ReadonlySet<string>;
  lastSentAt?: number;
  /** Times of recent incoming messages (the last minute). */
  received: readonly number[];
  /** Addresses this peer told us about that are still "added". */
  learned: ReadonlySet<string>;
  learnedTotal: number;
}

export interface PexState {
  readonly cfg: Required<Omit<PexConfig, 'torrent'>> & { torrent?: string };
  /** Connected peers worth advertising: peer key → its dialable address and flags. */
  readonly connected: ReadonlyMap<string, PexPeer>;
  /** Peers that speak ut_pex. */
  readonly remotes: ReadonlyMap<string, Remote>;
}

export type PexIn =
  /** An established connection (again, to update flags). `address`: where others can dial it, if known. */
  | { type: 'PeerConnected'; peer: string; address?: PeerAddress; flags: number; now: number }
  | { type: 'PeerDisconnected'; peer: string; now: number }
  /** The peer's extended handshake offers ut_pex (`ip`: its address, to judge local addresses). */
  | { type: 'PeerSupportsPex'; peer: string; ip: string; now: number }
  /** It turned ut_pex off in a later handshake. */
  | { type: 'PeerStoppedPex'; peer: string; now: number }
  | { type: 'PeerSentPex'; peer: string; message: PexMessage; now: number }
  | { type: 'Tick'; now: number };

export type PexEffect =
  | { type: 'SendPex'; peer: string; payload: Buffer }
  | { type: 'AddPeers'; from: string; peers: (PeerAddress & { pexFlags: number })[]; source: 'pex' }
  | { type: 'ClosePeer'; peer: string; reason: string };

export type PexStep = Step<PexState, PexEffect, EventInput>;

export function initialPexState(cfg: PexConfig): PexState {
  return {
    cfg: {
      private: cfg.private,
      intervalMs: cfg.intervalMs ?? PEX_INTERVAL_MS,
      maxMessagesPerMinute: cfg.maxMessagesPerMinute ?? 6,
      maxLearnedPerPeer: cfg.maxLearnedPerPeer ?? 200,
      maxPerIp: cfg.maxPerIp ?? 8,
      self: cfg.self ?? [],
      torrent: cfg.torrent,
    },
    connected: new Map(),
    remotes: new Map(),
  };
}

/** Flags for a connected peer, from what the engine knows of it. */
export function pexFlags(p: { seed?: boolean; encrypted?: boolean; outgoing?: boolean }): number {
  return (
    (p.seed ? PexFlag.Seed : 0) |
    (p.encrypted ? PexFlag.Encryption : 0) |
    (p.outgoing ? PexFlag.Reachable : 0)
  );
}

const key = (p: PeerAddress): string => (net.isIPv6(p.ip) ? `[${p.ip}]:${p.port}` : `${p.ip}:${p.port}`);

const UNUSABLE = new net.BlockList();
UNUSABLE.addSubnet('0.0.0.0', 8, 'ipv4');
UNUSABLE.addSubnet('224.0.0.0', 4, 'ipv4'); // multicast
UNUSABLE.addAddress('255.255.255.255', 'ipv4');
UNUSABLE.addAddress('::', 'ipv6');
UNUSABLE.addSubnet('ff00::', 8, 'ipv6'); // multicast
const LOCAL = new net.BlockList();
for (const [net4, bits] of [
  ['127.0.0.0', 8],
  ['10.0.0.0', 8],
  ['172.16.0.0', 12],
  ['192.168.0.0', 16],
  ['169.254.0.0', 16],
] as const)
  LOCAL.addSubnet(net4, bits, 'ipv4');
LOCAL.addAddress('::1', 'ipv6');
LOCAL.addSubnet('fe80::', 10, 'ipv6');
LOCAL.addSubnet('fc00::', 7, 'ipv6');

const family = (ip: string): 'ipv4' | 'ipv6' | undefined =>
  net.isIPv4(ip) ? 'ipv4' : net.isIPv6(ip) ? 'ipv6' : undefined;

/** Loopback, private (RFC 1918 / ULA) or link-local. */
export function isLocalAddress(ip: string): boolean {
  const f = family(ip);
  return f !== undefined && LOCAL.check(ip, f);
}

function usable(p: PeerAddress): boolean {
  const f = family(p.ip);
  return f !== undefined && p.port >= 1 && p.port <= 0xffff && !UNUSABLE.check(p.ip, f);
}

export function pexTransition(s: PexState, msg: PexIn): PexStep {
  if (s.cfg.private) return { state: s }; // BEP 27: no PEX at all
  const effects: PexEffect[] = [];
  const events: EventInput[] = [];
  const event = (type: string, level: EventInput['level'], details: Record<string, unknown>): void => {
    events.push({ category: 'discovery', type, level, torrent: s.cfg.torrent, ...details });
  };
  let connected = s.connected;
  let remotes = s.remotes;
  const setRemote = (peer: string, r: Remote | undefined): void => {
    const next = new Map(remotes);
    if (r) next.set(peer, r);
    else next.delete(peer);
    remotes = next;
  };

  switch (msg.type) {
    case 'PeerConnected': {
      const next = new Map(connected);
      const address = msg.address && { ip: normalizeIp(msg.address.ip), port: msg.address.port };
      if (address && usable(address)) next.set(msg.peer, { ...address, flags: msg.flags & KNOWN_PEX_FLAGS });
      else next.delete(msg.peer); // no address others could dial: not advertised
      connected = next;
      break;
    }
    case 'PeerDisconnected': {
      const next = new Map(connected);
      next.delete(msg.peer);
      connected = next;
      setRemote(msg.peer, undefined);
      break;
    }
    case 'PeerSupportsPex':
      if (!remotes.has(msg.peer)) {
        setRemote(msg.peer, {
          ip: msg.ip,
          told: new Set(),
          received: [],
          learned: new Set(),
          learnedTotal: 0,
        });
      }
      break;
    case 'PeerStoppedPex':
      setRemote(msg.peer, undefined);
      break;
    case 'PeerSentPex': {
      const r = remotes.get(msg.peer);
      if (!r) break; // we never offered it, or it never said it speaks ut_pex: ignore
      const received = [...r.received.filter((t) => msg.now - t < 60_000), msg.now];
      if (received.length > s.cfg.maxMessagesPerMinute) {
        const reason = `${received.length} PEX messages within a minute`;
        effects.push({ type: 'ClosePeer', peer: msg.peer, reason });
        event('PexFlood', 'warn', { peer: msg.peer, reason });
        setRemote(msg.peer, { ...r, received });
        break;
      }
      const learned = new Set(r.learned);
      for (const d of msg.message.dropped) learned.delete(key(d));
      const fresh: (PeerAddress & { pexFlags: number })[] = [];
      const perIp = new Map<string, number>();
      const localSender = isLocalAddress(r.ip);
      const self = new Set(s.cfg.self);
      let total = r.learnedTotal;
      for (const p of msg.message.added) {
        const k = key(p);
        if (total >= s.cfg.maxLearnedPerPeer) break;
        if (!usable(p) || learned.has(k) || self.has(k)) continue;
        if (isLocalAddress(p.ip) && !localSender) continue;
        const n = (perIp.get(p.ip) ?? 0) + 1;
        perIp.set(p.ip, n);
        if (n > s.cfg.maxPerIp) continue;
        learned.add(k);
        total++;
        fresh.push({ ip: p.ip, port: p.port, pexFlags: p.flags });
      }
      setRemote(msg.peer, { ...r, received, learned, learnedTotal: total });
      event('PexReceived', 'debug', {
        peer: msg.peer,
        added: msg.message.added.length,
        dropped: msg.message.dropped.length,
        learned: fresh.length,
      });
      if (fresh.length > 0) effects.push({ type: 'AddPeers', from: msg.peer, peers: fresh, source: 'pex' });
      break;
    }
    case 'Tick':
      for (const [peer, r] of remotes) {
        if (r.lastSentAt !== undefined && msg.now - r.lastSentAt < s.cfg.intervalMs) continue;
        const now = new Map<string, PexPeer>();
        for (const [other, p] of connected) if (other !== peer) now.set(key(p), p);
        const added = [...now].filter(([k]) => !r.told.has(k)).slice(0, MAX_ADDED);
        const dropped = [...r.told].filter((k) => !now.has(k)).slice(0, MAX_DROPPED);
        if (added.length === 0 && dropped.length === 0) continue;
        const told = new Set(r.told);
        for (const [k] of added) told.add(k);
        for (const k of dropped) told.delete(k);
        const message: PexMessage = {
          added: added.map(([, p]) => p),
          dropped: dropped.map((k) => parseKey(k)),
        };
        effects.push({ type: 'SendPex', peer, payload: encodePex(message) });
        event('PexSent', 'debug', { peer, added: added.length, dropped: dropped.length });
        setRemote(peer, { ...r, told, lastSentAt: msg.now });
      }
      break;
  }
  const state = connected === s.connected && remotes === s.remotes ? s : { ...s, connected, remotes };
  return { state, effects, events };
}

function parseKey(k: string): PeerAddress {
  const at = k.lastIndexOf(':');
  const host = k.slice(0, at);
  return { ip: host.startsWith('[') ? host.slice(1, -1) : host, port: Number(k.slice(at + 1)) };
}
