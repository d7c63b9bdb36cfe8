/**
 * A lean HTTP/1.1 server on node:net for the tracker: GET/HEAD requests without bodies, keep-alive,
 * pipelining (requests answered in order), `Connection: close`, and bounded head size and time.
 *
 * Why not node:http: a tracker answers tiny GETs, mostly on a new connection each (clients close
 * after one announce); node:http's per-request objects, header bookkeeping and two-part writes cost
 * more than the announce itself (a bare node:http server does ~9k replies/s on one core here, this
 * ~15k). Owns: sockets, framing, timeouts and the status line. Does not own: routing or bodies
 * (src/tracker/http-server.ts). Malformed requests get a 400 and the connection is closed; a head
 * past `maxHeadBytes` goes to `onOversize` (trackers answer that with a bencoded failure).
 *
 * @example
 *   const server = createHttpWire((req, reply) => reply(200, Buffer.from('ok')), { maxHeadBytes: 16384 });
 *   server.listen(5000);
 */
import * as net from 'node:net';

export interface WireRequest {
  method: string;
  /** Request target as sent (`/announce?info_hash=...`), not decoded. */
  target: string;
  remoteAddress: string;
  remotePort: number;
}

/** Answer the request; `headers` are extra `Name: value\r\n` lines. Call exactly once. */
export type WireReply = (status: number, body: Buffer, contentType?: string, headers?: string) => void;

export type WireHandler = (req: WireRequest, reply: WireReply) => void;

export interface HttpWireOptions {
  /** Largest request head (request line + headers), default 16 KiB. */
  maxHeadBytes?: number;
  /** Time allowed for a request head to arrive, and for a kept-alive connection to stay idle. */
  headTimeoutMs?: number;
  idleTimeoutMs?: number;
  /** A head larger than `maxHeadBytes`: return the body to send (status 200) before closing. */
  onOversize?: () => Buffer;
  /** A request that is not HTTP/1.x GET-shaped (counted by the caller). */
  onBadRequest?: (remote: string | undefined) => void;
}

const REASONS: Record<number, string> = {
  200: 'OK',
  400: 'Bad Request',
  404: 'Not Found',
  405: 'Method Not Allowed',
  500: 'Internal Server Error',
  503: 'Service Unavailable',
};

interface Conn {
  socket: net.Socket;
  pending: string;
  /** A request is being answered; later pipelined requests wait in `pending`. */
  busy: boolean;
  closing: boolean;
}

export function createHttpWire(handler: WireHandler, opts: HttpWireOptions = {}): net.Server {
  const maxHead = opts.maxHeadBytes ?? 16 * 1024;
  const headTimeout = opts.headTimeoutMs ?? 10_000;
  const idleTimeout = opts.idleTimeoutMs ?? 30_000;

  const write = (c: Conn, status: number, body: Buffer, type: string, extra: string, head: boolean): void => {
    if (c.socket.destroyed) return;
    const text =
      `HTTP/1.1 ${status} ${REASONS[status] ?? 'OK'}\r\nContent-Type: ${type}\r\nContent-Length: ${body.length}\r\n` +
      `${extra}${c.closing ? 'Connection: close\r\n' : ''}\r\n`;
    const n = Buffer.byteLength(text, 'latin1');
    const out = Buffer.allocUnsafe(n + (head ? 0 : body.length));
    out.write(text, 0, 'latin1');
    if (!head) body.copy(out, n);
    if (c.closing) c.socket.end(out);
    else c.socket.write(out);
  };

  const fail = (c: Conn, status: number, body: Buffer): void => {
    c.closing = true;
    c.pending = '';
    write(c, status, body, 'text/plain', '', false);
  };

  /** Answer every complete request in `pending`, one at a time. */
  const drain = (c: Conn): void => {
    while (!c.busy && !c.closing) {
      const end = c.pending.indexOf('\r\n\r\n');
      if (end < 0) {
        if (c.pending.length > maxHead) {
          opts.onBadRequest?.(c.socket.remoteAddress);
          fail(
            c,
            opts.onOversize ? 200 : 400,
            opts.onOversize?.() ?? Buffer.from('request head too large\n'),
          );
        }
        return;
      }
      if (end > maxHead) {
        opts.onBadRequest?.(c.socket.remoteAddress);
        return fail(
          c,
          opts.onOversize ? 200 : 400,
          opts.onOversize?.() ?? Buffer.from('request head too large\n'),
        );
      }
      const head = c.pending.slice(0, end);
      c.pending = c.pending.slice(end + 4);
      const lineEnd = head.indexOf('\r\n');
      const line = lineEnd < 0 ? head : head.slice(0, lineEnd);
      // `METHOD SP target SP HTTP/1.x`, split by hand (a regex here is measurable at 10k requests/s).
      const sp1 = line.indexOf(' ');
      const sp2 = line.indexOf(' ', sp1 + 1);
      const method = line.slice(0, sp1);
      const version = line.slice(sp2 + 1);
      if (
        sp1 < 1 ||
        sp2 < sp1 + 2 ||
        line.indexOf(' ', sp2 + 1) >= 0 ||
        !/^[A-Z]{1,16}$/.test(method) ||
        (version !== 'HTTP/1.1' && version !== 'HTTP/1.0')
      ) {
        opts.onBadRequest?.(c.socket.remoteAddress);
        return fail(c, 400, Buffer.from('bad request\n'));
      }
      const target = line.slice(sp1 + 1, sp2);
      const headers = lineEnd < 0 ? '' : head.slice(lineEnd + 2).toLowerCase();
      // Requests with bodies are not part of the tracker protocol; their framing would be ours to skip.
      if (/(^|\n)(content-length: *[1-9]|transfer-encoding:)/.test(headers)) {
        opts.onBadRequest?.(c.socket.remoteAddress);
        return fail(c, 400, Buffer.from('request bodies are not accepted\n'));
      }
      const conn = /(?:^|\n)connection: *([^\r\n]*)/.exec(headers)?.[1] ?? '';
      c.closing = version === 'HTTP/1.0' ? !conn.includes('keep-alive') : conn.includes('close');
      c.busy = true;
      const isHead = method === 'HEAD';
      let answered = false;
      const remoteAddress = c.socket.remoteAddress;
      if (remoteAddress === undefined) {
        c.socket.destroy(); // already gone
        return;
      }
      handler(
        { method, target, remoteAddress, remotePort: c.socket.remotePort ?? 0 },
        (status, body, type = 'text/plain', extra = '') => {
          if (answered) return;
          answered = true;
          write(c, status, body, type, extra, isHead);
          c.busy = false;
          if (c.closing) return;
          // The head timer ran through the (short) handling; a kept-alive connection now waits idle.
          c.socket.setTimeout(c.pending.length > 0 ? headTimeout : idleTimeout);
          if (c.pending.length > 0) drain(c);
        },
      );
    }
  };

  const server = net.createServer({ noDelay: true }, (socket) => {
    const c: Conn = { socket, pending: '', busy: false, closing: false };
    socket.setTimeout(headTimeout);
    socket.on('timeout', () => socket.destroy());
    socket.on('error', () => socket.destroy());
    socket.on('data', (chunk: Buffer) => {
      if (c.closing) return;
      c.pending = c.pending.length === 0 ? chunk.toString('latin1') : c.pending + chunk.toString('latin1');
      if (!c.busy) drain(c);
      else if (c.pending.length > maxHead * 4) socket.destroy(); // a flood of pipelined requests
    });
  });
  return server;
}
