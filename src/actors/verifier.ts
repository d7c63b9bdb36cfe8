/**
 * The hash verifier: checks a downloaded piece's SHA1 against the torrent.
 *
 * Owns: the queue of pieces being hashed (bounded: `busy$` turns true at `maxQueued` so the scheduler
 * stops requesting, false again below it) and turning hashes into `PieceHashed` facts; the bytes come
 * back in the event, for the storage write. Does not own: what a failure means (the torrent frees the
 * blocks and blames senders) or the pool (the engine's, shared by every torrent).
 *
 * Where the hash runs: by default on libuv's thread pool (WebCrypto's digest: OpenSSL SHA1 on a pool
 * thread, after one copy of the piece on this thread), at most `maxHashing` pieces at a time, so the
 * thread that parses the wire is not also the one that hashes (~0.7 s per GiB) and no worker isolate
 * is started. A worker pool (`pool`) cost more CPU than that (BENCHMARKS.md, "Transfer", issue 14: each
 * transferred ArrayBuffer counts as new external memory, which drove a major GC every few dozen pieces).
 * `inline: true` hashes on this thread.
 *
 * @example
 *   const verifier = createVerifier({ expected: (i) => pieceHash(meta, i) });
 *   verifier.events$.subscribe((e) => e.ok ? disk.send({ type: 'WriteBlock', index: e.index, begin: 0, data: e.data }) : retry(e.index));
 *   verifier.send({ type: 'Verify', index: 3, data: pieceBytes });
 */
import { createHash, webcrypto } from 'node:crypto';
import { Observable } from 'rxjs/internal/Observable';
import { distinctUntilChanged } from 'rxjs/internal/operators/distinctUntilChanged';
import { map } from 'rxjs/internal/operators/map';
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
  /** Hash on this thread instead of libuv's thread pool (ignored with `pool`). */
  inline?: boolean;
  /** Thread-pool hashes running at once (default 2); each holds a copy of its piece until done. */
  maxHashing?: number;
  onError?: (err: unknown) => void;
}

export interface Verifier extends ActorRef<VerifierIn, VerifierOut, VerifierState> {
  readonly busy$: Observable<boolean>;
}

export function createVerifier(o: VerifierOptions): Verifier {
  const max = o.maxQueued ?? 16;
  const threadPool = boundedDigest(o.maxHashing ?? 2);
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
      const answer = (hash: Uint8Array, data = eff.data): void =>
        self.send({ type: 'Hashed', index: eff.index, ok: o.expected(eff.index).equals(hash), data });
      // A worker that failed kept the bytes it was handed; the other paths still hold them.
      const failed = (data: Buffer) => (err: Error) =>
        self.send({ type: 'Hashed', index: eff.index, ok: false, data, error: err.message });
      if (o.pool) {
        o.pool.hashOwned(eff.data).then(({ hash, bytes }) => answer(hash, bytes), failed(Buffer.alloc(0)));
      } else if (o.inline) {
        // The answer is queued behind this step, like the others' (transitions never nest).
        answer(createHash('sha1').update(eff.data).digest());
      } else {
        threadPool(eff.data).then((h) => answer(new Uint8Array(h)), failed(eff.data));
      }
    },
    onError: o.onError ? (err) => o.onError?.(err) : undefined,
  });
  const busy$ = actor.state$.pipe(
    map((s) => s.busy),
    distinctUntilChanged(),
  );
  return Object.assign(actor, { busy$ });
}

/**
 * SHA1 on libuv's thread pool, at most `limit` at a time; the rest wait here, in order. WebCrypto copies
 * the input when a digest starts, which may be later than the call: the caller must leave `data`
 * unchanged until the promise settles (the verifier owns a piece's buffer until it answers). The bound
 * keeps those copies to `limit` pieces and leaves pool threads free for the disk writes. `digest` is
 * replaceable for tests of the bound.
 */
export function boundedDigest(
  limit: number,
  digest: (data: Buffer) => Promise<ArrayBuffer> = (data) => webcrypto.subtle.digest('SHA-1', data),
): (data: Buffer) => Promise<ArrayBuffer> {
  let running = 0;
  const waiting: Array<() => void> = [];
  const next = (): void => {
    running--;
    waiting.shift()?.();
  };
  return (data) =>
    new Promise<ArrayBuffer>((resolve, reject) => {
      const start = (): void => {
        running++;
        // A digest that throws instead of rejecting still frees its slot.
        Promise.resolve()
          .then(() => digest(data))
          .then(resolve, reject)
          .finally(next);
      };
      if (running < Math.max(1, limit)) start();
      else waiting.push(start);
    });
}
