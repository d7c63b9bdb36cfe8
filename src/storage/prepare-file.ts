/**
 * Opening one of a torrent's files for piece storage and making its size right.
 *
 * Owns: the size rules for a file we are about to use — a shorter file is extended (sparse: `ftruncate`
 * up to the expected length, which keeps every byte already there); a *longer* one is refused with
 * `too-large`, never truncated (it is probably not the file the user thinks it is, and truncating would
 * destroy their data); read-only storage needs the exact size; a device (e.g. /dev/null for benchmarks)
 * is accepted as is and never fsync'd. Does not own: folders, path safety, or the handle after it is
 * returned (piece-storage.ts keeps it in its LRU).
 *
 * Separate because it runs once per file at open, apart from the per-block reads and writes.
 */
import { constants as C } from 'node:fs';
import * as fsp from 'node:fs/promises';
import type { FileHandle } from 'node:fs/promises';
import { StorageError, toStorageError } from './storage-errors';

/** An open file ready for blocks; `regular` is false for a device (no fsync). */
export interface PreparedFile {
  fh: FileHandle;
  regular: boolean;
}

/**
 * Opens `p` (creating it when `create`) and checks or fixes its size against `want` bytes; the handle is
 * closed again when a check fails.
 */
export async function prepareFile(
  p: string,
  want: number,
  create: boolean,
  readOnly: boolean,
): Promise<PreparedFile> {
  const flags = readOnly ? C.O_RDONLY : C.O_RDWR | (create ? C.O_CREAT : 0);
  let fh: FileHandle;
  try {
    fh = await fsp.open(p, flags, 0o644);
  } catch (e) {
    throw toStorageError(e, p, create ? 'creating' : 'opening');
  }
  try {
    const st = await fh.stat();
    if (st.isFile()) {
      if (st.size > want) {
        throw new StorageError(
          'too-large',
          p,
          `${p} is ${st.size} bytes but the torrent expects ${want}; refusing to truncate it (move it away or pick another folder)`,
        );
      }
      if (st.size < want) {
        if (readOnly) {
          throw new StorageError(
            'size-mismatch',
            p,
            `${p} is ${st.size} bytes but the torrent expects ${want}`,
          );
        }
        await fh.truncate(want).catch((e: unknown) => {
          throw toStorageError(e, p, 'creating');
        });
      }
      return { fh, regular: true };
    } else if (st.isCharacterDevice() || st.isBlockDevice()) {
      return { fh, regular: false };
    } else {
      throw new StorageError('not-file', p, `${p} is not a regular file`);
    }
  } catch (e) {
    await fh.close().catch(() => undefined);
    throw e;
  }
}
