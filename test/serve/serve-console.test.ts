/**
 * `rxtorrent serve`'s console and memory (issue 9): the console commands from a pipe, what was paused,
 * added or removed by hand surviving a restart, a failing torrent (a bad .torrent in the store, data
 * that cannot be written) shown with its error while the others keep running, end of console input
 * keeping serve running, and a flood of handshakes for unknown torrents costing only their sockets.
 */
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { sameTree } from '../support/child-process';
import { startPeer } from '../support/peer-process';
import { RawPeer } from '../support/raw-peer';
import { startServe } from '../support/serve-process';
import { makeTorrent, subDir, useSwarmLab } from '../support/swarm-fixtures';

jest.setTimeout(60_000);

const lab = useSwarmLab('rxt-serve-console-');

async function storeWith(
  name: string,
  torrents: string[],
): Promise<{ store: string; data: string; torrents: Record<string, string> }> {
  const store = subDir(lab.dir, `${name}-store`);
  const data = subDir(lab.dir, `${name}-data`);
  const files: Record<string, string> = {};
  for (const [i, n] of torrents.entries()) {
    const t = await makeTorrent(lab.dir, n, { file: 800_000 + i * 1234 }, lab.trackerAddr, 30 + i);
    fs.copyFileSync(t.torrent, path.join(store, path.basename(t.torrent)));
    fs.copyFileSync(t.source, path.join(data, path.basename(t.source)));
    files[n] = t.torrent;
  }
  return { store, data, torrents: files };
}

it('console commands from a pipe: list, info, peers, pause, resume, add, rate, stats, remove --delete-data, exit', async () => {
  const { store, data } = await storeWith('con', ['con-one', 'con-two']);
  const serve = lab.track(await startServe('con', { store, data }));
  await serve.event(() => serve.events('CheckFinished').length >= 2, 'both checked');
  let out = await serve.command('list', /con-two/);
  expect(out).toMatch(/^ID\s+NAME\s+STATE/m);
  expect(out).toMatch(/con-one\.bin\s+seeding\s+100\.0%/);
  expect(await serve.command('info con-one.bin', /file:/)).toMatch(/info-hash:\s+[0-9a-f]{40}/);
  expect(await serve.command('peers 1', /\n/)).toMatch(/no peers connected|ADDRESS/);
  expect(await serve.command('pause con-one.bin', /paused:/)).toMatch(/paused: \d+ con-one\.bin/);
  expect(await serve.command('list', /con-two/)).toMatch(/con-one\.bin\s+paused/);
  expect(await serve.command('resume con-one.bin', /resumed:/)).toMatch(/resumed/);
  const extra = await makeTorrent(lab.dir, 'con-three', { file: 300_000 }, lab.trackerAddr, 39);
  fs.copyFileSync(extra.source, path.join(data, 'con-three.bin'));
  expect(await serve.command(`add ${extra.torrent}`, /added|error/)).toMatch(/added \d+ con-three\.bin/);
  expect(await serve.command('rate 1M 0', /rate limits/)).toMatch(/down 1\.0 MiB\/s, up unlimited/);
  expect(await serve.command('stats', /connections/)).toMatch(/torrents: 3/);
  expect(await serve.command('help', /exit/)).toMatch(/remove <t> \[--delete-data\]/);
  expect(await serve.command('frobnicate', /unknown command/)).toMatch(/try help/);
  expect(await serve.command('pause nothing-like-this', /no torrent/)).toMatch(/no torrent matches/);
  out = await serve.command('remove con-three --delete-data', /removed/);
  expect(out).toMatch(/data deleted/);
  expect(fs.existsSync(path.join(data, 'con-three.bin'))).toBe(false);
  expect(await serve.stop()).toBe(0);
});

