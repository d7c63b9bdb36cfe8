/**
 * The announce query's fast path: one pass over `name=value&…`, decoding only the parameters an
 * announce uses, straight into the request. It accepts exactly what `parseAnnounce(parseQuery(q))`
 * accepts and gives the same request; anything it is not sure of (an upper-case name, a bad number,
 * a hash of the wrong length, …) goes to that generic parser, which also makes every error message.
 * Why: the generic parser builds a Map of Buffers for every parameter, and on a tracker answering
 * thousands of announces a second that was the largest cost after the sockets (issue 13).
 *
 * @example
 *   parseAnnounceQuery('info_hash=%AB…&peer_id=-RX0100-…&port=6881&left=0', { remoteIp: '10.0.0.2' })
 */
import {
  AnnounceEvent,
  AnnounceLimits,
  AnnounceRequest,
  MAX_QUERY_BYTES,
  normalizeIp,
  parseAnnounce,
  parseQuery,
} from './tracker-codec';
import { hexVal, percentDecode } from './percent-encoding';

/** Percent-decode `s[from, to)` into exactly 20 bytes, or undefined (then the generic path decides). */
function decode20(s: string, from: number, to: number): Buffer | undefined {
  const out = Buffer.allocUnsafe(20);
  let n = 0;
  for (let i = from; i < to; i++) {
    if (n === 20) return undefined;
    let c = s.charCodeAt(i);
    if (c === 0x25 && i + 2 < to) {
      const h = hexVal(s.charCodeAt(i + 1));
      const l = hexVal(s.charCodeAt(i + 2));
      if (h >= 0 && l >= 0) {
        c = (h << 4) | l;
        i += 2;
      } else return undefined;
    } else if (c === 0x25 || c === 0x2b || c > 0xff) return undefined;
    out[n++] = c;
  }
  return n === 20 ? out : undefined;
}

/** Decimal digits `s[from, to)` (1 to 16 of them, a safe integer), or -1. */
function digits(s: string, from: number, to: number, max = 16): number {
  if (to <= from || to - from > max) return -1;
  let v = 0;
  for (let i = from; i < to; i++) {
    const c = s.charCodeAt(i) - 0x30;
    if (c < 0 || c > 9) return -1;
    v = v * 10 + c;
  }
  return Number.isSafeInteger(v) ? v : -1;
}

const EVENTS = new Map<string, AnnounceEvent>([
  ['', ''],
  ['started', 'started'],
  ['completed', 'completed'],
  ['stopped', 'stopped'],
  ['paused', ''], // BEP 21: a regular announce for our purposes
]);

/** `s[from, to)` holds `%` or `+`: its decoded form differs from the raw one. */
function encoded(s: string, from: number, to: number): boolean {
  for (let i = from; i < to; i++) {
    const c = s.charCodeAt(i);
    if (c === 0x25 || c === 0x2b) return true;
  }
  return false;
}

export function parseAnnounceQuery(q: string, limits: AnnounceLimits): AnnounceRequest {
  const generic = (): AnnounceRequest => parseAnnounce(parseQuery(q), limits);
  if (q.length > MAX_QUERY_BYTES) return generic();
  let infoHash: Buffer | undefined;
  let peerId: Buffer | undefined;
  let port = -1;
  let uploaded = -2;
  let downloaded = -2;
  let left = -2;
  let event: AnnounceEvent | undefined;
  let numwant = -2;
  let compact = -2;
  let noPeerId = -2;
  let key: string | undefined;
  let keySeen = false;
  for (let i = 0; i < q.length;) {
    let amp = q.indexOf('&', i);
    if (amp < 0) amp = q.length;
    const eq = q.indexOf('=', i);
    const end = eq < 0 || eq > amp ? amp : eq;
    const v = end + 1;
    // Names are compared as sent; any upper-case letter, `%` or `+` in a name: the generic path.
    switch (q.slice(i, end)) {
      case 'info_hash':
        if (infoHash === undefined && !(infoHash = decode20(q, v, amp))) return generic();
        break;
      case 'peer_id':
        if (peerId === undefined && !(peerId = decode20(q, v, amp))) return generic();
        break;
      case 'port':
        if (port === -1 && ((port = digits(q, v, amp, 5)) < 1 || port > 65535)) return generic();
        break;
      case 'uploaded':
        if (uploaded === -2 && (uploaded = digits(q, v, amp)) < 0) return generic();
        break;
      case 'downloaded':
        if (downloaded === -2 && (downloaded = digits(q, v, amp)) < 0) return generic();
        break;
      case 'left':
        if (left === -2 && (left = digits(q, v, amp)) < 0) return generic();
        break;
      case 'event':
        if (event === undefined && (event = EVENTS.get(v > amp ? '' : q.slice(v, amp))) === undefined)
          return generic();
        break;
      case 'numwant':
        if (numwant === -2 && (numwant = digits(q, v, amp, 9)) < 0) return generic();
        break;
      case 'compact':
        if (compact === -2) {
          if (encoded(q, v, amp)) return generic();
          compact = q.slice(v, amp) === '0' ? 0 : 1;
        }
        break;
      case 'no_peer_id':
        if (noPeerId === -2) {
          if (encoded(q, v, amp)) return generic();
          noPeerId = q.slice(v, amp) === '1' ? 1 : 0;
        }
        break;
      case 'key':
        if (!keySeen) {
          keySeen = true;
          const raw = v > amp ? Buffer.alloc(0) : percentDecode(q.slice(v, amp));
          key = raw.length > 0 ? raw.subarray(0, 64).toString('hex') : undefined;
        }
        break;
      case 'ip':
        if (limits.trustIpParam) return generic(); // textual and checked: the generic path's job
        break;
      default:
        for (let k = i; k < end; k++) {
          const c = q.charCodeAt(k);
          if ((c >= 0x41 && c <= 0x5a) || c === 0x25 || c === 0x2b) return generic();
        }
    }
    i = amp + 1;
  }
  if (!infoHash || !peerId || port < 1) return generic();
  const maxNumwant = limits.maxNumwant ?? 200;
  return {
    infoHash,
    peerId,
    ip: normalizeIp(limits.remoteIp),
    port,
    uploaded: uploaded < 0 ? 0 : uploaded,
    downloaded: downloaded < 0 ? 0 : downloaded,
    left: left < 0 ? undefined : left,
    event: event ?? '',
    numwant: Math.min(numwant < 0 ? (limits.defaultNumwant ?? 50) : numwant, maxNumwant),
    compact: compact !== 0,
    noPeerId: noPeerId === 1,
    key,
  };
}
