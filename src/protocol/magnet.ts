/**
 * Magnet links (BEP 9): `magnet:?xt=urn:btih:<info-hash>&dn=<name>&tr=<tracker>…&x.pe=<host:port>…`.
 *
 * Owns: parsing a link into a typed value with clear errors, and formatting one back. Does not own:
 * fetching the metadata (src/core/metadata-exchange.ts) or dialling the peers.
 *
 * Accepted: the info-hash as 40 hex digits or 32 base32 characters (either case); several `xt` (also
 * numbered `xt.1`…) as long as every `btih` names the same torrent (a `btmh` v2 hash alone is refused:
 * v2 torrents are not supported); `dn`; `tr` (also `tr.1`…) with http, https or udp URLs, duplicates
 * dropped; `x.pe` peers as `ipv4:port`, `[ipv6]:port` or `hostname:port`; `xl` (exact length). Values are
 * percent-decoded, `+` is a space. Parts that cannot be used (a tracker of another scheme, a malformed
 * peer, more than 100 trackers or peers) are skipped and listed in `warnings`; anything else unknown is
 * ignored, as BEP 9 asks. Fatal problems are a MagnetError: `not-magnet`, `too-long`, `bad-encoding`,
 * `no-info-hash`, `bad-info-hash`, `conflicting-info-hashes`.
 *
 * @example
 *   const m = parseMagnet('magnet:?xt=urn:btih:c12fe1c06bba254a9dc9f519b335aa7c1367a88a&dn=Big+Buck&tr=udp%3A%2F%2Ft.example%3A80');
 *   m.infoHashHex // 'c12fe1c06bba254a9dc9f519b335aa7c1367a88a'
 *   m.name        // 'Big Buck'
 *   m.trackers    // ['udp://t.example:80']
 */
import * as net from 'node:net';

export interface MagnetPeer {
  /** An IP literal or a host name (BEP 9 allows both). */
  host: string;
  port: number;
}

export interface MagnetLink {
  infoHash: Buffer;
  infoHashHex: string;
  name?: string;
  trackers: string[];
  peers: MagnetPeer[];
  /** `xl`: the content's length in bytes, when the link says. */
  length?: number;
  /** What was skipped, for the user. */
  warnings: string[];
}

export type MagnetErrorCode =
  'not-magnet' | 'too-long' | 'bad-encoding' | 'no-info-hash' | 'bad-info-hash' | 'conflicting-info-hashes';

export class MagnetError extends Error {
  constructor(
    readonly code: MagnetErrorCode,
    message: string,
  ) {
    super(message);
    this.name = 'MagnetError';
  }
}

export const MAX_MAGNET_LENGTH = 64 * 1024;
export const MAX_MAGNET_TRACKERS = 100;
export const MAX_MAGNET_PEERS = 100;
const MAX_NAME_LENGTH = 1024;
const TRACKER_SCHEMES = new Set(['http:', 'https:', 'udp:']);
const BASE32 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
const HOSTNAME =
  /^(?=.{1,253}$)[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*$/i;

/** True when `s` looks like a magnet link (so callers can tell it from a path). */
export function isMagnet(s: string): boolean {
  return /^\s*magnet:/i.test(s);
}

function base32Decode(s: string): Buffer {
  const out = Buffer.alloc(20);
  let bits = 0;
  let value = 0;
  let o = 0;
  for (const c of s.toUpperCase()) {
    value = (value << 5) | BASE32.indexOf(c);
    bits += 5;
    if (bits >= 8) {
      out[o++] = (value >>> (bits - 8)) & 0xff;
      bits -= 8;
    }
  }
  return out;
}

/** 40 hex digits or 32 base32 characters → 20 bytes. */
export function parseInfoHash(text: string): Buffer {
  if (/^[0-9a-f]{40}$/i.test(text)) return Buffer.from(text, 'hex');
  if (/^[a-z2-7]{32}$/i.test(text)) return base32Decode(text);
  throw new MagnetError(
    'bad-info-hash',
    `info-hash ${JSON.stringify(text.slice(0, 80))} is neither 40 hex digits nor 32 base32 characters`,
  );
}

function decodeValue(raw: string, name: string): string {
  try {
    return decodeURIComponent(raw.replace(/\+/g, ' '));
  } catch {
    throw new MagnetError('bad-encoding', `magnet link: bad percent-encoding in ${name}`);
  }
}

/** `host:port`, `[v6]:port` → a peer, or a reason it is not one. */
export function parseMagnetPeer(text: string): MagnetPeer | string {
  const m = /^(?:\[([^\]]+)\]|([^:[\]]+)):(\d{1,5})$/.exec(text);
  if (!m) return `peer ${JSON.stringify(text)} is not host:port`;
  const port = Number(m[3]);
  if (port < 1 || port > 0xffff) return `peer ${JSON.stringify(text)}: port out of range`;
  if (m[1] !== undefined)
    return net.isIPv6(m[1]) ? { host: m[1], port } : `peer ${JSON.stringify(text)}: bad IPv6`;
  const host = m[2];
  if (net.isIPv4(host) || (HOSTNAME.test(host) && !/^[\d.]+$/.test(host))) return { host, port };
  return `peer ${JSON.stringify(text)}: bad host`;
}

