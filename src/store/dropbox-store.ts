/**
 * The Dropbox torrent store: `.torrent` files in a Dropbox folder (`/SharedTorrents` by default), through
 * the official SDK.
 *
 * Owns: the file calls (`files/upload` with `content_hash` and `overwrite`, `files/download` checked
 * against its `content_hash`, `files/list_folder` + `/continue`, `files/delete_v2`, and `listCall` for the
 * store watcher's cursors and longpoll), and what happens when they fail: 429/503 wait for `Retry-After`;
 * an expired access token is refreshed once and the call retried; network errors and 5xx retry with
 * bounded exponential backoff; `path/not_found` names the missing torrent and lists close matches;
 * `missing_scope` names the scope to enable; a refused refresh token says to run `rxtorrent dropbox
 * login`; an invalid listing cursor is StoreError('reset'). Does not own: credentials and transport
 * (dropbox-auth.ts) or parsing torrents (fetch-torrent.ts).
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
import { DropboxAuthError, DropboxClient, DropboxNetworkError, oauthReason, redact } from './dropbox-auth';
import { closeMatches } from './close-matches';
import { StoreError, StoredTorrentEntry, TorrentStore, storeFileName } from './torrent-store';

export { closeMatches } from './close-matches';

export const DEFAULT_REMOTE_DIR = '/SharedTorrents';

export interface RetryPolicy {
  /** Attempts after a network error or 5xx before giving up. */
  networkRetries: number;
  /** First backoff; doubles each time, with jitter. */
  baseDelayMs: number;
  maxDelayMs: number;
  /** 429s honoured per call before giving up. */
  rateLimitRetries: number;
  /** A `Retry-After` longer than this fails the call at once with the wait in the message. */
  maxRetryAfterMs: number;
}

export const DEFAULT_RETRY: RetryPolicy = {
  networkRetries: 4,
  baseDelayMs: 500,
  maxDelayMs: 8000,
  rateLimitRetries: 5,
  maxRetryAfterMs: 120_000,
};

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

/** The SDK's error object: `DropboxResponseError` is not typed as an Error, so recognise it by shape. */
interface ResponseErrorLike {
  status: number;
  headers?: { get?: (name: string) => string | null };
  error: unknown;
}
function isResponseError(err: unknown): err is ResponseErrorLike {
  return (
    !!err &&
    typeof err === 'object' &&
    typeof (err as { status?: unknown }).status === 'number' &&
    'error' in err
  );
}
function errorBody(err: ResponseErrorLike): { error_summary?: string; error?: Record<string, unknown> } {
  return err.error && typeof err.error === 'object' ? (err.error as { error_summary?: string }) : {};
}
function summary(err: ResponseErrorLike): string {
  const s = errorBody(err).error_summary;
  return typeof s === 'string' ? s : typeof err.error === 'string' ? err.error.slice(0, 200) : '';
}

type Op = 'publish' | 'fetch' | 'list' | 'remove';

