/**
 * Bencode against hostile input: a corpus of more than 10,000 truncated, mutated, random, deeply nested and
 * huge-length inputs. Every case must either decode or throw a BencodeError with a known code and an offset
 * inside the input; nothing else may escape, and nothing may hang. All fast-check runs use fixed seeds.
 */
import fc from 'fast-check';
import {
  BDict,
  BValue,
  BencodeError,
  BencodeErrorCode,
  DecodeOptions,
  decode,
  encode,
} from '../../src/protocol/bencode';

const SAFE = BigInt(Number.MAX_SAFE_INTEGER);
const b = (s: string): Buffer => Buffer.from(s, 'latin1');

const CODES: ReadonlySet<BencodeErrorCode> = new Set<BencodeErrorCode>([
  'unexpected-end',
  'unexpected-byte',
  'bad-integer',
  'leading-zero',
  'negative-zero',
  'bad-length',
  'length-past-end',
  'unsorted-keys',
  'duplicate-key',
  'too-deep',
  'too-large',
  'trailing-data',
]);

// ---- arbitraries (same shape as bencode.test.ts) ----

const bint: fc.Arbitrary<number | bigint> = fc.oneof(
  fc.maxSafeInteger(),
  fc.integer({ min: -1000, max: 1000 }),
  fc.bigInt({ min: SAFE + 1n, max: 2n ** 128n }),
  fc.bigInt({ min: -(2n ** 128n), max: -SAFE - 1n }),
);
const bkey = fc.uint8Array({ maxLength: 6 }).map((u) => Buffer.from(u).toString('latin1'));
const tree = fc.letrec<{ value: BValue; list: BValue[]; dict: BDict }>((tie) => ({
  value: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    bint,
    fc.uint8Array({ maxLength: 16 }).map((u) => Buffer.from(u)),
    tie('list'),
    tie('dict'),
  ),
  list: fc.array(tie('value'), { maxLength: 5 }),
  dict: fc
    .uniqueArray(fc.tuple(bkey, tie('value')), { selector: ([k]) => k, maxLength: 5 })
    .map((entries) => new Map(entries)),
}));
const validDoc: fc.Arbitrary<Buffer> = tree.value.map((v) => encode(v));

/** Bytes that matter to the grammar, so random input often gets deep into the parser. */
const GRAMMAR = [...b('dlie:-0123456789')];
const hostileByte = fc.oneof(fc.integer({ min: 0, max: 255 }), fc.constantFrom(...GRAMMAR));

// ---- the oracle ----

let cases = 0;
const seenCodes = new Map<BencodeErrorCode, number>();

/** Decode `input`; return the value or the BencodeError. Anything else (TypeError, RangeError, ...) fails. */
function attempt(
  input: Uint8Array,
  options?: DecodeOptions,
): { ok: true; value: BValue } | { ok: false; err: BencodeError } {
  cases++;
  try {
    return { ok: true, value: decode(input, options) };
  } catch (e) {
    if (!(e instanceof BencodeError)) {
      throw new Error(
        `non-BencodeError for ${Buffer.from(input).toString('hex').slice(0, 200)}: ${String(e)}`,
      );
    }
    // Plain checks, not expect(): this runs tens of thousands of times.
    const limit = Math.max(options?.maxBytes ?? 0, input.length);
    if (!CODES.has(e.code)) throw new Error(`unknown code ${e.code}`);
    if (!Number.isSafeInteger(e.offset) || e.offset < 0 || e.offset > limit)
      throw new Error(`bad offset ${e.offset}`);
    if (!e.message.endsWith(` at ${e.offset}`)) throw new Error(`message without offset: ${e.message}`);
    seenCodes.set(e.code, (seenCodes.get(e.code) ?? 0) + 1);
    return { ok: false, err: e };
  }
}

/** When hostile input does decode, the result must be well-formed: re-encodes and decodes to the same. */
function checkDecoded(value: BValue): void {
  const again = encode(value);
  expect(encode(decode(again)).equals(again)).toBe(true);
}

function mustFail(input: Uint8Array, options?: DecodeOptions): BencodeError {
  const r = attempt(input, options);
  if (r.ok) throw new Error(`expected failure for ${Buffer.from(input).toString('latin1').slice(0, 80)}`);
  return r.err;
}

afterAll(() => {
  // The acceptance bar: at least 10,000 hostile cases, and the corpus reaches every decoder error.
  expect(cases).toBeGreaterThanOrEqual(10_000);
  for (const code of CODES) expect([code, seenCodes.get(code) ?? 0]).not.toEqual([code, 0]);
});

// ---- corpus ----

