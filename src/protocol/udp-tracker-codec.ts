/**
 * BEP 15 UDP tracker codec: the datagrams both ways, for our UDP tracker server and our UDP client.
 *
 * Owns: turning a datagram into a typed request or reply (or a typed error, never an exception), and
 * typed values into datagrams. Does not own: sockets, connection ids (src/tracker/connection-ids.ts),
 * retransmission (src/actors/udp-announce.ts) or swarm state. Every number is big-endian.
 *
 * Requests (client → tracker):
 *   connect   <protocol_id:8 = 0x41727101980><action:4 = 0><transaction_id:4>                     16 B
 *   announce  <connection_id:8><action:4 = 1><transaction_id:4><info_hash:20><peer_id:20>
 *             <downloaded:8><left:8><uploaded:8><event:4><ip:4><key:4><num_want:4><port:2>     98 B (+ BEP 41 options)
 *   scrape    <connection_id:8><action:4 = 2><transaction_id:4>(<info_hash:20>)*                16 + 20n B
 * Replies (tracker → client):
 *   connect   <action:4 = 0><transaction_id:4><connection_id:8>                                  16 B
 *   announce  <action:4 = 1><transaction_id:4><interval:4><leechers:4><seeders:4>(<ip><port:2>)* 20 + 6n or 18n B
 *   scrape    <action:4 = 2><transaction_id:4>(<seeders:4><completed:4><leechers:4>)*            8 + 12n B
 *   error     <action:4 = 3><transaction_id:4><message: utf-8 to the end>
 * An announce reply carries IPv4 peers (6 bytes each) when the request came over IPv4 and IPv6 peers
 * (18 bytes each) when it came over IPv6: the family of the tracker's socket decides the stride.
 *
 * Hostile input: lengths are checked before anything is read; a datagram too short to hold a
 * transaction id gets no answer at all (there is nothing to answer to).
 *
 * @example
 *   const d = decodeUdpRequest(datagram);
 *   if (d.ok && d.request.action === 'connect') send(encodeConnectReply(d.request.transactionId, id));
 */

export const UDP_PROTOCOL_ID = 0x41727101980n;
export const ACTION = { connect: 0, announce: 1, scrape: 2, error: 3 } as const;
export type UdpAction = keyof typeof ACTION;

export const CONNECT_REQUEST_BYTES = 16;
export const ANNOUNCE_REQUEST_BYTES = 98;
/** Longest datagram a server reads: an announce with BEP 41 options, or a scrape of 74 hashes. */
export const MAX_REQUEST_BYTES = 1500;
/** Most info-hashes in one scrape (what fits in a 1500-byte datagram, as BEP 15 says). */
export const MAX_UDP_SCRAPE_HASHES = 74;
/** Longest error message we send or keep from a tracker. */
export const MAX_ERROR_MESSAGE_BYTES = 256;

export type UdpEventName = '' | 'completed' | 'started' | 'stopped';
const EVENTS: readonly UdpEventName[] = ['', 'completed', 'started', 'stopped'];

export interface UdpConnectRequest {
  action: 'connect';
  transactionId: number;
}

export interface UdpAnnounceRequest {
  action: 'announce';
  /** 8 bytes, as sent (a view into the datagram). */
  connectionId: Buffer;
  transactionId: number;
  infoHash: Buffer;
  peerId: Buffer;
  downloaded: number;
  /** Undefined when negative (some clients send -1 for "unknown"). */
  left: number | undefined;
  uploaded: number;
  event: UdpEventName;
  /** The `ip` field as an unsigned 32-bit number; 0 means "the sender's address". */
  ip: number;
  key: number;
  /** -1 means "the tracker's default". */
  numWant: number;
  port: number;
}

export interface UdpScrapeRequest {
  action: 'scrape';
  connectionId: Buffer;
  transactionId: number;
  infoHashes: Buffer[];
}

export type UdpRequest = UdpConnectRequest | UdpAnnounceRequest | UdpScrapeRequest;

export type UdpRequestErrorCode =
  | 'too-short'
  | 'too-long'
  | 'bad-protocol-id'
  | 'unknown-action'
  | 'bad-length'
  | 'too-many-info-hashes'
  | 'bad-event'
  | 'bad-port';

