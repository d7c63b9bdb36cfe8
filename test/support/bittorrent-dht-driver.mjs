// Drives WebTorrent's bittorrent-dht (ESM-only, so not loadable in jest's CommonJS runtime) in a
// child process. One JSON request per stdin line, one JSON reply per stdout line, matched by `id`:
//   { id, op: 'spawn', count, bootstrap: ['127.0.0.1:port', ...] }  → { nodes: [{ port, id }] }
//        node 0 bootstraps from `bootstrap` (none when empty: the public routers are never used),
//        every other node from node 0 and `bootstrap`; all bind 127.0.0.1.
//   { id, op: 'announce', node, infoHash, port }                    → {}
//   { id, op: 'lookup', node, infoHash }                            → { peers: ['ip:port'] }
//   { id, op: 'measure', node, infoHash }  one get_peers lookup as `lookup` runs it, measured:
//        → { ms, queries, hops, answers, peers }
//   { id, op: 'memory' }                      → { heapUsed, rss, tableMedian } after a GC
//   { id, op: 'exit' }                                              → destroys every node, exits
// Loopback only; bounded: every operation has a time limit.
import { Buffer } from 'node:buffer';
import { createInterface } from 'node:readline';
import { setTimeout as delay } from 'node:timers/promises';
import DHT from 'bittorrent-dht';

const nodes = [];
const OP_TIMEOUT_MS = 60_000;

function reply(msg) {
  process.stdout.write(`${JSON.stringify(msg)}\n`);
}

function withTimeout(promise, what) {
  return Promise.race([
    promise,
    delay(OP_TIMEOUT_MS, undefined, { ref: false }).then(() => {
      throw new Error(`${what} timed out`);
    }),
  ]);
}

async function spawnNodes({ count, bootstrap = [] }) {
  const created = [];
  for (let i = 0; i < count; i++) {
    const from = nodes.length === 0 ? bootstrap : [`127.0.0.1:${nodes[0].address().port}`, ...bootstrap];
    const dht = new DHT({ bootstrap: from.length ? from : false, host: '127.0.0.1' });
    dht.on('error', () => undefined);
    dht.on('warning', () => undefined);
    const ready = new Promise((resolve) => dht.once('ready', resolve));
    await new Promise((resolve) => dht.listen(0, '127.0.0.1', resolve));
    await withTimeout(ready, `node ${nodes.length} ready`);
    nodes.push(dht);
    created.push({ port: dht.address().port, id: dht.nodeId.toString('hex') });
  }
  return { nodes: created };
}

function announce({ node, infoHash, port }) {
  return withTimeout(
    new Promise((resolve, reject) =>
      nodes[node].announce(infoHash, port, (err) => (err ? reject(err) : resolve({}))),
    ),
    'announce',
  );
}

function lookup({ node, infoHash }) {
  const dht = nodes[node];
  const peers = new Set();
  const onPeer = (peer, hash) => {
    if (hash.toString('hex') === infoHash) peers.add(`${peer.host}:${peer.port}`);
  };
  dht.on('peer', onPeer);
  return withTimeout(
    new Promise((resolve, reject) =>
      dht.lookup(infoHash, (err) => {
        dht.off('peer', onPeer);
        if (err) reject(err);
        else resolve({ peers: [...peers] });
      }),
    ),
    'lookup',
  );
}

/** XOR-compare two ids against a target: negative when a is closer. */
function closer(a, b, target) {
  for (let i = 0; i < a.length; i++) {
    const d = (a[i] ^ target[i]) - (b[i] ^ target[i]);
    if (d !== 0) return d;
  }
  return 0;
}

/** One get_peers lookup exactly as `dht.lookup` runs it (its `_closest`), with the same figures ours report. */
function measure({ node, infoHash }) {
  const dht = nodes[node];
  const target = Buffer.from(infoHash, 'hex');
  const depth = new Map();
  const key = (n) => `${n.host ?? n.address}:${n.port}`;
  for (const n of dht._rpc.nodes.closest(target, dht._rpc.k)) depth.set(key(n), 1);
  let queries = 0;
  let answers = 0;
  let peers = 0;
  let best;
  const socket = dht._rpc.socket;
  const query = socket.query;
  socket.query = function (...args) {
    queries++;
    return query.apply(this, args);
  };
  const started = process.hrtime.bigint();
  const onreply = (message, from) => {
    const d = depth.get(key(from)) ?? 1;
    const r = message.r;
    if (!r || !Buffer.isBuffer(r.id)) return true;
    answers++;
    if (!best || closer(r.id, best.id, target) < 0) best = { id: r.id, d };
    if (Array.isArray(r.values)) peers += r.values.length;
    if (Buffer.isBuffer(r.nodes))
      for (let o = 0; o + 26 <= r.nodes.length; o += 26) {
        const k = `${r.nodes[o + 20]}.${r.nodes[o + 21]}.${r.nodes[o + 22]}.${r.nodes[o + 23]}:${r.nodes.readUInt16BE(o + 24)}`;
        if (!depth.has(k)) depth.set(k, d + 1);
      }
    return true;
  };
  return withTimeout(
    new Promise((resolve, reject) =>
      dht._closest(target, { q: 'get_peers', a: { id: dht._rpc.id, info_hash: target } }, onreply, (err) => {
        socket.query = query;
        if (err) return reject(err);
        const ms = Number(process.hrtime.bigint() - started) / 1e6;
        resolve({ ms, queries, hops: best ? best.d : 0, answers, peers });
      }),
    ),
    'measure',
  );
}

function memory() {
  globalThis.gc?.();
  const m = process.memoryUsage();
  const sizes = nodes.map((d) => d._rpc.nodes.count()).sort((a, b) => a - b);
  return { heapUsed: m.heapUsed, rss: m.rss, tableMedian: sizes.length ? sizes[sizes.length >> 1] : 0 };
}

async function exit() {
  await Promise.all(nodes.map((d) => new Promise((resolve) => d.destroy(resolve))));
  reply({ id: 'exit', ok: true });
  process.exit(0);
}

const ops = { spawn: spawnNodes, announce, lookup, measure, memory };
const lines = createInterface({ input: process.stdin });
lines.on('line', async (line) => {
  let req;
  try {
    req = JSON.parse(line);
  } catch {
    return reply({ id: null, ok: false, error: 'bad request' });
  }
  if (req.op === 'exit') return exit();
  try {
    const op = ops[req.op];
    if (!op) throw new Error(`unknown op ${req.op}`);
    reply({ id: req.id, ok: true, ...(await op(req)) });
  } catch (err) {
    reply({ id: req.id, ok: false, error: String(err?.message ?? err) });
  }
});
lines.on('close', () => void exit());
reply({ id: 'hello', ok: true, pid: process.pid });
