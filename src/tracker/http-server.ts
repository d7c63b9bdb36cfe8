/**
 * The HTTP tracker: `GET /announce` (BEP 3, 7, 23), `GET /scrape` (BEP 48) and `GET /stats` (JSON).
 *
 * Owns: routing, the connection's address as the peer's address, the whitelist check, counting HTTP
 * traffic, and turning every refusal into HTTP 200 with a bencoded `failure reason` (what clients
 * expect). Does not own: sockets and framing (src/tracker/http-wire.ts), parsing and encoding
 * (src/protocol/tracker-codec.ts) or swarm state (a `TrackerRegistry`). Bad input is a debug event for
 * us and a failure reason for the client; it never throws past here.
 *
 * @example
 *   const server = createTrackerServer({ registry: createRegistryActor(), host: '127.0.0.1', port: 0 });
 *   const { port } = await server.listen();  // announce URL: http://127.0.0.1:<port>/announce
 *   await server.close();
 */
import type { AddressInfo } from 'node:net';
import { Observable } from 'rxjs/internal/Observable';
import { Subject } from 'rxjs/internal/Subject';
import type { AnnounceAnswer, AnnounceOutcome } from '../core/swarm-registry';
import type { EventInput } from '../events/engine-event';
import {
  AnnounceRequest,
  TrackerRequestError,
  decodeCompactPeers,
  decodeCompactPeers6,
  encodeAnnounceReply,
  encodeFailure,
  encodeScrapeReply,
  parseQuery,
  parseScrape,
} from '../protocol/tracker-codec';
import { parseAnnounceQuery } from '../protocol/announce-query';
import { createHttpWire, HttpWire, WireReply, WireRequest } from './http-wire';
import { STORAGE_UNAVAILABLE, TrackerRegistry } from './registry';
import { Traffic, TrafficCounts } from './traffic';

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
  /** Counters shared with the UDP server (default: the server's own). */
  traffic?: Traffic;
  /** HTTP and UDP counts for `/stats` (default: `traffic`'s; the Redis registry sums every process). */
  trafficTotals?: () => Promise<TrafficCounts>;
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
  /** Stop accepting, drop open connections, resolve when the socket is closed. */
  close(): Promise<void>;
}

const JSON_TYPE = 'application/json';

/** Bencoded compact reply, written directly: `d8:complete…5:peers<n>:<bytes>[6:peers6…]e`. */
export function encodeCompactAnswer(a: AnnounceAnswer): Buffer {
  const head =
    `d8:completei${a.complete}e10:incompletei${a.incomplete}e8:intervali${a.interval}e` +
    `12:min intervali${a.minInterval}e5:peers${a.peers4.length}:`;
  const mid = a.peers6.length > 0 ? `6:peers6${a.peers6.length}:` : '';
  const n = head.length;
  const out = Buffer.allocUnsafe(n + a.peers4.length + mid.length + a.peers6.length + 1);
  out.write(head, 0, 'latin1');
  a.peers4.copy(out, n);
  let o = n + a.peers4.length;
  if (mid) {
    out.write(mid, o, 'latin1');
    o += mid.length;
    a.peers6.copy(out, o);
    o += a.peers6.length;
  }
  out[o] = 0x65; // 'e'
  return out;
}

function encodeAnswer(a: AnnounceAnswer, request: AnnounceRequest): Buffer {
  if (request.compact) return encodeCompactAnswer(a);
  const peers = [...decodeCompactPeers(a.peers4), ...decodeCompactPeers6(a.peers6)].map((p, i) => ({
    ...p,
    ...(a.peerIds ? { peerId: a.peerIds.subarray(i * 20, i * 20 + 20) } : {}),
  }));
  return encodeAnnounceReply({ ...a, peers }, { compact: false, noPeerId: request.noPeerId });
}

