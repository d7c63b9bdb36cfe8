/**
 * Rate limiting on streams, shared by every peer of the process through one TokenBucket per direction.
 *
 * Owns: applying a bucket to real I/O. Downloads are limited at the socket: after a chunk arrives the
 * socket is paused for as long as the bucket says, so TCP's own flow control slows the sender (no bytes
 * are buffered here). Uploads are limited by delaying each block's send. `throttle` is the same rule as
 * an RxJS operator, for any stream of buffers.
 */
import type { Duplex } from 'node:stream';
import type { MonoTypeOperatorFunction, SchedulerLike } from 'rxjs/internal/types';
import { Observable } from 'rxjs/internal/Observable';
import { Subscription } from 'rxjs/internal/Subscription';
import { asyncScheduler } from 'rxjs/internal/scheduler/async';
import type { RateLimiter } from '../core/token-bucket';

/** Delay each buffer so that the bytes passed stay within the bucket's rate. Order is kept. */
export function throttle(
  bucket: RateLimiter,
  scheduler: SchedulerLike = asyncScheduler,
): MonoTypeOperatorFunction<Buffer> {
  return (source) =>
    new Observable<Buffer>((subscriber) => {
      const timers = new Subscription();
      let readyAt = 0; // when the previous buffer goes out: later ones never overtake it
      let pending = 0;
      let sourceDone = false;
      const sub = source.subscribe({
        next: (buf) => {
          const now = scheduler.now();
          const at = Math.max(readyAt, now + bucket.reserve(buf.length, now));
          readyAt = at;
          pending++;
          timers.add(
            scheduler.schedule(() => {
              subscriber.next(buf);
              if (--pending === 0 && sourceDone) subscriber.complete();
            }, at - now),
          );
        },
        error: (err) => subscriber.error(err),
        complete: () => {
          sourceDone = true;
          if (pending === 0) subscriber.complete();
        },
      });
      timers.add(sub);
      return timers;
    });
}

/**
 * Limit what a socket may receive: call after each chunk is handled. Pauses the socket for the wait the
 * bucket asks for, then resumes it (unless the socket ended meanwhile).
 */
export function limitReceive(
  socket: Duplex,
  bucket: RateLimiter,
  bytes: number,
  clock: () => number = Date.now,
): void {
  if (!bucket.limited) return;
  const wait = bucket.reserve(bytes, clock());
  if (wait <= 0) return;
  socket.pause();
  const t = setTimeout(() => {
    if (!socket.destroyed) socket.resume();
  }, wait);
  t.unref();
}
