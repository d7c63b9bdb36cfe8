/**
 * The tracker over real HTTP on loopback, with the registry's clock and expiry timer driven by the test.
 */
import * as net from 'node:net';
import { createRegistryActor, RegistryActor } from '../../src/actors/registry-actor';
import { buildAnnounceQuery, percentEncode } from '../../src/protocol/tracker-codec';
import { createTrackerServer, TrackerServer } from '../../src/tracker/http-server';
import { announce, announceOk, httpGet, id20, scrape } from '../support/tracker-http';

const CONFIG = { interval: 60, minInterval: 10, grace: 30 };
const T1 = Buffer.from('11'.repeat(20), 'hex');
const T2 = Buffer.from('22'.repeat(20), 'hex');

interface Harness {
  server: TrackerServer;
  registry: RegistryActor;
  host: string;
  port: number;
  now: { t: number };
  fireTimer: () => void;
}

async function start(
  opts: { host?: string; trustIpParam?: boolean; allow?: (h: string) => boolean | Promise<boolean> } = {},
): Promise<Harness> {
  const now = { t: 1_700_000_000_000 };
  let tick: () => void = () => undefined;
  const registry = createRegistryActor({
    config: CONFIG,
    clock: () => now.t,
    every: (_ms, fn) => {
      tick = fn;
      return () => (tick = () => undefined);
    },
  });
  const server = createTrackerServer({ registry, host: opts.host ?? '127.0.0.1', port: 0, ...opts });
  const { port } = await server.listen();
  return {
    server,
    registry,
    host: opts.host === '::' ? '127.0.0.1' : (opts.host ?? '127.0.0.1'),
    port,
    now,
    fireTimer: () => tick(),
  };
}

let h: Harness;
afterEach(async () => {
  await h?.server.close();
  await h?.registry.close();
});

const peer = (n: number, over: Record<string, unknown> = {}) => ({
  infoHash: T1,
  peerId: id20('-XX0001-', n),
  port: 7000 + n,
  left: 1000,
  event: 'started' as const,
  ...over,
});

