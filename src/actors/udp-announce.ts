/**
 * The BEP 15 UDP tracker client: connect, announce and scrape over one UDP socket per address family.
 *
 * Owns: the sockets (created on first use, unref'd so they never keep the process alive), matching
 * replies to requests by transaction id, the connection id of each tracker (reused for one minute,
 * as BEP 15 allows), and retransmission: a datagram unanswered after `base · 2ⁿ` (n = 0, 1, 2, ...;
 * base 15 s, lowered in tests through `--min-announce-interval`) is sent again, until the caller's
 * deadline; and `udpAnnounce`, the `AnnounceRequester` the announcer uses for `udp://` URLs (one
 * client per process by default, `defaultUdpClient`). Does not own: when to announce or what to do
 * with peers (src/core/announce-state.ts).
 *
 * Hostile replies: datagrams from another address, with an unknown transaction id, too short or of
 * the wrong action are dropped (and counted); an error datagram fails the request with its message.
 * A tracker that says our connection id is bad gets one fresh connect.
 *
 * @example
 *   const client = new UdpTrackerClient();
 *   const { reply } = await client.announce('udp://tracker.example:6969/announce', fields, { timeoutMs: 105_000 }).result;
 *   client.close();
 */
import * as dgram from 'node:dgram';
import { lookup } from 'node:dns/promises';
import * as net from 'node:net';
import type { AnnounceEvent, DecodedAnnounceReply } from '../protocol/tracker-codec';
import type { AnnounceRequester } from './announcer';
import {
  UdpReply,
  UdpScrapeEntry,
  decodeUdpReply,
  encodeAnnounceRequest,
  encodeConnectRequest,
  encodeScrapeRequest,
  UdpAnnounceFields,
} from '../protocol/udp-tracker-codec';

/** BEP 15: a client may use a connection id for one minute after it received it. */
export const CONNECTION_ID_REUSE_MS = 60_000;
export const UDP_RETRANSMIT_BASE_MS = 15_000;

export type UdpAnnounceParams = Omit<UdpAnnounceFields, 'connectionId' | 'transactionId'>;

export interface UdpClientOptions {
  /** Uniform in [0, 1) for transaction ids (default Math.random: they only match replies to requests). */
  random?: () => number;
  clock?: () => number;
}

export interface UdpRequestLimits {
  /** Give up after this long (every retransmission included). */
  timeoutMs: number;
  /** First retransmission delay (default 15 s). */
  retransmitBaseMs?: number;
}

interface Waiter {
  host: string;
  port: number;
  resolve: (r: UdpReply) => void;
}

interface Target {
  host: string;
  port: number;
  family: 4 | 6;
  key: string;
}

export class UdpTrackerClient {
  private sockets = new Map<4 | 6, dgram.Socket>();
  private waiting = new Map<number, Waiter>();
  private ids = new Map<string, { id: Buffer; at: number }>();
  private closed = false;
  private readonly random: () => number;
  private readonly clock: () => number;
  /** Datagrams dropped: unknown transaction, wrong sender, undecodable. */
  dropped = 0;

  constructor(opts: UdpClientOptions = {}) {
    this.random = opts.random ?? Math.random;
    this.clock = opts.clock ?? Date.now;
  }

  /** One announce; resolves with the reply in the HTTP client's shape, or rejects with an Error. */
  announce(
    url: string,
    params: UdpAnnounceParams,
    limits: UdpRequestLimits,
  ): { result: Promise<{ reply: DecodedAnnounceReply }>; cancel: () => void } {
    return this.run(url, limits, async (t, ask) => {
      const r = await this.withConnection(t, ask, (cid, tid) =>
        encodeAnnounceRequest({ ...params, connectionId: cid, transactionId: tid }),
      );
      if (r.action === 'error') return { reply: { ok: false, failureReason: r.message } };
      if (r.action !== 'announce') throw new Error(`tracker answered an announce with ${r.action}`);
      return {
        reply: {
          ok: true,
          interval: r.interval,
          complete: r.seeders,
          incomplete: r.leechers,
          peers: r.peers,
        },
      };
    });
  }

