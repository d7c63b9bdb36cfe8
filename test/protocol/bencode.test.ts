/**
 * Bencode codec: error codes with offsets, canonical encoding, round-trip properties, big integers,
 * byte-exact strings, raw spans for info-hashes, limits and key handling.
 * The hostile-input corpus (truncation, mutation, random bytes, deep nesting) is in bencode-hostile.test.ts.
 */
import { createHash } from 'crypto';
import fc from 'fast-check';
import {
  BDict,
  BValue,
  BencodeError,
  BencodeErrorCode,
  DecodeOptions,
  decode,
  decodeDocument,
  dict,
  encode,
  get,
  isBytes,
  isDict,
  isInt,
  isList,
} from '../../src/protocol/bencode';

const SAFE = BigInt(Number.MAX_SAFE_INTEGER);
const b = (s: string): Buffer => Buffer.from(s, 'latin1');
const sha1 = (x: Uint8Array): string => createHash('sha1').update(x).digest('hex');

// ---- arbitraries ----

const bint: fc.Arbitrary<number | bigint> = fc.oneof(
  fc.maxSafeInteger(),
  fc.integer({ min: -1000, max: 1000 }),
  fc.bigInt({ min: SAFE + 1n, max: 2n ** 256n }),
  fc.bigInt({ min: -(2n ** 256n), max: -SAFE - 1n }),
);
const bbytes = fc.uint8Array({ maxLength: 24 }).map((u) => Buffer.from(u));
const bkey = fc.oneof(
  fc.uint8Array({ maxLength: 8 }).map((u) => Buffer.from(u).toString('latin1')),
  fc.constantFrom('__proto__', 'constructor', 'prototype', 'info', 'pieces', 'piece length', ''),
);
const tree = fc.letrec<{ value: BValue; list: BValue[]; dict: BDict }>((tie) => ({
  value: fc.oneof({ depthSize: 'small', withCrossShrink: true }, bint, bbytes, tie('list'), tie('dict')),
  list: fc.array(tie('value'), { maxLength: 5 }),
  dict: fc
    .uniqueArray(fc.tuple(bkey, tie('value')), { selector: ([k]) => k, maxLength: 5 })
    .map((entries) => new Map(entries)),
}));
const bvalue = tree.value;

/** Order-normalised description: number vs bigint kept apart, bytes as hex, dict entries sorted by raw key. */
type Described =
  | { int: string }
  | { big: string }
  | { bytes: string }
  | { list: Described[] }
  | { dict: [string, Described][] };
function describeValue(v: BValue): Described {
  if (typeof v === 'number') {
    if (!Number.isSafeInteger(v)) throw new Error(`not a safe integer: ${v}`);
    return { int: String(v) };
  }
  if (typeof v === 'bigint') return { big: v.toString() };
  if (Buffer.isBuffer(v)) return { bytes: v.toString('hex') };
  if (Array.isArray(v)) return { list: v.map(describeValue) };
  if (v instanceof Map) {
    const entries = [...v.entries()].map(([k, x]): [string, Described] => [
      b(k).toString('hex'),
      describeValue(x),
    ]);
    entries.sort(([x], [y]) => Buffer.compare(Buffer.from(x, 'hex'), Buffer.from(y, 'hex')));
    return { dict: entries };
  }
  throw new Error(`not a BValue: ${Object.prototype.toString.call(v)}`);
}

function containers(v: BValue): (BValue[] | BDict)[] {
  const out: (BValue[] | BDict)[] = [];
  const walk = (x: BValue): void => {
    if (Array.isArray(x) || x instanceof Map) {
      out.push(x);
      x.forEach(walk);
    }
  };
  walk(v);
  return out;
}

function decodeError(input: Uint8Array, options?: DecodeOptions): BencodeError {
  try {
    decode(input, options);
  } catch (e) {
    if (e instanceof BencodeError) return e;
    throw e;
  }
  throw new Error(`expected a BencodeError for ${Buffer.from(input).toString('latin1').slice(0, 80)}`);
}

