/**
 * The announcer against real loopback HTTP: a tiny canned tracker that records every query, and our
 * own tracker server. Time runs on a VirtualTimeScheduler (intervals, backoff, timeouts); only the
 * sockets are real, and the tests wait for them by polling, never by sleeping for a fixed time.
 */
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { VirtualTimeScheduler } from 'rxjs';
import { createRegistryActor } from '../../src/actors/registry-actor';
import { Announcer, AnnouncerOptions, announceRequestUrl, createAnnouncer } from '../../src/actors/announcer';
import type { AnnouncerEvent } from '../../src/core/announce-state';
import { encode } from '../../src/protocol/bencode';
import { PeerAddress, compactPeer, percentEncode } from '../../src/protocol/tracker-codec';
import { createTrackerServer } from '../../src/tracker/http-server';

// Bytes that must be percent-encoded: NUL, space, '%', '&', '=', high bytes.
const INFO_HASH = Buffer.from('00ff20252641423d7e2d2e5f80c3a9010203fe7f', 'hex');
const PEER_ID = Buffer.concat([Buffer.from('-RX0100-'), Buffer.from('00112233445566778899aabb', 'hex')]);

type Reply = (query: URLSearchParams, raw: string) => Buffer | 'hang' | number;

interface FakeTracker {
  url: string;
  queries: string[];
  params: () => URLSearchParams[];
  reply: Reply;
  close(): Promise<void>;
}

const ok = (
  interval: number,
  peers: PeerAddress[] = [],
  extra: Record<string, Buffer | number> = {},
): Buffer =>
  encode(
    new Map<string, Buffer | number>([
      ['interval', interval],
      ['complete', 1],
      ['incomplete', 2],
      ['peers', Buffer.from(peers.map((p) => compactPeer(p.ip, p.port)).join(''), 'latin1')],
      ...Object.entries(extra),
    ]),
  );
const failure = (reason: string): Buffer => encode(new Map([['failure reason', Buffer.from(reason)]]));

async function fakeTracker(reply: Reply = () => ok(60)): Promise<FakeTracker> {
  const queries: string[] = [];
  const server = http.createServer((req, res) => {
    const raw = (req.url ?? '').split('?')[1] ?? '';
    queries.push(raw);
    const out = t.reply(new URLSearchParams(raw), raw);
    if (out === 'hang') return; // never answers
    if (typeof out === 'number') {
      res.writeHead(out);
      return res.end();
    }
    res.writeHead(200, { 'Content-Type': 'text/plain', 'Content-Length': out.length });
    res.end(out);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const t: FakeTracker = {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/announce`,
    queries,
    params: () => queries.map((q) => new URLSearchParams(q)),
    reply,
    close: () =>
      new Promise<void>((r) => {
        server.close(() => r());
        server.closeAllConnections();
      }),
  };
  return t;
}

/** A URL on which nothing listens: connections are refused. */
async function closedPortUrl(): Promise<string> {
  const s = http.createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const { port } = s.address() as AddressInfo;
  await new Promise<void>((r) => s.close(() => r()));
  return `http://127.0.0.1:${port}/announce`;
}

/** Polls (real time, for sockets) until `cond` holds; fails after `ms`. */
async function until(cond: () => boolean, what = 'condition', ms = 3000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 2));
  }
}

/** Moves virtual time forward by `ms`, firing every timer due on the way. */
function advance(s: VirtualTimeScheduler, ms: number): void {
  const to = s.frame + ms;
  s.maxFrames = to;
  s.flush();
  s.frame = to;
}

interface Harness {
  announcer: Announcer;
  scheduler: VirtualTimeScheduler;
  events: AnnouncerEvent[];
  peers: PeerAddress[][];
  said: () => string[];
  stats: { uploaded: number; downloaded: number; left: number };
  eventsDone: () => boolean;
}

const started: Announcer[] = [];

