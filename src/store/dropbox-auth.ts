/**
 * Dropbox credentials and the HTTP transport the SDK uses.
 *
 * Owns: finding credentials (environment first, then the config file written by `rxtorrent dropbox
 * login`), building the SDK's `DropboxAuth` + `Dropbox` pair on our `fetch`, and the PKCE login. Does
 * not own: retries and error messages for file calls (dropbox-store.ts).
 *
 * Dropbox issues short-lived access tokens (4 h). Long-running use needs an app key and a refresh
 * token (`DROPBOX_APP_KEY` + `DROPBOX_REFRESH_TOKEN`, optional `DROPBOX_APP_SECRET`, or the config
 * file); `DROPBOX_ACCESS_TOKEN` alone is for quick use. Tokens never appear in a message, an event or
 * an error from this module: transport errors are rebuilt without the URL (the SDK puts the refresh
 * token in the token URL's query string, which we move into the POST body before sending).
 *
 * The SDK always builds `https://{api,content}.dropboxapi.com` URLs. For tests only, the undocumented
 * `RXTORRENT_DROPBOX_BASE_URL` (a loopback http URL) redirects them to a local emulator.
 */
import { Dropbox, DropboxAuth } from 'dropbox';
import { DropboxConfig, configFilePath, readConfig } from './config-file';

export const DROPBOX_SCOPES = ['files.metadata.read', 'files.content.read', 'files.content.write'] as const;
export const BASE_URL_ENV = 'RXTORRENT_DROPBOX_BASE_URL';

export type DropboxCredentials =
  | {
      kind: 'refresh';
      appKey: string;
      appSecret?: string;
      refreshToken: string;
      /** Where they came from, for messages: `environment` or the config file path. */
      source: string;
    }
  | { kind: 'access'; accessToken: string; source: string };

export class DropboxAuthError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'DropboxAuthError';
  }
}

/** A transport failure, rebuilt without the request URL (which may carry a token). */
export class DropboxNetworkError extends Error {
  constructor(
    readonly code: string,
    readonly host: string,
  ) {
    super(`cannot reach Dropbox (${host}): ${code}`);
    this.name = 'DropboxNetworkError';
  }
}

export interface ResolvedCredentials {
  credentials?: DropboxCredentials;
  warnings: string[];
}

/**
 * Credentials from the environment, else from the config file. Throws DropboxAuthError for a
 * half-configured environment (a refresh token without an app key would be silently ignored by the SDK).
 */
export function resolveCredentials(env: NodeJS.ProcessEnv = process.env): ResolvedCredentials {
  const appKey = env.DROPBOX_APP_KEY?.trim();
  const appSecret = env.DROPBOX_APP_SECRET?.trim() || undefined;
  const refreshToken = env.DROPBOX_REFRESH_TOKEN?.trim();
  const accessToken = env.DROPBOX_ACCESS_TOKEN?.trim();
  if (refreshToken) {
    if (!appKey) {
      throw new DropboxAuthError(
        'DROPBOX_REFRESH_TOKEN is set but DROPBOX_APP_KEY is not: a refresh token only works with the app key it was issued for',
      );
    }
    return {
      credentials: { kind: 'refresh', appKey, appSecret, refreshToken, source: 'environment' },
      warnings: [],
    };
  }
  if (accessToken)
    return { credentials: { kind: 'access', accessToken, source: 'environment' }, warnings: [] };
  const file = configFilePath(env);
  const { config, warnings } = readConfig(file);
  const d: DropboxConfig | undefined = config.dropbox;
  if (d) {
    return {
      credentials: {
        kind: 'refresh',
        appKey: d.appKey,
        appSecret: d.appSecret,
        refreshToken: d.refreshToken,
        source: file,
      },
      warnings,
    };
  }
  return { warnings };
}

/** Every secret in these credentials, for scrubbing messages as a last line of defence. */
export function secretsOf(c: DropboxCredentials): string[] {
  return c.kind === 'refresh' ? [c.refreshToken, ...(c.appSecret ? [c.appSecret] : [])] : [c.accessToken];
}

/** Replace every occurrence of a secret with `***`. */
export function redact(text: string, secrets: readonly string[]): string {
  let out = text;
  for (const s of secrets) if (s.length >= 4) out = out.split(s).join('***');
  return out;
}

/** What the SDK calls: `fetch(url, { method, headers, body })`, answering node-fetch style. */
export type SdkFetch = (
  url: string,
  init: { method?: string; headers?: Record<string, string>; body?: unknown },
) => Promise<unknown>;

/** Checks the test-only base URL: it must be plain http(s) on a loopback address. */
export function emulatorBaseUrl(env: NodeJS.ProcessEnv = process.env): string | undefined {
  const raw = env[BASE_URL_ENV];
  if (!raw) return undefined;
  let u: URL;
  try {
    u = new URL(raw);
  } catch {
    throw new DropboxAuthError(`${BASE_URL_ENV} is not a URL`);
  }
  const loopback = ['127.0.0.1', 'localhost', '[::1]'].includes(u.hostname);
  if (!loopback || !/^https?:$/.test(u.protocol)) {
    throw new DropboxAuthError(`${BASE_URL_ENV} must be a loopback http URL (it is a test hook)`);
  }
  return u.origin + u.pathname.replace(/\/+$/, '');
}

/**
 * The SDK's transport: Node's own fetch, with node-fetch's `res.buffer()` (the SDK's download path
 * calls it), a timeout (longer for the longpoll), OAuth parameters moved from the query string into a form body, errors rebuilt
 * without the URL, and (tests only) Dropbox hosts redirected to `baseUrl`.
 */
