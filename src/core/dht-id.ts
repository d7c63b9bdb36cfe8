/**
 * 160-bit DHT ids: Kademlia's XOR metric and the arithmetic the routing table and lookups need.
 *
 * Owns: comparing distances, common-prefix lengths, and making random ids inside a bucket's range.
 * Ids are 20-byte Buffers throughout; nothing here allocates except `randomIdWithPrefix`.
 *
 * @example
 *   commonPrefixBits(Buffer.alloc(20), Buffer.from('40'.padEnd(40, '0'), 'hex')) // 1
 *   compareDistance(a, b, target) < 0 // a is closer to target than b
 */

export const ID_BYTES = 20;
export const ID_BITS = 160;

/** Negative when `a` is closer to `target` than `b`, positive when farther, 0 when equal. */
export function compareDistance(a: Buffer, b: Buffer, target: Buffer): number {
  for (let i = 0; i < ID_BYTES; i++) {
    const da = a[i] ^ target[i];
    const db = b[i] ^ target[i];
    if (da !== db) return da - db;
  }
  return 0;
}

/** Number of leading bits `a` and `b` share (160 when equal). */
export function commonPrefixBits(a: Buffer, b: Buffer): number {
  for (let i = 0; i < ID_BYTES; i++) {
    const x = a[i] ^ b[i];
    if (x !== 0) return i * 8 + Math.clz32(x) - 24;
  }
  return ID_BITS;
}

/** Bit `bit` (0 = most significant) of `id`. */
export function bitAt(id: Buffer, bit: number): number {
  return (id[bit >> 3] >> (7 - (bit & 7))) & 1;
}

/**
 * A random id that shares exactly `bits` leading bits with `prefixOf` (bit `bits` flipped), or at
 * least `bits` when `exact` is false. `randomBytes(n)` supplies the randomness (injected for tests).
 */
export function randomIdWithPrefix(
  prefixOf: Buffer,
  bits: number,
  randomBytes: (n: number) => Buffer,
  exact = true,
): Buffer {
  const out = Buffer.from(randomBytes(ID_BYTES).subarray(0, ID_BYTES));
  const whole = bits >> 3;
  prefixOf.copy(out, 0, 0, whole);
  const rest = bits & 7;
  if (whole < ID_BYTES) {
    if (rest > 0) {
      const mask = 0xff << (8 - rest);
      out[whole] = (prefixOf[whole] & mask) | (out[whole] & ~mask & 0xff);
    }
    if (exact) {
      const flip = 0x80 >> rest;
      out[whole] = (out[whole] & ~flip & 0xff) | (~prefixOf[whole] & flip);
    }
  }
  return out;
}

/** Hex form for map keys and events. */
export const idHex = (id: Buffer): string => id.toString('hex');
