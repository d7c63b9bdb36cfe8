/**
 * bench:magnet — magnet start-up time on loopback: from launching a leecher with only a magnet link
 * (info-hash and `x.pe` of one seeder) to the verified metadata, and to the first payload byte. Our
 * leecher (`rxtorrent leech -f 'magnet:?…'`) against python3-libtorrent's (test/support/lt-magnet.py),
 * each fed by our seeder and by a libtorrent seeder, in one run, alternating, RUNS times per pair.
 *
 *   npm run bench:magnet
 *   BENCH_SIZE_MIB=64 BENCH_PIECE_KIB=16 BENCH_RUNS=9 npm run bench:magnet
 *
 * Defaults: 256 MiB in 64 KiB pieces, so the info dictionary is ~80 KiB (5 metadata pieces of 16 KiB),
 * 7 runs per pair; medians (min–max) are printed as a markdown table. Launch time counts: our figure
 * includes starting Node and loading the CLI, libtorrent's starting Python and importing the bindings
 * (about the same order), so "launch → up" (ours: the magnet added, `MetadataFetchStarted`; libtorrent:
 * the session made and the link added) is shown apart, and "up → metadata" and "metadata → first byte"
 * leave launching out. Each leecher is stopped after
 * its first byte. Times: our leecher's `--events` log (`MetadataComplete`, `FirstBlockReceived`),
 * libtorrent's script output (status polled every 2 ms); the same wall clock as the launch time here.
 * BENCH_KEEP=1 keeps the temporary folder. It does not write BENCHMARKS.md.
 */
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { median } from '../support/measure';
import { startDaemon, stopDaemon, tail, track } from '../support/processes';

const SIZE_MIB = Number(process.env.BENCH_SIZE_MIB ?? 256);
const PIECE_KIB = Number(process.env.BENCH_PIECE_KIB ?? 64);
const RUNS = Number(process.env.BENCH_RUNS ?? 7);
const KEEP = process.env.BENCH_KEEP === '1';
const ROOT = path.resolve(__dirname, '..', '..');
const CLI = path.join(ROOT, 'bin', 'rxtorrent.js');
const LT_PYTHON = '/usr/bin/python3';
const LT_SEED = path.join(ROOT, 'bench', 'transfer', 'lt_seed.py');
const LT_MAGNET = path.join(ROOT, 'test', 'support', 'lt-magnet.py');
const RUN_TIMEOUT_MS = 30_000;
const ENV = { ...process.env, RXTORRENT_NO_LSD: '1', RXTORRENT_NO_DHT: '1' };

type Kind = 'ours' | 'lt';
interface Sample {
  /** From launch to the client being up (listening, the link added). */
  upMs: number;
  metadataMs: number;
  firstByteMs: number;
}

