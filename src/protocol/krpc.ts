/**
 * KRPC codec (BEP 5, with BEP 32 IPv6 node info and the BEP 42 `ip` / BEP 43 `ro` fields): the
 * bencoded dictionaries DHT nodes exchange over UDP.
 *
 * Owns: turning one datagram into a typed message and typed messages into bytes; compact node info
 * (`<id:20><ipv4:4><port:2>`, 26 bytes; `<id:20><ipv6:16><port:2>`, 38 bytes) and compact peers
 * (`values`: a list of `<ip><port>` strings of 6 or 18 bytes). Does not own: which transaction a
 * response answers (a response carries no method name, so its fields are decoded generically and the
 * node checks them against what it asked), tokens, or the routing table.
 *
 * Hostile input meets limits before any work: the datagram size, then bencode's depth and value
 * counts. Every malformed input throws `KrpcError` (and nothing else). When the bad message was a
 * query whose transaction id could be read, the error says which KRPC error to answer with
 * (`reply`: 203 protocol error, 204 method unknown); otherwise the node stays silent.
 *
 * Frames:
 *   query    d1:ad2:id20:…e1:q4:ping1:t2:aa1:y1:qe
 *   response d1:rd2:id20:…5:nodes26n:…e1:t2:aa1:y1:re
 *   error    d1:eli203e14:Protocol Errore1:t2:aa1:y1:ee
 *
 * @example
 *   const bytes = encodeQuery(Buffer.from('aa'), { method: 'ping', id });
 *   const m = decodeKrpc(bytes); // { y: 'q', t: <aa>, ro: false, query: { method: 'ping', id } }
 */
import * as net from 'node:net';
import {
  BDict,
  BValue,
  BencodeError,
  decode,
  dict,
  encode,
  get,
  isBytes,
  isDict,
  isInt,
  isList,
} from './bencode';
import {
  PeerAddress,
  compactPeer,
  decodeCompactPeers,
  decodeCompactPeers6,
  writeIpv6,
} from './compact-peers';

export const NODE_ID_LENGTH = 20;
/** Largest datagram we decode. Real messages fit one Ethernet frame; 8 KiB leaves room for long `values`. */
export const MAX_KRPC_BYTES = 8192;
/** Longest transaction id we accept (real clients use 2–4 bytes). */
export const MAX_TRANSACTION_BYTES = 16;
/** Longest token we accept or store. */
export const MAX_TOKEN_BYTES = 64;
/** Longest error message or client version string we keep. */
const MAX_TEXT_BYTES = 256;

/** KRPC error codes (BEP 5). */
export const KrpcErrorCode = {
  Generic: 201,
  Server: 202,
  Protocol: 203,
  MethodUnknown: 204,
} as const;
export type KrpcErrorCodeValue = (typeof KrpcErrorCode)[keyof typeof KrpcErrorCode];

export interface NodeAddress {
  ip: string;
  port: number;
}

export interface NodeContact extends NodeAddress {
  id: Buffer;
}

/** BEP 32 `want`: which node families a requester wants back. */
export type Want = 'n4' | 'n6';

export type KrpcQuery =
  | { method: 'ping'; id: Buffer }
  | { method: 'find_node'; id: Buffer; target: Buffer; want?: Want[] }
  | { method: 'get_peers'; id: Buffer; infoHash: Buffer; want?: Want[] }
  | {
      method: 'announce_peer';
      id: Buffer;
      infoHash: Buffer;
      /** The peer's TCP port (ignored by the receiver when `impliedPort`). */
      port: number;
      token: Buffer;
      /** Use the datagram's source port instead of `port` (BEP 5, for peers behind NAT using uTP). */
      impliedPort: boolean;
    }
  /** A method we do not know; `target` is its `target` or `info_hash` argument, when 20 bytes. */
  | { method: 'unknown'; name: string; id: Buffer; target?: Buffer };

export type KrpcMethod = KrpcQuery['method'];

/** Response fields: which ones must be present depends on the query, which the node checks. */
export interface KrpcResponse {
  id: Buffer;
  nodes?: NodeContact[];
  nodes6?: NodeContact[];
  values?: PeerAddress[];
  token?: Buffer;
}

interface Envelope {
  /** Transaction id, echoed in the answer. */
  t: Buffer;
  /** Client version (`v`), when sent. */
  v?: Buffer;
}

export type KrpcMessage =
  | (Envelope & { y: 'q'; query: KrpcQuery; /** BEP 43 read-only node */ ro: boolean })
  | (Envelope & {
      y: 'r';
      response: KrpcResponse;
      /** BEP 42: our address as the sender saw it */ ip?: NodeAddress;
    })
  | (Envelope & { y: 'e'; error: { code: number; message: string } });

