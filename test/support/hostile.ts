/**
 * Shared hostile-input machinery for codec tests: byte mutations of valid encodings, and an oracle that
 * lets a decoder either succeed or throw its own error type, and fails on anything else (a TypeError, a
 * RangeError, a hang is caught by the test timeout). Every fast-check run takes a fixed seed.
 */
import fc from 'fast-check';

/** Bytes that matter to bencode's grammar, so mutations often reach deep into a decoder. */
export const BENCODE_BYTES = [...Buffer.from('dlie:-0123456789', 'latin1')];

/** A mutation of `base`: flip, insert, delete or overwrite a few bytes, or truncate. */
export function mutated(base: fc.Arbitrary<Buffer>): fc.Arbitrary<Buffer> {
  const byte = fc.oneof(fc.integer({ min: 0, max: 255 }), fc.constantFrom(...BENCODE_BYTES));
  const edit = fc.tuple(fc.nat(), fc.constantFrom('flip', 'insert', 'delete', 'set', 'truncate'), byte);
  return fc.tuple(base, fc.array(edit, { minLength: 1, maxLength: 4 })).map(([b, edits]) => {
    let out = Buffer.from(b);
    for (const [at, kind, value] of edits) {
      const i = out.length === 0 ? 0 : at % out.length;
      if (kind === 'flip' && out.length > 0) out[i] ^= 1 << (value & 7);
      else if (kind === 'insert')
        out = Buffer.concat([out.subarray(0, i), Buffer.from([value]), out.subarray(i)]);
      else if (kind === 'delete') out = Buffer.concat([out.subarray(0, i), out.subarray(i + 1)]);
      else if (kind === 'set' && out.length > 0) out[i] = value;
      else if (kind === 'truncate') out = out.subarray(0, i);
    }
    return out;
  });
}

/**
 * Runs `decode` on every input: each must decode or throw an instance of `errorType`. Returns how many
 * decoded and how many were refused, so a test can check the corpus reached both sides.
 */
export function expectOnly<E extends Error>(
  decode: (b: Buffer) => unknown,
  errorType: new (...args: never[]) => E,
  inputs: Iterable<Buffer>,
): { ok: number; refused: number; codes: Map<string, number> } {
  let ok = 0;
  let refused = 0;
  const codes = new Map<string, number>();
  for (const input of inputs) {
    try {
      decode(input);
      ok++;
    } catch (err) {
      if (!(err instanceof errorType)) {
        throw new Error(`unexpected ${String(err)} for ${input.toString('hex').slice(0, 200)}`);
      }
      refused++;
      const code = (err as unknown as { code?: string }).code ?? 'none';
      codes.set(code, (codes.get(code) ?? 0) + 1);
    }
  }
  return { ok, refused, codes };
}

/** `n` samples of `arb` from a fixed seed. */
export function samples<T>(arb: fc.Arbitrary<T>, n: number, seed = 42): T[] {
  return fc.sample(arb, { numRuns: n, seed });
}

/** The code of the error `decode(input)` throws (it must be an `errorType`), or undefined when it decodes. */
export function errorCode<I, E extends Error & { code: string }>(
  decode: (input: I) => unknown,
  errorType: new (...args: never[]) => E,
  input: I,
): string | undefined {
  try {
    decode(input);
    return undefined;
  } catch (err) {
    if (!(err instanceof errorType)) throw err;
    return err.code;
  }
}
