/**
 * bench:tracker — announces per second on loopback: `rxtorrent tracker` against opentracker in the
 * same run, same load, same machine. The load generator is autocannon (keep-alive, a bounded number
 * of connections, no pipelining) replaying announces over a pool of peers spread across many
 * torrents, so both trackers end up holding the same peers; memory per tracked peer is the growth of
 * each tracker's resident set divided by the peers it holds.
 *
 *   npm run bench:tracker                               # 10 s per tracker, 32 connections
 *   BENCH_SECONDS=20 BENCH_CONNECTIONS=64 npm run bench:tracker
 *
 * Writes the `## Tracker` section of BENCHMARKS.md (set BENCH_NO_WRITE=1 to only print it).
 */
import { ChildProcess, spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { decodeAnnounceReply, percentEncode } from '../../src/protocol/tracker-codec';

const SECONDS = Number(process.env.BENCH_SECONDS ?? 10);
const WARMUP_SECONDS = Number(process.env.BENCH_WARMUP ?? 2);
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 32);
const TORRENTS = Number(process.env.BENCH_TORRENTS ?? 1000);
const PEERS = Number(process.env.BENCH_PEERS ?? 50_000);
const ROOT = path.resolve(__dirname, '..', '..');

interface AutocannonResult {
  requests: { average: number; total: number };
  latency: { p50: number; p99: number };
  errors: number;
  non2xx: number;
  timeouts: number;
  duration: number;
}
interface AutocannonRequest {
  path?: string;
  [k: string]: unknown;
}
type Autocannon = (opts: {
  url: string;
  connections: number;
  pipelining: number;
  duration: number;
  requests: { setupRequest: (r: AutocannonRequest) => AutocannonRequest }[];
}) => Promise<AutocannonResult>;

// autocannon ships no types; its promise API is all we use.
const autocannon = require('autocannon') as Autocannon;

/** The same announce pool for every tracker: peer i is in torrent i % TORRENTS; a quarter are seeds. */
function announcePaths(): string[] {
  const hashes = Array.from({ length: TORRENTS }, (_, t) => {
    const b = Buffer.alloc(20);
    b.writeUInt32BE(0x5eed0000 + t, 0);
    b.writeUInt32BE(Math.imul(t + 1, 2654435761) >>> 0, 16);
    return b;
  });
  const paths: string[] = [];
  for (let i = 0; i < PEERS; i++) {
    const id = Buffer.alloc(20);
    id.write('-BN0001-', 'latin1');
    id.writeUInt32BE(i, 8);
    id.writeUInt32BE(Math.imul(i + 7, 2246822519) >>> 0, 16);
    const port = 10_000 + (i % 50_000);
    const left = i % 4 === 0 ? 0 : 1_000_000;
    paths.push(
      `/announce?info_hash=${percentEncode(hashes[i % TORRENTS])}&peer_id=${percentEncode(id)}` +
        `&port=${port}&uploaded=0&downloaded=0&left=${left}&compact=1&numwant=50`,
    );
  }
  return paths;
}

function hexHashes(): string[] {
  return Array.from({ length: TORRENTS }, (_, t) => {
    const b = Buffer.alloc(20);
    b.writeUInt32BE(0x5eed0000 + t, 0);
    b.writeUInt32BE(Math.imul(t + 1, 2654435761) >>> 0, 16);
    return b.toString('hex');
  });
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as net.AddressInfo;
      s.close(() => resolve(port));
    });
  });
}

function get(port: number, p: string): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    http
      .get({ host: '127.0.0.1', port, path: p, agent: false }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve(Buffer.concat(chunks)));
      })
      .on('error', reject);
  });
}

/** Retry a GET until the server answers (bounded: 50 tries, 100 ms apart). */
async function waitUp(port: number, p: string): Promise<Buffer> {
  for (let i = 0; i < 50; i++) {
    try {
      return await get(port, p);
    } catch {
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  throw new Error(`nothing answers on 127.0.0.1:${port}`);
}

function rssKiB(pid: number): number {
  const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  return Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0);
}

function stop(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null || child.pid === undefined) return resolve();
    child.once('exit', () => resolve());
    process.kill(child.pid, 'SIGTERM');
    setTimeout(
      () => child.pid !== undefined && child.exitCode === null && process.kill(child.pid, 'SIGKILL'),
      3000,
    ).unref();
  });
}

