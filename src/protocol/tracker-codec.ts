/**
 * HTTP tracker codec: BEP 3 announce, BEP 23 compact peers, BEP 7 `peers6`, BEP 48 scrape.
 *
 * Owns: turning a raw query string into a typed request (or a typed error whose message becomes the
 * bencoded `failure reason`), and turning answers into bencoded bytes; plus the reverse directions
 * (query building, reply decoding) that clients, tests and the benchmark use. Does not own: swarm
 * state, policy (which torrents are allowed, which peers to hand out) or sockets.
 *
 * `info_hash` and `peer_id` are 20 raw bytes percent-encoded, so the query is decoded here byte by
 * byte: URLSearchParams would decode them as UTF-8 and replace invalid sequences, losing bytes.
 *
 * Compact peers: `peers` is a string of 6-byte entries `<ipv4:4><port:2>`, `peers6` a string of
 * 18-byte entries `<ipv6:16><port:2>`, ports big-endian.
 *
 * @example
 *   const q = parseQuery('info_hash=%AB...&peer_id=-RX0100-...&port=6881&left=0');
 *   const req = parseAnnounce(q, { remoteIp: '127.0.0.1' }); // { infoHash: <Buffer ab ..>, port: 6881, ... }
 *   encodeAnnounceReply({ interval: 1800, minInterval: 60, complete: 1, incomplete: 0, peers: [] }, req)
 */
import * as net from 'node:net';
import { BDict, BValue, decode, encode, get, isBytes, isDict, isInt, isList } from './bencode';

/** Raw query parameters: name → every value given, as bytes (first one wins for single-valued keys). */
export type RawQuery = Map<string, Buffer[]>;

export type AnnounceEvent = 'started' | 'completed' | 'stopped' | '';

export type TrackerErrorCode =
  | 'missing-info-hash'
  | 'bad-info-hash'
  | 'missing-peer-id'
  | 'bad-peer-id'
  | 'bad-port'
  | 'bad-number'
  | 'bad-event'
  | 'bad-ip'
  | 'query-too-large'
  | 'too-many-info-hashes'
  | 'not-tracked'
  | 'key-mismatch'
  | 'bad-reply';

/** A request the tracker refuses; `message` is sent to the client as `failure reason`. */
export class TrackerRequestError extends Error {
  constructor(
    readonly code: TrackerErrorCode,
    message: string,
  ) {
    super(message);
    this.name = 'TrackerRequestError';
  }
}

export interface AnnounceRequest {
  infoHash: Buffer;
  peerId: Buffer;
  /** Address the peer is reachable on: the connection's address, or `ip=` when trusted. */
  ip: string;
  port: number;
  uploaded: number;
  downloaded: number;
  /** Bytes still missing; undefined when the client did not say (then it counts as a leecher). */
  left: number | undefined;
  event: AnnounceEvent;
  /** Peers wanted, already clamped to [0, maxNumwant]. */
  numwant: number;
  compact: boolean;
  noPeerId: boolean;
  key: string | undefined;
  /** Only peers of this address family in the reply (a UDP reply holds one family); both when absent. */
  only?: 4 | 6;
}

export interface PeerAddress {
  ip: string;
  port: number;
  peerId?: Buffer;
  /** Precomputed compact form (`<ip><port>` as a latin1 string of 6 or 18 bytes), used when present. */
  compact?: string;
}

export interface AnnounceReply {
  interval: number;
  minInterval: number;
  complete: number;
  incomplete: number;
  peers: readonly PeerAddress[];
}

export interface ScrapeFile {
  infoHash: Buffer;
  /** Seeders. */
  complete: number;
  /** Completed downloads ever reported (event=completed). */
  downloaded: number;
  /** Leechers. */
  incomplete: number;
}

export interface AnnounceLimits {
  /** Address of the connection; used unless `trustIpParam` and a valid `ip=` is given. */
  remoteIp: string;
  trustIpParam?: boolean;
  defaultNumwant?: number;
  maxNumwant?: number;
}

/** Longest query accepted; a real announce is ~300 bytes, a scrape of 100 torrents ~7 KiB. */
export const MAX_QUERY_BYTES = 8192;
export const MAX_SCRAPE_HASHES = 100;

const HEX = /^[0-9a-fA-F]$/;

function hexVal(c: number): number {
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  if (c >= 0x61 && c <= 0x66) return c - 0x57;
  if (c >= 0x41 && c <= 0x46) return c - 0x37;
  return -1;
}

