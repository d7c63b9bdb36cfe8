import * as dgram from 'node:dgram';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { filter, firstValueFrom, lastValueFrom, scan, timeout } from 'rxjs';
import { DhtNode, DhtNodeOptions } from '../../src/actors/dht-node';
import type { EventInput } from '../../src/events/engine-event';
import { KrpcMessage, NodeAddress, decodeKrpc, encodeQuery } from '../../src/protocol/krpc';
import type { PeerAddress } from '../../src/protocol/tracker-codec';
import { KrpcClient } from '../support/krpc-client';
import { krpcFuzzer } from '../support/krpc-fuzz';

const FUZZ_COUNT = Number(process.env.DHT_FUZZ_COUNT || 10_000);
const FUZZ_SEED = Number(process.env.DHT_FUZZ_SEED || 20261124);
const HASH = Buffer.alloc(20, 0x5a);
const ID = Buffer.alloc(20, 0x11);

let dir: string;
const running: DhtNode[] = [];
const clients: KrpcClient[] = [];

beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rxt-dht-'));
});
afterEach(async () => {
  await Promise.all(running.splice(0).map((n) => n.stop()));
  await Promise.all(clients.splice(0).map((c) => c.close()));
  fs.rmSync(dir, { recursive: true, force: true });
});

/** Resolve with the first event of `type` (subscribe before the action that causes it). */
function nextEvent(node: DhtNode, type: string, ms = 10_000): Promise<EventInput> {
  return firstValueFrom(
    node.events$.pipe(
      filter((e) => e.type === type),
      timeout(ms),
    ),
  );
}

function events(node: DhtNode): EventInput[] {
  const seen: EventInput[] = [];
  node.events$.subscribe((e) => seen.push(e));
  return seen;
}

async function startNode(opts: DhtNodeOptions): Promise<DhtNode> {
  const node = new DhtNode({ host: '127.0.0.1', ...opts });
  running.push(node);
  await node.start();
  return node;
}

const addr = (n: DhtNode): NodeAddress => n.address() as NodeAddress;
const hostPort = (n: DhtNode) => ({ host: '127.0.0.1', port: addr(n).port });

/** n nodes on loopback: the first bootstraps from nobody, the rest from the first. */
async function network(n: number, opts: DhtNodeOptions = {}): Promise<DhtNode[]> {
  const first = await startNode(opts);
  const nodes = [first];
  for (let i = 1; i < n; i++) {
    const node = new DhtNode({ host: '127.0.0.1', bootstrap: [hostPort(first)], ...opts });
    running.push(node);
    const booted = nextEvent(node, 'DhtBootstrapped');
    await node.start();
    await booted;
    nodes.push(node);
  }
  return nodes;
}

async function client(): Promise<KrpcClient> {
  const c = await KrpcClient.open();
  clients.push(c);
  return c;
}

const allPeers = (node: DhtNode, h: Buffer): Promise<PeerAddress[]> =>
  lastValueFrom(node.getPeers(h).pipe(scan((acc, batch) => [...acc, ...batch], [] as PeerAddress[])), {
    defaultValue: [],
  });

