/**
 * Percent-encoding as trackers see it: bytes, not UTF-8. `info_hash` and `peer_id` are 20 raw bytes
 * percent-encoded, so they are decoded here byte by byte: URLSearchParams would decode them as UTF-8
 * and replace invalid sequences, losing bytes.
 *
 * Owns: byte-exact percent decoding and encoding. Does not own: which parameters a query holds or
 * what they mean (tracker-codec.ts, announce-query.ts).
 *
 * @example
 *   percentDecode('%AB+x')            // <Buffer ab 20 78>
 *   percentEncode(Buffer.of(0xab, 0x41)) // '%ABA'
 */

/** The value of a hex digit's character code, or -1 when it is not one. */
export function hexVal(c: number): number {
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  if (c >= 0x61 && c <= 0x66) return c - 0x57;
  if (c >= 0x41 && c <= 0x46) return c - 0x37;
  return -1;
}

/** Percent-decode to raw bytes; `+` is a space (form encoding); a stray `%` stays literal. */
export function percentDecode(s: string): Buffer {
  // Fast path: nothing to decode.
  if (s.indexOf('%') < 0 && s.indexOf('+') < 0) return Buffer.from(s, 'latin1');
  const out = Buffer.allocUnsafe(s.length);
  let n = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 0x25 && i + 2 < s.length) {
      const h = hexVal(s.charCodeAt(i + 1));
      const l = hexVal(s.charCodeAt(i + 2));
      if (h >= 0 && l >= 0) {
        out[n++] = (h << 4) | l;
        i += 2;
        continue;
      }
    }
    out[n++] = c === 0x2b ? 0x20 : c & 0xff;
  }
  return out.subarray(0, n);
}

/** Percent-encode bytes the way clients do: unreserved characters stay, everything else is %XX. */
export function percentEncode(bytes: Uint8Array): string {
  let s = '';
  for (const b of bytes) {
    const unreserved =
      (b >= 0x30 && b <= 0x39) ||
      (b >= 0x41 && b <= 0x5a) ||
      (b >= 0x61 && b <= 0x7a) ||
      b === 0x2d ||
      b === 0x2e ||
      b === 0x5f ||
      b === 0x7e;
    s += unreserved ? String.fromCharCode(b) : '%' + (b < 16 ? '0' : '') + b.toString(16).toUpperCase();
  }
  return s;
}