it('what was paused, added or removed by hand survives a restart', async () => {
  const { store, data } = await storeWith('keep', ['keep-one', 'keep-two', 'keep-three']);
  const hand = await makeTorrent(lab.dir, 'keep-hand', { file: 400_000 }, lab.trackerAddr, 49);
  fs.copyFileSync(hand.source, path.join(data, 'keep-hand.bin'));
  const first = lab.track(await startServe('keep1', { store, data }));
  await first.event(() => first.events('CheckFinished').length >= 3, 'all checked');
  await first.command('pause keep-one.bin', /paused:/);
  await first.command(`add ${hand.torrent}`, /added/);
  await first.command('remove keep-three.bin', /removed/);
  expect(await first.stop()).toBe(0);
  fs.rmSync(hand.torrent); // the kept copy is what counts

  const second = lab.track(await startServe('keep2', { store, data }));
  await second.event(() => second.events('TorrentAdded').length >= 3, 'torrents added');
  await second.event(() => second.events('CheckFinished').length >= 2, 'running ones checked');
  const list = await second.command('list', /keep-two/);
  expect(list).toMatch(/keep-one\.bin\s+paused/);
  expect(list).toMatch(/keep-hand\.bin/);
  expect(list).not.toMatch(/keep-three/);
  expect(await second.stop()).toBe(0);
});

it('a failing torrent shows its error; the others keep running', async () => {
  const { store, data, torrents } = await storeWith('fail', ['fail-good', 'fail-blocked']);
  fs.writeFileSync(path.join(store, 'broken.torrent'), 'd8:announce3:abc4:infod4:name1:x'); // truncated
  fs.rmSync(path.join(data, 'fail-blocked.bin'));
  fs.mkdirSync(path.join(data, 'fail-blocked.bin')); // a folder where the file should be
  const serve = lab.track(await startServe('fail', { store, data }));
  await serve.event((e) => e.type === 'StoreTorrentUnusable', 'the broken torrent reported');
  await serve.event((e) => e.type === 'TorrentFailed', 'the blocked torrent failing');
  await serve.event(() => serve.events('CheckFinished').length >= 1, 'the good torrent checked');
  const list = await serve.command('list', /fail-good/);
  expect(list).toMatch(/broken\s+error\s+.*not a valid torrent/);
  expect(list).toMatch(/fail-blocked\.bin\s+error/);
  expect(list).toMatch(/fail-good\.bin\s+seeding/);
  const out = subDir(lab.dir, 'fail-out');
  const leech = lab.track(
    await startPeer('leech', 'fail-leech', { torrent: torrents['fail-good'], dir: out, peers: [`127.0.0.1:${serve.port}`], exitOnDone: true }), // prettier-ignore
  );
  await leech.complete(20_000);
  expect(sameTree(path.join(out, 'fail-good.bin'), path.join(data, 'fail-good.bin'))).toBe(true);
  expect(await serve.stop()).toBe(0);
});

it('end of console input keeps serve running; SIGTERM stops it', async () => {
  const { store, data } = await storeWith('eof', ['eof-one']);
  const serve = lab.track(await startServe('eof', { store, data }));
  serve.child.stdin?.end();
  await serve.waitFor(/console input ended; serve keeps running/, { stream: 'stderr' });
  await serve.event(() => serve.events('CheckFinished').length >= 1, 'checked');
  expect(serve.hasExited()).toBe(false);
  serve.child.kill('SIGTERM');
  expect(await serve.exited).toBe(0);
  expect(serve.stdout()).toMatch(/serve stopped \(SIGTERM\)/);
});

it('a flood of handshakes for torrents serve does not have costs only their sockets', async () => {
  const { store, data, torrents } = await storeWith('flood', ['flood-one']);
  const serve = lab.track(await startServe('flood', { store, data, extra: ['--no-console'] }));
  await serve.event(() => serve.events('CheckFinished').length >= 1, 'checked');
  const N = 300;
  for (let batch = 0; batch < N / 50; batch++) {
    const peers = await Promise.all(Array.from({ length: 50 }, () => RawPeer.connect(serve.port)));
    for (const p of peers) p.handshake(crypto.randomBytes(20));
    await Promise.all(peers.map((p) => p.waitClosed(5_000)));
  }
  const refused = await serve.event(
    (e) => e.type === 'IncomingRefused' && serve.events('IncomingRefused').length >= N,
    'every refusal logged',
  );
  expect(refused.reason).toMatch(/unexpected info-hash/);
  // The real torrent is still served.
  const out = subDir(lab.dir, 'flood-out');
  const leech = lab.track(
    await startPeer('leech', 'flood-leech', { torrent: torrents['flood-one'], dir: out, peers: [`127.0.0.1:${serve.port}`], exitOnDone: true }), // prettier-ignore
  );
  await leech.complete(20_000);
  expect(sameTree(path.join(out, 'flood-one.bin'), path.join(data, 'flood-one.bin'))).toBe(true);
  expect(await serve.stop()).toBe(0);
});
