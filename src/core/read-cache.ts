/**
 * The uploader's logic: answering peers' block requests from a small cache of whole pieces, with lazy
 * verification for seeds.
 *
 * Owns: the cache entries (a piece being read, being hashed, or ready), LRU eviction, which requests wait
 * for which entry, and the rule that a piece not yet verified (`check`) is hashed after its first read and
 * served only if it matches. Blocks leave as copies of their own (never views into a cached piece), so a
 * slow peer's queued blocks never pin a cached piece and a cache buffer can go back to the pool as soon
 * as it is evicted. Does not own: disk reads or hashing (effects, performed by src/actors/uploader.ts),
 * buffers (a process-wide `BufferPool`), or which pieces may be sent (the torrent asks only for
 * servable pieces).
 *
 * When the pool has no buffer left (its budget is shared by every torrent) and no entry of ours can be
 * evicted, a request is served by reading just its block — memory stays bounded, only read-ahead is lost.
 *
 * The state is mutable and owned by one actor.
 */
import type { BufferPool } from './buffer-pool';
import type { BlockSpan } from './piece-picker';
import type { Step } from './step';

export interface BlockRequest {
  peer: string;
  span: BlockSpan;
}

export type ReadCacheIn =
  /** A peer wants a block; `check`: the piece has not been verified yet (hash it before serving). */
  | { type: 'ReadBlock'; peer: string; span: BlockSpan; check: boolean }
  | { type: 'PieceRead'; index: number; data: Buffer }
  | { type: 'PieceReadFailed'; index: number; message: string; code?: string }
  | { type: 'PieceHashed'; index: number; ok: boolean; data: Buffer }
  | { type: 'BlockReadDirect'; peer: string; span: BlockSpan; data: Buffer }
  | { type: 'BlockReadFailed'; peer: string; span: BlockSpan; message: string; code?: string };

export type ReadCacheOut =
  | { type: 'BlockRead'; peer: string; span: BlockSpan; data: Buffer }
  | { type: 'BlockUnavailable'; peer: string; span: BlockSpan }
  /** The first read of an unverified piece hashed: good (now verified) or not (never to be sent). */
  | { type: 'PieceChecked'; index: number; ok: boolean }
  | { type: 'ReadFailed'; index: number; message: string; code?: string };

export type ReadCacheEffect =
  | { type: 'ReadPiece'; index: number; target: Buffer }
  | { type: 'ReadBlock'; peer: string; span: BlockSpan }
  | { type: 'HashPiece'; index: number; data: Buffer };

interface Entry {
  stage: 'reading' | 'hashing' | 'ready';
  buf: Buffer | null;
  /** The piece must hash correctly before any block is served. */
  check: boolean;
  waiters: BlockRequest[];
}

export interface ReadCacheState {
  /** Insertion order is recency: the first entry is the least recently used. */
  readonly entries: Map<number, Entry>;
  readonly capacity: number;
  readonly pool: BufferPool;
  readonly pieceSize: (index: number) => number;
}

export function initialReadCache(opts: {
  capacity: number;
  pool: BufferPool;
  pieceSize: (index: number) => number;
}): ReadCacheState {
  return { entries: new Map(), ...opts };
}

type CacheStep = Step<ReadCacheState, ReadCacheEffect, ReadCacheOut>;

