/**
 * The Dropbox torrent store: `.torrent` files in a Dropbox folder (`/SharedTorrents` by default), through
 * the official SDK.
 *
 * Owns: the file calls (`files/upload` with `content_hash` and `overwrite`, `files/download` checked
 * against its `content_hash`, `files/list_folder` + `/continue`, `files/delete_v2`, and `listCall` for the
 * store watcher's cursors and longpoll), the shared token refresh, and carrying out the failure policy
 * that dropbox-failures.ts decides (wait, refresh once, retry, or fail with a clear message). Does not
 * own: that policy, credentials and transport (dropbox-auth.ts) or parsing torrents (fetch-torrent.ts).
 *
 * Every message passes through `redact` with the credentials' secrets, and events carry no token.
 *
 * @example
 *   const store = new DropboxTorrentStore({ client: makeDropboxClient(creds, makeDropboxFetch()) });
 *   await store.publish('movie.mp4.torrent', bytes); // → /SharedTorrents/movie.mp4.torrent
 */
import type { files } from 'dropbox';
import type { EventInput } from '../events/engine-event';
import { dropboxContentHash } from './content-hash';
import { DropboxClient, redact } from './dropbox-auth';
import { closeMatches } from './close-matches';
import { DEFAULT_RETRY, Op, RetryPolicy, decideFailure, refreshFailure } from './dropbox-failures';
import { StoreError, StoredTorrentEntry, TorrentStore, storeFileName } from './torrent-store';

export { closeMatches } from './close-matches';
export { DEFAULT_RETRY, RetryPolicy } from './dropbox-failures';

export const DEFAULT_REMOTE_DIR = '/SharedTorrents';

export interface DropboxStoreOptions {
  client: DropboxClient;
  /** Dropbox folder, absolute (`/SharedTorrents`). */
  folder?: string;
  onEvent?: (e: EventInput) => void;
  retry?: Partial<RetryPolicy>;
  /** Page size asked of `files/list_folder` (the server may return fewer). */
  pageLimit?: number;
  sleep?: (ms: number) => Promise<void>;
}

/** `SharedTorrents`, `/SharedTorrents/` → `/SharedTorrents`. The Dropbox root is not allowed. */
export function normalizeRemoteDir(dir: string): string {
  const d = '/' + dir.trim().replace(/^\/+|\/+$/g, '');
  if (d === '/' || /(^|\/)\.\.?(\/|$)/.test(d) || /[\\\0]/.test(d)) {
    throw new StoreError(
      'bad-name',
      `not a usable Dropbox folder: ${JSON.stringify(dir)} (use e.g. /SharedTorrents)`,
    );
  }
  return d;
}

export class DropboxTorrentStore implements TorrentStore {
  readonly kind = 'dropbox' as const;
  readonly location: string;
  private readonly client: DropboxClient;
  private readonly retry: RetryPolicy;
  private readonly sleep: (ms: number) => Promise<void>;
  private readonly pageLimit: number;
  private refreshing?: Promise<void>;

  constructor(private readonly opts: DropboxStoreOptions) {
    this.client = opts.client;
    this.location = normalizeRemoteDir(opts.folder ?? DEFAULT_REMOTE_DIR);
    this.retry = { ...DEFAULT_RETRY, ...opts.retry };
    this.sleep = opts.sleep ?? ((ms) => new Promise((r) => setTimeout(r, ms)));
    this.pageLimit = opts.pageLimit ?? 1000;
  }

  async publish(name: string, bytes: Buffer): Promise<StoredTorrentEntry> {
    const file = storeFileName(name);
    const contentHash = dropboxContentHash(bytes);
    // Fresh arguments per attempt: the SDK deletes `contents` from the object it is given.
    const meta = await this.call('publish', file, () =>
      this.client.dbx.filesUpload({
        path: this.pathOf(file),
        contents: bytes,
        mode: { '.tag': 'overwrite' },
        autorename: false,
        mute: true,
        content_hash: contentHash,
      }),
    );
    this.emit({ type: 'DropboxUploaded', name: file, bytes: bytes.length });
    return { name: meta.name, size: meta.size, modified: new Date(meta.server_modified) };
  }

  async fetch(name: string): Promise<Buffer> {
    const file = storeFileName(name);
    const res = await this.call('fetch', file, () =>
      this.client.dbx.filesDownload({ path: this.pathOf(file) }),
    );
    const raw = (res as unknown as { fileBinary?: Buffer | Uint8Array }).fileBinary;
    const bytes = raw ? Buffer.from(raw.buffer, raw.byteOffset, raw.byteLength) : Buffer.alloc(0);
    if (res.content_hash && dropboxContentHash(bytes) !== res.content_hash) {
      throw new StoreError(
        'corrupt',
        `${file} from Dropbox ${this.location} arrived damaged (content hash mismatch)`,
      );
    }
    return bytes;
  }

