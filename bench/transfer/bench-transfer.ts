/**
 * bench:transfer — one seeder to one leecher over loopback, one file, in one run, these pairs (ids):
 *
 *   ours-ours         ours → ours, plain (both `--encryption tolerated`)
 *   ours-ours-header  ours → ours, MSE header then plaintext (tolerated seeder, preferred leecher)
 *   ours-ours-rc4     ours → ours, RC4 (preferred seeder, required leecher): OpenSSL's RC4, as the bin runs
 *   ours-ours-rc4-ts  the same with our TypeScript RC4 (node without --openssl-legacy-provider)
 *   lt-ours           python3-libtorrent → ours, plain
 *   lt-ours-rc4       libtorrent forcing RC4 → ours
 *   lt-lt-rc4         libtorrent → libtorrent, both forcing RC4 (the reference for lt-ours-rc4)
 *   ours-aria2c       ours → aria2c (aria2c opens encrypted; our tolerated seeder selects plaintext)
 *   lt-aria2c         libtorrent → aria2c (reference; libtorrent's default also selects plaintext)
 *
 * Each leecher is timed from launch to its exit (= download complete and verified), with its CPU
 * seconds and peak RSS (polled from /proc, see ../support/measure.ts); the seeder's CPU seconds over
 * the same window are reported too. The output file is compared with the source (SHA-1) after every
 * run. Seeders are announced through an `rxtorrent tracker` on loopback (aria2c cannot be handed a
 * peer directly); our leecher is also given the seeder with --peer.
 *
 *   npm run bench:transfer                                     # 1 GiB, 1 run per pair
 *   BENCH_SIZE_MIB=128 BENCH_RUNS=3 npm run bench:transfer
 *   BENCH_PAIRS=ours-ours,ours-ours-rc4 npm run bench:transfer  # some pairs only (ids above)
 *   BENCH_RSS_GIB=4 npm run bench:transfer                     # plus ours → ours once on a 4 GiB file
 *
 * Other knobs: BENCH_TIMEOUT_S (per leecher run; default 60 s + 1 s per 5 MiB), BENCH_EVENTS_DIR
 * (our processes write `--events` JSONL there, for diagnosing a failed run), BENCH_KEEP=1 (keep the
 * temporary folder), BENCH_LT_SEED_MODE=0 (libtorrent checks the file before it is ready, like our
 * seeder, instead of seed mode, where it hashes each piece on its first request, inside the timed
 * window: same wall time here, but the hashing then shows in its seeder CPU column). Prints a markdown
 * table; it does not write BENCHMARKS.md.
 *
 * Launch-to-exit includes each leecher's start-up: aria2c works on a 1 s tick, so it spends about 2 s
 * before its first request (announce, then connect). Our processes run as users run them, through the
 * bin's shebang (its V8 and OpenSSL flags), except ours-ours-rc4-ts.
 */
import { ChildProcess, spawn, spawnSync } from 'node:child_process';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { measure, mbps, median, procStats } from '../support/measure';

const SIZE_MIB = Number(process.env.BENCH_SIZE_MIB ?? 1024);
const RUNS = Number(process.env.BENCH_RUNS ?? 1);
const RSS_GIB = Number(process.env.BENCH_RSS_GIB ?? 0);
const EVENTS_DIR = process.env.BENCH_EVENTS_DIR ? path.resolve(process.env.BENCH_EVENTS_DIR) : undefined;
const KEEP = process.env.BENCH_KEEP === '1';
const LT_SEED_MODE = process.env.BENCH_LT_SEED_MODE !== '0';
const ROOT = path.resolve(__dirname, '..', '..');
// Run as users do (`npx rxtorrent` executes the bin script), so its shebang's V8 flags apply.
const CLI = path.join(ROOT, 'bin', 'rxtorrent.js');
const LT_PYTHON = '/usr/bin/python3'; // the Debian interpreter: python3-libtorrent is installed for it only
const LT_SEED = path.join(__dirname, 'lt_seed.py');
const LT_LEECH = path.join(__dirname, 'lt_leech.py');
const NAME = 'data.bin';

