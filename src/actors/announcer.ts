/**
 * The announcer: runs the pure logic of src/core/announce-state.ts against real HTTP trackers.
 *
 * Owns: the HTTP GET of each announce (Node's `http` / `https`, one connection per request, a
 * timeout, a 1 MiB cap on the reply), the one timer that says "announce now" (through an injectable
 * RxJS scheduler, so tests run on a virtual clock), stamping `now` and `rand` onto messages, reading
 * the caller's transfer stats before each announce, and the shutdown (`stop()` sends `stopped`, bounded
 * by a short timeout, then completes every stream). Does not own: which tracker to ask or when (core),
 * or what to do with the peers (whoever subscribes to `peers$`).
 *
 * The requester is chosen by each URL's scheme: `http(s)://` → an HTTP GET, `udp://` → the BEP 15
 * client (src/actors/udp-announce.ts; one per process unless `udp` is given, so connection ids are
 * shared by every torrent). UDP retransmits at `udpRetransmitBaseMs · 2ⁿ` (default: `backoffBaseMs`,
 * which the session scales with `--min-announce-interval`), and gives up after 7 times that base
 * (three sends). Redirects are not followed (a 3xx is a failure).
 *
 * @example
 *   const announcer = createAnnouncer({
 *     infoHash, peerId, port: 6881, tiers: meta.announceList,
 *     stats: () => ({ uploaded: 0, downloaded: 0, left: meta.length }),
 *   });
 *   announcer.peers$.subscribe((peers) => connectTo(peers));
 *   announcer.start();
 *   // ... later
 *   announcer.completed();
 *   await announcer.stop(); // `stopped` sent (or given up after 3 s)
 */
import { randomBytes } from 'node:crypto';
import * as http from 'node:http';
import * as https from 'node:https';
import { Observable } from 'rxjs/internal/Observable';
import type { SchedulerLike } from 'rxjs/internal/types';
import { Subject } from 'rxjs/internal/Subject';
import { Subscription } from 'rxjs/internal/Subscription';
import { asyncScheduler } from 'rxjs/internal/scheduler/async';
import { createActor } from './actor';
import {
  AnnounceEffect,
  AnnounceIn,
  AnnounceState,
  AnnounceStats,
  AnnouncerEvent,
  announceTransition,
  initialAnnounceState,
} from '../core/announce-state';
import { hash32 } from '../core/peer-store';
import { decode, get, isBytes, isDict } from '../protocol/bencode';
import {
  AnnounceEvent,
  DecodedAnnounceReply,
  PeerAddress,
  buildAnnounceQuery,
  decodeAnnounceReply,
} from '../protocol/tracker-codec';
import { AnnounceFields, UdpTrackerClient, defaultUdpClient, udpAnnounce } from './udp-announce';

export type { AnnounceFields } from './udp-announce';

export const ANNOUNCE_TIMEOUT_MS = 15_000;
export const STOP_TIMEOUT_MS = 3_000;
export const MAX_REPLY_BYTES = 1024 * 1024;

export interface AnnouncerOptions {
  infoHash: Uint8Array;
  peerId: Uint8Array;
  /** Port we accept peer connections on. */
  port: number;
  /** BEP 12 tiers (`Metainfo.announceList`). */
  tiers: readonly (readonly string[])[];
  /** Read before every announce. */
  stats: () => AnnounceStats;
  /** Uniform in [0, 1): shuffles the tiers once, jitters the backoff (default Math.random). */
  random?: () => number;
  /** Timers and the clock (default asyncScheduler; a VirtualTimeScheduler in tests). */
  scheduler?: SchedulerLike;
  /** Floor for the tracker's interval (default 30 s). */
  minIntervalMs?: number;
  /** Retry backoff after every tracker failed: first delay and cap (default 15 s, 30 min). */
  backoffBaseMs?: number;
  backoffMaxMs?: number;
  /** Fast first retries until a tracker answered once: 1 s, 2 s, 4 s … below `backoffBaseMs` (default 1 s). */
  startupRetryMs?: number;
  numwant?: number;
  /** Per-request timeout (default 15 s); the `stopped` announce uses `stopTimeoutMs` (default 3 s). */
  timeoutMs?: number;
  stopTimeoutMs?: number;
  /** Sent as the `key` parameter, when given. */
  key?: string;
  /** Performs every announce when given (tests); default: by scheme, HTTP(S) GET or BEP 15 UDP. */
  request?: AnnounceRequester;
  /** The UDP tracker client (default: one shared by every announcer of the process). */
  udp?: UdpTrackerClient;
  /** First UDP retransmission delay (default `backoffBaseMs`, else 15 s). */
  udpRetransmitBaseMs?: number;
}

