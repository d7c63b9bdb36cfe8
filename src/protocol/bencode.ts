/**
 * Bencode (BEP 3) codec, written for hostile input.
 *
 * Owns: turning bytes into values and values into canonical bytes. Does not own: what the values mean
 * (see metainfo.ts, tracker-codec.ts).
 *
 * Values:
 *   - integers decode to `number` when |n| <= 2^53 - 1, otherwise to `bigint` (never a lossy number);
 *   - byte strings stay `Buffer` (never decoded as UTF-8 here);
 *   - dictionaries are `Map<string, BValue>` keyed by the raw key bytes as a latin1 ("binary") string,
 *     so every byte survives and `__proto__` keys are harmless.
 *
 * `decodeDocument` also returns the exact byte span of every list and dictionary, because an info-hash is
 * the SHA1 of the info dictionary as it appears in the file, never of a re-encoding.
 *
 * @example
 *   decode(Buffer.from('d3:cow3:mooe')).get('cow')!.toString() // 'moo'
 *   encode(new Map([['b', 1], ['a', Buffer.from('x')]])).toString() // 'd1:a1:x1:bi1ee'
 */

export type BDict = Map<string, BValue>;
export type BValue = number | bigint | Buffer | BValue[] | BDict;

export type BencodeErrorCode =
  | 'unexpected-end'
  | 'unexpected-byte'
  | 'bad-integer'
  | 'leading-zero'
  | 'negative-zero'
  | 'bad-length'
  | 'length-past-end'
  | 'unsorted-keys'
  | 'duplicate-key'
  | 'too-deep'
  | 'too-large'
  | 'trailing-data'
  | 'unencodable';

/** A decode or encode failure, with a machine code and the byte offset where it was found. */
export class BencodeError extends Error {
  constructor(
    readonly code: BencodeErrorCode,
    readonly offset: number,
    detail: string,
  ) {
    super(`bencode: ${detail} at ${offset}`);
    this.name = 'BencodeError';
  }
}

export interface DecodeOptions {
  /** Maximum nesting of lists and dictionaries (default 64). */
  maxDepth?: number;
  /** Maximum number of values in the document, dictionary keys included (default 1,000,000). */
  maxValues?: number;
  /** Maximum input size in bytes (default 64 MiB). */
  maxBytes?: number;
  /** Reject dictionaries whose keys are not sorted (default false: real .torrent files are sometimes unsorted). */
  strictKeyOrder?: boolean;
  /** Allow bytes after the first value (default false). */
  allowTrailing?: boolean;
}

export interface DecodedDocument {
  value: BValue;
  /** Byte span [start, end) of each list and dictionary in the input. */
  spans: WeakMap<object, readonly [number, number]>;
  /** Offset just past the first value (equals the input length unless allowTrailing). */
  end: number;
}

const D = 0x64; // d
const L = 0x6c; // l
const I = 0x69; // i
const E = 0x65; // e
const COLON = 0x3a;
const MINUS = 0x2d;
const ZERO = 0x30;
const NINE = 0x39;
const SAFE = BigInt(Number.MAX_SAFE_INTEGER);

/** Decode one bencoded value; throws BencodeError (and nothing else) on any malformed input. */
export function decode(input: Uint8Array, options: DecodeOptions = {}): BValue {
  return decodeDocument(input, options).value;
}

