/**
 * Acceptance of resume and disk faults (issue 6, parts 1 and 3) with real `rxtorrent` processes on
 * loopback: a leecher killed with SIGKILL half-way and restarted, a clean stop and restart, a seeder
 * that serves at once and never sends a piece that fails its hash, and a leecher whose disk fills up
 * (a small tmpfs mounted here; skipped with a message when mounting is not allowed).
 *
 * Transfers are slowed with the leecher's `--max-down` so "half-way" can be caught by polling its
 * `--events` log. Bytes downloaded after a restart come from its SessionStopped event.
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { bit, decodeResume } from '../../src/core/resume-data';
import { exitWithin, sameTree, until } from '../support/child-process';
import { PeerProcess, startPeer } from '../support/peer-process';
import { runCli } from '../support/run-cli';
import { makeTorrent as makeTorrentIn, stoppedStats, subDir, useSwarmLab } from '../support/swarm-fixtures';

jest.setTimeout(20_000);

const PIECE = 512 * 1024;
const lab = useSwarmLab('rxt-resume-');

interface Made {
  torrent: string;
  seedDir: string;
  source: string;
  root: string;
  size: number;
  pieces: number;
  infoHash: string;
}

async function makeTorrent(name: string, size: number, seed = 1): Promise<Made> {
  const made = await makeTorrentIn(lab.dir, name, { file: size }, lab.trackerAddr, seed);
  const info = await runCli(['info', made.torrent]);
  const infoHash = /info-hash:\s+([0-9a-f]{40})/.exec(info.stdout)?.[1] ?? '';
  expect(infoHash).toHaveLength(40);
  return { ...made, pieces: Math.ceil(size / PIECE), infoHash };
}

async function peer(mode: 'seed' | 'leech', name: string, spec: Parameters<typeof startPeer>[2]) {
  const p = await startPeer(mode, name, spec);
  return lab.track(p);
}

const dirOf = subDir;

/** Pieces the first run had verified (PieceVerified is logged only after the piece is written). */
function verifiedCount(p: PeerProcess): number {
  return new Set(p.events('PieceVerified').map((e) => Number(e.index))).size;
}

async function twoSeeders(t: Made, prefix: string): Promise<PeerProcess[]> {
  return Promise.all(
    ['a', 'b'].map((x) =>
      peer('seed', `${prefix}-seed-${x}`, { torrent: t.torrent, dir: t.seedDir, tracker: lab.trackerAddr }),
    ),
  );
}

it('kill -9 at ~50%, restart: completes byte-identical, downloading at most the rest plus one piece per peer', async () => {
  const t = await makeTorrent('killed', 16 * 1024 * 1024 + 7, 3);
  const seeds = await twoSeeders(t, 'killed');
  const out = dirOf(t.root, 'leech');
  const first = await peer('leech', 'killed-leech-1', {
    torrent: t.torrent,
    dir: out,
    tracker: lab.trackerAddr,
    extra: ['--max-down', '4M', '--min-announce-interval', '1'],
  });
  await until('half the pieces', () => (verifiedCount(first) >= t.pieces / 2 ? true : undefined), 15_000, 20);
  process.kill(first.child.pid as number, 'SIGKILL');
  expect(await first.exited).toBe('SIGKILL');
  const before = verifiedCount(first);
  expect(before).toBeLessThan(t.pieces);

  const second = await peer('leech', 'killed-leech-2', {
    torrent: t.torrent,
    dir: out,
    tracker: lab.trackerAddr,
    exitOnDone: true,
  });
  await second.complete();
  expect(await exitWithin(second, 5000)).toBe(0);
  expect(sameTree(path.join(out, 'killed.bin'), t.source)).toBe(true);

  const loaded = second.events('ResumeLoaded')[0];
  expect(loaded).toBeDefined();
  const checked = second.events('CheckFinished')[0];
  expect(Number(checked.have)).toBeGreaterThanOrEqual(before); // every piece verified before the kill is kept
  const missingBytes = t.size - Math.min(t.size, before * PIECE);
  expect(stoppedStats(second).downloaded).toBeLessThanOrEqual(missingBytes + PIECE * seeds.length);
  expect(second.events('HashFailed')).toEqual([]);
});

