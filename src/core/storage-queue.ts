/**
 * The pure logic of the disk queue: which block writes and reads to start, how many bytes wait for the
 * disk, when that amount crosses the high/low watermarks (libtorrent's `back_pressure`), and when every
 * block of a piece is on disk.
 *
 * Owns: a FIFO of writes and one of reads, a bound on how many of each run at once, byte accounting,
 * watermark hysteresis, per-piece write progress, and range checks against the torrent's piece sizes.
 * Does not own: files (src/storage/piece-storage.ts) or running effects (src/actors/storage-actor.ts).
 * Never says a piece is *good*: `PieceWritten` means "on disk"; the torrent hands it only pieces that
 * the verifier already passed.
 *
 * Accounting: `queuedBytes` counts write bytes accepted and not yet on disk (waiting + in flight).
 * Pressure turns on when `queuedBytes >= highWatermark` and off only when `queuedBytes <= lowWatermark`,
 * so the scheduler does not flap around one threshold.
 *
 * Progress per piece counts distinct block offsets; a piece is written when those cover its size and no
 * accepted write for it is still pending. Send `DiscardPiece` when a piece fails verification or is
 * abandoned, so a late duplicate block cannot count towards its next download.
 *
 * @example
 *   let s = initialStorageQueue({ pieceLength: 32768, total: 40000 });
 *   ({ state: s } = storageQueueTransition(s, { type: 'WriteBlock', index: 0, begin: 0, data })); // effect Write id 1
 *   storageQueueTransition(s, { type: 'DiskWroteBlock', id: 1 }).events // BlockWritten (+ PieceWritten when all there)
 */
import type { Step } from './step';

export const DEFAULT_HIGH_WATERMARK = 16 * 1024 * 1024;
export const DEFAULT_LOW_WATERMARK = 4 * 1024 * 1024;
export const DEFAULT_MAX_WRITES = 4;
export const DEFAULT_MAX_READS = 4;

export interface StorageQueueConfig {
  pieceLength: number;
  /** Total content length. */
  total: number;
  maxConcurrentWrites?: number;
  maxConcurrentReads?: number;
  highWatermark?: number;
  lowWatermark?: number;
}

export type ReqId = number | string;

/** An immutable FIFO (a pair of cons lists), so queueing stays O(1) without mutating state. */
type List<T> = { readonly head: T; readonly tail: List<T> } | null;
export interface Fifo<T> {
  readonly front: List<T>;
  readonly back: List<T>;
  readonly size: number;
}

export interface PendingWrite {
  id: number;
  index: number;
  begin: number;
  data: Uint8Array;
}

export interface PendingRead {
  id: number;
  reqId: ReqId;
  index: number;
  begin: number;
  length: number;
}

interface PieceProgress {
  /** Writes accepted for this piece before this id belong to an earlier, discarded attempt. */
  readonly since: number;
  readonly pending: number;
  readonly bytes: number;
  readonly begins: ReadonlySet<number>;
  readonly failed: boolean;
}

export interface StorageQueueState {
  readonly pieceLength: number;
  readonly total: number;
  readonly pieceCount: number;
  readonly maxWrites: number;
  readonly maxReads: number;
  readonly high: number;
  readonly low: number;
  readonly writes: Fifo<PendingWrite>;
  readonly reads: Fifo<PendingRead>;
  /** Writes started and not yet finished, by id (index/begin/length kept for the completion). */
  readonly writing: ReadonlyMap<number, { index: number; begin: number; length: number }>;
  readonly readsInFlight: number;
  readonly queuedBytes: number;
  readonly pressure: boolean;
  readonly pieces: ReadonlyMap<number, PieceProgress>;
  readonly nextId: number;
}

export type StorageIn =
  /** Command: write a block (the data is held until it is on disk). */
  | { type: 'WriteBlock'; index: number; begin: number; data: Uint8Array }
  /** Command: read a block; the answer is `BlockRead` or `ReadFailed` with the same `reqId`. */
  | { type: 'ReadBlock'; reqId: ReqId; index: number; begin: number; length: number }
  /** Command: forget write progress for a piece (failed verification, abandoned). */
  | { type: 'DiscardPiece'; index: number }
  /** Facts from the runtime. */
  | { type: 'DiskWroteBlock'; id: number }
  | { type: 'DiskWriteFailed'; id: number; code: string; path?: string; message: string }
  | { type: 'DiskReadBlock'; id: number; reqId: ReqId; index: number; begin: number; data: Buffer }
  | {
      type: 'DiskReadFailed';
      id: number;
      reqId: ReqId;
      index: number;
      begin: number;
      code: string;
      path?: string;
      message: string;
    };

export type StorageEffect =
  | { type: 'Write'; id: number; index: number; begin: number; data: Uint8Array }
  | { type: 'Read'; id: number; reqId: ReqId; index: number; begin: number; length: number };

