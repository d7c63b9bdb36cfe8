import {
  StorageEffect,
  StorageIn,
  StorageOut,
  StorageQueueConfig,
  StorageQueueState,
  initialStorageQueue,
  storageQueueTransition,
} from '../../src/core/storage-queue';

/** Folds messages and collects every effect and event, like the runtime would. */
function run(config: StorageQueueConfig, messages: StorageIn[], from?: StorageQueueState) {
  let state = from ?? initialStorageQueue(config);
  const effects: StorageEffect[] = [];
  const events: StorageOut[] = [];
  for (const m of messages) {
    const step = storageQueueTransition(state, m);
    state = step.state;
    effects.push(...(step.effects ?? []));
    events.push(...(step.events ?? []));
  }
  return { state, effects, events };
}

const block = (n: number): Buffer => Buffer.alloc(n, 1);
const write = (index: number, begin: number, n: number): StorageIn => ({
  type: 'WriteBlock',
  index,
  begin,
  data: block(n),
});
const done = (id: number): StorageIn => ({ type: 'DiskWroteBlock', id });
const types = (events: StorageOut[]) => events.map((e) => e.type);
const writeIds = (effects: StorageEffect[]) => effects.filter((e) => e.type === 'Write').map((e) => e.id);

describe('storage queue: watermarks', () => {
  // 10 pieces of 100 bytes; high 250, low 100; one write at a time so bytes pile up.
  const cfg: StorageQueueConfig = {
    pieceLength: 100,
    total: 1000,
    maxConcurrentWrites: 1,
    highWatermark: 250,
    lowWatermark: 100,
  };

  it('turns pressure on at the high watermark and off only at the low one (hysteresis)', () => {
    let r = run(cfg, [write(0, 0, 100), write(1, 0, 100)]);
    expect(r.state.queuedBytes).toBe(200);
    expect(r.state.pressure).toBe(false);

    r = run(cfg, [write(2, 0, 50)], r.state); // 250 = high
    expect(r.state.pressure).toBe(true);
    expect(r.events).toEqual([
      { category: 'storage', type: 'DiskPressureChanged', on: true, queuedBytes: 250 },
    ]);

    r = run(cfg, [done(1)], r.state); // 150: between the marks, still on
    expect(r.state.queuedBytes).toBe(150);
    expect(r.state.pressure).toBe(true);
    expect(types(r.events)).toEqual(['BlockWritten', 'PieceWritten']);

    r = run(cfg, [write(3, 0, 90)], r.state); // 240: below high, still on, no new event
    expect(r.state.pressure).toBe(true);
    expect(types(r.events)).toEqual([]);

    r = run(cfg, [done(2)], r.state); // 140: still on
    expect(r.state.pressure).toBe(true);
    r = run(cfg, [done(3)], r.state); // 90 ≤ low: off
    expect(r.state.pressure).toBe(false);
    expect(r.events).toContainEqual({
      category: 'storage',
      type: 'DiskPressureChanged',
      on: false,
      queuedBytes: 90,
    });

    r = run(cfg, [write(4, 0, 100)], r.state); // 190: below high, stays off
    expect(r.state.pressure).toBe(false);
  });

  it('counts in-flight bytes until they are on disk, and failed writes release their bytes', () => {
    let r = run({ ...cfg, maxConcurrentWrites: 4 }, [write(0, 0, 100), write(1, 0, 100), write(2, 0, 100)]);
    expect(writeIds(r.effects)).toEqual([1, 2, 3]);
    expect(r.state.queuedBytes).toBe(300);
    expect(r.state.pressure).toBe(true);
    r = run(
      cfg,
      [{ type: 'DiskWriteFailed', id: 2, code: 'ENOSPC', path: '/x', message: 'disk full writing /x' }],
      r.state,
    );
    expect(r.state.queuedBytes).toBe(200);
    r = run(cfg, [done(1), done(3)], r.state);
    expect(r.state.queuedBytes).toBe(0);
    expect(r.state.pressure).toBe(false);
  });

  it('defaults to 16 MiB / 4 MiB', () => {
    const s = initialStorageQueue({ pieceLength: 1 << 19, total: 1 << 30 });
    expect([s.high, s.low, s.maxWrites]).toEqual([16 << 20, 4 << 20, 4]);
  });
});