function harness(opts: Partial<AnnouncerOptions> & Pick<AnnouncerOptions, 'tiers'>): Harness {
  const scheduler = new VirtualTimeScheduler();
  const stats = { uploaded: 0, downloaded: 0, left: 1000 };
  const announcer = createAnnouncer({
    infoHash: INFO_HASH,
    peerId: PEER_ID,
    port: 6881,
    stats: () => ({ ...stats }),
    random: () => 0,
    scheduler,
    ...opts,
  });
  started.push(announcer);
  const events: AnnouncerEvent[] = [];
  const peers: PeerAddress[][] = [];
  let done = false;
  announcer.events$.subscribe({ next: (e) => events.push(e), complete: () => (done = true) });
  announcer.peers$.subscribe((p) => peers.push(p));
  return {
    announcer,
    scheduler,
    events,
    peers,
    stats,
    said: () => events.filter((e) => e.type !== 'AnnounceSent').map((e) => e.type),
    eventsDone: () => done,
  };
}

const trackers: FakeTracker[] = [];
async function tracker(reply?: Reply): Promise<FakeTracker> {
  const t = await fakeTracker(reply);
  trackers.push(t);
  return t;
}

afterEach(async () => {
  // Stopping with a virtual clock nobody advances could wait forever; a hung stop is cut by `advance`.
  await Promise.all(
    started.splice(0).map((a) => {
      const p = a.stop();
      return p;
    }),
  );
  await Promise.all(trackers.splice(0).map((t) => t.close()));
});

describe('announceRequestUrl', () => {
  it('appends the query with ? or &', () => {
    expect(announceRequestUrl('http://t/announce', 'a=1')).toBe('http://t/announce?a=1');
    expect(announceRequestUrl('http://t/announce?passkey=x', 'a=1')).toBe('http://t/announce?passkey=x&a=1');
    expect(announceRequestUrl('http://t/announce?', 'a=1')).toBe('http://t/announce?a=1');
    expect(announceRequestUrl('http://t/announce#frag', 'a=1')).toBe('http://t/announce?a=1');
  });
});

