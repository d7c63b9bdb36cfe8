import {
  AnnounceOutcome,
  RegistryIn,
  RegistryState,
  initialRegistry,
  listPeers,
  listSwarms,
  registryStats,
  registryTransition,
  scrapeRegistry,
} from '../../src/core/swarm-registry';
import { decodeCompactPeers, decodeCompactPeers6 } from '../../src/protocol/tracker-codec';
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
const peersOf = (o: AnnounceOutcome) =>
  o.ok ? [...decodeCompactPeers(o.reply.peers4), ...decodeCompactPeers6(o.reply.peers6)] : [];
const ports = (o: AnnounceOutcome): number[] =>
  peersOf(o)
    .map((p) => p.port)
    .sort();
const peerCount = (s: RegistryState): number => registryStats(s, 0).peers;

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
    expect(peerCount(state)).toBe(3);
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
    expect(peerCount(r.state)).toBe(1);
    expect(r.events.map((e) => e.type)).toEqual(['PeerJoined', 'PeerJoined', 'PeerStopped']);
    const r2 = run(r.state, [ann(req(2, { event: 'stopped' }))]);
    expect(listSwarms(r2.state)).toHaveLength(0);
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
    expect(listSwarms(r.state)).toHaveLength(1);
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
    expect(listPeers(r.state, T1.toString('hex'))!.map((p) => p.ip)).toEqual(['10.9.9.9']);
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

  it('mixes IPv4 and IPv6 peers, and gives a one-family reply when asked (UDP)', () => {
    const r = run(initialRegistry(CONFIG), [
      ann(req(1)),
      ann(req(2, { ip: '2001:db8::2' })),
      ann(req(3, { ip: '::ffff:10.0.0.3' })), // a v4 client on a dual-stack socket
      ann(req(4)),
      ann(req(5, { only: 4 })),
      ann(req(6, { ip: '2001:db8::6', only: 6 })),
    ]);
    expect(peersOf(r.replies[3])).toEqual([
      { ip: '10.0.0.1', port: 6001 },
      { ip: '10.0.0.3', port: 6003 },
      { ip: '2001:db8::2', port: 6002 },
    ]);
    expect(ports(r.replies[4])).toEqual([6001, 6003, 6004]);
    expect(ports(r.replies[5])).toEqual([6002]);
  });

  it('non-compact requests get the peer ids in the order of the peers', () => {
    const r = run(initialRegistry(CONFIG), [
      ann(req(1, { ip: '2001:db8::1' })),
      ann(req(2)),
      ann(req(3, { compact: false })),
    ]);
    const reply = r.replies[2];
    if (!reply.ok) throw new Error('refused');
    expect(reply.reply.peerIds).toEqual(Buffer.concat([pid(2), pid(1)]));
  });

  it('the console view of a swarm: seeders first, then by address, with what each peer reported', () => {
    const r = run(initialRegistry(CONFIG), [
      ann(req(2, { uploaded: 5, downloaded: 7 }), 3000),
      ann(req(1, { left: 0 }), 4000),
    ]);
    expect(listPeers(r.state, T1.toString('hex'))).toEqual([
      {
        id: pid(1).toString('latin1'),
        ip: '10.0.0.1',
        port: 6001,
        left: 0,
        uploaded: 0,
        downloaded: 0,
        lastSeen: 4000,
      },
      {
        id: pid(2).toString('latin1'),
        ip: '10.0.0.2',
        port: 6002,
        left: 100,
        uploaded: 5,
        downloaded: 7,
        lastSeen: 3000,
      },
    ]);
    expect(listPeers(r.state, T2.toString('hex'))).toBeUndefined();
  });
});
