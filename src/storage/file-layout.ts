/**
 * Where each piece lives on disk: the pure mapping from a piece (or any byte range of the torrent's
 * concatenated content) to spans of the files that hold it. Used by `create` hashing, and by piece
 * storage for positional reads and writes. No I/O here.
 */

export interface LayoutFile {
  /** Absolute or base-relative path on disk. */
  path: string;
  length: number;
  /** Offset of the file in the concatenated content. */
  offset: number;
}

export interface FileSpan {
  fileIndex: number;
  /** Offset inside that file. */
  fileOffset: number;
  /** Offset inside the requested range. */
  rangeOffset: number;
  length: number;
}

/** Spans of `files` covering content bytes [start, start + length). Zero-length files are skipped. */
export function spansFor(files: readonly LayoutFile[], start: number, length: number): FileSpan[] {
  const out: FileSpan[] = [];
  const end = start + length;
  // Binary search for the first file whose end is past `start`.
  let lo = 0;
  let hi = files.length - 1;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (files[mid].offset + files[mid].length <= start) lo = mid + 1;
    else hi = mid;
  }
  for (let i = lo; i < files.length && files[i].offset < end; i++) {
    const f = files[i];
    if (f.length === 0) continue;
    const s = Math.max(start, f.offset);
    const e = Math.min(end, f.offset + f.length);
    if (e > s) out.push({ fileIndex: i, fileOffset: s - f.offset, rangeOffset: s - start, length: e - s });
  }
  return out;
}
