/**
 * A lean HTTP/1.1 server on node:net for the tracker: GET/HEAD requests without bodies, keep-alive,
 * pipelining (requests answered in order), `Connection: close`, and bounded head size and time.
 *
 * Why not node:http: a tracker answers tiny GETs, mostly on a new connection each (clients close
 * after one announce), so the cost per connection is the budget (issue 13). Measured with
 * `node --cpu-prof` and `perf --perf-basic-prof`, what a connection costs here beyond accept and
 * the socket object is kept small:
 *   - no timer per socket: one sweep over open connections (`deadline`) every ≤ 1 s;
 *   - no Nagle switch (a setsockopt) on connections that close after one reply: only kept-alive
 *     ones turn it off, where pipelined replies would otherwise wait for an ACK;
 *   - the reply to a `Connection: close` request is one write, then the socket is closed at once
 *     (the kernel still sends the data, then FIN) instead of `end()`: no shutdown request, no wait
 *     for the client's FIN, no stream end bookkeeping. Only when nothing else was received and the
 *     write went out whole; otherwise (and for every error) `end()`, which drains gracefully.
 *   - the head is parsed in place (indices into one latin1 string; header names compared without
 *     lower-casing copies or regular expressions).
 * Owns: sockets, framing, timeouts and the status line. Does not own: routing or bodies
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

/** A net.Server that can also drop every open connection (after `close()`, which only stops accepting). */
export type HttpWire = net.Server & { dropConnections(): void };

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
  /** Epoch ms after which the sweep drops the connection (head or idle timeout). */
  deadline: number;
  noDelay: boolean;
}

/** Header flags from `scanHeaders`. */
const H_CLOSE = 1;
const H_KEEP_ALIVE = 2;
const H_BODY = 4;

/** `s[at…]` starts with `lower` (a lower-case header name with its colon), ignoring ASCII case. */
function nameIs(s: string, at: number, eol: number, lower: string): boolean {
  if (eol - at < lower.length) return false;
  for (let k = 0; k < lower.length; k++) {
    let c = s.charCodeAt(at + k);
    if (c >= 0x41 && c <= 0x5a) c |= 0x20;
    if (c !== lower.charCodeAt(k)) return false;
  }
  return true;
}

/**
 * The header lines of `s[from, end)` that framing needs: `Connection` tokens, and whether the
 * request announces a body (`Content-Length` ≥ 1 or any `Transfer-Encoding`). Lines split at `\n`.
 */
function scanHeaders(s: string, from: number, end: number): number {
  let flags = 0;
  for (let i = from; i < end;) {
    let eol = s.indexOf('\n', i);
    if (eol < 0 || eol > end) eol = end;
    const c0 = s.charCodeAt(i) | 0x20;
    if (c0 === 0x63) {
      if (nameIs(s, i, eol, 'connection:')) {
        const v = s.slice(i + 11, s.charCodeAt(eol - 1) === 0x0d ? eol - 1 : eol).toLowerCase();
        if (v.includes('close')) flags |= H_CLOSE;
        if (v.includes('keep-alive')) flags |= H_KEEP_ALIVE;
      } else if (nameIs(s, i, eol, 'content-length:')) {
        let k = i + 15;
        while (k < eol && s.charCodeAt(k) === 0x20) k++;
        const d = s.charCodeAt(k);
        if (k < eol && d >= 0x31 && d <= 0x39) flags |= H_BODY;
      }
    } else if (c0 === 0x74 && nameIs(s, i, eol, 'transfer-encoding:')) flags |= H_BODY;
    i = eol + 1;
  }
  return flags;
}

/** `[A-Z]{1,16}` */
function isMethod(s: string, from: number, to: number): boolean {
  if (to - from < 1 || to - from > 16) return false;
  for (let i = from; i < to; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x41 || c > 0x5a) return false;
  }
  return true;
}