describe('announce over HTTP', () => {
  beforeEach(async () => (h = await start()));

  it('compact replies decode to the other peers, never the asker', async () => {
    await announceOk(h, peer(1));
    await announceOk(h, peer(2, { left: 0 }));
    const r = await announceOk(h, peer(3));
    expect(r.peers.sort((a, b) => a.port - b.port)).toEqual([
      { ip: '127.0.0.1', port: 7001 },
      { ip: '127.0.0.1', port: 7002 },
    ]);
    expect(r).toMatchObject({ interval: 60, minInterval: 10, complete: 1, incomplete: 2 });
    const again = await announceOk(h, peer(1, { event: undefined }));
    expect(again.peers.map((p) => p.port).sort()).toEqual([7002, 7003]);
  });

  it('non-compact replies carry peer ids unless no_peer_id=1', async () => {
    await announceOk(h, peer(1));
    const r = await announceOk(h, peer(2, { compact: false }));
    expect(r.peers).toEqual([{ ip: '127.0.0.1', port: 7001, peerId: id20('-XX0001-', 1) }]);
    const r2 = await announceOk(h, peer(3, { compact: false, noPeerId: true }));
    expect(r2.peers.map((p) => p.peerId)).toEqual([undefined, undefined]);
  });

  it('uses the connection address and ignores ip= by default', async () => {
    await announceOk(h, peer(1, { ip: '10.9.8.7' }));
    const r = await announceOk(h, peer(2));
    expect(r.peers).toEqual([{ ip: '127.0.0.1', port: 7001 }]);
  });

  it('stopped peers vanish at once', async () => {
    await announceOk(h, peer(1));
    await announceOk(h, peer(2));
    await announceOk(h, peer(1, { event: 'stopped' }));
    const r = await announceOk(h, peer(3));
    expect(r.peers.map((p) => p.port)).toEqual([7002]);
    expect(r).toMatchObject({ complete: 0, incomplete: 2 });
  });

  it('expired peers vanish when the clock passes interval + grace (driven clock, no sleeping)', async () => {
    await announceOk(h, peer(1));
    h.now.t += 50_000;
    await announceOk(h, peer(2));
    h.now.t += (CONFIG.interval + CONFIG.grace) * 1000 - 50_000 + 1; // peer 1 is now overdue, peer 2 is not
    h.fireTimer();
    const r = await announceOk(h, peer(3));
    expect(r.peers.map((p) => p.port)).toEqual([7002]);
    h.now.t += 60_000;
    h.fireTimer();
    expect(await h.registry.stats()).toMatchObject({ peers: 1, torrents: 1 });
  });

  it('scrape counts seeders, leechers and completed downloads, targeted and full', async () => {
    await announceOk(h, peer(1, { left: 0 }));
    await announceOk(h, peer(2));
    await announceOk(h, peer(2, { event: 'completed', left: 0 }));
    await announceOk(h, peer(3));
    await announceOk(h, peer(4, { infoHash: T2 }));
    const unknown = Buffer.alloc(20, 0x33);
    const one = await scrape(h, [T1, unknown]);
    expect(Object.fromEntries(one)).toEqual({
      [T1.toString('hex')]: { complete: 2, downloaded: 1, incomplete: 1 },
      [unknown.toString('hex')]: { complete: 0, downloaded: 0, incomplete: 0 },
    });
    const all = await scrape(h, []);
    expect(Object.fromEntries(all)).toEqual({
      [T1.toString('hex')]: { complete: 2, downloaded: 1, incomplete: 1 },
      [T2.toString('hex')]: { complete: 0, downloaded: 0, incomplete: 1 },
    });
  });

  it('/stats reports torrents, peers, seeders, leechers, announces and uptime as JSON', async () => {
    await announceOk(h, peer(1, { left: 0 }));
    await announceOk(h, peer(2));
    await announceOk(h, peer(3, { infoHash: T2 }));
    h.now.t += 42_000;
    const r = await httpGet(h.host, h.port, '/stats');
    expect(r.headers['content-type']).toBe('application/json');
    expect(JSON.parse(r.body.toString())).toMatchObject({
      torrents: 2,
      peers: 3,
      seeders: 1,
      leechers: 2,
      announces: 3,
      uptime: 42,
    });
  });

  it('serves many concurrent announces without losing any', async () => {
    await Promise.all(
      Array.from({ length: 200 }, (_, i) => announceOk(h, peer(i + 1, { infoHash: i % 2 ? T1 : T2 }))),
    );
    expect(await h.registry.stats()).toMatchObject({ peers: 200, torrents: 2, announces: 200 });
  });

  const good = buildAnnounceQuery(peer(1));
  const ih = `info_hash=${percentEncode(T1)}`;
  const pid = `peer_id=${percentEncode(id20('-XX0001-', 1))}`;
  const badQueries: [string, string, RegExp][] = [
    ['no query at all', '', /missing info_hash/],
    ['missing info_hash', `${pid}&port=1`, /missing info_hash/],
    ['short info_hash', `info_hash=abc&${pid}&port=1`, /invalid info_hash/],
    ['long info_hash', `info_hash=${'%00'.repeat(21)}&${pid}&port=1`, /invalid info_hash/],
    ['missing peer_id', `${ih}&port=1`, /missing peer_id/],
    ['short peer_id', `${ih}&peer_id=abc&port=1`, /invalid peer_id/],
    ['missing port', `${ih}&${pid}`, /invalid port/],
    ['port 0', `${ih}&${pid}&port=0`, /invalid port/],
    ['port 70000', `${ih}&${pid}&port=70000`, /invalid port/],
    ['port not a number', `${ih}&${pid}&port=abc`, /invalid port/],
    ['unknown event', `${ih}&${pid}&port=1&event=exploded`, /unknown event/],
    ['bad left', `${ih}&${pid}&port=1&left=-1`, /invalid left/],
    ['oversized query (9 KiB)', `${good}&pad=${'x'.repeat(9 * 1024)}`, /query too large/],
    ['oversized request line (20 KiB)', `${good}&pad=${'x'.repeat(20 * 1024)}`, /too large/],
  ];
  it.each(badQueries)('%s: HTTP 200 with a bencoded failure reason', async (_name, query, reason) => {
    const r = await httpGet(h.host, h.port, `/announce?${query}`);
    expect(r.status).toBe(200);
    expect(r.body.toString('latin1')).toMatch(/^d14:failure reason\d+:/);
    expect(r.body.toString('latin1')).toMatch(reason);
    // The server is still there and still answers properly.
    await announceOk(h, peer(9));
  });

  it('a scrape with a bad info_hash gets a failure reason too', async () => {
    const r = await httpGet(h.host, h.port, '/scrape?info_hash=short');
    expect(r.status).toBe(200);
    expect(r.body.toString()).toMatch(/failure reason.*invalid info_hash/);
  });

  it('unknown paths are 404, other methods 405', async () => {
    expect((await httpGet(h.host, h.port, '/nope')).status).toBe(404);
  });
});

describe('options', () => {
  it('--trust-ip-param uses ip= as the peer address', async () => {
    h = await start({ trustIpParam: true });
    await announceOk(h, peer(1, { ip: '10.9.8.7' }));
    const r = await announceOk(h, peer(2));
    expect(r.peers).toEqual([{ ip: '10.9.8.7', port: 7001 }]);
  });

  it('a whitelist refuses unknown torrents with a failure reason', async () => {
    h = await start({ allow: async (hex) => hex === T1.toString('hex') });
    await announceOk(h, peer(1));
    const r = await announce(h, peer(2, { infoHash: T2 }));
    expect(r).toEqual({ ok: false, failureReason: 'unregistered torrent' });
    expect(await h.registry.stats()).toMatchObject({ torrents: 1, peers: 1 });
  });
});

describe('IPv6 (BEP 7)', () => {
  const v6 = (() => {
    try {
      const s = net.createServer();
      s.listen(0, '::1').close();
      return true;
    } catch {
      return false;
    }
  })();
  (v6 ? it : it.skip)('a dual-stack tracker puts IPv6 peers in peers6 and IPv4 peers in peers', async () => {
    h = await start({ host: '::' });
    await announceOk(h, peer(1), { localAddress: '127.0.0.1' });
    await announceOk({ host: '::1', port: h.port }, peer(2), { localAddress: '::1' });
    const r = await httpGet(h.host, h.port, `/announce?${buildAnnounceQuery(peer(3))}`);
    const text = r.body.toString('latin1');
    expect(text).toMatch(/5:peers6:/);
    expect(text).toMatch(/6:peers618:/);
    const reply = await announceOk(h, peer(3));
    expect(reply.peers.sort((a, b) => a.port - b.port)).toEqual([
      { ip: '127.0.0.1', port: 7001 },
      { ip: '::1', port: 7002 },
    ]);
  });
});
