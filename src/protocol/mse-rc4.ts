/**
 * RC4 for MSE, with the first 1024 bytes of keystream discarded (RC4-drop1024, as the spec asks).
 *
 * Owns: a pure-TypeScript RC4 that is fast enough for the payload stream, the run-time check for Node's
 * native `rc4` cipher, and `createRc4`, which picks one. Does not own: which key goes which way
 * (mse-crypto.ts) or streams (src/streams/mse-transport.ts).
 *
 * Node 20 ships OpenSSL 3, whose default provider refuses RC4 ("digital envelope routines::unsupported")
 * unless the process runs with `--openssl-legacy-provider`; `nativeRc4Available()` finds out once. The
 * JavaScript cipher keeps its state in a Uint8Array and, where the input and output are 4-byte aligned
 * alike, XORs a 32-bit word at a time (about 1.6x the byte loop; see `npm run bench:mse`).
 *
 * @example
 *   const enc = createRc4(key); const dec = createRc4(key);
 *   dec.update(enc.update(Buffer.from('hello'))).toString(); // 'hello'
 */
import { createCipheriv } from 'node:crypto';
import { endianness } from 'node:os';

/** Keystream bytes the spec discards before the first use. */
export const RC4_DROP = 1024;

export type Rc4Implementation = 'native' | 'js';

/** One direction of an RC4 stream. Keystream position advances with every byte processed. */
export interface Rc4 {
  readonly implementation: Rc4Implementation;
  /** src xor keystream into a new buffer (src is left untouched). */
  update(src: Buffer): Buffer;
  /**
   * src xor keystream for a buffer the caller owns and gives up (a socket read): the result may be src
   * itself, overwritten (the TypeScript cipher), or a new buffer (OpenSSL's).
   */
  updateOwned(src: Buffer): Buffer;
}

const LITTLE_ENDIAN = endianness() === 'LE';

/** RC4 in TypeScript. */
export class JsRc4 implements Rc4 {
  readonly implementation = 'js' as const;
  private readonly s = new Uint8Array(256);
  private i = 0;
  private j = 0;

  constructor(key: Uint8Array, drop = RC4_DROP) {
    if (key.length === 0 || key.length > 256) throw new RangeError('RC4 key must be 1..256 bytes');
    const s = this.s;
    for (let k = 0; k < 256; k++) s[k] = k;
    for (let k = 0, j = 0; k < 256; k++) {
      j = (j + s[k] + key[k % key.length]) & 255;
      const t = s[k];
      s[k] = s[j];
      s[j] = t;
    }
    if (drop > 0) this.skip(drop);
  }

  update(src: Buffer): Buffer {
    // Same alignment mod 4 as src, so the word loop applies (allocUnsafe's pool is 8-byte aligned).
    const pad = src.byteOffset & 3;
    const dst = Buffer.allocUnsafe(src.length + pad).subarray(pad);
    this.process(src, dst);
    return dst;
  }

  updateOwned(src: Buffer): Buffer {
    this.process(src, src);
    return src;
  }

  /** Advance the keystream by n bytes. */
  skip(n: number): void {
    const s = this.s;
    let i = this.i;
    let j = this.j;
    for (let k = 0; k < n; k++) {
      i = (i + 1) & 255;
      const si = s[i];
      j = (j + si) & 255;
      s[i] = s[j];
      s[j] = si;
    }
    this.i = i;
    this.j = j;
  }

  /** dst[k] = src[k] xor keystream, for k < src.length (dst may be src). */
  process(src: Uint8Array, dst: Uint8Array): void {
    const s = this.s;
    const n = src.length;
    let i = this.i;
    let j = this.j;
    let k = 0;
    const misalign = src.byteOffset & 3;
    if (LITTLE_ENDIAN && n >= 64 && misalign === (dst.byteOffset & 3)) {
      // Bytes until both are aligned, then whole words, then the tail.
      const head = (4 - misalign) & 3;
      for (; k < head; k++) {
        i = (i + 1) & 255;
        const si = s[i];
        j = (j + si) & 255;
        const sj = s[j];
        s[i] = sj;
        s[j] = si;
        dst[k] = src[k] ^ s[(si + sj) & 255];
      }
      const words = (n - head) >>> 2;
      const src32 = new Int32Array(src.buffer, src.byteOffset + head, words);
      const dst32 = new Int32Array(dst.buffer, dst.byteOffset + head, words);
      for (let w = 0; w < words; w++) {
        i = (i + 1) & 255;
        let si = s[i];
        j = (j + si) & 255;
        let sj = s[j];
        s[i] = sj;
        s[j] = si;
        let ks = s[(si + sj) & 255];
        i = (i + 1) & 255;
        si = s[i];
        j = (j + si) & 255;
        sj = s[j];
        s[i] = sj;
        s[j] = si;
        ks |= s[(si + sj) & 255] << 8;
        i = (i + 1) & 255;
        si = s[i];
        j = (j + si) & 255;
        sj = s[j];
        s[i] = sj;
        s[j] = si;
        ks |= s[(si + sj) & 255] << 16;
        i = (i + 1) & 255;
        si = s[i];
        j = (j + si) & 255;
        sj = s[j];
        s[i] = sj;
        s[j] = si;
        ks |= s[(si + sj) & 255] << 24;
        dst32[w] = src32[w] ^ ks;
      }
      k = head + (words << 2);
    }
    for (; k < n; k++) {
      i = (i + 1) & 255;
      const si = s[i];
      j = (j + si) & 255;
      const sj = s[j];
      s[i] = sj;
      s[j] = si;
      dst[k] = src[k] ^ s[(si + sj) & 255];
    }
    this.i = i;
    this.j = j;
  }
}

/** OpenSSL's RC4 through `createCipheriv` (only where the legacy provider is loaded). */
export class NativeRc4 implements Rc4 {
  readonly implementation = 'native' as const;
  private readonly cipher;

  constructor(key: Uint8Array, drop = RC4_DROP) {
    this.cipher = createCipheriv('rc4', key, null);
    if (drop > 0) this.cipher.update(Buffer.alloc(drop));
  }

  update(src: Buffer): Buffer {
    return this.cipher.update(src);
  }

  updateOwned(src: Buffer): Buffer {
    // OpenSSL writes into a new buffer either way; copying back would only add work.
    return this.cipher.update(src);
  }
}

let nativeChecked: boolean | undefined;

/** Whether this process can use OpenSSL's RC4 (checked once). */
export function nativeRc4Available(): boolean {
  if (nativeChecked === undefined) {
    try {
      createCipheriv('rc4', Buffer.alloc(20), null).update(Buffer.alloc(1));
      nativeChecked = true;
    } catch {
      nativeChecked = false;
    }
  }
  return nativeChecked;
}

/**
 * An RC4-drop1024 stream for `key`: native when available (unless `impl` says otherwise), else the
 * TypeScript one. Asking for 'native' where it is unavailable throws.
 */
export function createRc4(key: Uint8Array, impl?: Rc4Implementation): Rc4 {
  const useNative = impl === 'native' || (impl === undefined && nativeRc4Available());
  return useNative ? new NativeRc4(key) : new JsRc4(key);
}