export type StorageOut =
  | {
      category: 'storage';
      type: 'BlockWritten';
      level: 'debug';
      index: number;
      begin: number;
      length: number;
      queuedBytes: number;
    }
  | { category: 'storage'; type: 'PieceWritten'; index: number }
  | {
      category: 'storage';
      type: 'BlockRead';
      level: 'debug';
      reqId: ReqId;
      index: number;
      begin: number;
      data: Buffer;
    }
  | { category: 'storage'; type: 'DiskPressureChanged'; on: boolean; queuedBytes: number }
  | {
      category: 'error';
      type: 'WriteFailed';
      level: 'error';
      index: number;
      begin: number;
      length: number;
      code: string;
      path?: string;
      message: string;
    }
  | {
      category: 'error';
      type: 'ReadFailed';
      level: 'error';
      reqId: ReqId;
      index: number;
      begin: number;
      code: string;
      path?: string;
      message: string;
    };

type QStep = Step<StorageQueueState, StorageEffect, StorageOut>;

const emptyFifo: Fifo<never> = { front: null, back: null, size: 0 };

function push<T>(q: Fifo<T>, x: T): Fifo<T> {
  return { front: q.front, back: { head: x, tail: q.back }, size: q.size + 1 };
}

function shift<T>(q: Fifo<T>): [T, Fifo<T>] | undefined {
  let front = q.front;
  let back = q.back;
  if (!front) {
    for (; back; back = back.tail) front = { head: back.head, tail: front };
  }
  if (!front) return undefined;
  return [front.head, { front: front.tail, back, size: q.size - 1 }];
}

export function initialStorageQueue(c: StorageQueueConfig): StorageQueueState {
  const high = c.highWatermark ?? DEFAULT_HIGH_WATERMARK;
  const low = Math.min(c.lowWatermark ?? DEFAULT_LOW_WATERMARK, high);
  return {
    pieceLength: c.pieceLength,
    total: c.total,
    pieceCount: Math.ceil(c.total / c.pieceLength),
    maxWrites: Math.max(1, c.maxConcurrentWrites ?? DEFAULT_MAX_WRITES),
    maxReads: Math.max(1, c.maxConcurrentReads ?? DEFAULT_MAX_READS),
    high,
    low,
    writes: emptyFifo,
    reads: emptyFifo,
    writing: new Map(),
    readsInFlight: 0,
    queuedBytes: 0,
    pressure: false,
    pieces: new Map(),
    nextId: 1,
  };
}

/** Size of piece `index` (the last one may be shorter). */
export function queuePieceSize(
  s: Pick<StorageQueueState, 'pieceLength' | 'total' | 'pieceCount'>,
  index: number,
): number {
  return index === s.pieceCount - 1 ? s.total - s.pieceLength * (s.pieceCount - 1) : s.pieceLength;
}

function rangeError(s: StorageQueueState, index: number, begin: number, length: number): string | undefined {
  if (!Number.isSafeInteger(index) || index < 0 || index >= s.pieceCount)
    return `piece ${index} out of range`;
  const size = queuePieceSize(s, index);
  if (
    !Number.isSafeInteger(begin) ||
    !Number.isSafeInteger(length) ||
    begin < 0 ||
    length <= 0 ||
    begin + length > size
  ) {
    return `block ${begin}+${length} outside piece ${index} (${size} bytes)`;
  }
  return undefined;
}

