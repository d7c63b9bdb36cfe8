/**
 * KRPC codec (BEP 5, with BEP 32 IPv6 node info and the BEP 42 `ip` / BEP 43 `ro` fields): the
 * bencoded dictionaries DHT nodes exchange over UDP.
 *
 * Owns: turning one datagram into a typed message and typed messages into bytes. The message types,
 * limits and `KrpcError` are in krpc-messages.ts, compact node info and `values` in krpc-compact.ts;
 * both are re-exported here, the one import for the codec. Does not own: which transaction a
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
  compactAddress,
  decodeCompactAddress,
  decodeCompactNodes,
  decodeValues,
  encodeCompactNodes,
  encodeValues,
} from './krpc-compact';
import {
  KrpcError,
  KrpcErrorCode,
  KrpcMessage,
  KrpcProblem,
  KrpcQuery,
  KrpcResponse,
  MAX_KRPC_BYTES,
  MAX_TOKEN_BYTES,
  MAX_TRANSACTION_BYTES,
  NODE_ID_LENGTH,
  NodeAddress,
  Want,
} from './krpc-messages';

export * from './krpc-compact';
export * from './krpc-messages';

/** Longest error message or client version string we keep. */
const MAX_TEXT_BYTES = 256;

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
