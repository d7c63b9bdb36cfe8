/**
 * The swarm registry actor: runs the pure transition of src/core/swarm-registry.ts and is the
 * in-process `TrackerRegistry`.
 *
 * Owns: the clock and random source stamped onto messages, the expiry timer (a `Sweep` message every
 * `sweepEvery` ms), and matching `ReplyAnnounce` effects to waiting callers. Does not own: the rules
 * (core) or HTTP (src/tracker/http-server.ts). Time is injected (`clock`, `every`) so tests drive
 * expiry without sleeping.
 *
 * @example
 *   const registry = createRegistryActor({ config: { interval: 60 } });
 *   const outcome = await registry.announce(request); // { ok: true, reply: { peers: [...] } }
 *   await registry.close();
 */
import { Observable } from 'rxjs/internal/Observable';
import { Subject } from 'rxjs/internal/Subject';
import { createActor } from './actor';
import {
  AnnounceOutcome,
  DEFAULT_REGISTRY_CONFIG,
  RegistryConfig,
  RegistryEffect,
  RegistryIn,
  RegistryState,
  RegistryStats,
  initialRegistry,
  listPeers,
  listSwarms,
  registryStats,
  registryTransition,
  scrapeRegistry,
} from '../core/swarm-registry';
import type { EventInput } from '../events/engine-event';
import type { AnnounceRequest, ScrapeFile } from '../protocol/tracker-codec';
import type { TrackerRegistry } from '../tracker/registry';

/** Calls `fn` every `ms` milliseconds until the returned function is called. */
export type Every = (ms: number, fn: () => void) => () => void;

export interface RegistryActorOptions {
  config?: Partial<RegistryConfig>;
  /** Epoch milliseconds (default Date.now). */
  clock?: () => number;
  /** Uniform in [0, 1) (default Math.random). */
  random?: () => number;
  /** Timer used for expiry sweeps (default setInterval, unref'd so it never keeps the process alive). */
  every?: Every;
  /** Milliseconds between expiry sweeps (default: a tenth of interval + grace, at least 1 s, at most 60 s). */
  sweepEvery?: number;
  /** Called once if the registry fails (its parent's supervision hook). */
  onError?: (error: unknown) => void;
}

export interface RegistryActor extends TrackerRegistry {
  /** The answer synchronously, or undefined when it cannot be given at once (then use `announce`). */
  announceNow(request: AnnounceRequest): AnnounceOutcome | undefined;
  /** Run an expiry sweep now (what the timer does). */
  sweep(): void;
  /** Every state the registry passes through (one per announce and per sweep that expired a peer). */
  readonly state$: Observable<RegistryState>;
  snapshot(): RegistryState;
}

const realEvery: Every = (ms, fn) => {
  const t = setInterval(fn, ms);
  t.unref();
  return () => clearInterval(t);
};

export function createRegistryActor(opts: RegistryActorOptions = {}): RegistryActor {
  const config: RegistryConfig = { ...DEFAULT_REGISTRY_CONFIG, ...opts.config };
  const clock = opts.clock ?? Date.now;
  const random = opts.random ?? Math.random;
  const pending = new Map<number, (o: AnnounceOutcome) => void>();
  let nextId = 1;
  // The announce `announceNow` waits for, and its outcome. Not in `pending`: a Map set and deleted per
  // announce reallocates its table, in old space once the Map lives there (~150 B of garbage each).
  let syncId = 0;
  let syncOutcome: AnnounceOutcome | undefined;
  let failure: unknown = null;
  // Our own events$ so that announces can tell whether anyone listens (per-peer events are skipped if not).
  const events = new Subject<EventInput>();

  const actor = createActor<RegistryState, RegistryIn, EventInput, RegistryEffect>({
    name: 'swarm-registry',
    initial: initialRegistry(config, clock()),
    transition: registryTransition,
    perform: (eff) => {
      if (eff.id === syncId) {
        syncOutcome = eff.outcome;
        return;
      }
      const resolve = pending.get(eff.id);
      pending.delete(eff.id);
      resolve?.(eff.outcome);
    },
    onError: (err) => {
      failure = err;
      pending.clear();
      opts.onError?.(err);
    },
  });

  actor.events$.subscribe(events);
  const sweepEvery =
    opts.sweepEvery ?? Math.min(60_000, Math.max(1000, ((config.interval + config.grace) * 1000) / 10));
  const cancelTimer = (opts.every ?? realEvery)(sweepEvery, () => actor.send({ type: 'Sweep', at: clock() }));

  /** The answer at once, when the actor is idle (no Promise, no queue: the HTTP fast path). */
  const announceNow = (request: AnnounceRequest): AnnounceOutcome | undefined => {
    if (actor.status() !== 'active' || pending.size > 0) return undefined;
    const id = nextId++;
    syncId = id;
    actor.send({ type: 'Announce', id, at: clock(), rand: random(), request, quiet: !events.observed });
    // Re-entrant (sent from inside a step): no answer yet, and none will be kept; the caller waits.
    const answer = syncOutcome;
    syncId = 0;
    syncOutcome = undefined;
    return answer;
  };

  const unavailable = (): Error =>
    new Error(
      failure ? `registry failed: ${String((failure as Error).message ?? failure)}` : 'registry stopped',
    );

  return {
    announce: (request: AnnounceRequest) =>
      new Promise<AnnounceOutcome>((resolve, reject) => {
        const now = announceNow(request);
        if (now) return resolve(now);
        if (actor.status() !== 'active') return reject(unavailable());
        const id = nextId++;
        pending.set(id, resolve);
        actor.send({ type: 'Announce', id, at: clock(), rand: random(), request, quiet: !events.observed });
        // A failed step never replies; a re-entrant call is queued and replied to when the queue drains.
        if (actor.status() !== 'active' && pending.delete(id)) reject(unavailable());
      }),
    announceNow,
    scrape: async (infoHashes: readonly Buffer[]): Promise<ScrapeFile[]> =>
      scrapeRegistry(
        actor.snapshot(),
        infoHashes.length === 0 ? 'all' : infoHashes.map((h) => h.toString('hex')),
      ),
    stats: async (): Promise<RegistryStats> => registryStats(actor.snapshot(), clock()),
    swarms: async () => listSwarms(actor.snapshot()),
    peers: async (hex: string) => listPeers(actor.snapshot(), hex),
    state$: actor.state$ as Observable<RegistryState>,
    events$: events.asObservable(),
    snapshot: () => actor.snapshot(),
    sweep: () => actor.send({ type: 'Sweep', at: clock() }),
    close: async () => {
      cancelTimer();
      actor.stop();
    },
  };
}