export type DecodedUdpRequest =
  | { ok: true; request: UdpRequest }
  /** `transactionId` is present when the datagram was long enough to carry one (an error can be sent). */
  | { ok: false; code: UdpRequestErrorCode; reason: string; transactionId?: number; connectionId?: Buffer };

/** A signed 64-bit count as a JS number: negative → undefined, past 2^53 → clamped. */
function count64(b: Buffer, at: number): number | undefined {
  const v = b.readBigInt64BE(at);
  if (v < 0n) return undefined;
  return v > BigInt(Number.MAX_SAFE_INTEGER) ? Number.MAX_SAFE_INTEGER : Number(v);
}

/** Decode a datagram a client sent to a tracker. Never throws. */
export function decodeUdpRequest(d: Buffer): DecodedUdpRequest {
  if (d.length < 16) return { ok: false, code: 'too-short', reason: `datagram of ${d.length} bytes` };
  const transactionId = d.readUInt32BE(12);
  const action = d.readUInt32BE(8);
  const fail = (code: UdpRequestErrorCode, reason: string): DecodedUdpRequest => ({
    ok: false,
    code,
    reason,
    transactionId,
    connectionId: d.subarray(0, 8),
  });
  if (d.length > MAX_REQUEST_BYTES) return fail('too-long', `datagram of ${d.length} bytes`);
  switch (action) {
    case ACTION.connect:
      if (d.readBigUInt64BE(0) !== UDP_PROTOCOL_ID) return fail('bad-protocol-id', 'not a BEP 15 connect');
      if (d.length !== CONNECT_REQUEST_BYTES) return fail('bad-length', `connect of ${d.length} bytes`);
      return { ok: true, request: { action: 'connect', transactionId } };
    case ACTION.announce: {
      if (d.length < ANNOUNCE_REQUEST_BYTES) return fail('bad-length', `announce of ${d.length} bytes`);
      const ev = d.readUInt32BE(80);
      if (ev >= EVENTS.length) return fail('bad-event', `unknown event ${ev}`);
      const port = d.readUInt16BE(96);
      if (port === 0) return fail('bad-port', 'port 0');
      return {
        ok: true,
        request: {
          action: 'announce',
          connectionId: d.subarray(0, 8),
          transactionId,
          infoHash: d.subarray(16, 36),
          peerId: d.subarray(36, 56),
          downloaded: count64(d, 56) ?? 0,
          left: count64(d, 64),
          uploaded: count64(d, 72) ?? 0,
          event: EVENTS[ev],
          ip: d.readUInt32BE(84),
          key: d.readUInt32BE(88),
          numWant: d.readInt32BE(92),
          port,
        },
      };
    }
    case ACTION.scrape: {
      const n = (d.length - 16) / 20;
      if (!Number.isInteger(n)) return fail('bad-length', `scrape of ${d.length} bytes`);
      if (n > MAX_UDP_SCRAPE_HASHES) return fail('too-many-info-hashes', `${n} info-hashes`);
      const infoHashes: Buffer[] = [];
      for (let i = 0; i < n; i++) infoHashes.push(d.subarray(16 + i * 20, 36 + i * 20));
      return {
        ok: true,
        request: { action: 'scrape', connectionId: d.subarray(0, 8), transactionId, infoHashes },
      };
    }
    default:
      return fail('unknown-action', `action ${action}`);
  }
}

// ---- server replies ----

export function encodeConnectReply(transactionId: number, connectionId: Buffer): Buffer {
  const b = Buffer.allocUnsafe(16);
  b.writeUInt32BE(ACTION.connect, 0);
  b.writeUInt32BE(transactionId >>> 0, 4);
  connectionId.copy(b, 8, 0, 8);
  return b;
}

export interface UdpAnnounceReplyFields {
  transactionId: number;
  interval: number;
  leechers: number;
  seeders: number;
  /** Compact peers already joined: 6-byte entries for an IPv4 reply, 18-byte entries for IPv6. */
  peers: Buffer;
}