export function createTrackerServer(opts: TrackerServerOptions): TrackerServer {
  const { registry } = opts;
  const events = new Subject<EventInput>();
  const traffic = opts.traffic ?? new Traffic();
  const counts = traffic.http;
  const limits = {
    trustIpParam: opts.trustIpParam ?? false,
    defaultNumwant: opts.defaultNumwant ?? 50,
    maxNumwant: opts.maxNumwant ?? 200,
  };
  let bound: AddressInfo | null = null;

  const refuse = (reply: WireReply, reason: string, code: string, remote: string | undefined): void => {
    counts.rejected++;
    if (events.observed)
      events.next({
        category: 'tracker',
        type: 'RequestRefused',
        level: 'debug',
        peer: remote,
        code,
        reason,
      });
    reply(200, encodeFailure(reason));
  };

  const answerAnnounce = (reply: WireReply, request: AnnounceRequest): void | Promise<void> => {
    const verdict = opts.allow ? opts.allow(request.infoHash.toString('hex')) : true;
    if (verdict === false) return refuse(reply, 'unregistered torrent', 'not-tracked', request.ip);
    // The common case, an in-process registry and a known verdict, answers without a Promise.
    const now = verdict === true ? registry.announceNow?.(request) : undefined;
    if (now) return answered(reply, request, now);
    return (async () => {
      if (!(await verdict)) return refuse(reply, 'unregistered torrent', 'not-tracked', request.ip);
      answered(reply, request, await registry.announce(request));
    })();
  };

  const answered = (reply: WireReply, request: AnnounceRequest, outcome: AnnounceOutcome): void => {
    if (!outcome.ok) return refuse(reply, outcome.reason, outcome.code, request.ip);
    counts.announces++;
    reply(200, encodeAnswer(outcome.reply, request));
  };

  const answerScrape = async (reply: WireReply, query: string, remote: string): Promise<void> => {
    let hashes: Buffer[];
    try {
      hashes = parseScrape(parseQuery(query));
    } catch (err) {
      if (err instanceof TrackerRequestError) return refuse(reply, err.message, err.code, remote);
      throw err;
    }
    counts.scrapes++;
    let files = await registry.scrape(hashes);
    // In whitelist mode a full scrape lists only what we track anyway; a targeted one hides nothing.
    if (opts.allow && hashes.length === 0) {
      const allow = opts.allow;
      const keep = await Promise.all(files.map(async (f) => await allow(f.infoHash.toString('hex'))));
      files = files.filter((_, i) => keep[i]);
    }
    reply(200, encodeScrapeReply(files));
  };

  const answerStats = async (reply: WireReply, query: string): Promise<void> => {
    // Benchmarks start the tracker with --expose-gc and ask for ?gc=1 to measure retained memory only.
    const gc = (globalThis as { gc?: () => void }).gc;
    if (gc && /(^|&)gc=1(&|$)/.test(query)) gc();
    const s = await registry.stats();
    const t = opts.trafficTotals ? await opts.trafficTotals() : traffic.snapshot();
    const mem = process.memoryUsage();
    const body = {
      ...s,
      ...t,
      memory: { rss: mem.rss, heapUsed: mem.heapUsed, arrayBuffers: mem.arrayBuffers },
    };
    reply(200, Buffer.from(JSON.stringify(body) + '\n'), JSON_TYPE);
  };

  const handle = (req: WireRequest, reply: WireReply): void | Promise<void> => {
    const url = req.target;
    const qi = url.indexOf('?');
    const path = qi < 0 ? url : url.slice(0, qi);
    const query = qi < 0 ? '' : url.slice(qi + 1);
    const remote = req.remoteAddress;
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      return reply(405, Buffer.from('method not allowed\n'), 'text/plain', 'Allow: GET, HEAD\r\n');
    }
    switch (path) {
      case '/announce': {
        let request: AnnounceRequest;
        try {
          request = parseAnnounceQuery(query, { remoteIp: remote, ...limits });
        } catch (err) {
          if (err instanceof TrackerRequestError) return refuse(reply, err.message, err.code, remote);
          throw err;
        }
        return answerAnnounce(reply, request);
      }
      case '/scrape':
        return answerScrape(reply, query, remote);
      case '/stats':
        return answerStats(reply, query);
      case '/':
        return reply(200, Buffer.from('rxtorrent tracker: use /announce, /scrape, /stats\n'));
      default:
        return reply(404, Buffer.from('not found\n'));
    }
  };

  const server: HttpWire = createHttpWire(
    (req, reply) => {
      const failed = (err: unknown): void => {
        events.next({
          category: 'tracker',
          type: 'RequestFailed',
          level: 'warn',
          reason: (err as Error).message,
        });
        // The registry's queries reject when its storage is away (Redis down): clients get a retry hint.
        if (/^\/(announce|scrape)(\?|$)/.test(req.target)) reply(200, encodeFailure(STORAGE_UNAVAILABLE));
        else reply(503, Buffer.from(`${STORAGE_UNAVAILABLE}\n`));
      };
      try {
        const work = handle(req, reply);
        if (work) work.catch(failed);
      } catch (err) {
        failed(err);
      }
    },
    {
      maxHeadBytes: 16 * 1024,
      onOversize: () => encodeFailure('query too large'),
      onBadRequest: () => counts.rejected++,
    },
  );
  return {
    events$: events.asObservable(),
    rejected: () => counts.rejected,
    listen: () =>
      new Promise((resolve, reject) => {
        const onError = (err: Error): void => reject(err);
        server.once('error', onError);
        server.listen({ port: opts.port ?? 5000, host: opts.host ?? '0.0.0.0', backlog: 1024 }, () => {
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
        server.dropConnections();
      }),
  };
}
