/**
 * Magnet links against real clients on loopback (issue 11), both ways: a python3-libtorrent seeder serves
 * the metadata and the data to our magnet leecher (which saves the .torrent to its store); a libtorrent
 * magnet leecher gets both from our seeder; aria2c downloads a magnet link from our seeder, finding it
 * through our tracker. Every output is compared byte for byte with its source.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { canConnect, exitWithin, freePort, sameTree, spawnWatched, until } from '../support/child-process';
import { startPeer } from '../support/peer-process';
import { ARIA2_LOOPBACK, SYSTEM_PYTHON, describeWithTools } from '../support/real-clients';
import { ROOT } from '../support/run-cli';
import { makeTorrent, stoppedStats, subDir, useSwarmLab } from '../support/swarm-fixtures';
import { formatMagnet } from '../../src/protocol/magnet';
import { parseMetainfo } from '../../src/protocol/metainfo';

jest.setTimeout(45_000);

const LT_SEED = path.join(ROOT, 'test', 'support', 'lt-seed.py');
const LT_MAGNET = path.join(ROOT, 'test', 'support', 'lt-magnet.py');

const lab = useSwarmLab('rxt-magnet-');

const infoHashOf = (torrent: string): string => parseMetainfo(fs.readFileSync(torrent)).infoHashHex;

describeWithTools(['libtorrent'], 'magnet links with libtorrent', () => {
  it("a libtorrent seeder's metadata and data reach our magnet leecher; the .torrent goes to our store", async () => {
    const t = await makeTorrent(
      lab.dir,
      'lt-to-magnet',
      { folder: { 'a.bin': 3 * 1024 * 1024 + 5, 'b/c.txt': 999 } },
      lab.trackerAddr,
      61,
    );
    const lt = lab.track(spawnWatched('lt-seed', SYSTEM_PYTHON, [LT_SEED, t.torrent, t.seedDir]));
    const ltPort = Number((await lt.waitFor(/^ready (\d+)$/m))[1]);
    const hex = infoHashOf(t.torrent);
    const link = formatMagnet({
      infoHashHex: hex,
      name: 'lt-to-magnet',
      trackers: [],
      peers: [{ host: '127.0.0.1', port: ltPort }],
    });
    const store = subDir(t.root, 'store');
    const dir = subDir(t.root, 'ours');
    const p = lab.track(
      await startPeer('leech', 'magnet-from-lt', {
        torrent: link,
        dir,
        exitOnDone: true,
        global: ['--store-dir', store],
      }),
    );
    await p.complete(30_000);
    expect(await p.exited).toBe(0);
    expect(sameTree(path.join(dir, 'lt-to-magnet'), t.source)).toBe(true);
    expect(p.stdout()).toMatch(/metadata: lt-to-magnet, /);
    const saved = fs.readFileSync(path.join(store, 'lt-to-magnet.torrent'));
    expect(parseMetainfo(saved).infoHashHex).toBe(hex);
    expect(p.events('MetadataComplete')).toHaveLength(1);
    expect(p.events('HashFailed')).toEqual([]);
    expect(stoppedStats(p).downloaded).toBeGreaterThanOrEqual(t.size);
  });

  it('a libtorrent magnet leecher gets the metadata and the data from our seeder', async () => {
    const t = await makeTorrent(
      lab.dir,
      'magnet-to-lt',
      { file: 4 * 1024 * 1024 + 321 },
      lab.trackerAddr,
      62,
    );
    const seeder = lab.track(
      await startPeer('seed', 'seed-for-lt-magnet', {
        torrent: t.torrent,
        dir: t.seedDir,
        tracker: lab.trackerAddr,
      }),
    );
    const hex = infoHashOf(t.torrent);
    const link = formatMagnet({
      infoHashHex: hex,
      trackers: [],
      peers: [{ host: '127.0.0.1', port: seeder.port }],
    });
    const dir = subDir(t.root, 'lt');
    const lt = lab.track(
      spawnWatched('lt-magnet', SYSTEM_PYTHON, [LT_MAGNET, link, dir, String(seeder.port)]),
    );
    await lt.waitFor(/^finished/m, { timeoutMs: 30_000 });
    expect(await lt.exited).toBe(0);
    expect(lt.stdout()).toMatch(/^metadata /m);
    expect(sameTree(path.join(dir, 'magnet-to-lt.bin'), t.source)).toBe(true);
    expect(await seeder.stop()).toBe(0);
    expect(seeder.events('MetadataPieceServed').length).toBeGreaterThan(0);
    expect(stoppedStats(seeder).uploaded).toBeGreaterThanOrEqual(t.size);
  });
});

describeWithTools(['aria2c'], 'magnet links with aria2c', () => {
  // aria2c announces a magnet with left=0, and a tracker gives a seed (as it then takes aria2c to be)
  // only leechers: our seeder dials aria2c instead, which takes the metadata over that connection.
  it('aria2c downloads a magnet link from our seeder', async () => {
    const t = await makeTorrent(
      lab.dir,
      'magnet-to-aria2',
      { file: 3 * 1024 * 1024 + 99 },
      lab.trackerAddr,
      63,
    );
    const meta = parseMetainfo(fs.readFileSync(t.torrent));
    const link = formatMagnet({
      infoHashHex: meta.infoHashHex,
      name: meta.name,
      trackers: meta.announceList.flat(),
      peers: [],
    });
    const dir = subDir(t.root, 'aria2');
    const ariaPort = await freePort();
    const aria = lab.track(
      spawnWatched('aria2c', 'aria2c', [
        ...ARIA2_LOOPBACK,
        '--bt-save-metadata=false',
        '--seed-time=0',
        `--listen-port=${ariaPort}`,
        '-d',
        dir,
        link,
      ]),
    );
    await until(
      'aria2c to listen',
      async () => ((await canConnect(ariaPort)) ? true : undefined),
      10_000,
      100,
    );
    const seeder = lab.track(
      await startPeer('seed', 'seed-for-aria2-magnet', {
        torrent: t.torrent,
        dir: t.seedDir,
        tracker: lab.trackerAddr,
        peers: [`127.0.0.1:${ariaPort}`],
      }),
    );
    expect(await exitWithin(aria, 30_000)).toBe(0);
    expect(sameTree(path.join(dir, 'magnet-to-aria2.bin'), t.source)).toBe(true);
    expect(await seeder.stop()).toBe(0);
    expect(seeder.events('MetadataPieceServed').length).toBeGreaterThan(0);
    expect(stoppedStats(seeder).uploaded).toBeGreaterThanOrEqual(t.size);
  });
});
