/**
 * bench:dht — lookups in a DHT of 500 of our nodes against a DHT of 500 bittorrent-dht nodes
 * (WebTorrent's), each network in one process on 127.0.0.1, built the same way: node 0 first, every
 * other node bootstrapping from it. Then 20 info-hashes are announced from random nodes and 500
 * get_peers lookups run one after another from random nodes for those hashes (p99 is then the fifth
 * slowest lookup: with fewer, one scheduling hiccup on a shared machine decides it).
 *
 * Per lookup: time (subscribe → completion), queries sent, hops (nodes from the asker's own table are
 * hop 1; nodes named by a hop-n node are hop n + 1; a lookup's hops are those of the closest node that
 * answered), and whether it found the announced peer. Per node: heap and RSS growth from the empty
 * process to the settled network (6 s of quiet after the build, then a forced GC), divided by the
 * node count, and the median routing-table size. Theirs are measured
 * by test/support/bittorrent-dht-driver.mjs around their own `_closest` (what `lookup` runs). Each
 * network runs in a fresh process of its own.
 * Target: ours ≤ theirs on every figure.
 *
 *   npm run bench:dht
 *   BENCH_RUNS=3 npm run bench:dht                          # a row per network per run
 *   BENCH_DHT_NODES=200 BENCH_DHT_LOOKUPS=100 npm run bench:dht
 */
import { spawnSync } from 'node:child_process';
import { lastValueFrom, filter, firstValueFrom } from 'rxjs';
import { DhtNode } from '../../src/actors/dht-node';
import { BtDhtProcess } from '../../test/support/bittorrent-dht-process';
import { seededRandom } from '../../test/support/krpc-fuzz';

const N = Number(process.env.BENCH_DHT_NODES ?? 500);
const LOOKUPS = Number(process.env.BENCH_DHT_LOOKUPS ?? 500);
const RUNS = Number(process.env.BENCH_RUNS ?? 1);
const HASHES = 20;
const SETTLE_LIMIT_MS = 60_000;
/** Quiet time before memory is measured, the same for both networks (our per-source query limits are swept after 5 s). */
const QUIET_MS = 6000;

interface Sample {
  ms: number;
  queries: number;
  hops: number;
  found: boolean;
}

interface Result {
  name: string;
  samples: Sample[];
  heapPerNode: number;
  rssPerNode: number;
  buildSeconds: number;
  tableMedian: number;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[xs.length >> 1];

const gc = (): void => (globalThis as { gc?: () => void }).gc?.();

function hashes(rnd: () => number): Buffer[] {
  return Array.from({ length: HASHES }, () =>
    Buffer.from(Array.from({ length: 20 }, () => Math.floor(rnd() * 256))),
  );
}

async function ours(): Promise<Result> {
  const rnd = seededRandom(42);
  const hs = hashes(rnd);
  gc();
  const before = process.memoryUsage();
  const t0 = process.hrtime.bigint();
  const nodes: DhtNode[] = [];
  try {
    for (let i = 0; i < N; i++) {
      const node = new DhtNode({
        host: '127.0.0.1',
        bootstrap: i === 0 ? [] : [{ host: '127.0.0.1', port: nodes[0].address()!.port }],
      });
      const booted = firstValueFrom(
        node.events$.pipe(filter((e) => e.type === 'DhtBootstrapped' || e.type === 'DhtBootstrapFailed')),
      );
      nodes.push(node);
      await node.start();
      await booted;
    }
    // Settled: no lookup running and no query waiting for an answer anywhere.
    const deadline = Date.now() + SETTLE_LIMIT_MS;
    while (nodes.some((n) => n.stats()!.lookups > 0 || n.stats()!.pending > 0) && Date.now() < deadline)
      await new Promise((r) => setTimeout(r, 100));
    const buildSeconds = Number(process.hrtime.bigint() - t0) / 1e9;
    await sleep(QUIET_MS);
    gc();
    const after = process.memoryUsage();
    const tableMedian = median(nodes.map((n) => n.stats()!.nodes));
    for (let i = 0; i < hs.length; i++) await nodes[Math.floor(rnd() * N)].announce(hs[i], 10_000 + i);
    const samples: Sample[] = [];
    for (let i = 0; i < LOOKUPS; i++) {
      const node = nodes[Math.floor(rnd() * N)];
      const hash = hs[i % HASHES];
      const done = firstValueFrom(
        node.events$.pipe(filter((e) => e.type === 'DhtLookupDone' && e.torrent === hash.toString('hex'))),
      );
      const start = process.hrtime.bigint();
      await lastValueFrom(node.getPeers(hash), { defaultValue: [] });
      const ms = Number(process.hrtime.bigint() - start) / 1e6;
      const e = await done;
      samples.push({
        ms,
        queries: e.queries as number,
        hops: e.hops as number,
        found: (e.peers as number) > 0,
      });
    }
    return {
      name: `rxtorrent (k=8, α=3)`,
      samples,
      heapPerNode: (after.heapUsed - before.heapUsed) / N,
      rssPerNode: (after.rss - before.rss) / N,
      buildSeconds,
      tableMedian,
    };
  } finally {
    await Promise.all(nodes.map((n) => n.stop()));
  }
}

async function theirs(): Promise<Result> {
  const rnd = seededRandom(42);
  const hs = hashes(rnd);
  const bt = await BtDhtProcess.start(['--expose-gc']);
  try {
    const before = await bt.memory();
    const t0 = process.hrtime.bigint();
    await bt.spawn(N);
    const buildSeconds = Number(process.hrtime.bigint() - t0) / 1e9;
    await sleep(QUIET_MS);
    const after = await bt.memory();
    for (let i = 0; i < hs.length; i++) await bt.announce(Math.floor(rnd() * N), hs[i], 10_000 + i);
    const samples: Sample[] = [];
    for (let i = 0; i < LOOKUPS; i++) {
      const m = await bt.measure(Math.floor(rnd() * N), hs[i % HASHES]);
      samples.push({ ms: m.ms, queries: m.queries, hops: m.hops, found: m.peers > 0 });
    }
    return {
      name: 'bittorrent-dht 11 (K=20, 16 in flight)',
      samples,
      heapPerNode: (after.heapUsed - before.heapUsed) / N,
      rssPerNode: (after.rss - before.rss) / N,
      buildSeconds,
      tableMedian: after.tableMedian,
    };
  } finally {
    await bt.stop();
  }
}

function quantile(xs: number[], q: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil(q * s.length) - 1)];
}

