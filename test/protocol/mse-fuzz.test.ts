/**
 * Pure fuzz: random and mutated handshakes straight into the push parsers. Every input ends in an outcome
 * or an MseError (never another exception), and the parsers never hold more than their bounds.
 */
import { MAX_PAD, MseError, REQ1_SYNC_WINDOW, VC_SYNC_WINDOW } from '../../src/protocol/mse-codec';
import { req2Hash } from '../../src/protocol/mse-crypto';
import { MseInitiator } from '../../src/protocol/mse-initiator';
import { MseResponder } from '../../src/protocol/mse-responder';
import { chop } from '../support/mse-fixtures';
import { FUZZ_INFO_HASH, FuzzSource } from '../support/mse-fuzz-cases';
import { ScriptedResponder } from '../support/mse-scripted';

const COUNT = Number(process.env.MSE_FUZZ_COUNT ?? 2_000);
const SEED = Number(process.env.MSE_FUZZ_SEED ?? 20261124);
const lookup = (h: Buffer) => (h.equals(req2Hash(FUZZ_INFO_HASH)) ? FUZZ_INFO_HASH : undefined);
// What a responder can hold between pushes: the sync window, then the fixed fields, PadC and an IA of
// at most 200 bytes (the cases' largest) — the fuzz sends no payload after IA.
const RESPONDER_BOUND = REQ1_SYNC_WINDOW + 20 + 14 + MAX_PAD + 2 + 200;
const INITIATOR_BOUND = VC_SYNC_WINDOW + 6 + MAX_PAD;

/** Pushes `bytes` in random pieces until `push` says the handshake is done. */
function feed(push: (b: Buffer) => boolean, bytes: Buffer, src: FuzzSource): boolean {
  for (const c of chop(bytes, () => 1 + src.int(src.chance(0.2) ? 8 : 1500))) if (push(c)) return true;
  return false;
}

describe(`MSE parsers under fuzz (${COUNT} cases each, seed ${SEED})`, () => {
  it('responder: only outcomes or MseErrors, bounded buffering', () => {
    const src = new FuzzSource(SEED);
    const tally = new Map<string, number>();
    for (let i = 0; i < COUNT; i++) {
      const c = src.next(i % 100 === 0);
      const r = new MseResponder({ lookup, ciphers: ['rc4', 'plaintext'], random: src.bytes });
      let result = 'pending';
      try {
        const sent: Buffer[] = [];
        const push = (b: Buffer) => {
          const step = r.push(b);
          sent.push(...step.send);
          return step.done !== undefined;
        };
        let done = feed(push, c.first, src);
        if (!done && sent.length && c.after) done = feed(push, c.after(sent[0]), src);
        if (done) result = 'done';
        else if (c.finish === 'end') r.end();
      } catch (err) {
        if (!(err instanceof MseError)) throw new Error(`case ${i} (${c.kind}): ${(err as Error).stack}`);
        result = err.code;
      }
      if (c.kind === 'valid') expect(result).toBe('done');
      expect(r.maxBuffered).toBeLessThanOrEqual(RESPONDER_BOUND);
      tally.set(result, (tally.get(result) ?? 0) + 1);
    }
    for (const code of ['done', 'bad-public-key', 'sync-not-found', 'bad-vc', 'pad-too-long', 'closed'])
      expect(tally.get(code) ?? 0).toBeGreaterThan(0);
  });

  it('initiator: only outcomes or MseErrors, bounded buffering', () => {
    const src = new FuzzSource(SEED + 1);
    const tally = new Map<string, number>();
    for (let i = 0; i < COUNT; i++) {
      const a = new MseInitiator({
        infoHash: FUZZ_INFO_HASH,
        ciphers: ['rc4', 'plaintext'],
        random: src.bytes,
      });
      const s = new ScriptedResponder(FUZZ_INFO_HASH);
      let result = 'pending';
      try {
        const step1 = a.start();
        let step2 = s.step2(step1, src.chance(0.1) ? 513 + src.int(100) : src.int(513));
        if (src.chance(0.2)) step2 = src.mutate(step2);
        let done = feed((b) => a.push(b).done !== undefined, step2, src);
        let step4 = s.step4({
          select: src.chance(0.7) ? 1 + src.int(2) : src.bytes(4).readUInt32BE(0),
          padDLength: src.chance(0.8) ? src.int(513) : 513 + src.int(100),
        });
        if (src.chance(0.3)) step4 = src.mutate(step4);
        if (!done) done = feed((b) => a.push(b).done !== undefined, step4, src);
        if (done) result = 'done';
        else a.end();
      } catch (err) {
        if (!(err instanceof MseError)) throw new Error(`case ${i}: ${(err as Error).stack}`);
        result = err.code;
      }
      expect(a.maxBuffered).toBeLessThanOrEqual(INITIATOR_BOUND);
      tally.set(result, (tally.get(result) ?? 0) + 1);
    }
    for (const code of ['done', 'sync-not-found', 'bad-select', 'pad-too-long', 'closed'])
      expect(tally.get(code) ?? 0).toBeGreaterThan(0);
  });
});
