/**
 * BEP 10 extended handshake: the bencoded dictionary sent as extended message 0 right after the BitTorrent
 * handshake, and the id bookkeeping both sides need afterwards.
 *
 * Owns: encoding our handshake, decoding theirs (tolerant of unknown keys, strict about the types and
 * bounds of the keys we use), and the per-connection maps between extension names and message ids
 * (`applyRemoteHandshake`, `remoteIdFor`, `localNameFor`). Does not own: the envelope
 * `<len><id=20><ext_id:1><payload>` (wire-codec.ts), the reserved bit (wire-codec.ts `makeReserved`), the
 * payloads of the extensions themselves (ut-metadata.ts, ut-pex.ts) or what a connection does with them.
 *
 * Keys (all optional, BEP 10 / 9 / 21 / MSE):
 *   m              dict name → id: the ids *we* must use when sending to this peer; 0 disables
 *   p              int: the sender's TCP listen port
 *   v              string: client name and version (UTF-8)
 *   reqq           int: requests the sender queues without dropping (libtorrent's default is 250)
 *   metadata_size  int: bytes of the info dictionary (BEP 9)
 *   yourip         4 or 16 bytes: the receiver's address as the sender sees it
 *   ipv4 / ipv6    4 / 16 bytes: the sender's own addresses
 *   upload_only    int: the sender is a seed (BEP 21)
 *   e              int: the sender prefers encrypted connections (MSE)
 *
 * Lenient where real clients differ and nothing is at stake: `p` = 0 and `metadata_size` = 0 mean
 * "not given"; entries of `m` we do not know are ignored whatever their value; `v` is decoded as UTF-8
 * with invalid bytes replaced and control characters masked (it ends up in logs). Everything else that
 * is the wrong type or out of range is an `ExtensionError`: the peer is closed.
 *
 * The 32 MiB bound on `metadata_size` is not checked here: a peer that claims more is struck by the
 * metadata exchange (src/core/metadata-exchange.ts), which also handles peers that disagree.
 *
 * @example
 *   const bytes = encodeExtensionHandshake(ourHandshake({ port: 6881, metadataSize: info.length }));
 *   const theirs = decodeExtensionHandshake(payload); // { m: Map { 'ut_metadata' => 3 }, reqq: 250, ... }
 *   let ids = applyRemoteHandshake(new Map(), theirs);
 *   remoteIdFor(ids, 'ut_metadata'); // 3: send our ut_metadata messages with ext_id 3
 *   localNameFor(OUR_EXTENSION_IDS, 1); // 'ut_metadata': what an incoming ext_id 1 is
 */
import * as net from 'node:net';
import { BDict, BValue, encode, get, isBytes, isDict, isInt } from './bencode';
import { ExtensionError, decodePayloadDict } from './extension-error';
import { compactPeer, decodeCompactPeers, decodeCompactPeers6 } from './compact-peers';

export const UT_METADATA = 'ut_metadata';
export const UT_PEX = 'ut_pex';
/** Extended message id 0 is the handshake itself. */
export const EXTENDED_HANDSHAKE_ID = 0;
/** The ids peers must use to send us each extension (ids are local to the receiver). */
export const OUR_EXTENSION_IDS: ReadonlyMap<string, number> = new Map([
  [UT_METADATA, 1],
  [UT_PEX, 2],
]);
/** What we assume of a peer that declares no `reqq` (BEP 10: libtorrent's default). */
export const DEFAULT_REQQ = 250;
/** Largest extended handshake we decode; real ones are under 1 KiB. */
export const MAX_HANDSHAKE_BYTES = 16 * 1024;
/** Longest `v` we accept, in bytes. */
export const MAX_CLIENT_NAME_BYTES = 256;
const KNOWN_EXTENSIONS: ReadonlySet<string> = new Set([UT_METADATA, UT_PEX]);
const MAX_EXTENSION_NAME_BYTES = 64;

export interface ExtensionHandshake {
  /** Extension name → the id to send it with (0: disabled). Only well-formed entries are kept. */
  m: ReadonlyMap<string, number>;
  v?: string;
  p?: number;
  reqq?: number;
  metadataSize?: number;
  yourip?: string;
  ipv4?: string;
  ipv6?: string;
  uploadOnly?: boolean;
  encryption?: boolean;
}

const fail = (code: ConstructorParameters<typeof ExtensionError>[1], detail: string): never => {
  throw new ExtensionError('handshake', code, detail);
};

function intOf(d: BDict, key: string): number | undefined {
  const v = get(d, key);
  if (v === undefined) return undefined;
  if (!isInt(v)) return fail('bad-type', `${key} is not an integer`);
  if (typeof v === 'bigint') return fail('out-of-range', `${key} ${v} is out of range`);
  return v;
}

