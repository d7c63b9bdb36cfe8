/**
 * Swarms that meet only through our UDP tracker (BEP 15): a python3-libtorrent seeder and an aria2c
 * leecher (aria2c speaks UDP trackers only with its DHT on: it is on, on a loopback port, with no
 * bootstrap nodes), and our own seeder and leecher given nothing but a `udp://` URL. Files byte-exact.
 */
import { ChildProcess, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { exitWithin, freePort, sameTree, spawnWatched, watch } from '../support/child-process';
import { startPeer } from '../support/peer-process';
import { SYSTEM_PYTHON, describeWithTools } from '../support/real-clients';
import { pseudoRandomBytes, tempDir } from '../support/run-cli';
import { makeTorrent as makeRawTorrent, publish } from '../support/tracker-fixtures';
import { makeTorrent, subDir } from '../support/swarm-fixtures';
import { startTracker, TrackerProcess } from '../support/tracker-process';

jest.setTimeout(60_000);

describeWithTools(['libtorrent', 'aria2c'], 'swarms through our udp:// tracker', () => {
  let tmp: { dir: string; cleanup: () => void };
  let tracker: TrackerProcess;
  const children: { kill(): Promise<unknown> }[] = [];
  let udpUrl: string;

  beforeAll(async () => {
    tmp = tempDir('rxt-udp-swarm-');
    tracker = await startTracker([
      '-v',
      '--store-dir',
      path.join(tmp.dir, 'store'),
      'tracker',
      '-p',
      '0',
      '--host',
      '127.0.0.1',
      '--no-console',
    ]);
    udpUrl = `udp://127.0.0.1:${tracker.port}/announce`;
  });
  afterEach(async () => {
    await Promise.all(children.splice(0).map((c) => c.kill()));
  });
  afterAll(async () => {
    await tracker?.stop();
    tmp?.cleanup();
  });

  it('a libtorrent seeder and an aria2c leecher (DHT on) meet through udp:// only', async () => {
    const content = pseudoRandomBytes(2 * 1024 * 1024 + 333, 11);
    const t = makeRawTorrent('udp-payload.bin', content, { pieceLength: 256 * 1024, announce: udpUrl });
    const file = publish(path.join(tmp.dir, 'lt'), t);
    const seedDir = subDir(tmp.dir, 'lt-seed');
    fs.writeFileSync(path.join(seedDir, 'udp-payload.bin'), content);
    const seeder = spawnWatched('lt-seed', SYSTEM_PYTHON, [
      path.join(__dirname, '..', 'support', 'lt-seed.py'),
      file,
      seedDir,
    ]);
    children.push(seeder);
    await seeder.waitFor(/ready \d+/, { timeoutMs: 30_000 });
    // libtorrent announced over UDP: the tracker saw it as a seed.
    const from = tracker.stderr().length;
    await tracker.waitFor(/tracker PeerJoined .*left=0 client=-LT/, { stream: 'stderr', timeoutMs: 20_000 });

    const leechDir = subDir(tmp.dir, 'aria-leech');
    const dhtPort = await freePort();
    const aria: ChildProcess = spawn(
      'aria2c',
      [
        `--dir=${leechDir}`,
        '--enable-dht=true', // aria2c's UDP tracker client rides on its DHT socket
        `--dht-listen-port=${dhtPort}`,
        `--dht-file-path=${path.join(tmp.dir, 'dht.dat')}`,
        '--enable-dht6=false',
        '--bt-enable-lpd=false',
        '--enable-peer-exchange=false',
        '--seed-time=0',
        '--file-allocation=falloc',
        '--listen-port=47100-47199',
        '--summary-interval=0',
        '--console-log-level=warn',
        '--bt-stop-timeout=40',
        file,
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    const a = watch(aria, 'aria2c');
    children.push(a);
    expect(await exitWithin(a, 45_000)).toBe(0);
    expect(fs.readFileSync(path.join(leechDir, 'udp-payload.bin')).equals(content)).toBe(true);
    expect(tracker.stderr().slice(from)).toMatch(/tracker PeerJoined .*client=A2-/);
  });

  it('our seeder and leecher, given only a udp:// URL, complete a byte-identical download', async () => {
    const t = await makeTorrent(tmp.dir, 'ours', { file: 3 * 1024 * 1024 + 7 }, udpUrl, 5);
    const seed = await startPeer('seed', 'udp-seed', {
      torrent: t.torrent,
      dir: t.seedDir,
      extra: ['--min-announce-interval', '2'],
    });
    children.push(seed);
    const out = subDir(t.root, 'leech');
    const leech = await startPeer('leech', 'udp-leech', {
      torrent: t.torrent,
      dir: out,
      exitOnDone: true,
      extra: ['--min-announce-interval', '2'],
    });
    children.push(leech);
    await leech.complete(30_000);
    expect(await leech.exited).toBe(0);
    expect(sameTree(path.join(out, 'ours.bin'), t.source)).toBe(true);
    expect(leech.events('PeersReceived').some((e) => String(e.url).startsWith('udp://'))).toBe(true);
  });
});