function encodeError(v: unknown): BencodeError {
  try {
    encode(v as BValue);
  } catch (e) {
    if (e instanceof BencodeError) return e;
    throw e;
  }
  throw new Error('expected a BencodeError');
}

// ---- decoding valid input ----

describe('decode', () => {
  test('the documented example', () => {
    const v = decode(b('d3:cow3:mooe'));
    expect(isDict(v) && get(v, 'cow')?.toString()).toBe('moo');
  });

  test.each<[string, Described]>([
    ['i0e', { int: '0' }],
    ['i-1e', { int: '-1' }],
    ['i42e', { int: '42' }],
    ['0:', { bytes: '' }],
    ['3:abc', { bytes: '616263' }],
    ['le', { list: [] }],
    ['de', { dict: [] }],
    ['li1e1:xe', { list: [{ int: '1' }, { bytes: '78' }] }],
    ['d1:ali1eee', { dict: [['61', { list: [{ int: '1' }] }]] }],
  ])('%s', (input, expected) => {
    expect(describeValue(decode(b(input)))).toEqual(expected);
  });

  test('byte strings stay bytes (Buffer), including invalid UTF-8', () => {
    const raw = Buffer.from([0xff, 0xfe, 0x00, 0x80, 0xc3]);
    const v = decode(Buffer.concat([b('5:'), raw]));
    expect(isBytes(v)).toBe(true);
    expect((v as Buffer).equals(raw)).toBe(true);
    expect(encode(v).equals(Buffer.concat([b('5:'), raw]))).toBe(true);
  });

  test('dictionary keys keep every byte (latin1 map keys)', () => {
    const input = Buffer.concat([
      b('d2:'),
      Buffer.from([0xff, 0x80]),
      b('i1e2:'),
      Buffer.from([0xc3, 0xa9]),
      b('i2ee'),
    ]);
    const v = decode(input) as BDict;
    expect([...v.keys()]).toEqual(['\xff\x80', '\xc3\xa9']);
    expect(get(v, 'é')).toBe(2); // text key 'é' is UTF-8 c3 a9
    expect(encode(v).equals(Buffer.from(input))).toBe(false); // unsorted input: 0xff > 0xc3
    expect(decode(encode(v), { strictKeyOrder: true })).toEqual(v);
  });

  test('accepts a plain Uint8Array view with an offset', () => {
    const backing = new Uint8Array(b('XXli7e2:hieYY'));
    const view = backing.subarray(2, 11);
    const v = decode(view) as BValue[];
    expect(v[0]).toBe(7);
    expect(Buffer.isBuffer(v[1])).toBe(true);
    expect(v[1].toString()).toBe('hi');
  });

  test('unsorted keys are accepted by default and kept in input order', () => {
    const v = decode(b('d1:bi1e1:ai2ee')) as BDict;
    expect([...v.keys()]).toEqual(['b', 'a']);
  });

  test('strictKeyOrder accepts sorted keys, compared by raw bytes', () => {
    const input = Buffer.concat([b('d0:i0e1:Bi1e1:ai2e1:'), Buffer.from([0xff]), b('i3ee')]);
    expect([...(decode(input, { strictKeyOrder: true }) as BDict).keys()]).toEqual(['', 'B', 'a', '\xff']);
  });

  test('__proto__ and friends stay Map entries and pollute nothing', () => {
    const v = decode(b('d11:constructori1e9:__proto__d8:pollutedi1eee')) as BDict;
    expect(v).toBeInstanceOf(Map);
    expect(isDict(v.get('__proto__'))).toBe(true);
    expect((v.get('__proto__') as BDict).get('polluted')).toBe(1);
    expect(v.get('constructor')).toBe(1);
    expect(Object.getPrototypeOf(v)).toBe(Map.prototype);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect(encode(v).toString('latin1')).toBe('d9:__proto__d8:pollutedi1ee11:constructori1ee');
  });

  test('allowTrailing reports where the first value ends', () => {
    const doc = decodeDocument(b('li1eei2e'), { allowTrailing: true });
    expect(doc.value).toEqual([1]);
    expect(doc.end).toBe(5);
    expect(decodeDocument(b('i1e')).end).toBe(3);
  });

  test('type guards', () => {
    expect(isInt(1) && isInt(1n) && !isInt(b('1'))).toBe(true);
    expect(isBytes(b('x')) && !isBytes([])).toBe(true);
    expect(isList([]) && !isList(new Map())).toBe(true);
    expect(isDict(new Map()) && !isDict([]) && !isDict(undefined)).toBe(true);
  });
});