describe('storage queue: concurrency and order', () => {
  const cfg: StorageQueueConfig = { pieceLength: 64, total: 640, maxConcurrentWrites: 2 };

  it('starts at most K writes, then one more per completion, in FIFO order', () => {
    let r = run(cfg, [
      write(0, 0, 16),
      write(0, 16, 16),
      write(0, 32, 16),
      write(0, 48, 16),
      write(1, 0, 16),
    ]);
    expect(writeIds(r.effects)).toEqual([1, 2]);
    expect(r.state.writing.size).toBe(2);
    expect(r.state.writes.size).toBe(3);
    r = run(cfg, [done(2)], r.state);
    expect(writeIds(r.effects)).toEqual([3]);
    r = run(cfg, [done(1), done(3)], r.state);
    expect(writeIds(r.effects)).toEqual([4, 5]);
    expect(r.state.writes.size).toBe(0);
  });

  it('ignores completions it did not start', () => {
    const r = run(cfg, [done(42)]);
    expect(r.events).toEqual([]);
    expect(r.state).toEqual(initialStorageQueue(cfg));
  });

  it('bounds reads separately and answers with the request id', () => {
    let r = run({ ...cfg, maxConcurrentReads: 1 }, [
      { type: 'ReadBlock', reqId: 'a', index: 0, begin: 0, length: 16 },
      { type: 'ReadBlock', reqId: 'b', index: 1, begin: 16, length: 16 },
    ]);
    expect(r.effects).toEqual([{ type: 'Read', id: 1, reqId: 'a', index: 0, begin: 0, length: 16 }]);
    const data = Buffer.from('x');
    r = run(cfg, [{ type: 'DiskReadBlock', id: 1, reqId: 'a', index: 0, begin: 0, data }], r.state);
    expect(r.events).toEqual([
      { category: 'storage', type: 'BlockRead', level: 'debug', reqId: 'a', index: 0, begin: 0, data },
    ]);
    expect(r.effects).toEqual([{ type: 'Read', id: 2, reqId: 'b', index: 1, begin: 16, length: 16 }]);
  });

  it('rejects out-of-range blocks without queueing them', () => {
    const r = run(cfg, [
      write(10, 0, 16),
      write(9, 60, 8),
      { type: 'ReadBlock', reqId: 7, index: -1, begin: 0, length: 1 },
    ]);
    expect(r.effects).toEqual([]);
    expect(r.state.queuedBytes).toBe(0);
    expect(r.events.map((e) => [e.type, 'code' in e ? e.code : undefined])).toEqual([
      ['WriteFailed', 'range'],
      ['WriteFailed', 'range'],
      ['ReadFailed', 'range'],
    ]);
  });
});

describe('storage queue: PieceWritten', () => {
  // pieces of 32 bytes; the last (index 2) is 16.
  const cfg: StorageQueueConfig = { pieceLength: 32, total: 80, maxConcurrentWrites: 8 };

  it('reports a piece once all its bytes are on disk, including a short last piece', () => {
    let r = run(cfg, [write(0, 16, 16), write(2, 0, 16), write(0, 0, 16)]);
    r = run(cfg, [done(1)], r.state);
    expect(types(r.events)).toEqual(['BlockWritten']);
    r = run(cfg, [done(2), done(3)], r.state);
    expect(r.events.filter((e) => e.type === 'PieceWritten')).toEqual([
      { category: 'storage', type: 'PieceWritten', index: 2 },
      { category: 'storage', type: 'PieceWritten', index: 0 },
    ]);
    expect(r.state.pieces.size).toBe(0);
  });

  it('waits for a duplicate block still in flight, and counts it once', () => {
    let r = run(cfg, [write(0, 0, 16), write(0, 0, 16), write(0, 16, 16)]);
    r = run(cfg, [done(1), done(3)], r.state);
    expect(types(r.events)).not.toContain('PieceWritten');
    r = run(cfg, [done(2)], r.state);
    expect(types(r.events)).toContain('PieceWritten');
  });

  it('never reports a piece with a failed block; DiscardPiece starts it afresh', () => {
    let r = run(cfg, [write(1, 0, 16), write(1, 16, 16)]);
    r = run(cfg, [{ type: 'DiskWriteFailed', id: 1, code: 'EIO', message: 'boom' }, done(2)], r.state);
    expect(types(r.events)).toEqual(['WriteFailed', 'BlockWritten']);
    expect(r.state.pieces.size).toBe(0);
    r = run(cfg, [write(1, 0, 16), write(1, 16, 16), done(3), done(4)], r.state);
    expect(types(r.events)).toContain('PieceWritten');
  });

  it('a block from a discarded attempt does not count towards the next one', () => {
    let r = run(cfg, [write(0, 0, 16)]); // id 1, still in flight
    r = run(cfg, [{ type: 'DiscardPiece', index: 0 }, write(0, 16, 16)], r.state); // id 2
    r = run(cfg, [done(1), done(2)], r.state);
    expect(types(r.events)).not.toContain('PieceWritten');
    r = run(cfg, [write(0, 0, 16), done(3)], r.state);
    expect(types(r.events)).toContain('PieceWritten');
  });
});
