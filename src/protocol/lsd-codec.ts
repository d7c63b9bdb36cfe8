/**
 * BEP 14 local service discovery datagrams: an HTTP-like `BT-SEARCH` request sent to a multicast group.
 *
 * Owns: the groups and port, encoding an announce (several info-hashes in one datagram, under the 1400
 * bytes BEP 14 asks for), and decoding one with fixed bounds on the work it takes. Does not own:
 * sockets, when to announce, our cookie, or which info-hashes we care about (src/core/lsd-state.ts).
 *
 * Datagram:
 *   BT-SEARCH * HTTP/1.1\r\n
 *   Host: 239.192.152.143:6771\r\n          (or [ff15::efc0:988f]:6771)
 *   Port: <listen port, decimal>\r\n
 *   Infohash: <40 hex digits>\r\n          (one or more, consecutive)
 *   cookie: <opaque, to recognise our own>\r\n
 *   \r\n
 *   \r\n
 *
 * Decoding: header names are case-insensitive and unknown headers are ignored (as HTTP asks); lines may
 * end in \n alone. Refused (LsdError): more than MAX_LSD_DATAGRAM bytes, another first line, more than
 * MAX_LSD_HEADERS header lines, a header line without `:`, no `Port` or one that is not 1..65535, no
 * valid info-hash. Malformed `Infohash` headers are skipped (libtorrent does the same); at most
 * MAX_LSD_INFOHASHES are read.
 *
 * @example
 *   const d = encodeLsdAnnounce({ family: 4, port: 6881, infoHashes: [ih], cookie: 'a1b2c3d4' });
 *   decodeLsdAnnounce(d); // { port: 6881, infoHashes: [ih], cookie: 'a1b2c3d4', host: '239.192.152.143:6771' }
 */

export const LSD_PORT = 6771;
export const LSD_GROUP4 = '239.192.152.143';
export const LSD_GROUP6 = 'ff15::efc0:988f';
/** Largest datagram we decode (BEP 14 asks senders to stay under 1400). */
export const MAX_LSD_DATAGRAM = 2048;
/** Largest datagram we send. */
export const MAX_LSD_SEND = 1400;
/** Info-hashes we put in one datagram (20 × 52 bytes plus the rest stays under 1400). */
export const LSD_INFOHASHES_PER_DATAGRAM = 20;
/** Info-hashes we read from one datagram. */
export const MAX_LSD_INFOHASHES = 32;
export const MAX_LSD_HEADERS = 48;
const MAX_COOKIE = 64;

export type LsdFamily = 4 | 6;

export interface LsdAnnounce {
  port: number;
  infoHashes: Buffer[];
  cookie?: string;
  host?: string;
}

export type LsdErrorCode =
  | 'too-large'
  | 'not-bt-search'
  | 'too-many-headers'
  | 'bad-header'
  | 'no-port'
  | 'bad-port'
  | 'no-info-hash'
  | 'unencodable';

export class LsdError extends Error {
  constructor(
    readonly code: LsdErrorCode,
    detail: string,
  ) {
    super(`lsd: ${detail}`);
    this.name = 'LsdError';
  }
}

/** The Host header's value for a family. */
export const lsdHost = (family: LsdFamily): string =>
  family === 4 ? `${LSD_GROUP4}:${LSD_PORT}` : `[${LSD_GROUP6}]:${LSD_PORT}`;

/** One announce datagram. Throws LsdError `unencodable` (bad port, 0 or too many hashes, bad cookie). */
export function encodeLsdAnnounce(a: {
  family: LsdFamily;
  port: number;
  infoHashes: Buffer[];
  cookie?: string;
}): Buffer {
  if (!Number.isInteger(a.port) || a.port < 1 || a.port > 0xffff)
    throw new LsdError('unencodable', `port ${a.port}`);
  if (a.infoHashes.length === 0 || a.infoHashes.length > LSD_INFOHASHES_PER_DATAGRAM)
    throw new LsdError('unencodable', `${a.infoHashes.length} info-hashes in one datagram`);
  if (a.cookie !== undefined && !/^[\x21-\x7e]{1,64}$/.test(a.cookie))
    throw new LsdError('unencodable', 'cookie must be 1..64 visible ASCII characters');
  const lines = ['BT-SEARCH * HTTP/1.1', `Host: ${lsdHost(a.family)}`, `Port: ${a.port}`];
  for (const ih of a.infoHashes) {
    if (ih.length !== 20) throw new LsdError('unencodable', `info-hash of ${ih.length} bytes`);
    lines.push(`Infohash: ${ih.toString('hex')}`);
  }
  if (a.cookie !== undefined) lines.push(`cookie: ${a.cookie}`);
  return Buffer.from(`${lines.join('\r\n')}\r\n\r\n\r\n`, 'latin1');
}

/** Decodes one datagram. Throws LsdError; never anything else. */
export function decodeLsdAnnounce(datagram: Buffer): LsdAnnounce {
  if (datagram.length > MAX_LSD_DATAGRAM)
    throw new LsdError('too-large', `datagram of ${datagram.length} bytes`);
  const text = datagram.toString('latin1');
  const lines = text.split('\n', MAX_LSD_HEADERS + 3).map((l) => (l.endsWith('\r') ? l.slice(0, -1) : l));
  if (!/^BT-SEARCH \* HTTP\/1\.\d$/i.test(lines[0]))
    throw new LsdError('not-bt-search', 'not a BT-SEARCH request');
  let port: number | undefined;
  let portSeen = false;
  let cookie: string | undefined;
  let host: string | undefined;
  const infoHashes: Buffer[] = [];
  for (let i = 1; i < lines.length; i++) {
    const line = lines[i];
    if (line === '') break; // end of the headers
    if (i > MAX_LSD_HEADERS)
      throw new LsdError('too-many-headers', `more than ${MAX_LSD_HEADERS} header lines`);
    const colon = line.indexOf(':');
    if (colon <= 0)
      throw new LsdError('bad-header', `header line without a name: ${JSON.stringify(line.slice(0, 40))}`);
    const name = line.slice(0, colon).trim().toLowerCase();
    const value = line.slice(colon + 1).trim();
    if (name === 'port' && !portSeen) {
      portSeen = true;
      port = /^\d{1,5}$/.test(value) ? Number(value) : NaN;
      if (!(port >= 1 && port <= 0xffff))
        throw new LsdError('bad-port', `port ${JSON.stringify(value.slice(0, 20))}`);
    } else if (name === 'infohash') {
      if (infoHashes.length < MAX_LSD_INFOHASHES && /^[0-9a-f]{40}$/i.test(value)) {
        const ih = Buffer.from(value, 'hex');
        if (!infoHashes.some((x) => x.equals(ih))) infoHashes.push(ih);
      }
    } else if (name === 'cookie') {
      if (value.length <= MAX_COOKIE) cookie = value;
    } else if (name === 'host') {
      host = value.slice(0, 64);
    }
  }
  if (port === undefined) throw new LsdError('no-port', 'no Port header');
  if (infoHashes.length === 0) throw new LsdError('no-info-hash', 'no valid Infohash header');
  return { port, infoHashes, cookie, host };
}
