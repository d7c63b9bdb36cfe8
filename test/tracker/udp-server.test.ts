/**
 * The UDP tracker (BEP 15) on loopback with a scripted raw-UDP client: the happy path, then every bad
 * input of issue 13, checking that nothing crashes the server and that no reply to a datagram
 * without a valid connection id is larger than that datagram.
 */
import * as dgram from 'node:dgram';
import { createRegistryActor, RegistryActor } from '../../src/actors/registry-actor';
import {
  encodeAnnounceRequest,
  encodeConnectRequest,
  encodeScrapeRequest,
  UDP_PROTOCOL_ID,
} from '../../src/protocol/udp-tracker-codec';
import { ConnectionIds, newSecret } from '../../src/tracker/connection-ids';
import { Traffic } from '../../src/tracker/traffic';
import { createUdpTrackerServer, UdpTrackerServer } from '../../src/tracker/udp-server';
import { UdpProbe, udpProbe } from '../support/udp-probe';

const T1 = Buffer.alloc(20, 0x11);
const T2 = Buffer.alloc(20, 0x22);
const pid = (n: number): Buffer => Buffer.from(`-XX0001-${String(n).padStart(12, '0')}`);

interface Harness {
  server: UdpTrackerServer;
  registry: RegistryActor;
  traffic: Traffic;
  port: number;
  now: { t: number };
  secret: string;
}

async function start(
  opts: { host?: string; allow?: (h: string) => boolean; registry?: RegistryActor } = {},
): Promise<Harness> {
  const now = { t: 1_700_000_000_000 };
  const registry =
    opts.registry ??
    createRegistryActor({
      config: { interval: 60, minInterval: 10, grace: 30 },
      clock: () => now.t,
      every: () => () => undefined,
    });
  const traffic = new Traffic();
  const secret = newSecret();
  const server = createUdpTrackerServer({
    registry,
    host: opts.host ?? '127.0.0.1',
    port: 0,
    secret,
    allow: opts.allow,
    traffic,
    clock: () => now.t,
  });
  const { port } = await server.listen();
  return { server, registry, traffic, port, now, secret };
}

let h: Harness;
let probe: UdpProbe;
const probes: UdpProbe[] = [];
const newProbe = async (host = '127.0.0.1'): Promise<UdpProbe> => {
  const p = await udpProbe(host, h.port);
  probes.push(p);
  return p;
};
afterEach(async () => {
  probes.splice(0).forEach((p) => p.close());
  await h?.server.close();
  await h?.registry.close();
});

let tid = 100;
const announceFrom = (
  p: UdpProbe,
  connectionId: Buffer,
  n: number,
  over: Partial<Parameters<typeof encodeAnnounceRequest>[0]> = {},
) =>
  encodeAnnounceRequest({
    connectionId,
    transactionId: ++tid,
    infoHash: T1,
    peerId: pid(n),
    downloaded: 0,
    left: 1000,
    uploaded: 0,
    event: 'started',
    key: n,
    numWant: -1,
    port: 7000 + n,
    ...over,
  });

