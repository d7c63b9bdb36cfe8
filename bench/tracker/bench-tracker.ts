/**
 * bench:tracker — announces per second on loopback, `rxtorrent tracker` against opentracker in the
 * same run, on the same peer pool (50,000 peers in 1,000 torrents, a quarter seeds, numwant=50):
 *
 *   1. HTTP with `Connection: close` (a new TCP connection per announce, as clients do), each tracker
 *      pinned to core 0 and wrk to core 1; rounds alternate between the two trackers;
 *   2. HTTP keep-alive (opentracker closes after each reply anyway);
 *   3. UDP (BEP 15) with our generator (bench/tracker/udp-load.ts) on core 1;
 *   4. `--workers 2 --registry redis://` with everything (workers, Redis, wrk) sharing both cores;
 *   5. memory per tracked peer: our RSS growth and retained heap (after a full GC) once the pool is
 *      in, opentracker's RSS growth, and Redis's `used_memory` growth.
 *
 *   npm run bench:tracker          # BENCH_SECONDS=10 BENCH_ROUNDS=2 BENCH_CONNECTIONS=64
 * Writes the `## Tracker` section of BENCHMARKS.md (BENCH_NO_WRITE=1 only prints it).
 */
import { ChildProcess, execFileSync, spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { poolInfoHash, wrkScript } from './pool';
import { writeSection } from './report';

const SECONDS = Number(process.env.BENCH_SECONDS ?? 10);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 2);
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 64);
const TORRENTS = 1000;
const PEERS = 50_000;
const ROOT = path.resolve(__dirname, '..', '..');

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

function get(port: number, p: string): Promise<string> {
  return new Promise((resolve, reject) => {
    http
      .get({ host: '127.0.0.1', port, path: p, agent: false }, (res) => {
        let body = '';
        res.on('data', (c: Buffer) => (body += c.toString('latin1')));
        res.on('end', () => resolve(body));
      })
      .on('error', reject);
  });
}

