import { createHash } from 'node:crypto';
import { dhtStats } from '../../src/core/dht-state';
import { TOKEN_ROTATE_MS } from '../../src/core/dht-tokens';
import { decodeKrpc, encodeQuery, encodeResponse, KrpcMessage } from '../../src/protocol/krpc';
import { DhtSim, SimNode } from '../support/dht-sim';
import { seededRandom } from '../support/krpc-fuzz';

const HASH = Buffer.alloc(20, 0x42);
const RAW = { ip: '127.0.0.1', port: 9 }; // a raw client outside the simulated nodes

function network(n: number): DhtSim {
  const sim = new DhtSim();
  for (let i = 0; i < n; i++) sim.add();
  sim.bootstrapAll();
  return sim;
}

/** Replies the simulated node sent to the raw client. */
function repliesTo(sim: DhtSim): KrpcMessage[] {
  // The node also pings the raw client once (a newcomer that queried it): queries are not replies.
  return sim.outside
    .filter((d) => d.to.port === RAW.port)
    .map((d) => decodeKrpc(d.data))
    .filter((m) => m.y !== 'q');
}

const RAW_ID = Buffer.alloc(20, 9);

/** The raw client asks `node` for a token (get_peers) and returns it. */
function tokenFrom(sim: DhtSim, node: SimNode, t = 'g'): Buffer {
  sim.inject(node, encodeQuery(Buffer.from(t), { method: 'get_peers', id: RAW_ID, infoHash: HASH }), RAW);
  const reply = repliesTo(sim).find((m) => m.t.toString() === t);
  expect(reply?.y).toBe('r');
  return (reply as Extract<KrpcMessage, { y: 'r' }>).response.token!;
}

/** The raw client announces HASH on `port` to `node` with `token` (transaction id `t`). */
function announceRaw(
  sim: DhtSim,
  node: SimNode,
  t: string,
  token: Buffer,
  port: number,
  opts: { impliedPort?: boolean; from?: typeof RAW } = {},
): void {
  const q = {
    method: 'announce_peer' as const,
    id: RAW_ID,
    infoHash: HASH,
    port,
    token,
    impliedPort: opts.impliedPort ?? false,
  };
  sim.inject(node, encodeQuery(Buffer.from(t), q), opts.from ?? RAW);
}

let nextLookup = 1;
function lookup(sim: DhtSim, node: SimNode, announce?: number) {
  return lookupFor(sim, node, HASH, announce);
}

function lookupFor(sim: DhtSim, node: SimNode, target: Buffer, announce?: number) {
  const id = nextLookup++;
  sim.send(node, {
    type: 'StartLookup',
    lookup: id,
    method: 'get_peers',
    target,
    ...(announce ? { announce: { port: announce, impliedPort: false } } : {}),
    at: sim.now,
  });
  sim.deliver();
  const peers = node.effects.flatMap((e) => (e.type === 'LookupPeers' && e.lookup === id ? e.peers : []));
  const done = node.effects.find((e) => e.type === 'LookupDone' && e.lookup === id);
  return { peers, outcome: done?.type === 'LookupDone' ? done.outcome : undefined };
}

