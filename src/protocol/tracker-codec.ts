/**
 * HTTP tracker codec: BEP 3 announce, BEP 23 compact peers, BEP 7 `peers6`, BEP 48 scrape.
 *
 * Owns: the server side, turning a raw query string into a typed request (or a typed error whose
 * message becomes the bencoded `failure reason`), and turning answers into bencoded bytes. Does not
 * own: swarm state, policy (which torrents are allowed, which peers to hand out) or sockets.
 *
 * Split by concern: the shared request/reply types and the error live in tracker-messages.ts, the
 * compact peer form in compact-peers.ts, byte-exact percent-encoding in percent-encoding.ts, and
 * the client side (building queries, decoding replies) in tracker-client-codec.ts. They are
 * re-exported here so that `tracker-codec` stays the one import for the whole codec.
 *
 * @example
 *   const q = parseQuery('info_hash=%AB...&peer_id=-RX0100-...&port=6881&left=0');
 *   const req = parseAnnounce(q, { remoteIp: '127.0.0.1' }); // { infoHash: <Buffer ab ..>, port: 6881, ... }
 *   encodeAnnounceReply({ interval: 1800, minInterval: 60, complete: 1, incomplete: 0, peers: [] }, req)
 */
import * as net from 'node:net';
import { BDict, BValue, encode } from './bencode';
import { encodeCompactPeers, normalizeIp } from './compact-peers';
import { percentDecode } from './percent-encoding';
import {
  AnnounceLimits,
  AnnounceReply,
  AnnounceRequest,
  RawQuery,
  ScrapeFile,
  TrackerErrorCode,
  TrackerRequestError,
} from './tracker-messages';

export * from './compact-peers';
export { percentDecode, percentEncode } from './percent-encoding';
export * from './tracker-client-codec';
export * from './tracker-messages';

/** Longest query accepted; a real announce is ~300 bytes, a scrape of 100 torrents ~7 KiB. */
export const MAX_QUERY_BYTES = 8192;
export const MAX_SCRAPE_HASHES = 100;

const HEX = /^[0-9a-fA-F]$/;

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

/** True when a string is a hex info-hash or a prefix of one. */
export function isHexPrefix(s: string): boolean {
  return s.length > 0 && s.length <= 40 && [...s].every((c) => HEX.test(c));
}