/** Percent-decode to raw bytes; `+` is a space (form encoding); a stray `%` stays literal. */
export function percentDecode(s: string): Buffer {
  // Fast path: nothing to decode.
  if (s.indexOf('%') < 0 && s.indexOf('+') < 0) return Buffer.from(s, 'latin1');
  const out = Buffer.allocUnsafe(s.length);
  let n = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 0x25 && i + 2 < s.length) {
      const h = hexVal(s.charCodeAt(i + 1));
      const l = hexVal(s.charCodeAt(i + 2));
      if (h >= 0 && l >= 0) {
        out[n++] = (h << 4) | l;
        i += 2;
        continue;
      }
    }
    out[n++] = c === 0x2b ? 0x20 : c & 0xff;
  }
  return out.subarray(0, n);
}

/** Percent-encode bytes the way clients do: unreserved characters stay, everything else is %XX. */
export function percentEncode(bytes: Uint8Array): string {
  let s = '';
  for (const b of bytes) {
    const unreserved =
      (b >= 0x30 && b <= 0x39) ||
      (b >= 0x41 && b <= 0x5a) ||
      (b >= 0x61 && b <= 0x7a) ||
      b === 0x2d ||
      b === 0x2e ||
      b === 0x5f ||
      b === 0x7e;
    s += unreserved ? String.fromCharCode(b) : '%' + (b < 16 ? '0' : '') + b.toString(16).toUpperCase();
  }
  return s;
}

/**
 * Split a raw query string (the part after `?`, not yet decoded) into parameters.
 * Throws TrackerRequestError('query-too-large') past `maxBytes`.
 */
export function parseQuery(query: string, maxBytes = MAX_QUERY_BYTES): RawQuery {
  if (query.length > maxBytes) {
    throw new TrackerRequestError('query-too-large', `query too large (${query.length} > ${maxBytes} bytes)`);
  }
  const out: RawQuery = new Map();
  if (query.length === 0) return out;
  for (const part of query.split('&')) {
    if (part.length === 0) continue;
    const eq = part.indexOf('=');
    const name = (eq < 0 ? part : part.slice(0, eq)).toLowerCase();
    const value = percentDecode(eq < 0 ? '' : part.slice(eq + 1));
    const list = out.get(name);
    if (list) list.push(value);
    else out.set(name, [value]);
  }
  return out;
}

function first(q: RawQuery, name: string): Buffer | undefined {
  return q.get(name)?.[0];
}

/** A non-negative decimal integer that fits a JS number, or undefined when absent. */
function readCount(q: RawQuery, name: string): number | undefined {
  const b = first(q, name);
  if (b === undefined) return undefined;
  const s = b.toString('latin1');
  // Some clients send a leading minus for "unknown" left; negative counts are never valid here.
  if (!/^[0-9]{1,16}$/.test(s) || !Number.isSafeInteger(Number(s))) {
    throw new TrackerRequestError('bad-number', `invalid ${name}: ${JSON.stringify(s.slice(0, 24))}`);
  }
  return Number(s);
}

function readHash20(
  q: RawQuery,
  name: 'info_hash' | 'peer_id',
  missing: TrackerErrorCode,
  bad: TrackerErrorCode,
): Buffer {
  const b = first(q, name);
  if (b === undefined || b.length === 0) throw new TrackerRequestError(missing, `missing ${name}`);
  if (b.length !== 20) throw new TrackerRequestError(bad, `invalid ${name}: ${b.length} bytes, expected 20`);
  return Buffer.from(b); // copy: the decode buffer may be a view into a reused allocation
}

/** `::ffff:1.2.3.4` (a v4 client on a dual-stack socket) is the IPv4 address 1.2.3.4. */
export function normalizeIp(ip: string): string {
  if (ip.startsWith('::ffff:') && net.isIPv4(ip.slice(7))) return ip.slice(7);
  return ip;
}