describe('announcer over loopback HTTP', () => {
  it('announces started, periodic, completed, stopped with binary info_hash and peer_id', async () => {
    const t = await tracker(() => ok(60, [{ ip: '10.1.2.3', port: 51413 }]));
    t.url += '?passkey=abc';
    const h = harness({ tiers: [[t.url]] });
    h.announcer.start();
    await until(() => h.peers.length === 1, 'first reply');
    expect(h.peers[0]).toEqual([{ ip: '10.1.2.3', port: 51413 }]);
    const first = t.queries[0];
    expect(first).toContain(`info_hash=${percentEncode(INFO_HASH)}&`);
    expect(first).toContain(`peer_id=${percentEncode(PEER_ID)}&`);
    expect(first.startsWith('passkey=abc&')).toBe(true);
    expect(t.params()[0].get('port')).toBe('6881');
    expect(t.params()[0].get('left')).toBe('1000');
    expect(t.params()[0].get('compact')).toBe('1');
    expect(h.said()).toEqual(['PeersReceived']);

    // Nothing before the interval; then a regular announce with fresh stats.
    h.stats.downloaded = 600;
    h.stats.left = 400;
    advance(h.scheduler, 59_999);
    expect(t.queries).toHaveLength(1);
    advance(h.scheduler, 1);
    await until(() => h.peers.length === 2, 'periodic reply');
    expect(t.params()[1].get('event')).toBeNull();
    expect(t.params()[1].get('downloaded')).toBe('600');

    h.stats.left = 0;
    h.announcer.completed();
    await until(() => h.peers.length === 3, 'completed reply');
    h.announcer.completed();
    await h.announcer.stop();
    expect(t.params().map((p) => p.get('event'))).toEqual(['started', null, 'completed', 'stopped']);
    expect(t.params()[3].get('numwant')).toBe('0');
    expect(t.params()[3].get('left')).toBe('0');
    expect(h.eventsDone()).toBe(true);
    // A stopped reply's peers are not handed out; nothing fires after stop.
    expect(h.peers).toHaveLength(3);
    advance(h.scheduler, 3_600_000);
    expect(t.queries).toHaveLength(4);
  });

  it('fails over to the second tier when the first refuses connections, and says so once', async () => {
    const dead = await closedPortUrl();
    const t = await tracker(() => ok(60));
    const h = harness({ tiers: [[dead], [t.url]] });
    h.announcer.start();
    await until(() => h.peers.length === 1, 'reply from tier 2');
    expect(t.params()[0].get('event')).toBe('started');
    const over = h.events.find((e) => e.type === 'TrackerFailedOver');
    expect(over).toMatchObject({ url: dead, next: t.url, level: 'info' });
    expect(String((over as { message: string }).message)).toMatch(/ECONNREFUSED/);
    advance(h.scheduler, 60_000);
    await until(() => h.peers.length === 2, 'second round');
    advance(h.scheduler, 60_000);
    await until(() => h.peers.length === 3, 'third round');
    expect(h.said()).toEqual(['TrackerFailedOver', 'PeersReceived', 'PeersReceived', 'PeersReceived']);
    expect(h.announcer.snapshot().status).toBe('ok');
  });

  it('fails over when the first tracker answers with a failure reason, or is an unusable udp:// URL', async () => {
    const refusing = await tracker(() => failure('unregistered torrent'));
    const t = await tracker(() => ok(60));
    // random() ≈ 1 leaves each tier in its given order.
    const h = harness({
      tiers: [['udp://tracker.example/announce', refusing.url], [t.url]],
      random: () => 0.999,
    });
    h.announcer.start();
    await until(() => h.peers.length === 1, 'reply from tier 2');
    const over = h.events.filter((e) => e.type === 'TrackerFailedOver');
    expect(over.map((e) => (e as { message: string }).message)).toEqual([
      'UDP tracker URL without a port: udp://tracker.example/announce',
      'failure reason: unregistered torrent',
    ]);
    expect(refusing.queries).toHaveLength(1);
  });

  it('retries with backoff while the tracker is down, says so once, and recovers', async () => {
    let up = false;
    const t = await tracker(() => (up ? ok(60, [{ ip: '10.0.0.9', port: 7000 }]) : 503));
    const h = harness({ tiers: [[t.url]] });
    h.announcer.start();
    await until(() => h.said().length === 1, 'first failure');
    expect(h.events.find((e) => e.type === 'TrackerFailed')).toMatchObject({
      message: 'HTTP 503 Service Unavailable',
      retryInMs: 1_000,
      failures: 1,
    });
    // Never answered yet: fast start-up retries (+1, +2, +4, +8 s), then the usual +15 s, +30 s. Each
    // one a query, none of them news.
    const gaps = [1_000, 2_000, 4_000, 8_000, 15_000, 30_000];
    for (const [i, gap] of gaps.entries()) {
      advance(h.scheduler, gap - 1);
      expect(t.queries).toHaveLength(i + 1);
      advance(h.scheduler, 1);
      await until(() => h.announcer.snapshot().failures === i + 2, `retry ${i + 1}`);
    }
    expect(h.said()).toEqual(['TrackerFailed']);
    expect(t.params().map((p) => p.get('event'))).toEqual(Array(7).fill('started'));

    up = true;
    advance(h.scheduler, 60_000);
    await until(() => h.peers.length === 1, 'recovery');
    expect(h.said()).toEqual(['TrackerFailed', 'TrackerRecovered', 'PeersReceived']);
    advance(h.scheduler, 60_000);
    await until(() => h.peers.length === 2, 'regular announce after recovery');
    expect(t.params()[8].get('event')).toBeNull();
  });

  it('meets a tracker that comes up a moment after start at the first fast retry, 1 s later', async () => {
    const t = await tracker(() => (t.queries.length === 1 ? 503 : ok(60, [{ ip: '10.0.0.9', port: 7000 }])));
    const h = harness({ tiers: [[t.url]] });
    h.announcer.start();
    await until(() => h.said().length === 1, 'first failure');
    advance(h.scheduler, 999);
    expect(t.queries).toHaveLength(1);
    advance(h.scheduler, 1);
    await until(() => h.peers.length === 1, 'the retry at 1 s');
    expect(h.said()).toEqual(['TrackerFailed', 'TrackerRecovered', 'PeersReceived']);
    // Answered once: a later outage backs off the usual way, from 15 s.
    t.reply = () => 503;
    advance(h.scheduler, 60_000);
    await until(() => h.said().length === 4, 'the next failure');
    expect(h.events.filter((e) => e.type === 'TrackerFailed').at(-1)).toMatchObject({ retryInMs: 15_000 });
  });

  it('times an unanswered announce out on the virtual clock and moves on', async () => {
    const hung = await tracker(() => 'hang');
    const t = await tracker(() => ok(60));
    const h = harness({ tiers: [[hung.url, t.url]], random: () => 0.999 });
    h.announcer.start();
    await until(() => hung.queries.length === 1, 'request reaches the hung tracker');
    advance(h.scheduler, 14_999);
    expect(t.queries).toHaveLength(0);
    advance(h.scheduler, 1);
    await until(() => h.peers.length === 1, 'fail-over after timeout');
    expect(h.events.find((e) => e.type === 'TrackerFailedOver')).toMatchObject({
      url: hung.url,
      message: 'timed out after 15000 ms',
    });
    // The working tracker moved to the front of its tier.
    expect(h.announcer.snapshot().tiers).toEqual([[t.url, hung.url]]);
  });

  it('bounds the stopped announce by a short timeout', async () => {
    let hang = false;
    const t = await tracker(() => (hang ? 'hang' : ok(60)));
    const h = harness({ tiers: [[t.url]] });
    h.announcer.start();
    await until(() => h.peers.length === 1, 'started');
    hang = true;
    let done = false;
    const stopping = h.announcer.stop().then(() => (done = true));
    await until(() => t.queries.length === 2, 'stopped request');
    advance(h.scheduler, 2_999);
    await new Promise((r) => setImmediate(r));
    expect(done).toBe(false);
    advance(h.scheduler, 1);
    await stopping;
    expect(h.eventsDone()).toBe(true);
    expect(h.announcer.stop()).toBe(h.announcer.stop()); // idempotent
  });

  it('stops at once when no tracker ever answered', async () => {
    const h = harness({ tiers: [[await closedPortUrl()]] });
    h.announcer.start();
    await until(() => h.said().includes('TrackerFailed'), 'failure');
    await h.announcer.stop();
    expect(h.eventsDone()).toBe(true);
  });
});