  /** BEP 15 scrape of up to 74 info-hashes; entries in the order asked. */
  scrape(
    url: string,
    infoHashes: readonly Uint8Array[],
    limits: UdpRequestLimits,
  ): { result: Promise<UdpScrapeEntry[]>; cancel: () => void } {
    return this.run(url, limits, async (t, ask) => {
      const r = await this.withConnection(t, ask, (cid, tid) => encodeScrapeRequest(cid, tid, infoHashes));
      if (r.action === 'error') throw new Error(`failure reason: ${r.message}`);
      if (r.action !== 'scrape') throw new Error(`tracker answered a scrape with ${r.action}`);
      return r.entries;
    });
  }

  close(): void {
    this.closed = true;
    for (const s of this.sockets.values()) s.close();
    this.sockets.clear();
    this.waiting.clear();
  }

  // ---- internals ----

  /** Send `make(connectionId, tid)` with a cached or fresh connection id; one reconnect if it was refused. */
  private async withConnection(
    t: Target,
    ask: (datagram: (tid: number) => Buffer) => Promise<UdpReply>,
    make: (cid: Buffer, tid: number) => Buffer,
  ): Promise<UdpReply> {
    for (let round = 0; ; round++) {
      const cached = this.ids.get(t.key);
      let cid: Buffer;
      if (cached && this.clock() - cached.at < CONNECTION_ID_REUSE_MS) cid = cached.id;
      else {
        const c = await ask((tid) => encodeConnectRequest(tid));
        if (c.action === 'error') return c; // a refusal: the caller's to report
        if (c.action !== 'connect') throw new Error(`tracker answered a connect with ${c.action}`);
        cid = c.connectionId;
        this.ids.set(t.key, { id: cid, at: this.clock() });
      }
      const r = await ask((tid) => make(cid, tid));
      // An id the tracker no longer takes (it restarted, its clock moved): forget it and reconnect once.
      if (r.action === 'error' && cached && round === 0 && /connection/i.test(r.message)) {
        this.ids.delete(t.key);
        continue;
      }
      return r;
    }
  }

  private run<T>(
    url: string,
    { timeoutMs, retransmitBaseMs = UDP_RETRANSMIT_BASE_MS }: UdpRequestLimits,
    body: (t: Target, ask: (datagram: (tid: number) => Buffer) => Promise<UdpReply>) => Promise<T>,
  ): { result: Promise<T>; cancel: () => void } {
    const tids = new Set<number>();
    const timers = new Set<NodeJS.Timeout>();
    let abort: (e: Error) => void = () => undefined;
    const aborted = new Promise<never>((_, reject) => (abort = reject));
    aborted.catch(() => undefined);
    const deadline = setTimeout(() => abort(new Error(`timed out after ${timeoutMs} ms`)), timeoutMs);
    deadline.unref();
    let n = 0; // retransmission exponent, across the connect and the request (BEP 15)
    const work = async (): Promise<T> => {
      const t = await this.target(url);
      const socket = this.socket(t.family);
      const ask = (datagram: (tid: number) => Buffer): Promise<UdpReply> => {
        const tid = this.newTid();
        tids.add(tid);
        const d = datagram(tid);
        const reply = new Promise<UdpReply>((resolve) =>
          this.waiting.set(tid, { host: t.host, port: t.port, resolve }),
        );
        const send = (): void => {
          if (this.closed) return;
          socket.send(d, t.port, t.host, () => undefined);
          const timer = setTimeout(
            () => {
              timers.delete(timer);
              n = Math.min(n + 1, 8);
              send();
            },
            retransmitBaseMs * 2 ** n,
          );
          timer.unref();
          timers.add(timer);
        };
        send();
        return Promise.race([reply, aborted]).finally(() => {
          this.waiting.delete(tid);
          for (const x of timers) clearTimeout(x);
          timers.clear();
        });
      };
      return body(t, ask);
    };
    const result = Promise.race([work(), aborted]).finally(() => {
      clearTimeout(deadline);
      for (const x of timers) clearTimeout(x);
      for (const tid of tids) this.waiting.delete(tid);
    });
    return { result, cancel: () => abort(new Error('cancelled')) };
  }

