/**
 * bench:create — `rxtorrent create` against `mktorrent -t 2` in the same run, at several file sizes (same
 * file, same page cache, same 512 KiB pieces): median of N alternating runs each, with CPU and peak RSS.
 *
 *   npm run bench:create                                # 256 MiB, 1 GiB and 2 GiB, 7 runs each
 *   BENCH_SIZES_MIB=256,4096 BENCH_RUNS=7 npm run bench:create
 *
 * When the environment sets NODE_EXTRA_CA_CERTS (this sandbox does, for its proxy), Node 20 parses the
 * whole CA bundle at every start, before any of our code runs (~0.4 G instructions, 40-50 ms here); a
 * second row then shows rxtorrent without it, as on a machine that does not set it.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { measure, mbps, median } from '../support/measure';

const SIZES_MIB = (process.env.BENCH_SIZES_MIB ?? process.env.BENCH_SIZE_MIB ?? '256,1024,2048')
  .split(',')
  .map(Number);
const RUNS = Number(process.env.BENCH_RUNS ?? 7);
const ROOT = path.resolve(__dirname, '..', '..');

interface Run {
  s: number;
  rss: number;
  cpu: number;
}

interface Tool {
  name: string;
  run: (file: string, dir: string) => Promise<Run>;
}

async function timed(cmd: string, args: string[], env?: NodeJS.ProcessEnv): Promise<Run> {
  const r = await measure(cmd, args, { env });
  if (r.code !== 0) throw new Error(`${path.basename(cmd)} ${args[1] ?? ''} failed: ${r.stderr}`);
  return { s: r.seconds, rss: r.peakRssMiB, cpu: r.cpuSeconds };
}

function tools(): Tool[] {
  const ours = (env?: NodeJS.ProcessEnv) => (file: string, dir: string) =>
    timed(
      process.execPath,
      [
        path.join(ROOT, 'bin', 'rxtorrent.js'),
        'create',
        '-f',
        file,
        '-o',
        path.join(dir, 'ours.torrent'),
        '--no-publish',
      ],
      env,
    );
  const list: Tool[] = [
    { name: 'rxtorrent create', run: ours() },
    {
      name: 'mktorrent -t 2',
      run: (file, dir) => {
        fs.rmSync(path.join(dir, 'mk.torrent'), { force: true });
        return timed('mktorrent', ['-t', '2', '-l', '19', '-o', path.join(dir, 'mk.torrent'), file]);
      },
    },
  ];
  if (process.env.NODE_EXTRA_CA_CERTS) {
    // measure() merges env into process.env, so the variable is removed by setting it undefined.
    list.push({ name: 'rxtorrent, no NODE_EXTRA_CA_CERTS', run: ours({ NODE_EXTRA_CA_CERTS: undefined }) });
  }
  return list;
}

async function benchSize(sizeMiB: number, dir: string): Promise<string[]> {
  const file = path.join(dir, `data-${sizeMiB}.bin`);
  const bytes = sizeMiB * 1024 * 1024;
  execFileSync('sh', [
    '-c',
    `head -c ${bytes} /dev/urandom > '${file}' && sync && cat '${file}' > /dev/null`,
  ]);
  const list = tools();
  const runs = list.map(() => [] as Run[]);
  // Re-read before every run: this VM reclaims cold page cache (kdamond), and a run that reads from
  // disk measures the disk, not the tool.
  const warm = (): Buffer => execFileSync('sh', ['-c', `cat '${file}' > /dev/null`]);
  for (let i = 0; i < RUNS; i++)
    for (const [k, t] of list.entries()) {
      warm();
      runs[k].push(await t.run(file, dir));
    }
  fs.rmSync(file, { force: true });
  const wall = runs.map((r) => median(r.map((x) => x.s)));
  const rows = list.map(
    (t, k) =>
      `| ${sizeMiB} MiB | ${t.name} | ${mbps(bytes, wall[k]).toFixed(0)} | ${wall[k].toFixed(3)} | ${median(runs[k].map((r) => r.cpu)).toFixed(2)} | ${Math.max(...runs[k].map((r) => r.rss)).toFixed(0)} |`,
  );
  const ratios = list
    .map((t, k) => (k === 1 ? '' : `${t.name} ${(wall[1] / wall[k]).toFixed(2)}×`))
    .filter(Boolean)
    .join(', ');
  return [...rows, `| | ratio to mktorrent (throughput): ${ratios} | | | | |`];
}

async function main(): Promise<void> {
  if (spawnSync('sh', ['-c', 'command -v mktorrent'], { stdio: 'ignore' }).status !== 0) {
    throw new Error('mktorrent is missing: apt-get install -y mktorrent');
  }
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rxt-bench-create-'));
  const load = (): string =>
    os
      .loadavg()
      .map((l) => l.toFixed(2))
      .join(' ');
  try {
    const loadBefore = load();
    const rows: string[] = [];
    for (const size of SIZES_MIB) rows.push(...(await benchSize(size, dir)));
    const lines = [
      `bench:create — 512 KiB pieces, median of ${RUNS} alternating runs per size, page cache warm, ${os.cpus().length} cores (${os.cpus()[0]?.model ?? '?'}); load average before ${loadBefore}, after ${load()}`,
      '',
      '| size | tool | MB/s | wall s | CPU s | peak RSS MiB |',
      '| --- | --- | ---: | ---: | ---: | ---: |',
      ...rows,
    ];
    process.stdout.write(lines.join('\n') + '\n');
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((err: Error) => {
  process.stderr.write(`bench:create failed: ${err.message}\n`);
  process.exitCode = 1;
});