describe('known-nasty inputs', () => {
  // Each is decoded as is, inside a list, and as a dictionary value, so offsets shift and contexts change.
  const seeds = [
    '',
    'i',
    'ie',
    'i-e',
    'i-0e',
    'i-00e',
    'i00e',
    'i01e',
    'i-01e',
    'i+1e',
    'i1.0e',
    'i1e1',
    'i 1e',
    'i1 e',
    'i--1e',
    'i9007199254740993e',
    'i-9007199254740993e',
    '0:',
    '00:',
    '01:a',
    '-1:',
    '1',
    '1:',
    ':',
    '2:a',
    '1x:a',
    ' 1:a',
    '999999999999:',
    '9999999999999999:',
    'l',
    'le',
    'lee',
    'd',
    'de',
    'dee',
    'd1:a',
    'd1:ae',
    'di1ei1ee',
    'dlee',
    'dde',
    'd1:ai1e1:ai2ee',
    'd1:bi1e1:ai2ee',
    'd1:ai1e1:bi1e1:ai1ee',
    'd0:0:0:0:e',
    'e',
    'x',
    '\x00',
    '\xff',
    'i1ei1e',
    'lie',
    'li1e',
    'd9:__proto__i1ee',
    'd9:__proto__d9:__proto__deee',
  ];
  const optionSets: DecodeOptions[] = [
    {},
    { strictKeyOrder: true },
    { allowTrailing: true },
    { maxValues: 2 },
  ];

  test.each(seeds)('%j', (seed) => {
    for (const options of optionSets) {
      for (const input of [seed, `l${seed}e`, `d1:k${seed}e`, `l${seed}`, `${seed}e`]) {
        const r = attempt(b(input), options);
        if (r.ok) checkDecoded(r.value);
      }
    }
  });
});

describe('truncated documents', () => {
  test('every proper prefix of a valid document fails with unexpected-end or length-past-end', () => {
    const docs = fc.sample(validDoc, { seed: 42, numRuns: 400 });
    docs.push(
      b('d8:announce16:http://t.example4:infod6:lengthi5e4:name1:x12:piece lengthi16384e6:pieces0:ee'),
    );
    for (const doc of docs) {
      expect(() => decode(doc)).not.toThrow();
      for (let n = 0; n < doc.length; n++) {
        const prefix = doc.subarray(0, n);
        const err = mustFail(prefix);
        // Running out of input is reported at the end; a string running out, at its length prefix.
        const fine =
          err.code === 'unexpected-end'
            ? err.offset === n
            : err.code === 'length-past-end' &&
              err.offset < n &&
              prefix[err.offset] >= 0x30 &&
              prefix[err.offset] <= 0x39;
        if (!fine) throw new Error(`prefix ${n} of ${doc.toString('hex')}: ${err.code} at ${err.offset}`);
      }
    }
  });
});

describe('mutated documents', () => {
  type Mutation = {
    kind: 'flip' | 'set' | 'insert' | 'delete' | 'duplicate';
    at: number;
    byte: number;
    bit: number;
  };
  const mutation: fc.Arbitrary<Mutation> = fc.record({
    kind: fc.constantFrom('flip', 'set', 'insert', 'delete', 'duplicate'),
    at: fc.nat(),
    byte: hostileByte,
    bit: fc.integer({ min: 0, max: 7 }),
  });

  function mutate(doc: Buffer, ms: Mutation[]): Buffer {
    let out = Buffer.from(doc);
    for (const m of ms) {
      const at = out.length ? m.at % (out.length + (m.kind === 'insert' ? 1 : 0)) : 0;
      if (m.kind === 'insert' || out.length === 0) {
        out = Buffer.concat([out.subarray(0, at), Buffer.from([m.byte]), out.subarray(at)]);
      } else if (m.kind === 'flip') out[at] ^= 1 << m.bit;
      else if (m.kind === 'set') out[at] = m.byte;
      else if (m.kind === 'delete') out = Buffer.concat([out.subarray(0, at), out.subarray(at + 1)]);
      else out = Buffer.concat([out.subarray(0, at), out.subarray(at, at + 1 + m.bit), out.subarray(at)]);
    }
    return out;
  }

  test('byte flips, sets, insertions, deletions and duplications either decode or throw BencodeError', () => {
    fc.assert(
      fc.property(validDoc, fc.array(mutation, { minLength: 1, maxLength: 4 }), (doc, ms) => {
        const r = attempt(mutate(doc, ms));
        if (r.ok) checkDecoded(r.value);
      }),
      { seed: 42, numRuns: 4000 },
    );
  });

  test('mutations under strict options and tight limits', () => {
    fc.assert(
      fc.property(
        validDoc,
        fc.array(mutation, { maxLength: 2 }),
        fc.record({
          strictKeyOrder: fc.boolean(),
          allowTrailing: fc.boolean(),
          maxDepth: fc.integer({ min: 0, max: 4 }),
          maxValues: fc.integer({ min: 1, max: 20 }),
          maxBytes: fc.integer({ min: 0, max: 200 }),
        }),
        (doc, ms, options) => {
          const r = attempt(mutate(doc, ms), options);
          if (r.ok) checkDecoded(r.value);
        },
      ),
      { seed: 42, numRuns: 1500 },
    );
  });
});