describe('UDP tracker', () => {
  beforeEach(async () => {
    h = await start();
    probe = await newProbe();
  });

  it('connect → announce → peers of the swarm without the asker; scrape in the order asked', async () => {
    const a = await newProbe();
    const idA = await a.connect();
    const r1 = a.decode(await a.ask(announceFrom(a, idA, 1, { left: 0 })));
    expect(r1).toMatchObject({
      action: 'announce',
      transactionId: tid,
      interval: 60,
      seeders: 1,
      leechers: 0,
      peers: [],
    });
    const id = await probe.connect();
    const req = announceFrom(probe, id, 2);
    const r2 = probe.decode(await probe.ask(req));
    expect(r2).toMatchObject({
      action: 'announce',
      seeders: 1,
      leechers: 1,
      peers: [{ ip: '127.0.0.1', port: 7001 }],
    });
    const s = probe.decode(await probe.ask(encodeScrapeRequest(id, 55, [T2, T1])));
    expect(s).toEqual({
      action: 'scrape',
      transactionId: 55,
      entries: [
        { seeders: 0, completed: 0, leechers: 0 },
        { seeders: 1, completed: 0, leechers: 1 },
      ],
    });
    // The same registry as HTTP: the console and /stats see UDP peers.
    expect(await h.registry.stats()).toMatchObject({ peers: 2, seeders: 1 });
    expect(h.traffic.udp).toEqual({ connects: 2, announces: 2, scrapes: 1, rejected: 0 });
  });

  it('a connection id works for 2 minutes, from the address it was issued to only', async () => {
    const id = await probe.connect();
    h.now.t += 119_000;
    expect(probe.decode(await probe.ask(announceFrom(probe, id, 1)))).toMatchObject({ action: 'announce' });
    h.now.t += 2_000;
    const late = announceFrom(probe, id, 1);
    const reply = await probe.ask(late);
    expect(probe.decode(reply)).toMatchObject({ action: 'error', message: 'bad connection id' });
    expect(reply.length).toBeLessThanOrEqual(late.length);
    // Another socket (another port) cannot use it.
    const other = await newProbe();
    expect(other.decode(await other.ask(announceFrom(other, await probe.connect(), 2)))).toMatchObject({
      action: 'error',
    });
  });

  it('a second tracker process with the same secret accepts the ids the first one issued', async () => {
    const ids = new ConnectionIds(h.secret);
    const id = ids.issue('127.0.0.1', probe.port, h.now.t);
    expect(probe.decode(await probe.ask(announceFrom(probe, id, 1)))).toMatchObject({ action: 'announce' });
  });

  const connectLike = (f: (b: Buffer) => void): Buffer => {
    const b = encodeConnectRequest(5);
    f(b);
    return b;
  };
  const anyId = Buffer.alloc(8, 0x42);
  const hostile: [string, () => Buffer][] = [
    ['a datagram of 16 zero bytes (a connect without the protocol id)', () => Buffer.alloc(16)],
    ['an unknown action', () => connectLike((b) => b.writeUInt32BE(7, 8))],
    ['a connect of 40 bytes', () => Buffer.concat([encodeConnectRequest(5), Buffer.alloc(24)])],
    ['a short announce (60 bytes)', () => announceFrom(probe, anyId, 1).subarray(0, 60)],
    ['an announce with a forged connection id', () => announceFrom(probe, anyId, 1)],
    [
      'an announce with a connection id of the protocol magic',
      () => {
        const b = announceFrom(probe, anyId, 1);
        b.writeBigUInt64BE(UDP_PROTOCOL_ID, 0);
        return b;
      },
    ],
    ['a scrape with a forged connection id', () => encodeScrapeRequest(anyId, 1, [T1, T2])],
    [
      'a scrape whose length is not 16 + 20n',
      () => Buffer.concat([encodeScrapeRequest(anyId, 1, [T1]), Buffer.alloc(3)]),
    ],
    ['a datagram past 1500 bytes', () => Buffer.concat([announceFrom(probe, anyId, 1), Buffer.alloc(1500)])],
  ];
  it.each(hostile)(
    '%s: a short error, never larger than the datagram; the server carries on',
    async (_n, make) => {
      const datagram = make();
      const reply = await probe.ask(datagram);
      expect(reply.length).toBeLessThanOrEqual(datagram.length);
      expect(probe.decode(reply)).toMatchObject({
        action: 'error',
        transactionId: datagram.readUInt32BE(12),
      });
      expect(h.traffic.udp.rejected).toBe(1);
      // Still serving.
      expect(probe.decode(await probe.ask(announceFrom(probe, await probe.connect(), 3)))).toMatchObject({
        action: 'announce',
      });
    },
  );

  it.each([0, 1, 8, 15])('a datagram of %i bytes gets no reply at all', async (n) => {
    probe.send(Buffer.alloc(n, 0xff));
    // Loopback keeps order: the connect's reply is the first thing back.
    expect(probe.decode(await probe.ask(encodeConnectRequest(4242)))).toMatchObject({
      action: 'connect',
      transactionId: 4242,
    });
    expect(h.traffic.udp.rejected).toBe(1);
  });

  it('a flood of forged announces: every reply is no larger than its datagram, and real clients still get through', async () => {
    // In bursts of 100, so that neither socket's receive buffer drops datagrams on a busy machine.
    for (let burst = 0; burst < 20; burst++) {
      for (let i = 0; i < 100; i++)
        probe.send(announceFrom(probe, Buffer.from([burst, i, 2, 3, 4, 5, 6, 7]), i));
      for (let i = 0; i < 100; i++) expect((await probe.next()).length).toBeLessThanOrEqual(98);
    }
    expect(h.traffic.udp.rejected).toBe(2000);
    const good = await newProbe();
    expect(good.decode(await good.ask(announceFrom(good, await good.connect(), 1)))).toMatchObject({
      action: 'announce',
    });
    expect(await h.registry.stats()).toMatchObject({ peers: 1 });
  });
});

describe('UDP tracker policy and faults', () => {
  it('a whitelist refuses unknown torrents with an error datagram', async () => {
    h = await start({ allow: (hex) => hex === T1.toString('hex') });
    probe = await newProbe();
    const id = await probe.connect();
    expect(probe.decode(await probe.ask(announceFrom(probe, id, 1, { infoHash: T2 })))).toMatchObject({
      action: 'error',
      message: 'unregistered torrent',
    });
    expect(probe.decode(await probe.ask(announceFrom(probe, id, 1)))).toMatchObject({ action: 'announce' });
  });

  it('a registry that fails answers "tracker storage unavailable, retry later"', async () => {
    const registry = createRegistryActor({ every: () => () => undefined });
    await registry.close(); // every announce now rejects
    h = await start({ registry });
    probe = await newProbe();
    const reply = probe.decode(await probe.ask(announceFrom(probe, await probe.connect(), 1)));
    expect(reply).toEqual({
      action: 'error',
      transactionId: tid,
      message: 'tracker storage unavailable, retry later',
    });
  });

  const v6 = (() => {
    const s = dgram.createSocket('udp6');
    try {
      s.bind(0, '::1');
      return true;
    } catch {
      return false;
    } finally {
      s.close();
    }
  })();
  (v6 ? it : it.skip)(
    'a dual-stack tracker answers IPv6 clients with 18-byte IPv6 peers, IPv4 clients with IPv4 peers',
    async () => {
      h = await start({ host: '::' });
      const p4 = await newProbe('127.0.0.1');
      const p6 = await newProbe('::1');
      await p4.ask(announceFrom(p4, await p4.connect(), 1));
      await p6.ask(announceFrom(p6, await p6.connect(), 2));
      const p6b = await newProbe('::1');
      expect(p6b.decode(await p6b.ask(announceFrom(p6b, await p6b.connect(), 3)))).toMatchObject({
        action: 'announce',
        leechers: 3,
        peers: [{ ip: '::1', port: 7002 }],
      });
      const p4b = await newProbe('127.0.0.1');
      expect(p4b.decode(await p4b.ask(announceFrom(p4b, await p4b.connect(), 4)))).toMatchObject({
        peers: [{ ip: '127.0.0.1', port: 7001 }],
      });
    },
  );
});
