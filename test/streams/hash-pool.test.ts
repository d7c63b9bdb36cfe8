import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { hashFiles } from '../../src/actors/create-actor';
import { HashJob, HashPool } from '../../src/streams/hash-pool';
import { pseudoRandomBytes } from '../support/run-cli';

describe('HashPool and hashFiles', () => {
  let pool: HashPool;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rxt-hash-'));
  beforeAll(() => (pool = new HashPool(2)));
  afterAll(async () => {
    await pool.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('hashes pieces that span several files, in order, like a single concatenated buffer', async () => {
    const parts = [
      pseudoRandomBytes(40_000, 1),
      Buffer.alloc(0),
      pseudoRandomBytes(50_001, 2),
      pseudoRandomBytes(3, 3),
    ];
    let offset = 0;
    const layout = parts.map((b, i) => {
      const p = path.join(dir, `p${i}`);
      fs.writeFileSync(p, b);
      const f = { path: p, length: b.length, offset };
      offset += b.length;
      return f;
    });
    const all = Buffer.concat(parts);
    const pl = 16384;
    const expected = [];
    for (let s = 0; s < all.length; s += pl)
      expected.push(
        createHash('sha1')
          .update(all.subarray(s, s + pl))
          .digest(),
      );
    const events: string[] = [];
    const got = await hashFiles({
      layout,
      total: all.length,
      pieceLength: pl,
      pool,
      onEvent: (e) => events.push(e.type),
    });
    expect(got).toEqual(Buffer.concat(expected));
    expect(events[0]).toBe('HashingStarted');
    expect(events[events.length - 1]).toBe('HashingFinished');
  });

  it('hashes only the pieces asked for (a resume re-check), in ascending order, with progress', async () => {
    const pl = 16384;
    const all = pseudoRandomBytes(pl * 40 + 5, 4);
    const p = path.join(dir, 'subset');
    fs.writeFileSync(p, all);
    const want = [39, 3, 4, 5, 40, 17, 3];
    const sha = (i: number): Buffer =>
      createHash('sha1')
        .update(all.subarray(i * pl, (i + 1) * pl))
        .digest();
    const done: number[] = [];
    const got = await hashFiles({
      layout: [{ path: p, length: all.length, offset: 0 }],
      total: all.length,
      pieceLength: pl,
      pool,
      pieces: want,
      onEvent: (e) => e.type === 'PiecesHashed' && done.push(e.done),
    });
    expect(got).toEqual(Buffer.concat([3, 4, 5, 17, 39, 40].map(sha)));
    expect(done.at(-1)).toBe(6);
    expect(await hashFiles({ layout: [], total: all.length, pieceLength: pl, pool, pieces: [] })).toEqual(
      Buffer.alloc(0),
    );
  });

  it('reports a file that shrank while hashing, naming it', async () => {
    const p = path.join(dir, 'shrunk');
    fs.writeFileSync(p, Buffer.alloc(100));
    await expect(
      hashFiles({
        layout: [{ path: p, length: 50_000, offset: 0 }],
        total: 50_000,
        pieceLength: 16384,
        pool,
      }),
    ).rejects.toMatchObject({
      path: p,
      message: expect.stringMatching(/shorter than expected/),
    });
  });

  it('hashes a buffer', async () => {
    const b = pseudoRandomBytes(1000, 9);
    expect(await pool.hashBuffer(b)).toEqual(createHash('sha1').update(b).digest());
  });
});

describe('HashJob: workers that take batch after batch themselves', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rxt-hashjob-'));
  const pl = 16384;
  const all = pseudoRandomBytes(pl * 50 + 77, 11);
  const file = path.join(dir, 'data');
  fs.writeFileSync(file, all);
  const files = [{ path: file, length: all.length, offset: 0 }];
  const sha = (i: number): Buffer =>
    createHash('sha1')
      .update(all.subarray(i * pl, (i + 1) * pl))
      .digest();
  const batches = Array.from({ length: 11 }, (_, i) => ({ first: i * 5, count: Math.min(5, 51 - i * 5) }));
  const spec = { files, pieceLength: pl, total: all.length, batches };
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  async function results(job: HashJob): Promise<Buffer> {
    return Buffer.concat(await Promise.all(batches.map((b) => job.result(b.first))));
  }
  const expected = (): Buffer => Buffer.concat(Array.from({ length: 51 }, (_, i) => sha(i)));

  it('hashes every batch, on the workers and on this thread too', async () => {
    const pool = new HashPool(1);
    try {
      const job = pool.hashBatches(spec);
      job.helpHere();
      expect(await results(job)).toEqual(expected());
      expect(job.active).toBe(false);
    } finally {
      await pool.close();
    }
  });

  it('hands a prestarted job over when asked for the same work, and cancels it when not', async () => {
    const pool = new HashPool(2);
    try {
      const early = pool.prestart(spec);
      expect(pool.hashBatches({ ...spec, files: [{ ...files[0] }], batches: [...batches] })).toBe(early);
      expect(await results(early)).toEqual(expected());

      const stale = pool.prestart(spec);
      const other = pool.hashBatches({ ...spec, batches: batches.slice(0, 2) });
      expect(other).not.toBe(stale);
      expect(stale.failed).toBe(true);
      expect(await other.result(5)).toEqual(Buffer.concat([5, 6, 7, 8, 9].map(sha)));
    } finally {
      await pool.close();
    }
  });

  it('answers single hashes while a job runs, and fails a job whose file is short, naming it', async () => {
    const pool = new HashPool(2);
    try {
      const short = path.join(dir, 'short');
      fs.writeFileSync(short, all.subarray(0, pl * 20));
      const job = pool.hashBatches({ ...spec, files: [{ path: short, length: all.length, offset: 0 }] });
      const b = pseudoRandomBytes(5000, 12);
      expect(await pool.hashBuffer(b)).toEqual(createHash('sha1').update(b).digest());
      await expect(results(job)).rejects.toMatchObject({
        path: short,
        message: expect.stringMatching(/shorter than expected/),
      });
      expect(job.failed).toBe(true);
      await expect(job.result(0)).rejects.toThrow();
    } finally {
      await pool.close();
    }
  });

  it('fails what is still waiting when the pool closes', async () => {
    const pool = new HashPool(1);
    const job = pool.hashBatches(spec);
    const waiting = expect(results(job)).rejects.toThrow(/closed/);
    await pool.close();
    await waiting;
  });
});
