/**
 * Piece storage on disk: a torrent's files under a download folder, addressed by piece and offset.
 *
 * Owns: where each file lives (`dir/name` for a single-file torrent, `dir/name/…path` for a multi-file
 * one), creating folders and preallocating files (sparse: `ftruncate` up to the expected length),
 * positional reads and writes that cross file boundaries (via `spansFor`), a bounded LRU of open file
 * handles, `fsync` on flush, and turning OS errors into a `StorageError` that names the path.
 * Does not own: queueing, concurrency limits or backpressure (src/core/storage-queue.ts and
 * src/actors/storage-actor.ts), hashing (src/streams/hash-pool.ts reads `layout()` itself), deciding
 * that a piece is complete (a caller marks a piece complete only after it is written *and* verified), a
 * file's size rules at open (prepare-file.ts) or the wording of errors (storage-errors.ts; `StorageError`
 * and `toStorageError` are re-exported here).
 *
 * Safety rules:
 * - every resolved path is re-checked to stay inside `dir`, although metainfo already rejected unsafe
 *   path components (defence in depth);
 * - an existing file that is *longer* than the torrent says is refused, never truncated; a shorter one is
 *   extended (sparse), which keeps every byte already there (prepare-file.ts).
 *
 * @example
 *   const s = new PieceStorage(meta, '/downloads');
 *   await s.open({ create: true });
 *   await s.writeBlock(3, 16384, block);
 *   const bytes = await s.readBlock(3, 16384, 16384);
 *   await pool.hashPieces(s.layout(), meta.pieceLength, meta.length, 3, 1); // re-check from disk
 *   await s.close();
 */
import { constants as C } from 'node:fs';
import * as fsp from 'node:fs/promises';
import type { FileHandle } from 'node:fs/promises';
import * as path from 'node:path';
import type { Metainfo } from '../protocol/metainfo';
import { LayoutFile, spansFor } from './file-layout';
import { prepareFile } from './prepare-file';
import { StorageError, Verb, toStorageError } from './storage-errors';

export { StorageError, toStorageError } from './storage-errors';
export type { StorageErrorCode } from './storage-errors';

export interface OpenOptions {
  /** Create missing folders and files (leech). When false a missing file is an `ENOENT` error (seed). */
  create: boolean;
  /** Open files read-only (seeding from files the user may not write); sizes must then match exactly. */
  readOnly?: boolean;
}

export interface PieceStorageOptions {
  /** Most file handles kept open at once (an LRU); default 64. */
  maxOpenFiles?: number;
}

interface Slot {
  fh: Promise<FileHandle>;
  users: number;
  dirty: boolean;
}

export class PieceStorage {
  /** Absolute path of the download folder. */
  readonly root: string;
  /** Absolute path of every file, in metainfo order. */
  readonly paths: readonly string[];
  private readonly files: readonly LayoutFile[];
  private readonly maxOpen: number;
  private readonly slots = new Map<number, Slot>(); // insertion order = recency (oldest first)
  private readonly closing = new Set<Promise<void>>();
  private readonly inFlight = new Set<Promise<unknown>>();
  /** Regular files get fsync'd; devices (e.g. /dev/null for benchmarks) do not. */
  private regular: boolean[] = [];
  private state: 'new' | 'open' | 'closed' = 'new';
  private readOnly = false;
  private deferred: StorageError | undefined;

  constructor(
    readonly meta: Pick<Metainfo, 'name' | 'files' | 'multiFile' | 'pieceLength' | 'pieceCount' | 'length'>,
    dir: string,
    opts: PieceStorageOptions = {},
  ) {
    this.root = path.resolve(dir);
    this.maxOpen = Math.max(1, opts.maxOpenFiles ?? 64);
    const prefix = this.root.endsWith(path.sep) ? this.root : this.root + path.sep;
    this.paths = meta.files.map((f) => {
      const parts = meta.multiFile ? [meta.name, ...f.path] : [meta.name];
      const p = path.resolve(this.root, ...parts);
      if (!p.startsWith(prefix)) {
        throw new StorageError(
          'unsafe-path',
          p,
          `refusing file ${JSON.stringify(parts.join('/'))}: it resolves outside ${this.root}`,
        );
      }
      return p;
    });
    this.files = meta.files.map((f, i) => ({ path: this.paths[i], length: f.length, offset: f.offset }));
  }