/** Parse and validate an announce; throws TrackerRequestError with a client-facing message. */
export function parseAnnounce(q: RawQuery, limits: AnnounceLimits): AnnounceRequest {
  const infoHash = readHash20(q, 'info_hash', 'missing-info-hash', 'bad-info-hash');
  const peerId = readHash20(q, 'peer_id', 'missing-peer-id', 'bad-peer-id');
  const portRaw = first(q, 'port')?.toString('latin1');
  if (portRaw === undefined || !/^[0-9]{1,5}$/.test(portRaw) || +portRaw < 1 || +portRaw > 65535) {
    throw new TrackerRequestError(
      'bad-port',
      `invalid port: ${JSON.stringify((portRaw ?? '').slice(0, 24))}`,
    );
  }
  const eventRaw = first(q, 'event')?.toString('latin1') ?? '';
  // BEP 21's `paused` is a regular announce for our purposes.
  const event = eventRaw === 'paused' ? '' : eventRaw;
  if (event !== '' && event !== 'started' && event !== 'completed' && event !== 'stopped') {
    throw new TrackerRequestError('bad-event', `unknown event: ${JSON.stringify(eventRaw.slice(0, 24))}`);
  }
  const maxNumwant = limits.maxNumwant ?? 200;
  const numwantRaw = first(q, 'numwant');
  let numwant = limits.defaultNumwant ?? 50;
  // A few clients send numwant=-1 for "default"; anything else non-numeric is ignored the same way.
  if (numwantRaw !== undefined && /^[0-9]{1,9}$/.test(numwantRaw.toString('latin1'))) {
    numwant = Number(numwantRaw.toString('latin1'));
  }
  numwant = Math.min(numwant, maxNumwant);

  let ip = normalizeIp(limits.remoteIp);
  const ipParam = first(q, 'ip');
  if (limits.trustIpParam && ipParam !== undefined && ipParam.length > 0) {
    const s = ipParam.toString('latin1');
    if (!net.isIP(s))
      throw new TrackerRequestError('bad-ip', `invalid ip: ${JSON.stringify(s.slice(0, 46))}`);
    ip = normalizeIp(s);
  }
  const keyRaw = first(q, 'key');
  return {
    infoHash,
    peerId,
    ip,
    port: Number(portRaw),
    uploaded: readCount(q, 'uploaded') ?? 0,
    downloaded: readCount(q, 'downloaded') ?? 0,
    left: readCount(q, 'left'),
    event,
    numwant,
    // BEP 23: compact is our default; only an explicit compact=0 asks for the dictionary model.
    compact: first(q, 'compact')?.toString('latin1') !== '0',
    noPeerId: first(q, 'no_peer_id')?.toString('latin1') === '1',
    key: keyRaw && keyRaw.length > 0 ? keyRaw.subarray(0, 64).toString('hex') : undefined,
  };
}

/** Info-hashes asked for by a scrape (BEP 48); an empty list means a full scrape. */
export function parseScrape(q: RawQuery): Buffer[] {
  const hashes = q.get('info_hash') ?? [];
  if (hashes.length > MAX_SCRAPE_HASHES) {
    throw new TrackerRequestError(
      'too-many-info-hashes',
      `at most ${MAX_SCRAPE_HASHES} info_hash values per scrape`,
    );
  }
  for (const h of hashes) {
    if (h.length !== 20)
      throw new TrackerRequestError('bad-info-hash', `invalid info_hash: ${h.length} bytes, expected 20`);
  }
  // Duplicates would be duplicate dictionary keys in the reply.
  const seen = new Set<string>();
  const out: Buffer[] = [];
  for (const h of hashes) {
    const k = h.toString('latin1');
    if (!seen.has(k)) {
      seen.add(k);
      out.push(Buffer.from(h));
    }
  }
  return out;
}

/** 6-byte `<ipv4><port>` entries for the v4 peers and 18-byte `<ipv6><port>` entries for the v6 ones. */
export function encodeCompactPeers(peers: readonly PeerAddress[]): { peers: Buffer; peers6: Buffer } {
  // Peers usually carry their compact form already; joining latin1 strings is the fast path.
  let v4 = '';
  let v6 = '';
  for (const p of peers) {
    const c = p.compact ?? compactPeer(p.ip, p.port);
    if (c.length === 6) v4 += c;
    else if (c.length === 18) v6 += c;
  }
  return { peers: Buffer.from(v4, 'latin1'), peers6: Buffer.from(v6, 'latin1') };
}

/** Compact `<ip><port>` as a latin1 string: 6 bytes for IPv4, 18 for IPv6, '' for anything else. */
export function compactPeer(ip: string, port: number): string {
  // Built in one piece so the result is a flat 6- or 18-byte string, not a concatenation: it is
  // kept for every tracked peer, and that is most of the tracker's memory.
  if (net.isIPv4(ip)) {
    const p = ip.split('.');
    return String.fromCharCode(+p[0], +p[1], +p[2], +p[3], port >> 8, port & 0xff);
  }
  if (net.isIPv6(ip)) {
    const b = Buffer.alloc(18);
    writeIpv6(ip, b, 0);
    b.writeUInt16BE(port, 16);
    return b.toString('latin1');
  }
  return '';
}

