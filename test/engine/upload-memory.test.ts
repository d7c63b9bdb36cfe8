/**
 * Upload memory is bounded by design (issue 15): peers that fill their request queues and then stop
 * reading hold at most UPLOAD_BUDGET each (src/actors/peer-connection.ts) — blocks are queued as copies,
 * so a slow reader never pins whole pieces. Eight such readers on a 1 GiB seed: the seeder's peak RSS
 * stays under 150 MB.
 *
 * Each reader asks for blocks of many different pieces (the worst case for pinning: one cached piece per
 * block), in four waves, and never reads its socket, so the seeder's kernel buffers fill and then its own
 * send queues do. The seeder runs with --verify, so it hashes the file once at start and each upload is
 * a plain read (lazy verification would make the seeder CPU-bound, not memory-bound).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { buildMetainfo, parseMetainfo } from '../../src/protocol/metainfo';
import { WireMessage } from '../../src/protocol/wire-codec';
import { PeerProcess, startPeer } from '../support/peer-process';
import { RawPeer, RawTorrent, pieceHashes } from '../support/raw-peer';
import { pseudoRandomBytes, tempDir } from '../support/run-cli';

const PIECE = 512 * 1024;
const SIZE = 1024 * 1024 * 1024;
const READERS = 8;
const WAVES = 4;
const PER_WAVE = 256;
const NAME = 'big.bin';

jest.setTimeout(180_000);

let tmp: { dir: string; cleanup: () => void };
let torrent: RawTorrent;
let torrentFile: string;
let seeder: PeerProcess | undefined;
const readers: RawPeer[] = [];

beforeAll(() => {
  tmp = tempDir('rxt-upmem-');
  // 1 GiB from one random MiB repeated: every piece hash is one of two values, which is fine here.
  const unit = pseudoRandomBytes(1024 * 1024, 5);
  const file = path.join(tmp.dir, NAME);
  const fd = fs.openSync(file, 'w');
  for (let off = 0; off < SIZE; off += unit.length) fs.writeSync(fd, unit, 0, unit.length, off);
  fs.closeSync(fd);
  const pieces = pieceHashes(unit, PIECE);
  const bytes = buildMetainfo({
    name: NAME,
    pieceLength: PIECE,
    pieces: Buffer.concat(Array.from({ length: SIZE / unit.length }, () => pieces)),
    files: [{ path: [NAME], length: SIZE }],
    multiFile: false,
  });
  torrentFile = path.join(tmp.dir, 'big.torrent');
  fs.writeFileSync(torrentFile, bytes);
  const meta = parseMetainfo(bytes);
  torrent = { infoHash: meta.infoHash, pieceLength: PIECE, length: SIZE, pieceCount: meta.pieceCount };
});

afterAll(async () => {
  for (const r of readers) r.destroy();
  await seeder?.kill();
  tmp?.cleanup();
});

function memory(pid: number, field: 'VmRSS' | 'VmHWM'): number {
  const m = new RegExp(`${field}:\\s+(\\d+) kB`).exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
  if (!m) throw new Error(`no ${field} for ${pid}`);
  return Number(m[1]) * 1024;
}

const pause = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

test(`${READERS} slow readers on a 1 GiB seed: peak RSS under 150 MB`, async () => {
  seeder = await startPeer('seed', 'upmem-seed', {
    torrent: torrentFile,
    dir: tmp.dir,
    peers: ['127.0.0.1:1'],
    extra: ['--verify', '--upload-slots', String(READERS)],
  });
  const pid = seeder.child.pid as number;
  console.log(
    `seeder after start: RSS ${(memory(pid, 'VmRSS') / 1048576).toFixed(1)} MiB, peak ${(memory(pid, 'VmHWM') / 1048576).toFixed(1)} MiB`,
  );
  for (let r = 0; r < READERS; r++) {
    const peer = await RawPeer.connect(seeder.port, { pieceCount: torrent.pieceCount });
    readers.push(peer);
    peer.handshake(torrent.infoHash, { fast: true });
    await peer.nextFrame((f) => f.type === 'Handshake', 10_000);
    peer.send({ type: 'Interested' });
    await peer.nextFrame((f) => f.type === 'Unchoke', 10_000);
    peer.stopReading();
  }
  // Waves of requests, each block from a different piece; paced so the seeder can serve each wave (its
  // queue holds 256 requests; the pause is pacing, there is no event to await from a peer that never reads).
  for (let w = 0; w < WAVES; w++) {
    readers.forEach((peer, r) => {
      const batch: WireMessage[] = [];
      for (let j = 0; j < PER_WAVE; j++) {
        const index = (r * 997 + w * PER_WAVE + j * 7) % torrent.pieceCount;
        batch.push({ type: 'Request', index, begin: (w % 32) * 16384, length: 16384 });
      }
      peer.send(...batch);
    });
    await pause(500);
  }
  // Until the seeder's memory settles (bounded): five readings 200 ms apart within 2 MiB of each other.
  const readings: number[] = [];
  for (let i = 0; i < 50; i++) {
    readings.push(memory(pid, 'VmRSS'));
    const last = readings.slice(-5);
    if (last.length === 5 && Math.max(...last) - Math.min(...last) < 2 * 1024 * 1024) break;
    await pause(200);
  }
  expect(seeder.hasExited()).toBe(false);
  const peak = memory(pid, 'VmHWM');
  console.log(`seeder peak RSS with ${READERS} slow readers: ${(peak / 1048576).toFixed(1)} MiB`);
  expect(peak).toBeLessThan(150 * 1000 * 1000);
});