export type KrpcProblem =
  | 'too-large'
  | 'bencode'
  | 'not-dict'
  | 'bad-transaction'
  | 'bad-type'
  | 'bad-method'
  | 'missing-args'
  | 'bad-id'
  | 'bad-target'
  | 'bad-info-hash'
  | 'bad-port'
  | 'bad-token'
  | 'bad-want'
  | 'bad-response'
  | 'bad-nodes'
  | 'bad-values'
  | 'bad-error';

/** A malformed KRPC message. `t` is set when the transaction id could be read. */
export class KrpcError extends Error {
  constructor(
    readonly problem: KrpcProblem,
    detail: string,
    /** Transaction id of the bad message, when it could be read. */
    readonly t?: Buffer,
    /** For a bad query: the error to answer with. Undefined: answer nothing. */
    readonly reply?: KrpcErrorCodeValue,
  ) {
    super(`krpc: ${detail}`);
    this.name = 'KrpcError';
  }
}

// ---- decoding ----

/** Decode one datagram. Throws KrpcError (and nothing else) on malformed input. */
export function decodeKrpc(datagram: Buffer): KrpcMessage {
  if (datagram.length > MAX_KRPC_BYTES)
    throw new KrpcError('too-large', `datagram of ${datagram.length} bytes`);
  let root: BValue;
  try {
    // Depth 4 covers message → a/r → values/want → entry; 2048 values bound the work on hostile input.
    root = decode(datagram, { maxDepth: 4, maxValues: 2048 });
  } catch (err) {
    if (err instanceof BencodeError) throw new KrpcError('bencode', err.message);
    throw err;
  }
  if (!isDict(root)) throw new KrpcError('not-dict', 'message is not a dictionary');
  const t = get(root, 't');
  if (!isBytes(t) || t.length === 0 || t.length > MAX_TRANSACTION_BYTES)
    throw new KrpcError('bad-transaction', 'missing or bad transaction id');
  const vRaw = get(root, 'v');
  const v = isBytes(vRaw) && vRaw.length <= MAX_TEXT_BYTES ? vRaw : undefined;
  const y = text(get(root, 'y'));
  if (y === 'q')
    return { y, t, v, ro: isInt(get(root, 'ro')) && Number(get(root, 'ro')) === 1, query: query(root, t) };
  if (y === 'r') {
    const r = get(root, 'r');
    if (!isDict(r)) throw new KrpcError('bad-response', 'response without an r dictionary', t);
    const ipRaw = get(root, 'ip');
    const ip = isBytes(ipRaw) ? decodeCompactAddress(ipRaw) : undefined;
    return { y, t, v, response: response(r, t), ...(ip ? { ip } : {}) };
  }
  if (y === 'e') return { y, t, v, error: errorBody(get(root, 'e'), t) };
  throw new KrpcError('bad-type', `unknown message type ${JSON.stringify(y ?? null)}`, t);
}

function text(v: BValue | undefined): string | undefined {
  return isBytes(v) && v.length <= MAX_TEXT_BYTES ? v.toString('latin1') : undefined;
}

function query(root: BDict, t: Buffer): KrpcQuery {
  const q = get(root, 'q');
  if (!isBytes(q) || q.length === 0 || q.length > 64)
    throw new KrpcError('bad-method', 'missing or bad method name', t, KrpcErrorCode.Protocol);
  const name = q.toString('latin1');
  const a = get(root, 'a');
  if (!isDict(a)) throw new KrpcError('missing-args', `${name} without arguments`, t, KrpcErrorCode.Protocol);
  const id = id20(a, 'id', 'bad-id', t);
  switch (name) {
    case 'ping':
      return { method: 'ping', id };
    case 'find_node':
      return { method: 'find_node', id, target: id20(a, 'target', 'bad-target', t), ...want(a, t) };
    case 'get_peers':
      return { method: 'get_peers', id, infoHash: id20(a, 'info_hash', 'bad-info-hash', t), ...want(a, t) };
    case 'announce_peer': {
      const infoHash = id20(a, 'info_hash', 'bad-info-hash', t);
      const ip = get(a, 'implied_port');
      const impliedPort = isInt(ip) && Number(ip) === 1;
      const p = get(a, 'port');
      const port = isInt(p) ? Number(p) : NaN;
      // With implied_port the port argument is ignored, so it may be absent or 0.
      if (!impliedPort && !(Number.isInteger(port) && port > 0 && port <= 0xffff))
        throw new KrpcError('bad-port', 'announce_peer with a bad port', t, KrpcErrorCode.Protocol);
      const token = get(a, 'token');
      if (!isBytes(token) || token.length === 0 || token.length > MAX_TOKEN_BYTES)
        throw new KrpcError('bad-token', 'announce_peer without a token', t, KrpcErrorCode.Protocol);
      return { method: 'announce_peer', id, infoHash, port: impliedPort ? 0 : port, token, impliedPort };
    }
    default: {
      const target = get(a, 'target') ?? get(a, 'info_hash');
      return {
        method: 'unknown',
        name,
        id,
        ...(isBytes(target) && target.length === NODE_ID_LENGTH ? { target } : {}),
      };
    }
  }
}

