/**
 * Acceptance of the peer engine (issue 4) against real third-party clients on loopback, both ways:
 * our seeder feeds an aria2c and a libtorrent leecher; an aria2c and a libtorrent seeder feed our
 * leecher. Our own tracker is in every torrent; our side also dials the other client directly when it
 * is the leecher, so the test does not wait for an announce round. Each output is compared byte for
 * byte with its source.
 */
import * as path from 'node:path';
import {
  Watched,
  canConnect,
  exitWithin,
  freePort,
  sameTree,
  spawnWatched,
  until,
} from '../support/child-process';
import { PeerProcess, startPeer } from '../support/peer-process';
import { ARIA2_LOOPBACK, SYSTEM_PYTHON, describeWithTools } from '../support/real-clients';
import { ROOT } from '../support/run-cli';
import {
  Content,
  MadeTorrent,
  makeTorrent as makeTorrentIn,
  stoppedStats,
  subDir,
  useSwarmLab,
} from '../support/swarm-fixtures';

jest.setTimeout(30_000);

const LT_SEED = path.join(ROOT, 'test', 'support', 'lt-seed.py');
const LT_LEECH = path.join(ROOT, 'test', 'support', 'lt-leech.py');

const lab = useSwarmLab('rxt-interop-');

function track<T extends Watched>(w: T): T {
  return lab.track(w);
}

const makeTorrent = (name: string, content: Content, seed: number): Promise<MadeTorrent> =>
  makeTorrentIn(lab.dir, name, content, lab.trackerAddr, seed);
const outDir = subDir;

const sessionStopped = stoppedStats;

/** Clients our process handshook with, other than ourselves (`RX …`). */
function otherClients(p: PeerProcess): string[] {
  return p
    .events('PeerConnected')
    .map((e) => String(e.client))
    .filter((c) => !c.startsWith('RX '));
}

async function ourSeeder(name: string, t: { torrent: string; seedDir: string }): Promise<PeerProcess> {
  return track(
    await startPeer('seed', name, { torrent: t.torrent, dir: t.seedDir, tracker: lab.trackerAddr }),
  );
}

async function ourLeecher(
  name: string,
  t: { torrent: string; root: string },
  peerPort: number,
): Promise<{ p: PeerProcess; dir: string }> {
  const dir = outDir(t.root, 'ours');
  const p = track(
    await startPeer('leech', name, {
      torrent: t.torrent,
      dir,
      tracker: lab.trackerAddr,
      peers: [`127.0.0.1:${peerPort}`],
      exitOnDone: true,
    }),
  );
  return { p, dir };
}

describeWithTools(['aria2c'], 'aria2c', () => {
  it('our seeder feeds an aria2c leecher', async () => {
    const t = await makeTorrent('to-aria2', { file: 4 * 1024 * 1024 + 4321 }, 41);
    const seeder = await ourSeeder('to-aria2-seed', t);
    const dir = outDir(t.root, 'aria2');
    const aria = track(
      spawnWatched('aria2c', 'aria2c', [
        ...ARIA2_LOOPBACK,
        '--seed-time=0',
        `--listen-port=${await freePort()}`,
        '-d',
        dir,
        t.torrent,
      ]),
    );
    expect(await exitWithin(aria, 20_000)).toBe(0);
    expect(sameTree(path.join(dir, 'to-aria2.bin'), t.source)).toBe(true);
    expect(await seeder.stop()).toBe(0);
    expect(otherClients(seeder).length).toBeGreaterThan(0);
    expect(sessionStopped(seeder).uploaded).toBeGreaterThanOrEqual(t.size);
  });

  it('an aria2c seeder feeds our leecher', async () => {
    const t = await makeTorrent('from-aria2', { file: 4 * 1024 * 1024 + 99 }, 43);
    const port = await freePort();
    // -V checks the data first; seed-ratio 0.0 means "regardless of ratio", so seed-time (minutes) ends it.
    track(
      spawnWatched('aria2c', 'aria2c', [
        ...ARIA2_LOOPBACK,
        '-V',
        '--seed-ratio=0.0',
        '--seed-time=1',
        `--listen-port=${port}`,
        '-d',
        t.seedDir,
        t.torrent,
      ]),
    );
    await until('aria2c to listen', async () => ((await canConnect(port)) ? true : undefined), 10_000, 100);
    const { p, dir } = await ourLeecher('from-aria2-leech', t, port);
    await p.complete();
    expect(await p.exited).toBe(0);
    expect(sameTree(path.join(dir, 'from-aria2.bin'), t.source)).toBe(true);
    expect(otherClients(p).length).toBeGreaterThan(0);
    expect(sessionStopped(p).downloaded).toBeGreaterThanOrEqual(t.size);
    expect(p.events('HashFailed')).toEqual([]);
  });
});

describeWithTools(['libtorrent'], 'libtorrent (python3-libtorrent)', () => {
  it('our seeder feeds a libtorrent leecher (a folder)', async () => {
    const folder = {
      'one.bin': 2 * 1024 * 1024 + 17,
      'deep/two.bin': 1024 * 1024 + 5,
      'deep/three.txt': 300,
    };
    const t = await makeTorrent('to-lt', { folder }, 51);
    const seeder = await ourSeeder('to-lt-seed', t);
    const dir = outDir(t.root, 'lt');
    const lt = track(
      spawnWatched('lt-leech', SYSTEM_PYTHON, [LT_LEECH, t.torrent, dir, String(seeder.port)]),
    );
    await lt.waitFor(/^finished/m, { timeoutMs: 20_000 });
    expect(await lt.exited).toBe(0);
    expect(sameTree(path.join(dir, 'to-lt'), t.source)).toBe(true);
    expect(await seeder.stop()).toBe(0);
    expect(otherClients(seeder).some((c) => c.startsWith('LT '))).toBe(true);
    expect(sessionStopped(seeder).uploaded).toBeGreaterThanOrEqual(t.size);
  });

  it('a libtorrent seeder feeds our leecher', async () => {
    const t = await makeTorrent('from-lt', { file: 4 * 1024 * 1024 + 555 }, 53);
    const lt = track(spawnWatched('lt-seed', SYSTEM_PYTHON, [LT_SEED, t.torrent, t.seedDir]));
    const port = Number((await lt.waitFor(/^ready (\d+)$/m))[1]);
    const { p, dir } = await ourLeecher('from-lt-leech', t, port);
    await p.complete();
    expect(await p.exited).toBe(0);
    expect(sameTree(path.join(dir, 'from-lt.bin'), t.source)).toBe(true);
    expect(otherClients(p).some((c) => c.startsWith('LT '))).toBe(true);
    expect(sessionStopped(p).downloaded).toBeGreaterThanOrEqual(t.size);
    expect(p.events('HashFailed')).toEqual([]);
  });
});
