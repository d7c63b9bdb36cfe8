/**
 * BEP 11 peer exchange as pure logic on a virtual clock: what each peer is told and when (once a
 * minute, ≤ 50 added / ≤ 50 dropped, only changes), what we learn and refuse, floods, private torrents,
 * and a property: whatever the connects and disconnects, every peer converges on the true peer set.
 */
import fc from 'fast-check';
import {
  MAX_ADDED,
  MAX_DROPPED,
  PexEffect,
  PexIn,
  PexState,
  initialPexState,
  isLocalAddress,
  pexFlags,
  pexTransition,
} from '../../src/core/pex-state';
import { PexFlag, PexMessage, decodePex } from '../../src/protocol/ut-pex';

class Sim {
  state: PexState;
  effects: PexEffect[] = [];
  events: string[] = [];
  now = 0;
  constructor(cfg: Parameters<typeof initialPexState>[0] = { private: false }) {
    this.state = initialPexState(cfg);
  }
  send(msg: PexIn): PexEffect[] {
    const step = pexTransition(this.state, msg);
    this.state = step.state;
    this.effects.push(...(step.effects ?? []));
    this.events.push(...(step.events ?? []).map((e) => e.type));
    return [...(step.effects ?? [])];
  }
  connect(peer: string, ip: string, port: number, flags = 0): void {
    this.send({ type: 'PeerConnected', peer, address: { ip, port }, flags, now: this.now });
  }
  pex(peer: string, ip = '10.0.0.99'): void {
    this.send({ type: 'PeerSupportsPex', peer, ip, now: this.now });
  }
  /** Advance the clock and tick; returns what was sent, decoded, per peer. */
  tick(ms: number): Map<string, PexMessage> {
    this.now += ms;
    const out = new Map<string, PexMessage>();
    for (const e of this.send({ type: 'Tick', now: this.now }))
      if (e.type === 'SendPex') out.set(e.peer, decodePex(e.payload));
    return out;
  }
  got(peer: string, message: PexMessage): PexEffect[] {
    return this.send({ type: 'PeerSentPex', peer, message, now: this.now });
  }
}

const ports = (xs: { port: number }[]): number[] => xs.map((x) => x.port).sort((a, b) => a - b);

describe('what we tell peers', () => {
  it('tells each PEX peer about the others (never itself), with the flags we know, then only changes, once a minute', () => {
    const sim = new Sim();
    sim.connect('A', '10.0.0.1', 1001, pexFlags({ seed: true, outgoing: true }) | PexFlag.Utp);
    sim.connect('B', '10.0.0.2', 1002, pexFlags({ encrypted: true }));
    sim.pex('A');
    sim.pex('B');
    let sent = sim.tick(1000);
    expect(sent.get('A')?.added).toEqual([{ ip: '10.0.0.2', port: 1002, flags: PexFlag.Encryption }]);
    expect(sent.get('B')?.added).toEqual([
      { ip: '10.0.0.1', port: 1001, flags: PexFlag.Seed | PexFlag.Reachable },
    ]);

    sim.connect('C', '10.0.0.3', 1003);
    sim.send({ type: 'PeerDisconnected', peer: 'B', now: sim.now });
    expect(sim.tick(30_000).size).toBe(0); // within the minute: nothing
    sent = sim.tick(30_000);
    expect(sent.get('A')).toEqual({
      added: [{ ip: '10.0.0.3', port: 1003, flags: 0 }],
      dropped: [{ ip: '10.0.0.2', port: 1002 }],
    });
    expect(sent.has('B')).toBe(false); // gone
    expect(sim.tick(120_000).size).toBe(0); // nothing changed: nothing sent
  });

  it('sends at most 50 added and 50 dropped, the rest a minute later', () => {
    const sim = new Sim();
    sim.pex('P');
    for (let i = 0; i < 120; i++) sim.connect(`c${i}`, '10.1.0.1', 2000 + i);
    const sizes = (n: number): number[][] =>
      Array.from({ length: n }, (_, i) => {
        const m = sim.tick(i === 0 && sim.now === 0 ? 0 : 60_000).get('P') as PexMessage;
        return [m.added.length, m.dropped.length];
      });
    expect(sizes(3)).toEqual([
      [50, 0],
      [50, 0],
      [20, 0],
    ]);
    for (let i = 0; i < 120; i++) sim.send({ type: 'PeerDisconnected', peer: `c${i}`, now: sim.now });
    expect(sizes(3)).toEqual([
      [0, 50],
      [0, 50],
      [0, 20],
    ]);
    expect(sim.tick(60_000).size).toBe(0);
    expect(MAX_ADDED).toBe(50);
    expect(MAX_DROPPED).toBe(50);
  });

  it('does not advertise a peer nobody can dial, nor unusable addresses; IPv4-mapped addresses are IPv4', () => {
    const sim = new Sim();
    sim.send({ type: 'PeerConnected', peer: 'in', flags: 0, now: 0 }); // incoming, no listen port known
    sim.connect('zero', '10.0.0.5', 0);
    sim.connect('mapped', '::ffff:10.0.0.6', 6000);
    sim.pex('P');
    expect(sim.tick(0).get('P')?.added).toEqual([{ ip: '10.0.0.6', port: 6000, flags: 0 }]);
  });

  it('does nothing at all for a private torrent (BEP 27)', () => {
    const sim = new Sim({ private: true });
    sim.connect('A', '10.0.0.1', 1);
    sim.pex('B');
    sim.tick(1000);
    sim.got('B', { added: [{ ip: '10.0.0.9', port: 9, flags: 0 }], dropped: [] });
    expect(sim.effects).toEqual([]);
  });
});

