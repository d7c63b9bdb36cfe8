/**
 * The Redis registry against a real redis-server on a free loopback port: the same answers as the
 * in-memory registry, expiry by sorted-set score, and what happens when Redis goes away and comes back.
 */
import { createRegistryActor } from '../../src/actors/registry-actor';
import type { AnnounceOutcome } from '../../src/core/swarm-registry';
import {
  decodeCompactPeers,
  decodeCompactPeers6,
  type AnnounceRequest,
} from '../../src/protocol/tracker-codec';
import { createRedisRegistry, RedisRegistry } from '../../src/tracker/redis-registry';
import type { TrackerRegistry } from '../../src/tracker/registry';
import { Traffic } from '../../src/tracker/traffic';
import { until } from '../support/child-process';
import { describeWithTools } from '../support/real-clients';
import { startRedis, TestRedis } from '../support/redis-server';

const T1 = Buffer.alloc(20, 0xa1);
const T2 = Buffer.alloc(20, 0xb2);
const CONFIG = { interval: 100, minInterval: 10, grace: 20 };
const pid = (n: number): Buffer => Buffer.from(`-XX0001-${String(n).padStart(12, '0')}`, 'latin1');
const req = (peer: number, over: Partial<AnnounceRequest> = {}): AnnounceRequest => ({
  infoHash: T1,
  peerId: pid(peer),
  ip: `10.0.0.${peer}`,
  port: 6000 + peer,
  uploaded: 0,
  downloaded: 0,
  left: 100,
  event: '',
  numwant: 50,
  compact: true,
  noPeerId: false,
  key: undefined,
  ...over,
});
const peersOf = (o: AnnounceOutcome) =>
  o.ok ? [...decodeCompactPeers(o.reply.peers4), ...decodeCompactPeers6(o.reply.peers6)] : [];
const ports = (o: AnnounceOutcome): number[] =>
  peersOf(o)
    .map((p) => p.port)
    .sort();