  async list(): Promise<StoredTorrentEntry[]> {
    const out: StoredTorrentEntry[] = [];
    let page: files.ListFolderResult;
    try {
      page = await this.call('list', undefined, () =>
        this.client.dbx.filesListFolder({ path: this.location, recursive: false, limit: this.pageLimit }),
      );
    } catch (err) {
      if (err instanceof StoreError && err.code === 'not-found') return []; // no folder yet: nothing published
      throw err;
    }
    for (;;) {
      for (const e of page.entries) {
        if (e['.tag'] === 'file' && e.name.endsWith('.torrent')) {
          out.push({ name: e.name, size: e.size, modified: new Date(e.server_modified) });
        }
      }
      if (!page.has_more) break;
      const cursor = page.cursor;
      page = await this.call('list', undefined, () => this.client.dbx.filesListFolderContinue({ cursor }));
    }
    return out.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  }

  async remove(name: string): Promise<void> {
    const file = storeFileName(name);
    await this.call('remove', file, () => this.client.dbx.filesDeleteV2({ path: this.pathOf(file) }));
    this.emit({ type: 'DropboxDeleted', name: file });
  }

  /**
   * A listing call (`files/list_folder`, `/continue`, `/longpoll`) through this store's token handling
   * and retry policy; the store watcher builds on it.
   */
  listCall<T>(attempt: (dbx: DropboxClient['dbx']) => Promise<{ result: T }>): Promise<T> {
    return this.call('list', undefined, () => attempt(this.client.dbx));
  }

  private pathOf(file: string): string {
    return `${this.location}/${file}`;
  }

  private emit(e: Omit<EventInput, 'category'> & { type: string }): void {
    this.opts.onEvent?.({ category: 'store', store: 'dropbox', ...e });
  }

  /** One logical call: token first, then the attempt loop carrying out dropbox-failures.ts' decisions. */
  private async call<T>(op: Op, file: string | undefined, attempt: () => Promise<{ result: T }>): Promise<T> {
    let networkTries = 0;
    let rateLimited = 0;
    let refreshed = false;
    for (;;) {
      try {
        await this.ensureToken();
        return (await attempt()).result;
      } catch (err) {
        const decision = await decideFailure(err, {
          op,
          file,
          location: this.location,
          tries: { networkTries, rateLimited, refreshed },
          retry: this.retry,
          canRefresh: this.client.canRefresh,
          credentialSource: this.client.credentials.source,
          nearNames: (f) => this.closeMatches(f),
        });
        if (decision.kind === 'fail') throw this.scrub(decision.error);
        if (decision.kind === 'refresh') {
          refreshed = true;
          await this.refresh('expired').catch((e: unknown) => {
            throw this.scrub(refreshFailure(e, this.client.credentials.source));
          });
          continue;
        }
        if (decision.kind === 'rate-limited') rateLimited++;
        else networkTries++;
        this.emit({
          type: decision.kind === 'rate-limited' ? 'DropboxRateLimited' : 'DropboxRetrying',
          level: 'warn',
          op,
          waitMs: decision.waitMs,
          reason: decision.reason,
        });
        await this.sleep(decision.waitMs);
      }
    }
  }

  /** Up to three stored names that look like `file` (edit distance, or one name containing the other). */
  private async closeMatches(file: string): Promise<string[]> {
    let names: string[];
    try {
      names = (await this.list()).map((e) => e.name);
    } catch {
      return [];
    }
    return closeMatches(file, names);
  }

  private needsToken(): boolean {
    if (!this.client.canRefresh) return false;
    const auth = this.client.auth;
    const exp = auth.getAccessTokenExpiresAt();
    return !auth.getAccessToken() || !exp || exp.getTime() - Date.now() < 5 * 60_000;
  }

  /** Get an access token before the SDK would (so concurrent calls share one refresh). */
  private async ensureToken(): Promise<void> {
    if (this.refreshing) await this.refreshing.catch(() => undefined);
    if (this.needsToken())
      await this.refresh(this.client.auth.getAccessToken() ? 'expiring' : 'startup').catch((e: unknown) => {
        throw refreshFailure(e, this.client.credentials.source);
      });
  }

  private refresh(reason: string): Promise<void> {
    this.refreshing ??= (async () => {
      try {
        await this.client.auth.refreshAccessToken();
        this.emit({ type: 'DropboxTokenRefreshed', reason });
      } finally {
        this.refreshing = undefined;
      }
    })();
    return this.refreshing;
  }

  private scrub(err: Error): Error {
    const message = redact(err.message, this.client.secrets);
    if (message === err.message) return err;
    return err instanceof StoreError ? new StoreError(err.code, message) : new Error(message);
  }
}