const u32 = (n: number): number => Math.max(0, Math.min(0xffffffff, Math.floor(n)));

export function encodeAnnounceReply(r: UdpAnnounceReplyFields): Buffer {
  const b = Buffer.allocUnsafe(20 + r.peers.length);
  b.writeUInt32BE(ACTION.announce, 0);
  b.writeUInt32BE(r.transactionId >>> 0, 4);
  b.writeUInt32BE(u32(r.interval), 8);
  b.writeUInt32BE(u32(r.leechers), 12);
  b.writeUInt32BE(u32(r.seeders), 16);
  r.peers.copy(b, 20);
  return b;
}

export interface UdpScrapeEntry {
  seeders: number;
  completed: number;
  leechers: number;
}

export function encodeScrapeReply(transactionId: number, entries: readonly UdpScrapeEntry[]): Buffer {
  const b = Buffer.allocUnsafe(8 + 12 * entries.length);
  b.writeUInt32BE(ACTION.scrape, 0);
  b.writeUInt32BE(transactionId >>> 0, 4);
  entries.forEach((e, i) => {
    b.writeUInt32BE(u32(e.seeders), 8 + i * 12);
    b.writeUInt32BE(u32(e.completed), 12 + i * 12);
    b.writeUInt32BE(u32(e.leechers), 16 + i * 12);
  });
  return b;
}

/**
 * An error datagram, at most `maxBytes` long in all (the message is cut to fit): a reply to a
 * datagram without a valid connection id must never be larger than that datagram.
 */
export function encodeErrorReply(
  transactionId: number,
  message: string,
  maxBytes = 8 + MAX_ERROR_MESSAGE_BYTES,
): Buffer {
  const text = Buffer.from(message, 'utf8');
  const room = Math.max(0, Math.min(text.length, MAX_ERROR_MESSAGE_BYTES, maxBytes - 8));
  const b = Buffer.allocUnsafe(8 + room);
  b.writeUInt32BE(ACTION.error, 0);
  b.writeUInt32BE(transactionId >>> 0, 4);
  text.copy(b, 8, 0, room);
  return b;
}

// ---- client requests ----

export function encodeConnectRequest(transactionId: number): Buffer {
  const b = Buffer.allocUnsafe(16);
  b.writeBigUInt64BE(UDP_PROTOCOL_ID, 0);
  b.writeUInt32BE(ACTION.connect, 8);
  b.writeUInt32BE(transactionId >>> 0, 12);
  return b;
}

export interface UdpAnnounceFields {
  connectionId: Buffer;
  transactionId: number;
  infoHash: Uint8Array;
  peerId: Uint8Array;
  downloaded: number;
  left: number;
  uploaded: number;
  event: UdpEventName;
  key: number;
  numWant: number;
  port: number;
}

const i64 = (n: number): bigint => BigInt(Math.max(0, Math.min(Number.MAX_SAFE_INTEGER, Math.floor(n))));

export function encodeAnnounceRequest(a: UdpAnnounceFields): Buffer {
  const b = Buffer.alloc(ANNOUNCE_REQUEST_BYTES);
  a.connectionId.copy(b, 0, 0, 8);
  b.writeUInt32BE(ACTION.announce, 8);
  b.writeUInt32BE(a.transactionId >>> 0, 12);
  Buffer.from(a.infoHash).copy(b, 16, 0, 20);
  Buffer.from(a.peerId).copy(b, 36, 0, 20);
  b.writeBigInt64BE(i64(a.downloaded), 56);
  b.writeBigInt64BE(i64(a.left), 64);
  b.writeBigInt64BE(i64(a.uploaded), 72);
  b.writeUInt32BE(EVENTS.indexOf(a.event), 80);
  b.writeUInt32BE(0, 84); // ip: the sender's address
  b.writeUInt32BE(a.key >>> 0, 88);
  b.writeInt32BE(Math.max(-1, Math.min(0x7fffffff, Math.floor(a.numWant))), 92);
  b.writeUInt16BE(a.port & 0xffff, 96);
  return b;
}