function row(r: Result, run: number): string {
  const ms = r.samples.map((s) => s.ms);
  const hops = r.samples.map((s) => s.hops);
  const q = r.samples.map((s) => s.queries);
  const found = r.samples.filter((s) => s.found).length / r.samples.length;
  const kib = (b: number): string => (b / 1024).toFixed(1);
  return `| ${run} | ${r.name} | ${quantile(hops, 0.5)} | ${quantile(hops, 0.99)} | ${quantile(ms, 0.5).toFixed(1)} | ${quantile(ms, 0.99).toFixed(1)} | ${quantile(q, 0.5)} | ${(q.reduce((a, b) => a + b, 0) / q.length).toFixed(1)} | ${quantile(q, 0.99)} | ${(found * 100).toFixed(0)}% | ${kib(r.heapPerNode)} | ${kib(r.rssPerNode)} | ${r.tableMedian} | ${r.buildSeconds.toFixed(1)} |`;
}

/** Our network in a fresh process, as theirs is: memory growth then includes the same one-time costs. */
function oursInChild(): Result {
  const r = spawnSync(process.execPath, [...process.execArgv, __filename, '--ours'], {
    encoding: 'utf8',
    maxBuffer: 64 * 1024 * 1024,
    timeout: 15 * 60_000,
  });
  if (r.status !== 0) throw new Error(`our network failed: ${r.stderr}`);
  return JSON.parse(r.stdout) as Result;
}

async function main(): Promise<void> {
  if (process.argv.includes('--ours')) {
    process.stdout.write(JSON.stringify(await ours()));
    return;
  }
  const rows: string[] = [];
  for (let run = 1; run <= RUNS; run++) {
    rows.push(row(oursInChild(), run), row(await theirs(), run));
    process.stderr.write(`bench:dht run ${run}/${RUNS} done\n`);
  }
  process.stdout.write(
    [
      `bench:dht — ${N} nodes per network in one process on 127.0.0.1, ${HASHES} announced info-hashes, ${LOOKUPS} get_peers lookups one at a time from random nodes`,
      '',
      '| run | implementation | hops median | hops p99 | ms median | ms p99 | queries median | queries mean | queries p99 | found | heap KiB/node | RSS KiB/node | table median | build s |',
      '| ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
      ...rows,
    ].join('\n') + '\n',
  );
}

main().catch((err: Error) => {
  process.stderr.write(`bench:dht failed: ${err.stack ?? err.message}\n`);
  process.exitCode = 1;
});
