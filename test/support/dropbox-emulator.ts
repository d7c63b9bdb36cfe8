/**
 * A loopback server that speaks the part of the Dropbox API v2 rxtorrent uses, with Dropbox's real
 * request and error shapes, so the real SDK can be tested without the internet.
 *
 * Routes: `/2/files/upload`, `/2/files/download` (body + `Dropbox-API-Result`), `/2/files/list_folder`
 * and `/continue` (pages, then the changes since the cursor: `file` and `deleted` entries),
 * `/2/files/list_folder/longpoll` (no auth, as on Dropbox's notify host: held until a change in the
 * cursor's folder or the timeout), `/2/files/get_metadata`, `/2/files/delete_v2`, `/2/auth/token/revoke`,
 * `/oauth2/token` (refresh_token and PKCE authorization_code grants; parameters in the query or a form
 * body). Folders exist once something was put in them and stay when emptied. Errors: 400 text for bad
 * input, 401 `expired_access_token` / `invalid_access_token` / `missing_scope`, 409 `path/not_found/..`
 * (and `path_lookup/..` for delete), 409 `reset` for a cursor from before `resetCursors()`, 429 with
 * `Retry-After`, OAuth 400 `invalid_grant`. Paths are case-insensitive, as on Dropbox.
 *
 * Tests inject faults with `failNext(route, fault)`, revoke or expire tokens, reset cursors, delete
 * folders, and read `requests`.
 * Point the CLI at it with `RXTORRENT_DROPBOX_BASE_URL=emulator.url`.
 */
import { createHash, randomBytes } from 'node:crypto';
import * as http from 'node:http';
import { AddressInfo } from 'node:net';
import { dropboxContentHash } from '../../src/store/content-hash';
import { Cursor, DropboxJournal, PollOutcome } from './dropbox-journal';

export interface StoredFile {
  pathDisplay: string;
  bytes: Buffer;
  serverModified: string;
  rev: string;
  id: string;
}

export type Fault =
  | { status: 429; retryAfter: number }
  | { status: 401; tag: 'expired_access_token' | 'invalid_access_token' }
  | { status: 401; tag: 'missing_scope'; scope: string }
  | { status: 500 | 503 }
  | { destroy: true }
  /** Serve a download with these bytes instead (the metadata still describes the real file). */
  | { corruptBody: Buffer }
  /** Answer a longpoll at once, asking the client to wait this many seconds before the next. */
  | { backoff: number };

export interface RequestRecord {
  route: string;
  status: number;
  /** When the answer was sent (ms since the epoch). */
  at: number;
}

export interface EmulatorOptions {
  appKey?: string;
  appSecret?: string;
  /** Most entries per list_folder page, whatever `limit` the client asks for. */
  pageSize?: number;
  /** Longest a longpoll is held, whatever `timeout` the client asks for (tests need not wait 30 s). */
  longpollMaxMs?: number;
}

const SCOPE: Record<string, string> = {
  'files/upload': 'files.content.write',
  'files/delete_v2': 'files.content.write',
  'files/download': 'files.content.read',
  'files/list_folder': 'files.metadata.read',
  'files/list_folder/continue': 'files.metadata.read',
  'files/list_folder/get_latest_cursor': 'files.metadata.read',
  'files/get_metadata': 'files.metadata.read',
};

export class DropboxEmulator {
  url = '';
  readonly appKey: string;
  readonly appSecret?: string;
  readonly files = new Map<string, StoredFile>();
  readonly requests: RequestRecord[] = [];
  /** Requests received, and those not yet answered (held longpolls included). */
  received = 0;
  open = 0;
  /** Every token this emulator ever issued or accepted (for "no token leaked" checks). */
  readonly issuedTokens = new Set<string>();
  readonly scopes = new Set(Object.values(SCOPE));
  pageSize: number;
  longpollMaxMs: number;
  /** Folders, the change journal and list_folder cursors. */
  readonly journal = new DropboxJournal();
  private readonly server: http.Server;
  private readonly refreshTokens = new Set<string>();
  private readonly accessTokens = new Map<string, { expiresAt: number; from?: string }>();
  private readonly codes = new Map<string, { challenge: string; clientId: string }>();
  private readonly faults = new Map<string, Fault[]>();
  private seq = 0;