describe('DHT node on loopback', () => {
  test('a network of our nodes: an announce is found by another node’s lookup', async () => {
    const nodes = await network(12);
    const outcome = await nodes[3].announce(HASH, 7001);
    expect(outcome.announced).toBeGreaterThan(0);
    expect(await allPeers(nodes[9], HASH)).toContainEqual(
      expect.objectContaining({ ip: '127.0.0.1', port: 7001 }),
    );
    const stats = nodes[9].stats()!;
    expect(stats.nodes).toBeGreaterThan(5);
    expect(stats.bootstrapped).toBe(true);
  });

  test('IPv6 (BEP 32): nodes on ::1 answer with nodes6 and find each other’s announces', async () => {
    const first = await startNode({ host: '::1' });
    const v6 = [first];
    for (let i = 0; i < 5; i++) {
      const node = new DhtNode({ host: '::1', bootstrap: [{ host: '::1', port: addr(first).port }] });
      running.push(node);
      const booted = nextEvent(node, 'DhtBootstrapped');
      await node.start();
      await booted;
      v6.push(node);
    }
    expect((await v6[1].announce(HASH, 7003)).announced).toBeGreaterThan(0);
    expect(await allPeers(v6[4], HASH)).toContainEqual(expect.objectContaining({ ip: '::1', port: 7003 }));
    const c = dgram.createSocket({ type: 'udp6', ipv6Only: true });
    await new Promise<void>((r) => c.bind(0, '::1', r));
    // The node pings a newcomer that queried it, so skip to the answer with our transaction id.
    const reply = new Promise<KrpcMessage>((r) =>
      c.on('message', (d) => {
        const msg = decodeKrpc(d);
        if (msg.y !== 'q' && msg.t.toString() === 'v6') r(msg);
      }),
    );
    c.send(
      encodeQuery(Buffer.from('v6'), { method: 'find_node', id: ID, target: HASH }),
      addr(first).port,
      '::1',
    );
    const m = await reply;
    await new Promise<void>((r) => c.close(() => r()));
    expect(m.y === 'r' && m.response.nodes6?.length).toBeGreaterThan(0);
    expect(m.y === 'r' && m.response.nodes).toBeUndefined();
  });

  test('a registered torrent is announced at once (and every 15-30 minutes after)', async () => {
    const nodes = await network(6);
    const announced = nextEvent(nodes[2], 'DhtAnnounced');
    nodes[2].addTorrent(HASH, 7002);
    expect(await announced).toMatchObject({ category: 'dht', torrent: HASH.toString('hex') });
    expect(await allPeers(nodes[5], HASH)).toContainEqual(expect.objectContaining({ port: 7002 }));
  });

  test('a restart reloads the routing table and answers lookups without a bootstrap node', async () => {
    const nodes = await network(8);
    const stateFile = path.join(dir, 'state', 'rxtorrent', 'dht.json');
    const x = new DhtNode({ host: '127.0.0.1', bootstrap: [hostPort(nodes[0])], stateFile });
    const booted = nextEvent(x, 'DhtBootstrapped');
    await x.start();
    await booted;
    const id = x.id!;
    await x.stop();
    const saved = JSON.parse(fs.readFileSync(stateFile, 'utf8'));
    expect(saved.id).toBe(id.toString('hex'));
    expect(saved.nodes.length).toBeGreaterThan(3);

    const again = new DhtNode({ host: '127.0.0.1', bootstrap: [], stateFile });
    running.push(again);
    const rebooted = nextEvent(again, 'DhtBootstrapped');
    const started = nextEvent(again, 'DhtStarted');
    await again.start();
    expect((await started).nodes).toBe(saved.nodes.length);
    await rebooted;
    expect(again.id).toEqual(id);
    const found = await again.findNode(Buffer.alloc(20, 0x77));
    expect(found.nodes.length).toBeGreaterThan(3);
    // It answers others' lookups from the reloaded table.
    const c = await client();
    const reply = await c.query({ method: 'find_node', id: ID, target: Buffer.alloc(20, 1) }, addr(again));
    expect(reply?.y === 'r' && reply.response.nodes?.length).toBeGreaterThan(0);
  });

  test('no bootstrap node answers: one event saying so; the node keeps working', async () => {
    const closed = dgram.createSocket('udp4');
    await new Promise<void>((r) => closed.bind(0, '127.0.0.1', r));
    const deadPort = closed.address().port;
    await new Promise<void>((r) => closed.close(() => r()));
    const node = new DhtNode({
      host: '127.0.0.1',
      bootstrap: [
        { host: '127.0.0.1', port: deadPort },
        { host: 'router.invalid', port: 6881 },
      ],
      resolve: async () => {
        throw new Error('no DNS in tests');
      },
      config: { queryTimeoutMs: 300, slowQueryMs: 100 },
      tickMs: 50,
    });
    running.push(node);
    const seen = events(node);
    const failed = nextEvent(node, 'DhtBootstrapFailed');
    await node.start();
    expect(await failed).toMatchObject({ level: 'warn', routers: 1 });
    expect(seen.filter((e) => e.type === 'DhtRouterUnresolved')).toHaveLength(1);
    const c = await client();
    expect((await c.query({ method: 'ping', id: ID }, addr(node)))?.y).toBe('r');
    expect(seen.filter((e) => e.type === 'DhtBootstrapFailed')).toHaveLength(1);
  });

  test('announce_peer with a bad token is refused with error 203', async () => {
    const [node] = await network(1);
    const c = await client();
    const bad = await c.query(
      {
        method: 'announce_peer',
        id: ID,
        infoHash: HASH,
        port: 6000,
        token: Buffer.from('forged!!'),
        impliedPort: false,
      },
      addr(node),
    );
    expect(bad).toMatchObject({ y: 'e', error: { code: 203 } });
    const got = (await c.query({ method: 'get_peers', id: ID, infoHash: HASH }, addr(node))) as Extract<
      KrpcMessage,
      { y: 'r' }
    >;
    const good = await c.query(
      {
        method: 'announce_peer',
        id: ID,
        infoHash: HASH,
        port: 6000,
        token: got.response.token!,
        impliedPort: false,
      },
      addr(node),
    );
    expect(good?.y).toBe('r');
    expect(node.stats()!.storedPeers).toBe(1);
  });

  test('a query flood from one address is cut off, reported once; other addresses are still answered', async () => {
    const [node] = await network(1);
    const seen = events(node);
    const flooder = await client();
    let answered = 0;
    const started = Date.now();
    let lastAnswer = started;
    await Promise.all(
      Array.from({ length: 400 }, () =>
        flooder.query({ method: 'ping', id: ID }, addr(node), 1500).then((r) => {
          if (!r) return;
          answered++;
          lastAnswer = Date.now();
        }),
      ),
    );
    expect(answered).toBeGreaterThanOrEqual(40);
    // The burst (50) and what the rate (20/s) refilled while the flood lasted: on a loaded machine the
    // 400 datagrams take longer to arrive, so the bound follows the time they took.
    expect(answered).toBeLessThanOrEqual(50 + Math.ceil((20 * (lastAnswer - started)) / 1000) + 10);
    expect(seen.filter((e) => e.type === 'DhtQueriesLimited')).toHaveLength(1);
    const other = await client();
    expect((await other.query({ method: 'ping', id: ID }, addr(node)))?.y).toBe('r');
    // 400 datagrams at once overflow the kernel's receive buffer: count against what arrived.
    const c = node.stats()!.counters;
    expect(c.limited).toBeGreaterThan(100);
    expect(c.limited + c.queriesIn).toBe(c.received); // every query that arrived: answered or limited
  });

  test(
    `${FUZZ_COUNT} random and mutated datagrams (seed ${FUZZ_SEED}): no crash, bounded state, and a ping is still answered`,
    async () => {
      // Limits off so every datagram reaches the decoder and the handlers.
      const [node] = await network(1, { config: { queryLimit: { rate: 1e9, burst: 1e9 } } });
      const fuzz = await client();
      const next = krpcFuzzer(FUZZ_SEED);
      for (let sent = 0; sent < FUZZ_COUNT;) {
        for (let i = 0; i < 200 && sent < FUZZ_COUNT; i++, sent++) await fuzz.raw(next(), addr(node));
        // A round trip after each batch: the node has read the batch before we send more.
        expect((await fuzz.query({ method: 'ping', id: ID }, addr(node)))?.y).toBe('r');
      }
      const s = node.stats()!;
      expect(s.counters.received).toBeGreaterThanOrEqual(FUZZ_COUNT);
      expect(s.counters.badDatagrams).toBeGreaterThan(FUZZ_COUNT / 4);
      expect(s.nodes).toBeLessThanOrEqual(160 * 8);
      expect(s.pending).toBeLessThanOrEqual(2048);
      const fresh = await client();
      expect(await fresh.query({ method: 'ping', id: ID }, addr(node))).toMatchObject({
        y: 'r',
        response: { id: node.id },
      });
    },
    Math.max(60_000, FUZZ_COUNT * 10),
  ); // `npm run fuzz:dht` sends 200,000

  test('lookups need a running node; bad info-hashes are programming errors', async () => {
    const idle = new DhtNode();
    await expect(idle.announce(HASH, 1)).rejects.toThrow(/not running/);
    expect(() => idle.getPeers(Buffer.alloc(3))).toThrow(TypeError);
    await idle.stop();
    await idle.stop(); // idempotent
  });
});