it('clean stop and restart: trusts the resume file without hashing anything', async () => {
  const t = await makeTorrent('clean', 8 * 1024 * 1024, 5);
  await twoSeeders(t, 'clean');
  const out = dirOf(t.root, 'leech');
  const first = await peer('leech', 'clean-leech-1', {
    torrent: t.torrent,
    dir: out,
    tracker: lab.trackerAddr,
    extra: ['--max-down', '2M'],
  });
  await until('some pieces', () => (verifiedCount(first) >= t.pieces / 3 ? true : undefined), 15_000, 20);
  expect(await first.stop()).toBe(0);
  const had = stoppedStats(first).have;
  expect(had).toBeLessThan(t.pieces);

  const resume = fs.readFileSync(path.join(out, '.clean.bin.rxresume'));
  const rec = decodeResume(resume, {
    infoHashHex: t.infoHash,
    pieceLength: PIECE,
    pieceCount: t.pieces,
    fileCount: 1,
  });
  expect(rec.ok).toBe(true);

  const second = await peer('leech', 'clean-leech-2', {
    torrent: t.torrent,
    dir: out,
    tracker: lab.trackerAddr,
    exitOnDone: true,
  });
  await second.complete();
  expect(await exitWithin(second, 5000)).toBe(0);
  expect(sameTree(path.join(out, 'clean.bin'), t.source)).toBe(true);
  expect(second.events('ResumeLoaded')[0]).toMatchObject({ resume: 'ok', trusted: had, recheck: 0 });
  expect(second.events('PiecesChecked')).toEqual([]);
  expect(stoppedStats(second).downloaded).toBeLessThanOrEqual((t.pieces - had) * PIECE + 2 * PIECE);
});

it('a seed serves at once and never sends a piece that fails its hash; --verify refuses bad data', async () => {
  const t = await makeTorrent('lazy', 8 * 1024 * 1024, 9);
  // Seeder A: a copy with every odd piece corrupted (one byte each); seeder B: good data.
  const dirA = dirOf(t.root, 'seed-a');
  const bad = fs.readFileSync(t.source);
  const corrupted: number[] = [];
  for (let i = 1; i < t.pieces; i += 2) {
    bad[i * PIECE + 100] ^= 0xff;
    corrupted.push(i);
  }
  fs.writeFileSync(path.join(dirA, 'lazy.bin'), bad);

  const refused = await runCli(
    ['seed', '-f', t.torrent, '-o', dirA, '-p', '0', '--peer', '127.0.0.1:9', '--verify'],
    {
      timeoutMs: 10_000,
    },
  );
  expect(refused.code).toBe(1);
  expect(refused.stderr).toMatch(/cannot seed: 8 of 16 pieces do not match/);

  const seedA = await peer('seed', 'lazy-seed-a', {
    torrent: t.torrent,
    dir: dirA,
    tracker: lab.trackerAddr,
  });
  expect(seedA.events('PiecesChecked')).toEqual([]); // no hashing before serving
  expect(seedA.events('ResumeLoaded')[0]).toMatchObject({ recheck: 0 });
  const seedB = await peer('seed', 'lazy-seed-b', {
    torrent: t.torrent,
    dir: t.seedDir,
    tracker: lab.trackerAddr,
  });
  const out = dirOf(t.root, 'leech');
  const leecher = await peer('leech', 'lazy-leech', {
    torrent: t.torrent,
    dir: out,
    tracker: lab.trackerAddr,
    exitOnDone: true,
  });
  await leecher.complete();
  expect(sameTree(path.join(out, 'lazy.bin'), t.source)).toBe(true);
  expect(leecher.events('HashFailed')).toEqual([]); // never received a bad byte
  await seedA.stop();
  await seedB.stop();
  const reported = seedA.events('PieceCorrupt').map((e) => Number(e.index));
  expect(reported.length).toBeGreaterThan(0);
  for (const i of reported) expect(corrupted).toContain(i);
  // A's resume file records only pieces it hashed and found good.
  const rec = decodeResume(fs.readFileSync(path.join(dirA, '.lazy.bin.rxresume')), {
    infoHashHex: t.infoHash,
    pieceLength: PIECE,
    pieceCount: t.pieces,
    fileCount: 1,
  });
  expect(rec.ok).toBe(true);
  if (rec.ok) for (const i of corrupted) expect(bit(rec.record.verified, i)).toBe(false);

  const missing = await runCli(
    ['seed', '-f', t.torrent, '-o', dirOf(t.root, 'empty'), '-p', '0', '--peer', '127.0.0.1:9'],
    {
      timeoutMs: 10_000,
    },
  );
  expect(missing.code).toBe(1);
  expect(missing.stderr).toMatch(/missing file .*lazy\.bin/);
});