/** Write an IPv6 address (any textual form, incl. `::` and `::ffff:1.2.3.4`) as 16 bytes at `at`. */
export function writeIpv6(ip: string, out: Buffer, at: number): void {
  // Expand `::` and an embedded dotted quad (`::ffff:1.2.3.4`) into 8 groups.
  let s = ip;
  const pct = s.indexOf('%');
  if (pct >= 0) s = s.slice(0, pct);
  const lastColon = s.lastIndexOf(':');
  const tail = s.slice(lastColon + 1);
  if (net.isIPv4(tail)) {
    const q = tail.split('.').map(Number);
    s = `${s.slice(0, lastColon + 1)}${((q[0] << 8) | q[1]).toString(16)}:${((q[2] << 8) | q[3]).toString(16)}`;
  }
  const [head, rest] = s.split('::');
  const h = head ? head.split(':') : [];
  const r = rest !== undefined && rest !== '' ? rest.split(':') : [];
  const groups =
    rest === undefined ? h : [...h, ...new Array<string>(8 - h.length - r.length).fill('0'), ...r];
  for (let i = 0; i < 8; i++) out.writeUInt16BE(parseInt(groups[i] ?? '0', 16) || 0, at + i * 2);
}

/** Decode BEP 23 compact IPv4 peers. */
export function decodeCompactPeers(b: Buffer): PeerAddress[] {
  const out: PeerAddress[] = [];
  for (let o = 0; o + 6 <= b.length; o += 6) {
    out.push({ ip: `${b[o]}.${b[o + 1]}.${b[o + 2]}.${b[o + 3]}`, port: b.readUInt16BE(o + 4) });
  }
  return out;
}

/** Decode BEP 7 compact IPv6 peers, giving addresses in the canonical shortened form. */
export function decodeCompactPeers6(b: Buffer): PeerAddress[] {
  const out: PeerAddress[] = [];
  for (let o = 0; o + 18 <= b.length; o += 18) {
    const groups: string[] = [];
    for (let i = 0; i < 8; i++) groups.push(b.readUInt16BE(o + i * 2).toString(16));
    out.push({ ip: canonicalIpv6(groups.join(':')), port: b.readUInt16BE(o + 16) });
  }
  return out;
}

function canonicalIpv6(full: string): string {
  // The WHATWG URL parser serialises IPv6 hosts canonically (RFC 5952).
  return new URL(`http://[${full}]/`).hostname.slice(1, -1);
}

/** Bencoded announce reply, compact (BEP 23 + BEP 7) or the original dictionary model. */
export function encodeAnnounceReply(
  reply: AnnounceReply,
  opts: { compact: boolean; noPeerId?: boolean } = { compact: true },
): Buffer {
  const d: Record<string, BValue> = {
    complete: reply.complete,
    incomplete: reply.incomplete,
    interval: reply.interval,
    'min interval': reply.minInterval,
  };
  if (opts.compact) {
    const { peers, peers6 } = encodeCompactPeers(reply.peers);
    d.peers = peers;
    if (peers6.length > 0) d.peers6 = peers6;
  } else {
    d.peers = reply.peers.map((p) => {
      const entry: Record<string, BValue> = { ip: Buffer.from(p.ip, 'latin1'), port: p.port };
      if (!opts.noPeerId && p.peerId) entry['peer id'] = p.peerId;
      return toDict(entry);
    });
  }
  return encode(toDict(d));
}

function toDict(o: Record<string, BValue>): BDict {
  return new Map(Object.entries(o));
}

/** Bencoded BEP 48 scrape reply: `files` keyed by the raw 20-byte info-hash. */
export function encodeScrapeReply(files: readonly ScrapeFile[]): Buffer {
  const m: BDict = new Map();
  for (const f of files) {
    m.set(
      f.infoHash.toString('latin1'),
      toDict({ complete: f.complete, downloaded: f.downloaded, incomplete: f.incomplete }),
    );
  }
  return encode(toDict({ files: m }));
}

/** `d14:failure reason<len>:<reason>e` — what clients show the user; HTTP status stays 200. */
export function encodeFailure(reason: string): Buffer {
  return encode(toDict({ 'failure reason': Buffer.from(reason, 'utf8') }));
}

