/**
 * Peer addresses and their compact forms: BEP 23 `<ipv4:4><port:2>` and BEP 7 `<ipv6:16><port:2>`
 * entries, ports big-endian, plus the IPv6 text-to-bytes writer they need.
 *
 * Owns: `PeerAddress`, encoding and decoding compact peer strings, normalising v4-mapped addresses.
 * Does not own: any tracker, PEX or DHT message around those strings (tracker-codec.ts, ut-pex.ts,
 * krpc.ts use it). Why apart: the tracker codec, PEX, the extension handshake and the DHT all speak
 * the same compact form, and none of them should depend on the HTTP tracker codec for it.
 *
 * @example
 *   compactPeer('10.0.0.1', 6881)                       // '\x0a\x00\x00\x01\x1a\xe1' (latin1)
 *   decodeCompactPeers(Buffer.from(compactPeer('10.0.0.1', 6881), 'latin1')) // [{ ip: '10.0.0.1', port: 6881 }]
 */
import * as net from 'node:net';

export interface PeerAddress {
  ip: string;
  port: number;
  peerId?: Buffer;
  /** Precomputed compact form (`<ip><port>` as a latin1 string of 6 or 18 bytes), used when present. */
  compact?: string;
}

/** `::ffff:1.2.3.4` (a v4 client on a dual-stack socket) is the IPv4 address 1.2.3.4. */
export function normalizeIp(ip: string): string {
  if (ip.startsWith('::ffff:') && net.isIPv4(ip.slice(7))) return ip.slice(7);
  return ip;
}

/** 6-byte `<ipv4><port>` entries for the v4 peers and 18-byte `<ipv6><port>` entries for the v6 ones. */
export function encodeCompactPeers(peers: readonly PeerAddress[]): { peers: Buffer; peers6: Buffer } {
  // Peers usually carry their compact form already; joining latin1 strings is the fast path.
  let v4 = '';
  let v6 = '';
  for (const p of peers) {
    const c = p.compact ?? compactPeer(p.ip, p.port);
    if (c.length === 6) v4 += c;
    else if (c.length === 18) v6 += c;
  }
  return { peers: Buffer.from(v4, 'latin1'), peers6: Buffer.from(v6, 'latin1') };
}

/** Compact `<ip><port>` as a latin1 string: 6 bytes for IPv4, 18 for IPv6, '' for anything else. */
export function compactPeer(ip: string, port: number): string {
  // Built in one piece so the result is a flat 6- or 18-byte string, not a concatenation: it is
  // kept for every tracked peer, and that is most of the tracker's memory.
  if (net.isIPv4(ip)) {
    const p = ip.split('.');
    return String.fromCharCode(+p[0], +p[1], +p[2], +p[3], port >> 8, port & 0xff);
  }
  if (net.isIPv6(ip)) {
    const b = Buffer.alloc(18);
    writeIpv6(ip, b, 0);
    b.writeUInt16BE(port, 16);
    return b.toString('latin1');
  }
  return '';
}

/** Write an IPv6 address (any textual form, incl. `::` and `::ffff:1.2.3.4`) as 16 bytes at `at`. */
export function writeIpv6(ip: string, out: Buffer, at: number): void {
  // Expand `::` and an embedded dotted quad (`::ffff:1.2.3.4`) into 8 groups.
  let s = ip;
  const pct = s.indexOf('%');
  if (pct >= 0) s = s.slice(0, pct);
  const lastColon = s.lastIndexOf(':');
  const tail = s.slice(lastColon + 1);
  if (net.isIPv4(tail)) {
    const q = tail.split('.').map(Number);
    s = `${s.slice(0, lastColon + 1)}${((q[0] << 8) | q[1]).toString(16)}:${((q[2] << 8) | q[3]).toString(16)}`;
  }
  const [head, rest] = s.split('::');
  const h = head ? head.split(':') : [];
  const r = rest !== undefined && rest !== '' ? rest.split(':') : [];
  const groups =
    rest === undefined ? h : [...h, ...new Array<string>(8 - h.length - r.length).fill('0'), ...r];
  for (let i = 0; i < 8; i++) out.writeUInt16BE(parseInt(groups[i] ?? '0', 16) || 0, at + i * 2);
}

/** Decode BEP 23 compact IPv4 peers. */
export function decodeCompactPeers(b: Buffer): PeerAddress[] {
  const out: PeerAddress[] = [];
  for (let o = 0; o + 6 <= b.length; o += 6) {
    out.push({ ip: `${b[o]}.${b[o + 1]}.${b[o + 2]}.${b[o + 3]}`, port: b.readUInt16BE(o + 4) });
  }
  return out;
}

/** Decode BEP 7 compact IPv6 peers, giving addresses in the canonical shortened form. */
export function decodeCompactPeers6(b: Buffer): PeerAddress[] {
  const out: PeerAddress[] = [];
  for (let o = 0; o + 18 <= b.length; o += 18) {
    const groups: string[] = [];
    for (let i = 0; i < 8; i++) groups.push(b.readUInt16BE(o + i * 2).toString(16));
    out.push({ ip: canonicalIpv6(groups.join(':')), port: b.readUInt16BE(o + 16) });
  }
  return out;
}

function canonicalIpv6(full: string): string {
  // The WHATWG URL parser serialises IPv6 hosts canonically (RFC 5952).
  return new URL(`http://[${full}]/`).hostname.slice(1, -1);
}
