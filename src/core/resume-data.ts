/**
 * Resume data: what a session remembers between runs, and which pieces it may trust on the next start.
 *
 * Owns: the resume record (a versioned JSON object), encoding it, decoding and validating it — a
 * resume file is input from disk that may be truncated, stale, from another torrent or hostile, so
 * anything unexpected decodes to "no resume" with a reason, never to an exception — and the pure
 * decision of which pieces to trust, which to re-check by hashing, and which are simply missing.
 * Does not own: reading or writing the file, `stat`, fsync (src/storage/resume-file.ts) or hashing
 * (src/actors/create-actor.ts `hashFiles` with `pieces`).
 *
 * Format (JSON, one object; JSON rather than bencode because the record is ours alone, small, and
 * readable with `cat` when a user asks "why did it re-check?"):
 *
 *   { "rxresume": 1, "infoHash": "<40 hex>", "pieceLength": 524288, "pieceCount": 128,
 *     "verified": "<hex bitfield, BitTorrent bit order, spare bits zero>",
 *     "files": [ { "size": 67108864, "mtimeNs": "1732440000123456789" } ] }
 *
 * Trust rule: a piece is trusted only if it is in `verified` *and* every file it touches still has the
 * recorded size and mtime (nanoseconds, compared exactly). The writer fsyncs the data before it records
 * the mtimes, so a trusted piece is on disk. Our own writes change a file's mtime too, so after a crash
 * the files written since the last save do not match: every piece touching such a file is re-checked
 * (including pieces verified after the last save — that is what keeps a restart from downloading them
 * again). Pieces that touch only unchanged files and are not in `verified` are missing without a check.
 *
 * @example
 *   const rec = decodeResume(bytes, { infoHashHex, pieceLength, pieceCount, fileCount: 1 });
 *   const plan = planCheck(geometry, rec.ok ? rec.record : undefined, [{ size, mtimeNs, hasData: true }]);
 *   // plan.trusted: pieces to mark as had now; plan.recheck: pieces to hash; everything else is missing
 */

/** Current version of the record; an unknown version means "no resume". */
export const RESUME_VERSION = 1;

export interface ResumeFileState {
  /** Size in bytes when saved. */
  size: number;
  /** mtime in nanoseconds since the epoch, as a decimal string (exact; a number would lose digits). */
  mtimeNs: string;
}

export interface ResumeRecord {
  infoHash: string;
  pieceLength: number;
  pieceCount: number;
  /** Verified pieces, BitTorrent bit order (piece 0 = high bit of byte 0). */
  verified: Uint8Array;
  files: ResumeFileState[];
}

export interface ResumeExpect {
  infoHashHex: string;
  pieceLength: number;
  pieceCount: number;
  fileCount: number;
}

export type DecodeResult = { ok: true; record: ResumeRecord } | { ok: false; reason: string };

/** The largest resume file worth parsing for a torrent of this shape (anything bigger is refused unread). */
export function maxResumeBytes(pieceCount: number, fileCount: number): number {
  return 4096 + Math.ceil(pieceCount / 8) * 2 + fileCount * 96;
}

export function encodeResume(r: ResumeRecord): Buffer {
  return Buffer.from(
    JSON.stringify({
      rxresume: RESUME_VERSION,
      infoHash: r.infoHash,
      pieceLength: r.pieceLength,
      pieceCount: r.pieceCount,
      verified: Buffer.from(r.verified).toString('hex'),
      files: r.files.map((f) => ({ size: f.size, mtimeNs: f.mtimeNs })),
    }) + '\n',
  );
}