  private newTid(): number {
    for (;;) {
      const tid = Math.floor(this.random() * 0x100000000) >>> 0;
      if (!this.waiting.has(tid)) return tid;
    }
  }

  private async target(url: string): Promise<Target> {
    let u: URL;
    try {
      u = new URL(url);
    } catch {
      throw new Error(`not a valid tracker URL: ${url}`);
    }
    if (u.protocol !== 'udp:') throw new Error(`not a UDP tracker URL: ${url}`);
    const port = Number(u.port);
    if (!port) throw new Error(`UDP tracker URL without a port: ${url}`);
    const name = u.hostname.replace(/^\[|\]$/g, '');
    const host = net.isIP(name) ? name : (await lookup(name)).address;
    const family = net.isIPv6(host) ? 6 : 4;
    return { host, port, family, key: `${host}|${port}` };
  }

  private socket(family: 4 | 6): dgram.Socket {
    const existing = this.sockets.get(family);
    if (existing) return existing;
    if (this.closed) throw new Error('UDP tracker client closed');
    const s = dgram.createSocket(family === 6 ? 'udp6' : 'udp4');
    s.on('message', (msg, rinfo) => this.onMessage(msg, rinfo, family));
    s.on('error', () => undefined); // ICMP unreachable and the like: the request times out instead
    s.bind();
    s.unref();
    this.sockets.set(family, s);
    return s;
  }

  private onMessage(msg: Buffer, rinfo: dgram.RemoteInfo, family: 4 | 6): void {
    const d = decodeUdpReply(msg, family);
    if (!d.ok) {
      this.dropped++;
      return;
    }
    const w = this.waiting.get(d.reply.transactionId);
    // Only the tracker we asked may answer (a spoofer would have to guess a 32-bit transaction id too).
    if (!w || w.port !== rinfo.port || !sameHost(w.host, rinfo.address)) {
      this.dropped++;
      return;
    }
    this.waiting.delete(d.reply.transactionId);
    w.resolve(d.reply);
  }
}

function sameHost(a: string, b: string): boolean {
  const strip = (x: string): string => (x.startsWith('::ffff:') ? x.slice(7) : x);
  return strip(a) === strip(b);
}

/** What an announce says, for requesters that do not speak an HTTP query (UDP). */
export interface AnnounceFields {
  infoHash: Uint8Array;
  peerId: Uint8Array;
  port: number;
  uploaded: number;
  downloaded: number;
  left: number;
  event: AnnounceEvent;
  numwant: number;
  /** The announcer's `key` as a 32-bit number (BEP 15 carries it as one). */
  key: number;
}

let sharedUdp: UdpTrackerClient | null = null;

/** The process's UDP tracker client (its sockets are unref'd: it never keeps the process alive). */
export function defaultUdpClient(): UdpTrackerClient {
  sharedUdp ??= new UdpTrackerClient();
  return sharedUdp;
}

/** A requester that speaks BEP 15 through `client`. */
export function udpAnnounce(client: UdpTrackerClient, retransmitBaseMs?: number): AnnounceRequester {
  return (url, _query, timeoutMs, f) =>
    client.announce(
      url,
      {
        infoHash: f.infoHash,
        peerId: f.peerId,
        port: f.port,
        uploaded: f.uploaded,
        downloaded: f.downloaded,
        left: f.left,
        event: f.event,
        key: f.key,
        numWant: f.numwant,
      },
      { timeoutMs, ...(retransmitBaseMs !== undefined ? { retransmitBaseMs } : {}) },
    );
}
