/**
 * bench:serve — what one `rxtorrent serve` costs and gives compared with the old way (one `seed` per file):
 *
 *   (a) 4 torrents × 256 MiB to 4 aria2c leechers started together, each fetching a different torrent:
 *       from one serve process vs from 4 `rxtorrent seed` processes; aggregate MB/s (4 × size / time until
 *       the last leecher exits), in the same run, alternating, median of BENCH_RUNS;
 *   (b) serve holding 200 seeded torrents: RSS, and CPU while idle over BENCH_IDLE_S seconds (% of a core).
 *
 *   npm run bench:serve
 *   BENCH_SERVE_MIB=64 BENCH_RUNS=3 BENCH_TORRENTS=200 BENCH_IDLE_S=30 npm run bench:serve
 *   BENCH_PARTS=b npm run bench:serve                   # only (b)
 *
 * Both setups verify their data before the timed part (serve checks at start; the seeds run with
 * --verify), and announce to one `rxtorrent tracker` on loopback, which aria2c needs to find them.
 * Prints a markdown table; it does not write BENCHMARKS.md.
 */
import { spawnSync } from 'node:child_process';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { measure, median, procStats } from '../support/measure';
import { Daemon, freePort, startDaemon, stopDaemon } from '../support/processes';
import { buildMetainfo } from '../../src/protocol/metainfo';

const MIB = Number(process.env.BENCH_SERVE_MIB ?? 256);
const RUNS = Number(process.env.BENCH_RUNS ?? 2);
const TORRENTS = Number(process.env.BENCH_TORRENTS ?? 200);
const IDLE_S = Number(process.env.BENCH_IDLE_S ?? 30);
/** `BENCH_PARTS=b` runs only part (b). */
const PARTS = (process.env.BENCH_PARTS ?? 'a,b').split(',');
const ROOT = path.resolve(__dirname, '..', '..');
const CLI = process.env.BENCH_CLI ?? path.join(ROOT, 'bin', 'rxtorrent.js'); // e.g. a wrapper that profiles

function pieceHashes(data: Buffer, pieceLength: number): Buffer {
  const out: Buffer[] = [];
  for (let off = 0; off < data.length; off += pieceLength)
    out.push(
      crypto
        .createHash('sha1')
        .update(data.subarray(off, off + pieceLength))
        .digest(),
    );
  return Buffer.concat(out);
}

/** A file of `bytes` random bytes in `dataDir` and its .torrent in `storeDir` (512 KiB pieces). */
function makeTorrent(
  name: string,
  bytes: number,
  dataDir: string,
  storeDir: string,
  tracker: string,
): string {
  const file = path.join(dataDir, name);
  const fd = fs.openSync(file, 'w');
  const chunk = 8 * 1024 * 1024;
  const hashes: Buffer[] = [];
  for (let off = 0; off < bytes; off += chunk) {
    const part = crypto.randomBytes(Math.min(chunk, bytes - off));
    fs.writeSync(fd, part);
    hashes.push(pieceHashes(part, 512 * 1024));
  }
  fs.closeSync(fd);
  const torrent = path.join(storeDir, `${name}.torrent`);
  fs.writeFileSync(
    torrent,
    buildMetainfo({
      name,
      pieceLength: 512 * 1024,
      pieces: Buffer.concat(hashes),
      files: [{ path: [name], length: bytes }],
      multiFile: false,
      announceList: [[`http://${tracker}/announce`]],
    }),
  );
  return torrent;
}

function eventsOf(file: string): { type: string; have?: number; pieces?: number }[] {
  if (!fs.existsSync(file)) return [];
  return fs
    .readFileSync(file, 'utf8')
    .split('\n')
    .filter((l) => l.endsWith('}'))
    .map((l) => JSON.parse(l) as { type: string; have?: number; pieces?: number });
}