export function makeDropboxFetch(opts: { baseUrl?: string; timeoutMs?: number } = {}): SdkFetch {
  const timeoutMs = opts.timeoutMs ?? 60_000;
  return async (url, init) => {
    let target = url;
    if (opts.baseUrl) {
      target = url.replace(/^https:\/\/[a-z-]+\.dropbox(?:api)?\.com\//, `${opts.baseUrl}/`);
    }
    const u = new URL(target);
    const headers: Record<string, string> = { ...(init.headers ?? {}) };
    let body = init.body as string | Uint8Array | undefined | null;
    if (u.pathname.endsWith('/oauth2/token') && u.search) {
      body = u.searchParams.toString();
      u.search = '';
      delete headers['Content-Type'];
      headers['Content-Type'] = 'application/x-www-form-urlencoded';
    }
    let res: Response;
    try {
      res = await fetch(u, {
        method: init.method ?? 'GET',
        headers,
        body: body ?? undefined,
        signal: AbortSignal.timeout(Math.max(timeoutMs, longpollMs(u, body))),
      });
    } catch (err) {
      throw new DropboxNetworkError(networkCode(err), u.host);
    }
    return Object.assign(res, { buffer: async () => Buffer.from(await res.arrayBuffer()) });
  };
}

/**
 * `files/list_folder/longpoll` holds the request for its `timeout` (30–480 s) plus up to 90 s of
 * jitter Dropbox adds; the transport must wait that long (with a margin) instead of its usual timeout.
 */
function longpollMs(u: URL, body: unknown): number {
  if (!u.pathname.endsWith('/files/list_folder/longpoll')) return 0;
  let secs = 30;
  try {
    const t = (JSON.parse(String(body)) as { timeout?: unknown }).timeout;
    if (typeof t === 'number' && t > 0) secs = Math.min(480, t);
  } catch {
    // no readable body: Dropbox's default timeout
  }
  return (secs + 90 + 30) * 1000;
}

function networkCode(err: unknown): string {
  const e = err as { name?: string; code?: string; cause?: { code?: string; name?: string } };
  if (e?.name === 'TimeoutError' || e?.name === 'AbortError') return 'ETIMEDOUT';
  return e?.cause?.code ?? e?.code ?? e?.cause?.name ?? 'network error';
}

export interface DropboxClient {
  dbx: Dropbox;
  auth: DropboxAuth;
  credentials: DropboxCredentials;
  /** Can a new access token be had (refresh token + app key)? */
  canRefresh: boolean;
  secrets: string[];
}

/** The SDK pair on our transport. `fetch` goes on `DropboxAuth` too, or token refresh escapes it. */
export function makeDropboxClient(credentials: DropboxCredentials, fetchImpl: SdkFetch): DropboxClient {
  const auth =
    credentials.kind === 'refresh'
      ? new DropboxAuth({
          fetch: fetchImpl,
          clientId: credentials.appKey,
          clientSecret: credentials.appSecret,
          refreshToken: credentials.refreshToken,
        })
      : new DropboxAuth({ fetch: fetchImpl, accessToken: credentials.accessToken });
  const dbx = new Dropbox({ auth, fetch: fetchImpl });
  return {
    dbx,
    auth,
    credentials,
    canRefresh: credentials.kind === 'refresh',
    secrets: secretsOf(credentials),
  };
}

/** Step one of `rxtorrent dropbox login`: the URL to open (PKCE, code flow, offline = refresh token). */
export async function startPkceLogin(
  appKey: string,
  fetchImpl: SdkFetch,
): Promise<{ url: string; auth: DropboxAuth }> {
  const auth = new DropboxAuth({ fetch: fetchImpl, clientId: appKey });
  const url = await auth.getAuthenticationUrl(
    undefined as unknown as string, // no redirect: Dropbox shows the code for the user to paste
    undefined,
    'code',
    'offline',
    undefined,
    'none',
    true,
  );
  return { url: String(url), auth };
}

export interface LoginResult {
  refreshToken: string;
  scopes: string[];
  accountId?: string;
}

/** Step two: trade the pasted code (with the PKCE verifier) for a refresh token. */
export async function finishPkceLogin(auth: DropboxAuth, code: string): Promise<LoginResult> {
  let res;
  try {
    res = await auth.getAccessTokenFromCode(undefined as unknown as string, encodeURIComponent(code.trim()));
  } catch (err) {
    throw new DropboxAuthError(`Dropbox did not accept the code: ${oauthReason(err)}`);
  }
  const r = res.result as { refresh_token?: string; scope?: string; account_id?: string };
  if (!r.refresh_token) {
    throw new DropboxAuthError('Dropbox returned no refresh token (the login must ask for offline access)');
  }
  return {
    refreshToken: r.refresh_token,
    scopes: (r.scope ?? '').split(/\s+/).filter(Boolean),
    accountId: r.account_id,
  };
}

/** `invalid_grant: code has expired` from an OAuth error body; never echoes anything else. */
export function oauthReason(err: unknown): string {
  if (err instanceof DropboxNetworkError) return err.message;
  const e = err as { status?: number; error?: unknown };
  const body = e?.error as { error?: unknown; error_description?: unknown } | string | undefined;
  if (body && typeof body === 'object' && typeof body.error === 'string') {
    const desc =
      typeof body.error_description === 'string' ? `: ${body.error_description.slice(0, 200)}` : '';
    return `${body.error}${desc}`;
  }
  return typeof e?.status === 'number' ? `HTTP ${e.status}` : 'unknown error';
}
