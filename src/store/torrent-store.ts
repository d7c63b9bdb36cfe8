/**
 * The torrent store: where `create` publishes .torrent files and where `-f NAME` finds them.
 *
 * Owns: the contract every store keeps (local folder now, Dropbox later). Does not own: parsing
 * (callers validate fetched bytes with parseMetainfo before use).
 */

export interface StoredTorrentEntry {
  /** File name in the store, always ending in `.torrent`. */
  name: string;
  /** Size of the .torrent file in bytes. */
  size: number;
  modified: Date;
  /** From `publish`: the file was already gone right after it was written (a folder watcher took it). */
  takenAway?: boolean;
}

/** `reset`: a store listing cursor is no longer valid; list again from the start. */
export type StoreErrorCode = 'not-found' | 'bad-name' | 'io' | 'auth' | 'corrupt' | 'reset';

export class StoreError extends Error {
  constructor(
    readonly code: StoreErrorCode,
    message: string,
  ) {
    super(message);
    this.name = 'StoreError';
  }
}

export interface TorrentStore {
  readonly kind: 'local' | 'dropbox';
  /** Human-readable location (folder path or Dropbox folder). */
  readonly location: string;
  /** Store (or overwrite) `<name>.torrent`. */
  publish(name: string, bytes: Buffer): Promise<StoredTorrentEntry>;
  /** Bytes of a stored torrent; `name` may omit the `.torrent` suffix. Throws StoreError('not-found'). */
  fetch(name: string): Promise<Buffer>;
  list(): Promise<StoredTorrentEntry[]>;
  remove(name: string): Promise<void>;
}

/** `movie.mp4` and `movie.mp4.torrent` both name `movie.mp4.torrent`; names never carry a path. */
export function storeFileName(name: string): string {
  const base = name.endsWith('.torrent') ? name : `${name}.torrent`;
  if (base === '.torrent' || /[/\\\0]/.test(base) || base === '..' || base.startsWith('..')) {
    throw new StoreError('bad-name', `not a valid torrent name: ${JSON.stringify(name)}`);
  }
  return base;
}