  constructor(opts: EmulatorOptions = {}) {
    this.appKey = opts.appKey ?? `appkey${randomBytes(6).toString('hex')}`;
    this.appSecret = opts.appSecret;
    this.pageSize = opts.pageSize ?? 1000;
    this.longpollMaxMs = opts.longpollMaxMs ?? 480_000;
    this.server = http.createServer((req, res) => {
      this.received++;
      this.open++;
      res.on('close', () => this.open--);
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        try {
          this.handle(req, res, Buffer.concat(chunks));
        } catch (err) {
          this.send(
            req,
            res,
            500,
            { 'content-type': 'text/plain' },
            `emulator bug: ${(err as Error).message}`,
          );
        }
      });
    });
  }

  async start(): Promise<this> {
    await new Promise<void>((r) => this.server.listen(0, '127.0.0.1', r));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
    return this;
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((r) => this.server.close(() => r()));
  }

  /** A refresh token the emulator will honour (as if the user had logged in). */
  issueRefreshToken(): string {
    const t = `rt-${randomBytes(24).toString('base64url')}`;
    this.refreshTokens.add(t);
    this.issuedTokens.add(t);
    return t;
  }

  /** A short-lived access token, as from the App Console's "Generate" button. */
  issueAccessToken(ttlSeconds = 14_400, from?: string): string {
    const t = `sl.${randomBytes(30).toString('base64url')}`;
    this.accessTokens.set(t, { expiresAt: Date.now() + ttlSeconds * 1000, from });
    this.issuedTokens.add(t);
    return t;
  }

  isRefreshTokenValid(t: string): boolean {
    return this.refreshTokens.has(t);
  }

  revokeRefreshToken(t: string): void {
    this.refreshTokens.delete(t);
  }

  /** Every access token issued so far now answers `expired_access_token`. */
  expireAccessTokens(): void {
    for (const v of this.accessTokens.values()) v.expiresAt = 0;
  }

  /** What the user does in the browser: approve, and get a code bound to the PKCE challenge. */
  authorize(authUrl: string): string {
    const u = new URL(authUrl);
    const clientId = u.searchParams.get('client_id') ?? '';
    const challenge = u.searchParams.get('code_challenge') ?? '';
    if (u.searchParams.get('code_challenge_method') !== 'S256') throw new Error('not a PKCE S256 URL');
    if (u.searchParams.get('token_access_type') !== 'offline') throw new Error('not an offline-access URL');
    const code = `code-${randomBytes(16).toString('base64url')}`;
    this.codes.set(code, { challenge, clientId });
    return code;
  }

  /** Queue faults for the next calls to `route` (e.g. `files/download`, `oauth2/token`). */
  failNext(route: string, ...faults: Fault[]): void {
    this.faults.set(route, [...(this.faults.get(route) ?? []), ...faults]);
  }

  /** Every cursor issued so far answers `reset` (as after a Dropbox-side rebuild). */
  resetCursors(): void {
    this.journal.resetCursors();
  }

  /** Delete a folder and what is in it, as a user would on dropbox.com. */
  deleteFolder(pathDisplay: string): void {
    const dir = pathDisplay.toLowerCase();
    for (const [k, f] of [...this.files]) {
      if (k.startsWith(`${dir}/`)) {
        this.files.delete(k);
        this.journal.record(f.pathDisplay);
      }
    }
    this.journal.removeFolders(dir);
    this.journal.record(pathDisplay);
  }

  /** Remove a file directly (as another client would). */
  unlink(pathDisplay: string): void {
    if (this.files.delete(pathDisplay.toLowerCase())) this.journal.record(pathDisplay);
  }

  /** Put a file directly (e.g. a corrupt .torrent someone else uploaded). */
  put(pathDisplay: string, bytes: Buffer): StoredFile {
    const f: StoredFile = {
      pathDisplay,
      bytes,
      serverModified: new Date(Math.floor(Date.now() / 1000) * 1000).toISOString().replace('.000Z', 'Z'),
      rev: `0${(++this.seq).toString(16).padStart(8, '0')}`,
      id: `id:${randomBytes(8).toString('base64url')}`,
    };
    this.files.set(pathDisplay.toLowerCase(), f);
    this.journal.addParents(pathDisplay);
    this.journal.record(pathDisplay);
    return f;
  }

  count(route: string): number {
    return this.requests.filter((r) => r.route === route).length;
  }

  // ---------------------------------------------------------------------------------------------

  private send(
    req: http.IncomingMessage,
    res: http.ServerResponse,
    status: number,
    headers: Record<string, string>,
    body: string | Buffer,
  ): void {
    this.requests.push({ route: routeOf(req.url ?? ''), status, at: Date.now() });
    res.writeHead(status, headers);
    res.end(body);
  }

  private json(
    req: http.IncomingMessage,
    res: http.ServerResponse,
    status: number,
    body: unknown,
    extra: Record<string, string> = {},
  ): void {
    this.send(req, res, status, { 'content-type': 'application/json', ...extra }, JSON.stringify(body));
  }

  private apiError(
    req: http.IncomingMessage,
    res: http.ServerResponse,
    status: number,
    summary: string,
    error: unknown,
    extra: Record<string, string> = {},
  ): void {
    this.json(req, res, status, { error_summary: summary, error }, extra);
  }

  private handle(req: http.IncomingMessage, res: http.ServerResponse, body: Buffer): void {
    const route = routeOf(req.url ?? '');
    const fault = this.faults.get(route)?.shift();
    if (fault && 'destroy' in fault) {
      this.requests.push({ route, status: 0, at: Date.now() });
      req.socket.destroy();
      return;
    }
    if (fault && 'status' in fault) {
      if (fault.status === 429) {
        return this.apiError(
          req,
          res,
          429,
          'too_many_requests/..',
          { reason: { '.tag': 'too_many_requests' }, retry_after: fault.retryAfter },
          { 'retry-after': String(fault.retryAfter) },
        );
      }
      if (fault.status === 401) {
        return this.apiError(
          req,
          res,
          401,
          `${fault.tag}/..`,
          fault.tag === 'missing_scope'
            ? { '.tag': 'missing_scope', required_scope: fault.scope }
            : { '.tag': fault.tag },
        );
      }
      return this.send(req, res, fault.status, { 'content-type': 'text/plain' }, 'Internal Server Error');
    }
    if (req.method !== 'POST')
      return this.send(req, res, 405, { 'content-type': 'text/plain' }, 'method not allowed');
    if (route === 'oauth2/token') return this.token(req, res, body);
    if (route === 'files/list_folder/longpoll') return this.longpoll(req, res, body, fault);

    const authz = req.headers.authorization ?? '';
    const m = /^Bearer (\S+)$/.exec(authz);
    if (!m) {
      return this.send(
        req,
        res,
        400,
        { 'content-type': 'text/plain' },
        `Error in call to API function "${route}": Must provide HTTP header "Authorization" or URL parameter "authorization".`,
      );
    }
    const tok = this.accessTokens.get(m[1]);
    if (!tok)
      return this.apiError(req, res, 401, 'invalid_access_token/..', { '.tag': 'invalid_access_token' });
    if (tok.expiresAt <= Date.now())
      return this.apiError(req, res, 401, 'expired_access_token/..', { '.tag': 'expired_access_token' });
    if (route === 'auth/token/revoke') {
      // As on Dropbox: revoking an access token also disables the refresh token it came from.
      this.accessTokens.delete(m[1]);
      if (tok.from) this.refreshTokens.delete(tok.from);
      return this.send(req, res, 200, { 'content-type': 'application/json' }, 'null');
    }
    const scope = SCOPE[route];
    if (!scope)
      return this.send(req, res, 404, { 'content-type': 'text/plain' }, `Unknown API function: "${route}"`);
    if (!this.scopes.has(scope)) {
      return this.apiError(req, res, 401, `missing_scope/${scope}/..`, {
        '.tag': 'missing_scope',
        required_scope: scope,
      });
    }

    const style = route === 'files/upload' || route === 'files/download' ? 'header' : 'body';
    let arg: Record<string, unknown>;
    try {
      arg = JSON.parse(
        style === 'header' ? String(req.headers['dropbox-api-arg'] ?? '') : body.toString('utf8'),
      );
    } catch {
      return this.send(
        req,
        res,
        400,
        { 'content-type': 'text/plain' },
        `Error in call to API function "${route}": could not decode input as JSON`,
      );
    }
    const p = typeof arg.path === 'string' ? arg.path : '';
    if (
      route !== 'files/list_folder/continue' &&
      !/^(\/[^/\\]+)+$/.test(p) &&
      !(route.startsWith('files/list_folder') && p === '')
    ) {
      return this.send(
        req,
        res,
        400,
        { 'content-type': 'text/plain' },
        `Error in call to API function "${route}": request body: path: '${p}' did not match pattern`,
      );
    }
    const notFound = (tag = 'path'): void =>
      this.apiError(req, res, 409, `${tag}/not_found/..`, { '.tag': tag, [tag]: { '.tag': 'not_found' } });

    switch (route) {
      case 'files/upload': {
        if (arg.content_hash !== undefined && arg.content_hash !== dropboxContentHash(body)) {
          return this.apiError(req, res, 409, 'content_hash_mismatch/..', {
            '.tag': 'content_hash_mismatch',
          });
        }
        const mode = (arg.mode as { '.tag'?: string } | undefined)?.['.tag'] ?? 'add';
        const existing = this.files.get(p.toLowerCase());
        if (existing && mode === 'add') {
          return this.apiError(req, res, 409, 'path/conflict/file/..', {
            '.tag': 'path',
            reason: { '.tag': 'conflict', conflict: { '.tag': 'file' } },
            upload_session_id: 'x',
          });
        }
        return this.json(req, res, 200, this.metadata(this.put(existing?.pathDisplay ?? p, body)));
      }
      case 'files/download': {
        const f = this.files.get(p.toLowerCase());
        if (!f) return notFound();
        const bytes = fault && 'corruptBody' in fault ? fault.corruptBody : f.bytes;
        return this.send(
          req,
          res,
          200,
          {
            'content-type': 'application/octet-stream',
            'dropbox-api-result': JSON.stringify(this.metadata(f)).replace(
              /[\u007f-\uffff]/g,
              (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`,
            ),
          },
          bytes,
        );
      }
      case 'files/get_metadata': {
        const f = this.files.get(p.toLowerCase());
        return f ? this.json(req, res, 200, this.metadata(f)) : notFound();
      }
      case 'files/delete_v2': {
        const f = this.files.get(p.toLowerCase());
        if (!f) return notFound('path_lookup');
        this.files.delete(p.toLowerCase());
        this.journal.record(f.pathDisplay);
        return this.json(req, res, 200, { metadata: this.metadata(f) });
      }
      case 'files/list_folder': {
        const dir = p.toLowerCase();
        if (!this.journal.hasFolder(dir)) return notFound();
        const limit = Math.min(this.pageSize, typeof arg.limit === 'number' ? arg.limit : 2000);
        return this.page(req, res, this.journal.start(dir, { limit }));
      }
      case 'files/list_folder/get_latest_cursor': {
        const dir = p.toLowerCase();
        if (!this.journal.hasFolder(dir)) return notFound();
        return this.json(req, res, 200, { cursor: this.journal.latest(dir) });
      }
      case 'files/list_folder/continue': {
        const c = this.journal.decode(arg.cursor);
        if (!c) return this.apiError(req, res, 409, 'reset/..', { '.tag': 'reset' });
        if (c.offset !== undefined) return this.page(req, res, c);
        if (!this.journal.hasFolder(c.dir)) return notFound();
        return this.json(req, res, 200, {
          entries: this.journal.since(c).map((j) => {
            const f = this.files.get(j.lower);
            if (f) return this.metadata(f);
            if (this.journal.folders.has(j.lower)) {
              return {
                '.tag': 'folder',
                name: j.display.split('/').pop(),
                path_lower: j.lower,
                path_display: j.display,
                id: `id:${j.lower}`,
              };
            }
            return {
              '.tag': 'deleted',
              name: j.display.split('/').pop(),
              path_lower: j.lower,
              path_display: j.display,
            };
          }),
          cursor: this.journal.latest(c.dir),
          has_more: false,
        });
      }
    }
  }

  /** Held until something changes in the cursor's folder, or the (capped) timeout. No auth, as on Dropbox. */
  private longpoll(req: http.IncomingMessage, res: http.ServerResponse, body: Buffer, fault?: Fault): void {
    const text = (status: number, msg: string): void =>
      this.send(
        req,
        res,
        status,
        { 'content-type': 'text/plain' },
        `Error in call to API function "files/list_folder/longpoll": ${msg}`,
      );
    if (req.method !== 'POST')
      return this.send(req, res, 405, { 'content-type': 'text/plain' }, 'method not allowed');
    if (req.headers.authorization)
      return text(400, 'Unexpected "Authorization" header: this endpoint takes no authentication.');
    let arg: { cursor?: unknown; timeout?: unknown };
    try {
      arg = JSON.parse(body.toString('utf8'));
    } catch {
      return text(400, 'could not decode input as JSON');
    }
    const timeout = arg.timeout ?? 30;
    if (typeof timeout !== 'number' || timeout < 30 || timeout > 480) {
      return text(400, `request body: timeout: ${String(timeout)} is not within range [30, 480]`);
    }
    const answer = (outcome: PollOutcome): void => {
      if (outcome === 'reset') return this.apiError(req, res, 409, 'reset/..', { '.tag': 'reset' });
      const backoff = fault && 'backoff' in fault ? { backoff: fault.backoff } : {};
      this.json(req, res, 200, { changes: outcome === 'changes', ...backoff });
    };
    const now = this.journal.poll(arg.cursor);
    if (now !== 'none' || (fault && 'backoff' in fault)) return answer(now);
    const cancel = this.journal.wait(arg.cursor, Math.min(timeout * 1000, this.longpollMaxMs), (o) => {
      if (!res.writableEnded && !res.destroyed) answer(o);
    });
    res.on('close', cancel);
  }

  private page(req: http.IncomingMessage, res: http.ServerResponse, c: Cursor): void {
    const { dir } = c;
    const offset = c.offset ?? 0;
    const limit = c.limit ?? this.pageSize;
    const all = [...this.files.entries()]
      .filter(([k]) => k.startsWith(`${dir}/`) && !k.slice(dir.length + 1).includes('/'))
      .sort(([a], [b]) => (a < b ? -1 : 1))
      .map(([, f]) => f);
    const slice = all.slice(offset, offset + limit);
    const next = offset + slice.length;
    const more = next < all.length;
    this.json(req, res, 200, {
      entries: slice.map((f) => this.metadata(f)),
      // While paging the cursor is a position; after the last page it asks for changes since the listing.
      cursor: this.journal.encode(more ? { ...c, offset: next, limit } : { epoch: c.epoch, dir, seq: c.seq }),
      has_more: more,
    });
  }

  private metadata(f: StoredFile): Record<string, unknown> {
    return {
      '.tag': 'file',
      name: f.pathDisplay.split('/').pop(),
      path_lower: f.pathDisplay.toLowerCase(),
      path_display: f.pathDisplay,
      id: f.id,
      client_modified: f.serverModified,
      server_modified: f.serverModified,
      rev: f.rev,
      size: f.bytes.length,
      is_downloadable: true,
      content_hash: dropboxContentHash(f.bytes),
    };
  }

  private token(req: http.IncomingMessage, res: http.ServerResponse, body: Buffer): void {
    const q = new URL(req.url ?? '', 'http://x').searchParams;
    const form = new URLSearchParams(body.toString('utf8'));
    const get = (k: string): string | null => form.get(k) ?? q.get(k);
    const oauthError = (status: number, error: string, description: string): void =>
      this.json(req, res, status, { error, error_description: description });
    const clientId = get('client_id');
    if (clientId !== this.appKey)
      return oauthError(400, 'invalid_client', 'Invalid client_id or client_secret');
    const secret = get('client_secret');
    if (secret !== null && secret !== this.appSecret)
      return oauthError(400, 'invalid_client', 'Invalid client_id or client_secret');
    const grant = get('grant_type');
    if (grant === 'refresh_token') {
      const rt = get('refresh_token') ?? '';
      if (!this.refreshTokens.has(rt))
        return oauthError(400, 'invalid_grant', 'refresh token is invalid or revoked');
      const at = this.issueAccessToken(14_400, rt);
      return this.json(req, res, 200, { access_token: at, token_type: 'bearer', expires_in: 14_400 });
    }
    if (grant === 'authorization_code') {
      const c = this.codes.get(get('code') ?? '');
      if (!c || c.clientId !== clientId)
        return oauthError(400, 'invalid_grant', "code doesn't exist or has expired");
      const verifier = get('code_verifier') ?? '';
      const challenge = createHash('sha256').update(verifier).digest('base64url');
      if (secret === null && challenge !== c.challenge)
        return oauthError(400, 'invalid_grant', 'invalid code verifier');
      this.codes.delete(get('code') ?? '');
      const rt = this.issueRefreshToken();
      return this.json(req, res, 200, {
        access_token: this.issueAccessToken(14_400, rt),
        token_type: 'bearer',
        expires_in: 14_400,
        refresh_token: rt,
        scope: [...this.scopes].join(' '),
        uid: '12345',
        account_id: 'dbid:emulated',
      });
    }
    return oauthError(400, 'unsupported_grant_type', `grant_type ${grant} is not supported`);
  }
}

function routeOf(url: string): string {
  const p = url.split('?')[0];
  return p.startsWith('/2/') ? p.slice(3) : p.replace(/^\//, '');
}

/** Start an emulator; stop it with `close()`. */
export async function startDropboxEmulator(opts: EmulatorOptions = {}): Promise<DropboxEmulator> {
  return new DropboxEmulator(opts).start();
}