function bytesOf(d: BDict, key: string): Buffer | undefined {
  const v = get(d, key);
  if (v === undefined) return undefined;
  if (!isBytes(v)) return fail('bad-type', `${key} is not a byte string`);
  return v;
}

/** A 4- or 16-byte compact address as text. */
export function ipFromBytes(b: Buffer): string {
  const withPort = Buffer.concat([b, Buffer.alloc(2)]);
  if (b.length === 4) return decodeCompactPeers(withPort)[0].ip;
  if (b.length === 16) return decodeCompactPeers6(withPort)[0].ip;
  throw new RangeError(`an address is 4 or 16 bytes, not ${b.length}`);
}

/** Text address → 4 or 16 bytes; undefined when it is not an IP literal. */
export function ipToBytes(ip: string): Buffer | undefined {
  const c = compactPeer(ip, 0);
  return c === '' ? undefined : Buffer.from(c.slice(0, -2), 'latin1');
}

function addressOf(d: BDict, key: string, lengths: readonly number[]): string | undefined {
  const b = bytesOf(d, key);
  if (b === undefined) return undefined;
  if (!lengths.includes(b.length)) return fail('out-of-range', `${key} is ${b.length} bytes`);
  return ipFromBytes(b);
}

function clientName(b: Buffer): string {
  if (b.length > MAX_CLIENT_NAME_BYTES) fail('out-of-range', `v is ${b.length} bytes`);
  // eslint-disable-next-line no-control-regex -- masking control characters is the point
  return b.toString('utf8').replace(/[\u0000-\u001f\u007f-\u009f]/g, '?');
}

function decodeM(value: BValue): Map<string, number> {
  if (!isDict(value)) return fail('bad-type', 'm is not a dictionary');
  const out = new Map<string, number>();
  const owner = new Map<number, string>();
  for (const [name, id] of value) {
    const known = KNOWN_EXTENSIONS.has(name);
    const valid = typeof id === 'number' && id >= 0 && id <= 255;
    if (!known && (!valid || name.length > MAX_EXTENSION_NAME_BYTES)) continue; // not ours to judge
    if (!isInt(id)) return fail('bad-type', `m.${name} is not an integer`);
    if (!valid) return fail('out-of-range', `m.${name} = ${id} is not a message id`);
    if (id !== 0) {
      const other = owner.get(id);
      if (other !== undefined && (known || KNOWN_EXTENSIONS.has(other))) {
        return fail('duplicate-id', `m.${name} and m.${other} share id ${id}`);
      }
      owner.set(id, name);
    }
    out.set(name, id);
  }
  return out;
}

/** Decodes a peer's extended handshake (the payload after `<ext_id=0>`). Throws ExtensionError. */
export function decodeExtensionHandshake(payload: Buffer): ExtensionHandshake {
  const { dict: d } = decodePayloadDict('handshake', payload, { maxBytes: MAX_HANDSHAKE_BYTES });
  const mValue = get(d, 'm');
  const hs: ExtensionHandshake = { m: mValue === undefined ? new Map() : decodeM(mValue) };

  const p = intOf(d, 'p');
  if (p !== undefined && (p < 0 || p > 0xffff)) fail('out-of-range', `p = ${p} is not a port`);
  if (p) hs.p = p;

  const v = bytesOf(d, 'v');
  if (v !== undefined) hs.v = clientName(v);

  const reqq = intOf(d, 'reqq');
  if (reqq !== undefined && (reqq < 1 || reqq > 0x7fffffff)) fail('out-of-range', `reqq = ${reqq}`);
  if (reqq !== undefined) hs.reqq = reqq;

  const size = intOf(d, 'metadata_size');
  if (size !== undefined && size < 0) fail('out-of-range', `metadata_size = ${size}`);
  if (size) hs.metadataSize = size;

  const yourip = addressOf(d, 'yourip', [4, 16]);
  if (yourip !== undefined) hs.yourip = yourip;
  const ipv4 = addressOf(d, 'ipv4', [4]);
  if (ipv4 !== undefined) hs.ipv4 = ipv4;
  const ipv6 = addressOf(d, 'ipv6', [16]);
  if (ipv6 !== undefined) hs.ipv6 = ipv6;

  const uploadOnly = intOf(d, 'upload_only');
  if (uploadOnly !== undefined) hs.uploadOnly = uploadOnly !== 0;
  const e = intOf(d, 'e');
  if (e !== undefined) hs.encryption = e !== 0;
  return hs;
}

/** What we put in our handshake (`ipv4` / `ipv6` we do not send); see `ourHandshake` for the usual one. */
export type ExtensionHandshakeInput = Omit<ExtensionHandshake, 'ipv4' | 'ipv6'>;

const unencodable = (detail: string): never => fail('unencodable', detail);

