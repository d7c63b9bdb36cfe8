/**
 * The UDP tracker (BEP 15): connect, announce and scrape datagrams on the HTTP tracker's port number,
 * answered from the same registry, whitelist and counters as HTTP.
 *
 * Owns: the socket, checking connection ids (stateless, src/tracker/connection-ids.ts), the sender's
 * address as the peer's address, counting UDP traffic, and turning every refusal into an error
 * datagram. Does not own: the datagram layout (src/protocol/udp-tracker-codec.ts) or swarm state.
 *
 * Hostile input: each datagram is decoded once, with bounded work (at most 1500 bytes, at most 74
 * scrape hashes); nothing a sender does throws past here. No amplification: a reply to a datagram
 * that carries no valid connection id (a connect, or anything refused before the id was checked) is
 * never larger than that datagram, so a spoofed source address gains an attacker nothing; datagrams
 * too short to name a transaction get no reply at all.
 *
 * @example
 *   const udp = createUdpTrackerServer({ registry, host: '127.0.0.1', port: 6969, secret: newSecret() });
 *   await udp.listen(); // udp://127.0.0.1:6969/announce
 */
import * as dgram from 'node:dgram';
import * as net from 'node:net';
import { Observable } from 'rxjs/internal/Observable';
import { Subject } from 'rxjs/internal/Subject';
import type { EventInput } from '../events/engine-event';
import type { AnnounceOutcome } from '../core/swarm-registry';
import { AnnounceRequest, normalizeIp } from '../protocol/tracker-codec';
import {
  UdpAnnounceRequest,
  UdpScrapeRequest,
  decodeUdpRequest,
  encodeAnnounceReply,
  encodeConnectReply,
  encodeErrorReply,
  encodeScrapeReply,
} from '../protocol/udp-tracker-codec';
import { ConnectionIds } from './connection-ids';
import { STORAGE_UNAVAILABLE, TrackerRegistry } from './registry';
import { Traffic } from './traffic';

export interface UdpTrackerOptions {
  registry: TrackerRegistry;
  /** Address to bind (default 0.0.0.0; `::` for IPv4 and IPv6 clients). */
  host?: string;
  port: number;
  /** Secret of the connection ids: the same in every process that serves these swarms. */
  secret: string;
  allow?: (infoHashHex: string) => boolean | Promise<boolean>;
  /** Honour the announce's `ip` field (only on a LAN you control). */
  trustIpParam?: boolean;
  defaultNumwant?: number;
  maxNumwant?: number;
  traffic?: Traffic;
  clock?: () => number;
}

export interface UdpTrackerServer {
  listen(): Promise<{ host: string; port: number }>;
  readonly events$: Observable<EventInput>;
  close(): Promise<void>;
}

interface Sender {
  /** The client's address (`::ffff:a.b.c.d` normalised to `a.b.c.d`). */
  address: string;
  /** The address as the socket reported it: what replies go to (a udp6 socket needs the mapped form). */
  raw: string;
  port: number;
  /** Address family of the client: decides the stride of announce replies. */
  family: 4 | 6;
}

