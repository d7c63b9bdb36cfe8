/**
 * The hash verifier: checks a downloaded piece's SHA1 against the torrent.
 *
 * Owns: the queue of pieces being hashed (bounded: `busy$` turns true at `maxQueued` so the scheduler
 * stops requesting, false again below it) and turning hashes into `PieceHashed` facts; the bytes come
 * back in the event, for the storage write. Does not own: what a failure means (the torrent frees the
 * blocks and blames senders) or the pool (the engine's, shared by every torrent).
 *
 * Where the hash runs: on this thread by default. A 512 KiB piece takes ~0.3 ms of OpenSSL SHA1; handing
 * it to a worker and back cost more than that in total CPU (BENCHMARKS.md, "Transfer", issue 14: each
 * transferred ArrayBuffer counts as new external memory, which drove a major GC every few dozen pieces,
 * and every hand-off wakes another thread). With `pool` the hash runs on a worker instead.
 *
 * @example
 *   const verifier = createVerifier({ expected: (i) => pieceHash(meta, i) });
 *   verifier.events$.subscribe((e) => e.ok ? disk.send({ type: 'WriteBlock', index: e.index, begin: 0, data: e.data }) : retry(e.index));
 *   verifier.send({ type: 'Verify', index: 3, data: pieceBytes });
 */
import { createHash } from 'node:crypto';
import { Observable, distinctUntilChanged, map } from 'rxjs';
import { ActorRef, createActor } from './actor';
import type { HashPool } from '../streams/hash-pool';

export type VerifierIn =
  | { type: 'Verify'; index: number; data: Buffer }
  | { type: 'Hashed'; index: number; ok: boolean; data: Buffer; error?: string };

export type VerifierOut = { type: 'PieceHashed'; index: number; ok: boolean; data: Buffer; error?: string };

type VerifierEffect = { type: 'Hash'; index: number; data: Buffer };

export interface VerifierState {
  inFlight: number;
  busy: boolean;
}

export interface VerifierOptions {
  /** Hash on this worker pool instead of on the calling thread. */
  pool?: HashPool;
  /** The torrent's SHA1 of piece `index`. */
  expected: (index: number) => Buffer;
  /** Pieces hashing at once before `busy$` turns on (default 16). */
  maxQueued?: number;
  onError?: (err: unknown) => void;
}

export interface Verifier extends ActorRef<VerifierIn, VerifierOut, VerifierState> {
  readonly busy$: Observable<boolean>;
}

export function createVerifier(o: VerifierOptions): Verifier {
  const max = o.maxQueued ?? 16;
  const actor = createActor<VerifierState, VerifierIn, VerifierOut, VerifierEffect>({
    name: 'verifier',
    initial: { inFlight: 0, busy: false },
    transition: (s, m) => {
      if (m.type === 'Verify') {
        const inFlight = s.inFlight + 1;
        return {
          state: { inFlight, busy: inFlight >= max },
          effects: [{ type: 'Hash', index: m.index, data: m.data }],
        };
      }
      const inFlight = Math.max(0, s.inFlight - 1);
      return {
        state: { inFlight, busy: inFlight >= max },
        events: [{ type: 'PieceHashed', index: m.index, ok: m.ok, data: m.data, error: m.error }],
      };
    },
    perform: (eff, self) => {
      if (!o.pool) {
        // The answer is queued behind this step, like a worker's would be (transitions never nest).
        const hash = createHash('sha1').update(eff.data).digest();
        self.send({
          type: 'Hashed',
          index: eff.index,
          ok: hash.equals(o.expected(eff.index)),
          data: eff.data,
        });
        return;
      }
      o.pool.hashOwned(eff.data).then(
        ({ hash, bytes }) =>
          self.send({
            type: 'Hashed',
            index: eff.index,
            ok: hash.equals(o.expected(eff.index)),
            data: bytes,
          }),
        (err: Error) =>
          self.send({
            type: 'Hashed',
            index: eff.index,
            ok: false,
            data: Buffer.alloc(0),
            error: err.message,
          }),
      );
    },
    onError: o.onError ? (err) => o.onError?.(err) : undefined,
  });
  const busy$ = actor.state$.pipe(
    map((s) => s.busy),
    distinctUntilChanged(),
  );
  return Object.assign(actor, { busy$ });
}