describe('announcer against our tracker server', () => {
  it('two announcers see each other, and re-register after the tracker restarts', async () => {
    const open = async (port = 0) => {
      const registry = createRegistryActor();
      const server = createTrackerServer({ registry, host: '127.0.0.1', port });
      const bound = await server.listen();
      return { registry, server, port: bound.port, url: server.announceUrl() };
    };
    let tr = await open();
    const url = tr.url;
    const peerId = (n: number): Buffer => Buffer.from(`-RX0100-00000000000${n}`);
    const a = harness({ tiers: [[url]], peerId: peerId(1), port: 7001 });
    const b = harness({ tiers: [[url]], peerId: peerId(2), port: 7002 });
    try {
      a.announcer.start();
      await until(() => a.peers.length === 1, 'a registered');
      expect(a.peers[0]).toEqual([]);
      b.announcer.start();
      await until(() => b.peers.length === 1, 'b registered');
      expect(b.peers[0]).toEqual([{ ip: '127.0.0.1', port: 7001 }]);
      // a asks early for peers: allowed once the tracker's min interval (60 s) has passed.
      a.announcer.needPeers();
      advance(a.scheduler, 60_000);
      await until(() => a.peers.length === 2, 'a asks again');
      expect(a.peers[1]).toEqual([{ ip: '127.0.0.1', port: 7002 }]);

      // The tracker restarts with an empty registry on the same port; b's next announce re-registers.
      await tr.server.close();
      await tr.registry.close();
      tr = await open(tr.port);
      advance(b.scheduler, 1_800_000);
      await until(() => b.peers.length === 2, 'b re-registers');
      expect(b.peers[1]).toEqual([]); // a has not announced to the new tracker yet
      advance(a.scheduler, 1_800_000);
      await until(() => a.peers.length === 3, 'a re-registers');
      expect(a.peers[2]).toEqual([{ ip: '127.0.0.1', port: 7002 }]);

      await b.announcer.stop();
      expect(tr.registry.snapshot().store.peers).toBe(1);
    } finally {
      await a.announcer.stop();
      await tr.server.close();
      await tr.registry.close();
    }
  });
});