// ---- integers beyond 2^53 ----

describe('big integers', () => {
  test.each<[string, number | bigint]>([
    ['i9007199254740991e', Number.MAX_SAFE_INTEGER],
    ['i-9007199254740991e', -Number.MAX_SAFE_INTEGER],
    ['i9007199254740992e', 9007199254740992n],
    ['i-9007199254740992e', -9007199254740992n],
    ['i9007199254740993e', 9007199254740993n], // would round to ...992 as a number
    ['i999999999999999e', 999999999999999],
    ['i1000000000000000e', 1000000000000000], // 16 digits but still safe: a number
    ['i123456789012345678901234567890e', 123456789012345678901234567890n],
  ])('%s', (input, expected) => {
    const v = decode(b(input));
    expect(typeof v).toBe(typeof expected);
    expect(v).toBe(expected);
    expect(encode(v).toString('latin1')).toBe(input);
  });

  test('decode(encode(x)) keeps bigints beyond 2^53 exactly (property)', () => {
    const big = fc.oneof(
      fc.bigInt({ min: SAFE + 1n, max: 10n ** 300n }),
      fc.bigInt({ min: -(10n ** 300n), max: -SAFE - 1n }),
    );
    fc.assert(
      fc.property(big, (x) => {
        const v = decode(encode(x));
        expect(typeof v).toBe('bigint');
        expect(v).toBe(x);
      }),
      { seed: 42, numRuns: 500 },
    );
  });

  test('small bigints encode like numbers and come back as numbers', () => {
    expect(encode(5n).toString()).toBe('i5e');
    expect(decode(encode(-SAFE))).toBe(-Number.MAX_SAFE_INTEGER);
  });

  test('the encoder refuses numbers that already lost precision', () => {
    expect(encodeError(2 ** 53).code).toBe('unencodable');
    expect(encodeError(-(2 ** 53)).code).toBe('unencodable');
    expect(encode(2n ** 53n).toString()).toBe('i9007199254740992e');
  });
});

// ---- every error code with its offset ----

