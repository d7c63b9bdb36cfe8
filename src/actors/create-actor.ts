/**
 * The `create` runtime: runs the pure create transition as an actor and performs its effects on a
 * hash pool. Resolves with the concatenated piece hashes; progress comes out as events.
 */

import { createActor } from './actor';
import {
  CreateEffect,
  CreateIn,
  CreateOut,
  CreateState,
  createTransition,
  initialCreateState,
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
}

/** Hash every piece of `layout` (or `pieces`) on the pool; at most two batches per worker are in flight. */
export function hashFiles(o: HashFilesOptions): Promise<Buffer> {
  const pieceCount = Math.ceil(o.total / o.pieceLength);
  // ~8 MiB per batch: large enough to amortise thread hand-offs, small enough for smooth progress.
  const batchPieces = Math.max(1, Math.floor((8 * 1024 * 1024) / o.pieceLength));
  return new Promise<Buffer>((resolve, reject) => {
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
        o.pool.hashPieces(o.layout, o.pieceLength, o.total, eff.first, eff.count).then(
          (hashes) => self.send({ type: 'BatchHashed', first: eff.first, hashes }),
          (err: HashError) =>
            self.send({ type: 'HashFailed', first: eff.first, message: err.message, path: err.path }),
        );
      },
      onError: (err) => reject(err),
    });
    actor.events$.subscribe((e) => {
      o.onEvent?.(e);
      if (e.type === 'HashingFailed') {
        reject(new HashError(e.message, undefined, e.path));
        actor.stop();
      }
    });
    actor.send({
      type: 'Start',
      pieceCount,
      pieceLength: o.pieceLength,
      total: o.total,
      batchPieces,
      maxInFlight: o.pool.size * 2,
      ...(o.pieces ? { ranges: toRanges(o.pieces) } : {}),
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
