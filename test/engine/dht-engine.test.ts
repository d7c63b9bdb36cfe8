/**
 * The engine's DHT in-process: engines on loopback joined to a small DHT of our nodes (never the public
 * routers). A magnet link with no tracker and no peer finds the seeding engine through the DHT; private
 * torrents stay out of it; PORT messages from peers are pinged once, whatever a peer sends.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { filter, firstValueFrom, timeout } from 'rxjs';
import { Engine } from '../../src/actors/engine';
import type { EngineDhtOptions } from '../../src/actors/engine-dht';
import { DhtNode } from '../../src/actors/dht-node';
import type { EventInput } from '../../src/events/engine-event';
import { formatMagnet } from '../../src/protocol/magnet';
import { parseMetainfo } from '../../src/protocol/metainfo';
import { encodeMessage } from '../../src/protocol/wire-codec';
import { LoopbackDht, startLoopbackDht } from '../support/loopback-dht';
import { RawPeer, writeSingleFileTorrent } from '../support/raw-peer';
import { pseudoRandomBytes, tempDir } from '../support/run-cli';

jest.setTimeout(60_000);

let tmp: { dir: string; cleanup: () => void };
let net: LoopbackDht;
const engines: Engine[] = [];
const extra: DhtNode[] = [];

// A fresh DHT per test: nodes of engines stopped by an earlier test would cost each lookup a timeout.
beforeAll(() => {
  tmp = tempDir('rxt-dht-engine-');
});
beforeEach(async () => {
  net = await startLoopbackDht(4);
});
afterEach(async () => {
  await Promise.all(engines.splice(0).map((e) => e.stop()));
  await Promise.all(extra.splice(0).map((n) => n.stop()));
  await net?.stop();
});
afterAll(() => tmp?.cleanup());

function fixture(name: string, size: number, opts: { private?: boolean } = {}) {
  const data = pseudoRandomBytes(size, 11);
  const root = path.join(tmp.dir, name);
  const made = writeSingleFileTorrent(root, name, `${name}.bin`, data, 64 * 1024, 'seed', opts);
  return {
    data,
    root,
    seedDir: path.join(root, 'seed'),
    meta: parseMetainfo(fs.readFileSync(made.torrentFile)),
  };
}

/** An engine with the DHT on (whatever the test environment says), bootstrapped from the loopback DHT. */
async function engine(
  name: string,
  dht: EngineDhtOptions = {},
): Promise<{ e: Engine; events: EventInput[] }> {
  const e = new Engine({
    port: 0,
    bind: '127.0.0.1',
    lsd: false,
    dht: { env: {}, bootstrap: net.bootstrap, stateFile: path.join(tmp.dir, `${name}-dht.json`), ...dht },
  });
  const events: EventInput[] = [];
  e.events$.subscribe((ev) => events.push(ev));
  engines.push(e);
  await e.start();
  return { e, events };
}

function booted(node: DhtNode): Promise<unknown> {
  return firstValueFrom(
    node.events$.pipe(
      filter((e) => e.type === 'DhtBootstrapped'),
      timeout(10_000),
    ),
  );
}

