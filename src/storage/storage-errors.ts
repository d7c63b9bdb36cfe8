/**
 * Storage errors: `StorageError` with its codes, and turning an OS error into one that names the path
 * and what we were doing.
 *
 * Owns: the error type and the wording of OS errors for users. Does not own: when an error is raised,
 * retried or deferred (piece-storage.ts) or how the engine reports it (the storage actor).
 *
 * Separate because it is pure and shared by the storage and file preparation; piece-storage.ts
 * re-exports `StorageError` and `toStorageError`.
 */

/** OS codes we name explicitly, plus our own: a bad range, an unsafe path, a size we refuse. */
export type StorageErrorCode =
  | 'ENOSPC'
  | 'EACCES'
  | 'EPERM'
  | 'ENOENT'
  | 'ENOTDIR'
  | 'EISDIR'
  | 'EEXIST'
  | 'EROFS'
  | 'EFBIG'
  | 'EMFILE'
  | 'EIO'
  | 'range'
  | 'unsafe-path'
  | 'too-large'
  | 'size-mismatch'
  | 'not-file'
  | 'short-read'
  | 'closed'
  | 'not-open'
  | (string & NonNullable<unknown>);

export class StorageError extends Error {
  constructor(
    readonly code: StorageErrorCode,
    /** The file or folder concerned (absolute), when there is one. */
    readonly path: string | undefined,
    message: string,
  ) {
    super(message);
    this.name = 'StorageError';
  }
}

/** What storage was doing when an OS call failed, for the message. */
export type Verb = 'opening' | 'creating' | 'reading' | 'writing' | 'syncing' | 'closing' | 'creating folder';

/** Wraps an OS error (or passes a StorageError through) with a message that names the path. */
export function toStorageError(e: unknown, p: string, verb: Verb): StorageError {
  if (e instanceof StorageError) return e;
  const code = (e as NodeJS.ErrnoException | undefined)?.code ?? 'EIO';
  const raw = e instanceof Error ? e.message : String(e);
  switch (code) {
    case 'ENOSPC':
      return new StorageError(code, p, `disk full ${verb} ${p}`);
    case 'EDQUOT':
      return new StorageError(code, p, `disk quota exceeded ${verb} ${p}`);
    case 'EACCES':
    case 'EPERM':
      return new StorageError(code, p, `permission denied ${verb} ${p}`);
    case 'ENOENT':
      return new StorageError(code, p, `missing file or folder: ${p}`);
    case 'ENOTDIR':
      return new StorageError(code, p, `cannot use ${p}: part of its folder path is a file, not a folder`);
    case 'EEXIST':
      return new StorageError(code, p, `cannot create folder ${p}: a file with that name exists`);
    case 'EISDIR':
      return new StorageError(code, p, `${p} is a folder, expected a file`);
    case 'EROFS':
      return new StorageError(code, p, `read-only file system ${verb} ${p}`);
    case 'EFBIG':
      return new StorageError(code, p, `file too large for this file system ${verb} ${p}`);
    case 'EMFILE':
    case 'ENFILE':
      return new StorageError(code, p, `too many open files ${verb} ${p}`);
    default:
      return new StorageError(code, p, `${raw} (${verb} ${p})`);
  }
}
