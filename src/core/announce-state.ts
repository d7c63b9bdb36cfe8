/**
 * The pure logic of announcing one torrent to its trackers: which tracker to ask next, with which
 * event, and when.
 *
 * Owns: BEP 12 tiers (each tier shuffled once with an injected random source, trackers tried in order
 * within a tier, tiers in order, the tracker that answered moved to the front of its tier), the event
 * to send (`started` until one announce succeeded, `completed` exactly once, `stopped` last), the
 * tracker's `interval` / `min interval` (clamped), consecutive failures and exponential backoff with
 * jitter, and the health status (`idle` → `ok` / `failing`) that decides what is worth telling the
 * user: a failure is reported when the announcer *becomes* failing or when the reason changes, a
 * recovery once, never a message per retry. Does not own: HTTP, timers or the clock (the runtime in
 * src/actors/announcer.ts performs the effects and stamps `now` / `rand` onto messages), nor peers
 * (a reply's peers go to whoever subscribes to the runtime's `peers$`).
 *
 * One announce "round" walks the tiers from the first tracker of the first tier until one answers;
 * a failed tracker moves the round on at once (no delay), and only when every tracker failed does the
 * round fail and the backoff start (announce-backoff.ts: a fast start until some tracker answered,
 * then 15 s doubling to 30 min, with jitter).
 *
 * `Completed` before `Start` means the torrent was complete when it started: BEP 3 says `completed`
 * is then never sent. `Stop` sends `stopped` to the last tracker that answered (if any ever did) and
 * finishes when that request succeeds or fails; the runtime bounds it with a short timeout.
 *
 * The message, effect and event types live in announce-messages.ts and the retry delays in
 * announce-backoff.ts; both are re-exported here, the one import for the announcer's logic.
 *
 * @example
 *   let s = initialAnnounceState({ tiers: [['http://a/announce'], ['http://b/announce']], random: () => 0 });
 *   let step = announceTransition(s, { type: 'Start', now: 0 });
 *   // effects: [{ type: 'Announce', id: 1, url: 'http://a/announce', event: 'started', ... }]
 *   step = announceTransition(step.state, { type: 'AnnounceFailed', id: 1, url: 'http://a/announce', error: 'ECONNREFUSED', now: 5 });
 *   // effects: [{ type: 'Announce', id: 2, url: 'http://b/announce', event: 'started', ... }]
 */
import type { Step } from './step';
import type { AnnounceEvent } from '../protocol/tracker-codec';
import { BACKOFF_BASE_MS, BACKOFF_MAX_MS, STARTUP_RETRY_MS, retryDelay } from './announce-backoff';
import type {
  AnnounceConfig,
  AnnounceEffect,
  AnnounceIn,
  AnnouncePhase,
  AnnounceStats,
  AnnounceStatus,
  AnnouncerEvent,
} from './announce-messages';

export * from './announce-backoff';
export * from './announce-messages';

/** Lowest accepted announce interval (the clamp's floor), unless `minIntervalMs` overrides it. */
export const MIN_INTERVAL_MS = 30_000;
/** Highest accepted announce interval. */
export const MAX_INTERVAL_MS = 3_600_000;
/** Interval used when a reply gives none. */
export const DEFAULT_INTERVAL_MS = 1_800_000;
export const DEFAULT_NUMWANT = 50;

interface Attempt {
  readonly id: number;
  readonly url: string;
  readonly tier: number;
  readonly index: number;
  readonly event: AnnounceEvent;
}

export interface AnnounceState {
  readonly config: Readonly<Required<Omit<AnnounceConfig, 'tiers' | 'random' | 'torrent'>>> & {
    torrent?: string;
  };
  /** Tiers as currently ordered (shuffled once, working trackers promoted). */
  readonly tiers: readonly (readonly string[])[];
  readonly phase: AnnouncePhase;
  readonly status: AnnounceStatus;
  readonly startedSent: boolean;
  readonly completed: 'no' | 'pending' | 'sent' | 'suppressed';
  /** The request whose answer is awaited, if any. */
  readonly inFlight: Attempt | null;
  /** Failures of the current round, in order. */
  readonly roundErrors: readonly { url: string; message: string }[];
  readonly nextId: number;
  readonly intervalMs: number;
  /** Earliest gap between announces that `NeedPeers` may use. */
  readonly minAnnounceMs: number;
  readonly lastSuccessAt: number | null;
  readonly lastGoodUrl: string | null;
  /** When the next round starts (null while one runs or nothing is scheduled). */
  readonly nextAt: number | null;
  /** Consecutive failed rounds. */
  readonly failures: number;
  /** The failure message last reported (TrackerFailed), to say it once. */
  readonly reported: string | null;
  /** Last failure message per tracker that is currently failing. */
  readonly urlErrors: Readonly<Record<string, string>>;
  /** Last warning message per tracker. */
  readonly warnings: Readonly<Record<string, string>>;
  readonly stats: AnnounceStats;
}