describe('disk full', () => {
  let mnt: string | undefined;
  beforeAll(() => {
    const dir = fs.mkdtempSync(path.join(lab.dir, 'tmpfs-'));
    try {
      execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=6m', 'tmpfs', dir], { stdio: 'pipe' });
      mnt = dir;
    } catch (err) {
      console.warn(
        `disk-full test skipped: cannot mount a tmpfs here (${(err as Error).message.split('\n')[0]})`,
      );
    }
  });
  afterAll(() => {
    if (mnt) execFileSync('umount', ['-l', mnt], { stdio: 'pipe' });
  });

  it('fails with one clear line naming the path, keeps a valid resume file, completes after space is freed', async () => {
    if (!mnt) return;
    const t = await makeTorrent('full', 8 * 1024 * 1024 + 3, 11);
    await twoSeeders(t, 'full');
    const first = await peer('leech', 'full-leech-1', {
      torrent: t.torrent,
      dir: mnt,
      tracker: lab.trackerAddr,
      eventsFile: path.join(t.root, 'full-leech-1.jsonl'),
      // slow enough that a periodic resume save (every 5 s) happens before the disk fills
      extra: ['--max-down', '900K'],
    });
    expect(await exitWithin(first, 15_000)).toBe(1);
    const file = path.join(mnt, 'full.bin');
    const errLines = first
      .stderr()
      .split('\n')
      .filter((l) => /disk full/.test(l));
    expect(errLines).toHaveLength(1);
    expect(errLines[0]).toContain(file);
    const before = verifiedCount(first);
    expect(before).toBeGreaterThan(0);
    expect(before).toBeLessThan(t.pieces);

    // The resume file is valid, and every piece it calls verified is on disk.
    const rec = decodeResume(fs.readFileSync(path.join(mnt, '.full.bin.rxresume')), {
      infoHashHex: t.infoHash,
      pieceLength: PIECE,
      pieceCount: t.pieces,
      fileCount: 1,
    });
    expect(rec.ok).toBe(true);
    const data = fs.readFileSync(file);
    const src = fs.readFileSync(t.source);
    let listed = 0;
    if (rec.ok)
      for (let i = 0; i < t.pieces; i++) {
        if (!bit(rec.record.verified, i)) continue;
        listed++;
        const h = (b: Buffer): string =>
          createHash('sha1')
            .update(b.subarray(i * PIECE, (i + 1) * PIECE))
            .digest('hex');
        expect(h(data)).toBe(h(src));
      }
    expect(listed).toBeGreaterThan(0);

    execFileSync('mount', ['-o', 'remount,size=32m', mnt], { stdio: 'pipe' }); // free space
    const second = await peer('leech', 'full-leech-2', {
      torrent: t.torrent,
      dir: mnt,
      tracker: lab.trackerAddr,
      eventsFile: path.join(t.root, 'full-leech-2.jsonl'),
      exitOnDone: true,
    });
    await second.complete();
    expect(await exitWithin(second, 5000)).toBe(0);
    expect(sameTree(file, t.source)).toBe(true);
    expect(Number(second.events('CheckFinished')[0].have)).toBeGreaterThanOrEqual(before);
    expect(stoppedStats(second).downloaded).toBeLessThanOrEqual((t.pieces - before) * PIECE + 2 * PIECE);
  });
});