/** Parses and validates a resume file against the torrent it is meant for. Never throws. */
export function decodeResume(bytes: Uint8Array, want: ResumeExpect): DecodeResult {
  const no = (reason: string): DecodeResult => ({ ok: false, reason });
  if (bytes.length > maxResumeBytes(want.pieceCount, want.fileCount)) return no('resume file too large');
  let v: unknown;
  try {
    v = JSON.parse(Buffer.from(bytes).toString('utf8'));
  } catch {
    return no('resume file is not valid JSON (truncated or corrupt)');
  }
  if (!isObject(v)) return no('resume file is not an object');
  if (v.rxresume !== RESUME_VERSION) return no(`unknown resume version ${JSON.stringify(v.rxresume)}`);
  if (typeof v.infoHash !== 'string' || v.infoHash.toLowerCase() !== want.infoHashHex.toLowerCase())
    return no('resume file belongs to another torrent');
  if (v.pieceLength !== want.pieceLength || v.pieceCount !== want.pieceCount)
    return no('resume file has another piece layout');
  const byteLen = Math.ceil(want.pieceCount / 8);
  if (typeof v.verified !== 'string' || !/^[0-9a-f]*$/i.test(v.verified) || v.verified.length !== byteLen * 2)
    return no('resume bitfield has the wrong length');
  const verified = new Uint8Array(Buffer.from(v.verified, 'hex'));
  const spare = byteLen * 8 - want.pieceCount;
  if (spare > 0 && (verified[byteLen - 1] & ((1 << spare) - 1)) !== 0)
    return no('resume bitfield has bits past the last piece');
  if (!Array.isArray(v.files) || v.files.length !== want.fileCount)
    return no('resume file lists another number of files');
  const files: ResumeFileState[] = [];
  for (const f of v.files as unknown[]) {
    if (!isObject(f)) return no('resume file entry is not an object');
    const { size, mtimeNs } = f;
    if (typeof size !== 'number' || !Number.isSafeInteger(size) || size < 0)
      return no('resume file entry has a bad size');
    if (typeof mtimeNs !== 'string' || !/^\d{1,25}$/.test(mtimeNs))
      return no('resume file entry has a bad mtime');
    files.push({ size, mtimeNs });
  }
  return {
    ok: true,
    record: {
      infoHash: want.infoHashHex.toLowerCase(),
      pieceLength: want.pieceLength,
      pieceCount: want.pieceCount,
      verified,
      files,
    },
  };
}

/** A file of the torrent as it is on disk now; `null` when it does not exist. */
export interface CurrentFile {
  size: number;
  mtimeNs: string;
  /** Whether it holds any allocated data (a freshly created sparse file does not). */
  hasData: boolean;
}

export interface PieceGeometry {
  pieceLength: number;
  pieceCount: number;
  /** Total bytes. */
  length: number;
  /** Each file's offset and length in the concatenated content, in metainfo order. */
  files: readonly { offset: number; length: number }[];
}

export interface CheckPlan {
  /** Pieces to treat as verified now, without hashing. */
  trusted: number[];
  /** Pieces to hash before deciding (ascending). */
  recheck: number[];
  /** Files whose size or mtime differ from the record (all files with data when there is no record). */
  changedFiles: number[];
}

/**
 * Decides, per piece, trust / re-check / missing. `force` (the user's `--verify`) re-checks every
 * piece. Without a record every piece touching a file with data is re-checked.
 *
 * @example
 *   planCheck({ pieceLength: 4, pieceCount: 3, length: 12, files: [{ offset: 0, length: 12 }] },
 *     savedRecord, [{ size: 12, mtimeNs: '5', hasData: true }]) // record: pieces 0 and 1 verified, mtime '5'
 *   // → { trusted: [0, 1], recheck: [], changedFiles: [] }
 */
export function planCheck(
  g: PieceGeometry,
  record: ResumeRecord | undefined,
  current: readonly (CurrentFile | null)[],
  force = false,
): CheckPlan {
  const unchanged = g.files.map((f, i) => {
    const c = current[i];
    const saved = record?.files[i];
    return !!c && !!saved && c.size === saved.size && c.size === f.length && c.mtimeNs === saved.mtimeNs;
  });
  const hasData = g.files.map((_f, i) => current[i]?.hasData === true);
  const trusted: number[] = [];
  const recheck: number[] = [];
  let fi = 0;
  for (let p = 0; p < g.pieceCount; p++) {
    const start = p * g.pieceLength;
    const end = Math.min(g.length, start + g.pieceLength);
    while (fi < g.files.length && g.files[fi].offset + g.files[fi].length <= start) fi++;
    let allUnchanged = true;
    let changedWithData = false;
    for (let j = fi; j < g.files.length && g.files[j].offset < end; j++) {
      if (g.files[j].length === 0) continue;
      if (!unchanged[j]) {
        allUnchanged = false;
        if (hasData[j]) changedWithData = true;
      }
    }
    if (force) recheck.push(p);
    else if (record && allUnchanged && bit(record.verified, p)) trusted.push(p);
    else if (changedWithData) recheck.push(p);
  }
  const changedFiles: number[] = [];
  for (let i = 0; i < g.files.length; i++) if (!unchanged[i] && hasData[i]) changedFiles.push(i);
  return { trusted, recheck, changedFiles };
}

/** A bitfield (BitTorrent bit order) of `pieceCount` bits with `indices` set. */
export function bitfieldOf(pieceCount: number, indices: Iterable<number>): Uint8Array {
  const out = new Uint8Array(Math.ceil(pieceCount / 8));
  for (const i of indices) if (i >= 0 && i < pieceCount) out[i >> 3] |= 0x80 >> (i & 7);
  return out;
}

export function bit(bits: Uint8Array, index: number): boolean {
  return (bits[index >> 3] & (0x80 >> (index & 7))) !== 0;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