async function untilSeeding(eventsFile: string, n: number, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (eventsOf(eventsFile).filter((e) => e.type === 'CheckFinished' && e.have === e.pieces).length < n) {
    if (Date.now() > deadline) throw new Error(`${n} torrents not seeding after ${timeoutMs / 1000} s`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

async function startServe(
  store: string,
  data: string,
  events: string,
  extra: string[] = [],
): Promise<Daemon> {
  fs.rmSync(events, { force: true });
  const args = ['--events', events, '--store-dir', store, 'serve', '-o', data, '-p', '0', '--bind', '127.0.0.1', '--no-console', '--rpc-port', '0', ...extra]; // prettier-ignore
  return startDaemon(CLI, args, /on port (\d+);/, 120_000);
}

async function aria2c(torrent: string, out: string): Promise<number> {
  const args = ['--no-conf=true', '--enable-dht=false', '--enable-dht6=false', '--bt-enable-lpd=false', '--enable-peer-exchange=false', '--disable-ipv6=true', '--seed-time=0', '--file-allocation=falloc', '--bt-stop-timeout=30', `--listen-port=${await freePort()}`, '--console-log-level=warn', '--summary-interval=0', '--show-console-readout=false', `--dir=${out}`, torrent]; // prettier-ignore
  const m = await measure('aria2c', args, { timeoutMs: 600_000 });
  if (m.code !== 0) throw new Error(`aria2c exited ${m.code}: ${m.stderr.slice(-500)}`);
  return m.seconds;
}

/** Four aria2c leechers at once, one per torrent; seconds until the last one is done. */
async function fourLeechers(torrents: string[], work: string): Promise<number> {
  const started = process.hrtime.bigint();
  await Promise.all(
    torrents.map((t, i) => {
      const out = path.join(work, `out-${i}`);
      fs.rmSync(out, { recursive: true, force: true });
      fs.mkdirSync(out);
      return aria2c(t, out);
    }),
  );
  return Number(process.hrtime.bigint() - started) / 1e9;
}

async function partA(work: string, tracker: string): Promise<string[]> {
  const store = path.join(work, 'a-store');
  const data = path.join(work, 'a-data');
  fs.mkdirSync(store, { recursive: true });
  fs.mkdirSync(data, { recursive: true });
  const torrents = [0, 1, 2, 3].map((i) =>
    makeTorrent(`big${i}.bin`, MIB * 1024 * 1024, data, store, tracker),
  );
  spawnSync('sync');
  const bytes = 4 * MIB * 1024 * 1024;
  const samples: Record<'serve' | 'seeds', number[]> = { serve: [], seeds: [] };
  for (let run = 0; run < RUNS; run++) {
    for (const mode of ['serve', 'seeds'] as const) {
      let daemons: Daemon[];
      if (mode === 'serve') {
        const events = path.join(work, 'a-serve.jsonl');
        daemons = [await startServe(store, data, events)];
        await untilSeeding(events, 4, 300_000);
      } else {
        daemons = await Promise.all(
          torrents.map((t) => startDaemon(CLI, ['seed', '-f', t, '-o', data, '-p', '0', '--bind', '127.0.0.1', '--verify'], /on port (\d+);/, 300_000)), // prettier-ignore
        );
      }
      try {
        const secs = await fourLeechers(torrents, work);
        samples[mode].push(secs);
        process.stderr.write(`bench:serve: (a) ${mode}, run ${run + 1}/${RUNS} … ${(bytes / 1e6 / secs).toFixed(0)} MB/s in ${secs.toFixed(2)} s\n`); // prettier-ignore
      } finally {
        await Promise.all(daemons.map((d) => stopDaemon(d.child)));
      }
    }
  }
  const rate = (m: 'serve' | 'seeds'): number => bytes / 1e6 / median(samples[m]);
  return [
    `### (a) 4 × ${MIB} MiB to 4 aria2c leechers at once (median of ${RUNS})`,
    '',
    '| seeders | aggregate MB/s | wall s |',
    '| --- | ---: | ---: |',
    `| one rxtorrent serve | ${rate('serve').toFixed(0)} | ${median(samples.serve).toFixed(2)} |`,
    `| four rxtorrent seed processes | ${rate('seeds').toFixed(0)} | ${median(samples.seeds).toFixed(2)} |`,
    '',
    `- serve vs separate seeds (target ≥ 1.00): ${(rate('serve') / rate('seeds')).toFixed(2)}×`,
    '',
  ];
}

async function partB(work: string, tracker: string): Promise<string[]> {
  const store = path.join(work, 'b-store');
  const data = path.join(work, 'b-data');
  fs.mkdirSync(store, { recursive: true });
  fs.mkdirSync(data, { recursive: true });
  for (let i = 0; i < TORRENTS; i++) makeTorrent(`small${String(i).padStart(3, '0')}.bin`, 1024 * 1024 + i * 997, data, store, tracker); // prettier-ignore
  const events = path.join(work, 'b-serve.jsonl');
  const d = await startServe(store, data, events);
  try {
    await untilSeeding(events, TORRENTS, 600_000);
    const pid = d.child.pid as number;
    // Start-up work trails the last check (200 resume files written, its garbage collected): idle is after.
    await new Promise((r) => setTimeout(r, 15_000));
    const cpu0 = procStats(pid)?.cpu ?? 0;
    const t0 = Date.now();
    await new Promise((r) => setTimeout(r, IDLE_S * 1000));
    const cpu1 = procStats(pid)?.cpu ?? 0;
    const idlePct = ((cpu1 - cpu0) / ((Date.now() - t0) / 1000)) * 100;
    const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
    const rssMiB = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0) / 1024;
    const hwmMiB = Number(/VmHWM:\s+(\d+)/.exec(status)?.[1] ?? 0) / 1024;
    return [
      `### (b) serve holding ${TORRENTS} seeded torrents (1 MiB each), idle for ${IDLE_S} s from 15 s after the last check`,
      '',
      '| RSS MiB (MB) | peak RSS MiB | idle CPU, % of a core |',
      '| ---: | ---: | ---: |',
      `| ${rssMiB.toFixed(1)} (${((rssMiB * 1048576) / 1e6).toFixed(0)}) | ${hwmMiB.toFixed(1)} | ${idlePct.toFixed(2)} |`,
      '',
      `- targets: RSS < 150 MB (${rssMiB * 1.048576 < 150 ? 'met' : 'NOT met'}), idle CPU < 1% (${idlePct < 1 ? 'met' : 'NOT met'})`,
      '',
    ];
  } finally {
    await stopDaemon(d.child);
  }
}

async function main(): Promise<void> {
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'rxt-bench-serve-'));
  const trackerPort = await freePort();
  const tracker = await startDaemon(CLI, ['tracker', '-p', String(trackerPort), '--host', '127.0.0.1', '--no-console'], /listening/, 30_000); // prettier-ignore
  try {
    const lines = [
      `bench:serve — ${new Date().toISOString()}, Node ${process.version}, ${os.cpus().length} × ${os.cpus()[0]?.model ?? 'cpu'}`,
      '',
      ...(PARTS.includes('a') ? await partA(work, `127.0.0.1:${trackerPort}`) : []),
      ...(PARTS.includes('b') ? await partB(work, `127.0.0.1:${trackerPort}`) : []),
    ];
    process.stdout.write(lines.join('\n') + '\n');
  } finally {
    await stopDaemon(tracker.child);
    if (process.env.BENCH_KEEP !== '1') fs.rmSync(work, { recursive: true, force: true });
  }
}

main().catch((err: Error) => {
  process.stderr.write(`bench:serve failed: ${err.message}\n`);
  process.exit(1);
});