/** One announce over the network: resolves with the decoded reply (+ warning) or rejects with an Error. */
export type AnnounceRequester = (
  url: string,
  query: string,
  timeoutMs: number,
  fields: AnnounceFields,
) => { result: Promise<{ reply: DecodedAnnounceReply; warning?: string }>; cancel: () => void };

export interface Announcer {
  /** Send `started` and keep announcing. */
  start(): void;
  /** The download finished: send `completed` (once). Before `start()`: it was complete already. */
  completed(): void;
  /** Ask for more peers now, if the tracker's min interval allows (e.g. when few peers are left). */
  needPeers(): void;
  /** Send `stopped` (bounded by `stopTimeoutMs`) and complete every stream; idempotent. */
  stop(): Promise<void>;
  /** Stop at once without `stopped` (a torrent taking over a magnet's announces goes on as this peer). */
  abandon(): void;
  /** Peers of every successful reply. */
  readonly peers$: Observable<PeerAddress[]>;
  /** Tracker events (`AnnounceSent`, `PeersReceived`, `TrackerFailed`, `TrackerRecovered`, ...). */
  readonly events$: Observable<AnnouncerEvent>;
  readonly state$: Observable<AnnounceState>;
  snapshot(): AnnounceState;
}

/** Full request URL: the announce URL with the query appended after `?`, or `&` if it has one. */
export function announceRequestUrl(url: string, query: string): string {
  const hash = url.indexOf('#');
  const base = hash < 0 ? url : url.slice(0, hash);
  const sep = !base.includes('?') ? '?' : base.endsWith('?') || base.endsWith('&') ? '' : '&';
  return `${base}${sep}${query}`;
}

function errorMessage(err: unknown): string {
  const e = err as NodeJS.ErrnoException & { errors?: unknown[] };
  if (!e || typeof e.message !== 'string') return String(err);
  // Happy eyeballs (`localhost` → ::1 and 127.0.0.1) fails with an AggregateError and an empty message.
  if (e.message === '' && Array.isArray(e.errors) && e.errors.length > 0) return errorMessage(e.errors[0]);
  if (e.message === '') return e.code ?? e.name;
  return e.code && !e.message.includes(e.code) ? `${e.code}: ${e.message}` : e.message;
}

/** The `warning message` of a reply, which decodeAnnounceReply does not return. */
function warningOf(body: Buffer): string | undefined {
  try {
    const d = decode(body);
    const w = isDict(d) ? get(d, 'warning message') : undefined;
    return isBytes(w) ? w.toString('utf8') : undefined;
  } catch {
    return undefined;
  }
}