type SeederKind = 'ours' | 'lt';
type LeecherKind = 'ours' | 'aria2c' | 'lt';
/** How a side encrypts: our `--encryption` policy, or libtorrent's defaults / forced RC4. */
type OurPolicy = 'preferred' | 'required' | 'tolerated';
type LtEncryption = 'default' | 'rc4';
interface Pair {
  id: string;
  label: string;
  seeder: SeederKind;
  leecher: LeecherKind;
  /** Our side's policy (seeder / leecher when ours); libtorrent's encryption (when it is libtorrent). */
  seedEnc: OurPolicy | LtEncryption;
  leechEnc: OurPolicy | LtEncryption | 'aria2c';
  /** Run our processes as `node <flags> bin/rxtorrent.js` instead of through the bin's shebang. */
  nodeFlags?: string[];
}
// Which cipher each pair ends up with (README, "Encryption"): tolerated dials plain and selects plaintext
// when offered; preferred/required dial encrypted and select RC4 when offered; libtorrent's default
// responder selects plaintext; aria2c dials encrypted offering both.
const ALL_PAIRS: Pair[] = [
  {
    id: 'ours-ours',
    label: 'rxtorrent → rxtorrent, plain',
    seeder: 'ours',
    leecher: 'ours',
    seedEnc: 'tolerated',
    leechEnc: 'tolerated',
  },
  {
    id: 'ours-ours-header',
    label: 'rxtorrent → rxtorrent, MSE header + plaintext',
    seeder: 'ours',
    leecher: 'ours',
    seedEnc: 'tolerated',
    leechEnc: 'preferred',
  },
  {
    id: 'ours-ours-rc4',
    label: 'rxtorrent → rxtorrent, RC4 (OpenSSL)',
    seeder: 'ours',
    leecher: 'ours',
    seedEnc: 'preferred',
    leechEnc: 'required',
  },
  {
    id: 'ours-ours-rc4-ts',
    label: 'rxtorrent → rxtorrent, RC4 in TypeScript (node without --openssl-legacy-provider)',
    seeder: 'ours',
    leecher: 'ours',
    seedEnc: 'preferred',
    leechEnc: 'required',
    nodeFlags: ['--max-semi-space-size=2'],
  },
  {
    id: 'lt-ours',
    label: 'libtorrent → rxtorrent, plain',
    seeder: 'lt',
    leecher: 'ours',
    seedEnc: 'default',
    leechEnc: 'tolerated',
  },
  {
    id: 'lt-ours-rc4',
    label: 'libtorrent (forced RC4) → rxtorrent, RC4',
    seeder: 'lt',
    leecher: 'ours',
    seedEnc: 'rc4',
    leechEnc: 'preferred',
  },
  {
    id: 'lt-lt-rc4',
    label: 'libtorrent → libtorrent, both forced RC4',
    seeder: 'lt',
    leecher: 'lt',
    seedEnc: 'rc4',
    leechEnc: 'rc4',
  },
  {
    id: 'ours-aria2c',
    label: 'rxtorrent → aria2c, MSE header + plaintext',
    seeder: 'ours',
    leecher: 'aria2c',
    seedEnc: 'tolerated',
    leechEnc: 'aria2c',
  },
  {
    id: 'lt-aria2c',
    label: 'libtorrent → aria2c, MSE header + plaintext',
    seeder: 'lt',
    leecher: 'aria2c',
    seedEnc: 'default',
    leechEnc: 'aria2c',
  },
];

interface Sample {
  seconds: number;
  cpuSeconds: number;
  peakRssMiB: number;
  seederCpuSeconds: number;
}
interface Dataset {
  dir: string; // folder holding the complete file (the seeders' data folder)
  file: string;
  torrent: string;
  bytes: number;
  sha1: string;
}

