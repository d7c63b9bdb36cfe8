import {
  AnnounceConfig,
  AnnounceEffect,
  AnnounceIn,
  AnnounceState,
  AnnouncerEvent,
  BACKOFF_MAX_MS,
  announceTransition,
  backoffDelay,
  initialAnnounceState,
  retryDelay,
} from '../../src/core/announce-state';

const A = 'http://a/announce';
const B = 'http://b/announce';
const C = 'http://c/announce';
const D = 'http://d/announce';

type Announce = Extract<AnnounceEffect, { type: 'Announce' }>;

/** Runs messages through the transition, keeping every effect and event. */
function driver(config: Partial<AnnounceConfig> & Pick<AnnounceConfig, 'tiers'>) {
  let state: AnnounceState = initialAnnounceState(config);
  const effects: AnnounceEffect[] = [];
  const events: AnnouncerEvent[] = [];
  const d = {
    get state() {
      return state;
    },
    effects,
    events,
    send(m: AnnounceIn) {
      const step = announceTransition(state, m);
      state = step.state;
      effects.push(...(step.effects ?? []));
      events.push(...(step.events ?? []));
      return step;
    },
    announces: () => effects.filter((e): e is Announce => e.type === 'Announce'),
    last: (): Announce => {
      const a = d.announces();
      return a[a.length - 1];
    },
    schedules: () =>
      effects.filter((e) => e.type === 'ScheduleNext').map((e) => (e as { atMs: number }).atMs),
    said: () => events.filter((e) => e.type !== 'AnnounceSent').map((e) => e.type),
    ok(now: number, interval = 1800, extra: { minInterval?: number; warning?: string; peers?: number } = {}) {
      const a = d.last();
      const peers = Array.from({ length: extra.peers ?? 1 }, (_, i) => ({ ip: '10.0.0.1', port: 6000 + i }));
      return d.send({
        type: 'AnnounceSucceeded',
        id: a.id,
        url: a.url,
        now,
        reply: {
          interval,
          ...(extra.minInterval !== undefined ? { minInterval: extra.minInterval } : {}),
          peers,
        },
        ...(extra.warning !== undefined ? { warning: extra.warning } : {}),
      });
    },
    fail(now: number, error = 'ECONNREFUSED', rand = 0) {
      const a = d.last();
      return d.send({ type: 'AnnounceFailed', id: a.id, url: a.url, error, now, rand });
    },
  };
  return d;
}

describe('announce-state: tiers (BEP 12)', () => {
  it('shuffles each tier once with the injected random and keeps tier order', () => {
    // random() = 0 makes Fisher–Yates rotate: [a, b, c] → [b, c, a].
    const s = initialAnnounceState({ tiers: [[A, B, C], [D]], random: () => 0 });
    expect(s.tiers).toEqual([[B, C, A], [D]]);
    const plain = initialAnnounceState({ tiers: [[A, B, C], [D]] });
    expect(plain.tiers).toEqual([[A, B, C], [D]]);
  });

  it('drops empty tiers and duplicate URLs', () => {
    expect(initialAnnounceState({ tiers: [[], [A, A, ''], [A, B]] }).tiers).toEqual([[A], [B]]);
  });

  it('tries trackers in order within a tier, then the next tier, all at once', () => {
    const d = driver({ tiers: [[A, B], [C]] });
    d.send({ type: 'Start', now: 0 });
    expect(d.last()).toMatchObject({ url: A, event: 'started', numwant: 50 });
    d.fail(1);
    expect(d.last()).toMatchObject({ url: B, event: 'started' });
    d.fail(2);
    expect(d.last()).toMatchObject({ url: C, event: 'started' });
    expect(d.schedules()).toEqual([]); // fail-over needs no timer
    d.ok(3);
    expect(d.state.status).toBe('ok');
    expect(d.schedules()).toEqual([3 + 1_800_000]);
  });

  it('moves the tracker that answered to the front of its tier, and always starts from the first tier', () => {
    const d = driver({ tiers: [[A, B, C], [D]] });
    d.send({ type: 'Start', now: 0 });
    d.fail(0);
    d.fail(0); // A and B down, C answers
    d.ok(0);
    expect(d.state.tiers).toEqual([[C, A, B], [D]]);
    d.send({ type: 'Tick', now: 1_800_000 });
    expect(d.last().url).toBe(C);
    // Tier 1 answering does not reorder tier 0; the next round starts at tier 0 again.
    d.fail(1_800_000);
    d.fail(1_800_000);
    d.fail(1_800_000);
    expect(d.last().url).toBe(D);
    d.ok(1_800_001);
    expect(d.state.tiers).toEqual([[C, A, B], [D]]);
    d.send({ type: 'Tick', now: 3_600_001 });
    expect(d.last().url).toBe(C);
  });

  it('with no trackers, starts and stops without announcing', () => {
    const d = driver({ tiers: [] });
    d.send({ type: 'Start', now: 0 });
    d.send({ type: 'Stop' });
    expect(d.effects).toEqual([{ type: 'Finished' }]);
  });
});