/** Default requester: an HTTP(S) GET with a timeout and a size cap. */
export const httpAnnounce: AnnounceRequester = (url, query, timeoutMs) => {
  let req: http.ClientRequest | null = null;
  let timer: NodeJS.Timeout | null = null;
  let rejectFn: (e: Error) => void = () => undefined;
  const result = new Promise<{ reply: DecodedAnnounceReply; warning?: string }>((resolve, reject) => {
    rejectFn = reject;
    let target: URL;
    try {
      target = new URL(announceRequestUrl(url, query));
    } catch {
      return reject(new Error(`not a valid tracker URL: ${url}`));
    }
    if (target.protocol !== 'http:' && target.protocol !== 'https:') {
      return reject(new Error(`unsupported tracker scheme ${target.protocol}`));
    }
    const get = target.protocol === 'https:' ? https.get : http.get;
    // `agent: false`: one connection per announce, closed after it; announces are minutes apart.
    req = get(
      target,
      { agent: false, headers: { 'User-Agent': 'rxtorrent/0.1', 'Accept-Encoding': 'identity' } },
      (res) => {
        if (res.statusCode !== 200) {
          res.resume();
          return reject(new Error(`HTTP ${res.statusCode ?? '?'} ${res.statusMessage ?? ''}`.trim()));
        }
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (c: Buffer) => {
          size += c.length;
          if (size > MAX_REPLY_BYTES) {
            reject(new Error(`reply larger than ${MAX_REPLY_BYTES} bytes`));
            req?.destroy();
            return;
          }
          chunks.push(c);
        });
        res.on('error', reject);
        res.on('end', () => {
          const body = Buffer.concat(chunks);
          try {
            resolve({ reply: decodeAnnounceReply(body), warning: warningOf(body) });
          } catch (err) {
            reject(new Error(`bad reply: ${errorMessage(err)}`));
          }
        });
      },
    );
    req.on('error', reject);
    timer = setTimeout(() => {
      reject(new Error(`timed out after ${timeoutMs} ms`));
      req?.destroy();
    }, timeoutMs);
    timer.unref();
  });
  const clear = (): void => {
    if (timer) clearTimeout(timer);
  };
  result.then(clear, clear);
  return {
    result,
    cancel: () => {
      rejectFn(new Error('cancelled'));
      req?.destroy();
    },
  };
};

