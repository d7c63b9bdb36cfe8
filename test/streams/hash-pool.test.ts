import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { hashFiles } from '../../src/actors/create-actor';
import { HashPool } from '../../src/streams/hash-pool';
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
