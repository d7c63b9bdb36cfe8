/**
 * The HTTP tracker: `GET /announce` (BEP 3, 7, 23), `GET /scrape` (BEP 48) and `GET /stats` (JSON).
 *
 * Owns: sockets, routing, the connection's address as the peer's address, the whitelist check, and
 * turning every refusal into HTTP 200 with a bencoded `failure reason` (what clients expect). Does not
 * own: parsing and encoding (src/protocol/tracker-codec.ts) or swarm state (a `TrackerRegistry`).
 * Bad input is a debug event for us and a failure reason for the client; it never throws past here.
 *
 * @example
 *   const server = createTrackerServer({ registry: createRegistryActor(), host: '127.0.0.1', port: 0 });
 *   const { port } = await server.listen();  // announce URL: http://127.0.0.1:<port>/announce
 *   await server.close();
 */
import * as http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { Observable, Subject } from 'rxjs';
import type { EventInput } from '../events/engine-event';
import {
  AnnounceRequest,
  TrackerRequestError,
  encodeAnnounceReply,
  encodeFailure,
  encodeScrapeReply,
  parseAnnounce,
  parseQuery,
  parseScrape,
} from '../protocol/tracker-codec';
import type { TrackerRegistry } from './registry';

export interface TrackerServerOptions {
  registry: TrackerRegistry;
  /** Address to bind (default 0.0.0.0; `::` for IPv4 and IPv6 peers). */
  host?: string;
  /** Port (default 5000; 0 picks a free one). */
  port?: number;
  /** Honour the `ip=` parameter (only behind a trusted proxy or on a LAN you control). */
  trustIpParam?: boolean;
  /** Whitelist: answer only for info-hashes this accepts (`--allow-only-known`). */
  allow?: (infoHashHex: string) => boolean | Promise<boolean>;
  defaultNumwant?: number;
  maxNumwant?: number;
}

export interface TrackerServer {
  /** Start listening; resolves with the bound address. */
  listen(): Promise<{ host: string; port: number }>;
  /** Announce URL on the bound address (for logs and tests). */
  announceUrl(): string;
  /** Requests refused with a failure reason, since start. */
  rejected(): number;
  /** Debug/warn events about bad requests (`RequestRefused`). */
  readonly events$: Observable<EventInput>;
  /** Stop accepting, drop keep-alive connections, resolve when the socket is closed. */
  close(): Promise<void>;
}

const TEXT = { 'Content-Type': 'text/plain' } as const;

