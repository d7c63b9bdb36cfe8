/**
 * The pure logic of `create`: hands out piece batches to hash with a bounded number in flight, collects
 * the hashes in order, and reports progress. The runtime (src/actors/create-actor.ts) performs the
 * `HashBatch` effects on the hash pool; this module never touches a file or a thread.
 *
 * By default every piece is hashed; `Start.ranges` restricts it to some pieces (a resume re-check of
 * the pieces of changed files). Progress and `Finish` then count and return only those, in order.
 */
import type { Step } from './step';

export interface CreateState {
  phase: 'idle' | 'hashing' | 'done' | 'failed';
  pieceCount: number;
  pieceLength: number;
  total: number;
  batchPieces: number;
  maxInFlight: number;
  /** The batches to hash, ascending and disjoint. */
  plan: readonly { first: number; count: number }[];
  /** Pieces in `plan`. */
  planned: number;
  /** Index in `plan` of the next batch to hand out. */
  next: number;
  inFlight: number;
  /** Hashes per batch, indexed like `plan`. */
  batches: readonly (Buffer | undefined)[];
  piecesDone: number;
  bytesDone: number;
}

export type CreateIn =
  | {
      type: 'Start';
      pieceCount: number;
      pieceLength: number;
      total: number;
      batchPieces: number;
      maxInFlight: number;
      /** Only these piece ranges (ascending, disjoint); default every piece. */
      ranges?: readonly { first: number; count: number }[];
    }
  | { type: 'BatchHashed'; first: number; hashes: Buffer }
  | { type: 'HashFailed'; first: number; message: string; path?: string };

export type CreateEffect =
  { type: 'HashBatch'; first: number; count: number } | { type: 'Finish'; pieces: Buffer };

export type CreateOut =
  | { category: 'create'; type: 'HashingStarted'; pieces: number; bytes: number; pieceLength: number }
  | { category: 'create'; type: 'PiecesHashed'; done: number; pieces: number; bytes: number; level: 'debug' }
  | { category: 'create'; type: 'HashingFinished'; pieces: number; bytes: number }
  | { category: 'error'; type: 'HashingFailed'; level: 'error'; message: string; path?: string };

export const initialCreateState: CreateState = {
  phase: 'idle',
  pieceCount: 0,
  pieceLength: 0,
  total: 0,
  batchPieces: 1,
  maxInFlight: 1,
  plan: [],
  planned: 0,
  next: 0,
  inFlight: 0,
  batches: [],
  piecesDone: 0,
  bytesDone: 0,
};

type CreateStep = Step<CreateState, CreateEffect, CreateOut>;

export function createTransition(s: CreateState, m: CreateIn): CreateStep {
  switch (m.type) {
    case 'Start': {
      if (s.phase !== 'idle') return { state: s };
      const batchPieces = Math.max(1, m.batchPieces);
      const plan = planBatches(m.pieceCount, batchPieces, m.ranges);
      const planned = plan.reduce((n, b) => n + b.count, 0);
      const bytes = plan.reduce((n, b) => n + batchBytes(m, b), 0);
      const started: CreateOut = {
        category: 'create',
        type: 'HashingStarted',
        pieces: planned,
        bytes,
        pieceLength: m.pieceLength,
      };
      const base: CreateState = {
        ...s,
        phase: 'hashing',
        pieceCount: m.pieceCount,
        pieceLength: m.pieceLength,
        total: m.total,
        batchPieces,
        maxInFlight: Math.max(1, m.maxInFlight),
        plan,
        planned,
      };
      if (planned === 0) {
        return {
          state: { ...base, phase: 'done' },
          effects: [{ type: 'Finish', pieces: Buffer.alloc(0) }],
          events: [started, { category: 'create', type: 'HashingFinished', pieces: 0, bytes: 0 }],
        };
      }
      const { state, effects } = dispatch(base);
      return { state, effects, events: [started] };
    }
    case 'BatchHashed': {
      if (s.phase !== 'hashing') return { state: s };
      const b = planIndex(s.plan, m.first);
      if (b < 0 || s.batches[b] !== undefined) return { state: s };
      const batches = s.batches.slice();
      batches[b] = m.hashes;
      const piecesDone = s.piecesDone + s.plan[b].count;
      const bytesDone = s.bytesDone + batchBytes(s, s.plan[b]);
      const progressed: CreateState = { ...s, batches, inFlight: s.inFlight - 1, piecesDone, bytesDone };
      const progress: CreateOut = {
        category: 'create',
        type: 'PiecesHashed',
        done: piecesDone,
        pieces: s.planned,
        bytes: bytesDone,
        level: 'debug',
      };
      if (piecesDone === s.planned) {
        const pieces = Buffer.concat(batches as Buffer[]);
        return {
          state: { ...progressed, phase: 'done', batches: [] },
          effects: [{ type: 'Finish', pieces }],
          events: [
            progress,
            { category: 'create', type: 'HashingFinished', pieces: s.planned, bytes: bytesDone },
          ],
        };
      }
      const { state, effects } = dispatch(progressed);
      return { state, effects, events: [progress] };
    }
    case 'HashFailed':
      if (s.phase !== 'hashing') return { state: s };
      return {
        state: { ...s, phase: 'failed', inFlight: s.inFlight - 1 },
        events: [
          { category: 'error', type: 'HashingFailed', level: 'error', message: m.message, path: m.path },
        ],
      };
  }
}

/**
 * Pieces per batch: ~8 MiB, large enough that a worker's message per batch costs nothing, small enough
 * for smooth progress and for the workers to finish together.
 */
export function batchPiecesFor(pieceLength: number): number {
  return Math.max(1, Math.floor((8 * 1024 * 1024) / pieceLength));
}

/**
 * The batches of at most `batchPieces` pieces that `Start` hands out, in order: every piece, or only
 * those of `ranges`. The runtime computes the same plan to start the hashing before the actor runs.
 */
export function planBatches(
  pieceCount: number,
  batchPieces: number,
  ranges: readonly { first: number; count: number }[] = [{ first: 0, count: pieceCount }],
): { first: number; count: number }[] {
  const per = Math.max(1, batchPieces);
  const plan: { first: number; count: number }[] = [];
  for (const r of ranges) {
    const end = Math.min(pieceCount, r.first + r.count);
    for (let f = Math.max(0, r.first); f < end; f += per)
      plan.push({ first: f, count: Math.min(per, end - f) });
  }
  return plan;
}

function dispatch(s: CreateState): { state: CreateState; effects: CreateEffect[] } {
  const effects: CreateEffect[] = [];
  let { next, inFlight } = s;
  while (inFlight < s.maxInFlight && next < s.plan.length) {
    effects.push({ type: 'HashBatch', ...s.plan[next] });
    next++;
    inFlight++;
  }
  return { state: { ...s, next, inFlight }, effects };
}

/** Bytes in a batch (the last piece of the torrent may be short). */
function batchBytes(g: { pieceLength: number; total: number }, b: { first: number; count: number }): number {
  return Math.min(g.total, (b.first + b.count) * g.pieceLength) - b.first * g.pieceLength;
}

/** Index of the batch starting at `first` in an ascending plan, or -1. */
function planIndex(plan: readonly { first: number }[], first: number): number {
  let lo = 0;
  let hi = plan.length - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    if (plan[mid].first === first) return mid;
    if (plan[mid].first < first) lo = mid + 1;
    else hi = mid - 1;
  }
  return -1;
}
