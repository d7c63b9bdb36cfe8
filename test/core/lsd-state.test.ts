/**
 * BEP 14 schedule and datagram handling as pure logic on a virtual clock: announced when registered and
 * every 5 minutes, rounds at least a minute apart, many torrents packed, our own cookie ignored, found
 * peers only for registered torrents and at most once a minute each, malformed datagrams reported a
 * bounded number of times.
 */
import { LsdEffect, LsdIn, LsdOut, LsdState, initialLsdState, lsdTransition } from '../../src/core/lsd-state';
import { decodeLsdAnnounce, encodeLsdAnnounce } from '../../src/protocol/lsd-codec';

const ih = (n: number): string => Buffer.alloc(20, n).toString('hex');

class Sim {
  state: LsdState;
  sent: { at: number; family: number; port: number; hashes: string[] }[] = [];
  out: LsdOut[] = [];
  wakeAt?: number;
  now = 0;
  constructor(cfg: Partial<Parameters<typeof initialLsdState>[0]> = {}) {
    this.state = initialLsdState({ cookie: 'ours', families: [4, 6], ...cfg });
  }
  send(m: LsdIn): void {
    const step = lsdTransition(this.state, m);
    this.state = step.state;
    this.out.push(...(step.events ?? []));
    for (const e of (step.effects ?? []) as LsdEffect[]) {
      if (e.type === 'WakeAt') this.wakeAt = e.at;
      else {
        const a = decodeLsdAnnounce(e.datagram);
        this.sent.push({
          at: this.now,
          family: e.family,
          port: a.port,
          hashes: a.infoHashes.map((h) => h.toString('hex')),
        });
      }
    }
  }
  /** Runs the clock to `until`, ticking whenever the logic asked to be woken. */
  runUntil(until: number): void {
    for (let i = 0; i < 10_000 && this.wakeAt !== undefined && this.wakeAt <= until; i++) {
      this.now = Math.max(this.now, this.wakeAt);
      this.wakeAt = undefined;
      this.send({ type: 'Tick', now: this.now });
    }
    this.now = until;
  }
  register(n: number, port = 6881): void {
    this.send({ type: 'Register', infoHash: ih(n), port, now: this.now });
  }
  datagram(from: string, d: Buffer): LsdOut[] {
    const before = this.out.length;
    this.send({ type: 'GotDatagram', family: 4, from, data: d, now: this.now });
    return this.out.slice(before);
  }
}

const found = (out: LsdOut[]): { infoHash: string; peer: string }[] =>
  out.flatMap((e) =>
    e.type === 'LsdPeerFound' && !('category' in e)
      ? [{ infoHash: e.infoHash, peer: `${e.peer.ip}:${e.peer.port}` }]
      : [],
  );

describe('announcing', () => {
  it('announces at once on both families, then every 5 minutes', () => {
    const sim = new Sim();
    sim.register(1);
    sim.runUntil(0);
    expect(sim.sent).toEqual([
      { at: 0, family: 4, port: 6881, hashes: [ih(1)] },
      { at: 0, family: 6, port: 6881, hashes: [ih(1)] },
    ]);
    sim.runUntil(20 * 60_000);
    expect(sim.sent.filter((s) => s.family === 4).map((s) => s.at)).toEqual(
      [0, 5, 10, 15, 20].map((m) => m * 60_000),
    );
  });

  it('never runs two rounds within a minute: torrents registered meanwhile wait and go together', () => {
    const sim = new Sim({ families: [4] });
    sim.register(1);
    sim.runUntil(0);
    sim.now = 10_000;
    sim.register(2);
    sim.now = 30_000;
    sim.register(3);
    sim.runUntil(59_999);
    expect(sim.sent).toHaveLength(1);
    sim.runUntil(60_000);
    expect(sim.sent[1]).toEqual({ at: 60_000, family: 4, port: 6881, hashes: [ih(2), ih(3)] });
    // Torrent 1 is due at 5:00, torrents 2 and 3 at 6:00: two rounds, a minute apart.
    sim.runUntil(6 * 60_000);
    expect(sim.sent.slice(2).map((s) => [s.at, s.hashes.length])).toEqual([
      [5 * 60_000, 1],
      [6 * 60_000, 2],
    ]);
  });

  it('packs many torrents 20 to a datagram, at most 4 datagrams a round, one datagram per port', () => {
    const sim = new Sim({ families: [4] });
    for (let i = 0; i < 100; i++) sim.register(i, i < 90 ? 6881 : 7000);
    sim.runUntil(0);
    expect(sim.sent.map((s) => [s.port, s.hashes.length])).toEqual([
      [6881, 20],
      [6881, 20],
      [6881, 20],
      [6881, 20],
    ]);
    sim.runUntil(60_000);
    expect(sim.sent.slice(4).map((s) => [s.port, s.hashes.length])).toEqual([
      [6881, 10],
      [7000, 10],
    ]);
    expect(
      sim.sent.every(
        (s) =>
          encodeLsdAnnounce({
            family: 4,
            port: s.port,
            infoHashes: s.hashes.map((h) => Buffer.from(h, 'hex')),
            cookie: 'ours',
          }).length <= 1400,
      ),
    ).toBe(true);
  });

  it('stops announcing an unregistered torrent; re-registering the same port changes nothing', () => {
    const sim = new Sim({ families: [4] });
    sim.register(1);
    sim.runUntil(0);
    sim.register(1);
    sim.send({ type: 'Unregister', infoHash: ih(1), now: 0 });
    sim.runUntil(30 * 60_000);
    expect(sim.sent).toHaveLength(1);
  });
});

