/**
 * KRPC's compact strings: node info (`<id:20><ipv4:4><port:2>`, 26 bytes; `<id:20><ipv6:16><port:2>`,
 * 38 bytes, BEP 32), `values` (a list of 6- or 18-byte `<ip><port>` peers) and the BEP 42 `ip` field.
 *
 * Owns: encoding and decoding those strings, rejecting bad lengths with `KrpcError`. Does not own:
 * the message around them (krpc.ts) or the plain compact peer form (compact-peers.ts, used here).
 */
import * as net from 'node:net';
import { BValue, isBytes, isList } from './bencode';
import {
  PeerAddress,
  compactPeer,
  decodeCompactPeers,
  decodeCompactPeers6,
  writeIpv6,
} from './compact-peers';
import { KrpcError, NODE_ID_LENGTH, NodeAddress, NodeContact } from './krpc-messages';

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