describe('decode errors carry a code and the byte offset', () => {
  const deep65 = 'l'.repeat(65) + 'e'.repeat(65);
  test.each<[string, string, DecodeOptions, BencodeErrorCode, number]>([
    ['empty input', '', {}, 'unexpected-end', 0],
    ['lone i', 'i', {}, 'unexpected-end', 1],
    ['unterminated integer', 'i12', {}, 'unexpected-end', 3],
    ['unterminated list', 'l', {}, 'unexpected-end', 1],
    ['unterminated list after a value', 'li1e', {}, 'unexpected-end', 4],
    ['dict key without value at end', 'd1:a', {}, 'unexpected-end', 4],
    ['length without colon at end', '12', {}, 'unexpected-end', 2],
    ['empty integer', 'ie', {}, 'bad-integer', 0],
    ['minus only', 'i-e', {}, 'bad-integer', 0],
    ['letter inside integer', 'i1x2e', {}, 'bad-integer', 2],
    ['plus sign', 'i+1e', {}, 'bad-integer', 1],
    ['space', 'i 1e', {}, 'bad-integer', 1],
    ['decimal point', 'i1.5e', {}, 'bad-integer', 2],
    ['double minus', 'i--1e', {}, 'bad-integer', 2],
    ['integer too long', 'i' + '1'.repeat(5000) + 'e', {}, 'bad-integer', 0],
    ['leading zero', 'i03e', {}, 'leading-zero', 1],
    ['double zero', 'i00e', {}, 'leading-zero', 1],
    ['negative leading zero', 'i-03e', {}, 'leading-zero', 2],
    ['leading zero in length', '03:abc', {}, 'leading-zero', 0],
    ['zero zero length', 'l00:e', {}, 'leading-zero', 1],
    ['negative zero', 'i-0e', {}, 'negative-zero', 0],
    ['negative zero in list', 'li1ei-0ee', {}, 'negative-zero', 4],
    ['non-digit length', '3x:abc', {}, 'bad-length', 1],
    ['space in length', 'l1 :ae', {}, 'bad-length', 2],
    ['16-digit length', '1234567890123456:', {}, 'bad-length', 0],
    ['length past end', '5:abc', {}, 'length-past-end', 0],
    ['huge declared length', '999999999999:', {}, 'length-past-end', 0],
    ['length past end in dict', 'd3:fooi1e10:bare', {}, 'length-past-end', 9],
    ['unknown type byte', 'x', {}, 'unexpected-byte', 0],
    ['stray e', 'e', {}, 'unexpected-byte', 0],
    ['negative length', '-1:a', {}, 'unexpected-byte', 0],
    ['colon as a value', 'l:e', {}, 'unexpected-byte', 1],
    ['integer dictionary key', 'di1ei2ee', {}, 'unexpected-byte', 1],
    ['list dictionary key', 'dlei1ee', {}, 'unexpected-byte', 1],
    ['key without value', 'd1:ae', {}, 'unexpected-byte', 4],
    ['unsorted keys (strict)', 'd1:b0:1:a0:e', { strictKeyOrder: true }, 'unsorted-keys', 6],
    ['unsorted by bytes (strict)', 'd1:a0:1:B0:e', { strictKeyOrder: true }, 'unsorted-keys', 6],
    ['prefix sorts first (strict)', 'd2:ab0:1:a0:e', { strictKeyOrder: true }, 'unsorted-keys', 7],
    ['adjacent duplicate key', 'd1:a0:1:a0:e', {}, 'duplicate-key', 6],
    ['adjacent duplicate key (strict)', 'd1:a0:1:a0:e', { strictKeyOrder: true }, 'duplicate-key', 6],
    ['non-adjacent duplicate key', 'd1:a0:1:b0:1:a0:e', {}, 'duplicate-key', 11],
    ['nested duplicate key', 'ld0:i1e0:i2eee', {}, 'duplicate-key', 7],
    ['too deep (default 64)', deep65, {}, 'too-deep', 64],
    ['too deep (maxDepth 1)', 'llee', { maxDepth: 1 }, 'too-deep', 1],
    ['dict too deep (maxDepth 1)', 'd1:adee', { maxDepth: 1 }, 'too-deep', 4],
    ['maxDepth 0', 'le', { maxDepth: 0 }, 'too-deep', 0],
    ['maxBytes', 'i1e', { maxBytes: 2 }, 'too-large', 2],
    ['maxValues in a list', 'li1ei2ee', { maxValues: 2 }, 'too-large', 4],
    ['maxValues counts keys', 'd1:ai1ee', { maxValues: 2 }, 'too-large', 4],
    ['trailing value', 'i1ei2e', {}, 'trailing-data', 3],
    ['trailing byte after string', '0:x', {}, 'trailing-data', 2],
    ['trailing e', 'lee', {}, 'trailing-data', 2],
  ])('%s: %#', (_name, input, options, code, offset) => {
    const err = decodeError(b(input), options);
    expect(err).toBeInstanceOf(BencodeError);
    expect(err.name).toBe('BencodeError');
    expect({ code: err.code, offset: err.offset }).toEqual({ code, offset });
    expect(err.message).toMatch(new RegExp(`^bencode: .+ at ${offset}$`));
  });

  test('the message reads "unexpected end at N"', () => {
    // 'l' then 411 integers (1233 bytes): the list never closes.
    expect(decodeError(b('l' + 'i1e'.repeat(411))).message).toBe('bencode: unexpected end at 1234');
  });

  test('limits: exactly at the limit decodes', () => {
    expect(decode(b('li1ei2ee'), { maxValues: 3 })).toEqual([1, 2]);
    expect(decode(b('le'), { maxValues: 1 })).toEqual([]);
    expect(decode(b('d1:ai1ee'), { maxValues: 3 })).toEqual(new Map([['a', 1]]));
    expect(decode(b('i1e'), { maxBytes: 3 })).toBe(1);
    expect(decode(b('l'.repeat(64) + 'e'.repeat(64)))).toBeDefined();
    expect(decode(b('llee'), { maxDepth: 2 })).toEqual([[]]);
  });

  test('default maxBytes is 64 MiB, checked before parsing', () => {
    const big = Buffer.allocUnsafe(64 * 1024 * 1024 + 1);
    const err = decodeError(big);
    expect(err.code).toBe('too-large');
    expect(err.offset).toBe(64 * 1024 * 1024);
  });
});