export type AnnounceStep = Step<AnnounceState, AnnounceEffect, AnnouncerEvent>;

/** Fisher–Yates with the given random source. */
function shuffle<T>(xs: readonly T[], random: () => number): T[] {
  const out = [...xs];
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.min(i, Math.floor(random() * (i + 1)));
    [out[i], out[j]] = [out[j], out[i]];
  }
  return out;
}

export function initialAnnounceState(config: AnnounceConfig): AnnounceState {
  const seen = new Set<string>();
  const tiers: string[][] = [];
  for (const tier of config.tiers) {
    const t = tier.filter((u) => u.length > 0 && !seen.has(u) && seen.add(u));
    if (t.length > 0) tiers.push(config.random ? shuffle(t, config.random) : t);
  }
  const minIntervalMs = config.minIntervalMs ?? MIN_INTERVAL_MS;
  return {
    config: {
      minIntervalMs,
      maxIntervalMs: config.maxIntervalMs ?? MAX_INTERVAL_MS,
      backoffBaseMs: config.backoffBaseMs ?? BACKOFF_BASE_MS,
      backoffMaxMs: config.backoffMaxMs ?? BACKOFF_MAX_MS,
      startupRetryMs: config.startupRetryMs ?? STARTUP_RETRY_MS,
      numwant: config.numwant ?? DEFAULT_NUMWANT,
      ...(config.torrent !== undefined ? { torrent: config.torrent } : {}),
    },
    tiers,
    phase: 'idle',
    status: 'idle',
    startedSent: false,
    completed: 'no',
    inFlight: null,
    roundErrors: [],
    nextId: 1,
    intervalMs: DEFAULT_INTERVAL_MS,
    minAnnounceMs: minIntervalMs,
    lastSuccessAt: null,
    lastGoodUrl: null,
    nextAt: null,
    failures: 0,
    reported: null,
    urlErrors: {},
    warnings: {},
    stats: { uploaded: 0, downloaded: 0, left: 0 },
  };
}

const clamp = (v: number, lo: number, hi: number): number => Math.min(hi, Math.max(lo, v));

/** The event the next regular announce carries. */
function nextEvent(s: AnnounceState): AnnounceEvent {
  if (!s.startedSent) return 'started';
  return s.completed === 'pending' ? 'completed' : '';
}

function sent(s: AnnounceState, a: Attempt): AnnouncerEvent {
  return {
    category: 'tracker',
    type: 'AnnounceSent',
    level: 'debug',
    torrent: s.config.torrent,
    url: a.url,
    event: a.event,
  };
}

/** Ask the tracker at (tier, index) with the pending event. */
function attempt(
  s: AnnounceState,
  tier: number,
  index: number,
  roundErrors: AnnounceState['roundErrors'],
): AnnounceStep {
  const a: Attempt = { id: s.nextId, url: s.tiers[tier][index], tier, index, event: nextEvent(s) };
  const state: AnnounceState = { ...s, inFlight: a, nextId: s.nextId + 1, roundErrors, nextAt: null };
  return {
    state,
    effects: [
      { type: 'Announce', id: a.id, url: a.url, event: a.event, stats: s.stats, numwant: s.config.numwant },
    ],
    events: [sent(s, a)],
  };
}

/** Start a round at the first tracker of the first tier (BEP 12: always from the top). */
function beginRound(s: AnnounceState): AnnounceStep {
  if (s.tiers.length === 0) return { state: { ...s, nextAt: null } };
  return attempt(s, 0, 0, []);
}

