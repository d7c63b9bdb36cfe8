import { createHash, randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as fsp from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { PieceStorage, StorageError } from '../../src/storage/piece-storage';
import { HashPool } from '../../src/streams/hash-pool';

type Meta = ConstructorParameters<typeof PieceStorage>[0];

/** A metainfo-shaped object: `files` as [path components, length]. */
function metaFor(
  name: string,
  files: [string[], number][],
  pieceLength: number,
  multiFile = files.length > 1,
): Meta {
  let offset = 0;
  const entries = files.map(([p, length]) => {
    const e = { path: p, length, offset };
    offset += length;
    return e;
  });
  return {
    name,
    files: entries,
    multiFile,
    pieceLength,
    pieceCount: Math.ceil(offset / pieceLength),
    length: offset,
  };
}

function pieceOf(content: Buffer, m: Meta, i: number): Buffer {
  return content.subarray(i * m.pieceLength, Math.min(m.length, (i + 1) * m.pieceLength));
}

/** Writes every piece in `block`-sized blocks, in a scrambled but fixed order. */
async function writeAll(s: PieceStorage, m: Meta, content: Buffer, block: number): Promise<void> {
  const jobs: [number, number][] = [];
  for (let i = 0; i < m.pieceCount; i++) {
    const size = pieceOf(content, m, i).length;
    for (let b = 0; b < size; b += block) jobs.push([i, b]);
  }
  jobs.sort((a, b) => ((a[0] * 7 + a[1] * 13) % 11) - ((b[0] * 7 + b[1] * 13) % 11));
  await Promise.all(
    jobs.map(([i, b]) => {
      const piece = pieceOf(content, m, i);
      return s.writeBlock(i, b, piece.subarray(b, Math.min(piece.length, b + block)));
    }),
  );
}

async function expectStorageError(
  p: Promise<unknown>,
  code: string,
  pathPart?: string,
): Promise<StorageError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(StorageError);
  const se = err as StorageError;
  expect(se.code).toBe(code);
  if (pathPart !== undefined) {
    expect(se.path).toContain(pathPart);
    expect(se.message).toContain(pathPart);
  }
  return se;
}

let dir: string;
beforeEach(async () => {
  dir = await fsp.mkdtemp(path.join(os.tmpdir(), 'rxt-storage-'));
});
afterEach(async () => {
  await fsp.chmod(dir, 0o755).catch(() => undefined);
  await fsp.rm(dir, { recursive: true, force: true });
});

describe('PieceStorage paths', () => {
  it('puts a single-file torrent at dir/name and a multi-file one under dir/name/…', () => {
    const single = new PieceStorage(metaFor('movie.mp4', [[['movie.mp4'], 10]], 4), dir);
    expect(single.paths).toEqual([path.join(dir, 'movie.mp4')]);
    const multi = new PieceStorage(
      metaFor(
        'album',
        [
          [['a.flac'], 3],
          [['cd2', 'b.flac'], 4],
        ],
        4,
      ),
      dir,
    );
    expect(multi.paths).toEqual([
      path.join(dir, 'album', 'a.flac'),
      path.join(dir, 'album', 'cd2', 'b.flac'),
    ]);
    expect(multi.layout()).toEqual([
      { path: path.join(dir, 'album', 'a.flac'), length: 3, offset: 0 },
      { path: path.join(dir, 'album', 'cd2', 'b.flac'), length: 4, offset: 3 },
    ]);
  });

  it('refuses paths that resolve outside the folder', () => {
    const escape = metaFor(
      'x',
      [
        [['ok'], 1],
        [['..', '..', 'evil'], 1],
      ],
      4,
    );
    expect(() => new PieceStorage(escape, dir)).toThrow(StorageError);
    try {
      new PieceStorage(escape, dir);
    } catch (e) {
      expect((e as StorageError).code).toBe('unsafe-path');
      expect((e as StorageError).message).toContain(dir);
    }
    expect(() => new PieceStorage(metaFor('..', [[['..'], 1]], 4), dir)).toThrow(/outside/);
    expect(() => new PieceStorage(metaFor('/etc/passwd', [[['/etc/passwd'], 1]], 4), dir)).toThrow(/outside/);
  });
});

