/**
 * bench:transfer — seeders to leechers over loopback, one file, all pairs in one run (ids in pairs.ts):
 * ours, python3-libtorrent and aria2c as leechers, ours and libtorrent as seeders, plain and encrypted,
 * one seeder to one leecher and one seeder to three leechers started together. Prints a markdown
 * table and the issue-14 ratios; it does not write BENCHMARKS.md.
 *
 *   npm run bench:transfer                                     # 1 GiB, 1 run per pair (~6 min)
 *   BENCH_SIZE_MIB=128 BENCH_RUNS=3 npm run bench:transfer
 *   BENCH_PAIRS=lt-ours,lt-lt BENCH_RUNS=5 npm run bench:transfer  # some pairs only; runs alternate
 *   BENCH_RSS_GIB=4 npm run bench:transfer                     # plus one leecher on a 4 GiB file
 *
 * Each leecher is timed from launch to its exit (= download complete and verified), with its CPU
 * seconds (user + sys, all threads) and peak RSS (polled from /proc, see ../support/measure.ts); the
 * seeder's CPU seconds over the same window too. With three leechers the time is launch to the last
 * exit, the CPU is the three leechers' sum and the RSS the largest. Every output file is compared with
 * the source (SHA-1). Seeders are announced through an `rxtorrent tracker` on loopback (aria2c cannot be
 * handed a peer directly); our and libtorrent's leechers are also given the seeder directly.
 *
 * Other knobs: BENCH_RSS_PAIR (pair of the RSS run; default lt-ours, our leecher fed by libtorrent),
 * BENCH_TIMEOUT_S (per leecher run; default 60 s + 1 s per 5 MiB), BENCH_EVENTS_DIR (our processes
 * write `--events` JSONL there), BENCH_KEEP=1 (keep the temporary folder), BENCH_LT_SEED_MODE=0
 * (libtorrent checks the file before it is ready, like our seeder, instead of seed mode, where it
 * hashes each piece on its first request, inside the timed window).
 *
 * Launch-to-exit includes each leecher's start-up: aria2c works on a 1 s tick, so it spends about 2 s
 * before its first request (announce, then connect); the libtorrent leecher is a Python script. Our
 * processes run as users run them, through the bin's shebang (its V8 and OpenSSL flags), except
 * ours-ours-rc4-ts.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { mbps, median } from '../support/measure';
import { startDaemon, stopDaemon } from '../support/processes';
import { ALL_PAIRS, Pair, RATIOS } from './pairs';
import { CLI, Dataset, makeDataset, ourEnv, preflight, runPair, Sample } from './transfer-run';

const SIZE_MIB = Number(process.env.BENCH_SIZE_MIB ?? 1024);
const RUNS = Number(process.env.BENCH_RUNS ?? 1);
const RSS_GIB = Number(process.env.BENCH_RSS_GIB ?? 0);
const RSS_PAIR = process.env.BENCH_RSS_PAIR ?? 'lt-ours';
const KEEP = process.env.BENCH_KEEP === '1';
const DEFAULT_PAIRS = ALL_PAIRS.map((p) => p.id).filter((id) => id !== 'ours-ours-rc4-ts');

const gib = (bytes: number): number => bytes / 2 ** 30;
/** Leecher CPU seconds per GiB downloaded (each of N leechers downloads the whole file). */
const cpuPerGiB = (p: Pair, cpu: number, bytes: number): number => cpu / (gib(bytes) * (p.leechers ?? 1));

function table(pairs: Pair[], samples: Map<string, Sample[]>, errors: Map<string, string[]>, ds: Dataset) {
  const lines = [
    '| seeder → leecher | MB/s | wall s | leecher CPU s | leecher CPU s/GiB | leecher peak RSS MiB | seeder CPU s |',
    '| --- | ---: | ---: | ---: | ---: | ---: | ---: |',
  ];
  for (const p of pairs) {
    const xs = samples.get(p.id) ?? [];
    const errs = errors.get(p.id) ?? [];
    if (!xs.length) {
      lines.push(`| ${p.label} | failed | | | | | |`);
      continue;
    }
    const s = median(xs.map((x) => x.seconds));
    const cpu = median(xs.map((x) => x.cpuSeconds));
    const note = errs.length ? ` (${errs.length} of ${RUNS} runs failed)` : '';
    lines.push(
      `| ${p.label}${note} | ${mbps(ds.bytes * (p.leechers ?? 1), s).toFixed(0)} | ${s.toFixed(2)} | ` +
        `${cpu.toFixed(2)} | ${cpuPerGiB(p, cpu, ds.bytes).toFixed(2)} | ` +
        `${Math.max(...xs.map((x) => x.peakRssMiB)).toFixed(0)} | ` +
        `${median(xs.map((x) => x.seederCpuSeconds)).toFixed(2)} |`,
    );
  }
  return lines;
}

function ratios(samples: Map<string, Sample[]>): string[] {
  const wall = (id: string): number | undefined => {
    const xs = samples.get(id) ?? [];
    return xs.length ? median(xs.map((x) => x.seconds)) : undefined;
  };
  const lines: string[] = [];
  for (const [a, b, what] of RATIOS) {
    const x = wall(a);
    const y = wall(b);
    // Speed ratio = inverse wall-time ratio (the same bytes on both sides).
    if (x !== undefined && y !== undefined) lines.push(`- ${what}: ${(y / x).toFixed(2)}× (${a} / ${b})`);
  }
  const cpu = (id: string): number | undefined => {
    const xs = samples.get(id) ?? [];
    return xs.length ? median(xs.map((x) => x.cpuSeconds)) : undefined;
  };
  for (const ref of ['lt-lt', 'lt-aria2c']) {
    const ours = cpu('lt-ours');
    const theirs = cpu(ref);
    if (ours !== undefined && theirs !== undefined) {
      lines.push(
        `- our leecher's CPU vs ${ref}'s leecher (same libtorrent seeder): ${(ours / theirs).toFixed(2)}×`,
      );
    }
  }
  return lines;
}