describe('listening', () => {
  const announce = (hashes: number[], port: number, cookie?: string): Buffer =>
    encodeLsdAnnounce({ family: 4, port, cookie, infoHashes: hashes.map((n) => Buffer.alloc(20, n)) });

  it('reports peers of registered torrents at the sender address and announced port, ignores our own cookie', () => {
    const sim = new Sim();
    sim.register(1);
    sim.register(2);
    expect(found(sim.datagram('10.0.0.2', announce([1, 2, 3], 7001, 'theirs')))).toEqual([
      { infoHash: ih(1), peer: '10.0.0.2:7001' },
      { infoHash: ih(2), peer: '10.0.0.2:7001' },
    ]);
    expect(found(sim.datagram('10.0.0.1', announce([1], 6881, 'ours')))).toEqual([]);
    expect(found(sim.datagram('::ffff:10.0.0.3', announce([1], 7003)))).toEqual([
      { infoHash: ih(1), peer: '10.0.0.3:7003' },
    ]);
    expect(sim.state.own).toBe(1);
  });

  it('reports each (torrent, address) at most once a minute, with a bounded memory', () => {
    const sim = new Sim({ maxRecent: 50 });
    sim.register(1);
    expect(found(sim.datagram('10.0.0.2', announce([1], 7001)))).toHaveLength(1);
    sim.now = 30_000;
    expect(found(sim.datagram('10.0.0.2', announce([1], 7001)))).toHaveLength(0);
    expect(found(sim.datagram('10.0.0.2', announce([1], 7002)))).toHaveLength(1); // another port
    sim.now = 61_000;
    expect(found(sim.datagram('10.0.0.2', announce([1], 7001)))).toHaveLength(1);
    for (let i = 0; i < 500; i++) sim.datagram(`10.1.${i >> 8}.${i & 255}`, announce([1], 7001));
    expect(sim.state.recent.size).toBe(50);
  });

  it('reports malformed datagrams at most 10 times a minute, then how many it held back', () => {
    const sim = new Sim();
    for (let i = 0; i < 25; i++) sim.datagram('10.0.0.9', Buffer.from('garbage'));
    expect(sim.out.filter((e) => e.type === 'LsdDatagramIgnored')).toHaveLength(10);
    sim.now = 60_000;
    sim.datagram('10.0.0.9', Buffer.from('BT-SEARCH * HTTP/1.1\r\nPort: 0\r\n'));
    const last = sim.out.slice(-2);
    expect(last.map((e) => e.type)).toEqual(['LsdDatagramsSuppressed', 'LsdDatagramIgnored']);
    expect(last[0]).toMatchObject({ count: 15 });
    expect(last[1]).toMatchObject({ reason: 'bad-port', level: 'debug', category: 'discovery' });
  });
});
