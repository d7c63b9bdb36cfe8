import {
  CurrentFile,
  ResumeRecord,
  bitfieldOf,
  decodeResume,
  encodeResume,
  maxResumeBytes,
  planCheck,
} from '../../src/core/resume-data';

const HASH = 'ab'.repeat(20);
/** Two files: a (10 bytes, pieces 0–2) and b (6 bytes, pieces 2–3); 4-byte pieces, 16 bytes. */
const geo = {
  pieceLength: 4,
  pieceCount: 4,
  length: 16,
  files: [
    { offset: 0, length: 10 },
    { offset: 10, length: 6 },
  ],
};
const want = { infoHashHex: HASH, pieceLength: 4, pieceCount: 4, fileCount: 2 };

function record(verified: number[], files = [file(10, '100'), file(6, '200')]): ResumeRecord {
  return {
    infoHash: HASH,
    pieceLength: 4,
    pieceCount: 4,
    verified: bitfieldOf(4, verified),
    files: files.map(({ size, mtimeNs }) => ({ size, mtimeNs })),
  };
}
function file(size: number, mtimeNs: string, hasData = true): CurrentFile {
  return { size, mtimeNs, hasData };
}
function json(o: unknown): Buffer {
  return Buffer.from(JSON.stringify(o));
}

describe('encodeResume / decodeResume', () => {
  it('round-trips a record', () => {
    const r = record([0, 3]);
    const d = decodeResume(encodeResume(r), want);
    expect(d).toEqual({ ok: true, record: r });
  });

  it('keeps nanosecond mtimes exactly (as strings)', () => {
    const r = record([], [file(10, '1732440000123456789'), file(6, '1')]);
    const d = decodeResume(encodeResume(r), want);
    expect(d.ok && d.record.files[0].mtimeNs).toBe('1732440000123456789');
  });

  const good = JSON.parse(encodeResume(record([1])).toString()) as Record<string, unknown>;
  it.each<[string, Buffer | Uint8Array, RegExp]>([
    ['empty file', Buffer.alloc(0), /not valid JSON/],
    ['truncated', encodeResume(record([1])).subarray(0, 30), /not valid JSON/],
    ['binary garbage', Buffer.from([0xff, 0x00, 0x7b]), /not valid JSON/],
    ['an array', json([1, 2]), /not an object/],
    ['null', json(null), /not an object/],
    ['another version', json({ ...good, rxresume: 2 }), /version/],
    ['no version', json({ ...good, rxresume: undefined }), /version/],
    ['another torrent', json({ ...good, infoHash: 'cd'.repeat(20) }), /another torrent/],
    ['another piece length', json({ ...good, pieceLength: 8 }), /piece layout/],
    ['bitfield too short', json({ ...good, verified: '' }), /wrong length/],
    ['bitfield not hex', json({ ...good, verified: 'zz' }), /wrong length/],
    ['bitfield as number', json({ ...good, verified: 80 }), /wrong length/],
    ['spare bits set', json({ ...good, verified: 'ff' }), /past the last piece/],
    ['files missing', json({ ...good, files: undefined }), /number of files/],
    ['one file too few', json({ ...good, files: [{ size: 10, mtimeNs: '1' }] }), /number of files/],
    [
      'negative size',
      json({
        ...good,
        files: [
          { size: -1, mtimeNs: '1' },
          { size: 6, mtimeNs: '1' },
        ],
      }),
      /size/,
    ],
    [
      'fractional size',
      json({
        ...good,
        files: [
          { size: 1.5, mtimeNs: '1' },
          { size: 6, mtimeNs: '1' },
        ],
      }),
      /size/,
    ],
    [
      'mtime as number',
      json({
        ...good,
        files: [
          { size: 1, mtimeNs: 5 },
          { size: 6, mtimeNs: '1' },
        ],
      }),
      /mtime/,
    ],
    [
      'mtime not digits',
      json({
        ...good,
        files: [
          { size: 1, mtimeNs: '1e9' },
          { size: 6, mtimeNs: '1' },
        ],
      }),
      /mtime/,
    ],
    ['file entry null', json({ ...good, files: [null, { size: 6, mtimeNs: '1' }] }), /not an object/],
    ['huge', Buffer.alloc(maxResumeBytes(4, 2) + 1, 0x20), /too large/],
  ])('a corrupt or foreign file means "no resume": %s', (_name, bytes, reason) => {
    const d = decodeResume(bytes, want);
    expect(d.ok).toBe(false);
    expect(!d.ok && d.reason).toMatch(reason);
  });

  it('never throws on random bytes or mutated records', () => {
    const base = encodeResume(record([0, 2]));
    let x = 12345;
    const rnd = (n: number): number => {
      x = (x * 1103515245 + 12345) >>> 0;
      return x % n;
    };
    for (let k = 0; k < 2000; k++) {
      const b = Buffer.from(base);
      for (let j = 0; j < 1 + rnd(4); j++) b[rnd(b.length)] = rnd(256);
      const out = b.subarray(0, rnd(b.length + 1));
      expect(() => decodeResume(out, want)).not.toThrow();
    }
  });
});