/** Decode one value and report the byte spans of its containers (for info-hash computation). */
export function decodeDocument(input: Uint8Array, options: DecodeOptions = {}): DecodedDocument {
  const buf = Buffer.isBuffer(input) ? input : Buffer.from(input.buffer, input.byteOffset, input.byteLength);
  const maxDepth = options.maxDepth ?? 64;
  const maxValues = options.maxValues ?? 1_000_000;
  const maxBytes = options.maxBytes ?? 64 * 1024 * 1024;
  if (buf.length > maxBytes)
    throw new BencodeError('too-large', maxBytes, `input of ${buf.length} bytes exceeds limit`);
  const spans = new WeakMap<object, readonly [number, number]>();
  let pos = 0;
  let values = 0;

  const need = (n: number): void => {
    if (pos + n > buf.length) throw new BencodeError('unexpected-end', buf.length, 'unexpected end');
  };

  const readInt = (): number | bigint => {
    const start = pos;
    pos++; // 'i'
    const digitsStart = pos;
    need(1);
    if (buf[pos] === MINUS) pos++;
    const firstDigit = pos;
    for (;;) {
      need(1);
      const c = buf[pos];
      if (c === E) break;
      if (c < ZERO || c > NINE)
        throw new BencodeError('bad-integer', pos, `unexpected byte 0x${c.toString(16)} in integer`);
      pos++;
      if (pos - digitsStart > 4096) throw new BencodeError('bad-integer', start, 'integer too long');
    }
    if (pos === firstDigit) throw new BencodeError('bad-integer', start, 'empty integer');
    if (buf[firstDigit] === ZERO && pos - firstDigit > 1)
      throw new BencodeError('leading-zero', firstDigit, 'leading zero in integer');
    if (firstDigit !== digitsStart && buf[firstDigit] === ZERO)
      throw new BencodeError('negative-zero', start, 'negative zero');
    const text = buf.toString('latin1', digitsStart, pos);
    pos++; // 'e'
    if (pos - 1 - firstDigit <= 15) return Number(text);
    const big = BigInt(text);
    return big <= SAFE && big >= -SAFE ? Number(big) : big;
  };

  const readBytes = (): Buffer => {
    const start = pos;
    let len = 0;
    let digits = 0;
    for (;;) {
      need(1);
      const c = buf[pos];
      if (c === COLON) break;
      if (c < ZERO || c > NINE)
        throw new BencodeError('bad-length', pos, `unexpected byte 0x${c.toString(16)} in string length`);
      if (digits === 1 && buf[start] === ZERO)
        throw new BencodeError('leading-zero', start, 'leading zero in string length');
      len = len * 10 + (c - ZERO);
      digits++;
      pos++;
      if (digits > 15) throw new BencodeError('bad-length', start, 'string length too long');
    }
    if (digits === 0) throw new BencodeError('bad-length', start, 'empty string length');
    pos++; // ':'
    if (pos + len > buf.length)
      throw new BencodeError('length-past-end', start, `string length ${len} runs past the end`);
    const out = buf.subarray(pos, pos + len);
    pos += len;
    return out;
  };

  // Iterative parse with an explicit stack: no recursion, so depth limits are exact and hostile nesting
  // cannot overflow the JS stack.
  type Frame =
    | { kind: 'list'; value: BValue[]; start: number }
    | { kind: 'dict'; value: BDict; start: number; key: string | null; lastKey: Buffer | null };
  const stack: Frame[] = [];
  let result: BValue | undefined;

  const emit = (v: BValue): boolean => {
    const top = stack[stack.length - 1];
    if (!top) {
      result = v;
      return true;
    }
    if (top.kind === 'list') top.value.push(v);
    else {
      top.value.set(top.key as string, v);
      top.key = null;
    }
    return false;
  };

  for (;;) {
    need(1);
    const top = stack[stack.length - 1];
    const c = buf[pos];
    if (c === E) {
      if (!top) throw new BencodeError('unexpected-byte', pos, "unexpected 'e'");
      if (top.kind === 'dict' && top.key !== null)
        throw new BencodeError('unexpected-byte', pos, 'dictionary key without value');
      pos++;
      stack.pop();
      spans.set(top.value, [top.start, pos]);
      if (emit(top.value)) break;
      continue;
    }
    // Count values (and dictionary keys), not end markers: 'le' is one value.
    if (++values > maxValues) throw new BencodeError('too-large', pos, 'too many values');
    if (top && top.kind === 'dict' && top.key === null) {
      // Expecting a key: must be a byte string.
      if (c < ZERO || c > NINE)
        throw new BencodeError('unexpected-byte', pos, 'dictionary key is not a string');
      const keyOffset = pos;
      const key = readBytes();
      if (top.lastKey) {
        const cmp = Buffer.compare(top.lastKey, key);
        if (cmp === 0) throw new BencodeError('duplicate-key', keyOffset, 'duplicate dictionary key');
        if (cmp > 0 && options.strictKeyOrder)
          throw new BencodeError('unsorted-keys', keyOffset, 'dictionary keys not sorted');
      }
      top.lastKey = key;
      const k = key.toString('latin1');
      if (top.value.has(k)) throw new BencodeError('duplicate-key', keyOffset, 'duplicate dictionary key');
      top.key = k;
      continue;
    }
    if (c === D || c === L) {
      if (stack.length >= maxDepth)
        throw new BencodeError('too-deep', pos, `nesting deeper than ${maxDepth}`);
      if (c === D) stack.push({ kind: 'dict', value: new Map(), start: pos, key: null, lastKey: null });
      else stack.push({ kind: 'list', value: [], start: pos });
      pos++;
      continue;
    }
    let v: BValue;
    if (c === I) v = readInt();
    else if (c >= ZERO && c <= NINE) v = readBytes();
    else throw new BencodeError('unexpected-byte', pos, `unexpected byte 0x${c.toString(16)}`);
    if (emit(v)) break;
  }

  if (!options.allowTrailing && pos !== buf.length)
    throw new BencodeError('trailing-data', pos, 'trailing data');
  return { value: result as BValue, spans, end: pos };
}

