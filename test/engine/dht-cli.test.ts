/**
 * The DHT through the CLI, as users run it: real `rxtorrent seed` / `leech` processes on 127.0.0.1 with
 * the DHT on (RXTORRENT_NO_DHT=0, their own XDG_STATE_HOME), bootstrapped only from a DHT this test
 * runs on loopback — ours, or WebTorrent's bittorrent-dht — never from the public routers.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { filter, firstValueFrom, timeout } from 'rxjs';
import { DhtNode } from '../../src/actors/dht-node';
import { parseMetainfo } from '../../src/protocol/metainfo';
import { BtDhtProcess } from '../support/bittorrent-dht-process';
import { until } from '../support/child-process';
import { LoopbackDht, announcedInDht, dhtOnEnv, startLoopbackDht } from '../support/loopback-dht';
import { startPeer } from '../support/peer-process';
import { writeSingleFileTorrent } from '../support/raw-peer';
import { pseudoRandomBytes } from '../support/run-cli';
import { makeTorrent, subDir, useSwarmLab } from '../support/swarm-fixtures';

jest.setTimeout(90_000);

const lab = useSwarmLab('rxt-dht-cli-');
let net: LoopbackDht | undefined;
let bt: BtDhtProcess | undefined;
const nodes: DhtNode[] = [];

afterEach(async () => {
  await Promise.all(nodes.splice(0).map((n) => n.stop()));
  await net?.stop();
  net = undefined;
  await bt?.stop();
  bt = undefined;
});

/** The environment of a process that runs the DHT: on, with its state file in the test's folder. */
const dhtEnv = (name: string): NodeJS.ProcessEnv => dhtOnEnv(subDir(lab.dir, `state-${name}`));

/** A torrent with no tracker at all, its data in `<root>/seed`. */
function trackerless(name: string, size: number, opts: { private?: boolean } = {}) {
  const data = pseudoRandomBytes(size, 5);
  const root = subDir(lab.dir, name);
  const made = writeSingleFileTorrent(root, name, `${name}.bin`, data, 64 * 1024, 'seed', opts);
  const meta = parseMetainfo(fs.readFileSync(made.torrentFile));
  return { data, root, torrent: made.torrentFile, seedDir: path.join(root, 'seed'), meta };
}

function magnet(hex: string): string {
  return `magnet:?xt=urn:btih:${hex}`;
}

/** Resolves once `p` has announced `hex` to at least one DHT node. */
const announced = announcedInDht;

async function asker(bootstrap: { host: string; port: number }[]): Promise<DhtNode> {
  const n = new DhtNode({ host: '127.0.0.1', bootstrap });
  nodes.push(n);
  const joined = firstValueFrom(
    n.events$.pipe(
      filter((e) => e.type === 'DhtBootstrapped'),
      timeout(10_000),
    ),
  );
  await n.start();
  await joined;
  return n;
}

function peersOf(n: DhtNode, infoHash: Buffer): Promise<string[]> {
  const seen: string[] = [];
  return new Promise((resolve) =>
    n.getPeers(infoHash).subscribe({
      next: (p) => seen.push(...p.map((a) => `${a.ip}:${a.port}`)),
      complete: () => resolve(seen),
    }),
  );
}

/** UDP sockets the process holds (its fds matched against the kernel's UDP tables). */
function udpSockets(pid: number): number {
  const inodes = new Set<string>();
  for (const table of ['/proc/net/udp', '/proc/net/udp6']) {
    if (!fs.existsSync(table)) continue;
    for (const line of fs.readFileSync(table, 'utf8').split('\n').slice(1)) {
      const cols = line.trim().split(/\s+/);
      if (cols.length > 9) inodes.add(cols[9]);
    }
  }
  let n = 0;
  for (const fd of fs.readdirSync(`/proc/${pid}/fd`)) {
    try {
      const m = /^socket:\[(\d+)\]$/.exec(fs.readlinkSync(`/proc/${pid}/fd/${fd}`));
      if (m && inodes.has(m[1])) n++;
    } catch {
      // The fd closed while we looked.
    }
  }
  return n;
}

test('a magnet link alone (no tr=, no x.pe): the leecher finds the seeder in the DHT and completes', async () => {
  net = await startLoopbackDht(4);
  const f = trackerless('alone', 1024 * 1024 + 333);
  const boot = ['--dht-bootstrap', net.bootstrapArg];
  const seeder = lab.track(
    await startPeer('seed', 'dht-seeder', {
      torrent: f.torrent,
      dir: f.seedDir,
      extra: boot,
      env: dhtEnv('s'),
    }),
  );
  await announced(seeder, f.meta.infoHashHex);
  const out = subDir(f.root, 'out');
  const leecher = lab.track(
    await startPeer('leech', 'dht-leecher', {
      torrent: magnet(f.meta.infoHashHex),
      dir: out,
      extra: [...boot, '--no-publish'],
      env: dhtEnv('l'),
    }),
  );
  await leecher.complete(60_000);
  expect(fs.readFileSync(path.join(out, 'alone.bin')).equals(f.data)).toBe(true);
  expect(leecher.events('PeerConnected')).toContainEqual(
    expect.objectContaining({ source: 'dht', peer: `127.0.0.1:${seeder.port}` }),
  );
  expect(leecher.events('PeersLearned')).toContainEqual(expect.objectContaining({ source: 'dht' }));
  await Promise.all([leecher.stop(), seeder.stop()]);
  // Both saved their routing tables where XDG_STATE_HOME says.
  for (const who of ['s', 'l'])
    expect(fs.existsSync(path.join(lab.dir, `state-${who}`, 'rxtorrent', 'dht.json'))).toBe(true);
});

