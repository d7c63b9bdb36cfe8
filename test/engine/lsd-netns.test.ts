/**
 * Local service discovery end to end (issue 11): a seeder and a leecher of ours, each in its own network
 * namespace joined by a veth pair, no tracker and no `--peer`. They find each other only by BEP 14
 * multicast (Linux's loopback has none, hence the namespaces), and the leecher completes byte-identical.
 * Everywhere else LSD stays off (RXTORRENT_NO_LSD=1); here the two processes get it back.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Watched, watch } from '../support/child-process';
import { NetnsPair, createNetnsPair, describeWithNetns } from '../support/netns';
import { readEvents } from '../support/peer-process';
import { writeSingleFileTorrent } from '../support/raw-peer';
import { BIN, pseudoRandomBytes, tempDir } from '../support/run-cli';

jest.setTimeout(60_000);

describeWithNetns('LSD between two network namespaces, end to end', () => {
  let pair: NetnsPair;
  let tmp: { dir: string; cleanup: () => void };
  const running: Watched[] = [];

  beforeAll(() => {
    pair = createNetnsPair();
    tmp = tempDir('rxt-lsd-');
  });
  afterAll(async () => {
    await Promise.all(running.map((w) => w.kill()));
    pair?.cleanup();
    tmp?.cleanup();
  });

  it('a leecher finds a seeder on the LAN with no tracker and no --peer, and completes', async () => {
    const data = pseudoRandomBytes(5 * 1024 * 1024 + 4321, 81);
    const { torrentFile: torrent } = writeSingleFileTorrent(
      tmp.dir,
      'lan',
      'lan.bin',
      data,
      256 * 1024,
      'seed',
    );
    const seedDir = path.join(tmp.dir, 'seed');
    const outDir = path.join(tmp.dir, 'out');
    fs.mkdirSync(outDir);
    const env = { RXTORRENT_NO_LSD: '' };
    const run = (host: typeof pair.a, name: string, args: string[]): Watched => {
      const events = path.join(tmp.dir, `${name}.jsonl`);
      const w = watch(pair.exec(host, [BIN, '--events', events, ...args], env), name);
      running.push(w);
      return w;
    };
    const seeder = run(pair.a, 'lan-seed', ['seed', '-f', torrent, '-o', seedDir, '-p', '0']);
    await seeder.waitFor(/on port \d+;/);
    const leecher = run(pair.b, 'lan-leech', [
      'leech',
      '-f',
      torrent,
      '-o',
      outDir,
      '-p',
      '0',
      '--exit-on-done',
    ]);
    await leecher.waitFor(/download complete/, { timeoutMs: 40_000 });
    expect(await leecher.exited).toBe(0);
    expect(fs.readFileSync(path.join(outDir, 'lan.bin')).equals(data)).toBe(true);

    const lsdPeers = [
      ...readEvents(path.join(tmp.dir, 'lan-seed.jsonl')),
      ...readEvents(path.join(tmp.dir, 'lan-leech.jsonl')),
    ].filter((e) => e.type === 'PeersLearned' && e.source === 'lsd');
    expect(lsdPeers.length).toBeGreaterThan(0);
    const started = readEvents(path.join(tmp.dir, 'lan-leech.jsonl')).find((e) => e.type === 'LsdStarted');
    expect(started).toBeDefined();
    seeder.child.stdin?.write('\n');
    expect(await seeder.exited).toBe(0);
  });

  it('--no-lsd turns it off: with no tracker and no peer the leecher refuses to start', async () => {
    const torrent = path.join(tmp.dir, 'lan.torrent');
    const w = watch(
      pair.exec(pair.b, [BIN, 'leech', '-f', torrent, '-o', tmp.dir, '-p', '0', '--no-lsd'], {
        RXTORRENT_NO_LSD: '',
      }),
      'no-lsd',
    );
    running.push(w);
    expect(await w.exited).toBe(2);
    expect(w.stderr()).toMatch(/no tracker: .*local discovery/);
  });
});