  /**
   * Creates folders and files when asked, checks each file's size (extending shorter ones, refusing
   * longer ones) and keeps up to `maxOpenFiles` handles open.
   */
  async open(opts: OpenOptions): Promise<void> {
    if (this.state === 'closed') throw new StorageError('closed', undefined, 'storage is closed');
    this.readOnly = opts.readOnly === true;
    const create = opts.create && !this.readOnly;
    this.regular = [];
    try {
      await this.openAll(create);
    } catch (e) {
      // Leave nothing open behind a failed open; the caller may fix the problem and open again.
      await this.closeSlots();
      throw e;
    }
    this.state = 'open';
  }

  private async openAll(create: boolean): Promise<void> {
    const made = new Set<string>();
    for (let i = 0; i < this.files.length; i++) {
      const p = this.paths[i];
      const want = this.files[i].length;
      if (create) {
        const parent = path.dirname(p);
        if (!made.has(parent)) {
          await fsp.mkdir(parent, { recursive: true }).catch((e: unknown) => {
            throw toStorageError(e, parent, 'creating folder');
          });
          made.add(parent);
        }
      }
      const { fh, regular } = await prepareFile(p, want, create, this.readOnly);
      this.regular[i] = regular;
      this.adopt(i, fh);
    }
  }

  /** Content byte range → absolute file paths with offsets; what HashPool.hashPieces reads. */
  layout(): LayoutFile[] {
    return this.files.map((f) => ({ ...f }));
  }

  /** Reads `length` bytes at `begin` inside piece `index`; rejects ranges outside the piece. */
  readBlock(index: number, begin: number, length: number): Promise<Buffer> {
    return this.readInto(index, begin, Buffer.allocUnsafe(length));
  }

  /**
   * Reads `target.length` bytes at `begin` inside piece `index` into `target` (e.g. a buffer from a pool),
   * resolving with it; rejects ranges outside the piece.
   */
  readInto(index: number, begin: number, target: Buffer): Promise<Buffer> {
    const length = target.length;
    const buf = target;
    return this.track(async () => {
      const start = this.checkRange(index, begin, length);
      await Promise.all(
        spansFor(this.files, start, length).map((s) =>
          this.withFile(s.fileIndex, 'reading', async (fh, p) => {
            let done = 0;
            while (done < s.length) {
              const { bytesRead } = await fh.read(
                buf,
                s.rangeOffset + done,
                s.length - done,
                s.fileOffset + done,
              );
              if (bytesRead === 0) {
                throw new StorageError(
                  'short-read',
                  p,
                  `${p} is shorter than the torrent expects (changed on disk?)`,
                );
              }
              done += bytesRead;
            }
          }),
        ),
      );
      return buf;
    });
  }

  /** Reads a whole piece. */
  readPiece(index: number): Promise<Buffer> {
    return this.readBlock(index, 0, this.pieceSize(index));
  }

  /** Reads a whole piece into `target` (at least the piece's size; the view returned is exactly it). */
  readPieceInto(index: number, target: Buffer): Promise<Buffer> {
    return this.readInto(index, 0, target.subarray(0, this.pieceSize(index)));
  }

  /** Writes `data` at `begin` inside piece `index`, across file boundaries as needed. */
  writeBlock(index: number, begin: number, data: Uint8Array): Promise<void> {
    return this.track(async () => {
      if (this.readOnly) throw new StorageError('EROFS', undefined, 'storage was opened read-only');
      const start = this.checkRange(index, begin, data.length);
      await Promise.all(
        spansFor(this.files, start, data.length).map((s) =>
          this.withFile(s.fileIndex, 'writing', async (fh, _p, slot) => {
            let done = 0;
            while (done < s.length) {
              const { bytesWritten } = await fh.write(
                data,
                s.rangeOffset + done,
                s.length - done,
                s.fileOffset + done,
              );
              done += bytesWritten;
            }
            if (this.regular[s.fileIndex]) slot.dirty = true;
          }),
        ),
      );
    });
  }

  /** fsync every file written since the last flush; reports a failure from a handle closed earlier. */
  async flush(): Promise<void> {
    await Promise.all([...this.closing]);
    await Promise.all(
      [...this.slots.entries()]
        .filter(([, slot]) => slot.dirty)
        .map(async ([i, slot]) => {
          slot.users++;
          slot.dirty = false;
          try {
            await (await slot.fh).datasync();
          } catch (e) {
            slot.dirty = true;
            throw toStorageError(e, this.paths[i], 'syncing');
          } finally {
            slot.users--;
          }
        }),
    );
    const err = this.deferred;
    this.deferred = undefined;
    if (err) throw err;
  }