/** Writes pseudo-random content (fast, incompressible enough) and makes its .torrent with our create. */
function dataset(dir: string): { torrent: string; infoHash: string; metadataBytes: number } {
  const file = path.join(dir, 'seed', 'magnet.bin');
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const fd = fs.openSync(file, 'w');
  const chunk = Buffer.alloc(1024 * 1024);
  let x = 0x9e3779b9;
  for (let i = 0; i < SIZE_MIB; i++) {
    for (let o = 0; o < chunk.length; o += 4) {
      x ^= x << 13;
      x ^= x >>> 17;
      x ^= x << 5;
      chunk.writeUInt32LE(x >>> 0, o);
    }
    fs.writeSync(fd, chunk);
  }
  fs.closeSync(fd);
  const torrent = path.join(dir, 'magnet.torrent');
  const args = [CLI, 'create', '-f', file, '-o', torrent, '--no-publish', '--piece-length', `${PIECE_KIB}K`];
  const r = spawnSync(process.execPath, args, { env: ENV, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`create failed: ${r.stderr}`);
  const infoHash = /info-hash: ([0-9a-f]{40})/.exec(r.stdout)?.[1];
  if (!infoHash) throw new Error(`no info-hash in: ${r.stdout}`);
  const info = spawnSync(process.execPath, [CLI, 'info', torrent, '--json'], { env: ENV, encoding: 'utf8' });
  const pieces = (JSON.parse(info.stdout) as { pieces: number }).pieces;
  return { torrent, infoHash, metadataBytes: pieces * 20 };
}

async function seeder(
  kind: Kind,
  torrent: string,
  dir: string,
): Promise<{ port: number; stop: () => Promise<void> }> {
  const d =
    kind === 'ours'
      ? await startDaemon(
          process.execPath,
          [CLI, 'seed', '-f', torrent, '-o', dir, '-p', '0', '--bind', '127.0.0.1', '--peer', '127.0.0.1:1'],
          /on port (\d+);/,
          120_000,
          ENV,
        )
      : await startDaemon(LT_PYTHON, [LT_SEED, torrent, dir, '0', '7200'], /ready (\d+)/, 120_000, ENV);
  return { port: Number(d.match[1]), stop: () => stopDaemon(d.child) };
}

const link = (infoHash: string, port: number): string =>
  `magnet:?xt=urn:btih:${infoHash}&x.pe=127.0.0.1:${port}`;

/** One launch of a magnet leecher, stopped after its first payload byte. */
async function leech(kind: Kind, magnet: string, port: number, out: string): Promise<Sample> {
  fs.rmSync(out, { recursive: true, force: true });
  fs.mkdirSync(out, { recursive: true });
  const events = path.join(out, '..', `${path.basename(out)}.jsonl`);
  fs.rmSync(events, { force: true });
  const launched = Date.now();
  const child = track(
    kind === 'ours'
      ? spawn(process.execPath, [CLI, '--events', events, 'leech', '-f', magnet, '-o', out, '-p', '0', '--bind', '127.0.0.1', '--no-publish'], { env: ENV, stdio: ['pipe', 'pipe', 'pipe'] }) // prettier-ignore
      : spawn(LT_PYTHON, [LT_MAGNET, magnet, out, String(port)], { env: { ...ENV, TIMEOUT: '30' }, stdio: ['ignore', 'pipe', 'pipe'] }), // prettier-ignore
  );
  let text = '';
  child.stdout?.on('data', (d: Buffer) => (text += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (text += d.toString()));
  const deadline = launched + RUN_TIMEOUT_MS;
  try {
    for (;;) {
      const s = kind === 'ours' ? fromEvents(events) : fromScript(text);
      if (s)
        return {
          upMs: s.up - launched,
          metadataMs: s.metadata - launched,
          firstByteMs: s.firstByte - launched,
        };
      if (child.exitCode !== null || Date.now() > deadline)
        throw new Error(`${kind} leecher: no first byte within ${RUN_TIMEOUT_MS / 1000} s\n${tail(text)}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  } finally {
    await stopDaemon(child, 5_000);
  }
}

interface Times {
  up: number;
  metadata: number;
  firstByte: number;
}

function fromEvents(file: string): Times | undefined {
  if (!fs.existsSync(file)) return undefined;
  const lines = fs.readFileSync(file, 'utf8').split('\n');
  const at = (type: string): number | undefined => {
    const line = lines.find((l) => l.includes(`"type":"${type}"`));
    return line ? Date.parse((JSON.parse(line) as { ts: string }).ts) : undefined;
  };
  const up = at('MetadataFetchStarted');
  const metadata = at('MetadataComplete');
  const firstByte = at('FirstBlockReceived');
  if (up === undefined || metadata === undefined || firstByte === undefined) return undefined;
  return { up, metadata, firstByte };
}

function fromScript(text: string): Times | undefined {
  const [u, m, f] = ['up', 'metadata', 'firstbyte'].map((w) =>
    new RegExp(`^${w} ([\\d.]+)$`, 'm').exec(text),
  );
  if (!u || !m || !f) return undefined;
  return { up: Number(u[1]) * 1000, metadata: Number(m[1]) * 1000, firstByte: Number(f[1]) * 1000 };
}

const fmt = (xs: number[]): string =>
  `${Math.round(median(xs))} ms (${Math.round(Math.min(...xs))}–${Math.round(Math.max(...xs))})`;

async function main(): Promise<void> {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'rxt-bench-magnet-'));
  try {
    const ds = dataset(tmp);
    const seedDir = path.join(tmp, 'seed');
    const seeders = {
      ours: await seeder('ours', ds.torrent, seedDir),
      lt: await seeder('lt', ds.torrent, seedDir),
    };
    const pairs: [Kind, Kind][] = [
      ['ours', 'ours'],
      ['ours', 'lt'],
      ['lt', 'ours'],
      ['lt', 'lt'],
    ];
    const samples = new Map<string, Sample[]>(pairs.map(([s, l]) => [`${s}-${l}`, []]));
    for (let run = 0; run < RUNS; run++) {
      // Alternate which leecher goes first, so drift on a shared machine hits both alike.
      const order = run % 2 === 0 ? pairs : [...pairs].reverse();
      for (const [s, l] of order) {
        const got = await leech(
          l,
          link(ds.infoHash, seeders[s].port),
          seeders[s].port,
          path.join(tmp, `out-${s}-${l}`),
        );
        samples.get(`${s}-${l}`)?.push(got);
        process.stderr.write(
          `run ${run + 1}/${RUNS} ${s} → ${l}: metadata ${got.metadataMs} ms, first byte ${got.firstByteMs} ms\n`,
        );
      }
    }
    await Promise.all([seeders.ours.stop(), seeders.lt.stop()]);
    const name = { ours: 'rxtorrent', lt: 'libtorrent' };
    console.log(
      `\nMagnet start-up, ${SIZE_MIB} MiB in ${PIECE_KIB} KiB pieces (info dictionary ~${Math.round(ds.metadataBytes / 1024)} KiB), ${RUNS} runs per pair, median (min–max), ${os.cpus().length} cores, load ${os.loadavg()[0].toFixed(2)}:\n`,
    );
    console.log(
      '| seeder → magnet leecher | launch → up | up → metadata | launch → metadata | launch → first byte | metadata → first byte |',
    );
    console.log('| --- | --- | --- | --- | --- | --- |');
    for (const [s, l] of pairs) {
      const xs = samples.get(`${s}-${l}`) ?? [];
      console.log(
        `| ${name[s]} → ${name[l]} | ${fmt(xs.map((x) => x.upMs))} | ${fmt(xs.map((x) => x.metadataMs - x.upMs))} | ${fmt(xs.map((x) => x.metadataMs))} | ${fmt(xs.map((x) => x.firstByteMs))} | ${fmt(xs.map((x) => x.firstByteMs - x.metadataMs))} |`,
      );
    }
  } finally {
    if (!KEEP) fs.rmSync(tmp, { recursive: true, force: true });
  }
}

main().catch((err: Error) => {
  console.error(err.message);
  process.exit(1);
});
