/**
 * bench:rate — do --max-down and --max-up hold? One seeder and one leecher of ours on loopback; the
 * limit is set on one side, the other is unlimited. The rate is read from the limited process's own
 * event log (`Progress` events, one a second, carry the running byte totals) over a 10 s window that
 * starts 2 s after the first byte, so connection start-up is not counted. Target: within ±10%.
 *
 *   npm run bench:rate                     # 2M down, then 2M up
 *   BENCH_RATE=5M npm run bench:rate
 */
import { ChildProcess, spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { parseRate } from '../../src/core/token-bucket';

const ROOT = path.resolve(__dirname, '..', '..');
const CLI = path.join(ROOT, 'bin', 'rxtorrent.js');
const RATE = process.env.BENCH_RATE ?? '2M';
const WINDOW_S = 10;
const WARMUP_S = 2;

interface Progress {
  ts: string;
  type: string;
  downloaded?: number;
  uploaded?: number;
}

function readEvents(file: string): Progress[] {
  if (!fs.existsSync(file)) return [];
  return fs
    .readFileSync(file, 'utf8')
    .split('\n')
    .filter((l) => l.trim())
    .map((l) => JSON.parse(l) as Progress);
}

function waitFor(what: string, ms: number, test: () => boolean): Promise<void> {
  const deadline = Date.now() + ms;
  return new Promise((resolve, reject) => {
    const t = setInterval(() => {
      if (test()) {
        clearInterval(t);
        resolve();
      } else if (Date.now() > deadline) {
        clearInterval(t);
        reject(new Error(`timed out waiting for ${what}`));
      }
    }, 100);
  });
}

function start(args: string[], work: string): { child: ChildProcess; out: () => string } {
  let out = '';
  const child = spawn(CLI, args, { cwd: work, stdio: ['pipe', 'pipe', 'pipe'] });
  child.stdout?.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (out += d.toString()));
  return { child, out: () => out };
}

async function run(
  direction: 'down' | 'up',
  work: string,
  torrent: string,
  seedDir: string,
): Promise<string> {
  const limit = parseRate(RATE);
  const seedEvents = path.join(work, `${direction}-seed.jsonl`);
  const leechEvents = path.join(work, `${direction}-leech.jsonl`);
  const leechDir = path.join(work, `${direction}-leech`);
  fs.rmSync(leechDir, { recursive: true, force: true });
  const seeder = start(
    [
      '--events',
      seedEvents,
      'seed',
      '-f',
      torrent,
      '-o',
      seedDir,
      '-p',
      '0',
      '--bind',
      '127.0.0.1',
      '--peer',
      '127.0.0.1:1',
      ...(direction === 'up' ? ['--max-up', RATE] : []),
    ],
    work,
  );
  const procs = [seeder.child];
  try {
    await waitFor('the seeder', 30_000, () => /on port (\d+)/.test(seeder.out()));
    const port = Number(/on port (\d+)/.exec(seeder.out())?.[1]);
    const leecher = start(
      [
        '--events',
        leechEvents,
        'leech',
        '-f',
        torrent,
        '-o',
        leechDir,
        '-p',
        '0',
        '--bind',
        '127.0.0.1',
        '--peer',
        `127.0.0.1:${port}`,
        ...(direction === 'down' ? ['--max-down', RATE] : []),
      ],
      work,
    );
    procs.push(leecher.child);
    const file = direction === 'down' ? leechEvents : seedEvents;
    const field = direction === 'down' ? 'downloaded' : 'uploaded';
    const progress = (): Progress[] => readEvents(file).filter((e) => e.type === 'Progress');
    await waitFor('the first byte', 30_000, () => progress().some((e) => (e[field] ?? 0) > 0));
    const first = progress().find((e) => (e[field] ?? 0) > 0) as Progress;
    const t0 = Date.parse(first.ts) + WARMUP_S * 1000;
    const window = (): [Progress, Progress] | undefined => {
      const ps = progress();
      const a = ps.find((e) => Date.parse(e.ts) >= t0);
      const b = a && ps.find((e) => Date.parse(e.ts) >= Date.parse(a.ts) + WINDOW_S * 1000);
      return a && b ? [a, b] : undefined;
    };
    await waitFor('the 10 s window', (WARMUP_S + WINDOW_S + 10) * 1000, () => window() !== undefined);
    const [a, b] = window() as [Progress, Progress];
    const secs = (Date.parse(b.ts) - Date.parse(a.ts)) / 1000;
    const rate = ((b[field] ?? 0) - (a[field] ?? 0)) / secs;
    const err = ((rate - limit) / limit) * 100;
    return `| --max-${direction} ${RATE} | ${limit} | ${Math.round(rate)} | ${secs.toFixed(1)} | ${err >= 0 ? '+' : ''}${err.toFixed(1)}% | ${Math.abs(err) <= 10 ? 'yes' : 'NO'} |`;
  } finally {
    for (const p of procs) if (p.exitCode === null) p.kill('SIGKILL');
  }
}

async function main(): Promise<void> {
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'rxt-bench-rate-'));
  try {
    const seedDir = path.join(work, 'seed');
    fs.mkdirSync(seedDir);
    const bytes = Math.max(64, Math.ceil((parseRate(RATE) * (WARMUP_S + WINDOW_S + 10)) / 2 ** 20)) * 2 ** 20;
    spawnSync('sh', ['-c', `head -c ${bytes} /dev/urandom > '${path.join(seedDir, 'data.bin')}'`]);
    const torrent = path.join(work, 'data.torrent');
    const c = spawnSync(
      CLI,
      ['create', '-f', path.join(seedDir, 'data.bin'), '-o', torrent, '--no-publish'],
      { encoding: 'utf8' },
    );
    if (c.status !== 0) throw new Error(`create failed: ${c.stderr}`);
    const rows = [await run('down', work, torrent, seedDir), await run('up', work, torrent, seedDir)];
    process.stdout.write(
      [
        `bench:rate — one seeder → one leecher of ours on loopback, limit on one side, ${WINDOW_S} s window after ${WARMUP_S} s warm-up, read from the limited process's Progress events`,
        '',
        '| limit | bytes/s asked | bytes/s measured | window s | error | within ±10% |',
        '| --- | ---: | ---: | ---: | ---: | :---: |',
        ...rows,
      ].join('\n') + '\n',
    );
  } finally {
    fs.rmSync(work, { recursive: true, force: true });
  }
}

main().catch((err: Error) => {
  process.stderr.write(`bench:rate failed: ${err.message}\n`);
  process.exitCode = 1;
});