describe('DHT node transition on a simulated network', () => {
  test('bootstrap fills every table; an announce is found by another node’s lookup', () => {
    const sim = network(60);
    for (const node of sim.nodes.slice(1)) {
      expect(node.events.map((e) => e.type)).toContain('DhtBootstrapped');
      expect(node.state.table.size).toBeGreaterThan(5);
    }
    const ann = lookup(sim, sim.nodes[7], 7007);
    expect(ann.outcome?.announced).toBeGreaterThan(0);
    expect(ann.outcome?.announced).toBeLessThanOrEqual(8);
    const found = lookup(sim, sim.nodes[45]);
    expect(found.peers).toContainEqual(expect.objectContaining({ ip: '127.0.0.1', port: 7007 }));
    expect(found.outcome).toMatchObject({ peers: 1, cancelled: false });
    expect(found.outcome!.queries).toBeLessThan(40);
    expect(found.outcome!.hops).toBeGreaterThanOrEqual(1);
  });

  test('300 nodes: every announce is found from random nodes (the join fills far buckets)', () => {
    const sim = network(300);
    const rnd = seededRandom(7);
    const sizes = sim.nodes.map((n) => n.state.table.size).sort((a, b) => a - b);
    expect(sizes[0]).toBeGreaterThanOrEqual(30); // every table reaches past its own neighbourhood
    const hashes = Array.from({ length: 10 }, (_, i) => createHash('sha1').update(`h${i}`).digest());
    hashes.forEach((h, i) => lookupFor(sim, sim.nodes[Math.floor(rnd() * 300)], h, 9000 + i));
    let found = 0;
    for (let i = 0; i < 60; i++) {
      const h = hashes[i % hashes.length];
      const r = lookupFor(sim, sim.nodes[Math.floor(rnd() * 300)], h);
      if (r.peers.some((p) => p.port === 9000 + (i % hashes.length))) found++;
    }
    expect(found).toBe(60);
  });

  test('nobody answers the bootstrap: one event, quiet retries, then recovery is reported', () => {
    const sim = new DhtSim();
    const a = sim.add();
    const b = sim.add();
    sim.silent.add(`${b.addr.ip}:${b.addr.port}`);
    sim.send(a, { type: 'Bootstrap', routers: [b.addr], at: 0 });
    sim.advance(20 * 60_000, 1000);
    expect(a.events.filter((e) => e.type === 'DhtBootstrapFailed')).toHaveLength(1);
    const sent = a.state.counters.sent;
    expect(sent).toBeGreaterThan(1); // it retried
    expect(sent).toBeLessThan(10); // every few minutes, not in a loop
    sim.silent.clear();
    sim.advance(6 * 60_000, 1000);
    expect(a.events.filter((e) => e.type === 'DhtBootstrapped')).toHaveLength(1);
  });

  test('a node that stops answering fails its queries and goes bad in the tables that knew it', () => {
    const sim = network(20);
    const gone = sim.nodes[5];
    sim.silent.add(`${gone.addr.ip}:${gone.addr.port}`);
    const asker = sim.nodes.find((n) => n !== gone && n.state.table.get(gone.state.id))!;
    for (let i = 0; i < 3; i++) {
      sim.send(asker, {
        type: 'StartLookup',
        lookup: 900 + i,
        method: 'find_node',
        target: gone.state.id,
        at: sim.now,
      });
      sim.deliver();
      sim.advance(40_000);
    }
    const entry = asker.state.table.get(gone.state.id);
    expect(entry === undefined || asker.state.table.status(entry, sim.now) === 'bad').toBe(true);
    expect(asker.effects.filter((e) => e.type === 'LookupDone').length).toBe(3);
  });

  test('announce_peer needs a token we issued to that IP, within 10 minutes; otherwise 203', () => {
    const sim = network(3);
    const node = sim.nodes[1];
    const token = tokenFrom(sim, node);
    announceRaw(sim, node, 'a1', Buffer.from('forged!!'), 6000);
    announceRaw(sim, node, 'a2', token, 6000, { from: { ip: '127.0.0.2', port: RAW.port } }); // right token, wrong IP
    announceRaw(sim, node, 'a3', token, 6000);
    sim.now += 2 * TOKEN_ROTATE_MS + 1;
    announceRaw(sim, node, 'a4', token, 6000);
    const byT = Object.fromEntries(
      repliesTo(sim).map((m) => [m.t.toString(), m.y === 'e' ? m.error.code : 'ok']),
    );
    expect(byT).toMatchObject({ a1: 203, a2: 203, a3: 'ok', a4: 203 });
    expect(node.state.peers.get(HASH, 10, sim.now - 1)).toEqual([expect.objectContaining({ port: 6000 })]);
    expect(dhtStats(node.state, sim.now).counters).toMatchObject({ badTokens: 3, peersStored: 1 });
  });

  test('implied_port stores the datagram’s source port', () => {
    const sim = network(2);
    const node = sim.nodes[1];
    announceRaw(sim, node, 'a', tokenFrom(sim, node), 1, { impliedPort: true });
    expect(node.state.peers.get(HASH, 10, sim.now).map((p) => p.port)).toEqual([RAW.port]);
  });

  test('a query flood from one source is cut off and reported once; others are still answered', () => {
    const sim = network(2);
    const node = sim.nodes[1];
    for (let i = 0; i < 500; i++)
      sim.inject(
        node,
        encodeQuery(Buffer.from([i >> 8, i & 255]), { method: 'ping', id: Buffer.alloc(20, 7) }),
        RAW,
      );
    const answered = repliesTo(sim).length;
    expect(answered).toBeLessThanOrEqual(60);
    expect(node.events.filter((e) => e.type === 'DhtQueriesLimited')).toHaveLength(1);
    sim.inject(node, encodeQuery(Buffer.from('ok'), { method: 'ping', id: Buffer.alloc(20, 8) }), {
      ip: '127.0.0.1',
      port: 10,
    });
    expect(sim.outside.some((d) => d.to.port === 10)).toBe(true);
  });

  test('answers we never asked for, and answers from the wrong address, are dropped and counted', () => {
    const sim = network(3);
    const node = sim.nodes[1];
    const before = node.state.table.size;
    sim.inject(node, encodeResponse(Buffer.from('zz'), { id: Buffer.alloc(20, 3) }), RAW);
    sim.send(node, { type: 'PingNode', address: sim.nodes[2].addr, at: sim.now });
    const ping = node.effects.filter((e) => e.type === 'Send').pop()!;
    const t = decodeKrpc(ping.type === 'Send' ? ping.data : Buffer.alloc(0)).t;
    sim.inject(node, encodeResponse(t, { id: Buffer.alloc(20, 3) }), RAW); // right transaction, wrong sender
    expect(node.state.counters.unsolicited).toBe(2);
    expect(node.state.table.size).toBe(before);
  });

  test('registered torrents are re-announced every 15 to 30 minutes', () => {
    const sim = network(10);
    const node = sim.nodes[3];
    sim.send(node, { type: 'AddTorrent', infoHash: HASH, port: 7000, at: sim.now });
    sim.deliver();
    sim.advance(70 * 60_000, 5000);
    const announced = node.events.filter((e) => e.type === 'DhtAnnounced');
    // At t=0 and then every 22.5 minutes (random 0.5 in the simulator): 0, 22.5, 45, 67.5.
    expect(announced).toHaveLength(4);
    expect(announced.every((e) => (e.nodes as number) > 0)).toBe(true);
    sim.send(node, { type: 'RemoveTorrent', infoHash: HASH, at: sim.now });
    sim.advance(40 * 60_000, 5000);
    expect(node.events.filter((e) => e.type === 'DhtAnnounced')).toHaveLength(4);
  });

  test('stale buckets are refreshed; stored peers expire', () => {
    const sim = network(12);
    const node = sim.nodes[4];
    announceRaw(sim, node, 'a', tokenFrom(sim, node), 5);
    expect(node.state.peers.size).toBe(1);
    const sent = node.state.counters.sent;
    sim.advance(32 * 60_000, 10_000);
    expect(node.state.peers.size).toBe(0);
    expect(node.state.counters.sent).toBeGreaterThan(sent); // refresh lookups went out
    expect(dhtStats(node.state, sim.now).good).toBeGreaterThan(0);
  });

  test('lookups beyond the concurrency cap wait their turn; a cancelled one ends at once', () => {
    const sim = network(8);
    const node = sim.nodes[2];
    for (let i = 0; i < 5; i++)
      sim.send(node, {
        type: 'StartLookup',
        lookup: 500 + i,
        method: 'find_node',
        target: Buffer.alloc(20, i),
        at: sim.now,
      });
    sim.send(node, { type: 'CancelLookup', lookup: 504, at: sim.now });
    sim.deliver();
    const done = node.effects.flatMap((e) => (e.type === 'LookupDone' ? [e] : []));
    expect(done.map((e) => e.lookup).sort()).toEqual([500, 501, 502, 503, 504]);
    expect(done.find((e) => e.lookup === 504)?.outcome.cancelled).toBe(true);
  });
});
