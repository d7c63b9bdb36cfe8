/**
 * What the Dropbox store does when a call fails: the decision (fail with a clear StoreError, refresh
 * the access token once, wait for `Retry-After`, or back off and retry) from the SDK's error, the
 * endpoint's `error_summary` and the tries so far.
 *
 * Owns: the failure policy and its messages: 429/503 wait for `Retry-After`; an expired access token
 * is refreshed once; network errors and 5xx retry with bounded exponential backoff; `path/not_found`
 * names the missing torrent and lists close matches; `missing_scope` names the scope to enable; a
 * refused refresh token says to run `rxtorrent dropbox login`; an invalid listing cursor is
 * StoreError('reset'). Does not own: making calls, sleeping, refreshing or redacting secrets
 * (dropbox-store.ts performs the decision). Why apart: the policy is most of the store's code and
 * reads only the error and a few facts about the call.
 */
import { DropboxAuthError, DropboxNetworkError, oauthReason } from './dropbox-auth';
import { StoreError } from './torrent-store';

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

/** Which store operation failed (it picks the scope a `missing_scope` error names). */
export type Op = 'publish' | 'fetch' | 'list' | 'remove';

/** What the caller knows about the failed call. */
export interface FailureContext {
  op: Op;
  file: string | undefined;
  /** The store's folder. */
  location: string;
  tries: { networkTries: number; rateLimited: number; refreshed: boolean };
  retry: RetryPolicy;
  canRefresh: boolean;
  /** Where the refresh token came from (`environment` or a file), named in messages. */
  credentialSource: string;
  /** Stored names close to `file`, for a not-found message. */
  nearNames: (file: string) => Promise<string[]>;
}

export type FailureDecision =
  | { kind: 'fail'; error: Error }
  | { kind: 'refresh' }
  | { kind: 'rate-limited' | 'backoff'; waitMs: number; reason: string };

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

const SCOPE_FOR: Record<Op, string> = {
  publish: 'files.content.write',
  fetch: 'files.content.read',
  list: 'files.metadata.read',
  remove: 'files.content.write',
};

/** What to do about one failed attempt of a call: fail, refresh the token once, or wait and retry. */
export async function decideFailure(err: unknown, c: FailureContext): Promise<FailureDecision> {
  const { op, tries: n, retry } = c;
  const backoff = (reason: string, giveUp: () => Error) =>
    n.networkTries >= retry.networkRetries
      ? { kind: 'fail' as const, error: giveUp() }
      : {
          kind: 'backoff' as const,
          reason,
          waitMs:
            Math.min(retry.maxDelayMs, retry.baseDelayMs * 2 ** n.networkTries) * (0.75 + Math.random() / 2),
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
    return { kind: 'fail', error: refreshFailure(err, c.credentialSource) };
  }
  const s = summary(err);
  const retryAfter = retryAfterMs(err);
  if (err.status === 429 || (err.status === 503 && retryAfter !== undefined)) {
    const wait = retryAfter ?? retry.baseDelayMs;
    if (wait > retry.maxRetryAfterMs || n.rateLimited >= retry.rateLimitRetries) {
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
      if (c.canRefresh && !n.refreshed) return { kind: 'refresh' };
      return {
        kind: 'fail',
        error: new StoreError(
          'auth',
          c.canRefresh
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
  if (err.status === 409) return { kind: 'fail', error: await conflictError(c, s) };
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
async function conflictError(c: FailureContext, s: string): Promise<StoreError> {
  const { op, file, location } = c;
  const what = file ?? location;
  if (/^(path|path_lookup)\/not_found/.test(s)) {
    if (!file) return new StoreError('not-found', `Dropbox folder ${location} does not exist`);
    const near = await c.nearNames(file);
    const hint = near.length ? `; did you mean ${near.join(', ')}?` : '';
    return new StoreError('not-found', `no torrent named ${file} in Dropbox ${location}${hint}`);
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

/** The error for a token refresh that failed; `source` is where the refresh token came from. */
export function refreshFailure(err: unknown, source: string): Error {
  if (err instanceof StoreError) return err;
  if (err instanceof DropboxNetworkError)
    return new StoreError('io', `${err.message}; check the network and try again`);
  const where = source === 'environment' ? 'DROPBOX_REFRESH_TOKEN' : `the refresh token saved in ${source}`;
  return new StoreError(
    'auth',
    `Dropbox refused ${where} (${oauthReason(err)}): it was revoked or belongs to another app; run \`rxtorrent dropbox login\``,
  );
}

/** `Retry-After` (seconds) from the header, else `retry_after` from the body. */
function retryAfterMs(err: ResponseErrorLike): number | undefined {
  const h = typeof err.headers?.get === 'function' ? err.headers.get('retry-after') : undefined;
  const fromHeader = h != null && /^\d+(\.\d+)?$/.test(h.trim()) ? Number(h) : undefined;
  const fromBody = (errorBody(err).error as { retry_after?: unknown } | undefined)?.retry_after;
  const secs = fromHeader ?? (typeof fromBody === 'number' ? fromBody : undefined);
  return secs === undefined ? undefined : Math.round(secs * 1000);
}
