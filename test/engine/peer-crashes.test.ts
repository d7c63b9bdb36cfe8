/**
 * Crashes found in the engine, one named test each (issue 15): a scripted peer sends the message that
 * used to kill the process; now that peer's connection is closed as a protocol violation (or the message
 * is ignored where BEP 3 allows it), the process lives, and it still completes from an honest peer.
 *
 * The leecher (our CLI, a child process) dials a raw seeder on 127.0.0.1 (`--peer`), which opens with
 * HAVE ALL + UNCHOKE and answers the leecher's first REQUEST with the hostile message. Then an honest raw
 * seeder dials the leecher and serves every block; the file must come out byte-identical.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { WireMessage } from '../../src/protocol/wire-codec';
import { serveHonestly } from '../support/fuzz-peer';
import { PeerProcess, startPeer } from '../support/peer-process';
import { RawPeer, RawTorrent, listenRaw, writeSingleFileTorrent } from '../support/raw-peer';
import { pseudoRandomBytes, tempDir } from '../support/run-cli';

const PIECE = 256 * 1024;
const SIZE = 9 * PIECE + 5_000;
const NAME = 'crash.bin';

let tmp: { dir: string; cleanup: () => void };
let data: Buffer;
let torrentFile: string;
let torrent: RawTorrent;
const running: PeerProcess[] = [];

beforeAll(() => {
  tmp = tempDir('rxt-crash-');
  data = pseudoRandomBytes(SIZE, 77);
  ({ torrentFile, torrent } = writeSingleFileTorrent(tmp.dir, 'crash', NAME, data, PIECE));
});

afterEach(async () => {
  await Promise.all(running.splice(0).map((p) => p.kill()));
});

afterAll(() => tmp?.cleanup());

/**
 * A raw seeder that answers the leecher's first REQUEST with `hostile(request)`; resolves with the
 * leecher's PeerDisconnected reason for that connection (from its event log).
 */
async function hostileSeeder(
  label: string,
  hostile: (req: { index: number; begin: number; length: number }) => WireMessage[],
): Promise<{ leecher: PeerProcess; closedBecause: string }> {
  let answered!: () => void;
  const answeredP = new Promise<void>((r) => (answered = r));
  const raw = await listenRaw('127.0.0.1', torrent.pieceCount, (peer: RawPeer) => {
    void (async () => {
      await peer.nextFrame((f) => f.type === 'Handshake', 10_000);
      peer.handshake(torrent.infoHash, { fast: true });
      peer.send({ type: 'HaveAll' }, { type: 'Unchoke' });
      const req = await peer.nextFrame((f) => f.type === 'Request', 10_000);
      if (req.type !== 'Request') return;
      peer.send(...hostile(req));
      answered();
    })().catch(() => undefined);
  });
  const dir = path.join(tmp.dir, label);
  fs.mkdirSync(dir);
  const leecher = await startPeer('leech', label, {
    torrent: torrentFile,
    dir,
    peers: [`127.0.0.1:${raw.port}`],
    exitOnDone: true,
    // The raw seeder speaks plain BitTorrent only (and does not hang up on an MSE key as real peers do).
    extra: ['--encryption', 'tolerated'],
  });
  running.push(leecher);
  try {
    await answeredP;
    const deadline = Date.now() + 10_000;
    for (;;) {
      const gone = leecher.events('PeerDisconnected').find((e) => e.peer === `127.0.0.1:${raw.port}`);
      if (gone) return { leecher, closedBecause: String(gone.reason) };
      if (leecher.hasExited()) throw new Error(`leecher died:\n${leecher.stderr()}`);
      if (Date.now() > deadline) throw new Error('leecher did not drop the hostile peer');
      await new Promise((r) => setTimeout(r, 25));
    }
  } finally {
    raw.server.close();
    for (const p of raw.peers) p.destroy();
  }
}

async function expectStillCompletes(leecher: PeerProcess, label: string): Promise<void> {
  expect(leecher.hasExited()).toBe(false);
  const served = serveHonestly(leecher.port, torrent, data);
  await leecher.complete(30_000);
  await served;
  expect(await leecher.exited).toBe(0);
  expect(fs.readFileSync(path.join(tmp.dir, label, NAME)).equals(data)).toBe(true);
  expect(leecher.stderr()).not.toMatch(/\n\s+at /); // no stack trace
}

describe('peer messages that used to crash the leecher', () => {
  test('REJECT of the requested block with a different length (the issue: piece 7, begin 0, length 100)', async () => {
    const { leecher, closedBecause } = await hostileSeeder('reject-length', (r) => [
      { type: 'Reject', index: r.index, begin: r.begin, length: 100 },
    ]);
    expect(closedBecause).toMatch(/reject for a block we did not request/);
    await expectStillCompletes(leecher, 'reject-length');
  });

  test('REJECT for a block never requested, at an offset that is not a block boundary', async () => {
    const { leecher, closedBecause } = await hostileSeeder('reject-offset', (r) => [
      // Another full-size piece (the last one is short: a span past its end is a different violation).
      { type: 'Reject', index: (r.index + 1) % (torrent.pieceCount - 1), begin: 100, length: 16384 },
    ]);
    expect(closedBecause).toMatch(/reject for a block we did not request/);
    await expectStillCompletes(leecher, 'reject-offset');
  });

  test('PIECE inside a requested block (same block key, begin off by 100) is dropped, not a crash', async () => {
    const { leecher, closedBecause } = await hostileSeeder('piece-offset', (r) => [
      // Ends where the requested block ends, so it is inside the piece whichever block was asked for.
      { type: 'Piece', index: r.index, begin: r.begin + 100, block: Buffer.alloc(r.length - 100, 1) },
      // Then a violation we can wait for, so the test knows the PIECE was handled first.
      { type: 'Reject', index: r.index, begin: r.begin + 100, length: r.length - 100 },
    ]);
    expect(closedBecause).toMatch(/reject for a block we did not request/);
    await expectStillCompletes(leecher, 'piece-offset');
  });
});
