/**
 * BEP 14 local service discovery as pure logic: when to announce which torrents, and what an incoming
 * datagram tells us.
 *
 * Owns: the registered torrents (info-hash → our listen port), the schedule (a torrent is announced when
 * registered and every `intervalMs`, 5 minutes; announce rounds are at least `minGapMs`, a minute, apart,
 * and one round carries every due torrent, packed LSD_INFOHASHES_PER_DATAGRAM to a datagram, at most
 * `maxDatagramsPerRound` datagrams per family — the rest wait for the next round), recognising our own
 * datagrams by cookie, and turning others' into `LsdPeerFound` for the torrents we registered, each
 * (torrent, address) at most once per `dedupeMs` (a bounded map). Malformed datagrams are reported as
 * debug events, at most 10 a minute, then counted.
 * Does not own: sockets, groups or timers (src/actors/lsd.ts performs `Send` and `WakeAt`), nor which
 * torrents may use LSD (the engine registers public torrents only: BEP 27).
 *
 * @example
 *   let s = initialLsdState({ cookie: 'a1b2c3d4', families: [4] });
 *   let step = lsdTransition(s, { type: 'Register', infoHash: ih, port: 6881, now: 0 }); // effects: WakeAt 0
 *   step = lsdTransition(step.state, { type: 'Tick', now: 0 }); // effects: Send (family 4, one datagram), WakeAt 300000
 */
import type { Step } from '../actors/actor';
import type { EventInput } from '../events/engine-event';
import {
  LSD_INFOHASHES_PER_DATAGRAM,
  LsdError,
  LsdFamily,
  decodeLsdAnnounce,
  encodeLsdAnnounce,
} from '../protocol/lsd-codec';
import { PeerAddress, normalizeIp } from '../protocol/compact-peers';

export const LSD_INTERVAL_MS = 5 * 60_000;
export const LSD_MIN_GAP_MS = 60_000;

export interface LsdConfig {
  /** Ours, sent in every datagram; datagrams that carry it back are ignored. */
  cookie: string;
  families: readonly LsdFamily[];
  intervalMs?: number;
  minGapMs?: number;
  maxDatagramsPerRound?: number;
  dedupeMs?: number;
  /** Entries kept for de-duplication (oldest dropped first). */
  maxRecent?: number;
}

interface Registered {
  port: number;
  nextDue: number;
}

export interface LsdState {
  readonly cfg: Required<LsdConfig>;
  /** Info-hash (hex) → our port and when it is next due. */
  readonly torrents: ReadonlyMap<string, Registered>;
  readonly lastRound?: number;
  /** `infoHash|ip|port` → when it was last reported. */
  readonly recent: ReadonlyMap<string, number>;
  readonly ignored: { windowStart: number; inWindow: number; suppressed: number };
  readonly own: number;
}

export type LsdIn =
  | { type: 'Register'; infoHash: string; port: number; now: number }
  | { type: 'Unregister'; infoHash: string; now: number }
  | { type: 'Tick'; now: number }
  | { type: 'GotDatagram'; family: LsdFamily; from: string; data: Buffer; now: number };

export type LsdEffect =
  { type: 'Send'; family: LsdFamily; datagram: Buffer } | { type: 'WakeAt'; at: number };

export interface LsdPeerFound {
  type: 'LsdPeerFound';
  /** Info-hash (hex). */
  infoHash: string;
  peer: PeerAddress;
}

export type LsdOut = LsdPeerFound | EventInput;
export type LsdStep = Step<LsdState, LsdEffect, LsdOut>;

export function initialLsdState(cfg: LsdConfig): LsdState {
  return {
    cfg: {
      cookie: cfg.cookie,
      families: cfg.families,
      intervalMs: cfg.intervalMs ?? LSD_INTERVAL_MS,
      minGapMs: cfg.minGapMs ?? LSD_MIN_GAP_MS,
      maxDatagramsPerRound: cfg.maxDatagramsPerRound ?? 4,
      dedupeMs: cfg.dedupeMs ?? 60_000,
      maxRecent: cfg.maxRecent ?? 1024,
    },
    torrents: new Map(),
    recent: new Map(),
    ignored: { windowStart: 0, inWindow: 0, suppressed: 0 },
    own: 0,
  };
}

const event = (
  type: string,
  level: EventInput['level'],
  details: Record<string, unknown> = {},
): EventInput => ({
  category: 'discovery',
  type,
  level,
  ...details,
});

/** When the next round may run: the earliest due torrent, but not before the gap since the last round. */
function wake(s: LsdState): LsdEffect[] {
  let due = Infinity;
  for (const t of s.torrents.values()) due = Math.min(due, t.nextDue);
  if (due === Infinity) return [];
  const at = s.lastRound === undefined ? due : Math.max(due, s.lastRound + s.cfg.minGapMs);
  return [{ type: 'WakeAt', at }];
}