export function encodeScrapeRequest(
  connectionId: Buffer,
  transactionId: number,
  infoHashes: readonly Uint8Array[],
): Buffer {
  if (infoHashes.length > MAX_UDP_SCRAPE_HASHES)
    throw new RangeError(`at most ${MAX_UDP_SCRAPE_HASHES} info-hashes`);
  const b = Buffer.alloc(16 + 20 * infoHashes.length);
  connectionId.copy(b, 0, 0, 8);
  b.writeUInt32BE(ACTION.scrape, 8);
  b.writeUInt32BE(transactionId >>> 0, 12);
  infoHashes.forEach((h, i) => Buffer.from(h).copy(b, 16 + i * 20, 0, 20));
  return b;
}

// ---- client: decoding replies ----

export interface UdpPeer {
  ip: string;
  port: number;
}

export type UdpReply =
  | { action: 'connect'; transactionId: number; connectionId: Buffer }
  | {
      action: 'announce';
      transactionId: number;
      interval: number;
      leechers: number;
      seeders: number;
      peers: UdpPeer[];
    }
  | { action: 'scrape'; transactionId: number; entries: UdpScrapeEntry[] }
  | { action: 'error'; transactionId: number; message: string };

// Control characters in a tracker's message would reach the user's terminal.
// eslint-disable-next-line no-control-regex
const CONTROL = /[\x00-\x1f\x7f]/g;

export type DecodedUdpReply = { ok: true; reply: UdpReply } | { ok: false; reason: string };

function ipv6Text(b: Buffer, at: number): string {
  const g: string[] = [];
  for (let i = 0; i < 8; i++) g.push(b.readUInt16BE(at + i * 2).toString(16));
  // The WHATWG URL parser prints IPv6 canonically (RFC 5952).
  return new URL(`http://[${g.join(':')}]/`).hostname.slice(1, -1);
}

/**
 * Decode a datagram a tracker sent; `family` is the family of our socket (it decides the peer stride
 * of an announce reply). Never throws; the caller matches the transaction id and the action.
 */
export function decodeUdpReply(d: Buffer, family: 4 | 6): DecodedUdpReply {
  if (d.length < 8) return { ok: false, reason: `reply of ${d.length} bytes` };
  const action = d.readUInt32BE(0);
  const transactionId = d.readUInt32BE(4);
  switch (action) {
    case ACTION.connect:
      if (d.length < 16) return { ok: false, reason: `connect reply of ${d.length} bytes` };
      return {
        ok: true,
        reply: { action: 'connect', transactionId, connectionId: Buffer.from(d.subarray(8, 16)) },
      };
    case ACTION.announce: {
      if (d.length < 20) return { ok: false, reason: `announce reply of ${d.length} bytes` };
      const stride = family === 6 ? 18 : 6;
      const peers: UdpPeer[] = [];
      for (let o = 20; o + stride <= d.length; o += stride) {
        const ip = family === 6 ? ipv6Text(d, o) : `${d[o]}.${d[o + 1]}.${d[o + 2]}.${d[o + 3]}`;
        const port = d.readUInt16BE(o + stride - 2);
        if (port !== 0) peers.push({ ip, port });
      }
      return {
        ok: true,
        reply: {
          action: 'announce',
          transactionId,
          interval: d.readUInt32BE(8),
          leechers: d.readUInt32BE(12),
          seeders: d.readUInt32BE(16),
          peers,
        },
      };
    }
    case ACTION.scrape: {
      const entries: UdpScrapeEntry[] = [];
      for (let o = 8; o + 12 <= d.length; o += 12) {
        entries.push({
          seeders: d.readUInt32BE(o),
          completed: d.readUInt32BE(o + 4),
          leechers: d.readUInt32BE(o + 8),
        });
      }
      return { ok: true, reply: { action: 'scrape', transactionId, entries } };
    }
    case ACTION.error:
      return {
        ok: true,
        reply: {
          action: 'error',
          transactionId,
          message: d
            .subarray(8, 8 + MAX_ERROR_MESSAGE_BYTES)
            .toString('utf8')
            .replace(CONTROL, ' ')
            .trim(),
        },
      };
    default:
      return { ok: false, reason: `unknown action ${action}` };
  }
}
