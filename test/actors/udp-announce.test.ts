/**
 * The BEP 15 client against our own UDP tracker and against scripted fake trackers on loopback:
 * connection-id reuse, retransmission, hostile replies, and createAnnouncer choosing it by scheme.
 */
import * as dgram from 'node:dgram';
import { filter, firstValueFrom, take, toArray } from 'rxjs';
import { createAnnouncer } from '../../src/actors/announcer';
import { createRegistryActor, RegistryActor } from '../../src/actors/registry-actor';
import { UdpAnnounceParams, UdpTrackerClient } from '../../src/actors/udp-announce';
import {
  decodeUdpRequest,
  encodeAnnounceReply,
  encodeConnectReply,
  encodeErrorReply,
} from '../../src/protocol/udp-tracker-codec';
import { createTrackerServer } from '../../src/tracker/http-server';
import { newSecret } from '../../src/tracker/connection-ids';
import { Traffic } from '../../src/tracker/traffic';
import { createUdpTrackerServer, UdpTrackerServer } from '../../src/tracker/udp-server';

const IH = Buffer.alloc(20, 0x5a);
const params = (n: number, over: Partial<UdpAnnounceParams> = {}): UdpAnnounceParams => ({
  infoHash: IH,
  peerId: Buffer.from(`-RX0100-${String(n).padStart(12, '0')}`),
  port: 6000 + n,
  uploaded: 0,
  downloaded: 0,
  left: 100,
  event: 'started',
  key: n,
  numWant: 50,
  ...over,
});

const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function ourTracker(host = '127.0.0.1', secret = newSecret(), port = 0) {
  const registry: RegistryActor = createRegistryActor({ every: () => () => undefined });
  const traffic = new Traffic();
  const server: UdpTrackerServer = createUdpTrackerServer({ registry, host, port, secret, traffic });
  const bound = await server.listen();
  cleanups.push(
    () => registry.close(),
    () => server.close(),
  );
  return { registry, traffic, server, port: bound.port };
}

/** A scripted tracker: `answer` decides what (if anything) each datagram gets back. */
async function fakeTracker(
  answer: (d: Buffer, n: number, socket: dgram.Socket, to: dgram.RemoteInfo) => Buffer[] | null,
) {
  const socket = dgram.createSocket('udp4');
  let n = 0;
  socket.on('message', (d, rinfo) => {
    for (const r of answer(d, n++, socket, rinfo) ?? []) socket.send(r, rinfo.port, rinfo.address);
  });
  await new Promise<void>((r) => socket.bind(0, '127.0.0.1', () => r()));
  cleanups.push(() => socket.close());
  return { port: socket.address().port, received: () => n };
}

const tidOf = (d: Buffer): number => d.readUInt32BE(12);
const CID = Buffer.alloc(8, 7);

function client(opts: ConstructorParameters<typeof UdpTrackerClient>[0] = {}): UdpTrackerClient {
  const c = new UdpTrackerClient(opts);
  cleanups.push(() => c.close());
  return c;
}