// ---- encoding ----

describe('encode', () => {
  test('the documented example: keys sorted', () => {
    expect(
      encode(
        new Map<string, BValue>([
          ['b', 1],
          ['a', b('x')],
        ]),
      ).toString(),
    ).toBe('d1:a1:x1:bi1ee');
  });

  test.each<[string, unknown, string]>([
    ['zero', 0, 'i0e'],
    ['minus zero', -0, 'i0e'],
    ['negative', -42, 'i-42e'],
    ['true', true, 'i1e'],
    ['false', false, 'i0e'],
    ['text as UTF-8', 'é', '2:\xc3\xa9'],
    ['empty bytes', Buffer.alloc(0), '0:'],
    ['Uint8Array view', new Uint8Array([0x61, 0x62, 0x63]).subarray(1), '2:bc'],
    ['nested list', [[], [1]], 'lleli1eee'],
    ['plain object skips undefined', { b: 1, a: undefined, c: 'x' }, 'd1:bi1e1:c1:xe'],
    [
      'latin1 map keys sort by byte',
      new Map([
        ['\xff', 0],
        ['a', 1],
        ['B', 2],
        ['', 3],
      ]),
      'd0:i3e1:Bi2e1:ai1e1:\xffi0ee',
    ],
  ])('%s', (_name, value, expected) => {
    expect(encode(value as BValue).toString('latin1')).toBe(expected);
  });

  test('plain-object keys sort by UTF-8 bytes, not UTF-16 code units', () => {
    // UTF-16: '\u{10000}' (d800 dc00) < '\uffff'; UTF-8: ef bf bf < f0 90 80 80.
    const out = encode({ '\u{10000}': 1, '\uffff': 2 } as unknown as BValue);
    expect(out.toString('hex')).toBe(
      b('d3:').toString('hex') +
        'efbfbf' +
        b('i2e4:').toString('hex') +
        'f0908080' +
        b('i1ee').toString('hex'),
    );
  });

  test('dict() and get() use UTF-8 text keys', () => {
    const d = dict({ name: b('x'), é: 1, skip: undefined });
    expect([...d.keys()].sort()).toEqual(['name', '\xc3\xa9']);
    expect(get(d, 'é')).toBe(1);
    expect(encode(d).toString('latin1')).toBe('d4:name1:x2:\xc3\xa9i1ee');
  });

  const cyclic: unknown[] = [];
  cyclic.push(cyclic);
  const cyclicMap = new Map<string, unknown>();
  cyclicMap.set('self', cyclicMap);
  let deep: unknown = [];
  for (let i = 0; i < 300; i++) deep = [deep];
  test.each<[string, unknown, BencodeErrorCode]>([
    ['fraction', 1.5, 'unencodable'],
    ['NaN', NaN, 'unencodable'],
    ['Infinity', Infinity, 'unencodable'],
    ['unsafe number', 2 ** 60, 'unencodable'],
    ['null', null, 'unencodable'],
    ['undefined', undefined, 'unencodable'],
    ['undefined in a list', [1, undefined], 'unencodable'],
    ['symbol', Symbol('x'), 'unencodable'],
    ['function', () => 1, 'unencodable'],
    ['map key above latin1 (would be truncated)', new Map([['\u20ac', 1]]), 'unencodable'],
    [
      'map keys colliding after truncation',
      new Map([
        ['\u20ac', 1],
        ['\xac', 2],
      ]),
      'unencodable',
    ],
    ['non-string map key', new Map([[1, 1]]), 'unencodable'],
    ['cyclic list', cyclic, 'too-deep'],
    ['cyclic map', cyclicMap, 'too-deep'],
    ['300-deep list', deep, 'too-deep'],
  ])('%s throws BencodeError %s', (_name, value, code) => {
    expect(encodeError(value).code).toBe(code);
  });
});