/** Every child we start, so that a crash or Ctrl-C never leaves a seeder or tracker behind. */
const live = new Set<ChildProcess>();
function track(child: ChildProcess): ChildProcess {
  live.add(child);
  child.on('exit', () => live.delete(child));
  return child;
}
function killAll(): void {
  for (const c of live) if (c.pid !== undefined && c.exitCode === null) c.kill('SIGKILL');
}
process.on('exit', killAll);
for (const sig of ['SIGINT', 'SIGTERM'] as const) {
  process.on(sig, () => {
    killAll();
    process.exit(130);
  });
}

const tail = (s: string, n = 2000): string => (s.length > n ? '…' + s.slice(-n) : s);

/** Command and leading arguments that run our CLI for `pair` (the bin itself, or node with flags). */
function ourCli(pair: Pair): [string, string[]] {
  return pair.nodeFlags ? [process.execPath, [...pair.nodeFlags, CLI]] : [CLI, []];
}

function ourEnv(storeDir: string): NodeJS.ProcessEnv {
  return { ...process.env, RXTORRENT_STORE_DIR: storeDir };
}
function eventsArgs(tag: string): string[] {
  return EVENTS_DIR ? ['--events', path.join(EVENTS_DIR, `${tag}.jsonl`)] : [];
}

/** A port that was free a moment ago (for aria2c, which cannot be told to pick one itself). */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as net.AddressInfo).port;
      srv.close(() => resolve(port));
    });
  });
}

/**
 * Starts a long-running process and waits (bounded) for a line matching `ready` on its stdout.
 * Keeps draining its output afterwards (the last few KiB are kept for error reports).
 */
function startDaemon(
  cmd: string,
  args: string[],
  ready: RegExp,
  timeoutMs: number,
  env?: NodeJS.ProcessEnv,
): Promise<{ child: ChildProcess; match: RegExpExecArray; output: () => string }> {
  return new Promise((resolve, reject) => {
    const child = track(spawn(cmd, args, { env: env ?? process.env, stdio: ['ignore', 'pipe', 'pipe'] }));
    let out = '';
    let done = false;
    const append = (d: Buffer): void => {
      out = (out + d.toString()).slice(-8000);
      if (done) return;
      const m = ready.exec(out);
      if (m) {
        done = true;
        clearTimeout(timer);
        resolve({ child, match: m, output: () => out });
      }
    };
    const fail = (why: string): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      child.kill('SIGKILL');
      reject(new Error(`${path.basename(cmd)} ${args.join(' ')}: ${why}\n${tail(out)}`));
    };
    const timer = setTimeout(() => fail(`not ready after ${timeoutMs / 1000} s`), timeoutMs);
    child.stdout?.on('data', append);
    child.stderr?.on('data', append);
    child.on('error', (e) => fail(e.message));
    child.on('exit', (code, sig) => fail(`exited early (${code ?? sig})`));
  });
}

/** SIGTERM, then SIGKILL if it has not exited within `graceMs`. Resolves once it has exited. */
function stop(child: ChildProcess, graceMs = 10_000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const hard = setTimeout(() => child.kill('SIGKILL'), graceMs);
    const last = setTimeout(resolve, graceMs + 5_000); // never wait forever, even for a zombie
    child.once('exit', () => {
      clearTimeout(hard);
      clearTimeout(last);
      resolve();
    });
    child.kill('SIGTERM');
  });
}

