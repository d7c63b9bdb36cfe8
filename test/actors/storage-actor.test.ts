import { randomBytes } from 'node:crypto';
import * as fsp from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { BlockStore, createStorageActor } from '../../src/actors/storage-actor';
import { StorageOut } from '../../src/core/storage-queue';
import { PieceStorage, StorageError } from '../../src/storage/piece-storage';

interface Call {
  op: 'write' | 'read';
  index: number;
  begin: number;
  length: number;
  resolve: (data?: Buffer) => void;
  reject: (e: unknown) => void;
}

/** A block store whose operations finish only when the test says so. */
function manualStore() {
  const calls: Call[] = [];
  let active = 0;
  let maxActive = 0;
  const track = <T>(p: Promise<T>): Promise<T> => {
    active++;
    maxActive = Math.max(maxActive, active);
    const end = (): void => void active--;
    p.then(end, end);
    return p;
  };
  const store: BlockStore = {
    writeBlock: (index, begin, data) =>
      track(
        new Promise<void>((resolve, reject) =>
          calls.push({ op: 'write', index, begin, length: data.length, resolve: () => resolve(), reject }),
        ),
      ),
    readBlock: (index, begin, length) =>
      track(
        new Promise<Buffer>((resolve, reject) =>
          calls.push({
            op: 'read',
            index,
            begin,
            length,
            resolve: (d) => resolve(d ?? Buffer.alloc(length)),
            reject,
          }),
        ),
      ),
  };
  return { store, calls, maxActive: () => maxActive };
}

/** Lets settled promises deliver their messages to the actor (no timers involved). */
const settle = (): Promise<void> => new Promise((r) => setImmediate(r));

function record<T>(o: { subscribe: (f: (v: T) => void) => unknown }): T[] {
  const out: T[] = [];
  o.subscribe((v) => out.push(v));
  return out;
}

const blk = (n: number, fill = 1): Buffer => Buffer.alloc(n, fill);

