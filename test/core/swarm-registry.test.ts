import {
  AnnounceOutcome,
  PMap,
  RegistryIn,
  RegistryState,
  initialRegistry,
  pmapDelete,
  pmapEmpty,
  pmapGet,
  pmapSet,
  pmapValues,
  registryStats,
  registryTransition,
  scrapeRegistry,
} from '../../src/core/swarm-registry';
import type { EventInput } from '../../src/events/engine-event';
import type { AnnounceRequest } from '../../src/protocol/tracker-codec';

const CONFIG = { interval: 100, minInterval: 10, grace: 20 };
const T1 = Buffer.alloc(20, 0xa1);
const T2 = Buffer.alloc(20, 0xb2);
const pid = (n: number): Buffer => Buffer.from(`-XX0001-${String(n).padStart(12, '0')}`, 'latin1');

function req(peer: number, over: Partial<AnnounceRequest> = {}): AnnounceRequest {
  return {
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
  };
}

/** Drive the transition like the actor does, collecting replies and events. */
function run(state: RegistryState, msgs: RegistryIn[]) {
  const replies: AnnounceOutcome[] = [];
  const events: EventInput[] = [];
  for (const m of msgs) {
    const step = registryTransition(state, m);
    state = step.state;
    for (const e of step.effects ?? []) replies.push(e.outcome);
    for (const e of step.events ?? []) events.push(e);
  }
  return { state, replies, events };
}

let at = 0;
const ann = (r: AnnounceRequest, when = (at += 1000), rand = 0): RegistryIn => ({
  type: 'Announce',
  id: when,
  at: when,
  rand,
  request: r,
});
const ports = (o: AnnounceOutcome): number[] => (o.ok ? o.reply.peers.map((p) => p.port).sort() : []);

beforeEach(() => (at = 0));

