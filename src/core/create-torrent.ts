/**
 * The pure logic of `create`: hands out piece batches to hash with a bounded number in flight, collects
 * the hashes in order, and reports progress. The runtime (src/actors/create-actor.ts) performs the
 * `HashBatch` effects on the hash pool; this module never touches a file or a thread.
 */
import { Step } from '../actors/actor';

export interface CreateState {
  phase: 'idle' | 'hashing' | 'done' | 'failed';
  pieceCount: number;
  pieceLength: number;
  total: number;
  batchPieces: number;
  maxInFlight: number;
  /** First piece of the next batch to hand out. */
  next: number;
  inFlight: number;
  /** Hashes per batch, indexed by batch number. */
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
      const base: CreateState = {
        ...s,
        phase: 'hashing',
        pieceCount: m.pieceCount,
        pieceLength: m.pieceLength,
        total: m.total,
        batchPieces: Math.max(1, m.batchPieces),
        maxInFlight: Math.max(1, m.maxInFlight),
      };
      const { state, effects } = dispatch(base);
      return {
        state,
        effects,
        events: [
          {
            category: 'create',
            type: 'HashingStarted',
            pieces: m.pieceCount,
            bytes: m.total,
            pieceLength: m.pieceLength,
          },
        ],
      };
    }
    case 'BatchHashed': {
      if (s.phase !== 'hashing') return { state: s };
      const b = Math.floor(m.first / s.batchPieces);
      const batches = s.batches.slice();
      batches[b] = m.hashes;
      const count = m.hashes.length / 20;
      const piecesDone = s.piecesDone + count;
      const bytesDone = Math.min(s.total, piecesDone * s.pieceLength);
      const progressed: CreateState = { ...s, batches, inFlight: s.inFlight - 1, piecesDone, bytesDone };
      const progress: CreateOut = {
        category: 'create',
        type: 'PiecesHashed',
        done: piecesDone,
        pieces: s.pieceCount,
        bytes: bytesDone,
        level: 'debug',
      };
      if (piecesDone === s.pieceCount) {
        const pieces = Buffer.concat(batches as Buffer[]);
        return {
          state: { ...progressed, phase: 'done', batches: [] },
          effects: [{ type: 'Finish', pieces }],
          events: [
            progress,
            { category: 'create', type: 'HashingFinished', pieces: s.pieceCount, bytes: s.total },
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

function dispatch(s: CreateState): { state: CreateState; effects: CreateEffect[] } {
  const effects: CreateEffect[] = [];
  let { next, inFlight } = s;
  while (inFlight < s.maxInFlight && next < s.pieceCount) {
    const count = Math.min(s.batchPieces, s.pieceCount - next);
    effects.push({ type: 'HashBatch', first: next, count });
    next += count;
    inFlight++;
  }
  return { state: { ...s, next, inFlight }, effects };
}