describe('what we learn', () => {
  it('hands new, usable peers to the peer list with source pex, and refuses the rest', () => {
    const sim = new Sim({ private: false, self: ['203.0.113.1:6881'] });
    sim.pex('P', '198.51.100.7'); // a public peer
    const effects = sim.got('P', {
      added: [
        { ip: '203.0.113.5', port: 6881, flags: PexFlag.Seed },
        { ip: '203.0.113.5', port: 6881, flags: 0 }, // duplicate
        { ip: '203.0.113.6', port: 0, flags: 0 }, // no port
        { ip: '0.0.0.0', port: 1, flags: 0 },
        { ip: '239.192.152.143', port: 6771, flags: 0 }, // multicast
        { ip: '::', port: 1, flags: 0 },
        { ip: '203.0.113.1', port: 6881, flags: 0 }, // ourselves
        { ip: '192.168.1.10', port: 6881, flags: 0 }, // local, from a non-local peer
        { ip: '2001:db8::5', port: 51413, flags: 0 },
      ],
      dropped: [],
    });
    expect(effects).toEqual([
      {
        type: 'AddPeers',
        from: 'P',
        source: 'pex',
        peers: [
          { ip: '203.0.113.5', port: 6881, pexFlags: PexFlag.Seed },
          { ip: '2001:db8::5', port: 51413, pexFlags: 0 },
        ],
      },
    ]);
    expect(sim.got('P', { added: [{ ip: '203.0.113.5', port: 6881, flags: 0 }], dropped: [] })).toEqual([]); // known
  });

  it('accepts local addresses from a local peer (a LAN, or loopback tests), a few ports per IP', () => {
    const sim = new Sim();
    sim.pex('L', '127.0.0.1');
    const added = Array.from({ length: 20 }, (_, i) => ({ ip: '127.0.0.1', port: 7000 + i, flags: 0 }));
    const [e] = sim.got('L', { added, dropped: [] });
    expect(e.type === 'AddPeers' && ports(e.peers)).toEqual(Array.from({ length: 8 }, (_, i) => 7000 + i));
    expect(isLocalAddress('fd00::1') && isLocalAddress('169.254.3.3') && !isLocalAddress('8.8.8.8')).toBe(
      true,
    );
  });

  it('learns a bounded number from one peer, and again what it dropped and re-added', () => {
    const sim = new Sim({ private: false, maxLearnedPerPeer: 10, maxPerIp: 100 });
    sim.pex('P', '10.0.0.1');
    const many = (from: number, n: number): PexMessage['added'] =>
      Array.from({ length: n }, (_, i) => ({ ip: '10.0.0.2', port: from + i, flags: 0 }));
    const [e1] = sim.got('P', { added: many(100, 6), dropped: [] });
    expect(e1.type === 'AddPeers' && e1.peers.length).toBe(6);
    sim.now += 20_000;
    const [e2] = sim.got('P', { added: many(100, 12), dropped: [{ ip: '10.0.0.2', port: 100 }] });
    expect(e2.type === 'AddPeers' && ports(e2.peers)).toEqual([100, 106, 107, 108]); // 10 in all, then no more
  });

  it('closes a peer that floods PEX messages, ignores PEX from peers that never offered it', () => {
    const sim = new Sim();
    expect(sim.got('stranger', { added: [{ ip: '10.0.0.3', port: 3, flags: 0 }], dropped: [] })).toEqual([]);
    sim.pex('F', '10.0.0.4');
    for (let i = 0; i < 6; i++) {
      sim.now += 5_000;
      expect(sim.got('F', { added: [], dropped: [] }).some((e) => e.type === 'ClosePeer')).toBe(false);
    }
    sim.now += 5_000;
    expect(sim.got('F', { added: [], dropped: [] })).toEqual([
      { type: 'ClosePeer', peer: 'F', reason: '7 PEX messages within a minute' },
    ]);
    expect(sim.events).toContain('PexFlood');
  });
});

