/**
 * One routing-table entry, kept compact: every engine holds a table, and a benchmark holds hundreds.
 *
 * Owns: the entry's shape — the id as a 20-character latin1 string, the address as its 6- or 18-byte
 * compact form (what `nodes` carries on the wire), times as small
 * integers relative to the table's creation (V8 keeps those unboxed; absolute milliseconds would be a
 * heap number per field) — and the pure rules on entries: BEP 5's node states, which replacement is
 * best, and turning an entry back into a contact. Does not own: buckets (routing-table.ts).
 */
import { NodeContact, decodeCompactAddress } from '../protocol/krpc';

export type NodeStatus = 'good' | 'questionable' | 'bad';
/** How we learned of a node: listed in someone's reply, it queried us, or it answered our query. */
export type Seen = 'heard' | 'queried' | 'responded';

/** BEP 5's freshness window for good nodes and buckets. */
export const GOOD_WINDOW_MS = 15 * 60_000;
/** Failed queries in a row that make a node bad. */
export const MAX_FAILURES = 2;
/** "Never", as a small integer far in the past of any table time (a literal: computed, it would be a heap number). */
export const NEVER = -0x40000000;

/** One entry: times relative to the table's epoch (small integers); NEVER for events that never happened. */
export interface Entry {
  key: string;
  addr: string;
  verified: boolean;
  lastResponse: number;
  lastQuery: number;
  lastAsked: number;
  failures: number;
}

export function statusAt(
  failures: number,
  verified: boolean,
  lastResponse: number,
  lastQuery: number,
  now: number,
): NodeStatus {
  if (failures >= MAX_FAILURES) return 'bad';
  if (now - lastResponse < GOOD_WINDOW_MS) return 'good';
  if (verified && now - lastQuery < GOOD_WINDOW_MS) return 'good';
  return 'questionable';
}

export function fresh(key: string, addr: string): Entry {
  return {
    key,
    addr,
    verified: false,
    lastResponse: NEVER,
    lastQuery: NEVER,
    lastAsked: NEVER,
    failures: 0,
  };
}

export function touch(e: Entry, seen: Seen, t: number): void {
  if (seen === 'responded') {
    e.lastResponse = t;
    e.verified = true;
    e.failures = 0;
  } else if (seen === 'queried') e.lastQuery = t;
}

export function lastSeen(e: Entry): number {
  return Math.max(e.lastResponse, e.lastQuery);
}

/** Index of the entry that answered us most recently (then was seen most recently). */
export function best(xs: readonly Entry[]): number {
  let i = 0;
  for (let j = 1; j < xs.length; j++)
    if (
      xs[j].lastResponse > xs[i].lastResponse ||
      (xs[j].lastResponse === xs[i].lastResponse && lastSeen(xs[j]) > lastSeen(xs[i]))
    )
      i = j;
  return i;
}

/** The opposite of `best`: the replacement to drop when the cache is full. */
export function worst(xs: readonly Entry[]): number {
  let i = 0;
  for (let j = 1; j < xs.length; j++)
    if (
      xs[j].lastResponse < xs[i].lastResponse ||
      (xs[j].lastResponse === xs[i].lastResponse && lastSeen(xs[j]) < lastSeen(xs[i]))
    )
      i = j;
  return i;
}

/** The compact IP (without the port) of a compact address. */
export function ipOf(addr: string): string {
  return addr.slice(0, addr.length - 2);
}

export function contactOf(e: Entry): NodeContact {
  const a = decodeCompactAddress(Buffer.from(e.addr, 'latin1')) as { ip: string; port: number };
  return { id: Buffer.from(e.key, 'latin1'), ip: a.ip, port: a.port };
}

/** The first 30 bits of an id key, as a small integer: sorts by distance without a full comparison. */
export function prefixOf(key: string): number {
  return (
    (key.charCodeAt(0) << 22) |
    (key.charCodeAt(1) << 14) |
    (key.charCodeAt(2) << 6) |
    (key.charCodeAt(3) >> 2)
  );
}

/** Whether id `a` is closer to `target` than id `b` (both as latin1 keys). */
export function closerKey(a: string, b: string, target: Buffer): boolean {
  for (let i = 0; i < 20; i++) {
    const da = a.charCodeAt(i) ^ target[i];
    const db = b.charCodeAt(i) ^ target[i];
    if (da !== db) return da < db;
  }
  return false;
}
