/**
 * The remote-control HTTP server: Transmission's RPC at `/transmission/rpc`, so transmission-remote and
 * the Transmission remote UIs drive rxtorrent.
 *
 * Owns: the socket (127.0.0.1:9091 unless told otherwise), and the checks every request passes, in
 * order: basic auth when configured (401), the path (404), the Host header against DNS rebinding when
 * there is no auth (421), the `X-Transmission-Session-Id` exchange (409 carries the id to resend
 * with), POST only (405), a body of at most 10 MiB (413, refused at the Content-Length when it says
 * so). Then the body goes to rpc-args.ts and rpc-methods.ts, and the answer is always HTTP 200 with
 * `{ arguments, result, tag }`. Does not own: the methods or the engine (an `RpcBackend`).
 *
 * No CORS headers: a web page from another origin can neither read the session id from a 409 nor
 * send the custom header without a preflight we do not answer, so it cannot drive us (CSRF).
 *
 * Nothing a client sends throws past the request handler; the RPC never reads the disk itself.
 *
 * @example
 *   const server = createRpcServer({ backend, port: 0 });
 *   const { port } = await server.start();   // POST http://127.0.0.1:<port>/transmission/rpc
 *   await server.stop();
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { isIP } from 'node:net';
import { Observable } from 'rxjs/internal/Observable';
import { Subject } from 'rxjs/internal/Subject';
import type { EventInput } from '../events/engine-event';
import { parseEnvelope } from './rpc-args';
import type { RpcBackend } from './rpc-backend';
import { RpcMemory } from './rpc-memory';
import { MethodContext, MethodResult, runMethod } from './rpc-methods';

export const RPC_PATH = '/transmission/rpc';
export const SESSION_HEADER = 'X-Transmission-Session-Id';
export const DEFAULT_RPC_PORT = 9091;
export const MAX_BODY_BYTES = 10 * 1024 * 1024;

export interface RpcServerOptions {
  backend: RpcBackend;
  /** Address to bind; default 127.0.0.1 (only this machine). */
  host?: string;
  /** Default 9091; 0 picks a free port. */
  port?: number;
  /** Require HTTP basic auth with these credentials (`--rpc-auth user:pass`). */
  auth?: { username: string; password: string };
  /** Host names accepted in the Host header besides IP addresses and `localhost` (only without auth). */
  allowedHosts?: readonly string[];
  maxBodyBytes?: number;
  commandTimeoutMs?: number;
  addTimeoutMs?: number;
  /** Most open connections; more are refused by the kernel's backlog. */
  maxConnections?: number;
  now?: () => number;
}

export interface RpcServer {
  /** Listen (idempotent); resolves with the bound address. */
  start(): Promise<{ host: string; port: number }>;
  /** Close the socket and every connection (idempotent). */
  stop(): Promise<void>;
  /** `http://host:port/transmission/rpc`. */
  url(): string;
  /** The id clients must send; a new one each time the process starts. */
  readonly sessionId: string;
  /** Listening, refused credentials (counted, not every one), internal errors. Never a credential. */
  readonly events$: Observable<EventInput>;
}

/** `user:pass` → credentials; the password may contain `:`. */
export function parseRpcAuth(spec: string): { username: string; password: string } {
  const i = spec.indexOf(':');
  if (i <= 0 || i === spec.length - 1) throw new Error('--rpc-auth must be user:password');
  return { username: spec.slice(0, i), password: spec.slice(i + 1) };
}

const digest = (s: string): Buffer => createHash('sha256').update(s, 'utf8').digest();

function html(status: number, title: string, text = ''): string {
  return `<h1>${status}: ${title}</h1>${text}`;
}