describe('storage actor', () => {
  it('runs at most K writes at once, in the order they were sent', async () => {
    const { store, calls, maxActive } = manualStore();
    const actor = createStorageActor({ storage: store, pieceLength: 64, total: 640, maxConcurrentWrites: 2 });
    const events = record<StorageOut>(actor.events$);
    for (let i = 0; i < 6; i++) actor.send({ type: 'WriteBlock', index: i, begin: 0, data: blk(64) });
    expect(calls.map((c) => c.index)).toEqual([0, 1]);
    expect(actor.snapshot().queuedBytes).toBe(6 * 64);

    calls[1].resolve();
    await settle();
    expect(calls.map((c) => c.index)).toEqual([0, 1, 2]);
    while (calls.some((c) => c.op === 'write')) {
      const pending = calls.splice(0);
      pending.forEach((c) => c.resolve());
      await settle();
    }
    expect(maxActive()).toBe(2);
    expect(actor.snapshot().queuedBytes).toBe(0);
    expect(
      events.filter((e) => e.type === 'PieceWritten').map((e) => (e as { index: number }).index),
    ).toEqual([1, 0, 2, 3, 4, 5]);
    actor.stop();
  });

  it('emits PieceWritten only after every block of the piece is on disk', async () => {
    const { store, calls } = manualStore();
    const actor = createStorageActor({ storage: store, pieceLength: 48, total: 96 });
    const events = record<StorageOut>(actor.events$);
    for (const begin of [0, 16, 32]) actor.send({ type: 'WriteBlock', index: 1, begin, data: blk(16) });
    calls[0].resolve();
    calls[2].resolve();
    await settle();
    expect(events.map((e) => e.type)).toEqual(['BlockWritten', 'BlockWritten']);
    calls[1].resolve();
    await settle();
    expect(events.map((e) => e.type)).toEqual([
      'BlockWritten',
      'BlockWritten',
      'BlockWritten',
      'PieceWritten',
    ]);
    actor.stop();
  });

  it('reports a failed write with code and path, and keeps serving other blocks', async () => {
    const { store, calls } = manualStore();
    const actor = createStorageActor({ storage: store, pieceLength: 16, total: 32 });
    const events = record<StorageOut>(actor.events$);
    actor.send({ type: 'WriteBlock', index: 0, begin: 0, data: blk(16) });
    actor.send({ type: 'WriteBlock', index: 1, begin: 0, data: blk(16) });
    calls[0].reject(new StorageError('ENOSPC', '/dl/movie.mp4', 'disk full writing /dl/movie.mp4'));
    calls[1].resolve();
    await settle();
    expect(events).toEqual([
      {
        category: 'error',
        type: 'WriteFailed',
        level: 'error',
        index: 0,
        begin: 0,
        length: 16,
        code: 'ENOSPC',
        path: '/dl/movie.mp4',
        message: 'disk full writing /dl/movie.mp4',
      },
      {
        category: 'storage',
        type: 'BlockWritten',
        level: 'debug',
        index: 1,
        begin: 0,
        length: 16,
        queuedBytes: 0,
      },
      { category: 'storage', type: 'PieceWritten', index: 1 },
    ]);
    expect(actor.status()).toBe('active');
    actor.stop();
  });

  it('toggles pressure$ at the high watermark and back at the low one', async () => {
    const { store, calls } = manualStore();
    const actor = createStorageActor({
      storage: store,
      pieceLength: 16,
      total: 160,
      maxConcurrentWrites: 1,
      highWatermark: 64,
      lowWatermark: 16,
    });
    const pressure = record<boolean>(actor.pressure$);
    for (let i = 0; i < 4; i++) actor.send({ type: 'WriteBlock', index: i, begin: 0, data: blk(16) });
    expect(pressure).toEqual([false, true]);
    for (let i = 0; i < 2; i++) {
      calls[i].resolve();
      await settle();
    }
    expect(actor.snapshot().queuedBytes).toBe(32);
    expect(pressure).toEqual([false, true]); // between the marks: still on
    calls[2].resolve();
    await settle();
    expect(pressure).toEqual([false, true, false]);
    actor.stop();
  });

  it('answers reads by request id, and failed reads with ReadFailed', async () => {
    const { store, calls } = manualStore();
    const actor = createStorageActor({ storage: store, pieceLength: 32, total: 64 });
    const events = record<StorageOut>(actor.events$);
    actor.send({ type: 'ReadBlock', reqId: 'peer-a#1', index: 0, begin: 16, length: 16 });
    actor.send({ type: 'ReadBlock', reqId: 'peer-b#9', index: 1, begin: 0, length: 16 });
    const data = blk(16, 7);
    calls[0].resolve(data);
    calls[1].reject(new StorageError('short-read', '/dl/f', '/dl/f is shorter than the torrent expects'));
    await settle();
    expect(events).toEqual([
      {
        category: 'storage',
        type: 'BlockRead',
        level: 'debug',
        reqId: 'peer-a#1',
        index: 0,
        begin: 16,
        data,
      },
      {
        category: 'error',
        type: 'ReadFailed',
        level: 'error',
        reqId: 'peer-b#9',
        index: 1,
        begin: 0,
        code: 'short-read',
        path: '/dl/f',
        message: '/dl/f is shorter than the torrent expects',
      },
    ]);
    actor.stop();
  });

  it('writes through to a real PieceStorage across file boundaries', async () => {
    const dir = await fsp.mkdtemp(path.join(os.tmpdir(), 'rxt-storage-actor-'));
    try {
      const meta = {
        name: 't',
        multiFile: true,
        pieceLength: 64,
        pieceCount: 3,
        length: 150,
        files: [
          { path: ['a'], length: 70, offset: 0 },
          { path: ['b'], length: 0, offset: 70 },
          { path: ['c'], length: 80, offset: 70 },
        ],
      };
      const storage = new PieceStorage(meta, dir);
      await storage.open({ create: true });
      const actor = createStorageActor({ storage, pieceLength: 64, total: 150, maxConcurrentWrites: 3 });
      const content = randomBytes(150);
      const written = new Set<number>();
      actor.events$.subscribe((e) => e.type === 'PieceWritten' && written.add(e.index));
      for (let off = 0; off < 150; off += 16) {
        const index = Math.floor(off / 64);
        const end = Math.min(150, off + 16, (index + 1) * 64);
        actor.send({ type: 'WriteBlock', index, begin: off - index * 64, data: content.subarray(off, end) });
        if (end < off + 16 && end < 150) {
          actor.send({
            type: 'WriteBlock',
            index: index + 1,
            begin: 0,
            data: content.subarray(end, off + 16),
          });
        }
      }
      for (let i = 0; i < 1000 && written.size < 3; i++) await settle();
      expect([...written].sort()).toEqual([0, 1, 2]);
      expect((await storage.readPiece(1)).equals(content.subarray(64, 128))).toBe(true);
      actor.stop();
      await storage.close();
      const disk = Buffer.concat([
        await fsp.readFile(path.join(dir, 't', 'a')),
        await fsp.readFile(path.join(dir, 't', 'c')),
      ]);
      expect(disk.equals(content)).toBe(true);
    } finally {
      await fsp.rm(dir, { recursive: true, force: true });
    }
  });
});
