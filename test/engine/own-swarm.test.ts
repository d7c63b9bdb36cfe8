/**
 * Acceptance of the peer engine (issue 4) with swarms of our own processes: real `rxtorrent seed|leech`
 * child processes on loopback, finding each other through a real `rxtorrent tracker`. Every output is
 * compared byte for byte with its source; what happened between the peers is read from each process's
 * `--events` JSONL log.
 */
import * as path from 'node:path';
import { sameTree, until } from '../support/child-process';
import { PeerProcess, downloadedByPeer, startPeer } from '../support/peer-process';

import {
  Content,
  MadeTorrent,
  makeTorrent as makeTorrentIn,
  stoppedStats,
  subDir,
  useSwarmLab,
} from '../support/swarm-fixtures';

jest.setTimeout(30_000);

const lab = useSwarmLab('rxt-swarm-');

const makeTorrent = (name: string, content: Content, seed = 1): Promise<MadeTorrent> =>
  makeTorrentIn(lab.dir, name, content, lab.trackerAddr, seed);

async function peer(
  mode: 'seed' | 'leech',
  name: string,
  spec: Parameters<typeof startPeer>[2],
): Promise<PeerProcess> {
  const p = await startPeer(mode, name, spec);
  return lab.track(p);
}

const leechDir = subDir;
const stopped = stoppedStats;

function expectNoHashFailures(...ps: PeerProcess[]): void {
  for (const p of ps) expect(p.events('HashFailed')).toEqual([]);
}

it('1 seeder → 1 leecher: the leecher gets a byte-identical file and exits', async () => {
  const t = await makeTorrent('one', { file: 4 * 1024 * 1024 + 12_345 });
  const seeder = await peer('seed', 'one-seed', {
    torrent: t.torrent,
    dir: t.seedDir,
    tracker: lab.trackerAddr,
  });
  const out = leechDir(t.root, 'leech');
  const leecher = await peer('leech', 'one-leech', {
    torrent: t.torrent,
    dir: out,
    tracker: lab.trackerAddr,
    exitOnDone: true,
  });
  await leecher.complete();
  expect(await leecher.exited).toBe(0);
  expect(sameTree(path.join(out, 'one.bin'), t.source)).toBe(true);
  expect(await seeder.stop()).toBe(0);

  expect(leecher.events('PeerConnected').map((e) => e.peer)).toContain(`127.0.0.1:${seeder.port}`);
  expect(leecher.events('PieceVerified')).toHaveLength(9);
  expect(leecher.events('DownloadCompleted')).toHaveLength(1);
  expect(stopped(leecher).downloaded).toBe(t.size);
  expect(stopped(seeder).uploaded).toBe(t.size);
  expectNoHashFailures(leecher);
});

it('2 seeders → 1 leecher: blocks arrive from both seeders', async () => {
  const t = await makeTorrent('two', { file: 8 * 1024 * 1024 + 1 }, 7);
  const seedA = await peer('seed', 'two-seed-a', {
    torrent: t.torrent,
    dir: t.seedDir,
    tracker: lab.trackerAddr,
  });
  const seedB = await peer('seed', 'two-seed-b', {
    torrent: t.torrent,
    dir: t.seedDir,
    tracker: lab.trackerAddr,
  });
  const out = leechDir(t.root, 'leech');
  const leecher = await peer('leech', 'two-leech', {
    torrent: t.torrent,
    dir: out,
    tracker: lab.trackerAddr,
    exitOnDone: true,
  });
  await leecher.complete();
  expect(await leecher.exited).toBe(0);
  expect(sameTree(path.join(out, 'two.bin'), t.source)).toBe(true);
  await Promise.all([seedA.stop(), seedB.stop()]);

  const byPeer = downloadedByPeer(leecher.events());
  const fromA = byPeer.get(`127.0.0.1:${seedA.port}`) ?? 0;
  const fromB = byPeer.get(`127.0.0.1:${seedB.port}`) ?? 0;
  expect(fromA).toBeGreaterThan(0);
  expect(fromB).toBeGreaterThan(0);
  expect(fromA + fromB).toBeGreaterThanOrEqual(t.size);
  // The seeders' own accounts agree: each uploaded part of the file, together all of it.
  const upA = stopped(seedA).uploaded;
  const upB = stopped(seedB).uploaded;
  expect(upA).toBeGreaterThan(0);
  expect(upB).toBeGreaterThan(0);
  expect(upA + upB).toBeGreaterThanOrEqual(t.size);
  expectNoHashFailures(leecher);
});