interface Outcome {
  name: string;
  rps: number;
  total: number;
  p50: number;
  p99: number;
  errors: number;
  non2xx: number;
  peers: number;
  rssGrowthKiB: number;
  bytesPerPeer: number;
}

async function load(name: string, port: number, pid: number, paths: string[]): Promise<Outcome> {
  // Sanity: a real announce gets a real (non-failure) reply.
  const probe = decodeAnnounceReply(await waitUp(port, paths[0]));
  if (!probe.ok) throw new Error(`${name} refused the benchmark's announce: ${probe.failureReason}`);
  if (name.startsWith('rxtorrent')) await get(port, '/stats?gc=1');
  const rss0 = rssKiB(pid);
  let next = 0;
  let sent = 0;
  const run = (duration: number): Promise<AutocannonResult> =>
    autocannon({
      url: `http://127.0.0.1:${port}`,
      connections: CONNECTIONS,
      pipelining: 1,
      duration,
      requests: [
        {
          setupRequest: (r) => {
            const p = paths[next];
            next = (next + 1) % paths.length;
            sent++;
            return { ...r, path: p };
          },
        },
      ],
    });
  if (WARMUP_SECONDS > 0) await run(WARMUP_SECONDS);
  const r = await run(SECONDS);
  if (name.startsWith('rxtorrent')) await get(port, '/stats?gc=1');
  const rss1 = rssKiB(pid);
  // Every peer of the pool has announced once the generator went round it at least once.
  const peers = Math.min(PEERS, sent);
  const out: Outcome = {
    name,
    rps: r.requests.average,
    total: r.requests.total,
    p50: r.latency.p50,
    p99: r.latency.p99,
    errors: r.errors + r.timeouts,
    non2xx: r.non2xx,
    peers,
    rssGrowthKiB: rss1 - rss0,
    bytesPerPeer: ((rss1 - rss0) * 1024) / peers,
  };
  return out;
}

async function runOurs(paths: string[], dir: string): Promise<Outcome & { heapPerPeer: number }> {
  const port = await freePort();
  const child = spawn(
    process.execPath,
    [
      '--expose-gc',
      path.join(ROOT, 'bin', 'rxtorrent.js'),
      '--store-dir',
      dir,
      'tracker',
      '--no-console',
      '-p',
      String(port),
      '--host',
      '127.0.0.1',
    ],
    { stdio: ['ignore', 'ignore', 'inherit'] },
  );
  try {
    const before = JSON.parse((await waitUp(port, '/stats?gc=1')).toString()) as {
      memory: { heapUsed: number };
    };
    const o = await load('rxtorrent tracker', port, child.pid as number, paths);
    // After a full GC: what the peers retain, not the garbage the run left behind.
    const after = JSON.parse((await get(port, '/stats?gc=1')).toString()) as {
      peers: number;
      memory: { heapUsed: number };
    };
    // Our own count is exact; use it rather than the generator's estimate.
    return {
      ...o,
      peers: after.peers,
      bytesPerPeer: (o.rssGrowthKiB * 1024) / after.peers,
      heapPerPeer: (after.memory.heapUsed - before.memory.heapUsed) / after.peers,
    };
  } finally {
    await stop(child);
  }
}

async function runOpentracker(paths: string[], dir: string): Promise<Outcome> {
  // Debian's opentracker is built in whitelist mode; it chroots to -d, so the list lives there.
  fs.writeFileSync(path.join(dir, 'whitelist'), hexHashes().join('\n') + '\n');
  const port = await freePort();
  const child = spawn(
    'opentracker',
    ['-i', '127.0.0.1', '-p', String(port), '-P', String(port), '-d', dir, '-w', 'whitelist'],
    {
      stdio: ['ignore', 'ignore', 'inherit'],
    },
  );
  try {
    return await load('opentracker', port, child.pid as number, paths);
  } finally {
    await stop(child);
  }
}

