/**
 * Faults (issue 6): seeders and trackers that die. Real `rxtorrent seed|leech|tracker` child processes on
 * loopback; a fault is a SIGKILL by PID of a process this file started, so nothing says goodbye (no
 * `stopped` announce, no clean socket close). What each process did is read from its `--events` JSONL log.
 *
 * Timing: the tracker hands out a 1 s interval (`--interval 1 --min-interval 1`) and every peer accepts it
 * (`--min-announce-interval 1`, which also makes tracker retries back off from 0.5 s), and the leecher is
 * held to 4 MiB/s (`--max-down`) so that a 16 MiB transfer lasts long enough to break something mid-way.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { freePort, sameTree, until } from '../support/child-process';
import { PeerProcess, PeerSpec, downloadedByPeer, startPeer } from '../support/peer-process';
import { pseudoRandomBytes, runCli, tempDir } from '../support/run-cli';
import { TrackerProcess, startTracker } from '../support/tracker-process';

jest.setTimeout(30_000);

const SIZE = 16 * 1024 * 1024 + 4321;
const PIECES = Math.ceil(SIZE / (512 * 1024));
/** Peers accept the tracker's 1 s interval; the leecher downloads at 4 MiB/s (about 4 s for the file). */
const FAST_ANNOUNCE = ['--min-announce-interval', '1'];
const SLOW_DOWN = ['--max-down', '4M'];

let tmp: { dir: string; cleanup: () => void };
let running: { kill: () => Promise<unknown> }[] = [];

beforeAll(() => {
  tmp = tempDir('rxt-faults-');
});

afterEach(async () => {
  await Promise.all(running.map((p) => p.kill()));
  running = [];
});

afterAll(() => tmp?.cleanup());

/** A tracker on `port` (0 = any) with a 1 s announce interval and its console on stdin. */
async function tracker(port = 0): Promise<TrackerProcess> {
  const t = await startTracker(
    ['tracker', '-p', String(port), '--host', '127.0.0.1', '--interval', '1', '--min-interval', '1'],
    { RXTORRENT_STORE_DIR: path.join(tmp.dir, 'store') },
  );
  running.push({ kill: () => t.stop() });
  return t;
}

/** `<tmp>/<name>/seed/<name>.bin` (SIZE pseudo-random bytes) and its .torrent announcing to `trackerAddr`. */
async function makeTorrent(
  name: string,
  trackerAddr: string,
  seed: number,
): Promise<{ torrent: string; seedDir: string; source: string; root: string }> {
  const root = path.join(tmp.dir, name);
  const seedDir = path.join(root, 'seed');
  fs.mkdirSync(seedDir, { recursive: true });
  const source = path.join(seedDir, `${name}.bin`);
  fs.writeFileSync(source, pseudoRandomBytes(SIZE, seed));
  const torrent = path.join(root, `${name}.torrent`);
  const r = await runCli(['create', '-f', source, '-t', trackerAddr, '-o', torrent, '--no-publish']);
  expect(r.stderr).not.toMatch(/rxtorrent:/);
  expect(r.code).toBe(0);
  return { torrent, seedDir, source, root };
}

async function peer(mode: 'seed' | 'leech', name: string, spec: PeerSpec): Promise<PeerProcess> {
  const p = await startPeer(mode, name, { ...spec, extra: [...FAST_ANNOUNCE, ...(spec.extra ?? [])] });
  running.push(p);
  return p;
}

