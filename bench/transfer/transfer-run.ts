/**
 * One timed run of a bench:transfer pair: start the seeder, launch its leecher(s) together, time each
 * from launch to exit (download complete and verified) with its CPU seconds and peak RSS, check every
 * output file against the source, stop the seeder. Also the dataset (a random file, its torrent, and an
 * untimed `seed --verify` so that every timed run of our seeder starts from a resume file).
 */
import { spawnSync } from 'node:child_process';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { measure, procStats } from '../support/measure';
import { freePort, startDaemon, stopDaemon, tail, track } from '../support/processes';
import { Pair } from './pairs';

const ROOT = path.resolve(__dirname, '..', '..');
// Run as users do (`npx rxtorrent` executes the bin script), so its shebang's V8 flags apply.
export const CLI = path.join(ROOT, 'bin', 'rxtorrent.js');
const LT_PYTHON = '/usr/bin/python3'; // the Debian interpreter: python3-libtorrent is installed for it only
const LT_SEED = path.join(__dirname, 'lt_seed.py');
const LT_LEECH = path.join(__dirname, 'lt_leech.py');
const NAME = 'data.bin';
const EVENTS_DIR = process.env.BENCH_EVENTS_DIR ? path.resolve(process.env.BENCH_EVENTS_DIR) : undefined;
const LT_SEED_MODE = process.env.BENCH_LT_SEED_MODE !== '0';

export interface Sample {
  /** Launch to the last leecher's exit. */
  seconds: number;
  /** All leechers' CPU seconds (user + sys, all threads), summed. */
  cpuSeconds: number;
  /** The largest leecher's peak RSS. */
  peakRssMiB: number;
  seederCpuSeconds: number;
}
export interface Dataset {
  dir: string; // folder holding the complete file (the seeders' data folder)
  file: string;
  torrent: string;
  bytes: number;
  sha1: string;
}

export function ourEnv(storeDir: string): NodeJS.ProcessEnv {
  return { ...process.env, RXTORRENT_STORE_DIR: storeDir, RXTORRENT_NO_DHT: '1', RXTORRENT_NO_LSD: '1' };
}
function eventsArgs(tag: string): string[] {
  return EVENTS_DIR ? ['--events', path.join(EVENTS_DIR, `${tag}.jsonl`)] : [];
}
/** Command and leading arguments that run our CLI for `pair` (the bin itself, or node with flags). */
function ourCli(pair: Pair): [string, string[]] {
  return pair.nodeFlags ? [process.execPath, [...pair.nodeFlags, CLI]] : [CLI, []];
}

export function sh(script: string, timeoutMs: number): void {
  const r = spawnSync('sh', ['-c', script], { stdio: ['ignore', 'ignore', 'pipe'], timeout: timeoutMs });
  if (r.status !== 0) throw new Error(`sh -c ${script}: ${r.error?.message ?? r.stderr.toString()}`);
}

function sha1File(file: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const h = crypto.createHash('sha1');
    fs.createReadStream(file, { highWaterMark: 1 << 20 })
      .on('data', (d) => h.update(d))
      .on('error', reject)
      .on('end', () => resolve(h.digest('hex')));
  });
}

export async function makeDataset(
  dir: string,
  mib: number,
  trackerPort: number,
  storeDir: string,
): Promise<Dataset> {
  const bytes = mib * 1024 * 1024;
  fs.mkdirSync(dir, { recursive: true });
  const file = path.join(dir, NAME);
  sh(`head -c ${bytes} /dev/urandom > '${file}' && sync`, 60_000 + mib * 200);
  const torrent = path.join(path.dirname(dir), `${path.basename(dir)}.torrent`);
  const r = spawnSync(
    CLI,
    ['create', '-f', file, '-o', torrent, '--no-publish', '-t', `127.0.0.1:${trackerPort}`],
    { env: ourEnv(storeDir), timeout: 60_000 + mib * 200, encoding: 'utf8' },
  );
  if (r.status !== 0) throw new Error(`rxtorrent create failed: ${r.error?.message ?? r.stderr}`);
  const sha1 = await sha1File(file); // also warms the page cache
  // Our seeder trusts what its resume file says is verified, and otherwise hashes each piece the first
  // time it sends it. One untimed `seed --verify` writes that file, so that every timed run of our
  // seeder starts alike (without it the first one alone hashes inside its timed window).
  const warm = await startDaemon(
    CLI,
    ['seed', '-f', torrent, '-o', dir, '-p', '0', '--bind', '127.0.0.1', '--verify'],
    /on port (\d+)/,
    60_000 + mib * 200,
    ourEnv(storeDir),
  );
  await stopDaemon(warm.child);
  return { dir, file, torrent, bytes, sha1 };
}

async function startSeeder(pair: Pair, ds: Dataset, storeDir: string, tag: string) {
  const readyMs = 60_000 + (ds.bytes / 2 ** 20) * 100; // our seeder hashes the file before it is ready
  if (pair.seeder === 'ours') {
    const args = [
      ...eventsArgs(`${tag}-seeder`),
      ...['seed', '-f', ds.torrent, '-o', ds.dir, '-p', '0', '--bind', '127.0.0.1'],
      ...['--encryption', pair.seedEnc],
    ];
    const [cmd, pre] = ourCli(pair);
    const d = await startDaemon(cmd, [...pre, ...args], /on port (\d+)/, readyMs, ourEnv(storeDir));
    return { ...d, port: Number(d.match[1]) };
  }
  const ltArgs = [
    ...[LT_SEED, ds.torrent, ds.dir, '0', '7200'],
    ...(LT_SEED_MODE ? ['--seed-mode'] : []),
    ...(pair.seedEnc === 'rc4' ? ['--rc4'] : []),
  ];
  const d = await startDaemon(LT_PYTHON, ltArgs, /ready (\d+)/, readyMs);
  return { ...d, port: Number(d.match[1]) };
}

