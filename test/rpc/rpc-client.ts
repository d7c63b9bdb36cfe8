/**
 * A raw HTTP client for the RPC tests: any method, path, headers and body (including ones no real
 * client would send), and a Transmission-style `call` that does the session-id exchange.
 */
import * as http from 'node:http';

export interface RawResponse {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

export interface RawRequest {
  method?: string;
  path?: string;
  headers?: Record<string, string | number>;
  body?: string | Buffer;
  /** Send the body in pieces with chunked encoding (no Content-Length). */
  chunked?: boolean;
}

export function rawRequest(port: number, req: RawRequest = {}): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const body =
      req.body === undefined ? undefined : Buffer.isBuffer(req.body) ? req.body : Buffer.from(req.body);
    const headers: Record<string, string | number> = { ...(req.headers ?? {}) };
    if (body && !req.chunked && headers['Content-Length'] === undefined)
      headers['Content-Length'] = body.length;
    const r = http.request(
      {
        host: '127.0.0.1',
        port,
        method: req.method ?? 'POST',
        path: req.path ?? '/transmission/rpc',
        headers,
        agent: false,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () =>
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers,
            body: Buffer.concat(chunks).toString('utf8'),
          }),
        );
        res.on('error', reject);
      },
    );
    r.on('error', reject);
    if (body && req.chunked) {
      const step = 64 * 1024;
      let i = 0;
      const pump = (): void => {
        while (i < body.length) {
          const ok = r.write(body.subarray(i, i + step));
          i += step;
          if (!ok) return void r.once('drain', pump);
        }
        r.end();
      };
      pump();
    } else r.end(body);
  });
}

export interface RpcReply {
  result: string;
  arguments: Record<string, unknown>;
  tag?: number;
  [k: string]: unknown;
}

/** A Transmission client: POST, and on 409 resend with the id the server gave. */
export class RpcClient {
  sessionId = '';
  constructor(
    readonly port: number,
    readonly auth?: string,
  ) {}

  async post(body: string, extra: Record<string, string> = {}): Promise<RawResponse> {
    const headers = (): Record<string, string> => ({
      'Content-Type': 'application/json',
      'X-Transmission-Session-Id': this.sessionId,
      ...(this.auth ? { Authorization: `Basic ${Buffer.from(this.auth).toString('base64')}` } : {}),
      ...extra,
    });
    let res = await rawRequest(this.port, { body, headers: headers() });
    if (res.status === 409) {
      this.sessionId = String(res.headers['x-transmission-session-id']);
      res = await rawRequest(this.port, { body, headers: headers() });
    }
    return res;
  }

  /** One RPC; fails the test unless the HTTP status is 200 and the body is a proper reply. */
  async call(method: string, args?: unknown, tag?: number): Promise<RpcReply> {
    const res = await this.post(
      JSON.stringify({
        method,
        ...(args !== undefined ? { arguments: args } : {}),
        ...(tag !== undefined ? { tag } : {}),
      }),
    );
    return parseReply(res);
  }

  async callRaw(body: string): Promise<RpcReply> {
    return parseReply(await this.post(body));
  }
}

export function parseReply(res: RawResponse): RpcReply {
  if (res.status !== 200) throw new Error(`HTTP ${res.status}: ${res.body.slice(0, 300)}`);
  const reply = JSON.parse(res.body) as RpcReply;
  if (typeof reply.result !== 'string') throw new Error(`no result string in ${res.body.slice(0, 300)}`);
  if (typeof reply.arguments !== 'object' || reply.arguments === null || Array.isArray(reply.arguments)) {
    throw new Error(`no arguments object in ${res.body.slice(0, 300)}`);
  }
  return reply;
}