function id20(d: BDict, key: string, problem: KrpcProblem, t: Buffer): Buffer {
  const v = get(d, key);
  if (!isBytes(v) || v.length !== NODE_ID_LENGTH)
    throw new KrpcError(problem, `${key} is not ${NODE_ID_LENGTH} bytes`, t, KrpcErrorCode.Protocol);
  return v;
}

function want(a: BDict, t: Buffer): { want?: Want[] } {
  const w = get(a, 'want');
  if (w === undefined) return {};
  if (!isList(w) || w.length > 8)
    throw new KrpcError('bad-want', 'want is not a short list', t, KrpcErrorCode.Protocol);
  const out: Want[] = [];
  for (const x of w) {
    const s = text(x);
    if (s === 'n4' || s === 'n6') out.push(s);
    // Unknown families are ignored (BEP 32 leaves room for more).
  }
  return { want: out };
}

function response(r: BDict, t: Buffer): KrpcResponse {
  const id = get(r, 'id');
  if (!isBytes(id) || id.length !== NODE_ID_LENGTH)
    throw new KrpcError('bad-id', `response id is not ${NODE_ID_LENGTH} bytes`, t);
  const out: KrpcResponse = { id };
  const nodes = get(r, 'nodes');
  if (nodes !== undefined) {
    if (!isBytes(nodes)) throw new KrpcError('bad-nodes', 'nodes is not a string', t);
    out.nodes = decodeCompactNodes(nodes, 4, t);
  }
  const nodes6 = get(r, 'nodes6');
  if (nodes6 !== undefined) {
    if (!isBytes(nodes6)) throw new KrpcError('bad-nodes', 'nodes6 is not a string', t);
    out.nodes6 = decodeCompactNodes(nodes6, 6, t);
  }
  const values = get(r, 'values');
  if (values !== undefined) out.values = decodeValues(values, t);
  const token = get(r, 'token');
  if (token !== undefined) {
    if (!isBytes(token) || token.length === 0 || token.length > MAX_TOKEN_BYTES)
      throw new KrpcError('bad-token', 'bad token in response', t);
    out.token = token;
  }
  return out;
}

function errorBody(e: BValue | undefined, t: Buffer): { code: number; message: string } {
  if (!isList(e) || e.length < 1 || !isInt(e[0]))
    throw new KrpcError('bad-error', 'error is not a [code, message] list', t);
  const message = isBytes(e[1]) ? e[1].subarray(0, MAX_TEXT_BYTES).toString('utf8') : '';
  const code = Number(e[0]);
  return { code: Number.isSafeInteger(code) ? code : 0, message };
}

/** Decode compact `values` (BEP 5 peers: 6-byte IPv4 or 18-byte IPv6 entries). */
export function decodeValues(values: BValue, t?: Buffer): PeerAddress[] {
  if (!isList(values)) throw new KrpcError('bad-values', 'values is not a list', t);
  const out: PeerAddress[] = [];
  for (const v of values) {
    if (!isBytes(v) || (v.length !== 6 && v.length !== 18))
      throw new KrpcError('bad-values', 'a value is not a 6- or 18-byte compact peer', t);
    out.push(...(v.length === 6 ? decodeCompactPeers(v) : decodeCompactPeers6(v)));
  }
  return out;
}

/** Decode compact node info: 26-byte (IPv4) or 38-byte (IPv6, BEP 32) entries. */
export function decodeCompactNodes(b: Buffer, family: 4 | 6, t?: Buffer): NodeContact[] {
  const size = family === 4 ? 26 : 38;
  if (b.length % size !== 0)
    throw new KrpcError(
      'bad-nodes',
      `nodes${family === 6 ? '6' : ''} length ${b.length} is not a multiple of ${size}`,
      t,
    );
  const out: NodeContact[] = [];
  for (let o = 0; o < b.length; o += size) {
    const addr = decodeCompactAddress(b.subarray(o + NODE_ID_LENGTH, o + size)) as NodeAddress;
    // Copy the id: a subarray would keep the whole datagram alive for as long as the node is known.
    out.push({ id: Buffer.from(b.subarray(o, o + NODE_ID_LENGTH)), ip: addr.ip, port: addr.port });
  }
  return out;
}