function round(s: LsdState, now: number): LsdStep {
  if (s.lastRound !== undefined && now - s.lastRound < s.cfg.minGapMs) return { state: s, effects: wake(s) };
  const byPort = new Map<number, string[]>();
  for (const [ih, t] of s.torrents) {
    if (t.nextDue > now) continue;
    byPort.set(t.port, [...(byPort.get(t.port) ?? []), ih]);
  }
  if (byPort.size === 0) return { state: s, effects: wake(s) };
  const effects: LsdEffect[] = [];
  const torrents = new Map(s.torrents);
  let datagrams = 0;
  let announced = 0;
  for (const [port, hashes] of byPort) {
    for (
      let i = 0;
      i < hashes.length && datagrams < s.cfg.maxDatagramsPerRound;
      i += LSD_INFOHASHES_PER_DATAGRAM
    ) {
      const chunk = hashes.slice(i, i + LSD_INFOHASHES_PER_DATAGRAM);
      datagrams++;
      for (const family of s.cfg.families) {
        const infoHashes = chunk.map((h) => Buffer.from(h, 'hex'));
        effects.push({
          type: 'Send',
          family,
          datagram: encodeLsdAnnounce({ family, port, infoHashes, cookie: s.cfg.cookie }),
        });
      }
      for (const h of chunk) torrents.set(h, { port, nextDue: now + s.cfg.intervalMs });
      announced += chunk.length;
    }
  }
  const state: LsdState = { ...s, torrents, lastRound: now };
  return {
    state,
    effects: [...effects, ...wake(state)],
    events: [event('LsdAnnounced', 'debug', { datagrams, torrents: announced })],
  };
}

function received(s: LsdState, msg: Extract<LsdIn, { type: 'GotDatagram' }>): LsdStep {
  let announce;
  try {
    announce = decodeLsdAnnounce(msg.data);
  } catch (err) {
    if (!(err instanceof LsdError)) throw err;
    return ignore(s, msg, err.code);
  }
  if (announce.cookie === s.cfg.cookie) return { state: { ...s, own: s.own + 1 } };
  const ip = normalizeIp(msg.from);
  const recent = new Map(s.recent);
  const events: LsdOut[] = [];
  for (const ihBytes of announce.infoHashes) {
    const infoHash = ihBytes.toString('hex');
    if (!s.torrents.has(infoHash)) continue;
    const key = `${infoHash}|${ip}|${announce.port}`;
    const last = recent.get(key);
    if (last !== undefined && msg.now - last < s.cfg.dedupeMs) continue;
    recent.delete(key); // re-insert: the map is oldest-first
    recent.set(key, msg.now);
    events.push({ type: 'LsdPeerFound', infoHash, peer: { ip, port: announce.port } });
    events.push(event('LsdPeerFound', 'info', { torrent: infoHash, peer: `${ip}:${announce.port}` }));
  }
  for (const k of recent.keys()) {
    if (recent.size <= s.cfg.maxRecent) break;
    recent.delete(k);
  }
  return { state: { ...s, recent }, events };
}

function ignore(s: LsdState, msg: Extract<LsdIn, { type: 'GotDatagram' }>, reason: string): LsdStep {
  let { windowStart, inWindow, suppressed } = s.ignored;
  const events: EventInput[] = [];
  if (msg.now - windowStart >= 60_000) {
    if (suppressed > 0) events.push(event('LsdDatagramsSuppressed', 'debug', { count: suppressed }));
    windowStart = msg.now;
    inWindow = 0;
    suppressed = 0;
  }
  if (inWindow < 10) events.push(event('LsdDatagramIgnored', 'debug', { from: msg.from, reason }));
  else suppressed++;
  inWindow++;
  return { state: { ...s, ignored: { windowStart, inWindow, suppressed } }, events };
}

export function lsdTransition(s: LsdState, msg: LsdIn): LsdStep {
  switch (msg.type) {
    case 'Register': {
      const known = s.torrents.get(msg.infoHash);
      if (known && known.port === msg.port) return { state: s };
      const torrents = new Map(s.torrents).set(msg.infoHash, { port: msg.port, nextDue: msg.now });
      const state = { ...s, torrents };
      return { state, effects: wake(state) };
    }
    case 'Unregister': {
      if (!s.torrents.has(msg.infoHash)) return { state: s };
      const torrents = new Map(s.torrents);
      torrents.delete(msg.infoHash);
      return { state: { ...s, torrents } };
    }
    case 'Tick':
      return round(s, msg.now);
    case 'GotDatagram':
      return received(s, msg);
  }
}
