/**
 * The engine's real listener under fuzz (issue 10): at least 10,000 random and mutated handshakes —
 * garbage, bad public keys (0, 1, P-1, P), plain handshakes for unknown torrents, wrong sync, VC, pads,
 * crypto_provide, obfuscated info-hash and IA, truncation, resets and stalls — thrown at an Engine that
 * seeds a torrent, with valid encrypted handshakes (carrying a real BitTorrent handshake) mixed in.
 *
 * The engine must keep serving: every valid handshake reaches the torrent (EncryptedHandshake and
 * PeerConnected for that very connection), every bad one is refused with a reason and closed within the
 * handshake timeout, nothing reaches the error category, no connection is left open, and afterwards a
 * leecher that requires encryption downloads the whole file from it. `npm run fuzz:mse` runs 100,000.
 */
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { Engine } from '../../src/actors/engine';
import { EventInput } from '../../src/events/engine-event';
import { buildMetainfo, parseMetainfo } from '../../src/protocol/metainfo';
import { encodeHandshake } from '../../src/protocol/wire-codec';
import { until } from '../support/child-process';
import { FuzzCase, FuzzSource } from '../support/mse-fuzz-cases';
import { pieceHashes } from '../support/raw-peer';
import { pseudoRandomBytes, tempDir } from '../support/run-cli';

const COUNT = Number(process.env.MSE_FUZZ_COUNT ?? 10_000);
const SEED = Number(process.env.MSE_FUZZ_SEED ?? 777);
const CONCURRENCY = 96;
const TIMEOUT_MS = 250;
/** Scheduling slack on a loaded 2-core machine. */
const SLACK_MS = 3_000;
const PIECE = 256 * 1024;
const SIZE = 4 * PIECE + 999;
const NAME = 'fuzzed.bin';

jest.setTimeout(15 * 60_000);

let tmp: { dir: string; cleanup: () => void };
const engines: Engine[] = [];
afterAll(async () => {
  await Promise.all(engines.map((e) => e.stop()));
  tmp?.cleanup();
});

/** Plays one case; resolves with the local port and whether the engine closed the connection in time. */
function attack(port: number, c: FuzzCase): Promise<{ localPort: number; closed: boolean }> {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    let localPort = 0;
    let received = Buffer.alloc(0);
    let answered = false;
    const limit = setTimeout(() => {
      s.destroy();
      resolve({ localPort, closed: false });
    }, TIMEOUT_MS + SLACK_MS);
    s.on('error', () => undefined);
    s.on('close', () => {
      clearTimeout(limit);
      resolve({ localPort, closed: true });
    });
    const finish = () => {
      if (c.finish === 'end') s.end();
      else if (c.finish === 'destroy') s.destroy();
    };
    s.on('data', (d: Buffer) => {
      if (answered) return;
      received = Buffer.concat([received, d]);
      if (received.length < 96 || !c.after) return;
      answered = true;
      s.write(c.after(received));
      finish();
    });
    s.on('connect', () => {
      localPort = s.localPort ?? 0;
      s.write(c.first);
      if (!c.after || c.first.length < 96) finish();
    });
  });
}