// ---- round trips (fast-check) ----

describe('round trips', () => {
  test('decode(encode(x)) deep-equals x and re-encoding is byte-identical', () => {
    fc.assert(
      fc.property(bvalue, (x) => {
        const bytes = encode(x);
        const y = decode(bytes, { strictKeyOrder: true });
        expect(describeValue(y)).toEqual(describeValue(x));
        expect(encode(y).equals(bytes)).toBe(true);
      }),
      { seed: 42, numRuns: 1500 },
    );
  });

  test('encoding ignores dictionary insertion order', () => {
    fc.assert(
      fc.property(
        fc.uniqueArray(fc.tuple(bkey, bvalue), { selector: ([k]) => k, maxLength: 8 }),
        fc.nat(),
        (entries, rot) => {
          const r = entries.length ? rot % entries.length : 0;
          const shuffled = [...entries.slice(r), ...entries.slice(0, r)].reverse();
          expect(encode(new Map(shuffled)).equals(encode(new Map(entries)))).toBe(true);
        },
      ),
      { seed: 42, numRuns: 300 },
    );
  });

  test('spans of every container in a canonical document equal its encoding', () => {
    fc.assert(
      fc.property(bvalue, (x) => {
        const bytes = encode(x);
        const doc = decodeDocument(bytes);
        for (const c of containers(doc.value)) {
          const span = doc.spans.get(c);
          expect(span).toBeDefined();
          const [start, end] = span!;
          expect(bytes.subarray(start, end).equals(encode(c))).toBe(true);
        }
      }),
      { seed: 42, numRuns: 500 },
    );
  });
});

// ---- spans for the info-hash ----

describe('decodeDocument spans', () => {
  // An info dictionary with unsorted keys (name before length, pieces before piece length) inside a torrent.
  const info =
    'd4:name5:a.txt6:lengthi5e6:pieces20:' + '\x01'.repeat(20) + '12:piece lengthi16384e5:filesld1:x0:eee';
  const torrent = 'd8:announce16:http://t.example4:info' + info + '7:comment2:hie';

  test('the span of the info dict is the original slice; a re-encoding differs', () => {
    const input = b(torrent);
    const doc = decodeDocument(input);
    const root = doc.value as BDict;
    const infoValue = root.get('info') as BDict;
    const span = doc.spans.get(infoValue)!;
    expect(span).toEqual([torrent.indexOf('4:info') + 6, torrent.indexOf('4:info') + 6 + info.length]);
    const raw = input.subarray(span[0], span[1]);
    expect(raw.toString('latin1')).toBe(info);
    const reencoded = encode(infoValue);
    expect(reencoded.equals(raw)).toBe(false);
    expect(reencoded.length).toBe(raw.length);
    expect(sha1(raw)).toBe(sha1(b(info)));
    expect(sha1(raw)).not.toBe(sha1(reencoded));
    expect(doc.spans.get(root)).toEqual([0, input.length]);
    const files = infoValue.get('files') as BValue[];
    const fspan = doc.spans.get(files)!;
    expect(input.subarray(fspan[0], fspan[1]).toString('latin1')).toBe('ld1:x0:ee');
    expect(doc.spans.get(files[0] as BDict)).toEqual([fspan[0] + 1, fspan[1] - 1]);
  });

  test('spans with allowTrailing cover only the first value', () => {
    const doc = decodeDocument(b('ld1:ai1eee junk'), { allowTrailing: true });
    expect(doc.spans.get(doc.value as object)).toEqual([0, 10]);
    expect(doc.end).toBe(10);
  });

  test('scalars have no span', () => {
    const doc = decodeDocument(b('3:abc'));
    expect(doc.spans.get(doc.value as object)).toBeUndefined();
  });
});