function section(ours: Outcome & { heapPerPeer: number }, ot: Outcome): string {
  const cpu = os.cpus()[0]?.model ?? 'unknown CPU';
  const row = (o: Outcome): string =>
    `| ${o.name} | ${Math.round(o.rps).toLocaleString('en-US')} | ${o.p50} | ${o.p99} | ${o.errors} | ${o.non2xx} | ` +
    `${(o.rssGrowthKiB / 1024).toFixed(1)} MiB | ${Math.round(o.bytesPerPeer)} B |`;
  const ratio = ours.rps / ot.rps;
  return [
    '## Tracker',
    '',
    `Announces per second on loopback, \`rxtorrent tracker\` against opentracker in the same run ` +
      `(${new Date().toISOString().slice(0, 10)}, Node ${process.version}, ${os.cpus().length} × ${cpu}).`,
    '',
    `Load: autocannon, ${CONNECTIONS} keep-alive connections, no pipelining, ${WARMUP_SECONDS} s warm-up then ${SECONDS} s measured ` +
      `per tracker; compact announces cycling through ${PEERS.toLocaleString('en-US')} peers (a quarter seeds) spread over ` +
      `${TORRENTS.toLocaleString('en-US')} torrents, numwant=50, so each reply carries up to 49 peers and every tracker ends up ` +
      `holding the same ${PEERS.toLocaleString('en-US')} peers. autocannon shares the machine with the tracker under test.`,
    '',
    '| tracker | announces/s | p50 ms | p99 ms | errors | non-2xx | RSS growth | RSS per tracked peer |',
    '|---|---:|---:|---:|---:|---:|---:|---:|',
    row(ours),
    row(ot),
    '',
    `**Ratio: ${ratio.toFixed(2)}× opentracker's rate** (target: at least 0.5×). ` +
      `Our retained V8 heap per tracked peer: ${Math.round(ours.heapPerPeer)} B (\`/stats?gc=1\` after a full GC, the tracker ` +
      `run with \`--expose-gc\` for this; RSS for both trackers is read from /proc after the run).`,
    '',
    'opentracker closes every connection after one reply (no HTTP keep-alive), so autocannon reconnects for each of ' +
      'its requests; that is where its high latency percentiles come from. On a 2-core machine the load generator ' +
      'takes one core, so both figures are bounded by it as much as by the trackers.',
    '',
    'Command: `npm run bench:tracker` (environment: `BENCH_SECONDS`, `BENCH_CONNECTIONS`, `BENCH_PEERS`, `BENCH_TORRENTS`).',
    '',
  ].join('\n');
}

function writeSection(text: string): void {
  const file = path.join(ROOT, 'BENCHMARKS.md');
  const old = fs.existsSync(file) ? fs.readFileSync(file, 'utf8') : '# Benchmarks\n\n';
  const start = old.indexOf('## Tracker\n');
  let next: string;
  if (start < 0) next = `${old.trimEnd()}\n\n${text}`;
  else {
    const end = old.indexOf('\n## ', start + 1);
    next = old.slice(0, start) + text + (end < 0 ? '' : `\n${old.slice(end + 1)}`);
  }
  fs.writeFileSync(file, next.trimEnd() + '\n');
  // Keep the file as `npm run lint` wants it (prettier aligns the tables).
  spawnSync(path.join(ROOT, 'node_modules', '.bin', 'prettier'), ['--write', file], { stdio: 'ignore' });
}

async function main(): Promise<void> {
  if (spawnSync('sh', ['-c', 'command -v opentracker'], { stdio: 'ignore' }).status !== 0) {
    throw new Error('opentracker is missing: apt-get install -y opentracker');
  }
  if (!fs.existsSync(path.join(ROOT, 'dist', 'cli', 'main.js'))) throw new Error('run `npm run build` first');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rxt-bench-tracker-'));
  fs.chmodSync(dir, 0o755); // opentracker drops to `nobody` and must still read its whitelist
  try {
    const paths = announcePaths();
    const ours = await runOurs(paths, dir);
    const ot = await runOpentracker(paths, dir);
    const text = section(ours, ot);
    process.stdout.write(text + '\n');
    if (!process.env.BENCH_NO_WRITE) writeSection(text);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`bench:tracker: ${(err as Error).stack ?? String(err)}\n`);
  process.exitCode = 1;
});