function schedule(s: AnnounceState, atMs: number): AnnounceStep {
  return { state: { ...s, nextAt: atMs }, effects: [{ type: 'ScheduleNext', atMs }] };
}

function withEvents(step: AnnounceStep, before: readonly AnnouncerEvent[]): AnnounceStep {
  return { ...step, events: [...before, ...(step.events ?? [])] };
}

function omit(r: Readonly<Record<string, string>>, key: string): Record<string, string> {
  const { [key]: _gone, ...rest } = r;
  return rest;
}

function succeeded(
  s: AnnounceState,
  m: Extract<AnnounceIn, { type: 'AnnounceSucceeded' }>,
  a: Attempt,
): AnnounceStep {
  const torrent = s.config.torrent;
  const { minIntervalMs, maxIntervalMs } = s.config;
  const intervalMs =
    m.reply.interval > 0 ? clamp(m.reply.interval * 1000, minIntervalMs, maxIntervalMs) : DEFAULT_INTERVAL_MS;
  const minAnnounceMs =
    m.reply.minInterval !== undefined && m.reply.minInterval > 0
      ? clamp(m.reply.minInterval * 1000, minIntervalMs, intervalMs)
      : Math.min(minIntervalMs, intervalMs);
  // BEP 12: the tracker that answered goes to the front of its tier.
  const tiers = s.tiers.map((t, i) =>
    i === a.tier && a.index > 0 ? [a.url, ...t.filter((u) => u !== a.url)] : t,
  );
  const events: AnnouncerEvent[] = [];
  if (s.status === 'failing' || s.urlErrors[a.url] !== undefined) {
    events.push({
      category: 'tracker',
      type: 'TrackerRecovered',
      level: 'info',
      torrent,
      url: a.url,
      failures: s.failures,
    });
  }
  let warnings = s.warnings;
  if (m.warning !== undefined && m.warning !== s.warnings[a.url]) {
    events.push({
      category: 'tracker',
      type: 'TrackerWarning',
      level: 'warn',
      torrent,
      url: a.url,
      message: m.warning,
    });
    warnings = { ...s.warnings, [a.url]: m.warning };
  } else if (m.warning === undefined && s.warnings[a.url] !== undefined) {
    warnings = omit(s.warnings, a.url);
  }
  events.push({
    category: 'tracker',
    type: 'PeersReceived',
    level: 'info',
    torrent,
    url: a.url,
    count: m.reply.peers.length,
    ...(m.reply.complete !== undefined ? { complete: m.reply.complete } : {}),
    ...(m.reply.incomplete !== undefined ? { incomplete: m.reply.incomplete } : {}),
    intervalMs,
  });
  const next: AnnounceState = {
    ...s,
    tiers,
    status: 'ok',
    startedSent: true,
    completed: a.event === 'completed' ? 'sent' : s.completed,
    inFlight: null,
    roundErrors: [],
    intervalMs,
    minAnnounceMs,
    lastSuccessAt: m.now,
    lastGoodUrl: a.url,
    failures: 0,
    reported: null,
    urlErrors: omit(s.urlErrors, a.url),
    warnings,
  };
  // `completed` goes out at once, not at the next interval.
  if (next.completed === 'pending') return withEvents(beginRound(next), events);
  return withEvents(schedule(next, m.now + intervalMs), events);
}

function failed(
  s: AnnounceState,
  m: Extract<AnnounceIn, { type: 'AnnounceFailed' }>,
  a: Attempt,
): AnnounceStep {
  const torrent = s.config.torrent;
  const roundErrors = [...s.roundErrors, { url: a.url, message: m.error }];
  const urlErrors = { ...s.urlErrors, [a.url]: m.error };
  const changed = s.urlErrors[a.url] !== m.error;
  const tier = a.index + 1 < s.tiers[a.tier].length ? a.tier : a.tier + 1;
  const index = tier === a.tier ? a.index + 1 : 0;
  if (tier < s.tiers.length) {
    // Fail over at once to the next tracker of this round.
    const step = attempt({ ...s, urlErrors }, tier, index, roundErrors);
    const nextUrl = s.tiers[tier][index];
    return changed
      ? withEvents(step, [
          {
            category: 'tracker',
            type: 'TrackerFailedOver',
            level: 'info',
            torrent,
            url: a.url,
            message: m.error,
            next: nextUrl,
          },
        ])
      : step;
  }
  // Every tracker failed: back off, and say so only if this is news.
  const failures = s.failures + 1;
  const retryInMs = retryDelay(failures, s.lastSuccessAt === null, m.rand ?? 0, s.config);
  const message =
    roundErrors.length === 1 ? m.error : roundErrors.map((e) => `${e.url}: ${e.message}`).join('; ');
  const news = s.status !== 'failing' || s.reported !== message;
  const next: AnnounceState = {
    ...s,
    status: 'failing',
    inFlight: null,
    roundErrors: [],
    failures,
    reported: message,
    urlErrors,
  };
  const step = schedule(next, m.now + retryInMs);
  if (!news) return step;
  return withEvents(step, [
    {
      category: 'tracker',
      type: 'TrackerFailed',
      level: 'warn',
      torrent,
      url: roundErrors[0].url,
      message,
      failures,
      retryInMs,
    },
  ]);
}

