/**
 * Reading a Transmission RPC request: the envelope (`method`, `arguments`, `tag`) and typed arguments.
 *
 * Owns: turning untrusted JSON into checked values, and the `result` string a client sees when a value
 * has the wrong type (`invalid argument 'downloadLimit': expected an integer, got "fast"`). Pure: no I/O,
 * never throws anything but `RpcArgError`. Does not own: what a method does with its arguments.
 *
 * Keys are read with `Object.hasOwn`, so `__proto__`, `constructor` and friends are plain unknown keys.
 *
 * @example
 *   const env = parseEnvelope('{"method":"torrent-stop","arguments":{"ids":[1]},"tag":7}');
 *   // → { ok: true, method: 'torrent-stop', args: ArgReader, tag: 7 }
 */

export class RpcArgError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'RpcArgError';
  }
}

/** A JSON object (not an array, not null). */
export type JsonObject = Record<string, unknown>;

export function isObject(v: unknown): v is JsonObject {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** A value as it appears in an error message: short, and never more than 40 characters of it. */
export function describe(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  if (typeof v === 'object') return 'an object';
  if (typeof v === 'string') return JSON.stringify(v.length > 40 ? `${v.slice(0, 40)}…` : v);
  return String(v);
}

function get(obj: JsonObject, key: string): unknown {
  return Object.hasOwn(obj, key) ? obj[key] : undefined;
}

/** Typed access to one request's `arguments`. Every reader returns `undefined` for an absent key. */
export class ArgReader {
  constructor(readonly raw: JsonObject) {}

  has(key: string): boolean {
    return Object.hasOwn(this.raw, key) && this.raw[key] !== undefined;
  }

  value(key: string): unknown {
    return get(this.raw, key);
  }

  /** A whole number in [min, max] (Transmission's JSON ints; booleans are not numbers here). */
  int(key: string, min = Number.MIN_SAFE_INTEGER, max = Number.MAX_SAFE_INTEGER): number | undefined {
    const v = get(this.raw, key);
    if (v === undefined) return undefined;
    if (typeof v !== 'number' || !Number.isSafeInteger(v)) throw bad(key, 'an integer', v);
    if (v < min || v > max) throw new RpcArgError(`invalid argument '${key}': ${v} is not in ${min}..${max}`);
    return v;
  }

  /** A finite number (Transmission's doubles, e.g. `seedRatioLimit`). */
  number(key: string): number | undefined {
    const v = get(this.raw, key);
    if (v === undefined) return undefined;
    if (typeof v !== 'number' || !Number.isFinite(v)) throw bad(key, 'a number', v);
    return v;
  }

  /** `true`/`false`; also `0`/`1`, which Transmission's own clients have sent for booleans. */
  bool(key: string): boolean | undefined {
    const v = get(this.raw, key);
    if (v === undefined) return undefined;
    if (typeof v === 'boolean') return v;
    if (v === 0 || v === 1) return v === 1;
    throw bad(key, 'a boolean', v);
  }

  string(key: string, maxLength = 64 * 1024): string | undefined {
    const v = get(this.raw, key);
    if (v === undefined) return undefined;
    if (typeof v !== 'string') throw bad(key, 'a string', v);
    if (v.length > maxLength) throw new RpcArgError(`invalid argument '${key}': longer than ${maxLength}`);
    return v;
  }

  /** One of `allowed`. */
  choice<T extends string>(key: string, allowed: readonly T[]): T | undefined {
    const v = this.string(key, 64);
    if (v === undefined) return undefined;
    if (!(allowed as readonly string[]).includes(v)) {
      throw new RpcArgError(
        `invalid argument '${key}': expected one of ${allowed.join(', ')}, got ${describe(v)}`,
      );
    }
    return v as T;
  }

  stringList(key: string, maxItems = 1000): string[] | undefined {
    return this.list(key, maxItems, 'strings', (x): x is string => typeof x === 'string');
  }

  intList(key: string, maxItems = 100_000): number[] | undefined {
    return this.list(key, maxItems, 'integers', (x): x is number => Number.isSafeInteger(x));
  }

  private list<T>(key: string, maxItems: number, what: string, ok: (x: unknown) => x is T): T[] | undefined {
    const v = get(this.raw, key);
    if (v === undefined) return undefined;
    if (!Array.isArray(v)) throw bad(key, `an array of ${what}`, v);
    if (v.length > maxItems) throw new RpcArgError(`invalid argument '${key}': more than ${maxItems} items`);
    const i = v.findIndex((x) => !ok(x));
    if (i >= 0)
      throw new RpcArgError(
        `invalid argument '${key}': item ${i} is ${describe(v[i])}, not one of the ${what}`,
      );
    return v as T[];
  }
}

function bad(key: string, expected: string, got: unknown): RpcArgError {
  return new RpcArgError(`invalid argument '${key}': expected ${expected}, got ${describe(got)}`);
}

/** Which torrents a request names (Transmission's `ids`, spec section 3.1). */
export type IdSelector =
  { kind: 'all' } | { kind: 'recently-active' } | { kind: 'list'; ids: Array<number | string> };

const HASH = /^[0-9a-fA-F]{40}$/;
const MAX_IDS = 100_000;

/** `ids`: absent = all; an integer; `recently-active`; a hash string; or a list of integers and hashes. */
export function readIds(args: ArgReader): IdSelector {
  const v = args.value('ids');
  if (v === undefined) return { kind: 'all' };
  if (v === 'recently-active') return { kind: 'recently-active' };
  const items = Array.isArray(v) ? v : [v];
  if (items.length > MAX_IDS) throw new RpcArgError(`invalid argument 'ids': more than ${MAX_IDS} ids`);
  const ids: Array<number | string> = [];
  for (const x of items) {
    if (typeof x === 'number' && Number.isSafeInteger(x)) ids.push(x);
    else if (typeof x === 'string' && HASH.test(x)) ids.push(x.toLowerCase());
    else {
      throw new RpcArgError(
        `invalid argument 'ids': ${describe(x)} is neither a torrent id number nor a 40-digit info-hash`,
      );
    }
  }
  return { kind: 'list', ids };
}

/** A parsed request envelope, or the `result` to answer a broken one with (and the tag, if readable). */
export type Envelope =
  { ok: true; method: string; args: ArgReader; tag?: number } | { ok: false; result: string; tag?: number };

/** Parse a request body. Never throws: bad JSON, a non-object, a missing method are `ok: false`. */
export function parseEnvelope(body: string): Envelope {
  let top: unknown;
  try {
    top = JSON.parse(body);
  } catch (err) {
    // RangeError for absurd nesting lands here too.
    return { ok: false, result: `malformed JSON request: ${(err as Error).message.slice(0, 120)}` };
  }
  if (!isObject(top))
    return { ok: false, result: `malformed request: expected a JSON object, got ${describe(top)}` };
  const tagValue = get(top, 'tag');
  let tag: number | undefined;
  if (tagValue !== undefined) {
    if (typeof tagValue !== 'number' || !Number.isSafeInteger(tagValue)) {
      return { ok: false, result: `invalid 'tag': expected an integer, got ${describe(tagValue)}` };
    }
    tag = tagValue;
  }
  const method = get(top, 'method');
  if (method === undefined) return { ok: false, result: 'no method name', tag };
  if (typeof method !== 'string')
    return { ok: false, result: `invalid 'method': expected a string, got ${describe(method)}`, tag };
  const rawArgs = get(top, 'arguments');
  if (rawArgs !== undefined && !isObject(rawArgs)) {
    return { ok: false, result: `invalid 'arguments': expected an object, got ${describe(rawArgs)}`, tag };
  }
  return { ok: true, method, args: new ArgReader(rawArgs ?? {}), tag };
}