/** Encode a value canonically: dictionary keys sorted by raw bytes. Strings encode as UTF-8. */
export function encode(value: BValue | string | boolean): Buffer {
  const parts: Buffer[] = [];
  write(value, parts, 0);
  return Buffer.concat(parts);
}

type Encodable = BValue | string | boolean | undefined | null | { [k: string]: Encodable } | Encodable[];

function write(v: Encodable, out: Buffer[], depth: number): void {
  if (depth > 256) throw new BencodeError('too-deep', 0, 'value nested too deeply to encode');
  if (typeof v === 'number') {
    if (!Number.isSafeInteger(v)) throw new BencodeError('unencodable', 0, `not an integer: ${v}`);
    out.push(Buffer.from(`i${v}e`, 'latin1'));
  } else if (typeof v === 'bigint') {
    out.push(Buffer.from(`i${v.toString()}e`, 'latin1'));
  } else if (typeof v === 'boolean') {
    out.push(Buffer.from(v ? 'i1e' : 'i0e', 'latin1'));
  } else if (typeof v === 'string') {
    const b = Buffer.from(v, 'utf8');
    out.push(Buffer.from(`${b.length}:`, 'latin1'), b);
  } else if (v instanceof Uint8Array) {
    out.push(Buffer.from(`${v.length}:`, 'latin1'), Buffer.from(v.buffer, v.byteOffset, v.byteLength));
  } else if (Array.isArray(v)) {
    out.push(Buffer.from('l'));
    for (const x of v) write(x, out, depth + 1);
    out.push(Buffer.from('e'));
  } else if (v instanceof Map) {
    writeDict(
      [...v.entries()].map(([k, x]) => {
        // Map keys are raw bytes as latin1; a code point above 0xff would be silently truncated.
        const kb = typeof k === 'string' ? Buffer.from(k, 'latin1') : undefined;
        if (!kb || kb.toString('latin1') !== k)
          throw new BencodeError('unencodable', 0, 'dictionary key is not a latin1 byte string');
        return [kb, x] as const;
      }),
      out,
      depth,
    );
  } else if (v !== null && typeof v === 'object') {
    // Plain objects: keys are text, encoded as UTF-8; undefined values are skipped.
    writeDict(
      Object.entries(v)
        .filter(([, x]) => x !== undefined)
        .map(([k, x]) => [Buffer.from(k, 'utf8'), x] as const),
      out,
      depth,
    );
  } else {
    throw new BencodeError('unencodable', 0, `cannot encode ${v === null ? 'null' : typeof v}`);
  }
}

function writeDict(entries: (readonly [Buffer, Encodable])[], out: Buffer[], depth: number): void {
  entries.sort((a, b) => Buffer.compare(a[0], b[0]));
  out.push(Buffer.from('d'));
  for (let i = 0; i < entries.length; i++) {
    const [k, x] = entries[i];
    if (i > 0 && Buffer.compare(entries[i - 1][0], k) === 0)
      throw new BencodeError('unencodable', 0, 'duplicate dictionary key');
    out.push(Buffer.from(`${k.length}:`, 'latin1'), k);
    write(x, out, depth + 1);
  }
  out.push(Buffer.from('e'));
}

/** Build a dictionary value from text keys (encoded as UTF-8 → latin1 map keys). */
export function dict(entries: Record<string, BValue | undefined>): BDict {
  const m: BDict = new Map();
  for (const [k, v] of Object.entries(entries))
    if (v !== undefined) m.set(Buffer.from(k, 'utf8').toString('latin1'), v);
  return m;
}

/** Read a text-keyed entry from a decoded dictionary. */
export function get(d: BDict, key: string): BValue | undefined {
  return d.get(Buffer.from(key, 'utf8').toString('latin1'));
}

export const isDict = (v: BValue | undefined): v is BDict => v instanceof Map;
export const isList = (v: BValue | undefined): v is BValue[] => Array.isArray(v);
export const isBytes = (v: BValue | undefined): v is Buffer => Buffer.isBuffer(v);
export const isInt = (v: BValue | undefined): v is number | bigint =>
  typeof v === 'number' || typeof v === 'bigint';