it('1 seeder + 3 leechers started together (a folder): leechers upload to each other', async () => {
  const folder = {
    'a.bin': 9 * 1024 * 1024 + 100,
    'sub/b.bin': 6 * 1024 * 1024 + 333,
    'sub/c.txt': 777,
    'd.bin': 9 * 1024 * 1024,
  };
  const t = await makeTorrent('many', { folder }, 21);
  // The leechers start together and find each other through the tracker; then the seeder joins, gets all
  // three from its announce and dials them, so all three download at once.
  const names = ['many-l1', 'many-l2', 'many-l3'];
  const leechers = await Promise.all(
    names.map((n) =>
      peer('leech', n, { torrent: t.torrent, dir: leechDir(t.root, n), tracker: lab.trackerAddr }),
    ),
  );
  await until('the leechers to announce', () =>
    leechers.every((l) => l.events('PeersReceived').length > 0) ? true : undefined,
  );
  const seeder = await peer('seed', 'many-seed', {
    torrent: t.torrent,
    dir: t.seedDir,
    tracker: lab.trackerAddr,
  });
  await Promise.all(leechers.map((l) => l.complete()));
  for (const n of names) expect(sameTree(path.join(t.root, n, 'many'), t.source)).toBe(true);
  await Promise.all([seeder, ...leechers].map((p) => p.stop()));

  const seedUp = stopped(seeder).uploaded;
  const leechUp = leechers.map((l) => stopped(l).uploaded);
  const leechDown = leechers.map((l) => stopped(l).downloaded);
  for (const d of leechDown) expect(d).toBeGreaterThanOrEqual(t.size);
  // Endgame duplicates stay a small tail, not a second copy of the last pieces.
  for (const l of leechers) expect(Number(l.events('SessionStopped')[0].wasted)).toBeLessThan(0.05 * t.size);
  // The swarm did its job: the seeder sent clearly less than three copies; the rest came from leechers.
  expect(seedUp).toBeLessThan(2.5 * t.size);
  expect(leechUp.reduce((a, b) => a + b, 0)).toBeGreaterThan(0.5 * t.size);
  expectNoHashFailures(...leechers);
});

it('a finished leecher serves a newcomer after the original seeder stopped (a folder)', async () => {
  const folder = { 'x.bin': 2 * 1024 * 1024 + 5, 'y/z.bin': 1024 * 1024 + 3 };
  const t = await makeTorrent('relay', { folder }, 33);
  const seeder = await peer('seed', 'relay-seed', {
    torrent: t.torrent,
    dir: t.seedDir,
    tracker: lab.trackerAddr,
  });
  const firstDir = leechDir(t.root, 'first');
  const first = await peer('leech', 'relay-first', {
    torrent: t.torrent,
    dir: firstDir,
    tracker: lab.trackerAddr,
  });
  await first.complete();
  expect(await seeder.stop()).toBe(0);
  expect(first.hasExited()).toBe(false);

  const lateDir = leechDir(t.root, 'late');
  const late = await peer('leech', 'relay-late', {
    torrent: t.torrent,
    dir: lateDir,
    tracker: lab.trackerAddr,
    exitOnDone: true,
  });
  await late.complete();
  expect(await late.exited).toBe(0);
  expect(sameTree(path.join(lateDir, 'relay'), t.source)).toBe(true);
  await first.stop();

  expect(late.events('PeerConnected').map((e) => e.peer)).toEqual([`127.0.0.1:${first.port}`]);
  expect(downloadedByPeer(late.events()).get(`127.0.0.1:${first.port}`)).toBeGreaterThanOrEqual(t.size);
  expect(stopped(first).uploaded).toBeGreaterThanOrEqual(t.size);
});