describeWithTools(['redis'], 'Redis registry', () => {
  let redis: TestRedis;
  let db = 0;
  const open: TrackerRegistry[] = [];
  const registry = (config = CONFIG, traffic?: Traffic): RedisRegistry => {
    // A database of its own per test (0..15), so tests never see each other's swarms.
    const r = createRedisRegistry({
      url: `${redis.url}/${db++ % 16}`,
      config,
      traffic,
      commandTimeoutMs: 1000,
    });
    open.push(r);
    return r;
  };
  const ready = (r: RedisRegistry) =>
    until('Redis connection', () => (r.connected() ? true : undefined), 5000, 20);

  beforeAll(async () => {
    redis = await startRedis();
  });
  afterEach(async () => {
    await Promise.all(open.splice(0).map((r) => r.close()));
  });
  afterAll(async () => {
    await redis?.cleanup();
  });

  it('gives the same answers as the in-memory registry for the same announces', async () => {
    const r = registry();
    await ready(r);
    const mem = createRegistryActor({ config: CONFIG, every: () => () => undefined });
    open.push(mem);
    const script: AnnounceRequest[] = [
      req(1, { left: 0, event: 'started' }),
      req(2, { event: 'started' }),
      req(3, { ip: '2001:db8::3', event: 'started' }),
      req(2, { event: 'completed', left: 0 }),
      req(4, { infoHash: T2 }),
      req(5),
      req(1, { event: 'stopped' }),
      req(6, { numwant: 1 }),
      req(7, { only: 6 }),
      req(8, { left: 0 }),
    ];
    for (const q of script) {
      const [a, b] = [await r.announce(q), await mem.announce(q)];
      expect({
        ok: a.ok,
        n: ports(a).length,
        counts: a.ok && [a.reply.complete, a.reply.incomplete],
      }).toEqual({
        ok: b.ok,
        n: ports(b).length,
        counts: b.ok && [b.reply.complete, b.reply.incomplete],
      });
      // With fewer peers than numwant, both hand out the same set.
      if (q.numwant >= 50) expect(ports(a)).toEqual(ports(b));
    }
    expect(await r.scrape([T1, T2, Buffer.alloc(20)])).toEqual(await mem.scrape([T1, T2, Buffer.alloc(20)]));
    expect(await r.swarms()).toEqual(await mem.swarms());
    expect(await r.stats()).toMatchObject({ ...(await mem.stats()), uptime: expect.any(Number) });
    const view = (await r.peers(T1.toString('hex')))!.map(({ lastSeen: _l, ...p }) => p);
    expect(view).toEqual((await mem.peers(T1.toString('hex')))!.map(({ lastSeen: _l, ...p }) => p));
  });

  it('refuses a peer id moving to another address with a different key; non-compact replies carry ids', async () => {
    const r = registry();
    await ready(r);
    await r.announce(req(1, { key: 'aa' }));
    expect(await r.announce(req(1, { key: 'bb', ip: '10.9.9.9' }))).toMatchObject({
      ok: false,
      code: 'key-mismatch',
    });
    expect(await r.announce(req(1, { key: 'aa', ip: '10.9.9.9' }))).toMatchObject({ ok: true });
    await r.announce(req(2, { ip: '2001:db8::2' }));
    const o = await r.announce(req(3, { compact: false }));
    expect(o.ok && o.reply.peerIds).toEqual(Buffer.concat([pid(1), pid(2)]));
  });

  it('expires peers by their sorted-set score once interval + grace has passed', async () => {
    const r = registry({ interval: 1, minInterval: 1, grace: 0 });
    await ready(r);
    await r.announce(req(1));
    expect((await r.stats()).peers).toBe(1);
    // Redis's clock, not ours: wait (bounded) for the peer to fall out of every count.
    await until(
      'the peer to expire',
      async () => ((await r.stats()).peers === 0 ? true : undefined),
      5000,
      100,
    );
    const o = await r.announce(req(2));
    expect(peersOf(o)).toEqual([]);
    expect(o).toMatchObject({ ok: true, reply: { complete: 0, incomplete: 1 } });
  });

  it('adds every process\u2019s HTTP/UDP counts together and shares one UDP secret', async () => {
    const t1 = new Traffic();
    const t2 = new Traffic();
    const a = registry(CONFIG, t1);
    const b = createRedisRegistry({ url: `${redis.url}/${(db - 1) % 16}`, config: CONFIG, traffic: t2 });
    open.push(b);
    await ready(a);
    await ready(b);
    t1.http.announces = 3;
    t2.udp.announces = 4;
    t2.udp.connects = 1;
    await a.trafficTotals();
    expect(await b.trafficTotals()).toMatchObject({
      http: { announces: 3 },
      udp: { announces: 4, connects: 1 },
    });
    expect(await a.sharedSecret()).toBe(await b.sharedSecret());
  });

  it('Redis down: announces fail fast with "storage unavailable"; Redis back: they recover by themselves', async () => {
    const r = registry();
    await ready(r);
    expect(await r.announce(req(1))).toMatchObject({ ok: true });
    await redis.stop();
    const t0 = Date.now();
    expect(await r.announce(req(2))).toEqual({
      ok: false,
      code: 'storage-unavailable',
      reason: 'tracker storage unavailable, retry later',
    });
    expect(Date.now() - t0).toBeLessThan(2000); // never hangs
    await expect(r.stats()).rejects.toThrow();
    await redis.start();
    // The client reconnects with backoff (≤ 2 s); the scripts are reloaded after Redis's restart.
    const back = await until(
      'announces to recover',
      async () => {
        const o = await r.announce(req(2));
        return o.ok ? o : undefined;
      },
      10_000,
      100,
    );
    expect(back).toMatchObject({ ok: true, reply: { incomplete: 1 } }); // a fresh Redis: only itself
  });
});