describe('announce-state: events sent', () => {
  it('sends started until one announce succeeded, then regular announces', () => {
    const d = driver({ tiers: [[A]] });
    d.send({ type: 'Start', now: 0 });
    d.fail(0);
    d.send({ type: 'Tick', now: 15_000 });
    expect(d.last().event).toBe('started'); // the retry still says started
    d.ok(15_000);
    d.send({ type: 'Tick', now: 15_000 + 1_800_000 });
    expect(d.last().event).toBe('');
  });

  it('sends completed exactly once, at once when idle between announces', () => {
    const d = driver({ tiers: [[A]] });
    d.send({ type: 'Start', now: 0 });
    d.ok(0);
    d.send({ type: 'Completed' });
    expect(d.last()).toMatchObject({ event: 'completed' });
    d.send({ type: 'Completed' });
    d.ok(10);
    d.send({ type: 'Completed' });
    d.send({ type: 'Tick', now: 10 + 1_800_000 });
    expect(d.announces().map((a) => a.event)).toEqual(['started', 'completed', '']);
  });

  it('sends completed right after started when it arrives while started is in flight', () => {
    const d = driver({ tiers: [[A]] });
    d.send({ type: 'Start', now: 0 });
    d.send({ type: 'Completed' });
    expect(d.announces()).toHaveLength(1);
    d.ok(5);
    expect(d.announces().map((a) => a.event)).toEqual(['started', 'completed']);
  });

  it('keeps completed for the next retry when the tracker is failing', () => {
    const d = driver({ tiers: [[A]] });
    d.send({ type: 'Start', now: 0 });
    d.ok(0);
    d.send({ type: 'Tick', now: 1_800_000 });
    d.fail(1_800_000);
    d.send({ type: 'Completed' });
    expect(d.last().event).toBe(''); // nothing new sent while backing off
    d.send({ type: 'Tick', now: 1_815_000 });
    expect(d.last().event).toBe('completed');
    d.fail(1_815_000);
    d.send({ type: 'Tick', now: 1_845_000 });
    expect(d.last().event).toBe('completed');
  });

  it('never sends completed for a torrent that was complete when started (BEP 3)', () => {
    const d = driver({ tiers: [[A]] });
    d.send({ type: 'Completed' });
    d.send({ type: 'Start', now: 0 });
    d.ok(0);
    d.send({ type: 'Tick', now: 1_800_000 });
    expect(d.announces().map((a) => a.event)).toEqual(['started', '']);
  });

  it('sends stopped last, to the tracker that answered, with numwant 0, then finishes', () => {
    const d = driver({ tiers: [[A, B]] });
    d.send({ type: 'UpdateStats', uploaded: 7, downloaded: 9, left: 0 });
    d.send({ type: 'Start', now: 0 });
    d.fail(0);
    d.ok(0);
    d.send({ type: 'Stop' });
    expect(d.last()).toEqual({
      type: 'Announce',
      id: 3,
      url: B,
      event: 'stopped',
      numwant: 0,
      stats: { uploaded: 7, downloaded: 9, left: 0 },
    });
    expect(d.state.phase).toBe('stopping');
    d.send({ type: 'Tick', now: 1_800_000 }); // a late timer does nothing
    d.send({ type: 'NeedPeers', now: 1_800_000 });
    d.send({ type: 'Completed' });
    expect(d.announces()).toHaveLength(3);
    d.fail(1, 'timed out after 3000 ms'); // a failed stopped announce also finishes
    expect(d.effects[d.effects.length - 1]).toEqual({ type: 'Finished' });
    expect(d.state.phase).toBe('finished');
    d.send({ type: 'Start', now: 2 });
    expect(d.effects[d.effects.length - 1]).toEqual({ type: 'Finished' });
  });

  it('finishes without a stopped announce when no tracker ever answered', () => {
    const d = driver({ tiers: [[A]] });
    d.send({ type: 'Start', now: 0 });
    d.send({ type: 'Stop' });
    expect(d.effects).toEqual([expect.objectContaining({ type: 'Announce' }), { type: 'Finished' }]);
    // The late answer to started is ignored.
    const step = d.ok(1);
    expect(step.effects ?? []).toEqual([]);
  });

  it('ignores replies that do not answer the request in flight', () => {
    const d = driver({ tiers: [[A]] });
    d.send({ type: 'Start', now: 0 });
    const step = d.send({ type: 'AnnounceFailed', id: 99, url: A, error: 'x', now: 0 });
    expect(step.state).toBe(d.state);
    expect(d.state.inFlight?.id).toBe(1);
  });
});

