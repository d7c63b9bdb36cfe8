/**
 * Random and mutated MSE handshakes for fuzz tests, from a seeded source so a failure can be replayed.
 * A case is what a hostile initiator sends: `first` at once, then (if the responder answered with its
 * step 2) `after(step2)`, then it ends, vanishes, or stalls.
 */
import { createHash } from 'node:crypto';
import { CRYPTO_PLAINTEXT, CRYPTO_RC4 } from '../../src/protocol/mse-codec';
import {
  bigIntToBuffer,
  createKeyPair,
  DH_PRIME,
  KeyPair,
  RandomSource,
} from '../../src/protocol/mse-crypto';
import { seededRandom } from './mse-fixtures';
import { ScriptedInitiator } from './mse-scripted';

export type Finish = 'end' | 'destroy' | 'stall';

export interface FuzzCase {
  kind: 'garbage' | 'bad-key' | 'plain' | 'mutated' | 'valid';
  first: Buffer;
  after?: (step2: Buffer) => Buffer;
  finish: Finish;
  /** For valid cases: the IA the responder must hand over. */
  ia?: Buffer;
}

export const FUZZ_INFO_HASH = createHash('sha1').update('mse fuzz').digest();

export class FuzzSource {
  readonly bytes: RandomSource;
  /** A few key pairs reused by the cases: the client's DH cost is not what is under test. */
  private readonly keys: KeyPair[];
  private made = 0;

  /**
   * `infoHash`: the torrent the valid (and mutated) handshakes name; `validIa`: the IA of a valid case
   * (default 68 random bytes; a listener that routes connections wants a real BitTorrent handshake).
   */
  constructor(
    seed: number,
    private readonly infoHash: Buffer = FUZZ_INFO_HASH,
    private readonly validIa?: (n: number) => Buffer,
  ) {
    this.bytes = seededRandom(seed);
    this.keys = Array.from({ length: 8 }, () => createKeyPair(this.bytes));
  }

  int(n: number): number {
    return this.bytes(4).readUInt32BE(0) % n;
  }

  chance(p: number): boolean {
    return this.int(1_000_000) < p * 1_000_000;
  }

  /** Flip, truncate, insert or overwrite a few bytes. */
  mutate(b: Buffer): Buffer {
    const out = Buffer.from(b);
    switch (this.int(4)) {
      case 0:
        for (let k = 1 + this.int(4); k > 0 && out.length; k--) out[this.int(out.length)] ^= 1 << this.int(8);
        return out;
      case 1:
        return out.subarray(0, this.int(out.length + 1));
      case 2: {
        const at = this.int(out.length + 1);
        return Buffer.concat([out.subarray(0, at), this.bytes(1 + this.int(600)), out.subarray(at)]);
      }
      default: {
        const at = this.int(out.length + 1);
        const junk = this.bytes(Math.min(out.length - at, 1 + this.int(40)));
        junk.copy(out, at);
        return out;
      }
    }
  }

  next(valid = false): FuzzCase {
    // Stalls cost a whole timeout each: keep them a tenth of the mix.
    const f = this.int(20);
    const finish: Finish = valid || f < 9 ? 'end' : f < 18 ? 'destroy' : 'stall';
    const roll = valid ? -1 : this.int(100);
    if (roll >= 0 && roll < 25) return { kind: 'garbage', first: this.bytes(this.int(2000)), finish };
    if (roll >= 25 && roll < 30) {
      const bad = [0n, 1n, DH_PRIME - 1n, DH_PRIME][this.int(4)];
      return {
        kind: 'bad-key',
        first: Buffer.concat([bigIntToBuffer(bad, 96), this.bytes(this.int(100))]),
        finish,
      };
    }
    if (roll >= 30 && roll < 33) {
      const plain = Buffer.concat([Buffer.from('\x13BitTorrent protocol', 'latin1'), this.bytes(48)]);
      return { kind: 'plain', first: plain, finish };
    }
    const s = new ScriptedInitiator(this.infoHash, { keys: this.keys[this.int(this.keys.length)] });
    const padA = valid ? this.int(513) : this.chance(0.1) ? 513 + this.int(200) : this.int(513);
    const first = s.step1(padA);
    const mutateNow = !valid && this.chance(0.6);
    const ia = valid && this.validIa ? this.validIa(this.made++) : this.bytes(68);
    const overrides = valid
      ? { provide: CRYPTO_RC4 | CRYPTO_PLAINTEXT, ia }
      : {
          provide: this.chance(0.7) ? CRYPTO_RC4 | CRYPTO_PLAINTEXT : this.bytes(4).readUInt32BE(0),
          padCLength: this.chance(0.8) ? this.int(513) : 513 + this.int(100),
          ia: this.bytes(this.int(200)),
          skey: this.chance(0.1) ? this.bytes(20) : undefined,
        };
    return {
      kind: valid ? 'valid' : 'mutated',
      first: mutateNow && this.chance(0.3) ? this.mutate(first) : first,
      after: (step2) => {
        const step3 = s.step3(step2.subarray(0, 96), overrides);
        return mutateNow ? this.mutate(step3) : step3;
      },
      finish,
      ia: valid ? ia : undefined,
    };
  }
}