describe('random bytes', () => {
  test('uniformly random bytes', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }), (bytes) => {
        const r = attempt(bytes);
        if (r.ok) checkDecoded(r.value);
      }),
      { seed: 42, numRuns: 2000 },
    );
  });

  test('random bytes drawn mostly from the grammar alphabet', () => {
    fc.assert(
      fc.property(fc.array(hostileByte, { maxLength: 96 }), (bytes) => {
        const r = attempt(Uint8Array.from(bytes));
        if (r.ok) checkDecoded(r.value);
      }),
      { seed: 42, numRuns: 3000 },
    );
  });
});

describe('deep nesting', () => {
  test("100,000 'l' bytes throw too-deep quickly", () => {
    const t0 = performance.now();
    const err = mustFail(Buffer.alloc(100_000, 'l'));
    expect(err.code).toBe('too-deep');
    expect(err.offset).toBe(64);
    expect(performance.now() - t0).toBeLessThan(500);
  });

  test.each<[string, string, number, BencodeErrorCode, number]>([
    ['dicts', 'd1:a', 25_000, 'too-deep', 64 * 4],
    ['list of dict', 'ld0:', 25_000, 'too-deep', 32 * 4],
    ['bare d', 'd', 100_000, 'unexpected-byte', 1],
  ])('%s', (_name, unit, n, code, offset) => {
    const err = mustFail(b(unit.repeat(n)));
    expect({ code: err.code, offset: err.offset }).toEqual({ code, offset });
  });

  test('with the depth limit lifted, 100,000 levels decode without a stack overflow', () => {
    const n = 100_000;
    const t0 = performance.now();
    const v = decode(b('l'.repeat(n) + 'e'.repeat(n)), { maxDepth: n });
    let depth = 0;
    for (let x: BValue = v; Array.isArray(x) && x.length; x = x[0]) depth++;
    expect(depth).toBe(n - 1);
    const err = mustFail(b('l'.repeat(n)), { maxDepth: n });
    expect({ code: err.code, offset: err.offset }).toEqual({ code: 'unexpected-end', offset: n });
    expect(performance.now() - t0).toBeLessThan(1500);
    // The encoder refuses rather than recursing that deep.
    expect(() => encode(v)).toThrow(BencodeError);
  });

  test('depth limit sweep: n levels decode iff n <= maxDepth', () => {
    for (let depth = 0; depth <= 8; depth++) {
      for (let n = 0; n <= 10; n++) {
        const doc = b('l'.repeat(n) + 'i1e' + 'e'.repeat(n));
        const r = attempt(doc, { maxDepth: depth });
        expect(r.ok).toBe(n <= depth);
        if (!r.ok)
          expect({ code: r.err.code, offset: r.err.offset }).toEqual({ code: 'too-deep', offset: depth });
      }
    }
  });
});

describe('huge lengths and integers', () => {
  test.each<[string, Buffer, BencodeErrorCode, number]>([
    ['12-digit length', b('999999999999:'), 'length-past-end', 0],
    ['15-digit length', b('999999999999999:abc'), 'length-past-end', 0],
    ['max safe length', b('9007199254740991:'), 'bad-length', 0],
    ['100k-digit length', Buffer.alloc(100_000, '9'), 'bad-length', 0],
    ['huge length in a list', b('l4294967296:e'), 'length-past-end', 1],
    ['huge length as a key', b('d4294967297:xi1ee'), 'length-past-end', 1],
    ['1M-digit integer', b('i' + '9'.repeat(1_000_000) + 'e'), 'bad-integer', 0],
    ['1M-digit integer, unterminated', b('i' + '9'.repeat(1_000_000)), 'bad-integer', 0],
    ['million zeros', b('i' + '0'.repeat(1_000_000) + 'e'), 'bad-integer', 0],
  ])('%s', (_name, input, code, offset) => {
    const t0 = performance.now();
    const err = mustFail(input);
    expect({ code: err.code, offset: err.offset }).toEqual({ code, offset });
    expect(performance.now() - t0).toBeLessThan(500);
  });

  test('integer text up to 4096 bytes (sign included) decodes as an exact bigint; longer is refused', () => {
    const digits = '7'.repeat(4096);
    const pos = decode(b(`i${digits}e`));
    const neg = decode(b(`i-${digits.slice(1)}e`));
    expect(pos === BigInt(digits) && neg === -BigInt(digits.slice(1))).toBe(true);
    expect(mustFail(b(`i${digits}7e`)).code).toBe('bad-integer');
    expect(mustFail(b(`i-${digits}e`)).code).toBe('bad-integer');
  });

  test('many values hit maxValues, not memory', () => {
    const err = mustFail(b('l' + 'i1e'.repeat(2000) + 'e'), { maxValues: 1000 });
    expect({ code: err.code, offset: err.offset }).toEqual({ code: 'too-large', offset: 1 + 999 * 3 });
  });

  test('maxBytes rejects before looking at a single byte', () => {
    const err = mustFail(Buffer.alloc(1000, 'x'), { maxBytes: 999 });
    expect({ code: err.code, offset: err.offset }).toEqual({ code: 'too-large', offset: 999 });
  });
});
