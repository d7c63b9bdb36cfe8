/**
 * MSE/PE key material: the 768-bit Diffie-Hellman exchange, the shared secret, the stream keys and the
 * req1/req2/req3 hashes of the Message Stream Encryption spec (Azureus/Vuze "Message Stream Encryption",
 * also called Protocol Encryption), as pure functions.
 *
 * Owns: the spec's prime P and generator G = 2, 160-bit private keys drawn from an injected random
 * source, public keys as 96-byte big-endian values, the checks on a peer's public key, S, and
 *   keyA = SHA1('keyA' | S | SKEY)   (what the initiator A encrypts with, B decrypts with)
 *   keyB = SHA1('keyB' | S | SKEY)   (what B encrypts with, A decrypts with)
 *   req1 = SHA1('req1' | S)          (the responder's sync marker)
 *   req2 = SHA1('req2' | SKEY) xor SHA1('req3' | S)   (names the torrent without showing SKEY)
 * where SKEY is the torrent's info-hash. Does not own: RC4 (mse-rc4.ts), the handshake's framing and
 * state (mse-initiator.ts, mse-responder.ts), sockets.
 *
 * Modular exponentiation uses BigInt (about 0.2 ms for a 160-bit exponent here): Node's
 * `createDiffieHellman` validates the prime on every construction (about 20 ms), too slow for a listener.
 * MSE is obfuscation, not authenticated secrecy: constant-time arithmetic is not a goal.
 *
 * @example
 *   const a = createKeyPair(randomBytes); const b = createKeyPair(randomBytes);
 *   sharedSecret(a.privateKey, b.publicKey).equals(sharedSecret(b.privateKey, a.publicKey)); // true
 */
import { createHash } from 'node:crypto';

/** The spec's 768-bit prime (the Oakley group 1 prime). */
export const DH_PRIME = BigInt(
  '0xFFFFFFFFFFFFFFFFC90FDAA22168C234C4C6628B80DC1CD129024E088A67CC74020BBEA63B139B22514A08798E3404DD' +
    'EF9519B3CD3A431B302B0A6DF25F14374FE1356D6D51C245E485B576625E7EC6F44C42E9A63A36210000000000090563',
);
export const DH_GENERATOR = 2n;
/** Bytes of a public key or of S on the wire: 768 bits. */
export const DH_KEY_LENGTH = 96;
/** Bytes of a private key: the spec asks for at least 128 bits; 160 is what clients use. */
export const PRIVATE_KEY_LENGTH = 20;

/** `n` random bytes. Injected so that tests and fuzzers can be deterministic. */
export type RandomSource = (n: number) => Buffer;

export interface KeyPair {
  privateKey: bigint;
  /** Y = G^X mod P, 96 bytes big-endian (left-padded with zeros). */
  publicKey: Buffer;
}

export function bufferToBigInt(b: Buffer): bigint {
  return b.length === 0 ? 0n : BigInt('0x' + b.toString('hex'));
}

/** `v` as exactly `length` big-endian bytes (v must fit). */
export function bigIntToBuffer(v: bigint, length: number): Buffer {
  const hex = v.toString(16);
  if (hex.length > length * 2) throw new RangeError(`value does not fit in ${length} bytes`);
  return Buffer.from(hex.padStart(length * 2, '0'), 'hex');
}

/** base^exp mod m, square-and-multiply from the low bit. */
export function modPow(base: bigint, exp: bigint, m: bigint): bigint {
  let result = 1n;
  let b = base % m;
  let e = exp;
  while (e > 0n) {
    if (e & 1n) result = (result * b) % m;
    e >>= 1n;
    b = (b * b) % m;
  }
  return result;
}

/** A fresh key pair from `random` (20 bytes of it). */
export function createKeyPair(random: RandomSource): KeyPair {
  const privateKey = bufferToBigInt(random(PRIVATE_KEY_LENGTH));
  return { privateKey, publicKey: bigIntToBuffer(modPow(DH_GENERATOR, privateKey, DH_PRIME), DH_KEY_LENGTH) };
}

/**
 * Why a peer's public key is refused, or undefined when it is usable. Y must lie in 2..P-2: 0 and P give
 * S = 0, 1 gives S = 1 and P-1 gives S = ±1, so a peer (or a man in the middle) could force a known
 * secret; values of P and above are not reduced residues at all.
 */
export function checkPublicKey(key: Buffer): string | undefined {
  if (key.length !== DH_KEY_LENGTH) return `public key is ${key.length} bytes, not ${DH_KEY_LENGTH}`;
  const y = bufferToBigInt(key);
  if (y <= 1n) return `public key is ${y}`;
  if (y === DH_PRIME - 1n) return 'public key is P-1';
  if (y >= DH_PRIME) return 'public key is not below P';
  return undefined;
}

/** S = Y_peer^X mod P as 96 bytes. The caller has checked `peerPublicKey` with `checkPublicKey`. */
export function sharedSecret(privateKey: bigint, peerPublicKey: Buffer): Buffer {
  return bigIntToBuffer(modPow(bufferToBigInt(peerPublicKey), privateKey, DH_PRIME), DH_KEY_LENGTH);
}

function sha1(...parts: Buffer[]): Buffer {
  const h = createHash('sha1');
  for (const p of parts) h.update(p);
  return h.digest();
}

const TAG = {
  keyA: Buffer.from('keyA'),
  keyB: Buffer.from('keyB'),
  req1: Buffer.from('req1'),
  req2: Buffer.from('req2'),
  req3: Buffer.from('req3'),
};

/** The two RC4 keys: A sends with `keyA`, B sends with `keyB`. */
export function streamKeys(secret: Buffer, infoHash: Buffer): { keyA: Buffer; keyB: Buffer } {
  return { keyA: sha1(TAG.keyA, secret, infoHash), keyB: sha1(TAG.keyB, secret, infoHash) };
}

/** HASH('req1', S): the plaintext marker the responder synchronises on. */
export function req1Hash(secret: Buffer): Buffer {
  return sha1(TAG.req1, secret);
}

/** HASH('req2', SKEY): what a listener keeps per served torrent to recognise it. */
export function req2Hash(infoHash: Buffer): Buffer {
  return sha1(TAG.req2, infoHash);
}

/** HASH('req3', S): the mask over req2. */
export function req3Hash(secret: Buffer): Buffer {
  return sha1(TAG.req3, secret);
}

/** a xor b, a new buffer of a's length (both 20 bytes here). */
export function xor(a: Buffer, b: Buffer): Buffer {
  const out = Buffer.allocUnsafe(a.length);
  for (let i = 0; i < a.length; i++) out[i] = a[i] ^ b[i];
  return out;
}

/** HASH('req2', SKEY) xor HASH('req3', S): the 20 bytes after req1 in step 3. */
export function obfuscatedInfoHash(infoHash: Buffer, secret: Buffer): Buffer {
  return xor(req2Hash(infoHash), req3Hash(secret));
}
