/**
 * The engine's one event type, and its text and JSON renderings.
 *
 * Owns: the `EngineEvent` shape, the categories, and how an event is printed (`ISO category type k=v`)
 * or serialised (one JSON object per line). Secrets never reach either form: keys that look like
 * credentials are redacted here, at the single place every event passes through.
 */

export type EventCategory =
  | 'error'
  | 'peer'
  | 'tracker'
  | 'piece'
  | 'block'
  | 'storage'
  | 'create'
  | 'store'
  | 'engine'
  /** BEP 9 metadata exchange (magnet links). */
  | 'metadata'
  /** Peer sources other than trackers: PEX (BEP 11), LSD (BEP 14). */
  | 'discovery'
  /** The Transmission-compatible remote control. */
  | 'rpc';

export type EventLevel = 'debug' | 'info' | 'warn' | 'error';

/** The named fields every event has; the rest are free-form details. */
export interface EventFields {
  category: EventCategory;
  /** Past-tense fact (`PieceVerified`, `PeerConnected`) or a progress name. */
  type: string;
  level?: EventLevel;
  /** Info-hash (hex) of the torrent concerned, when there is one. */
  torrent?: string;
  /** Peer address `ip:port`, when there is one. */
  peer?: string;
}

export interface EngineEvent extends EventFields {
  /** ISO 8601 time stamp. */
  ts: string;
  [key: string]: unknown;
}

/** Fields a caller supplies; `ts` is stamped by the log. (Not `Omit<EngineEvent, 'ts'>`: with the index
 * signature that would drop the named fields' types.) */
export interface EventInput extends EventFields {
  ts?: string;
  [key: string]: unknown;
}

const SECRET_KEY = /token|secret|password|authorization|credential|verifier/i;

/** Returns a JSON-safe copy with bigints as strings, buffers as hex and credential-like keys redacted. */
export function sanitize(event: EngineEvent): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(event)) {
    if (v === undefined) continue;
    out[k] = SECRET_KEY.test(k) ? '[redacted]' : jsonSafe(v, 0);
  }
  return out;
}

function jsonSafe(v: unknown, depth: number): unknown {
  if (typeof v === 'bigint') return v.toString();
  if (Buffer.isBuffer(v) || v instanceof Uint8Array) return Buffer.from(v).toString('hex');
  if (v instanceof Error) return v.message;
  if (depth > 4) return '…';
  if (Array.isArray(v)) return v.map((x) => jsonSafe(x, depth + 1));
  if (v && typeof v === 'object') {
    const o: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v)) o[k] = SECRET_KEY.test(k) ? '[redacted]' : jsonSafe(x, depth + 1);
    return o;
  }
  return v;
}

export function toJsonLine(event: EngineEvent): string {
  return JSON.stringify(sanitize(event));
}

/** `2026-11-24T09:00:00.000Z piece PieceVerified torrent=ab12… index=3` */
export function toTextLine(event: EngineEvent): string {
  const s = sanitize(event);
  const parts = [String(s.ts), String(s.category), String(s.type)];
  for (const [k, v] of Object.entries(s)) {
    if (k === 'ts' || k === 'category' || k === 'type') continue;
    const text = typeof v === 'string' ? v : JSON.stringify(v);
    parts.push(`${k}=${/\s/.test(text) ? JSON.stringify(text) : text}`);
  }
  return parts.join(' ');
}