describe('announce-state: intervals', () => {
  it('clamps the interval to [30 s, 1 h] and uses 30 min when none is given', () => {
    const at = (interval: number): number => {
      const d = driver({ tiers: [[A]] });
      d.send({ type: 'Start', now: 0 });
      d.ok(0, interval);
      return d.schedules()[0];
    };
    expect(at(5)).toBe(30_000);
    expect(at(90)).toBe(90_000);
    expect(at(86_400)).toBe(3_600_000);
    expect(at(0)).toBe(1_800_000);
  });

  it('lets tests lower the floor with minIntervalMs', () => {
    const d = driver({ tiers: [[A]], minIntervalMs: 100 });
    d.send({ type: 'Start', now: 0 });
    d.ok(0, 1);
    expect(d.schedules()).toEqual([1000]);
  });

  it('reschedules an early tick instead of announcing', () => {
    const d = driver({ tiers: [[A]] });
    d.send({ type: 'Start', now: 0 });
    d.ok(0, 60);
    const step = d.send({ type: 'Tick', now: 59_000 });
    expect(step.effects).toEqual([{ type: 'ScheduleNext', atMs: 60_000 }]);
    expect(d.announces()).toHaveLength(1);
  });

  it('NeedPeers announces early but not before the min interval', () => {
    const d = driver({ tiers: [[A]] });
    d.send({ type: 'Start', now: 0 });
    d.ok(0, 1800, { minInterval: 120 });
    d.send({ type: 'NeedPeers', now: 60_000 });
    expect(d.announces()).toHaveLength(1);
    expect(d.schedules()).toEqual([1_800_000, 120_000]);
    d.send({ type: 'Tick', now: 120_000 });
    expect(d.last()).toMatchObject({ event: '' });
    d.ok(120_000, 1800, { minInterval: 120 });
    d.send({ type: 'NeedPeers', now: 300_000 }); // past min interval: announce now
    expect(d.announces()).toHaveLength(3);
    d.send({ type: 'NeedPeers', now: 300_001 }); // one in flight: nothing more
    expect(d.announces()).toHaveLength(3);
  });

  it('NeedPeers does nothing while failing or before the first success', () => {
    const d = driver({ tiers: [[A]] });
    d.send({ type: 'Start', now: 0 });
    d.send({ type: 'NeedPeers', now: 0 });
    d.fail(0);
    d.send({ type: 'NeedPeers', now: 1 });
    expect(d.announces()).toHaveLength(1);
    expect(d.schedules()).toEqual([1_000]); // the fast start-up retry, not NeedPeers
  });
});