describe('convergence (property)', () => {
  it('whatever connects and disconnects, each PEX peer ends up told exactly the others, once a minute, ≤ 50/50', () => {
    const op = fc.oneof(
      fc.record({ kind: fc.constant('connect' as const), id: fc.integer({ min: 0, max: 80 }) }),
      fc.record({ kind: fc.constant('disconnect' as const), id: fc.integer({ min: 0, max: 80 }) }),
      fc.record({ kind: fc.constant('tick' as const), ms: fc.integer({ min: 1, max: 90_000 }) }),
    );
    fc.assert(
      fc.property(fc.array(op, { maxLength: 300 }), (ops) => {
        const sim = new Sim();
        const viewers = ['V1', 'V2'];
        for (const v of viewers) {
          sim.connect(v, '10.9.9.9', viewers.indexOf(v) + 1);
          sim.pex(v);
        }
        const told = new Map(viewers.map((v) => [v, new Set<number>()]));
        const lastSent = new Map<string, number>();
        const live = new Set<number>();
        const apply = (sent: Map<string, PexMessage>): void => {
          for (const [v, m] of sent) {
            const last = lastSent.get(v);
            if (last !== undefined) expect(sim.now - last).toBeGreaterThanOrEqual(60_000);
            lastSent.set(v, sim.now);
            expect(m.added.length).toBeLessThanOrEqual(MAX_ADDED);
            expect(m.dropped.length).toBeLessThanOrEqual(MAX_DROPPED);
            const t = told.get(v) as Set<number>;
            for (const p of m.added) {
              expect(t.has(p.port)).toBe(false); // never added twice
              t.add(p.port);
            }
            for (const p of m.dropped) {
              expect(t.has(p.port)).toBe(true); // never dropped what was not added
              t.delete(p.port);
            }
          }
        };
        for (const o of ops) {
          if (o.kind === 'connect') {
            sim.connect(`c${o.id}`, '10.2.0.1', 1000 + o.id);
            live.add(1000 + o.id);
          } else if (o.kind === 'disconnect') {
            sim.send({ type: 'PeerDisconnected', peer: `c${o.id}`, now: sim.now });
            live.delete(1000 + o.id);
          } else apply(sim.tick(o.ms));
        }
        for (let i = 0; i < 4; i++) apply(sim.tick(60_000));
        for (const v of viewers) {
          const other = viewers.find((x) => x !== v) as string;
          const expected = new Set([...live, viewers.indexOf(other) + 1]);
          expect([...(told.get(v) as Set<number>)].sort()).toEqual([...expected].sort());
        }
      }),
      { numRuns: 200, seed: 50 },
    );
  });
});