describe(`the engine's listener under MSE fuzz (${COUNT} handshakes, seed ${SEED})`, () => {
  it('keeps seeding: valid handshakes reach the torrent, bad ones are refused and closed in time', async () => {
    tmp = tempDir('rxt-mse-fuzz-');
    const data = pseudoRandomBytes(SIZE, 31);
    const seedDir = path.join(tmp.dir, 'seed');
    fs.mkdirSync(seedDir);
    fs.writeFileSync(path.join(seedDir, NAME), data);
    const meta = parseMetainfo(
      buildMetainfo({
        name: NAME,
        pieceLength: PIECE,
        pieces: pieceHashes(data, PIECE),
        files: [{ path: [NAME], length: SIZE }],
        multiFile: false,
      }),
    );
    const seeder = new Engine({ port: 0, bind: '127.0.0.1', handshakeTimeoutMs: TIMEOUT_MS });
    engines.push(seeder);
    const events: EventInput[] = [];
    seeder.events$.subscribe((e) => {
      if (
        ['IncomingRefused', 'EncryptedHandshake', 'PeerConnected'].includes(e.type) ||
        e.category === 'error'
      )
        events.push(e);
    });
    await seeder.start();
    const torrent = seeder.add({ meta, dir: seedDir, mode: 'seed', trackers: [], resumeFile: false });
    await torrent.start();

    // Valid cases carry a real handshake, each with its own peer id (no "duplicate connection").
    const ia = (n: number) =>
      encodeHandshake({
        infoHash: meta.infoHash,
        peerId: Buffer.from(`-FZ0001-${String(n).padStart(12, '0')}`),
      });
    const src = new FuzzSource(SEED, meta.infoHash, ia);
    const validPorts: number[] = [];
    const lateCloses: number[] = [];
    let next = 0;
    let maxLifeMs = 0;
    const rssBefore = process.memoryUsage().rss;
    const worker = async () => {
      while (next < COUNT) {
        const i = next++;
        const c = src.next(i % 50 === 0);
        const born = Date.now();
        const r = await attack(seeder.port, c);
        maxLifeMs = Math.max(maxLifeMs, Date.now() - born);
        if (c.kind === 'valid') validPorts.push(r.localPort);
        if (!r.closed) lateCloses.push(i);
      }
    };
    await Promise.all(Array.from({ length: CONCURRENCY }, worker));
    const rssAfter = process.memoryUsage().rss;
    await until('every connection to close', () => (seeder.stats().connections === 0 ? true : undefined));

    // Still serving: a leecher that accepts nothing but RC4 downloads every byte.
    const leecher = new Engine({ port: 0, bind: '127.0.0.1', encryption: 'required' });
    engines.push(leecher);
    await leecher.start();
    const leechDir = path.join(tmp.dir, 'leech');
    fs.mkdirSync(leechDir);
    const download = leecher.add({
      meta,
      dir: leechDir,
      mode: 'leech',
      trackers: [],
      resumeFile: false,
      peers: [{ ip: '127.0.0.1', port: seeder.port }],
    });
    await download.start();
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      download.whenFinishedOrFailed(),
      new Promise(
        (_, fail) => (timer = setTimeout(() => fail(new Error('leecher did not finish in 30 s')), 30_000)),
      ),
    ]).finally(() => clearTimeout(timer));
    expect(fs.readFileSync(path.join(leechDir, NAME)).equals(data)).toBe(true);

    const codes = new Map<string, number>();
    for (const e of events)
      if (e.type === 'IncomingRefused')
        codes.set(String(e.code ?? 'listener'), (codes.get(String(e.code ?? 'listener')) ?? 0) + 1);
    const encrypted = new Set(
      events.filter((e) => e.type === 'EncryptedHandshake' && e.outgoing === false).map((e) => e.peer),
    );
    const connected = new Set(events.filter((e) => e.type === 'PeerConnected').map((e) => e.peer));
    const stats = seeder.stats();
    console.log(
      `engine mse fuzz: ${COUNT} handshakes, refusals by code ${JSON.stringify(Object.fromEntries(codes))}, ` +
        `${encrypted.size} encrypted handshakes routed, stats ${JSON.stringify(stats)}, ` +
        `longest connection ${maxLifeMs} ms, rss ${Math.round(rssBefore / 2 ** 20)} -> ${Math.round(rssAfter / 2 ** 20)} MiB`,
    );
    expect(events.filter((e) => e.category === 'error')).toEqual([]);
    expect(lateCloses).toEqual([]);
    expect(maxLifeMs).toBeLessThan(TIMEOUT_MS + SLACK_MS);
    expect(validPorts.length).toBeGreaterThanOrEqual(Math.floor(COUNT / 50));
    const missing = validPorts.filter(
      (p) => !encrypted.has(`127.0.0.1:${p}`) || !connected.has(`127.0.0.1:${p}`),
    );
    expect(missing).toEqual([]);
    const expected = [
      'bad-public-key',
      'sync-not-found',
      'bad-vc',
      'pad-too-long',
      'closed',
      'timeout',
      'handshake',
    ];
    expect(expected.filter((code) => !codes.get(code))).toEqual([]);
    // Plain handshakes for torrents we do not have were refused by the listener itself.
    expect(stats.unknownInfoHash).toBeGreaterThan(0);
  });
});