async function rssRun(trackerPort: number, work: string, storeDir: string): Promise<string[]> {
  const pair = ALL_PAIRS.find((p) => p.id === RSS_PAIR);
  if (!pair) throw new Error(`unknown BENCH_RSS_PAIR ${RSS_PAIR}`);
  process.stderr.write(`bench:transfer: ${RSS_GIB} GiB file for the RSS check …\n`);
  const big = await makeDataset(path.join(work, 'rss'), RSS_GIB * 1024, trackerPort, storeDir);
  process.stderr.write(`bench:transfer: ${pair.label} on ${RSS_GIB} GiB … `);
  const timeoutMs = Number(process.env.BENCH_TIMEOUT_S ?? 60 + (RSS_GIB * 1024) / 5) * 1000;
  try {
    const s = await runPair(pair, big, work, storeDir, timeoutMs, `rss-${RSS_GIB}g`);
    process.stderr.write(`${s.peakRssMiB.toFixed(0)} MiB\n`);
    const mb = (s.peakRssMiB * 2 ** 20) / 1e6;
    const perGiB = cpuPerGiB(pair, s.cpuSeconds, big.bytes);
    return [
      '',
      `${RSS_GIB} GiB, ${pair.label}, one run: leecher peak RSS ${s.peakRssMiB.toFixed(0)} MiB ` +
        `(${mb.toFixed(0)} MB; issue 14 (3) target < 80 MB: ${mb < 80 ? 'met' : 'NOT met'}), ` +
        `leecher CPU ${s.cpuSeconds.toFixed(1)} s = ${perGiB.toFixed(2)} s/GiB (target ≤ 2.0: ` +
        `${perGiB <= 2 ? 'met' : 'NOT met'}), ${mbps(big.bytes, s.seconds).toFixed(0)} MB/s, ${s.seconds.toFixed(1)} s`,
    ];
  } catch (err) {
    process.stderr.write(`FAILED\n${(err as Error).message}\n`);
    process.exitCode = 1;
    return ['', `${RSS_GIB} GiB, ${pair.label}: failed (${(err as Error).message.split('\n')[0]})`];
  } finally {
    fs.rmSync(big.dir, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  preflight();
  const wanted = (process.env.BENCH_PAIRS ?? DEFAULT_PAIRS.join(','))
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  const unknown = wanted.filter((id) => !ALL_PAIRS.some((p) => p.id === id));
  if (unknown.length) {
    throw new Error(`unknown BENCH_PAIRS ${unknown.join(',')}; ids: ${ALL_PAIRS.map((p) => p.id).join(' ')}`);
  }
  const pairs = ALL_PAIRS.filter((p) => wanted.includes(p.id));
  const timeoutMs = Number(process.env.BENCH_TIMEOUT_S ?? 60 + SIZE_MIB / 5) * 1000;
  if (process.env.BENCH_EVENTS_DIR) fs.mkdirSync(process.env.BENCH_EVENTS_DIR, { recursive: true });

  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'rxt-bench-transfer-'));
  const storeDir = path.join(work, 'store');
  fs.mkdirSync(storeDir);
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
    if (pairs.length) {
      const samples = new Map<string, Sample[]>(pairs.map((p) => [p.id, []]));
      const errors = new Map<string, string[]>(pairs.map((p) => [p.id, []]));
      const ds = await makeDataset(path.join(work, 'src'), SIZE_MIB, trackerPort, storeDir);
      for (let run = 1; run <= RUNS; run++) {
        for (const pair of pairs) {
          process.stderr.write(`bench:transfer: ${pair.label}, run ${run}/${RUNS} … `);
          try {
            const s = await runPair(pair, ds, work, storeDir, timeoutMs, `${pair.id}-${run}`);
            samples.get(pair.id)?.push(s);
            process.stderr.write(
              `${mbps(ds.bytes * (pair.leechers ?? 1), s.seconds).toFixed(0)} MB/s in ${s.seconds.toFixed(2)} s, ` +
                `leecher CPU ${s.cpuSeconds.toFixed(2)} s\n`,
            );
          } catch (err) {
            process.exitCode = 1;
            errors.get(pair.id)?.push((err as Error).message);
            process.stderr.write(`FAILED\n${(err as Error).message}\n`);
          }
        }
      }
      fs.rmSync(ds.dir, { recursive: true, force: true });
      lines.push(
        `bench:transfer — ${SIZE_MIB} MiB file over loopback, median of ${RUNS} run(s) per pair (runs ` +
          `alternate between pairs), leechers timed from launch to exit (download complete and verified), ` +
          `page cache warm, ${os.cpus().length} cores (${os.cpus()[0]?.model ?? '?'}); MB/s counts every ` +
          `leecher's bytes, CPU s/GiB is per leecher`,
        '',
        ...table(pairs, samples, errors, ds),
        '',
        ...ratios(samples),
      );
    }
    if (RSS_GIB > 0) lines.push(...(await rssRun(trackerPort, work, storeDir)));
    await stopDaemon(tracker.child);
    process.stdout.write(lines.join('\n') + '\n');
  } finally {
    if (KEEP) process.stderr.write(`bench:transfer: kept ${work}\n`);
    else fs.rmSync(work, { recursive: true, force: true });
  }
}

main().catch((err: Error) => {
  process.stderr.write(`bench:transfer failed: ${err.message}\n`);
  process.exitCode = 1;
});