async function leecherCommand(
  pair: Pair,
  ds: Dataset,
  outDir: string,
  seedPort: number,
  tag: string,
): Promise<[string, string[]]> {
  if (pair.leecher === 'lt') {
    const rc4 = pair.leechEnc === 'rc4' ? ['--rc4'] : [];
    return [LT_PYTHON, [LT_LEECH, ds.torrent, outDir, String(seedPort), ...rc4]];
  }
  if (pair.leecher === 'ours') {
    const [cmd, pre] = ourCli(pair);
    return [
      cmd,
      [
        ...[...pre, ...eventsArgs(`${tag}-leecher`), 'leech', '-f', ds.torrent, '-o', outDir],
        ...['-p', '0', '--bind', '127.0.0.1', '--peer', `127.0.0.1:${seedPort}`, '--exit-on-done'],
        ...['--encryption', pair.leechEnc],
      ],
    ];
  }
  return [
    'aria2c',
    [
      ...['--no-conf=true', '--enable-dht=false', '--enable-dht6=false', '--bt-enable-lpd=false'],
      ...['--enable-peer-exchange=false', '--disable-ipv6=true', '--seed-time=0'],
      ...['--file-allocation=falloc', '--check-integrity=false'],
      '--bt-stop-timeout=20', // give up after 20 s without payload instead of waiting for our timeout
      `--listen-port=${await freePort()}`,
      ...['--console-log-level=warn', '--summary-interval=0', '--show-console-readout=false'],
      `--dir=${outDir}`,
      ds.torrent,
    ],
  ];
}

/** Runs one leecher of `pair`; throws with both sides' output when it fails or its file is wrong. */
async function runLeecher(
  pair: Pair,
  ds: Dataset,
  outDir: string,
  seeder: { child: import('node:child_process').ChildProcess; port: number; output: () => string },
  storeDir: string,
  timeoutMs: number,
  tag: string,
) {
  const [cmd, args] = await leecherCommand(pair, ds, outDir, seeder.port, tag);
  let seederDied = false;
  const m = await measure(cmd, args, {
    timeoutMs,
    env: pair.leecher === 'ours' ? ourEnv(storeDir) : undefined,
    onSpawn: (leecher) => {
      track(leecher); // killed with the benchmark if it dies
      seeder.child.once('exit', () => {
        seederDied = true;
        leecher.kill('SIGKILL');
      });
    },
  });
  const why = seederDied
    ? 'the seeder exited during the transfer'
    : m.code === null
      ? `leecher killed (timeout ${timeoutMs / 1000} s?)`
      : m.code !== 0
        ? `leecher exited with code ${m.code}`
        : '';
  if (why) {
    throw new Error(
      `${why} after ${m.seconds.toFixed(1)} s\n--- leecher output:\n${tail(m.stdout + m.stderr)}\n` +
        `--- seeder output:\n${tail(seeder.output())}`,
    );
  }
  return m;
}

async function checkOutput(ds: Dataset, outDir: string): Promise<void> {
  const got = path.join(outDir, NAME);
  const size = fs.existsSync(got) ? fs.statSync(got).size : -1;
  if (size !== ds.bytes) throw new Error(`leecher exited 0 but ${got} has ${size} bytes, not ${ds.bytes}`);
  const sha1 = await sha1File(got);
  if (sha1 !== ds.sha1)
    throw new Error(`leecher exited 0 but ${got} differs from the source (SHA-1 ${sha1})`);
}

export async function runPair(
  pair: Pair,
  ds: Dataset,
  work: string,
  storeDir: string,
  timeoutMs: number,
  tag: string,
): Promise<Sample> {
  const n = pair.leechers ?? 1;
  const outDirs = Array.from({ length: n }, (_, i) => path.join(work, `leech-${tag}-${i}`));
  for (const d of outDirs) {
    fs.rmSync(d, { recursive: true, force: true });
    fs.mkdirSync(d);
  }
  const seeder = await startSeeder(pair, ds, storeDir, tag);
  const seederPid = seeder.child.pid as number;
  try {
    const cpu0 = procStats(seederPid)?.cpu ?? 0;
    const started = process.hrtime.bigint();
    const ms = await Promise.all(
      outDirs.map((d, i) => runLeecher(pair, ds, d, seeder, storeDir, timeoutMs, `${tag}-${i}`)),
    );
    const seconds = Number(process.hrtime.bigint() - started) / 1e9;
    const seederCpu = (procStats(seederPid)?.cpu ?? cpu0) - cpu0;
    for (const d of outDirs) await checkOutput(ds, d);
    return {
      seconds: n === 1 ? ms[0].seconds : seconds,
      cpuSeconds: ms.reduce((a, m) => a + m.cpuSeconds, 0),
      peakRssMiB: Math.max(...ms.map((m) => m.peakRssMiB)),
      seederCpuSeconds: seederCpu,
    };
  } finally {
    await stopDaemon(seeder.child);
    for (const d of outDirs) fs.rmSync(d, { recursive: true, force: true });
    sh('sync', 120_000); // write-back of this run must not land in the next one
  }
}

export function preflight(): void {
  if (spawnSync('sh', ['-c', 'command -v aria2c'], { stdio: 'ignore' }).status !== 0) {
    throw new Error('aria2c is missing: apt-get install -y aria2');
  }
  if (spawnSync(LT_PYTHON, ['-c', 'import libtorrent'], { stdio: 'ignore', timeout: 30_000 }).status !== 0) {
    throw new Error(`${LT_PYTHON} cannot import libtorrent: apt-get install -y python3-libtorrent`);
  }
}
