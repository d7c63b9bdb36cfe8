/**
 * Session-level fuzzing (issue 15): thousands of short sequences of well-framed messages with edge-value
 * fields (test/support/fuzz-peer.ts), each over a fresh connection, against a running leecher and a
 * running seeder (our CLI as child processes). After every batch the process must be alive and must not
 * have printed a stack trace; at the end the seeder still serves every byte to a well-behaved peer and
 * the leecher still completes from an honest one.
 *
 * `npm test` plays FUZZ_SEQUENCES per target (default 1,100, so more than 2,000 in all);
 * `npm run fuzz` sets RXTORRENT_FUZZ_SEQUENCES=50000 (100,000 in all). A failure names the sequence seed:
 * `RXTORRENT_FUZZ_SEED=<seed> RXTORRENT_FUZZ_SEQUENCES=1` replays it.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fuzzSequence, playSequence, seededRandom, serveHonestly, stepBytes } from '../support/fuzz-peer';
import { PeerProcess, startPeer } from '../support/peer-process';
import { RawTorrent, downloadAll, writeSingleFileTorrent } from '../support/raw-peer';
import { pseudoRandomBytes, tempDir } from '../support/run-cli';

const SEQUENCES = Number(process.env.RXTORRENT_FUZZ_SEQUENCES ?? 1100);
const BASE_SEED = Number(process.env.RXTORRENT_FUZZ_SEED ?? 20261130);
const CONCURRENCY = 8;
const BATCH = 100;
const PIECE = 256 * 1024;
const SIZE = 13 * PIECE + 4321; // 14 pieces, the last one short
const NAME = 'fuzz.bin';

jest.setTimeout(Math.max(240_000, SEQUENCES * 60));

let tmp: { dir: string; cleanup: () => void };
let data: Buffer;
let torrentFile: string;
let torrent: RawTorrent;
const running: PeerProcess[] = [];

beforeAll(() => {
  tmp = tempDir('rxt-fuzz-');
  data = pseudoRandomBytes(SIZE, 99);
  ({ torrentFile, torrent } = writeSingleFileTorrent(tmp.dir, 'fuzz', NAME, data, PIECE, 'seed'));
});

afterAll(async () => {
  await Promise.all(running.map((p) => p.kill()));
  if (!process.env.KEEP) tmp?.cleanup();
});

interface FuzzFigures {
  sequences: number;
  messages: number;
  bytes: number;
  closedEarly: number;
}

/** Plays `count` sequences against `target`, CONCURRENCY at a time, checking it after every batch. */
async function fuzz(target: PeerProcess, seedOffset: number, withData: boolean): Promise<FuzzFigures> {
  const figures: FuzzFigures = { sequences: 0, messages: 0, bytes: 0, closedEarly: 0 };
  for (let start = 0; start < SEQUENCES; start += BATCH) {
    const end = Math.min(SEQUENCES, start + BATCH);
    let next = start;
    const worker = async (): Promise<void> => {
      while (next < end) {
        const seed = BASE_SEED + seedOffset + next++;
        const rng = seededRandom(seed);
        const steps = fuzzSequence(rng, torrent);
        const r = await playSequence(target.port, torrent, steps, {
          rng,
          waitMs: 150,
          data: withData && rng() < 0.2 ? data : undefined,
        });
        figures.sequences++;
        figures.messages += r.sent;
        figures.bytes += steps.reduce((n, s) => n + stepBytes(s), 0);
        if (r.closedEarly) figures.closedEarly++;
      }
    };
    await Promise.all(Array.from({ length: CONCURRENCY }, worker));
    if (target.hasExited() || /\n\s+at /.test(target.stderr())) {
      throw new Error(
        `${target.name} failed within sequences ${BASE_SEED + seedOffset + start}..${BASE_SEED + seedOffset + end - 1}:\n${target.stderr()}`,
      );
    }
  }
  return figures;
}

test(`a seeder survives ${SEQUENCES} fuzzed sequences and still serves every byte`, async () => {
  const seeder = await startPeer('seed', 'fuzz-seed', {
    torrent: torrentFile,
    dir: path.join(tmp.dir, 'seed'),
    peers: ['127.0.0.1:1'],
    extra: ['--max-peers', '200'],
  });
  running.push(seeder);
  const figures = await fuzz(seeder, 0, false);
  expect(figures.sequences).toBe(SEQUENCES);
  console.log(`seeder fuzz: ${JSON.stringify(figures)}`);
  const got = await downloadAll(seeder.port, torrent, { timeoutMs: 15_000 });
  expect(got.equals(data)).toBe(true);
  expect(seeder.hasExited()).toBe(false);
  expect(seeder.stderr()).not.toMatch(/\n\s+at |UnhandledError|TorrentFailed/);
});

test(`a leecher survives ${SEQUENCES} fuzzed sequences and still completes from an honest peer`, async () => {
  const dir = path.join(tmp.dir, 'leech');
  fs.mkdirSync(dir);
  const leecher = await startPeer('leech', 'fuzz-leech', {
    torrent: torrentFile,
    dir,
    peers: ['127.0.0.1:1'],
    extra: ['--max-peers', '200'],
  });
  running.push(leecher);
  const figures = await fuzz(leecher, 1_000_000, true);
  expect(figures.sequences).toBe(SEQUENCES);
  console.log(`leecher fuzz: ${JSON.stringify(figures)}`);
  const served = serveHonestly(leecher.port, torrent, data, 60_000);
  await leecher.complete(60_000);
  await served;
  expect(fs.readFileSync(path.join(dir, NAME)).equals(data)).toBe(true);
  expect(leecher.hasExited()).toBe(false);
  expect(leecher.stderr()).not.toMatch(/\n\s+at |UnhandledError|TorrentFailed/);
  const failed = leecher.events().filter((e) => e.type === 'UnhandledError' || e.type === 'TorrentFailed');
  expect(failed).toEqual([]);
});
