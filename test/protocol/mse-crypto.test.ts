import { execFileSync } from 'node:child_process';
import { createDiffieHellman, createHash, randomBytes } from 'node:crypto';
import * as path from 'node:path';
import {
  bigIntToBuffer,
  checkPublicKey,
  createKeyPair,
  DH_PRIME,
  modPow,
  obfuscatedInfoHash,
  req1Hash,
  req2Hash,
  req3Hash,
  sharedSecret,
  streamKeys,
} from '../../src/protocol/mse-crypto';
import { createRc4, JsRc4, nativeRc4Available, RC4_DROP } from '../../src/protocol/mse-rc4';
import { seededRandom } from '../support/mse-fixtures';

const P_HEX = DH_PRIME.toString(16);
const sha1 = (...parts: (string | Buffer)[]) => {
  const h = createHash('sha1');
  for (const p of parts) h.update(p);
  return h.digest();
};

describe('MSE Diffie-Hellman', () => {
  it('uses the spec prime: 768 bits, ends in 0x...090563', () => {
    expect(P_HEX).toHaveLength(192);
    expect(P_HEX.endsWith('90563')).toBe(true);
    expect(P_HEX.startsWith('ffffffffffffffffc90fdaa2')).toBe(true);
  });

  it('makes 96-byte public keys from 160-bit private keys, as OpenSSL does', () => {
    const random = seededRandom(7);
    for (let i = 0; i < 5; i++) {
      const pair = createKeyPair(random);
      expect(pair.publicKey).toHaveLength(96);
      expect(pair.privateKey < 1n << 160n).toBe(true);
      const dh = createDiffieHellman(P_HEX, 'hex', 2);
      dh.setPrivateKey(bigIntToBuffer(pair.privateKey, 20));
      expect(dh.generateKeys().toString('hex').padStart(192, '0')).toBe(pair.publicKey.toString('hex'));
    }
  });

  it('agrees on S from both sides, and matches OpenSSL', () => {
    const a = createKeyPair(randomBytes);
    const b = createKeyPair(randomBytes);
    const s = sharedSecret(a.privateKey, b.publicKey);
    expect(s).toHaveLength(96);
    expect(sharedSecret(b.privateKey, a.publicKey).equals(s)).toBe(true);
    const dh = createDiffieHellman(P_HEX, 'hex', 2);
    dh.setPrivateKey(bigIntToBuffer(a.privateKey, 20));
    dh.generateKeys();
    expect(dh.computeSecret(b.publicKey).equals(s)).toBe(true);
  });

  it('pads small values to 96 bytes', () => {
    expect(bigIntToBuffer(5n, 96)).toHaveLength(96);
    expect(bigIntToBuffer(5n, 96)[95]).toBe(5);
    expect(() => bigIntToBuffer(1n << 800n, 96)).toThrow(RangeError);
    expect(modPow(2n, 10n, 1000n)).toBe(24n);
  });

  it('refuses public keys 0, 1, P-1, P and above, and wrong lengths', () => {
    const key = (v: bigint) => bigIntToBuffer(v, 96);
    expect(checkPublicKey(key(0n))).toMatch(/is 0/);
    expect(checkPublicKey(key(1n))).toMatch(/is 1/);
    expect(checkPublicKey(key(DH_PRIME - 1n))).toMatch(/P-1/);
    expect(checkPublicKey(key(DH_PRIME))).toMatch(/not below P/);
    expect(checkPublicKey(Buffer.alloc(96, 0xff))).toMatch(/not below P/);
    expect(checkPublicKey(Buffer.alloc(95, 1))).toMatch(/95 bytes/);
    expect(checkPublicKey(key(2n))).toBeUndefined();
    expect(checkPublicKey(key(DH_PRIME - 2n))).toBeUndefined();
  });

  it('derives keys and hashes as SHA1 over the spec strings', () => {
    const s = randomBytes(96);
    const skey = randomBytes(20);
    const { keyA, keyB } = streamKeys(s, skey);
    expect(keyA.equals(sha1('keyA', s, skey))).toBe(true);
    expect(keyB.equals(sha1('keyB', s, skey))).toBe(true);
    expect(req1Hash(s).equals(sha1('req1', s))).toBe(true);
    expect(req2Hash(skey).equals(sha1('req2', skey))).toBe(true);
    expect(req3Hash(s).equals(sha1('req3', s))).toBe(true);
    const x = obfuscatedInfoHash(skey, s);
    const back = Buffer.from(x.map((v, i) => v ^ req3Hash(s)[i]));
    expect(back.equals(req2Hash(skey))).toBe(true);
  });
});