function stop(s: AnnounceState): AnnounceStep {
  const finished: AnnounceStep = {
    state: { ...s, phase: 'finished', inFlight: null, nextAt: null },
    effects: [{ type: 'Finished' }],
  };
  // Nobody ever heard of us (or we never started): nothing to take back.
  if (s.phase !== 'running' || s.lastGoodUrl === null) return finished;
  const url = s.lastGoodUrl;
  const pos = s.tiers.findIndex((t) => t.includes(url));
  const a: Attempt = { id: s.nextId, url, tier: pos, index: s.tiers[pos].indexOf(url), event: 'stopped' };
  return {
    state: { ...s, phase: 'stopping', inFlight: a, nextId: s.nextId + 1, nextAt: null },
    effects: [{ type: 'Announce', id: a.id, url, event: 'stopped', stats: s.stats, numwant: 0 }],
    events: [sent(s, a)],
  };
}

/**
 * The announcer's transition: `(state, message) → { state, effects, events }`. Pure; messages that do
 * not apply in the current phase (a late reply, a tick after `Stop`) leave the state unchanged.
 */
export function announceTransition(s: AnnounceState, m: AnnounceIn): AnnounceStep {
  if (s.phase === 'finished') return { state: s };
  switch (m.type) {
    case 'UpdateStats':
      return { state: { ...s, stats: { uploaded: m.uploaded, downloaded: m.downloaded, left: m.left } } };
    case 'Start':
      if (s.phase !== 'idle') return { state: s };
      return beginRound({ ...s, phase: 'running' });
    case 'Completed':
      if (s.completed !== 'no') return { state: s };
      // BEP 3: not sent when the torrent was complete when started.
      if (s.phase === 'idle') return { state: { ...s, completed: 'suppressed' } };
      if (s.phase !== 'running') return { state: s };
      // Waiting for the interval with a working tracker: announce now. Otherwise it rides the next one.
      if (s.inFlight === null && s.status === 'ok') return beginRound({ ...s, completed: 'pending' });
      return { state: { ...s, completed: 'pending' } };
    case 'Stop':
      return stop(s);
    case 'Tick':
      if (s.phase !== 'running' || s.inFlight !== null || s.nextAt === null) return { state: s };
      if (m.now < s.nextAt) return { state: s, effects: [{ type: 'ScheduleNext', atMs: s.nextAt }] };
      return beginRound(s);
    case 'NeedPeers': {
      if (s.phase !== 'running' || s.inFlight !== null || s.status !== 'ok' || s.lastSuccessAt === null) {
        return { state: s };
      }
      const earliest = s.lastSuccessAt + s.minAnnounceMs;
      if (earliest <= m.now) return beginRound(s);
      if (s.nextAt === null || earliest < s.nextAt) return schedule(s, earliest);
      return { state: s };
    }
    case 'AnnounceSucceeded':
    case 'AnnounceFailed': {
      const a = s.inFlight;
      if (a === null || a.id !== m.id) return { state: s }; // late or unknown reply
      if (s.phase === 'stopping') {
        return { state: { ...s, phase: 'finished', inFlight: null }, effects: [{ type: 'Finished' }] };
      }
      return m.type === 'AnnounceSucceeded' ? succeeded(s, m, a) : failed(s, m, a);
    }
  }
}