  /** Waits for reads and writes in progress, flushes, and closes every handle. Idempotent. */
  async close(): Promise<void> {
    if (this.state === 'closed') return;
    this.state = 'closed';
    await Promise.allSettled([...this.inFlight]);
    let first: unknown;
    await this.flush().catch((e: unknown) => (first = e));
    await this.closeSlots().catch((e: unknown) => (first ??= e));
    if (first) throw first;
  }

  private async closeSlots(): Promise<void> {
    let first: unknown;
    const slots = [...this.slots.entries()];
    this.slots.clear();
    for (const [i, slot] of slots) {
      await slot.fh
        .then((fh) => fh.close())
        .catch((e: unknown) => (first ??= toStorageError(e, this.paths[i], 'closing')));
    }
    await Promise.all([...this.closing]);
    if (first) throw first;
  }

  /** Number of file handles currently open (for tests and diagnostics). */
  get openFiles(): number {
    return this.slots.size;
  }

  private pieceSize(index: number): number {
    const m = this.meta;
    return index === m.pieceCount - 1 ? m.length - m.pieceLength * (m.pieceCount - 1) : m.pieceLength;
  }

  /** Validates a block range and returns its content offset. */
  private checkRange(index: number, begin: number, length: number): number {
    if (!Number.isSafeInteger(index) || index < 0 || index >= this.meta.pieceCount) {
      throw new StorageError(
        'range',
        undefined,
        `piece ${index} out of range (0..${this.meta.pieceCount - 1})`,
      );
    }
    const size = this.pieceSize(index);
    if (
      !Number.isSafeInteger(begin) ||
      !Number.isSafeInteger(length) ||
      begin < 0 ||
      length <= 0 ||
      begin + length > size
    ) {
      throw new StorageError(
        'range',
        undefined,
        `block ${begin}+${length} outside piece ${index} (${size} bytes)`,
      );
    }
    return index * this.meta.pieceLength + begin;
  }

  private track<T>(op: () => Promise<T>): Promise<T> {
    if (this.state !== 'open') {
      const code = this.state === 'closed' ? 'closed' : 'not-open';
      return Promise.reject(
        new StorageError(code, undefined, `storage is ${this.state === 'closed' ? 'closed' : 'not open'}`),
      );
    }
    const p = op();
    this.inFlight.add(p);
    const done = (): void => void this.inFlight.delete(p);
    p.then(done, done);
    return p;
  }

  private adopt(i: number, fh: FileHandle): void {
    const old = this.slots.get(i);
    if (old) this.retire(i, old);
    this.slots.set(i, { fh: Promise.resolve(fh), users: 0, dirty: false });
    this.evict();
  }

  private async withFile<T>(
    i: number,
    verb: Verb,
    fn: (fh: FileHandle, p: string, slot: Slot) => Promise<T>,
  ): Promise<T> {
    const p = this.paths[i];
    let slot = this.slots.get(i);
    if (slot) {
      this.slots.delete(i); // move to the most recent end
    } else {
      const fresh: Slot = { fh: fsp.open(p, this.readOnly ? C.O_RDONLY : C.O_RDWR), users: 0, dirty: false };
      // A failed open leaves no slot behind, so the next attempt retries.
      fresh.fh.catch(() => {
        if (this.slots.get(i) === fresh) this.slots.delete(i);
      });
      slot = fresh;
    }
    this.slots.set(i, slot);
    slot.users++;
    try {
      return await fn(await slot.fh, p, slot);
    } catch (e) {
      throw toStorageError(e, p, verb);
    } finally {
      slot.users--;
      this.evict();
    }
  }

  /** Closes the least recently used idle handles beyond `maxOpen` (busy ones are never closed). */
  private evict(): void {
    if (this.slots.size <= this.maxOpen) return;
    for (const [i, slot] of this.slots) {
      if (this.slots.size <= this.maxOpen) break;
      if (slot.users > 0) continue;
      this.slots.delete(i);
      this.retire(i, slot);
    }
  }

  private retire(i: number, slot: Slot): void {
    const p = slot.fh
      .then(async (fh) => {
        try {
          if (slot.dirty) await fh.datasync();
        } finally {
          await fh.close();
        }
      })
      .catch((e: unknown) => {
        this.deferred ??= toStorageError(e, this.paths[i], 'syncing');
      })
      .finally(() => this.closing.delete(p));
    this.closing.add(p);
  }
}