export function createTrackerServer(opts: TrackerServerOptions): TrackerServer {
  const { registry } = opts;
  const events = new Subject<EventInput>();
  const limits = {
    trustIpParam: opts.trustIpParam ?? false,
    defaultNumwant: opts.defaultNumwant ?? 50,
    maxNumwant: opts.maxNumwant ?? 200,
  };
  let rejected = 0;
  let scrapes = 0;
  let bound: AddressInfo | null = null;

  const send = (
    res: http.ServerResponse,
    body: Buffer,
    status = 200,
    headers: http.OutgoingHttpHeaders = TEXT,
  ): void => {
    if (res.writableEnded || res.destroyed) return;
    res.writeHead(status, { ...headers, 'Content-Length': body.length });
    res.end(body);
  };

  const refuse = (
    res: http.ServerResponse,
    reason: string,
    code: string,
    remote: string | undefined,
  ): void => {
    rejected++;
    events.next({ category: 'tracker', type: 'RequestRefused', level: 'debug', peer: remote, code, reason });
    send(res, encodeFailure(reason));
  };

  const answerAnnounce = async (res: http.ServerResponse, request: AnnounceRequest): Promise<void> => {
    if (opts.allow) {
      const verdict = opts.allow(request.infoHash.toString('hex'));
      const ok = verdict === true || (verdict !== false && (await verdict));
      if (!ok) return refuse(res, 'unregistered torrent', 'not-tracked', request.ip);
    }
    const outcome = await registry.announce(request);
    if (!outcome.ok) return refuse(res, outcome.reason, outcome.code, request.ip);
    const reply = outcome.reply;
    send(
      res,
      request.compact
        ? encodeAnnounceReply(reply, { compact: true })
        : encodeAnnounceReply(
            {
              ...reply,
              peers: reply.peers.map((p) => ({
                ip: p.ip,
                port: p.port,
                peerId: Buffer.from(p.id, 'latin1'),
              })),
            },
            { compact: false, noPeerId: request.noPeerId },
          ),
    );
  };

  const answerScrape = async (
    res: http.ServerResponse,
    query: string,
    remote: string | undefined,
  ): Promise<void> => {
    let hashes: Buffer[];
    try {
      hashes = parseScrape(parseQuery(query));
    } catch (err) {
      if (err instanceof TrackerRequestError) return refuse(res, err.message, err.code, remote);
      throw err;
    }
    scrapes++;
    let files = await registry.scrape(hashes);
    // In whitelist mode a full scrape lists only what we track anyway; a targeted one hides nothing.
    if (opts.allow && hashes.length === 0) {
      const allow = opts.allow;
      const keep = await Promise.all(files.map(async (f) => await allow(f.infoHash.toString('hex'))));
      files = files.filter((_, i) => keep[i]);
    }
    send(res, encodeScrapeReply(files));
  };

  const answerStats = async (res: http.ServerResponse, query: string): Promise<void> => {
    // Benchmarks start the tracker with --expose-gc and ask for ?gc=1 to measure retained memory only.
    const gc = (globalThis as { gc?: () => void }).gc;
    if (gc && /(^|&)gc=1(&|$)/.test(query)) gc();
    const s = await registry.stats();
    const mem = process.memoryUsage();
    const body = {
      ...s,
      scrapes,
      rejected,
      memory: { rss: mem.rss, heapUsed: mem.heapUsed },
    };
    send(res, Buffer.from(JSON.stringify(body) + '\n'), 200, { 'Content-Type': 'application/json' });
  };

  const handle = async (req: http.IncomingMessage, res: http.ServerResponse): Promise<void> => {
    const url = req.url ?? '/';
    const qi = url.indexOf('?');
    const path = qi < 0 ? url : url.slice(0, qi);
    const query = qi < 0 ? '' : url.slice(qi + 1);
    const remote = req.socket.remoteAddress;
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      return send(res, Buffer.from('method not allowed\n'), 405, { ...TEXT, Allow: 'GET, HEAD' });
    }
    switch (path) {
      case '/announce': {
        if (remote === undefined) return; // the client is already gone
        let request: AnnounceRequest;
        try {
          request = parseAnnounce(parseQuery(query), { remoteIp: remote, ...limits });
        } catch (err) {
          if (err instanceof TrackerRequestError) return refuse(res, err.message, err.code, remote);
          throw err;
        }
        return answerAnnounce(res, request);
      }
      case '/scrape':
        return answerScrape(res, query, remote);
      case '/stats':
        return answerStats(res, query);
      case '/':
        return send(res, Buffer.from('rxtorrent tracker: use /announce, /scrape, /stats\n'));
      default:
        return send(res, Buffer.from('not found\n'), 404);
    }
  };

  const server = http.createServer({ maxHeaderSize: 16 * 1024, keepAliveTimeout: 30_000 }, (req, res) => {
    handle(req, res).catch((err: unknown) => {
      events.next({
        category: 'tracker',
        type: 'RequestFailed',
        level: 'warn',
        reason: (err as Error).message,
      });
      send(res, encodeFailure('internal tracker error'), 500);
    });
  });
  // Slow or oversized requests must not pin sockets forever.
  server.headersTimeout = 10_000;
  server.requestTimeout = 15_000;
  server.on('clientError', (err: NodeJS.ErrnoException, socket: Socket) => {
    if (!socket.writable) return socket.destroy();
    // A request line past maxHeaderSize: answer like any other bad query, as clients expect.
    const overflow = err.code === 'HPE_HEADER_OVERFLOW';
    const body = overflow ? encodeFailure('query too large') : Buffer.from('bad request\n');
    rejected++;
    socket.end(
      `HTTP/1.1 ${overflow ? '200 OK' : '400 Bad Request'}\r\nContent-Type: text/plain\r\n` +
        `Content-Length: ${body.length}\r\nConnection: close\r\n\r\n${body.toString('latin1')}`,
      'latin1',
    );
  });

  return {
    events$: events.asObservable(),
    rejected: () => rejected,
    listen: () =>
      new Promise((resolve, reject) => {
        const onError = (err: Error): void => reject(err);
        server.once('error', onError);
        server.listen(opts.port ?? 5000, opts.host ?? '0.0.0.0', () => {
          server.off('error', onError);
          bound = server.address() as AddressInfo;
          resolve({ host: bound.address, port: bound.port });
        });
      }),
    announceUrl: () => {
      if (!bound) return '';
      const host =
        bound.address === '0.0.0.0' ? '127.0.0.1' : bound.address === '::' ? '[::1]' : bound.address;
      return `http://${host.includes(':') && !host.startsWith('[') ? `[${host}]` : host}:${bound.port}/announce`;
    },
    close: () =>
      new Promise<void>((resolve) => {
        events.complete();
        if (!server.listening) return resolve();
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
