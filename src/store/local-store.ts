/**
 * The default torrent store: a local folder (`$XDG_DATA_HOME/rxtorrent/torrents`, or `--store-dir` /
 * `RXTORRENT_STORE_DIR`). Writes go to a temp name and are renamed, so a crash never leaves half a file.
 */
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { StoreError, StoredTorrentEntry, TorrentStore, storeFileName } from './torrent-store';

export function defaultStoreDir(env: NodeJS.ProcessEnv = process.env): string {
  if (env.RXTORRENT_STORE_DIR) return path.resolve(env.RXTORRENT_STORE_DIR);
  const data = env.XDG_DATA_HOME || path.join(os.homedir(), '.local', 'share');
  return path.join(data, 'rxtorrent', 'torrents');
}

export class LocalTorrentStore implements TorrentStore {
  readonly kind = 'local' as const;
  constructor(readonly location: string) {}

  async publish(name: string, bytes: Buffer): Promise<StoredTorrentEntry> {
    const file = storeFileName(name);
    await fs.mkdir(this.location, { recursive: true });
    const target = path.join(this.location, file);
    await writeFileAtomic(target, bytes);
    // Published once renamed into place. A folder watcher (transmission-daemon's watch dir, say) may take
    // the file the moment it appears: that is no failure, only worth telling the user.
    const st = await fs.stat(target).catch(() => null);
    if (st === null) return { name: file, size: bytes.length, modified: new Date(), takenAway: true };
    return { name: file, size: st.size, modified: st.mtime };
  }

  async fetch(name: string): Promise<Buffer> {
    const file = storeFileName(name);
    try {
      return await fs.readFile(path.join(this.location, file));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
        throw new StoreError('not-found', `no torrent named ${file} in the local store (${this.location})`);
      }
      throw new StoreError('io', `cannot read ${file} from ${this.location}: ${(err as Error).message}`);
    }
  }

  async list(): Promise<StoredTorrentEntry[]> {
    let names: string[];
    try {
      names = await fs.readdir(this.location);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw new StoreError('io', `cannot list ${this.location}: ${(err as Error).message}`);
    }
    const out: StoredTorrentEntry[] = [];
    for (const n of names.filter((x) => x.endsWith('.torrent')).sort()) {
      const st = await fs.stat(path.join(this.location, n)).catch(() => null);
      if (st?.isFile()) out.push({ name: n, size: st.size, modified: st.mtime });
    }
    return out;
  }

  async remove(name: string): Promise<void> {
    const file = storeFileName(name);
    try {
      await fs.unlink(path.join(this.location, file));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
        throw new StoreError('not-found', `no torrent named ${file} in the local store (${this.location})`);
      }
      throw new StoreError('io', `cannot remove ${file}: ${(err as Error).message}`);
    }
  }
}

/** Write to `<target>.<pid>.tmp` then rename: readers see the old file or the new one, never half. */
export async function writeFileAtomic(target: string, bytes: Buffer, mode = 0o644): Promise<void> {
  const tmp = `${target}.${process.pid}.${Date.now()}.tmp`;
  try {
    await fs.writeFile(tmp, bytes, { mode });
    await fs.rename(tmp, target);
  } catch (err) {
    await fs.rm(tmp, { force: true });
    throw err;
  }
}