/** Encodes a handshake payload (bencoded, keys sorted). Throws ExtensionError `unencodable`. */
export function encodeExtensionHandshake(h: ExtensionHandshakeInput): Buffer {
  const m = new Map<string, BValue>();
  const used = new Set<number>();
  for (const [name, id] of h.m) {
    if (!Number.isInteger(id) || id < 0 || id > 255) unencodable(`m.${name} = ${id}`);
    if (id !== 0 && used.has(id)) unencodable(`id ${id} used twice in m`);
    used.add(id);
    m.set(Buffer.from(name, 'utf8').toString('latin1'), id);
  }
  const d = new Map<string, BValue>([['m', m]]);
  if (h.p !== undefined) {
    if (!Number.isInteger(h.p) || h.p < 1 || h.p > 0xffff) unencodable(`p = ${h.p}`);
    d.set('p', h.p);
  }
  if (h.v !== undefined) {
    const v = Buffer.from(h.v, 'utf8');
    if (v.length > MAX_CLIENT_NAME_BYTES) unencodable(`v is ${v.length} bytes`);
    d.set('v', v);
  }
  if (h.reqq !== undefined) {
    if (!Number.isInteger(h.reqq) || h.reqq < 1 || h.reqq > 0x7fffffff) unencodable(`reqq = ${h.reqq}`);
    d.set('reqq', h.reqq);
  }
  if (h.metadataSize !== undefined) {
    if (!Number.isSafeInteger(h.metadataSize) || h.metadataSize < 1)
      unencodable(`metadata_size = ${h.metadataSize}`);
    d.set('metadata_size', h.metadataSize);
  }
  if (h.yourip !== undefined) {
    const b = net.isIP(h.yourip) ? ipToBytes(h.yourip) : undefined;
    if (!b) return unencodable(`yourip ${h.yourip} is not an IP address`);
    d.set('yourip', b);
  }
  if (h.uploadOnly !== undefined) d.set('upload_only', h.uploadOnly ? 1 : 0);
  if (h.encryption !== undefined) d.set('e', h.encryption ? 1 : 0);
  return encode(d);
}

/**
 * Our handshake for one connection. Private torrents (BEP 27) offer neither PEX nor metadata: peers of
 * a private swarm come from its tracker only, and its info dictionary is not handed to strangers.
 */
export function ourHandshake(o: {
  /** Our listen port (omitted when we do not listen). */
  port?: number;
  /** Bytes of the info dictionary, once we have it. */
  metadataSize?: number;
  private?: boolean;
  reqq?: number;
  clientName?: string;
  /** The peer's address as we see it (BEP 10 `yourip`). */
  peerIp?: string;
  seed?: boolean;
  /** We prefer encrypted connections (MSE `e`). */
  encryption?: boolean;
}): ExtensionHandshakeInput {
  const m = new Map<string, number>();
  if (!o.private) for (const [name, id] of OUR_EXTENSION_IDS) m.set(name, id);
  return {
    m,
    p: o.port,
    v: o.clientName,
    reqq: o.reqq ?? DEFAULT_REQQ,
    metadataSize: o.private ? undefined : o.metadataSize,
    yourip: o.peerIp !== undefined && net.isIP(o.peerIp) ? o.peerIp : undefined,
    uploadOnly: o.seed ? true : undefined,
    encryption: o.encryption ? true : undefined,
  };
}

/**
 * The peer's current name → id map after one more handshake. BEP 10 makes later handshakes additive:
 * names not mentioned keep their id, an id of 0 turns that extension off.
 */
export function applyRemoteHandshake(
  previous: ReadonlyMap<string, number>,
  hs: Pick<ExtensionHandshake, 'm'>,
): Map<string, number> {
  const next = new Map(previous);
  for (const [name, id] of hs.m) {
    if (id === 0) next.delete(name);
    else next.set(name, id);
  }
  return next;
}

/** The ext_id to send `name` to this peer with, or undefined when the peer does not support it. */
export function remoteIdFor(remote: ReadonlyMap<string, number>, name: string): number | undefined {
  const id = remote.get(name);
  return id === undefined || id === 0 ? undefined : id;
}

/** The extension an incoming ext_id stands for (our own ids), or undefined: an unknown id is ignored. */
export function localNameFor(local: ReadonlyMap<string, number>, id: number): string | undefined {
  if (id === EXTENDED_HANDSHAKE_ID) return undefined;
  for (const [name, own] of local) if (own === id) return name;
  return undefined;
}

/** How many requests to keep queued at this peer: its `reqq` (or the default), never above our cap. */
export function effectiveReqq(hs: Pick<ExtensionHandshake, 'reqq'> | undefined, cap: number): number {
  return Math.max(1, Math.min(hs?.reqq ?? DEFAULT_REQQ, cap));
}