/** Retry a GET until the server answers (bounded: 100 tries, 100 ms apart). */
async function waitUp(port: number, p = '/'): Promise<string> {
  for (let i = 0; i < 100; i++) {
    try {
      return await get(port, p);
    } catch {
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  throw new Error(`nothing answers on 127.0.0.1:${port}`);
}

const rssKiB = (pid: number): number =>
  Number(/VmRSS:\s+(\d+)/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0);

function stop(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null || child.pid === undefined) return resolve();
    child.once('exit', () => resolve());
    process.kill(child.pid, 'SIGTERM');
    setTimeout(() => {
      if (child.exitCode !== null || child.signalCode !== null || child.pid === undefined) return;
      try {
        process.kill(child.pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }, 5000).unref();
  });
}

/** CPU seconds (user + system, every thread) a process has used. */
function cpuSeconds(pid: number): number {
  const f = fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return (Number(f[11]) + Number(f[12])) / 100; // utime, stime in clock ticks (USER_HZ = 100)
}

/** Run `load`, returning its rate and the announces per CPU-second the tracker `pid` spent on them. */
function measured(
  pid: number,
  load: () => { rate: number; total: number },
): { rate: number; perCpu: number } {
  const c0 = cpuSeconds(pid);
  const r = load();
  return { rate: r.rate, perCpu: r.total / Math.max(0.01, cpuSeconds(pid) - c0) };
}

const pinned = (cores: string, cmd: string, args: string[]): ChildProcess =>
  spawn('taskset', ['-c', cores, cmd, ...args], { stdio: ['ignore', 'ignore', 'inherit'] });

function wrk(port: number, close: boolean, cores = '1', threads = 1): { rate: number; total: number } {
  const script = path.join(os.tmpdir(), `rxt-bench-${process.pid}-${close ? 'close' : 'ka'}.lua`);
  fs.writeFileSync(script, wrkScript(PEERS, TORRENTS, close));
  const out = execFileSync('taskset', [
    '-c',
    cores,
    'wrk',
    `-t${threads}`,
    `-c${CONNECTIONS}`,
    `-d${SECONDS}s`,
    '-s',
    script,
    `http://127.0.0.1:${port}/`,
  ]).toString();
  fs.rmSync(script, { force: true });
  const rate = Number(/Requests\/sec:\s+([\d.]+)/.exec(out)?.[1] ?? 0);
  const total = Number(/(\d+) requests in/.exec(out)?.[1] ?? 0);
  if (/Non-2xx/.test(out)) throw new Error(`non-2xx replies from port ${port}:\n${out}`);
  return { rate, total };
}

function udpLoad(port: number, cores = '1', mode = 'started'): { rate: number; total: number } {
  const out = execFileSync('taskset', [
    '-c',
    cores,
    process.execPath,
    require.resolve('ts-node/dist/bin.js'),
    '--transpile-only',
    path.join(__dirname, 'udp-load.ts'),
    '127.0.0.1',
    String(port),
    String(SECONDS),
    String(PEERS),
    String(TORRENTS),
    mode,
  ]).toString();
  const r = JSON.parse(out) as { announces: number; errors: number; seconds: number };
  if (r.errors > 0) throw new Error(`UDP errors from port ${port}: ${out}`);
  return { rate: r.announces / r.seconds, total: r.announces };
}

interface Tracker {
  name: string;
  port: number;
  pid: number;
  child: ChildProcess;
}

async function ours(dir: string, cores = '0', extra: string[] = []): Promise<Tracker> {
  const port = await freePort();
  // The bin's own flags (its shebang line), as `npx rxtorrent` runs it, plus --expose-gc for /stats?gc=1.
  const child = pinned(cores, process.execPath, [
    '--max-semi-space-size=2',
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
    ...extra,
  ]);
  await waitUp(port, '/stats');
  return { name: 'rxtorrent tracker', port, pid: child.pid as number, child };
}

async function opentracker(dir: string): Promise<Tracker> {
  // Debian's opentracker is built in whitelist mode; it chroots to -d, so the list lives there.
  const hashes = Array.from({ length: TORRENTS }, (_, t) => poolInfoHash(t).toString('hex'));
  fs.writeFileSync(path.join(dir, 'whitelist'), hashes.join('\n') + '\n');
  const port = await freePort();
  const child = pinned('0', 'opentracker', [
    '-i',
    '127.0.0.1',
    '-p',
    String(port),
    '-P',
    String(port),
    '-d',
    dir,
    '-w',
    'whitelist',
  ]);
  await waitUp(port, '/stats');
  return { name: 'opentracker', port, pid: child.pid as number, child };
}

interface Memory {
  rssPerPeer: number;
  heapPerPeer?: number;
}

/**
 * Memory per peer, ours and opentracker's: a warm-up of `stopped` announces (every code path, no peer
 * kept), then the pool announced; our RSS and retained memory (V8 heap + array buffers, after a full
 * GC), opentracker's RSS, measured after the warm-up and after the pool is in.
 */
async function memory(dir: string): Promise<{ ours: Memory & { peers: number }; ot: Memory }> {
  type Stats = { peers: number; memory: { heapUsed: number; arrayBuffers: number } };
  const retained = async (t: Tracker): Promise<Stats> =>
    JSON.parse(await get(t.port, '/stats?gc=1')) as Stats;
  const t = await ours(dir);
  let mine: Memory & { peers: number };
  try {
    udpLoad(t.port, '1', 'stopped');
    const before = await retained(t);
    const rss0 = rssKiB(t.pid);
    udpLoad(t.port, '1', 'fill');
    const after = await retained(t);
    const kept = (s: Stats): number => s.memory.heapUsed + s.memory.arrayBuffers;
    mine = {
      peers: after.peers,
      rssPerPeer: ((rssKiB(t.pid) - rss0) * 1024) / after.peers,
      heapPerPeer: (kept(after) - kept(before)) / after.peers,
    };
  } finally {
    await stop(t.child);
  }
  const o = await opentracker(dir);
  try {
    udpLoad(o.port, '1', 'stopped');
    const rss0 = rssKiB(o.pid);
    udpLoad(o.port, '1', 'fill');
    return { ours: mine, ot: { rssPerPeer: ((rssKiB(o.pid) - rss0) * 1024) / PEERS } };
  } finally {
    await stop(o.child);
  }
}

function redisInfo(port: number): number {
  const out = execFileSync('redis-cli', ['-p', String(port), 'INFO', 'memory']).toString();
  return Number(/used_memory:(\d+)/.exec(out)?.[1] ?? 0);
}

/** `--workers 2 --registry redis://` on both cores: HTTP close and UDP rates, Redis bytes per peer. */
async function workers(
  dir: string,
): Promise<{ http: number; udp: number; redisPerPeer: number; peers: number }> {
  const rport = await freePort();
  const rdir = fs.mkdtempSync(path.join(os.tmpdir(), 'rxt-bench-redis-'));
  const redis = pinned('0,1', 'redis-server', [
    '--port',
    String(rport),
    '--bind',
    '127.0.0.1',
    '--dir',
    rdir,
    '--save',
    '',
    '--appendonly',
    'no',
  ]);
  try {
    for (let i = 0; i < 100 && spawnSync('redis-cli', ['-p', String(rport), 'PING']).status !== 0; i++)
      await new Promise((r) => setTimeout(r, 100));
    const mem0 = redisInfo(rport);
    const t = await ours(dir, '0,1', ['--registry', `redis://127.0.0.1:${rport}`, '--workers', '2']);
    try {
      const udp = udpLoad(t.port, '0,1').rate;
      const peers = (JSON.parse(await get(t.port, '/stats')) as { peers: number }).peers;
      const redisPerPeer = (redisInfo(rport) - mem0) / peers;
      const httpRate = wrk(t.port, true, '0,1', 2).rate;
      return { http: httpRate, udp, redisPerPeer, peers };
    } finally {
      await stop(t.child);
    }
  } finally {
    await stop(redis);
    fs.rmSync(rdir, { recursive: true, force: true });
  }
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? s[m] : (s[m - 1] + s[m]) / 2;
};

async function main(): Promise<void> {
  for (const tool of ['opentracker', 'wrk', 'redis-server', 'taskset'])
    if (spawnSync('sh', ['-c', `command -v ${tool}`], { stdio: 'ignore' }).status !== 0)
      throw new Error(`${tool} is missing`);
  if (!fs.existsSync(path.join(ROOT, 'dist', 'cli', 'main.js'))) throw new Error('run `npm run build` first');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rxt-bench-tracker-'));
  fs.chmodSync(dir, 0o755); // opentracker drops to `nobody` and must still read its whitelist
  type Run = { rate: number; perCpu: number };
  const rates: Record<string, { ours: Run[]; ot: Run[] }> = {
    close: { ours: [], ot: [] },
    keepAlive: { ours: [], ot: [] },
    udp: { ours: [], ot: [] },
  };
  try {
    for (let round = 0; round < ROUNDS; round++) {
      for (const which of ['ours', 'ot'] as const) {
        const t = which === 'ours' ? await ours(dir) : await opentracker(dir);
        try {
          rates.close[which].push(measured(t.pid, () => wrk(t.port, true)));
          rates.keepAlive[which].push(measured(t.pid, () => wrk(t.port, false)));
          rates.udp[which].push(measured(t.pid, () => udpLoad(t.port)));
          const say = (k: string): string => {
            const r = rates[k][which].at(-1) as Run;
            return `${k} ${r.rate.toFixed(0)}/s (${r.perCpu.toFixed(0)} per CPU-s)`;
          };
          process.stderr.write(
            `round ${round + 1} ${t.name}: ${say('close')}, ${say('keepAlive')}, ${say('udp')}\n`,
          );
        } finally {
          await stop(t.child);
        }
      }
    }
    const mem = await memory(dir);
    const w = await workers(dir);
    const text = writeSection({
      seconds: SECONDS,
      rounds: ROUNDS,
      connections: CONNECTIONS,
      peers: PEERS,
      torrents: TORRENTS,
      rates: Object.fromEntries(
        Object.entries(rates).map(([k, v]) => [
          k,
          {
            ours: median(v.ours.map((r) => r.rate)),
            ot: median(v.ot.map((r) => r.rate)),
            oursCpu: median(v.ours.map((r) => r.perCpu)),
            otCpu: median(v.ot.map((r) => r.perCpu)),
            all: { ours: v.ours.map((r) => r.rate), ot: v.ot.map((r) => r.rate) },
          },
        ]),
      ),
      memory: mem,
      workers: w,
      write: !process.env.BENCH_NO_WRITE,
      root: ROOT,
    });
    process.stdout.write(text + '\n');
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`bench:tracker: ${(err as Error).stack ?? String(err)}\n`);
  process.exitCode = 1;
});