/** Parses a magnet link. Throws MagnetError; skipped parts are listed in `warnings`. */
export function parseMagnet(uri: string): MagnetLink {
  const text = uri.trim();
  if (text.length > MAX_MAGNET_LENGTH) {
    throw new MagnetError(
      'too-long',
      `magnet link of ${text.length} characters (limit ${MAX_MAGNET_LENGTH})`,
    );
  }
  const q = /^magnet:\?(.*)$/is.exec(text);
  if (!q) throw new MagnetError('not-magnet', 'not a magnet link (expected magnet:?xt=urn:btih:…)');
  let infoHash: Buffer | undefined;
  let sawV2 = false;
  const trackers: string[] = [];
  const peers: MagnetPeer[] = [];
  const warnings: string[] = [];
  let name: string | undefined;
  let length: number | undefined;
  const capped = new Set<string>();

  for (const part of q[1].split('&')) {
    if (part === '') continue;
    const eq = part.indexOf('=');
    const key = decodeValue(eq < 0 ? part : part.slice(0, eq), 'a parameter name').toLowerCase();
    const value = eq < 0 ? '' : decodeValue(part.slice(eq + 1), key);
    const base = key.replace(/\.\d+$/, ''); // xt.1, tr.2 …
    if (base === 'xt') {
      const urn = /^urn:(btih|btmh):(.*)$/i.exec(value);
      if (!urn) {
        warnings.push(`ignored xt ${JSON.stringify(value.slice(0, 80))} (not a BitTorrent info-hash)`);
      } else if (urn[1].toLowerCase() === 'btmh') {
        sawV2 = true;
      } else {
        const h = parseInfoHash(urn[2]);
        if (infoHash && !infoHash.equals(h)) {
          throw new MagnetError(
            'conflicting-info-hashes',
            `magnet link names two torrents: ${infoHash.toString('hex')} and ${h.toString('hex')}`,
          );
        }
        infoHash = h;
      }
    } else if (base === 'dn') {
      // eslint-disable-next-line no-control-regex -- a display name must not carry terminal controls
      const clean = value.replace(/[\u0000-\u001f\u007f]/g, ' ').trim();
      if (clean.length > MAX_NAME_LENGTH) warnings.push(`name cut to ${MAX_NAME_LENGTH} characters`);
      if (clean !== '') name = clean.slice(0, MAX_NAME_LENGTH);
    } else if (base === 'tr') {
      let url: URL | undefined;
      try {
        url = new URL(value);
      } catch {
        url = undefined;
      }
      if (!url || !TRACKER_SCHEMES.has(url.protocol)) {
        warnings.push(
          `ignored tracker ${JSON.stringify(value.slice(0, 200))} (not an http, https or udp URL)`,
        );
      } else if (!trackers.includes(value)) {
        if (trackers.length < MAX_MAGNET_TRACKERS) trackers.push(value);
        else capped.add(`only the first ${MAX_MAGNET_TRACKERS} trackers are used`);
      }
    } else if (base === 'x.pe') {
      const p = parseMagnetPeer(value);
      if (typeof p === 'string') warnings.push(`ignored ${p}`);
      else if (peers.some((x) => x.host === p.host && x.port === p.port)) continue;
      else if (peers.length < MAX_MAGNET_PEERS) peers.push(p);
      else capped.add(`only the first ${MAX_MAGNET_PEERS} peers are used`);
    } else if (base === 'xl') {
      if (/^\d{1,16}$/.test(value) && Number.isSafeInteger(Number(value))) length = Number(value);
      else warnings.push(`ignored xl ${JSON.stringify(value.slice(0, 40))} (not a length)`);
    }
  }
  if (!infoHash) {
    throw new MagnetError(
      'no-info-hash',
      sawV2
        ? 'magnet link has only a v2 (btmh) info-hash; BitTorrent v2 is not supported'
        : 'magnet link has no info-hash (xt=urn:btih:…)',
    );
  }
  warnings.push(...capped);
  return { infoHash, infoHashHex: infoHash.toString('hex'), name, trackers, peers, length, warnings };
}

/** The link for a parsed magnet (hex info-hash, then dn, xl, every tr and x.pe). */
export function formatMagnet(
  m: Pick<MagnetLink, 'infoHashHex' | 'name' | 'trackers' | 'peers' | 'length'>,
): string {
  const parts = [`xt=urn:btih:${m.infoHashHex}`];
  if (m.name !== undefined) parts.push(`dn=${encodeURIComponent(m.name)}`);
  if (m.length !== undefined) parts.push(`xl=${m.length}`);
  for (const t of m.trackers) parts.push(`tr=${encodeURIComponent(t)}`);
  // Peers go unescaped: their characters are all legal in a query, and libtorrent does not unescape x.pe.
  for (const p of m.peers) parts.push(`x.pe=${formatPeer(p)}`);
  return `magnet:?${parts.join('&')}`;
}

export function formatPeer(p: MagnetPeer): string {
  return net.isIPv6(p.host) ? `[${p.host}]:${p.port}` : `${p.host}:${p.port}`;
}