function sh(script: string, timeoutMs: number): void {
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

async function makeDataset(
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
  await stop(warm.child);
  return { dir, file, torrent, bytes, sha1 };
}

async function startSeeder(pair: Pair, ds: Dataset, storeDir: string, tag: string) {
  const readyMs = 60_000 + (ds.bytes / 2 ** 20) * 100; // our seeder hashes the file before it is ready
  if (pair.seeder === 'ours') {
    const args = [
      ...eventsArgs(`${tag}-seeder`),
      'seed',
      '-f',
      ds.torrent,
      '-o',
      ds.dir,
      '-p',
      '0',
      '--bind',
      '127.0.0.1',
      '--encryption',
      pair.seedEnc,
    ];
    const [cmd, pre] = ourCli(pair);
    const d = await startDaemon(cmd, [...pre, ...args], /on port (\d+)/, readyMs, ourEnv(storeDir));
    return { ...d, port: Number(d.match[1]) };
  }
  const ltArgs = [
    LT_SEED,
    ds.torrent,
    ds.dir,
    '0',
    '7200',
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
    return [
      LT_PYTHON,
      [LT_LEECH, ds.torrent, outDir, String(seedPort), ...(pair.leechEnc === 'rc4' ? ['--rc4'] : [])],
    ];
  }
  if (pair.leecher === 'ours') {
    const [cmd, pre] = ourCli(pair);
    return [
      cmd,
      [
        ...pre,
        ...eventsArgs(`${tag}-leecher`),
        'leech',
        '-f',
        ds.torrent,
        '-o',
        outDir,
        '-p',
        '0',
        '--bind',
        '127.0.0.1',
        '--peer',
        `127.0.0.1:${seedPort}`,
        '--exit-on-done',
        '--encryption',
        pair.leechEnc,
      ],
    ];
  }
  return [
    'aria2c',
    [
      '--no-conf=true',
      '--enable-dht=false',
      '--enable-dht6=false',
      '--bt-enable-lpd=false',
      '--enable-peer-exchange=false',
      '--disable-ipv6=true',
      '--seed-time=0',
      '--file-allocation=falloc',
      '--check-integrity=false',
      '--bt-stop-timeout=20', // give up after 20 s without payload instead of waiting for our timeout
      `--listen-port=${await freePort()}`,
      '--console-log-level=warn',
      '--summary-interval=0',
      '--show-console-readout=false',
      `--dir=${outDir}`,
      ds.torrent,
    ],
  ];
}

async function runPair(
  pair: Pair,
  ds: Dataset,
  work: string,
  storeDir: string,
  timeoutMs: number,
  tag: string,
): Promise<Sample> {
  const outDir = path.join(work, `leech-${tag}`);
  fs.rmSync(outDir, { recursive: true, force: true });
  fs.mkdirSync(outDir);
  const seeder = await startSeeder(pair, ds, storeDir, tag);
  const seederPid = seeder.child.pid as number;
  try {
    const [cmd, args] = await leecherCommand(pair, ds, outDir, seeder.port, tag);
    let seederDied = false;
    const cpu0 = procStats(seederPid)?.cpu ?? 0;
    const m = await measure(cmd, args, {
      timeoutMs,
      env: pair.leecher === 'ours' ? ourEnv(storeDir) : undefined,
      onSpawn: (leecher) =>
        seeder.child.once('exit', () => {
          seederDied = true;
          leecher.kill('SIGKILL');
        }),
    });
    const seederCpu = (procStats(seederPid)?.cpu ?? cpu0) - cpu0;
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
    const got = path.join(outDir, NAME);
    const size = fs.existsSync(got) ? fs.statSync(got).size : -1;
    if (size !== ds.bytes) throw new Error(`leecher exited 0 but ${got} has ${size} bytes, not ${ds.bytes}`);
    const sha1 = await sha1File(got);
    if (sha1 !== ds.sha1)
      throw new Error(`leecher exited 0 but ${got} differs from the source (SHA-1 ${sha1})`);
    return {
      seconds: m.seconds,
      cpuSeconds: m.cpuSeconds,
      peakRssMiB: m.peakRssMiB,
      seederCpuSeconds: seederCpu,
    };
  } finally {
    await stop(seeder.child);
    fs.rmSync(outDir, { recursive: true, force: true });
    sh('sync', 120_000); // write-back of this run must not land in the next one
  }
}

function preflight(): void {
  if (spawnSync('sh', ['-c', 'command -v aria2c'], { stdio: 'ignore' }).status !== 0) {
    throw new Error('aria2c is missing: apt-get install -y aria2');
  }
  if (spawnSync(LT_PYTHON, ['-c', 'import libtorrent'], { stdio: 'ignore', timeout: 30_000 }).status !== 0) {
    throw new Error(`${LT_PYTHON} cannot import libtorrent: apt-get install -y python3-libtorrent`);
  }
}

async function main(): Promise<void> {
  preflight();
  const wanted = (process.env.BENCH_PAIRS ?? ALL_PAIRS.map((p) => p.id).join(','))
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  const unknown = wanted.filter((id) => !ALL_PAIRS.some((p) => p.id === id));
  if (unknown.length) {
    throw new Error(`unknown BENCH_PAIRS ${unknown.join(',')}; ids: ${ALL_PAIRS.map((p) => p.id).join(' ')}`);
  }
  const pairs = ALL_PAIRS.filter((p) => wanted.includes(p.id));
  const timeoutMs = Number(process.env.BENCH_TIMEOUT_S ?? 60 + SIZE_MIB / 5) * 1000;
  if (EVENTS_DIR) fs.mkdirSync(EVENTS_DIR, { recursive: true });

  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'rxt-bench-transfer-'));
  const storeDir = path.join(work, 'store');
  fs.mkdirSync(storeDir);
  let failed = 0;
  try {
    const tracker = await startDaemon(
      CLI,
      ['tracker', '-p', '0', '--host', '127.0.0.1', '--no-console', '--interval', '60'],
      /listening on 127\.0\.0\.1:(\d+)/,
      30_000,
      ourEnv(storeDir),
    );
    const trackerPort = Number(tracker.match[1]);

    const lines: string[] = [];
    const samples = new Map<string, Sample[]>(pairs.map((p) => [p.id, []]));
    const errors = new Map<string, string[]>(pairs.map((p) => [p.id, []]));
    if (pairs.length) {
      const ds = await makeDataset(path.join(work, 'src'), SIZE_MIB, trackerPort, storeDir);
      for (let run = 1; run <= RUNS; run++) {
        for (const pair of pairs) {
          const tag = `${pair.id}-${run}`;
          process.stderr.write(`bench:transfer: ${pair.label}, run ${run}/${RUNS} … `);
          try {
            const s = await runPair(pair, ds, work, storeDir, timeoutMs, tag);
            samples.get(pair.id)?.push(s);
            process.stderr.write(
              `${mbps(ds.bytes, s.seconds).toFixed(0)} MB/s in ${s.seconds.toFixed(2)} s\n`,
            );
          } catch (err) {
            failed++;
            errors.get(pair.id)?.push((err as Error).message);
            process.stderr.write(`FAILED\n${(err as Error).message}\n`);
          }
        }
      }
      fs.rmSync(ds.dir, { recursive: true, force: true });

      const speed = (id: string): number | undefined => {
        const xs = samples.get(id) ?? [];
        return xs.length ? mbps(ds.bytes, median(xs.map((x) => x.seconds))) : undefined;
      };
      lines.push(
        `bench:transfer — ${SIZE_MIB} MiB file, one seeder to one leecher over loopback, median of ${RUNS} ` +
          `run(s) per pair, leecher timed from launch to exit (download complete and verified), page cache warm, ` +
          `${os.cpus().length} cores (${os.cpus()[0]?.model ?? '?'})`,
        '',
        '| seeder → leecher | MB/s | wall s | leecher CPU s | leecher peak RSS MiB | seeder CPU s |',
        '| --- | ---: | ---: | ---: | ---: | ---: |',
      );
      for (const p of pairs) {
        const xs = samples.get(p.id) ?? [];
        const errs = errors.get(p.id) ?? [];
        if (!xs.length) {
          lines.push(`| ${p.label} | failed | | | | |`);
          continue;
        }
        const s = median(xs.map((x) => x.seconds));
        const note = errs.length ? ` (${errs.length} of ${RUNS} runs failed)` : '';
        lines.push(
          `| ${p.label}${note} | ${mbps(ds.bytes, s).toFixed(0)} | ${s.toFixed(2)} | ` +
            `${median(xs.map((x) => x.cpuSeconds)).toFixed(2)} | ${Math.max(...xs.map((x) => x.peakRssMiB)).toFixed(0)} | ` +
            `${median(xs.map((x) => x.seederCpuSeconds)).toFixed(2)} |`,
        );
      }
      const ratio = (a: string, b: string, what: string): void => {
        const x = speed(a);
        const y = speed(b);
        if (x !== undefined && y !== undefined) lines.push(`- ${what}: ${(x / y).toFixed(2)}× (${a} / ${b})`);
      };
      lines.push('');
      ratio('ours-ours-rc4', 'ours-ours', 'RC4 vs plain, rxtorrent → rxtorrent (target ≥ 0.80)');
      ratio('ours-ours-rc4-ts', 'ours-ours-rc4', 'TypeScript RC4 vs OpenSSL RC4, rxtorrent → rxtorrent');
      ratio(
        'ours-ours-header',
        'ours-ours',
        'MSE header + plaintext vs plain, rxtorrent → rxtorrent (target ≥ 0.95)',
      );
      ratio('lt-ours-rc4', 'lt-lt-rc4', 'our leecher vs libtorrent, same libtorrent seeder, RC4');
      ratio('lt-ours', 'lt-aria2c', 'our leecher vs aria2c, same libtorrent seeder (target ≥ 1.00)');
      ratio('ours-aria2c', 'lt-aria2c', 'our seeder vs libtorrent, same aria2c leecher');
      ratio('ours-ours', 'lt-aria2c', 'rxtorrent → rxtorrent vs the reference pair');
      const oursLeech = samples.get('lt-ours') ?? [];
      const ariaLeech = samples.get('lt-aria2c') ?? [];
      if (oursLeech.length && ariaLeech.length) {
        const rss = (xs: Sample[]): number => Math.max(...xs.map((x) => x.peakRssMiB));
        const cpu = (xs: Sample[]): number => median(xs.map((x) => x.cpuSeconds));
        lines.push(
          `- our leecher vs aria2c (libtorrent seeder): CPU ${(cpu(oursLeech) / cpu(ariaLeech)).toFixed(2)}×, ` +
            `peak RSS ${(rss(oursLeech) / rss(ariaLeech)).toFixed(2)}×`,
        );
      }
    }

    if (RSS_GIB > 0) {
      const pair = ALL_PAIRS[0];
      process.stderr.write(`bench:transfer: ${RSS_GIB} GiB file for the RSS check …\n`);
      const big = await makeDataset(path.join(work, 'rss'), RSS_GIB * 1024, trackerPort, storeDir);
      process.stderr.write(`bench:transfer: ${pair.label} on ${RSS_GIB} GiB … `);
      const bigTimeout = Number(process.env.BENCH_TIMEOUT_S ?? 60 + (RSS_GIB * 1024) / 5) * 1000;
      try {
        const s = await runPair(pair, big, work, storeDir, bigTimeout, `rss-${RSS_GIB}g`);
        process.stderr.write(`${s.peakRssMiB.toFixed(0)} MiB\n`);
        const mb = (s.peakRssMiB * 2 ** 20) / 1e6;
        lines.push(
          '',
          `${RSS_GIB} GiB, ${pair.label}, one run: leecher peak RSS ${s.peakRssMiB.toFixed(0)} MiB ` +
            `(${mb.toFixed(0)} MB; target < 150 MB: ${mb < 150 ? 'met' : 'NOT met'}), ` +
            `${mbps(big.bytes, s.seconds).toFixed(0)} MB/s, ${s.seconds.toFixed(1)} s, leecher CPU ${s.cpuSeconds.toFixed(1)} s`,
        );
      } catch (err) {
        failed++;
        process.stderr.write(`FAILED\n${(err as Error).message}\n`);
        lines.push('', `${RSS_GIB} GiB, ${pair.label}: failed (${(err as Error).message.split('\n')[0]})`);
      }
      fs.rmSync(big.dir, { recursive: true, force: true });
    }

    await stop(tracker.child);
    process.stdout.write(lines.join('\n') + '\n');
    if (failed) process.exitCode = 1;
  } finally {
    killAll();
    if (KEEP) process.stderr.write(`bench:transfer: kept ${work}\n`);
    else fs.rmSync(work, { recursive: true, force: true });
  }
}

main().catch((err: Error) => {
  process.stderr.write(`bench:transfer failed: ${err.message}\n`);
  killAll();
  process.exitCode = 1;
});