const SCOPE_FOR: Record<Op, string> = {
  publish: 'files.content.write',
  fetch: 'files.content.read',
  list: 'files.metadata.read',
  remove: 'files.content.write',
};

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

  /** One logical call: token first, then the attempt loop with the failure policy above. */
  private async call<T>(op: Op, file: string | undefined, attempt: () => Promise<{ result: T }>): Promise<T> {
    let networkTries = 0;
    let rateLimited = 0;
    let refreshed = false;
    for (;;) {
      try {
        await this.ensureToken();
        return (await attempt()).result;
      } catch (err) {
        const decision = await this.decide(err, op, file, { networkTries, rateLimited, refreshed });
        if (decision.kind === 'fail') throw this.scrub(decision.error);
        if (decision.kind === 'refresh') {
          refreshed = true;
          await this.refresh('expired').catch((e: unknown) => {
            throw this.scrub(this.refreshFailure(e));
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

  private async decide(
    err: unknown,
    op: Op,
    file: string | undefined,
    n: { networkTries: number; rateLimited: number; refreshed: boolean },
  ): Promise<
    | { kind: 'fail'; error: Error }
    | { kind: 'refresh' }
    | { kind: 'rate-limited' | 'backoff'; waitMs: number; reason: string }
  > {
    const backoff = (reason: string, giveUp: () => Error) =>
      n.networkTries >= this.retry.networkRetries
        ? { kind: 'fail' as const, error: giveUp() }
        : {
            kind: 'backoff' as const,
            reason,
            waitMs:
              Math.min(this.retry.maxDelayMs, this.retry.baseDelayMs * 2 ** n.networkTries) *
              (0.75 + Math.random() / 2),
          };
    if (err instanceof StoreError || err instanceof DropboxAuthError) return { kind: 'fail', error: err };
    if (err instanceof DropboxNetworkError) {
      return backoff(
        err.code,
        () =>
          new StoreError(
            'io',
            `${err.message} after ${n.networkTries + 1} attempts; check the network and try again`,
          ),
      );
    }
    if (!isResponseError(err))
      return {
        kind: 'fail',
        error: new StoreError('io', `Dropbox ${op} failed: ${(err as Error)?.message ?? String(err)}`),
      };

    // An OAuth error from the token endpoint (the SDK refreshes inside the call): `{ error: 'invalid_grant' }`.
    const body = err.error as { error?: unknown } | undefined;
    if (body && typeof body === 'object' && typeof body.error === 'string') {
      return { kind: 'fail', error: this.refreshFailure(err) };
    }
    const s = summary(err);
    const retryAfter = retryAfterMs(err);
    if (err.status === 429 || (err.status === 503 && retryAfter !== undefined)) {
      const wait = retryAfter ?? this.retry.baseDelayMs;
      if (wait > this.retry.maxRetryAfterMs || n.rateLimited >= this.retry.rateLimitRetries) {
        return {
          kind: 'fail',
          error: new StoreError(
            'io',
            `Dropbox is rate-limiting this app (HTTP ${err.status}); try again in ${Math.ceil(wait / 1000)} s`,
          ),
        };
      }
      return { kind: 'rate-limited', waitMs: wait, reason: `HTTP ${err.status}` };
    }
    if (err.status === 401) {
      if (s.startsWith('expired_access_token')) {
        if (this.client.canRefresh && !n.refreshed) return { kind: 'refresh' };
        return {
          kind: 'fail',
          error: new StoreError(
            'auth',
            this.client.canRefresh
              ? 'Dropbox keeps rejecting fresh access tokens as expired; run `rxtorrent dropbox login`'
              : 'the Dropbox access token has expired (they last 4 hours): set DROPBOX_APP_KEY and DROPBOX_REFRESH_TOKEN, or run `rxtorrent dropbox login`',
          ),
        };
      }
      if (s.startsWith('missing_scope')) {
        const scope = (errorBody(err).error as { required_scope?: unknown } | undefined)?.required_scope;
        const need = typeof scope === 'string' ? scope : SCOPE_FOR[op];
        return {
          kind: 'fail',
          error: new StoreError(
            'auth',
            `the Dropbox app lacks the ${need} permission: enable ${need} in the App Console (Permissions tab), then run \`rxtorrent dropbox login\` again`,
          ),
        };
      }
      return {
        kind: 'fail',
        error: new StoreError(
          'auth',
          `Dropbox rejected the credentials (${s.split('/')[0] || 'HTTP 401'}); run \`rxtorrent dropbox login\``,
        ),
      };
    }
    if (err.status === 403) {
      return { kind: 'fail', error: new StoreError('auth', `Dropbox refused access (${s || 'HTTP 403'})`) };
    }
    if (err.status === 409) return { kind: 'fail', error: await this.conflict(op, file, s) };
    if (err.status >= 500) {
      return backoff(
        `HTTP ${err.status}`,
        () =>
          new StoreError(
            'io',
            `Dropbox kept failing (HTTP ${err.status}) after ${n.networkTries + 1} attempts; try again later`,
          ),
      );
    }
    return {
      kind: 'fail',
      error: new StoreError('io', `Dropbox ${op} failed: HTTP ${err.status}${s ? ` ${s}` : ''}`),
    };
  }

  /** 409 endpoint errors: `path/not_found/..`, `path_lookup/not_found/..`, `path/conflict/..`, … */
  private async conflict(op: Op, file: string | undefined, s: string): Promise<StoreError> {
    const what = file ?? this.location;
    if (/^(path|path_lookup)\/not_found/.test(s)) {
      if (!file) return new StoreError('not-found', `Dropbox folder ${this.location} does not exist`);
      const near = await this.closeMatches(file);
      const hint = near.length ? `; did you mean ${near.join(', ')}?` : '';
      return new StoreError('not-found', `no torrent named ${file} in Dropbox ${this.location}${hint}`);
    }
    if (s.startsWith('content_hash_mismatch')) {
      return new StoreError('io', `Dropbox received ${what} damaged (content hash mismatch); try again`);
    }
    if (/insufficient_space/.test(s))
      return new StoreError('io', `the Dropbox account is full; cannot ${op} ${what}`);
    if (/malformed_path|disallowed_name/.test(s))
      return new StoreError('bad-name', `Dropbox refuses the name ${what} (${s})`);
    if (s.startsWith('reset'))
      return new StoreError('reset', `the Dropbox folder listing was reset; run the command again`);
    return new StoreError('io', `Dropbox ${op} of ${what} failed: ${s || 'HTTP 409'}`);
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
        throw this.refreshFailure(e);
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

  private refreshFailure(err: unknown): Error {
    if (err instanceof StoreError) return err;
    if (err instanceof DropboxNetworkError)
      return new StoreError('io', `${err.message}; check the network and try again`);
    const source = this.client.credentials.source;
    const where = source === 'environment' ? 'DROPBOX_REFRESH_TOKEN' : `the refresh token saved in ${source}`;
    return new StoreError(
      'auth',
      `Dropbox refused ${where} (${oauthReason(err)}): it was revoked or belongs to another app; run \`rxtorrent dropbox login\``,
    );
  }

  private scrub(err: Error): Error {
    const message = redact(err.message, this.client.secrets);
    if (message === err.message) return err;
    return err instanceof StoreError ? new StoreError(err.code, message) : new Error(message);
  }
}

/** `Retry-After` (seconds) from the header, else `retry_after` from the body. */
function retryAfterMs(err: ResponseErrorLike): number | undefined {
  const h = typeof err.headers?.get === 'function' ? err.headers.get('retry-after') : undefined;
  const fromHeader = h != null && /^\d+(\.\d+)?$/.test(h.trim()) ? Number(h) : undefined;
  const fromBody = (errorBody(err).error as { retry_after?: unknown } | undefined)?.retry_after;
  const secs = fromHeader ?? (typeof fromBody === 'number' ? fromBody : undefined);
  return secs === undefined ? undefined : Math.round(secs * 1000);
}