describe('RC4', () => {
  it('matches the classic test vectors (no drop)', () => {
    const enc = (key: string, text: string) =>
      new JsRc4(Buffer.from(key), 0).update(Buffer.from(text)).toString('hex');
    expect(enc('Key', 'Plaintext')).toBe('bbf316e8d940af0ad3');
    expect(enc('Wiki', 'pedia')).toBe('1021bf0420');
    expect(enc('Secret', 'Attack at dawn')).toBe('45a01f645fc35b383552544b9bf5');
  });

  it('drops 1024 bytes of keystream by default', () => {
    const key = randomBytes(20);
    const full = new JsRc4(key, 0).update(Buffer.alloc(RC4_DROP + 64));
    expect(new JsRc4(key).update(Buffer.alloc(64)).equals(full.subarray(RC4_DROP))).toBe(true);
  });

  it('gives the same stream whatever the chunking and alignment (word and byte paths)', () => {
    const key = randomBytes(20);
    const data = randomBytes(300_000);
    const expected = new JsRc4(key, 0);
    const want = Buffer.alloc(data.length);
    for (let i = 0; i < data.length; i++) expected.process(data.subarray(i, i + 1), want.subarray(i, i + 1));
    const random = seededRandom(3);
    for (const mode of ['update', 'owned'] as const) {
      const rc4 = new JsRc4(key, 0);
      const got: Buffer[] = [];
      for (let at = 0; at < data.length;) {
        const n = Math.min(data.length - at, 1 + (random(2).readUInt16BE(0) % 9000));
        // A copy at an odd offset in a larger buffer, so both aligned and unaligned inputs occur.
        const off = random(1)[0] & 7;
        const src = Buffer.alloc(n + off).subarray(off);
        data.copy(src, 0, at, at + n);
        got.push(mode === 'update' ? rc4.update(src) : rc4.updateOwned(src));
        at += n;
      }
      expect(Buffer.concat(got).equals(want)).toBe(true);
    }
  });

  it('leaves the input of update() untouched', () => {
    const src = randomBytes(4096);
    const copy = Buffer.from(src);
    new JsRc4(randomBytes(20)).update(src);
    expect(src.equals(copy)).toBe(true);
  });

  it('reports whether native RC4 is usable, and createRc4 falls back to TypeScript', () => {
    // Node 20 with OpenSSL 3 and no legacy provider (how jest runs): refused.
    const native = nativeRc4Available();
    expect(typeof native).toBe('boolean');
    expect(createRc4(randomBytes(20)).implementation).toBe(native ? 'native' : 'js');
    expect(createRc4(randomBytes(20), 'js').implementation).toBe('js');
  });

  it('agrees with OpenSSL RC4-drop1024 in a process with the legacy provider', () => {
    const key = randomBytes(20);
    const data = randomBytes(100_000);
    const script = `
      const c = require('crypto');
      const key = Buffer.from(process.argv[1], 'hex');
      const r = c.createCipheriv('rc4', key, null); r.update(Buffer.alloc(1024));
      const chunks = []; process.stdin.on('data', (d) => chunks.push(d));
      process.stdin.on('end', () => process.stdout.write(r.update(Buffer.concat(chunks))));`;
    let out: Buffer;
    try {
      out = execFileSync(process.execPath, ['--openssl-legacy-provider', '-e', script, key.toString('hex')], {
        input: data,
        maxBuffer: 1 << 20,
      });
    } catch (err) {
      throw new Error(`node --openssl-legacy-provider could not run RC4: ${(err as Error).message}`);
    }
    expect(new JsRc4(key).update(data).equals(out)).toBe(true);
  });

  it('picks OpenSSL RC4 where the legacy provider is loaded (built dist/, as `npm test` builds it)', () => {
    const key = randomBytes(20);
    const script = `
      const m = require(${JSON.stringify(path.join(__dirname, '../../dist/protocol/mse-rc4.js'))});
      const rc4 = m.createRc4(Buffer.from(process.argv[1], 'hex'));
      process.stdout.write(JSON.stringify({ available: m.nativeRc4Available(), impl: rc4.implementation,
        out: Buffer.concat([rc4.update(Buffer.alloc(100)), rc4.updateOwned(Buffer.alloc(100))]).toString('hex') }));`;
    const run = (flags: string[]) =>
      JSON.parse(
        execFileSync(process.execPath, [...flags, '-e', script, key.toString('hex')]).toString(),
      ) as {
        available: boolean;
        impl: string;
        out: string;
      };
    const expected = new JsRc4(key).update(Buffer.alloc(200)).toString('hex');
    const legacy = run(['--openssl-legacy-provider']);
    expect(legacy).toEqual({ available: true, impl: 'native', out: expected });
    const plain = run([]);
    expect(plain).toEqual({ available: false, impl: 'js', out: expected });
  });
});
