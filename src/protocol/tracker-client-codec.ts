/**
 * The HTTP tracker codec's client side: building announce and scrape queries, decoding replies.
 *
 * Owns: what our announcer, the tests and the benchmark send to an HTTP tracker and how they read
 * its answers (both peer models: compact BEP 23 / BEP 7 and the original dictionary list). Does not
 * own: sockets, retry or interval policy (announcer.ts, announce-state.ts), or the tracker server's
 * side (tracker-codec.ts). Why apart: the server parses requests and encodes replies, the client
 * does the reverse; they share only types and the compact peer form.
 *
 * @example
 *   buildAnnounceQuery({ infoHash, peerId, port: 6881, left: 0, event: 'started' })
 *   // 'info_hash=%AB...&peer_id=-RX0100-...&port=6881&uploaded=0&downloaded=0&left=0&event=started&compact=1'
 */
import { BValue, decode, get, isBytes, isDict, isInt, isList } from './bencode';
import { PeerAddress, decodeCompactPeers, decodeCompactPeers6 } from './compact-peers';
import { percentEncode } from './percent-encoding';
import { AnnounceEvent, TrackerRequestError } from './tracker-messages';

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
