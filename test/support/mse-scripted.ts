/**
 * Scripted MSE peers for hostile-input tests: they build each handshake step from the raw primitives
 * (mse-crypto.ts, RC4) with any field overridden — a wrong VC, a crypto_select we did not offer, a 513-byte
 * pad — so the tests can check what our initiator and responder do with exactly that.
 */
import { randomBytes } from 'node:crypto';
import { CRYPTO_PLAINTEXT, CRYPTO_RC4, VC } from '../../src/protocol/mse-codec';
import {
  createKeyPair,
  KeyPair,
  obfuscatedInfoHash,
  req1Hash,
  sharedSecret,
  streamKeys,
} from '../../src/protocol/mse-crypto';
import { JsRc4 } from '../../src/protocol/mse-rc4';

const u16 = (n: number) => {
  const b = Buffer.alloc(2);
  b.writeUInt16BE(n);
  return b;
};
const u32 = (n: number) => {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n >>> 0);
  return b;
};

export interface Step3Overrides {
  /** Replaces HASH('req1', S). */
  req1?: Buffer;
  /** Info-hash to name (default: the one given to the constructor). */
  skey?: Buffer;
  /** Replaces the plaintext VC (8 bytes) — or drops it when an empty buffer. */
  vc?: Buffer;
  provide?: number;
  /** len(PadC) as written, and the PadC bytes actually sent. */
  padCLength?: number;
  padC?: Buffer;
  ia?: Buffer;
  /** Garbage between Ya/PadA and req1 (the spec's PadA, already sent with step 1: extra here). */
  before?: Buffer;
}

/** Plays A by hand against a responder under test. */
export class ScriptedInitiator {
  readonly keys: KeyPair;
  secret?: Buffer;
  encrypt?: JsRc4;
  decrypt?: JsRc4;

  constructor(
    readonly infoHash: Buffer,
    opts: { keys?: KeyPair } = {},
  ) {
    this.keys = opts.keys ?? createKeyPair(randomBytes);
  }

  /** Ya followed by `padA` bytes. */
  step1(padA = 0): Buffer {
    return Buffer.concat([this.keys.publicKey, randomBytes(padA)]);
  }

  /** Step 3 given B's Yb (the first 96 bytes of its step 2). */
  step3(yb: Buffer, o: Step3Overrides = {}): Buffer {
    const secret = sharedSecret(this.keys.privateKey, yb.subarray(0, 96));
    this.secret = secret;
    const skey = o.skey ?? this.infoHash;
    const { keyA, keyB } = streamKeys(secret, skey);
    this.encrypt = new JsRc4(keyA);
    this.decrypt = new JsRc4(keyB);
    const padC = o.padC ?? Buffer.alloc(o.padCLength ?? 0);
    const ia = o.ia ?? Buffer.alloc(0);
    const plain = Buffer.concat([
      o.vc ?? VC,
      u32(o.provide ?? CRYPTO_RC4 | CRYPTO_PLAINTEXT),
      u16(o.padCLength ?? padC.length),
      padC,
      u16(ia.length),
      ia,
    ]);
    return Buffer.concat([
      o.before ?? Buffer.alloc(0),
      o.req1 ?? req1Hash(secret),
      obfuscatedInfoHash(skey, secret),
      this.encrypt.update(plain),
    ]);
  }
}

export interface Step4Overrides {
  vc?: Buffer;
  select?: number;
  padDLength?: number;
  padD?: Buffer;
}

/** Plays B by hand against an initiator under test. */
export class ScriptedResponder {
  readonly keys: KeyPair;
  secret?: Buffer;
  encrypt?: JsRc4;
  decrypt?: JsRc4;

  constructor(
    readonly infoHash: Buffer,
    opts: { keys?: KeyPair } = {},
  ) {
    this.keys = opts.keys ?? createKeyPair(randomBytes);
  }

  /** Yb and `padB` bytes, given A's Ya (the first 96 bytes of its step 1). */
  step2(ya: Buffer, padB = 0): Buffer {
    this.secret = sharedSecret(this.keys.privateKey, ya.subarray(0, 96));
    const { keyA, keyB } = streamKeys(this.secret, this.infoHash);
    this.decrypt = new JsRc4(keyA);
    this.encrypt = new JsRc4(keyB);
    return Buffer.concat([this.keys.publicKey, randomBytes(padB)]);
  }

  step4(o: Step4Overrides = {}): Buffer {
    const padD = o.padD ?? Buffer.alloc(o.padDLength ?? 0);
    const plain = Buffer.concat([
      o.vc ?? VC,
      u32(o.select ?? CRYPTO_RC4),
      u16(o.padDLength ?? padD.length),
      padD,
    ]);
    return (this.encrypt as JsRc4).update(plain);
  }
}