export function createHttpWire(handler: WireHandler, opts: HttpWireOptions = {}): HttpWire {
  const maxHead = opts.maxHeadBytes ?? 16 * 1024;
  const headTimeout = opts.headTimeoutMs ?? 10_000;
  const idleTimeout = opts.idleTimeoutMs ?? 30_000;
  const conns = new Set<Conn>();

  /** The status line, headers and (unless HEAD) body in one buffer: one write, one syscall. */
  const frame = (
    c: Conn,
    status: number,
    body: Buffer,
    type: string,
    extra: string,
    head: boolean,
  ): Buffer => {
    const text =
      `HTTP/1.1 ${status} ${REASONS[status] ?? 'OK'}\r\nContent-Type: ${type}\r\nContent-Length: ${body.length}\r\n` +
      `${extra}${c.closing ? 'Connection: close\r\n' : ''}\r\n`;
    const n = text.length; // latin1: one byte a character
    const out = Buffer.allocUnsafe(n + (head ? 0 : body.length));
    out.write(text, 0, n, 'latin1');
    if (!head) body.copy(out, n);
    return out;
  };

  const write = (c: Conn, status: number, body: Buffer, type: string, extra: string, head: boolean): void => {
    const socket = c.socket;
    if (socket.destroyed) return;
    const out = frame(c, status, body, type, extra, head);
    if (!c.closing) socket.write(out);
    else if (c.pending.length > 0)
      socket.end(out); // more arrived after a closing request: drain it
    else {
      socket.write(out);
      // Written whole (the usual case for a small reply): close now; else let it drain first.
      if (socket.writableLength === 0) socket.destroy();
      else socket.end();
    }
  };

  const fail = (c: Conn, status: number, body: Buffer): void => {
    opts.onBadRequest?.(c.socket.remoteAddress);
    c.closing = true;
    c.pending = '';
    // end(), not destroy: unread junk would turn the close into a reset that loses the answer.
    if (!c.socket.destroyed) c.socket.end(frame(c, status, body, 'text/plain', '', false));
  };

  const oversize = (c: Conn): void =>
    fail(c, opts.onOversize ? 200 : 400, opts.onOversize?.() ?? Buffer.from('request head too large\n'));

  /** Answer every complete request in `pending`, one at a time. */
  const drain = (c: Conn): void => {
    while (!c.busy && !c.closing) {
      const s = c.pending;
      const end = s.indexOf('\r\n\r\n');
      if (end < 0) {
        if (s.length > maxHead) oversize(c);
        return;
      }
      if (end > maxHead) return oversize(c);
      c.pending = end + 4 === s.length ? '' : s.slice(end + 4);
      // `METHOD SP target SP HTTP/1.x`, split by hand (a regex here is measurable at 10k requests/s).
      const lineEnd = s.indexOf('\r\n'); // ≤ end
      const sp1 = s.indexOf(' ');
      const sp2 = sp1 < 0 ? -1 : s.indexOf(' ', sp1 + 1);
      if (
        sp1 < 1 ||
        sp2 < sp1 + 2 ||
        sp2 + 9 !== lineEnd ||
        !s.startsWith('HTTP/1.', sp2 + 1) ||
        (s.charCodeAt(sp2 + 8) !== 0x31 && s.charCodeAt(sp2 + 8) !== 0x30) ||
        !isMethod(s, 0, sp1)
      )
        return fail(c, 400, Buffer.from('bad request\n'));
      const flags = lineEnd < end ? scanHeaders(s, lineEnd + 2, end) : 0;
      // Requests with bodies are not part of the tracker protocol; their framing would be ours to skip.
      if (flags & H_BODY) return fail(c, 400, Buffer.from('request bodies are not accepted\n'));
      const http10 = s.charCodeAt(sp2 + 8) === 0x30;
      c.closing = http10 ? (flags & H_KEEP_ALIVE) === 0 : (flags & H_CLOSE) !== 0;
      const socket = c.socket;
      const remoteAddress = socket.remoteAddress;
      if (remoteAddress === undefined) {
        socket.destroy(); // already gone
        return;
      }
      if (!c.closing && !c.noDelay) {
        // Kept alive: pipelined replies must not wait behind Nagle for the previous one's ACK.
        c.noDelay = true;
        socket.setNoDelay(true);
      }
      c.busy = true;
      const method = s.slice(0, sp1);
      const isHead = method === 'HEAD';
      let answered = false;
      handler(
        { method, target: s.slice(sp1 + 1, sp2), remoteAddress, remotePort: socket.remotePort ?? 0 },
        (status, body, type = 'text/plain', extra = '') => {
          if (answered) return;
          answered = true;
          write(c, status, body, type, extra, isHead);
          c.busy = false;
          if (c.closing) return;
          // The head deadline ran through the (short) handling; a kept-alive connection now waits idle.
          c.deadline = Date.now() + (c.pending.length > 0 ? headTimeout : idleTimeout);
          if (c.pending.length > 0) drain(c);
        },
      );
    }
  };

  const server = net.createServer((socket) => {
    const c: Conn = {
      socket,
      pending: '',
      busy: false,
      closing: false,
      deadline: Date.now() + headTimeout,
      noDelay: false,
    };
    conns.add(c);
    socket.on('error', () => socket.destroy());
    socket.on('close', () => conns.delete(c));
    socket.on('data', (chunk: Buffer) => {
      if (c.closing) return;
      const text = chunk.toString('latin1');
      c.pending = c.pending.length === 0 ? text : c.pending + text;
      if (!c.busy) drain(c);
      else if (c.pending.length > maxHead * 4) socket.destroy(); // a flood of pipelined requests
    });
  }) as HttpWire;

  // One timer for every connection's head and idle timeouts, checked a few times per timeout.
  const period = Math.max(10, Math.min(1000, Math.floor(Math.min(headTimeout, idleTimeout) / 4)));
  let sweeper: NodeJS.Timeout | undefined;
  const sweep = (): void => {
    const now = Date.now();
    for (const c of conns) {
      if (c.deadline > now) continue;
      conns.delete(c);
      c.socket.destroy();
    }
  };
  server.on('listening', () => {
    if (sweeper) return;
    sweeper = setInterval(sweep, period);
    sweeper.unref();
  });
  server.on('close', () => {
    clearInterval(sweeper);
    sweeper = undefined;
  });
  server.dropConnections = () => {
    for (const c of conns) c.socket.destroy();
    conns.clear();
  };
  return server;
}
