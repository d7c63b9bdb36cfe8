/**
 * BEP 11 `ut_pex` messages: the payload of an extended message whose ext_id is the peer's (or our)
 * `ut_pex` id.
 *
 * Owns: encoding and decoding the peer lists and their flags, with caps on what one message may carry.
 * Does not own: what to announce or when (src/core/pex-state.ts), which learned addresses are worth
 * dialling, or the envelope.
 *
 * Payload (a bencoded dictionary; every key optional):
 *   added     <ipv4:4><port:2>…   peers we connected to since the last message
 *   added.f   <flags:1>…          one byte per `added` entry
 *   added6    <ipv6:16><port:2>…  likewise for IPv6
 *   added6.f  <flags:1>…
 *   dropped   <ipv4:4><port:2>…   peers we disconnected from
 *   dropped6  <ipv6:16><port:2>…
 *
 * Flags: 0x01 prefers encryption, 0x02 seed (upload only), 0x04 uTP, 0x08 ut_holepunch, 0x10 reachable
 * (we reached it with an outgoing connection).
 *
 * Decoding refuses (ExtensionError, the peer is closed): a list that is not a byte string, a length that
 * is not a whole number of entries, more than MAX_PEX_DECODE_ENTRIES entries in one list, or a payload
 * over MAX_PEX_BYTES. A flags string of the wrong length is ignored (every flag 0): clients differ there
 * and nothing is at stake. We always send `added.f` / `added6.f` (libtorrent ignores `added` without it).
 *
 * @example
 *   const payload = encodePex({ added: [{ ip: '10.0.0.7', port: 6881, flags: PexFlag.Seed }], dropped: [] });
 *   decodePex(payload); // { added: [{ ip: '10.0.0.7', port: 6881, flags: 2 }], dropped: [] }
 */
import * as net from 'node:net';
import { BValue, encode, get, isBytes } from './bencode';
import { ExtensionError, decodePayloadDict } from './extension-error';
import { PeerAddress, compactPeer, decodeCompactPeers, decodeCompactPeers6 } from './compact-peers';

export const PexFlag = {
  Encryption: 0x01,
  Seed: 0x02,
  Utp: 0x04,
  Holepunch: 0x08,
  Reachable: 0x10,
} as const;

/** Entries accepted per list in one message (BEP 11 asks for ≤ 50 after the first message). */
export const MAX_PEX_DECODE_ENTRIES = 200;
/** Largest ut_pex payload accepted (200 IPv6 entries with flags in each list is ~11 KiB). */
export const MAX_PEX_BYTES = 24 * 1024;

export interface PexPeer {
  ip: string;
  port: number;
  flags: number;
}

export interface PexMessage {
  added: PexPeer[];
  dropped: PeerAddress[];
}

const fail = (code: ConstructorParameters<typeof ExtensionError>[1], detail: string): never => {
  throw new ExtensionError('ut_pex', code, detail);
};

function compact(p: PeerAddress, what: string): string {
  if (!Number.isInteger(p.port) || p.port < 1 || p.port > 0xffff)
    fail('unencodable', `${what} port ${p.port}`);
  const c = net.isIP(p.ip) ? compactPeer(p.ip, p.port) : '';
  if (c === '') fail('unencodable', `${what} ${p.ip} is not an IP address`);
  return c;
}

/** Encodes a message; addresses are split by family. Throws ExtensionError `unencodable`. */
export function encodePex(m: PexMessage): Buffer {
  const lists = { added: '', 'added.f': '', added6: '', 'added6.f': '', dropped: '', dropped6: '' };
  for (const p of m.added) {
    if (!Number.isInteger(p.flags) || p.flags < 0 || p.flags > 0xff) fail('unencodable', `flags ${p.flags}`);
    const c = compact(p, 'added');
    const flag = String.fromCharCode(p.flags);
    const key = c.length === 6 ? 'added' : 'added6';
    lists[key] += c;
    lists[`${key}.f`] += flag;
  }
  for (const p of m.dropped) {
    const c = compact(p, 'dropped');
    if (c.length === 6) lists.dropped += c;
    else lists.dropped6 += c;
  }
  const d = new Map<string, BValue>();
  for (const [key, value] of Object.entries(lists))
    if (value !== '') d.set(key, Buffer.from(value, 'latin1'));
  if (d.size === 0) d.set('added', Buffer.alloc(0)); // BEP 11: at least one list
  if (d.has('added') && !d.has('added.f')) d.set('added.f', Buffer.alloc(0));
  return encode(d);
}

function list(d: Map<string, BValue>, key: string, entry: 6 | 18): Buffer | undefined {
  const v = get(d, key);
  if (v === undefined) return undefined;
  if (!isBytes(v)) return fail('bad-type', `${key} is not a byte string`);
  if (v.length % entry !== 0)
    return fail('out-of-range', `${key} is ${v.length} bytes, not a multiple of ${entry}`);
  if (v.length / entry > MAX_PEX_DECODE_ENTRIES)
    return fail('too-large', `${key} holds ${v.length / entry} peers, limit ${MAX_PEX_DECODE_ENTRIES}`);
  return v;
}

function flagsFor(d: Map<string, BValue>, key: string, count: number): Buffer | undefined {
  const v = get(d, key);
  if (v === undefined) return undefined;
  if (!isBytes(v)) return fail('bad-type', `${key} is not a byte string`);
  return v.length === count ? v : undefined;
}

/** Decodes a ut_pex payload. Throws ExtensionError: `bencode`, `not-a-dict`, `bad-type`, `out-of-range`, `too-large`. */
export function decodePex(payload: Buffer): PexMessage {
  const { dict: d } = decodePayloadDict('ut_pex', payload, { maxBytes: MAX_PEX_BYTES });
  const added: PexPeer[] = [];
  const dropped: PeerAddress[] = [];
  for (const [key, entry, decode] of [
    ['added', 6, decodeCompactPeers],
    ['added6', 18, decodeCompactPeers6],
  ] as const) {
    const b = list(d, key, entry);
    if (!b) continue;
    const peers = decode(b);
    const flags = flagsFor(d, `${key}.f`, peers.length);
    peers.forEach((p, i) => added.push({ ip: p.ip, port: p.port, flags: flags ? flags[i] : 0 }));
  }
  for (const [key, entry, decode] of [
    ['dropped', 6, decodeCompactPeers],
    ['dropped6', 18, decodeCompactPeers6],
  ] as const) {
    const b = list(d, key, entry);
    if (b) for (const p of decode(b)) dropped.push({ ip: p.ip, port: p.port });
  }
  return { added, dropped };
}