// ---- client side: building queries and decoding replies ----

export interface AnnounceQuery {
  infoHash: Uint8Array;
  peerId: Uint8Array;
  port: number;
  uploaded?: number;
  downloaded?: number;
  left?: number;
  event?: AnnounceEvent;
  numwant?: number;
  compact?: boolean;
  noPeerId?: boolean;
  key?: string;
  ip?: string;
}

/** Build the query string (without `?`) for an announce. */
export function buildAnnounceQuery(a: AnnounceQuery): string {
  const parts = [
    `info_hash=${percentEncode(a.infoHash)}`,
    `peer_id=${percentEncode(a.peerId)}`,
    `port=${a.port}`,
    `uploaded=${a.uploaded ?? 0}`,
    `downloaded=${a.downloaded ?? 0}`,
  ];
  if (a.left !== undefined) parts.push(`left=${a.left}`);
  if (a.event) parts.push(`event=${a.event}`);
  if (a.numwant !== undefined) parts.push(`numwant=${a.numwant}`);
  parts.push(`compact=${a.compact === false ? 0 : 1}`);
  if (a.noPeerId) parts.push('no_peer_id=1');
  if (a.key !== undefined) parts.push(`key=${encodeURIComponent(a.key)}`);
  if (a.ip !== undefined) parts.push(`ip=${encodeURIComponent(a.ip)}`);
  return parts.join('&');
}

export function buildScrapeQuery(infoHashes: readonly Uint8Array[]): string {
  return infoHashes.map((h) => `info_hash=${percentEncode(h)}`).join('&');
}

export type DecodedAnnounceReply =
  | {
      ok: true;
      interval: number;
      minInterval?: number;
      complete?: number;
      incomplete?: number;
      peers: PeerAddress[];
    }
  | { ok: false; failureReason: string };

function num(v: BValue | undefined): number | undefined {
  return isInt(v) ? Number(v) : undefined;
}

/** Decode an announce reply in either peer model; throws BencodeError / TrackerRequestError on garbage. */
export function decodeAnnounceReply(bytes: Buffer): DecodedAnnounceReply {
  const d = decode(bytes);
  if (!isDict(d)) throw new TrackerRequestError('bad-reply', 'announce reply is not a dictionary');
  const failure = get(d, 'failure reason');
  if (isBytes(failure)) return { ok: false, failureReason: failure.toString('utf8') };
  const peers: PeerAddress[] = [];
  const p = get(d, 'peers');
  if (isBytes(p)) peers.push(...decodeCompactPeers(p));
  else if (isList(p)) {
    for (const e of p) {
      if (!isDict(e)) continue;
      const ip = get(e, 'ip');
      const port = num(get(e, 'port'));
      const id = get(e, 'peer id');
      if (isBytes(ip) && port !== undefined) {
        peers.push({ ip: ip.toString('latin1'), port, ...(isBytes(id) ? { peerId: id } : {}) });
      }
    }
  }
  const p6 = get(d, 'peers6');
  if (isBytes(p6)) peers.push(...decodeCompactPeers6(p6));
  return {
    ok: true,
    interval: num(get(d, 'interval')) ?? 0,
    minInterval: num(get(d, 'min interval')),
    complete: num(get(d, 'complete')),
    incomplete: num(get(d, 'incomplete')),
    peers,
  };
}

/** Decode a scrape reply to `{ hex info-hash → counts }`. */
export function decodeScrapeReply(
  bytes: Buffer,
): Map<string, { complete: number; downloaded: number; incomplete: number }> {
  const d = decode(bytes);
  const out = new Map<string, { complete: number; downloaded: number; incomplete: number }>();
  if (!isDict(d)) return out;
  const files = get(d, 'files');
  if (!isDict(files)) return out;
  for (const [k, v] of files) {
    if (!isDict(v)) continue;
    out.set(Buffer.from(k, 'latin1').toString('hex'), {
      complete: num(get(v, 'complete')) ?? 0,
      downloaded: num(get(v, 'downloaded')) ?? 0,
      incomplete: num(get(v, 'incomplete')) ?? 0,
    });
  }
  return out;
}

/** True when a string is a hex info-hash or a prefix of one. */
export function isHexPrefix(s: string): boolean {
  return s.length > 0 && s.length <= 40 && [...s].every((c) => HEX.test(c));
}
