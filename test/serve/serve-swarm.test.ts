/**
 * Acceptance of `rxtorrent serve` (issue 9) with real clients: one serve process seeds six torrents from a
 * local torrent store on one peer port, and aria2c, python3-libtorrent and our own `leech` fetch different
 * torrents from it at the same time; a torrent created into the store while serve runs is served within
 * 10 s, and stops being served once it is removed from the store. Every file is compared byte for byte.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { exitWithin, freePort, sameTree, spawnWatched } from '../support/child-process';
import { startPeer } from '../support/peer-process';
import { RawPeer } from '../support/raw-peer';
import { ARIA2_LOOPBACK, SYSTEM_PYTHON, describeWithTools } from '../support/real-clients';
import { ROOT, runCli } from '../support/run-cli';
import { ServeProcess, startServe } from '../support/serve-process';
import { MadeTorrent, makeTorrent, subDir, useSwarmLab } from '../support/swarm-fixtures';
import { parseMetainfo } from '../../src/protocol/metainfo';

jest.setTimeout(60_000);

const LT_LEECH = path.join(ROOT, 'test', 'support', 'lt-leech.py');

const lab = useSwarmLab('rxt-serve-');

/** Six torrents (one a folder), published to a store; their content copied into serve's data folder. */
async function sixTorrents(store: string, data: string): Promise<MadeTorrent[]> {
  const made: MadeTorrent[] = [];
  for (let i = 0; i < 6; i++) {
    const content =
      i === 5 ? { folder: { 'a.bin': 700_000, 'sub/b.bin': 300_001 } } : { file: 1_500_000 + i * 77_777 };
    const t = await makeTorrent(lab.dir, `t${i}`, content, lab.trackerAddr, 100 + i);
    fs.copyFileSync(t.torrent, path.join(store, path.basename(t.torrent)));
    fs.cpSync(t.source, path.join(data, path.basename(t.source)), { recursive: true });
    made.push(t);
  }
  return made;
}

async function allSeeding(serve: ServeProcess, n: number): Promise<void> {
  await serve.event(
    () => serve.events('CheckFinished').filter((e) => e.have === e.pieces).length >= n,
    `${n} torrents seeding`,
    30_000,
  );
}

describeWithTools(['aria2c', 'libtorrent'], 'serve with real clients', () => {
  it('one serve process seeds 6 torrents on one port to aria2c, libtorrent and our leech at once', async () => {
    const store = subDir(lab.dir, 'store');
    const data = subDir(lab.dir, 'data');
    const made = await sixTorrents(store, data);
    const serve = lab.track(await startServe('six', { store, data, extra: ['--no-console'] }));
    await allSeeding(serve, 6);

    const ariaDir = subDir(lab.dir, 'aria');
    const aria = lab.track(
      spawnWatched('aria2c', 'aria2c', [...ARIA2_LOOPBACK, '--seed-time=0', `--listen-port=${await freePort()}`, '-d', ariaDir, made[0].torrent]), // prettier-ignore
    );
    const ltDir = subDir(lab.dir, 'lt');
    const lt = lab.track(
      spawnWatched('lt-leech', SYSTEM_PYTHON, [LT_LEECH, made[5].torrent, ltDir, String(serve.port)]),
    );
    const oursDir = subDir(lab.dir, 'ours');
    const ours = lab.track(
      await startPeer('leech', 'ours', { torrent: made[2].torrent, dir: oursDir, peers: [`127.0.0.1:${serve.port}`], exitOnDone: true }), // prettier-ignore
    );
    const [ariaCode] = await Promise.all([exitWithin(aria, 30_000), lt.waitFor(/^finished/m, { timeoutMs: 30_000 }), ours.complete(30_000)]); // prettier-ignore
    expect(ariaCode).toBe(0);
    expect(sameTree(path.join(ariaDir, 't0.bin'), made[0].source)).toBe(true);
    expect(sameTree(path.join(ltDir, 't5'), made[5].source)).toBe(true);
    expect(sameTree(path.join(oursDir, 't2.bin'), made[2].source)).toBe(true);
    // All on one port, each routed to its own torrent.
    const connected = serve.events('PeerConnected');
    for (const i of [0, 2, 5])
      expect(
        connected.some((e) => e.torrent === parseMetainfo(fs.readFileSync(made[i].torrent)).infoHashHex),
      ).toBe(true);
    expect(await serve.stop()).toBe(0);
  });
});

it('a torrent created into the store while serve runs is served within 10 s; removed, it stops', async () => {
  const store = subDir(lab.dir, 'watch-store');
  const data = subDir(lab.dir, 'watch-data');
  const serve = lab.track(await startServe('watch', { store, data, extra: ['--no-console'] }));
  fs.writeFileSync(path.join(data, 'late.bin'), Buffer.alloc(2_000_000, 7));
  const published = Date.now();
  const r = await runCli([
    '--store-dir',
    store,
    'create',
    '-f',
    path.join(data, 'late.bin'),
    '-t',
    lab.trackerAddr,
    '-o', // not the default (the current folder): published to the store all the same
    path.join(lab.dir, 'late-created.torrent'),
  ]);
  expect(r.code).toBe(0);
  const meta = parseMetainfo(fs.readFileSync(path.join(store, 'late.bin.torrent')));
  await serve.event(
    (e) => e.type === 'CheckFinished' && e.torrent === meta.infoHashHex,
    'the new torrent seeding',
    10_000,
  );
  expect(Date.now() - published).toBeLessThan(10_000);
  // It is served: a leecher gets it from serve.
  const out = subDir(lab.dir, 'watch-out');
  const torrentCopy = path.join(lab.dir, 'late.torrent');
  fs.copyFileSync(path.join(store, 'late.bin.torrent'), torrentCopy);
  const leech = lab.track(
    await startPeer('leech', 'late-leech', { torrent: torrentCopy, dir: out, peers: [`127.0.0.1:${serve.port}`], exitOnDone: true }), // prettier-ignore
  );
  await leech.complete(20_000);
  expect(sameTree(path.join(out, 'late.bin'), path.join(data, 'late.bin'))).toBe(true);

  // Removed from the store: serve stops serving it (its data stays) and refuses its handshakes.
  fs.rmSync(path.join(store, 'late.bin.torrent'));
  await serve.event(
    (e) => e.type === 'StoreTorrentGone' && e.torrent === meta.infoHashHex,
    'the torrent to stop',
    10_000,
  );
  const peer = await RawPeer.connect(serve.port, { pieceCount: meta.pieceCount });
  peer.handshake(meta.infoHash);
  await peer.waitClosed(5_000);
  await serve.event(
    (e) => e.type === 'IncomingRefused' && /unexpected info-hash/.test(String(e.reason)),
    'the refusal',
  );
  expect(fs.existsSync(path.join(data, 'late.bin'))).toBe(true);
  expect(await serve.stop()).toBe(0);
});