async function until(what: string, cond: () => boolean, ms = 20_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

test('a magnet link with no tracker and no peer: found through the DHT, downloaded, byte-identical', async () => {
  const f = fixture('d1', 2 * 1024 * 1024 + 99);
  const seeder = await engine('seeder');
  expect(seeder.e.dhtEnabled).toBe(true);
  await seeder.e.add({ meta: f.meta, dir: f.seedDir, mode: 'seed', trackers: [] }).start();
  const announced = (): boolean =>
    seeder.events.some(
      (ev) => ev.type === 'DhtLookupDone' && ev.torrent === f.meta.infoHashHex && Number(ev.announced) > 0,
    );
  await until('the seeder to announce', announced);

  const leecher = await engine('leecher');
  const out = path.join(f.root, 'out');
  const m = leecher.e.addMagnet(formatMagnet({ infoHashHex: f.meta.infoHashHex, trackers: [], peers: [] }), {
    dir: out,
  });
  m.start();
  const t = await m.whenTorrent();
  await t.whenFinishedOrFailed();
  expect(fs.readFileSync(path.join(out, 'd1.bin')).equals(f.data)).toBe(true);
  expect(leecher.events).toContainEqual(
    expect.objectContaining({ type: 'PeersLearned', source: 'dht', torrent: f.meta.infoHashHex }),
  );
  expect(leecher.events).toContainEqual(
    expect.objectContaining({ type: 'PeerConnected', source: 'dht', peer: `127.0.0.1:${seeder.e.port}` }),
  );
});

test('the leecher announced first: the seeder that comes later finds it in the DHT and serves it', async () => {
  const f = fixture('d5', 512 * 1024 + 5);
  const leecher = await engine('early-leecher');
  const out = path.join(f.root, 'out');
  const m = leecher.e.addMagnet(formatMagnet({ infoHashHex: f.meta.infoHashHex, trackers: [], peers: [] }), {
    dir: out,
  });
  m.start();
  await until('the leecher to announce', () =>
    leecher.events.some(
      (ev) => ev.type === 'DhtLookupDone' && ev.torrent === f.meta.infoHashHex && Number(ev.announced) > 0,
    ),
  );
  const seeder = await engine('late-seeder');
  await seeder.e.add({ meta: f.meta, dir: f.seedDir, mode: 'seed', trackers: [] }).start();
  const t = await m.whenTorrent();
  await t.whenFinishedOrFailed();
  expect(fs.readFileSync(path.join(out, 'd5.bin')).equals(f.data)).toBe(true);
  expect(seeder.events).toContainEqual(
    expect.objectContaining({ type: 'PeerConnected', source: 'dht', outgoing: true }),
  );
});

test('the routing table is saved on stop and reloaded: a restart answers lookups without bootstrap', async () => {
  const stateFile = path.join(tmp.dir, 'restart-dht.json');
  const first = await engine('restart', { stateFile });
  await until('the first run to join the DHT', () =>
    first.events.some((ev) => ev.type === 'DhtBootstrapped'),
  );
  await first.e.stop();
  const saved = JSON.parse(fs.readFileSync(stateFile, 'utf8')) as { nodes: unknown[] };
  expect(saved.nodes.length).toBeGreaterThan(0);

  // Short timeouts: the first run's node (same id, old port) is still in the others' tables.
  const config = { queryTimeoutMs: 1000, slowQueryMs: 300 };
  const again = await engine('restart2', { stateFile, bootstrap: [], node: { config } });
  const started = again.events.find((ev) => ev.type === 'DhtStarted');
  expect(Number(started?.nodes)).toBeGreaterThan(0);
  const peer = new DhtNode({ host: '127.0.0.1', bootstrap: net.bootstrap, config });
  extra.push(peer);
  const joined = booted(peer);
  await peer.start();
  const hash = Buffer.alloc(20, 0x3c);
  await joined;
  expect((await peer.announce(hash, 7777)).announced).toBeGreaterThan(0);
  const found = await new Promise<string[]>((resolve) => {
    const seen: string[] = [];
    // The engine's node reaches the announcer only through the table it reloaded.
    again.e['dht']?.['node']?.getPeers(hash).subscribe({
      next: (p) => seen.push(...p.map((a) => `${a.ip}:${a.port}`)),
      complete: () => resolve(seen),
    });
  });
  expect(found).toContain('127.0.0.1:7777');
});

test('two engines with one state file: the second runs with a fresh id and leaves the file alone', async () => {
  const stateFile = path.join(tmp.dir, 'shared-dht.json');
  const first = await engine('shared1', { stateFile });
  const second = await engine('shared2', { stateFile });
  expect(second.events).toContainEqual(expect.objectContaining({ type: 'DhtStateInUse', file: stateFile }));
  expect(first.events.some((ev) => ev.type === 'DhtStateInUse')).toBe(false);
  expect(second.e.dhtStats()?.id).not.toBe(first.e.dhtStats()?.id);
  await second.e.stop();
  expect(fs.existsSync(stateFile)).toBe(false);
  await first.e.stop();
  expect(JSON.parse(fs.readFileSync(stateFile, 'utf8')).id).toBe(
    first.events.find((ev) => ev.type === 'DhtStarted')?.id,
  );
  expect(fs.existsSync(`${stateFile}.lock`)).toBe(false);
});

test('a private torrent never reaches the DHT (BEP 27)', async () => {
  const f = fixture('d2', 256 * 1024, { private: true });
  const seeder = await engine('private');
  await seeder.e.add({ meta: f.meta, dir: f.seedDir, mode: 'seed', trackers: [] }).start();
  await until('the DHT to be joined', () => seeder.events.some((ev) => ev.type === 'DhtBootstrapped'));
  await new Promise((r) => setTimeout(r, 2500)); // two beats: a public torrent would be looked up by now
  expect(seeder.events.filter((ev) => ev.torrent === f.meta.infoHashHex && ev.category === 'dht')).toEqual(
    [],
  );
  // Nobody in the DHT has heard of it either.
  const asker = new DhtNode({ host: '127.0.0.1', bootstrap: net.bootstrap });
  extra.push(asker);
  const joined = booted(asker);
  await asker.start();
  await joined;
  const outcome = await asker.announce(Buffer.alloc(20, 0x77), 1234); // a lookup that reaches the nodes
  expect(outcome.answers).toBeGreaterThan(0);
  const peers: unknown[] = [];
  await new Promise<void>((resolve) =>
    asker.getPeers(f.meta.infoHash).subscribe({ next: (p) => peers.push(...p), complete: resolve }),
  );
  expect(peers).toEqual([]);
});

test("PORT: a peer's DHT node is pinged once; bad, repeated and flooding PORT messages harm nothing", async () => {
  const f = fixture('d3', 256 * 1024);
  const { e } = await engine('port');
  await e.add({ meta: f.meta, dir: f.seedDir, mode: 'seed', trackers: [] }).start();
  const theirs = new DhtNode({ host: '127.0.0.1' });
  extra.push(theirs);
  await theirs.start();

  const peer = await RawPeer.connect(e.port, { pieceCount: f.meta.pieceCount });
  peer.handshake(f.meta.infoHash, { fast: true, dht: true });
  const port = await peer.nextFrame((fr) => fr.type === 'Port');
  expect(port).toEqual({ type: 'Port', port: e.dhtStats()?.port });
  // Their PORT, then a thousand more: one ping goes out, the connection lives on.
  const ping = await peer.send({ type: 'Port', port: theirs.address()?.port ?? 0 });
  expect(ping).toBeDefined();
  await until('their node to hear our ping', () => (theirs.stats()?.counters.queriesIn ?? 0) > 0);
  for (let i = 0; i < 1000; i++) peer.send({ type: 'Port', port: 1 + i });
  peer.send({ type: 'KeepAlive' });
  await new Promise((r) => setTimeout(r, 500));
  expect(peer.isClosed).toBe(false);
  expect(theirs.stats()?.counters.queriesIn).toBe(1);

  // Wrong lengths are protocol errors: that connection closes, the engine goes on.
  for (const body of ['09', '09 1a', '09 1a e1 00']) {
    const bad = await RawPeer.connect(e.port, { pieceCount: f.meta.pieceCount });
    bad.handshake(f.meta.infoHash, { fast: true, dht: true });
    const bytes = Buffer.from(body.replace(/ /g, ''), 'hex');
    const len = Buffer.alloc(4);
    len.writeUInt32BE(bytes.length);
    bad.write(Buffer.concat([len, bytes]));
    await bad.waitClosed();
  }
  const fine = await RawPeer.connect(e.port, { pieceCount: f.meta.pieceCount });
  fine.handshake(f.meta.infoHash, { fast: true, dht: true });
  expect(await fine.nextFrame((fr) => fr.type === 'Port')).toBeTruthy();
  fine.destroy();
  peer.destroy();
  expect(encodeMessage({ type: 'Port', port: 1 })).toHaveLength(7);
});

test('RXTORRENT_NO_DHT or dht: false: no DHT, no bit in the handshake, no PORT', async () => {
  const f = fixture('d4', 128 * 1024);
  for (const dht of [{ env: { RXTORRENT_NO_DHT: '1' } }, false] as const) {
    const e = new Engine({ port: 0, bind: '127.0.0.1', lsd: false, dht });
    engines.push(e);
    const events: EventInput[] = [];
    e.events$.subscribe((ev) => events.push(ev));
    await e.start();
    expect(e.dhtEnabled).toBe(false);
    expect(e.dhtStats()).toBeUndefined();
    await e.add({ meta: f.meta, dir: f.seedDir, mode: 'seed', trackers: [] }).start();
    const peer = await RawPeer.connect(e.port, { pieceCount: f.meta.pieceCount });
    peer.handshake(f.meta.infoHash, { fast: true, dht: true });
    const hs = await peer.nextFrame((fr) => fr.type === 'Handshake');
    expect((hs as { reserved: Buffer }).reserved[7] & 0x01).toBe(0);
    await new Promise((r) => setTimeout(r, 300));
    expect(peer.frames.some((fr) => fr.type === 'Port')).toBe(false);
    expect(events.some((ev) => ev.category === 'dht')).toBe(false);
    peer.destroy();
    await e.stop();
  }
});
