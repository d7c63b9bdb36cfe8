/**
 * IP addresses as 16 bytes (IPv4 as `::ffff:a.b.c.d`) and back, for the tracker's packed records,
 * compact peer lists and Redis. Pure; no lookups. Text that is not an IP address gives undefined.
 *
 * @example
 *   ipToBytes('10.0.0.1')       // { addr: <00 .. ff ff 0a 00 00 01>, v6: false }
 *   bytesToIp(addr, false)      // '10.0.0.1'
 */
import * as net from 'node:net';
import { writeIpv6 } from './compact-peers';

export interface Ip16 {
  addr: Buffer;
  v6: boolean;
}

/** Parse a dotted quad fast (the hot path: every IPv4 announce); undefined when it is not one. */
function quad(ip: string, out: Buffer, at: number): boolean {
  let part = 0;
  let digits = 0;
  let k = 0;
  for (let i = 0; i <= ip.length; i++) {
    const c = i < ip.length ? ip.charCodeAt(i) : 0x2e;
    if (c === 0x2e) {
      if (digits === 0 || part > 255 || k > 3) return false;
      out[at + k++] = part;
      part = 0;
      digits = 0;
    } else if (c >= 0x30 && c <= 0x39 && digits < 3) {
      part = part * 10 + (c - 0x30);
      digits++;
    } else return false;
  }
  return k === 4;
}

/**
 * Write `ip` as 16 bytes into `out` (IPv4 as ::ffff:a.b.c.d): 4 or 6 for its family, 0 when it is
 * not an address (then `out` holds garbage). No allocation: the announce path calls it every time.
 */
export function ipInto(ip: string, out: Buffer): 0 | 4 | 6 {
  if (quad(ip, out, 12)) {
    out.fill(0, 0, 10);
    out[10] = 0xff;
    out[11] = 0xff;
    return 4;
  }
  if (!net.isIPv6(ip)) return 0;
  writeIpv6(ip, out, 0);
  // A v4-mapped address is the IPv4 peer it names.
  const mapped = out.readUInt32BE(0) === 0 && out.readUInt32BE(4) === 0 && out.readUInt32BE(8) === 0xffff;
  return mapped ? 4 : 6;
}

export function ipToBytes(ip: string): Ip16 | undefined {
  const addr = Buffer.alloc(16);
  const family = ipInto(ip, addr);
  return family === 0 ? undefined : { addr, v6: family === 6 };
}

export function bytesToIp(addr: Buffer, v6: boolean): string {
  if (!v6) return `${addr[12]}.${addr[13]}.${addr[14]}.${addr[15]}`;
  const g: string[] = [];
  for (let i = 0; i < 8; i++) g.push(addr.readUInt16BE(i * 2).toString(16));
  // The WHATWG URL parser prints IPv6 canonically (RFC 5952).
  return new URL(`http://[${g.join(':')}]/`).hostname.slice(1, -1);
}

/** `ip:port`, or `[ip]:port` for IPv6 (peer labels in events and the console). */
export function peerLabel(ip: string, port: number): string {
  return ip.includes(':') ? `[${ip}]:${port}` : `${ip}:${port}`;
}