export function createAnnouncer(opts: AnnouncerOptions): Announcer {
  const scheduler = opts.scheduler ?? asyncScheduler;
  const random = opts.random ?? Math.random;
  const udpBase = opts.udpRetransmitBaseMs ?? opts.backoffBaseMs;
  const udp = opts.request ? null : udpAnnounce(opts.udp ?? defaultUdpClient(), udpBase);
  const isUdp = (url: string): boolean => /^udp:/i.test(url);
  const request: AnnounceRequester =
    opts.request ?? ((url, ...rest) => (isUdp(url) && udp ? udp : httpAnnounce)(url, ...rest));
  const timeoutMs = opts.timeoutMs ?? ANNOUNCE_TIMEOUT_MS;
  // Three UDP sends (at 0, base and 3 · base), given up at 7 · base: 105 s at the default 15 s base.
  const udpTimeoutMs = opts.timeoutMs ?? 7 * (udpBase ?? 15_000);
  // Not from `random`: that source shuffles the tiers, and tests replay its sequence.
  const key32 = opts.key !== undefined ? hash32(opts.key) : randomBytes(4).readUInt32BE(0);
  const stopTimeoutMs = opts.stopTimeoutMs ?? STOP_TIMEOUT_MS;
  const peers = new Subject<PeerAddress[]>();
  const inFlight = new Map<number, { cancel: () => void; timeout: Subscription }>();
  let timer: Subscription | null = null;
  let stopping: Promise<void> | null = null;
  let resolveStopped: () => void = () => undefined;
  const stopped = new Promise<void>((r) => (resolveStopped = r));

  const cleanup = (): void => {
    timer?.unsubscribe();
    timer = null;
    for (const f of inFlight.values()) {
      f.timeout.unsubscribe();
      f.cancel();
    }
    inFlight.clear();
    peers.complete();
    actor.stop();
    resolveStopped();
  };

  const perform = (eff: AnnounceEffect): void => {
    switch (eff.type) {
      case 'ScheduleNext': {
        timer?.unsubscribe();
        const delay = Math.max(0, eff.atMs - scheduler.now());
        timer = scheduler.schedule(() => {
          timer = null;
          withStats({ type: 'Tick', now: scheduler.now() });
        }, delay);
        return;
      }
      case 'Finished':
        // Let the step that produced this finish reporting before the streams complete.
        Promise.resolve().then(cleanup, cleanup);
        return;
      case 'Announce':
        return announce(eff.id, eff.url, eff.event, eff.stats, eff.numwant);
    }
  };

  const announce = (
    id: number,
    url: string,
    event: AnnounceEvent,
    stats: AnnounceStats,
    numwant: number,
  ): void => {
    const query = buildAnnounceQuery({
      infoHash: opts.infoHash,
      peerId: opts.peerId,
      port: opts.port,
      uploaded: stats.uploaded,
      downloaded: stats.downloaded,
      left: stats.left,
      event,
      numwant,
      compact: true,
      ...(opts.key !== undefined ? { key: opts.key } : {}),
    });
    const limit = event === 'stopped' ? stopTimeoutMs : isUdp(url) ? udpTimeoutMs : timeoutMs;
    let done = false;
    const fail = (error: string): void => {
      if (done) return;
      done = true;
      inFlight.get(id)?.timeout.unsubscribe();
      inFlight.delete(id);
      actor.send({ type: 'AnnounceFailed', id, url, error, now: scheduler.now(), rand: random() });
    };
    const r = request(url, query, limit, {
      infoHash: opts.infoHash,
      peerId: opts.peerId,
      port: opts.port,
      uploaded: stats.uploaded,
      downloaded: stats.downloaded,
      left: stats.left,
      event,
      numwant,
      key: key32,
    });
    // The scheduler's timeout (virtual in tests) is the one that counts; the requester's is a backstop.
    const timeout = scheduler.schedule(() => {
      fail(`timed out after ${limit} ms`);
      r.cancel();
    }, limit);
    inFlight.set(id, { cancel: r.cancel, timeout });
    r.result.then(
      ({ reply, warning }) => {
        if (done) return;
        if (!reply.ok) return fail(`failure reason: ${reply.failureReason}`);
        done = true;
        timeout.unsubscribe();
        inFlight.delete(id);
        const ok = { type: 'AnnounceSucceeded', id, url, reply, now: scheduler.now() } as const;
        actor.send(warning !== undefined ? { ...ok, warning } : ok);
        if (event !== 'stopped' && !peers.closed) peers.next(reply.peers);
      },
      (err: unknown) => fail(errorMessage(err)),
    );
  };

  const actor = createActor<AnnounceState, AnnounceIn, AnnouncerEvent, AnnounceEffect>({
    name: 'announcer',
    initial: initialAnnounceState({
      tiers: opts.tiers,
      random,
      ...(opts.minIntervalMs !== undefined ? { minIntervalMs: opts.minIntervalMs } : {}),
      ...(opts.backoffBaseMs !== undefined ? { backoffBaseMs: opts.backoffBaseMs } : {}),
      ...(opts.backoffMaxMs !== undefined ? { backoffMaxMs: opts.backoffMaxMs } : {}),
      ...(opts.startupRetryMs !== undefined ? { startupRetryMs: opts.startupRetryMs } : {}),
      ...(opts.numwant !== undefined ? { numwant: opts.numwant } : {}),
      torrent: Buffer.from(opts.infoHash).toString('hex'),
    }),
    transition: announceTransition,
    perform: (eff) => perform(eff),
    onError: () => cleanup(),
  });

  const send = (m: AnnounceIn): void => actor.send(m);
  /** Messages that may announce carry fresh stats. */
  const withStats = (m: AnnounceIn): void => {
    send({ type: 'UpdateStats', ...opts.stats() });
    send(m);
  };

  return {
    start: () => withStats({ type: 'Start', now: scheduler.now() }),
    completed: () => withStats({ type: 'Completed' }),
    needPeers: () => withStats({ type: 'NeedPeers', now: scheduler.now() }),
    stop: () => {
      if (stopping) return stopping;
      if (actor.status() !== 'active') {
        cleanup();
        stopping = stopped;
        return stopping;
      }
      withStats({ type: 'Stop' });
      stopping = stopped;
      return stopping;
    },
    abandon: () => {
      stopping ??= stopped;
      cleanup();
    },
    peers$: peers.asObservable(),
    events$: actor.events$,
    state$: actor.state$,
    snapshot: () => actor.snapshot(),
  };
}