export function readCacheTransition(s: ReadCacheState, m: ReadCacheIn): CacheStep {
  const effects: ReadCacheEffect[] = [];
  const events: ReadCacheOut[] = [];
  switch (m.type) {
    case 'ReadBlock': {
      const hit = s.entries.get(m.span.index);
      if (hit) {
        s.entries.delete(m.span.index); // touch: most recently used
        s.entries.set(m.span.index, hit);
        if (hit.stage === 'ready' && hit.buf) events.push(serve(hit.buf, m));
        else hit.waiters.push({ peer: m.peer, span: m.span });
        break;
      }
      const buf = bufferFor(s, s.pieceSize(m.span.index));
      if (!buf) {
        // No cache room: unverified pieces must be read whole (to hash); others are read block by block.
        if (m.check) events.push({ type: 'BlockUnavailable', peer: m.peer, span: m.span });
        else effects.push({ type: 'ReadBlock', peer: m.peer, span: m.span });
        break;
      }
      s.entries.set(m.span.index, {
        stage: 'reading',
        buf,
        check: m.check,
        waiters: [{ peer: m.peer, span: m.span }],
      });
      effects.push({ type: 'ReadPiece', index: m.span.index, target: buf });
      break;
    }
    case 'PieceRead': {
      const e = s.entries.get(m.index);
      if (!e || e.stage !== 'reading') {
        s.pool.give(m.data); // released while it was being read
        break;
      }
      e.buf = m.data;
      if (e.check) {
        e.stage = 'hashing';
        e.buf = null; // moved to the hash worker; it comes back with PieceHashed
        effects.push({ type: 'HashPiece', index: m.index, data: m.data });
        break;
      }
      e.stage = 'ready';
      for (const w of e.waiters.splice(0)) events.push(serve(m.data, w));
      break;
    }
    case 'PieceHashed': {
      const e = s.entries.get(m.index);
      if (!e || e.stage !== 'hashing') {
        if (m.data.length > 0) s.pool.give(m.data);
        break;
      }
      events.push({ type: 'PieceChecked', index: m.index, ok: m.ok });
      if (m.ok) {
        e.stage = 'ready';
        e.check = false;
        e.buf = m.data;
        for (const w of e.waiters.splice(0)) events.push(serve(m.data, w));
      } else {
        for (const w of e.waiters.splice(0)) events.push({ type: 'BlockUnavailable', ...w });
        s.entries.delete(m.index);
        s.pool.give(m.data);
      }
      break;
    }
    case 'PieceReadFailed': {
      const e = s.entries.get(m.index);
      if (!e) break;
      for (const w of e.waiters.splice(0)) events.push({ type: 'BlockUnavailable', ...w });
      events.push({ type: 'ReadFailed', index: m.index, message: m.message, code: m.code });
      s.entries.delete(m.index);
      if (e.buf) s.pool.give(e.buf);
      break;
    }
    case 'BlockReadDirect':
      events.push({ type: 'BlockRead', peer: m.peer, span: m.span, data: m.data });
      break;
    case 'BlockReadFailed':
      events.push({ type: 'BlockUnavailable', peer: m.peer, span: m.span });
      events.push({ type: 'ReadFailed', index: m.span.index, message: m.message, code: m.code });
      break;
  }
  return { state: s, effects, events };
}

/** A block as a buffer of its own (see the module header for why not a view). */
function serve(piece: Buffer, r: BlockRequest): ReadCacheOut {
  const { begin, length } = r.span;
  if (begin + length > piece.length) return { type: 'BlockUnavailable', peer: r.peer, span: r.span };
  const data = Buffer.allocUnsafeSlow(length);
  piece.copy(data, 0, begin, begin + length);
  return { type: 'BlockRead', peer: r.peer, span: r.span, data };
}

/** A buffer for a new entry: from the pool while the cache has room, else by evicting our LRU ready entry. */
function bufferFor(s: ReadCacheState, size: number): Buffer | undefined {
  if (s.entries.size < s.capacity) {
    const b = s.pool.take(size);
    if (b) return b;
  }
  for (const [index, e] of s.entries) {
    if (e.stage !== 'ready' || !e.buf) continue;
    s.entries.delete(index);
    if (e.buf.length === size) return e.buf;
    s.pool.give(e.buf);
    return s.pool.take(size);
  }
  return undefined;
}

/**
 * Gives every idle buffer back (the torrent is pausing or stopping); buffers still being read or hashed
 * go back when their result arrives and finds no entry. Waiting requests are answered as unavailable.
 */
export function releaseReadCache(s: ReadCacheState): ReadCacheOut[] {
  const out: ReadCacheOut[] = [];
  for (const [index, e] of s.entries) {
    if (e.stage === 'ready' && e.buf) s.pool.give(e.buf);
    for (const w of e.waiters) out.push({ type: 'BlockUnavailable', ...w });
    s.entries.delete(index);
  }
  return out;
}
