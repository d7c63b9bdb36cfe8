/**
 * Helpers for MSE tests: a seeded random source, and an in-memory exchange between an initiator and a
 * responder that cuts every transmission into chunks chosen by the test.
 */
import { MseOutcome } from '../../src/protocol/mse-codec';
import { RandomSource } from '../../src/protocol/mse-crypto';
import { MseInitiator } from '../../src/protocol/mse-initiator';
import { MseAccepted, MseResponder } from '../../src/protocol/mse-responder';

/** A deterministic RandomSource (xorshift32) for reproducible handshakes. */
export function seededRandom(seed: number): RandomSource {
  let x = seed >>> 0 || 1;
  return (n: number) => {
    const b = Buffer.allocUnsafe(n);
    for (let i = 0; i < n; i++) {
      x ^= x << 13;
      x >>>= 0;
      x ^= x >>> 17;
      x ^= x << 5;
      x >>>= 0;
      b[i] = x & 0xff;
    }
    return b;
  };
}

/** Splits `b` into pieces whose sizes `next()` picks (at least 1 byte each). */
export function chop(b: Buffer, next: () => number): Buffer[] {
  const out: Buffer[] = [];
  for (let at = 0; at < b.length;) {
    const n = Math.max(1, Math.min(b.length - at, next()));
    out.push(b.subarray(at, at + n));
    at += n;
  }
  return out;
}

export interface PairResult {
  a: MseOutcome;
  b: MseAccepted;
}

/** Runs a whole handshake in memory, handing each side's bytes to the other in `chunkSize()` pieces. */
export function runPair(
  initiator: MseInitiator,
  responder: MseResponder,
  chunkSize: () => number = () => 1 << 16,
): PairResult {
  let a: MseOutcome | undefined;
  let b: MseAccepted | undefined;
  let toB: Buffer[] = chop(initiator.start(), chunkSize);
  let toA: Buffer[] = [];
  for (let rounds = 0; rounds < 10 && !(a && b); rounds++) {
    const nextToA: Buffer[] = [];
    for (const c of toB) {
      if (b) break;
      const step = responder.push(c);
      for (const s of step.send) nextToA.push(...chop(s, chunkSize));
      b = step.done ?? b;
    }
    toA = toA.concat(nextToA);
    const nextToB: Buffer[] = [];
    for (const c of toA) {
      if (a) break;
      const step = initiator.push(c);
      for (const s of step.send) nextToB.push(...chop(s, chunkSize));
      a = step.done ?? a;
    }
    toA = [];
    toB = nextToB;
  }
  if (!a || !b) throw new Error('handshake did not finish in 10 rounds');
  return { a, b };
}