describe('planCheck', () => {
  const unchanged = [file(10, '100'), file(6, '200')];

  it('trusts the saved pieces of unchanged files and checks nothing', () => {
    expect(planCheck(geo, record([0, 1, 3]), unchanged)).toEqual({
      trusted: [0, 1, 3],
      recheck: [],
      changedFiles: [],
    });
  });

  it('re-checks every piece touching a changed file, and only those', () => {
    // b's mtime changed (our own write after the last save): pieces 2 (spans a and b) and 3 re-checked.
    const now = [file(10, '100'), file(6, '999')];
    expect(planCheck(geo, record([0, 2, 3]), now)).toEqual({
      trusted: [0],
      recheck: [2, 3],
      changedFiles: [1],
    });
  });

  it('a size change counts as a change', () => {
    const now = [file(9, '100'), file(6, '200')];
    expect(planCheck(geo, record([0, 1, 2, 3]), now)).toEqual({
      trusted: [3],
      recheck: [0, 1, 2],
      changedFiles: [0],
    });
  });

  it('without a record, re-checks the pieces of files that hold data', () => {
    expect(planCheck(geo, undefined, [file(10, '1', false), file(6, '2', true)])).toEqual({
      trusted: [],
      recheck: [2, 3],
      changedFiles: [1],
    });
    // freshly created sparse files: nothing to check
    expect(planCheck(geo, undefined, [file(10, '1', false), file(6, '2', false)]).recheck).toEqual([]);
  });

  it('a missing file is changed; its pieces are missing, not checked', () => {
    expect(planCheck(geo, record([0, 1, 2, 3]), [file(10, '100'), null])).toEqual({
      trusted: [0, 1],
      recheck: [],
      changedFiles: [],
    });
  });

  it('force (--verify) re-checks everything', () => {
    expect(planCheck(geo, record([0, 1, 2, 3]), unchanged, true)).toEqual({
      trusted: [],
      recheck: [0, 1, 2, 3],
      changedFiles: [],
    });
  });

  it('skips zero-length files', () => {
    const g = {
      ...geo,
      files: [
        { offset: 0, length: 10 },
        { offset: 10, length: 0 },
        { offset: 10, length: 6 },
      ],
    };
    const r = {
      ...record([0, 1, 2, 3]),
      files: [...record([]).files.slice(0, 1), { size: 0, mtimeNs: '5' }, record([]).files[1]],
    };
    // the empty file changed (touched): no piece covers it, so nothing is re-checked
    expect(planCheck(g, r, [file(10, '100'), file(0, '6', false), file(6, '200')]).trusted).toEqual([
      0, 1, 2, 3,
    ]);
  });
});