export function createRpcServer(opts: RpcServerOptions): RpcServer {
  const events = new Subject<EventInput>();
  const sessionId = randomBytes(24).toString('base64url');
  const maxBody = opts.maxBodyBytes ?? MAX_BODY_BYTES;
  const expectedAuth = opts.auth ? digest(`${opts.auth.username}:${opts.auth.password}`) : undefined;
  const allowedHosts = new Set((opts.allowedHosts ?? []).map((h) => h.toLowerCase()));
  const ctx: MethodContext = {
    backend: opts.backend,
    memory: new RpcMemory(),
    sessionId,
    commandTimeoutMs: opts.commandTimeoutMs ?? 15_000,
    addTimeoutMs: opts.addTimeoutMs ?? 60_000,
    now: opts.now ?? Date.now,
  };
  let authFailures = 0;
  let server: http.Server | undefined;
  let started: Promise<{ host: string; port: number }> | undefined;
  let bound: AddressInfo | undefined;

  const emit = (e: Omit<EventInput, 'category'> & { type: string }): void =>
    events.next({ category: 'rpc', ...e });

  const send = (
    res: http.ServerResponse,
    status: number,
    body: string,
    headers: http.OutgoingHttpHeaders = {},
  ): void => {
    if (res.headersSent || res.destroyed) return;
    const buf = Buffer.from(body, 'utf8');
    res.writeHead(status, {
      'Content-Type': status === 200 ? 'application/json; charset=UTF-8' : 'text/html; charset=UTF-8',
      'Content-Length': buf.length,
      Server: 'rxtorrent',
      ...headers,
    });
    res.end(buf);
  };

  const authorized = (req: http.IncomingMessage): boolean => {
    if (!expectedAuth) return true;
    const m = /^Basic\s+([A-Za-z0-9+/=]{1,1024})\s*$/i.exec(req.headers.authorization ?? '');
    const given = digest(m ? Buffer.from(m[1], 'base64').toString('utf8') : '\0');
    return timingSafeEqual(given, expectedAuth);
  };

  /** DNS rebinding guard: a page on evil.example resolving to 127.0.0.1 sends `Host: evil.example`. */
  const hostAllowed = (req: http.IncomingMessage): boolean => {
    if (expectedAuth) return true;
    const host = (req.headers.host ?? '').toLowerCase();
    const name = host.startsWith('[') ? host.slice(1, host.indexOf(']')) : host.replace(/:\d*$/, '');
    return isIP(name) !== 0 || name === 'localhost' || name === 'localhost.' || allowedHosts.has(name);
  };

  const answer = async (res: http.ServerResponse, body: string): Promise<void> => {
    const env = parseEnvelope(body);
    const t0 = Date.now();
    let out: MethodResult;
    if (env.ok) {
      out = await runMethod(ctx, env.method, env.args, (err) =>
        emit({
          type: 'RpcInternalError',
          level: 'error',
          method: env.method,
          message: (err as Error)?.message ?? String(err),
        }),
      );
    } else {
      out = { result: env.result, arguments: {} };
    }
    if (out.result !== 'success') {
      emit({
        type: 'RpcRefused',
        level: 'debug',
        method: env.ok ? env.method.slice(0, 64) : undefined,
        result: out.result.slice(0, 200),
        ms: Date.now() - t0,
      });
    }
    let json: string;
    try {
      json = JSON.stringify({
        arguments: out.arguments,
        result: out.result,
        ...(env.tag !== undefined ? { tag: env.tag } : {}),
      });
    } catch (err) {
      json = JSON.stringify({
        arguments: {},
        result: `internal error: ${(err as Error).message}`,
        ...(env.tag !== undefined ? { tag: env.tag } : {}),
      });
    }
    send(res, 200, json, { [SESSION_HEADER]: sessionId });
  };

  /** Read and drop the body of a refused request, up to the cap; past it, drop the connection. */
  const discard = (req: http.IncomingMessage): void => {
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > maxBody) req.destroy();
    });
  };

  const readBody = (req: http.IncomingMessage, res: http.ServerResponse): void => {
    const declared = Number(req.headers['content-length']);
    const tooLarge = (): void => {
      send(res, 413, html(413, 'Payload Too Large', `<p>Requests are limited to ${maxBody} bytes.</p>`), {
        Connection: 'close',
      });
      res.on('finish', () => req.destroy());
    };
    if (Number.isFinite(declared) && declared > maxBody) return tooLarge();
    const chunks: Buffer[] = [];
    let size = 0;
    let refused = false;
    req.on('data', (c: Buffer) => {
      if (refused) return;
      size += c.length;
      if (size > maxBody) {
        refused = true;
        chunks.length = 0;
        tooLarge();
        return;
      }
      chunks.push(c);
    });
    req.on('end', () => {
      if (refused) return;
      answer(res, Buffer.concat(chunks).toString('utf8')).catch((err: unknown) => {
        emit({ type: 'RpcInternalError', level: 'error', message: (err as Error)?.message ?? String(err) });
        send(res, 500, html(500, 'Internal Server Error'));
      });
    });
  };

  const handle = (req: http.IncomingMessage, res: http.ServerResponse): void => {
    req.on('error', () => undefined); // a client that hangs up mid-body is not our error
    res.on('error', () => undefined);
    if (!authorized(req)) {
      authFailures++;
      if (authFailures === 1 || authFailures % 100 === 0) {
        emit({
          type: 'RpcAuthRefused',
          level: 'warn',
          remote: req.socket.remoteAddress,
          failures: authFailures,
        });
      }
      discard(req);
      return send(res, 401, html(401, 'Unauthorized'), { 'WWW-Authenticate': 'Basic realm="rxtorrent"' });
    }
    let pathname: string;
    try {
      pathname = new URL(req.url ?? '/', 'http://x').pathname;
    } catch {
      pathname = '';
    }
    if (pathname !== RPC_PATH && pathname !== `${RPC_PATH}/`) {
      discard(req);
      return send(res, 404, html(404, 'Not Found', '<p>The RPC is at /transmission/rpc</p>'));
    }
    if (!hostAllowed(req)) {
      discard(req);
      return send(
        res,
        421,
        html(
          421,
          'Misdirected Request',
          '<p>rxtorrent received your request, but the host name was unrecognized. Use an IP address or localhost, set --rpc-auth, or allow the name.</p>',
        ),
      );
    }
    if (req.headers[SESSION_HEADER.toLowerCase()] !== sessionId) {
      discard(req);
      return send(
        res,
        409,
        html(
          409,
          'Conflict',
          `<p>Your request had an invalid session-id header.</p><p>Resend it with this header:</p><p><code>${SESSION_HEADER}: ${sessionId}</code></p>`,
        ),
        { [SESSION_HEADER]: sessionId },
      );
    }
    if (req.method !== 'POST') {
      discard(req);
      return send(res, 405, html(405, 'Method Not Allowed'), { Allow: 'POST' });
    }
    readBody(req, res);
  };

  return {
    sessionId,
    events$: events.asObservable(),
    url: () => {
      if (!bound) return '';
      const host = bound.family === 'IPv6' ? `[${bound.address}]` : bound.address;
      return `http://${host}:${bound.port}${RPC_PATH}`;
    },
    start() {
      started ??= new Promise((resolve, reject) => {
        const s = http.createServer((req, res) => {
          try {
            handle(req, res);
          } catch (err) {
            emit({
              type: 'RpcInternalError',
              level: 'error',
              message: (err as Error)?.message ?? String(err),
            });
            send(res, 500, html(500, 'Internal Server Error'));
          }
        });
        s.headersTimeout = 10_000;
        s.requestTimeout = 30_000;
        s.keepAliveTimeout = 5_000;
        s.maxConnections = opts.maxConnections ?? 128;
        s.on('clientError', (_err, socket) => {
          if (socket.writable) socket.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n');
          else socket.destroy();
        });
        s.once('error', reject);
        s.listen(opts.port ?? DEFAULT_RPC_PORT, opts.host ?? '127.0.0.1', () => {
          s.off('error', reject);
          s.on('error', (err) => emit({ type: 'RpcServerError', level: 'error', message: err.message }));
          server = s;
          bound = s.address() as AddressInfo;
          emit({
            type: 'RpcListening',
            level: 'info',
            url: `http://${bound.address}:${bound.port}${RPC_PATH}`,
          });
          resolve({ host: bound.address, port: bound.port });
        });
      });
      return started;
    },
    async stop() {
      if (started) await started.catch(() => undefined);
      const s = server;
      server = undefined;
      started = undefined;
      if (!s) return;
      s.closeAllConnections();
      await new Promise<void>((r) => s.close(() => r()));
    },
  };
}