/** SIGKILL by PID: the process gets no chance to say goodbye. */
async function killHard(p: { child: { pid?: number }; exited: Promise<unknown> }): Promise<void> {
  if (p.child.pid !== undefined) {
    try {
      process.kill(p.child.pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
  await p.exited;
}

function leechDir(root: string): string {
  const d = path.join(root, 'leech');
  fs.mkdirSync(d, { recursive: true });
  return d;
}

/** Resolves once the leecher has verified at least `n` pieces; returns how many it had then. */
function verified(p: PeerProcess, n: number): Promise<number> {
  return until(`${p.name} to verify ${n} pieces`, () => {
    const have = p.events('PieceVerified').length;
    return have >= n ? have : undefined;
  });
}

/** Resolves once the process's event log has an event of `type` (bounded). */
async function waitEvent(p: PeerProcess, type: string, timeoutMs = 15_000): Promise<void> {
  await until(`${type} from ${p.name}`, () => (p.events(type).length > 0 ? true : undefined), timeoutMs);
}

function expectEachPieceOnce(p: PeerProcess): void {
  const indices = p.events('PieceVerified').map((e) => Number(e.index));
  expect(new Set(indices).size).toBe(indices.length); // nothing verified twice: kept pieces stayed kept
  expect(indices).toHaveLength(PIECES);
  expect(p.events('HashFailed')).toEqual([]);
}

it('2 seeders → 1 leecher, one seeder killed mid-way: the leecher finishes from the other', async () => {
  const t = await tracker();
  const addr = `127.0.0.1:${t.port}`;
  const f = await makeTorrent('killseed', addr, 11);
  const seedA = await peer('seed', 'killseed-a', { torrent: f.torrent, dir: f.seedDir, tracker: addr });
  const seedB = await peer('seed', 'killseed-b', { torrent: f.torrent, dir: f.seedDir, tracker: addr });
  const out = leechDir(f.root);
  const leecher = await peer('leech', 'killseed-leech', {
    torrent: f.torrent,
    dir: out,
    tracker: addr,
    exitOnDone: true,
    extra: SLOW_DOWN,
  });
  const a = `127.0.0.1:${seedA.port}`;
  const b = `127.0.0.1:${seedB.port}`;
  await until('the leecher to connect to both seeders', () => {
    const connected = leecher.events('PeerConnected').map((e) => e.peer);
    return connected.includes(a) && connected.includes(b) ? true : undefined;
  });
  const atKill = await verified(leecher, 4);
  await killHard(seedA);
  expect(atKill).toBeLessThan(PIECES);

  await leecher.complete(25_000);
  expect(await leecher.exited).toBe(0);
  expect(sameTree(path.join(out, 'killseed.bin'), f.source)).toBe(true);
  expect(leecher.events('PeerDisconnected').map((e) => e.peer)).toContain(a);
  expect(downloadedByPeer(leecher.events()).get(b) ?? 0).toBeGreaterThan(0);
  expect(leecher.events('PeersLost')).toEqual([]); // one seeder was left all along
  expectEachPieceOnce(leecher);
  await seedB.stop();
});

it('all peers gone: the leecher keeps its pieces, and resumes when a seeder returns', async () => {
  const t = await tracker();
  const addr = `127.0.0.1:${t.port}`;
  const f = await makeTorrent('comeback', addr, 12);
  const seeder = await peer('seed', 'comeback-seed', { torrent: f.torrent, dir: f.seedDir, tracker: addr });
  const out = leechDir(f.root);
  const leecher = await peer('leech', 'comeback-leech', {
    torrent: f.torrent,
    dir: out,
    tracker: addr,
    exitOnDone: true,
    extra: SLOW_DOWN,
  });
  const atKill = await verified(leecher, 6);
  await killHard(seeder);
  await waitEvent(leecher, 'PeersLost');
  const lost = leecher.events('PeersLost')[0];
  expect(Number(lost.have)).toBeGreaterThanOrEqual(atKill);
  expect(Number(lost.have)).toBeLessThan(PIECES);
  expect(leecher.hasExited()).toBe(false);

  // The seeder comes back on the same port, with a .torrent of the same content (same info-hash) that
  // names a dead tracker: only the leecher's redial (its tracker still lists that address) can bring
  // them together.
  const dead = path.join(f.root, 'comeback-dead.torrent');
  const deadTracker = `127.0.0.1:${await freePort()}`;
  const r = await runCli(['create', '-f', f.source, '-t', deadTracker, '-o', dead, '--no-publish']);
  expect(r.code).toBe(0);
  const back = await peer('seed', 'comeback-seed-2', {
    torrent: dead,
    dir: f.seedDir,
    extra: ['-p', String(seeder.port)],
  });
  await waitEvent(back, 'CheckFinished');
  expect(back.events('CheckFinished')[0].torrent).toBe(lost.torrent); // the same torrent
  expect(back.port).toBe(seeder.port);
  // Redialled within a couple of announce intervals, not after a long dial backoff.
  await waitEvent(leecher, 'PeersReturned', 5_000);
  await leecher.complete(20_000);
  expect(await leecher.exited).toBe(0);
  expect(sameTree(path.join(out, 'comeback.bin'), f.source)).toBe(true);

  const all = leecher.events();
  const again = all
    .slice(all.findIndex((e) => e.type === 'PeersLost'))
    .find((e) => e.type === 'PeerConnected');
  expect(again?.peer).toBe(`127.0.0.1:${seeder.port}`);
  expect(again?.outgoing).toBe(true); // the leecher dialled it
  expect(leecher.events('PeersLost')).toHaveLength(1);
  expect(leecher.stderr().match(/no peers left/g)).toHaveLength(1);
  expectEachPieceOnce(leecher);
  await back.stop();
});

it('tracker killed mid-transfer: the transfer completes; restarted, the peers register again', async () => {
  const port = await freePort();
  const t = await tracker(port);
  const addr = `127.0.0.1:${port}`;
  const f = await makeTorrent('notracker', addr, 13);
  const seeder = await peer('seed', 'notracker-seed', { torrent: f.torrent, dir: f.seedDir, tracker: addr });
  const out = leechDir(f.root);
  const leecher = await peer('leech', 'notracker-leech', {
    torrent: f.torrent,
    dir: out,
    tracker: addr,
    extra: SLOW_DOWN,
  });
  await waitEvent(leecher, 'CheckFinished');
  const hash = String(leecher.events('CheckFinished')[0].torrent);
  expect(hash).toMatch(/^[0-9a-f]{40}$/);
  await verified(leecher, 4);
  await killHard(t);
  await waitEvent(leecher, 'TrackerFailed');
  expect(leecher.events('DownloadCompleted')).toEqual([]); // the tracker died mid-way
  await leecher.complete(20_000);
  expect(sameTree(path.join(out, 'notracker.bin'), f.source)).toBe(true);

  const t2 = await tracker(port);
  const listed = (p: PeerProcess): boolean => t2.stdout().includes(`127.0.0.1:${p.port}`);
  await until(
    'the tracker console to list both peers again',
    () => {
      if (listed(seeder) && listed(leecher)) return true;
      t2.send(`peers ${hash}`);
      return undefined;
    },
    20_000,
    250,
  );
  await waitEvent(leecher, 'TrackerRecovered');
  // Said once per state change, not once per retry.
  expect(leecher.events('TrackerFailed').length).toBeLessThanOrEqual(2);
  expect(leecher.events('TrackerRecovered')).toHaveLength(1);
  expect(leecher.events('PeersLost')).toEqual([]);
  expectEachPieceOnce(leecher);
  await Promise.all([leecher.stop(), seeder.stop()]);
});

it('tracker unreachable at start: the leecher says so once, retries, and connects once it is up', async () => {
  const port = await freePort();
  const addr = `127.0.0.1:${port}`;
  const f = await makeTorrent('latetracker', addr, 14);
  const out = leechDir(f.root);
  const leecher = await peer('leech', 'latetracker-leech', {
    torrent: f.torrent,
    dir: out,
    exitOnDone: true,
  });
  await waitEvent(leecher, 'TrackerFailed');
  // Several announces fail (backoff from 0.5 s), and it is still one line.
  await until('three failed announces', () =>
    leecher.events('AnnounceSent').length >= 3 ? true : undefined,
  );
  expect(leecher.events('TrackerFailed')).toHaveLength(1);

  await tracker(port);
  const seeder = await peer('seed', 'latetracker-seed', {
    torrent: f.torrent,
    dir: f.seedDir,
    tracker: addr,
  });
  await leecher.complete(25_000);
  expect(await leecher.exited).toBe(0);
  expect(sameTree(path.join(out, 'latetracker.bin'), f.source)).toBe(true);
  // Both announce once the tracker is up, so either may dial the other (and a simultaneous dial keeps
  // one of the two): the leecher lists the seeder's listen port, or the seeder the leecher's.
  const met =
    leecher.events('PeerConnected').some((e) => e.peer === `127.0.0.1:${seeder.port}`) ||
    seeder.events('PeerConnected').some((e) => e.peer === `127.0.0.1:${leecher.port}`);
  expect(met).toBe(true);
  expect(leecher.events('TrackerFailed')).toHaveLength(1);
  expect(leecher.events('TrackerRecovered')).toHaveLength(1);
  expect(leecher.stderr().match(/tracker unreachable/g)).toHaveLength(1);
  await seeder.stop();
});