describe('UDP tracker client', () => {
  it('announces to our tracker, and reuses a connection id for one minute', async () => {
    const t = await ourTracker();
    const now = { t: 1_000_000 };
    const c = client({ clock: () => now.t });
    const url = `udp://127.0.0.1:${t.port}/announce`;
    const first = await c.announce(url, params(1, { left: 0 }), { timeoutMs: 5000 }).result;
    expect(first.reply).toEqual({ ok: true, interval: 1800, complete: 1, incomplete: 0, peers: [] });
    const second = await c.announce(url, params(2), { timeoutMs: 5000 }).result;
    expect(second.reply).toMatchObject({
      ok: true,
      complete: 1,
      incomplete: 1,
      peers: [{ ip: '127.0.0.1', port: 6001 }],
    });
    expect(t.traffic.udp.connects).toBe(1);
    now.t += 60_000;
    await c.announce(url, params(2), { timeoutMs: 5000 }).result;
    expect(t.traffic.udp.connects).toBe(2);
    expect(await c.scrape(url, [Buffer.alloc(20), IH], { timeoutMs: 5000 }).result).toEqual([
      { seeders: 0, completed: 0, leechers: 0 },
      { seeders: 1, completed: 0, leechers: 1 },
    ]);
  });

  it('retransmits an unanswered datagram after base · 2ⁿ, across the connect and the announce', async () => {
    const sent: number[] = [];
    const fake = await fakeTracker((d, n) => {
      sent.push(Date.now());
      const r = decodeUdpRequest(d);
      if (!r.ok || n === 0 || n === 2) return null; // drop the first connect and the first announce
      if (r.request.action === 'connect') return [encodeConnectReply(r.request.transactionId, CID)];
      return [
        encodeAnnounceReply({
          transactionId: r.request.transactionId,
          interval: 60,
          leechers: 0,
          seeders: 0,
          peers: Buffer.alloc(0),
        }),
      ];
    });
    const c = client();
    const r = await c.announce(`udp://127.0.0.1:${fake.port}`, params(1), {
      timeoutMs: 10_000,
      retransmitBaseMs: 100,
    }).result;
    expect(r.reply).toMatchObject({ ok: true, interval: 60 });
    expect(fake.received()).toBe(4);
    // Gaps: connect resent after 100 ms (n = 0), announce resent after 200 ms (n = 1).
    expect(sent[1] - sent[0]).toBeGreaterThanOrEqual(90);
    expect(sent[3] - sent[2]).toBeGreaterThanOrEqual(190);
  });

  it('ignores replies with a wrong transaction id, too short, or from another port; takes the right one', async () => {
    const other = dgram.createSocket('udp4');
    await new Promise<void>((r) => other.bind(0, '127.0.0.1', () => r()));
    cleanups.push(() => other.close());
    const fake = await fakeTracker((d, _n, _s, to) => {
      const r = decodeUdpRequest(d);
      if (!r.ok) return null;
      const tid = r.request.transactionId;
      if (r.request.action === 'connect') {
        other.send(encodeConnectReply(tid, CID), to.port, to.address); // right tid, wrong sender
        return [encodeConnectReply(tid ^ 1, CID), Buffer.from([0, 0, 0]), encodeConnectReply(tid, CID)];
      }
      return [
        encodeAnnounceReply({
          transactionId: tid,
          interval: 99,
          leechers: 1,
          seeders: 2,
          peers: Buffer.from([10, 0, 0, 1, 0, 80]),
        }),
      ];
    });
    const c = client();
    const r = await c.announce(`udp://127.0.0.1:${fake.port}`, params(1), { timeoutMs: 5000 }).result;
    expect(r.reply).toEqual({
      ok: true,
      interval: 99,
      complete: 2,
      incomplete: 1,
      peers: [{ ip: '10.0.0.1', port: 80 }],
    });
    expect(c.dropped).toBeGreaterThanOrEqual(2);
  });

  it('an error datagram becomes a failure reason; silence becomes a time-out', async () => {
    const refusing = await fakeTracker((d) => [encodeErrorReply(tidOf(d), 'unregistered torrent')]);
    const c = client();
    expect(
      (await c.announce(`udp://127.0.0.1:${refusing.port}`, params(1), { timeoutMs: 5000 }).result).reply,
    ).toEqual({
      ok: false,
      failureReason: 'unregistered torrent',
    });
    const silent = await fakeTracker(() => null);
    await expect(
      c.announce(`udp://127.0.0.1:${silent.port}`, params(1), { timeoutMs: 300, retransmitBaseMs: 100 })
        .result,
    ).rejects.toThrow(/timed out after 300 ms/);
    expect(silent.received()).toBe(2); // at 0 and 100 ms; the next would be at 300 ms
  });

  it('reconnects once when the tracker no longer takes its connection id (tracker restarted)', async () => {
    const t1 = await ourTracker();
    const c = client();
    const url = `udp://127.0.0.1:${t1.port}`;
    await c.announce(url, params(1), { timeoutMs: 5000 }).result;
    await t1.server.close();
    const t2 = await ourTracker('127.0.0.1', newSecret(), t1.port); // another secret: the old id is void
    expect((await c.announce(url, params(1), { timeoutMs: 5000 }).result).reply).toMatchObject({ ok: true });
    expect(t2.traffic.udp).toMatchObject({ connects: 1, announces: 1, rejected: 1 });
  });

  it('speaks IPv6: IPv6 peers in 18-byte entries', async () => {
    const t = await ourTracker('::');
    const c = client();
    const url = `udp://[::1]:${t.port}/announce`;
    await c.announce(url, params(1), { timeoutMs: 5000 }).result;
    const r = await c.announce(url, params(2), { timeoutMs: 5000 }).result;
    expect(r.reply).toMatchObject({ ok: true, peers: [{ ip: '::1', port: 6001 }] });
  });
});

describe('createAnnouncer with udp:// trackers', () => {
  it('a dead UDP tracker fails over to an HTTP tracker of the next tier (BEP 12), within 7 × the base', async () => {
    const dead = await fakeTracker(() => null);
    const registry = createRegistryActor({ every: () => () => undefined });
    const http = createTrackerServer({ registry, host: '127.0.0.1', port: 0 });
    const { port } = await http.listen();
    cleanups.push(
      () => registry.close(),
      () => http.close(),
    );
    const c = client();
    const announcer = createAnnouncer({
      infoHash: IH,
      peerId: Buffer.from('-RX0100-aaaaaaaaaaaa'),
      port: 7001,
      tiers: [[`udp://127.0.0.1:${dead.port}/announce`], [`http://127.0.0.1:${port}/announce`]],
      stats: () => ({ uploaded: 0, downloaded: 0, left: 10 }),
      backoffBaseMs: 50,
      udp: c,
    });
    cleanups.push(() => announcer.stop());
    const events = firstValueFrom(
      announcer.events$.pipe(
        filter((e) => e.type !== 'AnnounceSent'),
        take(2),
        toArray(),
      ),
    );
    announcer.start();
    const [over, ok] = await events;
    expect(over).toMatchObject({ type: 'TrackerFailedOver', message: 'timed out after 350 ms' });
    expect(ok).toMatchObject({ type: 'PeersReceived', url: `http://127.0.0.1:${port}/announce` });
    expect(dead.received()).toBe(3); // at 0, 50 and 150 ms
  });

  it('announces through our UDP tracker and hands its peers on', async () => {
    const t = await ourTracker();
    const c = client();
    const url = `udp://127.0.0.1:${t.port}/announce`;
    await c.announce(url, params(9, { left: 0 }), { timeoutMs: 5000 }).result;
    const announcer = createAnnouncer({
      infoHash: IH,
      peerId: Buffer.from('-RX0100-bbbbbbbbbbbb'),
      port: 7002,
      tiers: [[url]],
      stats: () => ({ uploaded: 0, downloaded: 0, left: 10 }),
      udp: c,
    });
    cleanups.push(() => announcer.stop());
    const peers = firstValueFrom(announcer.peers$);
    announcer.start();
    expect(await peers).toEqual([{ ip: '127.0.0.1', port: 6009 }]);
    await announcer.stop(); // sends `stopped` over UDP too
    expect(await t.registry.stats()).toMatchObject({ peers: 1 });
  });
});
