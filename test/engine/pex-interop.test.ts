/**
 * Peer exchange (BEP 11) with a real client, no tracker at all: a python3-libtorrent seeder S; our leecher
 * A dials S (`--peer`); our leecher B knows only A. A tells B about S over ut_pex, B dials S and downloads
 * from both A and S (B's download rate is capped so the transfer lasts long enough for both to serve).
 * libtorrent drops a peer that sends PEX more than once a minute: A's pace is once a minute at most. A's
 * download is rate-capped too, so that it is still S's leecher when B arrives (two seeds part).
 */
import * as path from 'node:path';
import { sameTree, spawnWatched, until } from '../support/child-process';
import { downloadedByPeer, startPeer } from '../support/peer-process';
import { writeSingleFileTorrent } from '../support/raw-peer';
import { SYSTEM_PYTHON, describeWithTools } from '../support/real-clients';
import { ROOT, pseudoRandomBytes } from '../support/run-cli';
import { subDir, useSwarmLab } from '../support/swarm-fixtures';

jest.setTimeout(60_000);

const LT_SEED = path.join(ROOT, 'test', 'support', 'lt-seed.py');
const lab = useSwarmLab('rxt-pex-');

describeWithTools(['libtorrent'], 'PEX with libtorrent', () => {
  it('B, knowing only A, learns the libtorrent seeder from A and downloads from both', async () => {
    const root = subDir(lab.dir, 'pex');
    // No tracker in the torrent: B can find S only through A.
    const { torrentFile: torrent } = writeSingleFileTorrent(
      root,
      'pex',
      'pex.bin',
      pseudoRandomBytes(12 * 1024 * 1024 + 1234, 71),
      256 * 1024,
      'seed',
    );
    const seedDir = path.join(root, 'seed');
    const s = lab.track(spawnWatched('lt-seed', SYSTEM_PYTHON, [LT_SEED, torrent, seedDir]));
    const sPort = Number((await s.waitFor(/^ready (\d+)$/m))[1]);

    // A downloads slowly, so it is still a leecher connected to S when B arrives (two seeds part).
    const aDir = subDir(root, 'a');
    const a = lab.track(
      await startPeer('leech', 'pex-a', {
        torrent,
        dir: aDir,
        peers: [`127.0.0.1:${sPort}`],
        extra: ['--max-down', '2M'],
      }),
    );
    await until('A to connect to S', () =>
      a.events('PeerConnected').some((e) => e.peer === `127.0.0.1:${sPort}`) ? true : undefined,
    );

    const bDir = subDir(root, 'b');
    const b = lab.track(
      await startPeer('leech', 'pex-b', {
        torrent,
        dir: bDir,
        peers: [`127.0.0.1:${a.port}`],
        exitOnDone: true,
        extra: ['--max-down', '3M'],
      }),
    );
    await b.complete(40_000);
    expect(await b.exited).toBe(0);
    expect(sameTree(path.join(bDir, 'pex.bin'), path.join(seedDir, 'pex.bin'))).toBe(true);

    const learned = b.events('PeersLearned').filter((e) => e.source === 'pex');
    expect(learned.length).toBeGreaterThan(0);
    const byPeer = downloadedByPeer(b.events());
    expect(byPeer.get(`127.0.0.1:${a.port}`) ?? 0).toBeGreaterThan(0);
    // From S over whichever connection survived: B dialling S, or S dialling B (libtorrent also learns
    // B from A's PEX and keeps one connection per peer id): libtorrent's connections by client name.
    const fromLibtorrent = b
      .events('PeerConnected')
      .filter((e) => String(e.client).startsWith('LT '))
      .reduce((sum, e) => sum + (byPeer.get(String(e.peer)) ?? 0), 0);
    expect(fromLibtorrent).toBeGreaterThan(0);
    // A told B at most once a minute (one message in this run), and libtorrent kept A connected.
    expect(
      a.events('PexSent').filter((e) => e.peer === b.events('PeerConnected')[0]?.peer).length,
    ).toBeLessThanOrEqual(1);
    expect(a.events('PeerDisconnected').filter((e) => e.peer === `127.0.0.1:${sPort}`)).toEqual([]);
    await a.stop();
  });
});