export function storageQueueTransition(s: StorageQueueState, m: StorageIn): QStep {
  switch (m.type) {
    case 'WriteBlock': {
      const bad = rangeError(s, m.index, m.begin, m.data.length);
      if (bad) {
        const events: StorageOut[] = [writeFailed(m.index, m.begin, m.data.length, 'range', undefined, bad)];
        return { state: s, events };
      }
      const id = s.nextId;
      const p = s.pieces.get(m.index) ?? {
        since: id,
        pending: 0,
        bytes: 0,
        begins: new Set<number>(),
        failed: false,
      };
      const pieces = new Map(s.pieces).set(m.index, { ...p, pending: p.pending + 1 });
      const next: StorageQueueState = {
        ...s,
        nextId: id + 1,
        pieces,
        writes: push(s.writes, { id, index: m.index, begin: m.begin, data: m.data }),
        queuedBytes: s.queuedBytes + m.data.length,
      };
      return finish(s, next, []);
    }
    case 'ReadBlock': {
      const bad = rangeError(s, m.index, m.begin, m.length);
      if (bad) return { state: s, events: [readFailed(m.reqId, m.index, m.begin, 'range', undefined, bad)] };
      const id = s.nextId;
      const next: StorageQueueState = {
        ...s,
        nextId: id + 1,
        reads: push(s.reads, { id, reqId: m.reqId, index: m.index, begin: m.begin, length: m.length }),
      };
      return finish(s, next, []);
    }
    case 'DiscardPiece': {
      if (!s.pieces.has(m.index)) return { state: s };
      const pieces = new Map(s.pieces);
      pieces.delete(m.index);
      return { state: { ...s, pieces } };
    }
    case 'DiskWroteBlock':
    case 'DiskWriteFailed': {
      const w = s.writing.get(m.id);
      if (!w) return { state: s };
      const writing = new Map(s.writing);
      writing.delete(m.id);
      const events: StorageOut[] = [];
      const queuedBytes = s.queuedBytes - w.length;
      let pieces = s.pieces;
      const p = s.pieces.get(w.index);
      if (m.type === 'DiskWroteBlock') {
        events.push({ category: 'storage', type: 'BlockWritten', level: 'debug', ...w, queuedBytes });
      } else {
        events.push(writeFailed(w.index, w.begin, w.length, m.code, m.path, m.message));
      }
      if (p && m.id >= p.since) {
        const fresh = m.type === 'DiskWroteBlock' && !p.begins.has(w.begin);
        const upd: PieceProgress = {
          ...p,
          pending: p.pending - 1,
          bytes: fresh ? p.bytes + w.length : p.bytes,
          begins: fresh ? new Set(p.begins).add(w.begin) : p.begins,
          failed: p.failed || m.type === 'DiskWriteFailed',
        };
        const copy = new Map(s.pieces);
        pieces = copy;
        if (!upd.failed && upd.pending === 0 && upd.bytes >= queuePieceSize(s, w.index)) {
          copy.delete(w.index);
          events.push({ category: 'storage', type: 'PieceWritten', index: w.index });
        } else if (upd.failed && upd.pending === 0) {
          // Nothing more will arrive for this attempt: forget it, the caller re-requests the piece.
          copy.delete(w.index);
        } else {
          copy.set(w.index, upd);
        }
      }
      return finish(s, { ...s, writing, pieces, queuedBytes }, events);
    }
    case 'DiskReadBlock':
    case 'DiskReadFailed': {
      const next = { ...s, readsInFlight: Math.max(0, s.readsInFlight - 1) };
      const events: StorageOut[] =
        m.type === 'DiskReadBlock'
          ? [
              {
                category: 'storage',
                type: 'BlockRead',
                level: 'debug',
                reqId: m.reqId,
                index: m.index,
                begin: m.begin,
                data: m.data,
              },
            ]
          : [readFailed(m.reqId, m.index, m.begin, m.code, m.path, m.message)];
      return finish(s, next, events);
    }
  }
}

/** Starts queued work up to the concurrency bounds and applies watermark hysteresis. */
function finish(prev: StorageQueueState, s: StorageQueueState, events: StorageOut[]): QStep {
  const effects: StorageEffect[] = [];
  let writes = s.writes;
  let writing = s.writing;
  while (writing.size < s.maxWrites) {
    const got = shift(writes);
    if (!got) break;
    const [w, rest] = got;
    writes = rest;
    if (writing === s.writing) writing = new Map(s.writing);
    (writing as Map<number, { index: number; begin: number; length: number }>).set(w.id, {
      index: w.index,
      begin: w.begin,
      length: w.data.length,
    });
    effects.push({ type: 'Write', id: w.id, index: w.index, begin: w.begin, data: w.data });
  }
  let reads = s.reads;
  let readsInFlight = s.readsInFlight;
  while (readsInFlight < s.maxReads) {
    const got = shift(reads);
    if (!got) break;
    const [r, rest] = got;
    reads = rest;
    readsInFlight++;
    effects.push({ type: 'Read', ...r });
  }
  let pressure = prev.pressure;
  if (!pressure && s.queuedBytes >= s.high) pressure = true;
  else if (pressure && s.queuedBytes <= s.low) pressure = false;
  if (pressure !== prev.pressure) {
    events.push({
      category: 'storage',
      type: 'DiskPressureChanged',
      on: pressure,
      queuedBytes: s.queuedBytes,
    });
  }
  return { state: { ...s, writes, writing, reads, readsInFlight, pressure }, effects, events };
}

function writeFailed(
  index: number,
  begin: number,
  length: number,
  code: string,
  p: string | undefined,
  message: string,
): StorageOut {
  return {
    category: 'error',
    type: 'WriteFailed',
    level: 'error',
    index,
    begin,
    length,
    code,
    path: p,
    message,
  };
}

function readFailed(
  reqId: ReqId,
  index: number,
  begin: number,
  code: string,
  p: string | undefined,
  message: string,
): StorageOut {
  return {
    category: 'error',
    type: 'ReadFailed',
    level: 'error',
    reqId,
    index,
    begin,
    code,
    path: p,
    message,
  };
}