describe('swarm registry transition', () => {
  it('adds peers and never lists the asker in its own reply', () => {
    const { state, replies } = run(initialRegistry(CONFIG), [
      ann(req(1)),
      ann(req(2)),
      ann(req(3)),
      ann(req(1)),
    ]);
    expect(ports(replies[0])).toEqual([]);
    expect(ports(replies[1])).toEqual([6001]);
    expect(ports(replies[2])).toEqual([6001, 6002]);
    expect(ports(replies[3])).toEqual([6002, 6003]);
    expect(state.peers).toBe(3);
    expect(replies[3]).toMatchObject({
      ok: true,
      reply: { interval: 100, minInterval: 10, complete: 0, incomplete: 3 },
    });
  });

  it('counts seeders and leechers and hands a seeder only leechers', () => {
    const { state, replies } = run(initialRegistry(CONFIG), [
      ann(req(1, { left: 0 })),
      ann(req(2, { left: 0 })),
      ann(req(3)),
      ann(req(4, { left: 0 })),
    ]);
    expect(ports(replies[3])).toEqual([6003]);
    expect(replies[3]).toMatchObject({ ok: true, reply: { complete: 3, incomplete: 1 } });
    expect(registryStats(state, 0)).toMatchObject({ torrents: 1, peers: 4, seeders: 3, leechers: 1 });
  });

  it('removes a stopped peer at once and drops the empty swarm', () => {
    const r = run(initialRegistry(CONFIG), [ann(req(1)), ann(req(2)), ann(req(1, { event: 'stopped' }))]);
    expect(r.state.peers).toBe(1);
    expect(r.events.map((e) => e.type)).toEqual(['PeerJoined', 'PeerJoined', 'PeerStopped']);
    const r2 = run(r.state, [ann(req(2, { event: 'stopped' }))]);
    expect(r2.state.swarms.size).toBe(0);
    expect(registryStats(r2.state, 0)).toMatchObject({ torrents: 0, peers: 0, seeders: 0, leechers: 0 });
  });

  it('counts a completed download once per peer, and keeps the count after everyone left', () => {
    const r = run(initialRegistry(CONFIG), [
      ann(req(1)),
      ann(req(1, { event: 'completed', left: 0 })),
      ann(req(1, { event: 'completed', left: 0 })), // a duplicate from a confused client
      ann(req(1, { event: 'stopped', left: 0 })),
    ]);
    expect(scrapeRegistry(r.state, [T1.toString('hex')])).toEqual([
      { infoHash: T1, complete: 0, downloaded: 1, incomplete: 0 },
    ]);
    expect(r.state.swarms.size).toBe(1);
  });

  it('counts a leecher that stops with left=0 as a completed download', () => {
    const r = run(initialRegistry(CONFIG), [
      ann(req(1)),
      ann(req(1, { event: 'stopped', left: 0 })),
      ann(req(2, { left: 0, event: 'stopped' })),
    ]);
    expect(scrapeRegistry(r.state, [T1.toString('hex')])[0]).toMatchObject({ downloaded: 1 });
  });

  it('keeps swarms apart', () => {
    const r = run(initialRegistry(CONFIG), [ann(req(1)), ann(req(2, { infoHash: T2 })), ann(req(3))]);
    expect(ports(r.replies[2])).toEqual([6001]);
    expect(
      scrapeRegistry(r.state, 'all')
        .map((f) => f.infoHash.toString('hex'))
        .sort(),
    ).toEqual([T1, T2].map((h) => h.toString('hex')));
  });

  it('respects numwant', () => {
    const msgs = Array.from({ length: 30 }, (_, i) => ann(req(i + 1)));
    const r = run(initialRegistry(CONFIG), [
      ...msgs,
      ann(req(99, { numwant: 5 })),
      ann(req(98, { numwant: 0 })),
    ]);
    expect(ports(r.replies[30])).toHaveLength(5);
    expect(ports(r.replies[31])).toHaveLength(0);
  });

  it('refuses a peer id moving to another address with a different key', () => {
    const r = run(initialRegistry(CONFIG), [
      ann(req(1, { key: 'aa' })),
      ann(req(1, { key: 'bb', ip: '10.9.9.9' })),
      ann(req(1, { key: 'aa', ip: '10.9.9.9' })),
    ]);
    expect(r.replies[1]).toMatchObject({ ok: false, code: 'key-mismatch' });
    expect(r.replies[2]).toMatchObject({ ok: true });
    expect([...pmapValues(pmapGet(r.state.swarms, T1.toString('hex'))!.peers)].map((p) => p.ip)).toEqual([
      '10.9.9.9',
    ]);
  });

  it('expires peers silent for longer than interval + grace, and only those', () => {
    const s0 = initialRegistry(CONFIG);
    const r = run(s0, [ann(req(1), 0), ann(req(2), 50_000), ann(req(3, { left: 0 }), 60_000)]);
    const ttl = (CONFIG.interval + CONFIG.grace) * 1000;
    const early = run(r.state, [{ type: 'Sweep', at: ttl }]);
    expect(early.state).toBe(r.state); // nothing expired: same state object
    const later = run(r.state, [{ type: 'Sweep', at: 60_000 + ttl - 1 }]);
    expect(later.events).toEqual([
      expect.objectContaining({ type: 'PeerExpired', peer: '10.0.0.1:6001' }),
      expect.objectContaining({ type: 'PeerExpired', peer: '10.0.0.2:6002' }),
    ]);
    expect(registryStats(later.state, 0)).toMatchObject({ peers: 1, seeders: 1, leechers: 0 });
  });

  it('never mutates the state it was given', () => {
    const r = run(initialRegistry(CONFIG), [ann(req(1)), ann(req(2))]);
    const before = JSON.stringify(scrapeRegistry(r.state, 'all'));
    run(r.state, [ann(req(1, { event: 'stopped' })), ann(req(3)), { type: 'Sweep', at: 10 ** 12 }]);
    expect(JSON.stringify(scrapeRegistry(r.state, 'all'))).toBe(before);
    expect(r.state.peers).toBe(2);
  });
});

describe('persistent map', () => {
  it('agrees with a Map through growth and deletions, and old versions stay intact', () => {
    let m: PMap<number> = pmapEmpty();
    const ref = new Map<string, number>();
    const versions: [PMap<number>, number][] = [];
    let x = 12345;
    for (let i = 0; i < 5000; i++) {
      x = (x * 1103515245 + 12345) & 0x7fffffff;
      const k = `k${x % 3000}`;
      if (x % 5 === 0) {
        m = pmapDelete(m, k);
        ref.delete(k);
      } else {
        m = pmapSet(m, k, i);
        ref.set(k, i);
      }
      if (i % 1000 === 0) versions.push([m, m.size]);
    }
    expect(m.size).toBe(ref.size);
    for (const [k, v] of ref) expect(pmapGet(m, k)).toBe(v);
    expect([...pmapValues(m)].length).toBe(ref.size);
    expect(m.buckets.length).toBeGreaterThan(1);
    for (const [v, size] of versions) expect([...pmapValues(v)].length).toBe(size);
  });
});