/** `<ip><port>` of 6 or 18 bytes → address; anything else → undefined. */
export function decodeCompactAddress(b: Buffer): NodeAddress | undefined {
  if (b.length === 6) return decodeCompactPeers(b)[0];
  if (b.length === 18) return decodeCompactPeers6(b)[0];
  return undefined;
}

// ---- encoding ----

export interface EncodeOptions {
  /** Client version string (`v`). */
  v?: Buffer;
}

/** Encode a query. `t` is the transaction id the answer will echo. */
export function encodeQuery(t: Buffer, q: KrpcQuery, opts: EncodeOptions & { ro?: boolean } = {}): Buffer {
  let a: Record<string, BValue | undefined>;
  switch (q.method) {
    case 'ping':
      a = { id: q.id };
      break;
    case 'find_node':
      a = { id: q.id, target: q.target, want: wantList(q.want) };
      break;
    case 'get_peers':
      a = { id: q.id, info_hash: q.infoHash, want: wantList(q.want) };
      break;
    case 'announce_peer':
      a = {
        id: q.id,
        info_hash: q.infoHash,
        port: q.port,
        token: q.token,
        implied_port: q.impliedPort ? 1 : 0,
      };
      break;
    case 'unknown':
      a = { id: q.id, target: q.target };
      break;
  }
  const name = q.method === 'unknown' ? q.name : q.method;
  return encode(
    dict({ t, y: latin1('q'), q: latin1(name), a: dict(a), v: opts.v, ro: opts.ro ? 1 : undefined }),
  );
}

const latin1 = (s: string): Buffer => Buffer.from(s, 'latin1');

function wantList(w: Want[] | undefined): BValue | undefined {
  return w ? w.map((x) => Buffer.from(x, 'latin1')) : undefined;
}

/** Encode a response; `ip` is the requester's address as we saw it (BEP 42), sent when given. */
export function encodeResponse(
  t: Buffer,
  r: KrpcResponse,
  opts: EncodeOptions & { ip?: NodeAddress } = {},
): Buffer {
  const body: Record<string, BValue | undefined> = {
    id: r.id,
    nodes: r.nodes ? encodeCompactNodes(r.nodes, 4) : undefined,
    nodes6: r.nodes6 ? encodeCompactNodes(r.nodes6, 6) : undefined,
    token: r.token,
    values: r.values ? encodeValues(r.values) : undefined,
  };
  const ip = opts.ip ? compactAddress(opts.ip) : undefined;
  return encode(dict({ t, y: latin1('r'), r: dict(body), v: opts.v, ip: ip?.length ? ip : undefined }));
}

/** Encode an error reply (`e`: [code, message]). */
export function encodeError(t: Buffer, code: number, message: string, opts: EncodeOptions = {}): Buffer {
  return encode(dict({ t, y: latin1('e'), e: [code, Buffer.from(message, 'utf8')], v: opts.v }));
}

/** Compact node info for the given family; contacts of the other family are skipped. */
export function encodeCompactNodes(nodes: readonly NodeContact[], family: 4 | 6): Buffer {
  const size = family === 4 ? 26 : 38;
  const out = Buffer.alloc(nodes.length * size);
  let o = 0;
  for (const n of nodes) {
    if (n.id.length !== NODE_ID_LENGTH) continue;
    if (family === 4 ? !net.isIPv4(n.ip) : !net.isIPv6(n.ip)) continue;
    n.id.copy(out, o);
    if (family === 4) out.write(compactPeer(n.ip, n.port), o + NODE_ID_LENGTH, 'latin1');
    else {
      writeIpv6(n.ip, out, o + NODE_ID_LENGTH);
      out.writeUInt16BE(n.port, o + 36);
    }
    o += size;
  }
  return o === out.length ? out : out.subarray(0, o);
}

/** Compact peers as BEP 5 `values`: one 6- or 18-byte string per peer. */
export function encodeValues(peers: readonly PeerAddress[]): Buffer[] {
  const out: Buffer[] = [];
  for (const p of peers) {
    const c = p.compact ?? compactPeer(p.ip, p.port);
    if (c.length === 6 || c.length === 18) out.push(Buffer.from(c, 'latin1'));
  }
  return out;
}

/** `<ip><port>` (6 or 18 bytes) for an address; an empty buffer for anything that is not an IP. */
export function compactAddress(a: NodeAddress): Buffer {
  return Buffer.from(compactPeer(a.ip, a.port), 'latin1');
}