describe('announce-state: failures and backoff', () => {
  it('grows 15 s × 2^n and caps at 30 min, jitter only shortening', () => {
    expect([1, 2, 3, 4, 5, 6, 7, 8, 9, 50].map((n) => backoffDelay(n))).toEqual([
      15_000, 30_000, 60_000, 120_000, 240_000, 480_000, 960_000, 1_800_000, 1_800_000, 1_800_000,
    ]);
    expect(backoffDelay(1, 0.999)).toBeGreaterThanOrEqual(11_250);
    expect(backoffDelay(1, 0.999)).toBeLessThan(15_000);
    expect(backoffDelay(50, 0.5)).toBeLessThanOrEqual(BACKOFF_MAX_MS);
  });

  it('retries fast at start-up (1, 2, 4, 8 s), then settles on the usual backoff from its start', () => {
    expect([1, 2, 3, 4, 5, 6, 7, 13, 14].map((n) => retryDelay(n, true))).toEqual([
      1_000, 2_000, 4_000, 8_000, 15_000, 30_000, 60_000, 1_800_000, 1_800_000,
    ]);
    expect([1, 2, 3].map((n) => retryDelay(n, false))).toEqual([15_000, 30_000, 60_000]);
    // Jitter only shortens, fast steps included.
    expect(retryDelay(1, true, 0.999)).toBeGreaterThanOrEqual(750);
    expect(retryDelay(1, true, 0.999)).toBeLessThan(1_000);
    // A smaller usual delay leaves fewer (or no) fast steps: --min-announce-interval 1 backs off from 0.5 s.
    const c = { backoffBaseMs: 5_000, backoffMaxMs: 60_000, startupRetryMs: 1_000 };
    expect([1, 2, 3, 4, 5].map((n) => retryDelay(n, true, 0, c))).toEqual([
      1_000, 2_000, 4_000, 5_000, 10_000,
    ]);
    const lan = { backoffBaseMs: 500, backoffMaxMs: 60_000, startupRetryMs: 1_000 };
    expect([1, 2, 3].map((n) => retryDelay(n, true, 0, lan))).toEqual([500, 1_000, 2_000]);
    expect(retryDelay(1, true, 0, { ...c, startupRetryMs: 0 })).toBe(5_000);
  });

  it('uses the fast retries only until a tracker answered once', () => {
    const d = driver({ tiers: [[A]] });
    d.send({ type: 'Start', now: 0 });
    d.fail(0);
    expect(d.events.find((e) => e.type === 'TrackerFailed')).toMatchObject({ retryInMs: 1_000 });
    d.send({ type: 'Tick', now: 1_000 });
    d.fail(1_000);
    d.send({ type: 'Tick', now: 3_000 });
    d.ok(3_000, 60);
    expect(d.schedules()).toEqual([1_000, 3_000, 63_000]);
    // Down again later: the usual backoff, from 15 s.
    d.send({ type: 'Tick', now: 63_000 });
    d.fail(63_000);
    d.send({ type: 'Tick', now: 78_000 });
    d.fail(78_000);
    expect(d.schedules().slice(-2)).toEqual([78_000, 108_000]);
  });

  it('schedules retries with growing delays after whole rounds fail', () => {
    const d = driver({ tiers: [[A], [B]] });
    let now = 0;
    d.send({ type: 'Start', now });
    for (let i = 0; i < 10; i++) {
      d.fail(now);
      d.fail(now);
      now = d.state.nextAt as number;
      d.send({ type: 'Tick', now });
    }
    const schedules = d.schedules();
    const gaps = schedules.map((t, i) => t - (i === 0 ? 0 : schedules[i - 1]));
    // Nothing ever answered: the start-up steps first.
    expect(gaps).toEqual([1_000, 2_000, 4_000, 8_000, 15_000, 30_000, 60_000, 120_000, 240_000, 480_000]);
    expect(d.state.failures).toBe(10);
  });

  it('uses the jitter carried by the failure message', () => {
    const d = driver({ tiers: [[A]] });
    d.send({ type: 'Start', now: 0 });
    d.fail(0, 'ECONNREFUSED', 0.5);
    expect(d.schedules()).toEqual([875]);
    d.send({ type: 'Tick', now: 875 });
    d.ok(875, 60);
    d.send({ type: 'Tick', now: 60_875 });
    d.fail(60_875, 'ECONNREFUSED', 0.5);
    expect(d.schedules().at(-1)).toBe(60_875 + 13_125);
  });

  it('says it is failing once per state change, not once per retry', () => {
    const d = driver({ tiers: [[A]] });
    d.send({ type: 'Start', now: 0 });
    d.ok(0);
    for (let i = 0; i < 5; i++) {
      d.send({ type: 'Tick', now: d.state.nextAt as number });
      d.fail(d.state.nextAt ?? 0, 'ECONNREFUSED');
    }
    expect(d.said()).toEqual(['PeersReceived', 'TrackerFailed']);
    // A new reason is news.
    d.send({ type: 'Tick', now: d.state.nextAt as number });
    d.fail(0, 'HTTP 502 Bad Gateway');
    d.send({ type: 'Tick', now: d.state.nextAt as number });
    d.fail(0, 'HTTP 502 Bad Gateway');
    expect(d.said()).toEqual(['PeersReceived', 'TrackerFailed', 'TrackerFailed']);
    const failed = d.events.filter((e) => e.type === 'TrackerFailed');
    expect(failed[0]).toMatchObject({
      url: A,
      message: 'ECONNREFUSED',
      level: 'warn',
      failures: 1,
      retryInMs: 15_000,
    });
    expect(failed[1]).toMatchObject({ message: 'HTTP 502 Bad Gateway', failures: 6 });
    // Recovery is said once, and resets the backoff.
    d.send({ type: 'Tick', now: d.state.nextAt as number });
    d.ok(10);
    expect(d.said().slice(-2)).toEqual(['TrackerRecovered', 'PeersReceived']);
    expect(d.state).toMatchObject({ status: 'ok', failures: 0 });
    d.send({ type: 'Tick', now: d.state.nextAt as number });
    d.fail(20);
    expect(d.said().slice(-1)).toEqual(['TrackerFailed']);
    expect(d.schedules().slice(-1)).toEqual([20 + 15_000]);
  });

  it('reports fail-over once per tracker and reason, and its recovery', () => {
    const d = driver({ tiers: [[A], [B]] });
    d.send({ type: 'Start', now: 0 });
    d.fail(0, 'failure reason: unregistered torrent');
    d.ok(0);
    for (let i = 0; i < 3; i++) {
      d.send({ type: 'Tick', now: d.state.nextAt as number });
      d.fail(0, 'failure reason: unregistered torrent');
      d.ok(0);
    }
    expect(d.said()).toEqual([
      'TrackerFailedOver',
      'PeersReceived',
      'PeersReceived',
      'PeersReceived',
      'PeersReceived',
    ]);
    expect(d.events.find((e) => e.type === 'TrackerFailedOver')).toMatchObject({ url: A, next: B });
    expect(d.state.status).toBe('ok');
    d.send({ type: 'Tick', now: d.state.nextAt as number });
    d.ok(0); // A answers again
    expect(d.said().slice(-2)).toEqual(['TrackerRecovered', 'PeersReceived']);
    expect(d.events[d.events.length - 2]).toMatchObject({ url: A });
  });

  it('names every tracker when all of them failed', () => {
    const d = driver({ tiers: [[A], [B]] });
    d.send({ type: 'Start', now: 0 });
    d.fail(0, 'ECONNREFUSED');
    d.fail(0, 'UDP trackers not supported yet');
    expect(d.events.find((e) => e.type === 'TrackerFailed')).toMatchObject({
      url: A,
      message: `${A}: ECONNREFUSED; ${B}: UDP trackers not supported yet`,
    });
  });

  it('reports a tracker warning when it changes', () => {
    const d = driver({ tiers: [[A]] });
    d.send({ type: 'Start', now: 0 });
    d.ok(0, 1800, { warning: 'slow down' });
    d.send({ type: 'Tick', now: d.state.nextAt as number });
    d.ok(1, 1800, { warning: 'slow down' });
    expect(d.said()).toEqual(['TrackerWarning', 'PeersReceived', 'PeersReceived']);
    expect(d.events.find((e) => e.type === 'TrackerWarning')).toMatchObject({ message: 'slow down', url: A });
  });

  it('counts peers and stamps the torrent on events', () => {
    const d = driver({ tiers: [[A]], torrent: 'ab'.repeat(20) });
    d.send({ type: 'Start', now: 0 });
    d.ok(0, 1800, { peers: 3 });
    expect(d.events).toEqual([
      {
        category: 'tracker',
        type: 'AnnounceSent',
        level: 'debug',
        torrent: 'ab'.repeat(20),
        url: A,
        event: 'started',
      },
      {
        category: 'tracker',
        type: 'PeersReceived',
        level: 'info',
        torrent: 'ab'.repeat(20),
        url: A,
        count: 3,
        intervalMs: 1_800_000,
      },
    ]);
  });
});