describe('PieceStorage on real files', () => {
  it('single file: preallocates, and reads back what was written byte for byte', async () => {
    const m = metaFor('movie.bin', [[['movie.bin'], 5000]], 1024);
    const content = randomBytes(m.length);
    const s = new PieceStorage(m, dir);
    await s.open({ create: true });
    expect(fs.statSync(path.join(dir, 'movie.bin')).size).toBe(5000);
    await writeAll(s, m, content, 256);
    for (let i = 0; i < m.pieceCount; i++)
      expect((await s.readPiece(i)).equals(pieceOf(content, m, i))).toBe(true);
    expect((await s.readBlock(4, 100, 804)).equals(content.subarray(4196, 5000))).toBe(true);
    await s.flush();
    await s.close();
    expect(fs.readFileSync(path.join(dir, 'movie.bin')).equals(content)).toBe(true);
  });

  it('multi-file: pieces span file boundaries and zero-length files; hashes from layout() match', async () => {
    const m = metaFor(
      'set',
      [
        [['a.bin'], 1000],
        [['empty-1'], 0],
        [['sub', 'b.bin'], 1500],
        [['sub', 'deeper', 'empty-2'], 0],
        [['c.bin'], 700],
        [['tail-empty'], 0],
      ],
      1024,
    );
    const content = randomBytes(m.length);
    const s = new PieceStorage(m, dir);
    await s.open({ create: true });
    for (const [i, p] of s.paths.entries()) expect(fs.statSync(p).size).toBe(m.files[i].length);
    await writeAll(s, m, content, 300);
    for (let i = 0; i < m.pieceCount; i++)
      expect((await s.readPiece(i)).equals(pieceOf(content, m, i))).toBe(true);
    // A block straddling a.bin | b.bin (piece 0 ends inside b.bin) and one straddling b.bin | c.bin.
    expect((await s.readBlock(0, 990, 34)).equals(content.subarray(990, 1024))).toBe(true);
    expect((await s.readBlock(2, 400, 100)).equals(content.subarray(2448, 2548))).toBe(true);
    await s.flush();

    const pool = new HashPool(1);
    try {
      const hashes = await pool.hashPieces(s.layout(), m.pieceLength, m.length, 0, m.pieceCount);
      for (let i = 0; i < m.pieceCount; i++) {
        const want = createHash('sha1')
          .update(pieceOf(content, m, i))
          .digest();
        expect(hashes.subarray(i * 20, i * 20 + 20).equals(want)).toBe(true);
      }
    } finally {
      await pool.close();
    }
    await s.close();
    expect(fs.readFileSync(path.join(dir, 'set', 'a.bin')).equals(content.subarray(0, 1000))).toBe(true);
    expect(fs.readFileSync(path.join(dir, 'set', 'sub', 'b.bin')).equals(content.subarray(1000, 2500))).toBe(
      true,
    );
    expect(fs.readFileSync(path.join(dir, 'set', 'c.bin')).equals(content.subarray(2500))).toBe(true);
    expect(fs.statSync(path.join(dir, 'set', 'sub', 'deeper', 'empty-2')).size).toBe(0);
  });

  it('keeps at most maxOpenFiles handles open and still reads and writes every file', async () => {
    const files: [string[], number][] = Array.from({ length: 9 }, (_, i) => [[`f${i}`], 100 + i * 37]);
    const m = metaFor('many', files, 256);
    const content = randomBytes(m.length);
    const s = new PieceStorage(m, dir, { maxOpenFiles: 2 });
    await s.open({ create: true });
    expect(s.openFiles).toBeLessThanOrEqual(2);
    await writeAll(s, m, content, 64);
    await s.flush();
    expect(s.openFiles).toBeLessThanOrEqual(2);
    for (let i = 0; i < m.pieceCount; i++)
      expect((await s.readPiece(i)).equals(pieceOf(content, m, i))).toBe(true);
    await s.close();
    const disk = Buffer.concat(s.paths.map((p) => fs.readFileSync(p)));
    expect(disk.equals(content)).toBe(true);
  });

  it('extends a shorter existing file without touching its bytes, and reopens without create', async () => {
    const p = path.join(dir, 'partial.bin');
    const head = randomBytes(700);
    fs.writeFileSync(p, head);
    const m = metaFor('partial.bin', [[['partial.bin'], 2048]], 1024);
    const s = new PieceStorage(m, dir);
    await s.open({ create: true });
    expect(fs.statSync(p).size).toBe(2048);
    expect((await s.readBlock(0, 0, 700)).equals(head)).toBe(true);
    await s.close();

    const again = new PieceStorage(m, dir);
    await again.open({ create: false });
    expect((await again.readBlock(0, 0, 700)).equals(head)).toBe(true);
    await again.close();
  });

  it('refuses an existing file larger than expected and leaves it intact', async () => {
    const p = path.join(dir, 'big.bin');
    const bytes = randomBytes(3000);
    fs.writeFileSync(p, bytes);
    const s = new PieceStorage(metaFor('big.bin', [[['big.bin'], 2048]], 1024), dir);
    const err = await expectStorageError(s.open({ create: true }), 'too-large', p);
    expect(err.message).toMatch(/3000 bytes.*2048/);
    expect(fs.readFileSync(p).equals(bytes)).toBe(true);
  });

  it('rejects reads and writes outside a piece', async () => {
    const m = metaFor('r.bin', [[['r.bin'], 2500]], 1024); // pieces 1024, 1024, 452
    const s = new PieceStorage(m, dir);
    await s.open({ create: true });
    await expectStorageError(s.readBlock(-1, 0, 10), 'range');
    await expectStorageError(s.readBlock(3, 0, 10), 'range');
    await expectStorageError(s.readBlock(0, 1000, 25), 'range');
    await expectStorageError(s.readBlock(2, 0, 453), 'range');
    await expectStorageError(s.readBlock(0, -1, 10), 'range');
    await expectStorageError(s.readBlock(0, 0, 0), 'range');
    await expectStorageError(s.readBlock(0.5, 0, 1), 'range');
    await expectStorageError(s.writeBlock(2, 400, Buffer.alloc(53)), 'range');
    expect((await s.readBlock(2, 0, 452)).length).toBe(452);
    await s.close();
    await expectStorageError(s.readBlock(0, 0, 1), 'closed');
  });

  it('rejects use before open', async () => {
    const s = new PieceStorage(metaFor('n.bin', [[['n.bin'], 10]], 1024), dir);
    await expectStorageError(s.readBlock(0, 0, 1), 'not-open');
  });

  it('names a missing file when opened without create', async () => {
    const m = metaFor(
      'gone',
      [
        [['here'], 10],
        [['missing'], 10],
      ],
      1024,
    );
    fs.mkdirSync(path.join(dir, 'gone'));
    fs.writeFileSync(path.join(dir, 'gone', 'here'), Buffer.alloc(10));
    const s = new PieceStorage(m, dir);
    const err = await expectStorageError(
      s.open({ create: false }),
      'ENOENT',
      path.join(dir, 'gone', 'missing'),
    );
    expect(err.message).toMatch(/missing file/);
  });

  it('read-only mode: seeds from files without writing; sizes must match', async () => {
    const p = path.join(dir, 'seed.bin');
    const bytes = randomBytes(1500);
    fs.writeFileSync(p, bytes);
    const ok = new PieceStorage(metaFor('seed.bin', [[['seed.bin'], 1500]], 1024), dir);
    await ok.open({ create: false, readOnly: true });
    expect((await ok.readPiece(1)).equals(bytes.subarray(1024))).toBe(true);
    await expectStorageError(ok.writeBlock(0, 0, Buffer.alloc(1)), 'EROFS');
    await ok.close();
    const short = new PieceStorage(metaFor('seed.bin', [[['seed.bin'], 2000]], 1024), dir);
    await expectStorageError(short.open({ create: false, readOnly: true }), 'size-mismatch', p);
    expect(fs.statSync(p).size).toBe(1500);
  });

  it('a path under a regular file gives ENOTDIR naming the path', async () => {
    const blocker = path.join(dir, 'not-a-folder');
    fs.writeFileSync(blocker, 'x');
    const m = metaFor(
      'album',
      [
        [['a'], 1],
        [['b'], 1],
      ],
      1024,
    );
    const s = new PieceStorage(m, blocker);
    await expectStorageError(s.open({ create: true }), 'ENOTDIR', blocker);
  });

  const asRoot = typeof process.getuid === 'function' && process.getuid() === 0;
  (asRoot ? it.skip : it)('a read-only folder gives EACCES naming the path (skipped as root)', async () => {
    const ro = path.join(dir, 'ro');
    fs.mkdirSync(ro, 0o555);
    const s = new PieceStorage(metaFor('x.bin', [[['x.bin'], 10]], 1024), ro);
    const err = await expectStorageError(s.open({ create: true }), 'EACCES', path.join(ro, 'x.bin'));
    expect(err.message).toMatch(/permission denied/);
  });

  (fs.existsSync('/dev/full') ? it : it.skip)(
    'a full disk gives ENOSPC naming the file (via /dev/full)',
    async () => {
      fs.symlinkSync('/dev/full', path.join(dir, 'movie.mp4'));
      const s = new PieceStorage(metaFor('movie.mp4', [[['movie.mp4'], 4096]], 1024), dir);
      await s.open({ create: true });
      const err = await expectStorageError(
        s.writeBlock(1, 0, randomBytes(512)),
        'ENOSPC',
        path.join(dir, 'movie.mp4'),
      );
      expect(err.message).toBe(`disk full writing ${path.join(dir, 'movie.mp4')}`);
      await s.close();
    },
  );
});