export function createUdpTrackerServer(opts: UdpTrackerOptions): UdpTrackerServer {
  const host = opts.host ?? '0.0.0.0';
  const socket = dgram.createSocket({ type: net.isIPv6(host) ? 'udp6' : 'udp4', ipv6Only: false });
  const ids = new ConnectionIds(opts.secret);
  const clock = opts.clock ?? Date.now;
  const counts = (opts.traffic ?? new Traffic()).udp;
  const events = new Subject<EventInput>();
  const defaultNumwant = opts.defaultNumwant ?? 50;
  const maxNumwant = opts.maxNumwant ?? 200;
  let closed = false;

  const send = (to: Sender, datagram: Buffer): void => {
    if (closed) return;
    socket.send(datagram, to.port, to.raw, () => undefined);
  };

  /** Refuse with an error datagram no larger than `limit` bytes. */
  const refuse = (to: Sender, tid: number, reason: string, code: string, limit: number): void => {
    counts.rejected++;
    if (events.observed)
      events.next({
        category: 'tracker',
        type: 'DatagramRefused',
        level: 'debug',
        peer: `${to.address}:${to.port}`,
        code,
        reason,
      });
    send(to, encodeErrorReply(tid, reason, limit));
  };

  const announce = (to: Sender, r: UdpAnnounceRequest, size: number): void | Promise<void> => {
    const verdict = opts.allow ? opts.allow(r.infoHash.toString('hex')) : true;
    if (verdict === false)
      return refuse(to, r.transactionId, 'unregistered torrent', 'not-tracked', size + 256);
    let ip = to.address;
    if (opts.trustIpParam && r.ip !== 0)
      ip = [r.ip >>> 24, (r.ip >>> 16) & 255, (r.ip >>> 8) & 255, r.ip & 255].join('.');
    // Views into the datagram, not copies: Node never reuses a received datagram's memory.
    const request: AnnounceRequest = {
      infoHash: r.infoHash,
      peerId: r.peerId,
      ip,
      port: r.port,
      uploaded: r.uploaded,
      downloaded: r.downloaded,
      left: r.left,
      event: r.event,
      numwant: Math.min(r.numWant < 0 ? defaultNumwant : r.numWant, maxNumwant),
      compact: true,
      noPeerId: true,
      key: r.key.toString(16).padStart(8, '0'),
      only: to.family,
    };
    // An in-process registry with a known verdict answers without a Promise.
    const now = verdict === true ? opts.registry.announceNow?.(request) : undefined;
    if (now) return announced(to, r, size, now);
    return (async () => {
      if (!(await verdict))
        return refuse(to, r.transactionId, 'unregistered torrent', 'not-tracked', size + 256);
      announced(to, r, size, await opts.registry.announce(request));
    })();
  };

  const announced = (to: Sender, r: UdpAnnounceRequest, size: number, outcome: AnnounceOutcome): void => {
    if (!outcome.ok) return refuse(to, r.transactionId, outcome.reason, outcome.code, size + 256);
    counts.announces++;
    const a = outcome.reply;
    send(
      to,
      encodeAnnounceReply({
        transactionId: r.transactionId,
        interval: a.interval,
        leechers: a.incomplete,
        seeders: a.complete,
        peers: to.family === 6 ? a.peers6 : a.peers4,
      }),
    );
  };

  const scrape = async (to: Sender, r: UdpScrapeRequest): Promise<void> => {
    const files = await opts.registry.scrape(r.infoHashes.map((h) => Buffer.from(h)));
    counts.scrapes++;
    // The registry answers in the order asked (unknown torrents count zero), as BEP 15 requires.
    const byHash = new Map(files.map((f) => [f.infoHash.toString('hex'), f]));
    const entries = r.infoHashes.map((h) => {
      const f = byHash.get(h.toString('hex'));
      return { seeders: f?.complete ?? 0, completed: f?.downloaded ?? 0, leechers: f?.incomplete ?? 0 };
    });
    send(to, encodeScrapeReply(r.transactionId, entries));
  };

  const onMessage = (msg: Buffer, rinfo: dgram.RemoteInfo): void => {
    const address = normalizeIp(rinfo.address);
    const to: Sender = { address, raw: rinfo.address, port: rinfo.port, family: net.isIPv4(address) ? 4 : 6 };
    const d = decodeUdpRequest(msg);
    if (!d.ok) {
      if (d.transactionId === undefined) {
        counts.rejected++; // nothing to answer to
        return;
      }
      return refuse(to, d.transactionId, d.reason, d.code, msg.length);
    }
    const r = d.request;
    if (r.action === 'connect') {
      counts.connects++;
      return send(to, encodeConnectReply(r.transactionId, ids.issue(address, rinfo.port, clock())));
    }
    if (!ids.check(r.connectionId, address, rinfo.port, clock()))
      return refuse(to, r.transactionId, 'bad connection id', 'bad-connection-id', msg.length);
    const failed = (err: unknown): void => {
      events.next({
        category: 'tracker',
        type: 'RequestFailed',
        level: 'warn',
        reason: (err as Error).message,
      });
      refuse(to, r.transactionId, STORAGE_UNAVAILABLE, 'unavailable', msg.length + 256);
    };
    try {
      const work = r.action === 'announce' ? announce(to, r, msg.length) : scrape(to, r);
      if (work) work.catch(failed);
    } catch (err) {
      failed(err);
    }
  };

  socket.on('message', onMessage);
  // ICMP "port unreachable" for an earlier reply surfaces here on some systems: never fatal.
  socket.on('error', (err) => {
    if (events.observed)
      events.next({ category: 'tracker', type: 'UdpSocketError', level: 'debug', reason: err.message });
  });

  return {
    events$: events.asObservable(),
    listen: () =>
      new Promise((resolve, reject) => {
        socket.once('error', reject);
        socket.bind(opts.port, host, () => {
          socket.off('error', reject);
          const a = socket.address();
          resolve({ host: a.address, port: a.port });
        });
      }),
    close: () =>
      new Promise<void>((resolve) => {
        if (closed) return resolve();
        closed = true;
        events.complete();
        try {
          socket.close(() => resolve());
        } catch {
          resolve(); // never bound
        }
      }),
  };
}