test("interop: bittorrent-dht's lookup finds our seeder; a peer bittorrent-dht announced is found by our leecher", async () => {
  bt = await BtDhtProcess.start();
  const { nodes: theirs } = await bt.spawn(6);
  const boot = ['--dht-bootstrap', `127.0.0.1:${theirs[0].port}`];
  const f = trackerless('theirs', 512 * 1024);
  const seeder = lab.track(
    await startPeer('seed', 'dht-seeder-bt', {
      torrent: f.torrent,
      dir: f.seedDir,
      extra: boot,
      env: dhtEnv('bt1'),
    }),
  );
  await announced(seeder, f.meta.infoHashHex);
  const found = await bt.lookup(5, f.meta.infoHash);
  expect(found.peers).toContain(`127.0.0.1:${seeder.port}`);

  // A second seeder that never touches the DHT: only bittorrent-dht says where it is.
  const g = trackerless('theirs2', 512 * 1024 + 1);
  const quiet = lab.track(
    await startPeer('seed', 'quiet-seeder', {
      torrent: g.torrent,
      dir: g.seedDir,
      extra: ['--no-dht', '--peer', '127.0.0.1:1'], // (a way to find peers, or it refuses to start)
      env: dhtEnv('q'),
    }),
  );
  await bt.announce(3, g.meta.infoHash, quiet.port);
  const out = subDir(g.root, 'out');
  const leecher = lab.track(
    await startPeer('leech', 'dht-leecher-bt', {
      torrent: magnet(g.meta.infoHashHex),
      dir: out,
      extra: [...boot, '--no-publish'],
      env: dhtEnv('bt2'),
    }),
  );
  await leecher.complete(60_000);
  expect(fs.readFileSync(path.join(out, 'theirs2.bin')).equals(g.data)).toBe(true);
  expect(leecher.events('PeerConnected')).toContainEqual(
    expect.objectContaining({ source: 'dht', peer: `127.0.0.1:${quiet.port}` }),
  );
  await Promise.all([leecher.stop(), seeder.stop(), quiet.stop()]);
});

test('a private torrent is never looked up or announced in the DHT (BEP 27)', async () => {
  net = await startLoopbackDht(3);
  const f = trackerless('private', 256 * 1024, { private: true });
  const seeder = lab.track(
    await startPeer('seed', 'private-seeder', {
      torrent: f.torrent,
      dir: f.seedDir,
      tracker: '127.0.0.1:1', // nobody listens: a private torrent needs a tracker, and it has none
      extra: ['--dht-bootstrap', net.bootstrapArg],
      env: dhtEnv('p'),
    }),
  );
  await until('the seeder to join the DHT', () => seeder.events('DhtBootstrapped')[0]);
  const ask = await asker(net.bootstrap);
  await new Promise((r) => setTimeout(r, 2000)); // a public torrent is announced within a beat or two
  expect(await peersOf(ask, f.meta.infoHash)).toEqual([]);
  expect(seeder.events().filter((e) => e.category === 'dht' && e.torrent === f.meta.infoHashHex)).toEqual([]);
  await seeder.stop();
});

test('no bootstrap node answers: said once, and the download goes on through the tracker', async () => {
  const made = await makeTorrent(lab.dir, 'lonely', { file: 700 * 1024 }, lab.trackerAddr);
  const dead = ['--dht-bootstrap', '127.0.0.1:9']; // discard port: nothing answers
  const seeder = lab.track(
    await startPeer('seed', 'lonely-seeder', {
      torrent: made.torrent,
      dir: made.seedDir,
      tracker: lab.trackerAddr,
      extra: ['--no-dht'],
    }),
  );
  const out = subDir(made.root, 'out');
  const leecher = lab.track(
    await startPeer('leech', 'lonely-leecher', {
      torrent: made.torrent,
      dir: out,
      tracker: lab.trackerAddr,
      extra: [...dead, '--min-announce-interval', '1'],
      env: dhtEnv('lonely'),
    }),
  );
  await leecher.complete(30_000);
  expect(fs.readFileSync(path.join(out, 'lonely.bin')).equals(fs.readFileSync(made.source))).toBe(true);
  const output = (): string => `${leecher.stdout()}${leecher.stderr()}`;
  await until('the DHT to give up', () => (/no DHT node answered/.test(output()) ? true : undefined), 30_000);
  await new Promise((r) => setTimeout(r, 1000));
  const said = output().match(/no DHT node answered/g) ?? [];
  expect(said).toHaveLength(1);
  expect(leecher.events('DhtBootstrapFailed')).toHaveLength(1);
  await Promise.all([leecher.stop(), seeder.stop()]);
});

test('--no-dht and RXTORRENT_NO_DHT=1 open no UDP socket; with the DHT on there is one', async () => {
  const f = trackerless('sockets', 64 * 1024);
  const runs: [string, string[], NodeJS.ProcessEnv, number][] = [
    ['flag', ['--no-dht', '--peer', '127.0.0.1:1'], dhtEnv('flag'), 0],
    ['env', ['--peer', '127.0.0.1:1'], { ...dhtEnv('env'), RXTORRENT_NO_DHT: '1' }, 0],
    ['on', ['--dht-bootstrap', '127.0.0.1:9'], dhtEnv('on'), 1],
  ];
  for (const [name, extra, env, want] of runs) {
    const p = lab.track(
      await startPeer('seed', `sockets-${name}`, { torrent: f.torrent, dir: f.seedDir, extra, env }),
    );
    await new Promise((r) => setTimeout(r, 500));
    expect([name, udpSockets(p.child.pid as number)]).toEqual([name, want]);
    expect(p.events().filter((e) => e.category === 'dht').length > 0).toBe(want > 0);
    await p.stop();
  }
});
