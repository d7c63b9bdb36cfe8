/**
 * bench:create — hashing throughput of `rxtorrent create` on a 1 GiB file against `mktorrent -t 2` in the
 * same run (same file, same page cache, same piece length), median of N alternating runs, with peak RSS.
 *
 *   npm run bench:create               # 1 GiB, 3 runs each
 *   BENCH_SIZE_MIB=256 BENCH_RUNS=5 npm run bench:create
 */
import { execFileSync, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { measure, mbps, median } from '../support/measure';

const SIZE_MIB = Number(process.env.BENCH_SIZE_MIB ?? 1024);
const RUNS = Number(process.env.BENCH_RUNS ?? 3);
const ROOT = path.resolve(__dirname, '..', '..');

async function main(): Promise<void> {
  if (spawnSync('sh', ['-c', 'command -v mktorrent'], { stdio: 'ignore' }).status !== 0) {
    throw new Error('mktorrent is missing: apt-get install -y mktorrent');
  }
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rxt-bench-create-'));
  try {
    const file = path.join(dir, 'data.bin');
    const bytes = SIZE_MIB * 1024 * 1024;
    execFileSync('sh', [
      '-c',
      `head -c ${bytes} /dev/urandom > '${file}' && sync && cat '${file}' > /dev/null`,
    ]);
    const ours: { s: number; rss: number; cpu: number }[] = [];
    const theirs: { s: number; rss: number; cpu: number }[] = [];
    for (let i = 0; i < RUNS; i++) {
      const a = await measure(process.execPath, [
        path.join(ROOT, 'bin', 'rxtorrent.js'),
        'create',
        '-f',
        file,
        '-o',
        path.join(dir, 'ours.torrent'),
        '--no-publish',
      ]);
      if (a.code !== 0) throw new Error(`rxtorrent create failed: ${a.stderr}`);
      ours.push({ s: a.seconds, rss: a.peakRssMiB, cpu: a.cpuSeconds });
      fs.rmSync(path.join(dir, 'mk.torrent'), { force: true });
      const b = await measure('mktorrent', ['-t', '2', '-l', '19', '-o', path.join(dir, 'mk.torrent'), file]);
      if (b.code !== 0) throw new Error(`mktorrent failed: ${b.stderr}`);
      theirs.push({ s: b.seconds, rss: b.peakRssMiB, cpu: b.cpuSeconds });
    }
    const oursS = median(ours.map((r) => r.s));
    const theirS = median(theirs.map((r) => r.s));
    const row = (name: string, s: number, runs: { rss: number; cpu: number }[]) =>
      `| ${name} | ${mbps(bytes, s).toFixed(0)} | ${s.toFixed(2)} | ${median(runs.map((r) => r.cpu)).toFixed(2)} | ${Math.max(...runs.map((r) => r.rss)).toFixed(0)} |`;
    const lines = [
      `bench:create — ${SIZE_MIB} MiB file, 512 KiB pieces, median of ${RUNS} alternating runs, page cache warm, ${os.cpus().length} cores (${os.cpus()[0]?.model ?? '?'})`,
      '',
      '| tool | MB/s | wall s | CPU s | peak RSS MiB |',
      '| --- | ---: | ---: | ---: | ---: |',
      row('rxtorrent create', oursS, ours),
      row('mktorrent -t 2', theirS, theirs),
      '',
      `ratio rxtorrent / mktorrent: ${(theirS / oursS).toFixed(2)}× the throughput`,
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
