/**
 * The resume file on disk: where it lives, reading it (bounded, never throwing on bad content),
 * `stat`ing the torrent's files, and saving a record atomically.
 *
 * Owns: the path `<dir>/.<name>.rxresume`, next to the data (beside the file of a single-file torrent,
 * beside the folder of a multi-file one). Next to the data rather than under `$XDG_STATE_HOME` because
 * the record describes those bytes: it moves with them (move the folder to a bigger disk and resume
 * still works), two download folders of the same torrent never share one, and deleting the folder
 * deletes it. The cost is a hidden file in the download folder, and none when the folder is read-only
 * (seeding from a CD: saving fails with a warning, nothing else changes).
 * Does not own: deciding what to trust (src/core/resume-data.ts) or flushing the data: the caller
 * fsyncs the data *before* calling `currentFiles` for the mtimes it records, so a recorded verified
 * piece is on disk.
 *
 * Writes go to a temp file that is fsynced, then renamed over the old one, so a crash or a full disk
 * leaves the previous record intact — never half a file.
 *
 * @example
 *   const file = resumePath('/downloads', 'movie.mp4'); // '/downloads/.movie.mp4.rxresume'
 *   const loaded = await readResume(file, expect);      // { ok: false, reason } when absent or corrupt
 *   await storage.flush();
 *   await writeResume(file, { ...record, files: toResumeFiles(await currentFiles(storage.paths)) });
 */
import * as fsp from 'node:fs/promises';
import * as path from 'node:path';
import {
  CurrentFile,
  DecodeResult,
  ResumeExpect,
  ResumeFileState,
  ResumeRecord,
  decodeResume,
  encodeResume,
  maxResumeBytes,
} from '../core/resume-data';

export function resumePath(dir: string, name: string): string {
  return path.join(path.resolve(dir), `.${name}.rxresume`);
}

/** Reads and validates the resume file; a missing, unreadable, oversized or corrupt file is `ok: false`. */
export async function readResume(file: string, want: ResumeExpect): Promise<DecodeResult> {
  let fh: fsp.FileHandle;
  try {
    fh = await fsp.open(file, 'r');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    return { ok: false, reason: code === 'ENOENT' ? 'no resume file' : `cannot read ${file} (${code})` };
  }
  try {
    const max = maxResumeBytes(want.pieceCount, want.fileCount);
    const buf = Buffer.alloc(max + 1);
    let n = 0;
    while (n < buf.length) {
      const { bytesRead } = await fh.read(buf, n, buf.length - n, n);
      if (bytesRead === 0) break;
      n += bytesRead;
    }
    return decodeResume(buf.subarray(0, n), want);
  } catch (e) {
    return { ok: false, reason: `cannot read ${file} (${(e as Error).message})` };
  } finally {
    await fh.close().catch(() => undefined);
  }
}

/** Size, exact mtime and "has allocated blocks" of each path; `null` for one that is missing or not a file. */
export function currentFiles(paths: readonly string[]): Promise<(CurrentFile | null)[]> {
  return Promise.all(
    paths.map((p) =>
      fsp.stat(p, { bigint: true }).then(
        (s) =>
          s.isFile() ? { size: Number(s.size), mtimeNs: s.mtimeNs.toString(), hasData: s.blocks > 0n } : null,
        () => null,
      ),
    ),
  );
}

export function toResumeFiles(files: readonly (CurrentFile | null)[]): ResumeFileState[] {
  return files.map((f) => ({ size: f?.size ?? 0, mtimeNs: f?.mtimeNs ?? '0' }));
}

/** Writes the record atomically: temp file in the same folder, fsync, rename. */
export async function writeResume(file: string, record: ResumeRecord): Promise<void> {
  const tmp = `${file}.${process.pid}.tmp`;
  try {
    const fh = await fsp.open(tmp, 'w', 0o644);
    try {
      await fh.writeFile(encodeResume(record));
      await fh.sync();
    } finally {
      await fh.close();
    }
    await fsp.rename(tmp, file);
  } catch (err) {
    await fsp.rm(tmp, { force: true }).catch(() => undefined);
    throw err;
  }
}
