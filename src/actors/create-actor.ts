/**
 * The `create` runtime: runs the pure create transition as an actor and performs its effects on a
 * hash pool's batch job. Resolves with the concatenated piece hashes; progress comes out as events.
 */

import { createActor } from './actor';
import {
  CreateEffect,
  CreateIn,
  CreateOut,
  CreateState,
  batchPiecesFor,
  createTransition,
  initialCreateState,
  planBatches,
} from '../core/create-torrent';
import { LayoutFile } from '../storage/file-layout';
import { HashError, HashPool } from '../streams/hash-pool';

export interface HashFilesOptions {
  layout: LayoutFile[];
  total: number;
  pieceLength: number;
  pool: HashPool;
  /**
   * Hash only these pieces (a resume re-check); the result then holds their hashes in ascending piece
   * order, 20 bytes each. Default: every piece.
   */
  pieces?: readonly number[];
  /** Receives every event of the actor (progress, start, finish, failure). */
  onEvent?: (e: CreateOut) => void;
  /** Hash on this thread too, between its event-loop turns (for callers that only wait, like `create`). */
  helpHere?: boolean;
}

/** Hash every piece of `layout` (or `pieces`) on the pool's workers, which take batch after batch. */
export function hashFiles(o: HashFilesOptions): Promise<Buffer> {
  const pieceCount = Math.ceil(o.total / o.pieceLength);
  const batchPieces = batchPiecesFor(o.pieceLength);
  const ranges = o.pieces ? toRanges(o.pieces) : undefined;
  const job = o.pool.hashBatches({
    files: o.layout,
    pieceLength: o.pieceLength,
    total: o.total,
    batches: planBatches(pieceCount, batchPieces, ranges),
  });
  if (o.helpHere) job.helpHere();
  return new Promise<Buffer>((resolve, reject) => {
    const fail = (err: Error): void => {
      job.fail(new HashError('cancelled'));
      reject(err);
    };
    const actor = createActor<CreateState, CreateIn, CreateOut, CreateEffect>({
      name: 'create',
      initial: initialCreateState,
      transition: createTransition,
      perform: (eff, self) => {
        if (eff.type === 'Finish') {
          resolve(eff.pieces);
          self.stop();
          return;
        }
        job.result(eff.first).then(
          (hashes) => self.send({ type: 'BatchHashed', first: eff.first, hashes }),
          (err: HashError) =>
            self.send({ type: 'HashFailed', first: eff.first, message: err.message, path: err.path }),
        );
      },
      onError: (err) => fail(err as Error),
    });
    actor.events$.subscribe((e) => {
      o.onEvent?.(e);
      if (e.type === 'HashingFailed') {
        fail(new HashError(e.message, undefined, e.path));
        actor.stop();
      }
    });
    actor.send({
      type: 'Start',
      pieceCount,
      pieceLength: o.pieceLength,
      total: o.total,
      batchPieces,
      // The workers run ahead on their own; this only bounds the waits the actor holds at once.
      maxInFlight: o.pool.size * 2,
      ...(ranges ? { ranges } : {}),
    });
  });
}

/** Ascending, de-duplicated runs of consecutive piece indices. */
function toRanges(pieces: readonly number[]): { first: number; count: number }[] {
  const sorted = [...new Set(pieces)].sort((a, b) => a - b);
  const out: { first: number; count: number }[] = [];
  for (const p of sorted) {
    const last = out[out.length - 1];
    if (last && last.first + last.count === p) last.count++;
    else out.push({ first: p, count: 1 });
  }
  return out;
}
