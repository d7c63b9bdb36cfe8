/**
 * A per-source limit on incoming DHT queries: a token bucket per key, the keys bounded in number.
 *
 * Owns: the buckets and when a source becomes (and stops being) limited, so the node can report a
 * flood once per episode rather than once per datagram. Does not own: what a key is (the DHT node
 * keys by IP, and by IP and port on loopback, where every node shares one address) or the clock.
 *
 * Memory is bounded by `maxKeys`: when full, the key touched longest ago is forgotten (a forgotten
 * source starts again with a full bucket, which is the worst a spoofed-address flood can buy).
 *
 * @example
 *   const limiter = new QueryLimiter({ rate: 20, burst: 50 });
 *   limiter.take('10.0.0.2', now); // 'ok' until 50 queries arrive faster than 20 a second, then 'limited'
 *                                  // once, then 'dropped' (or 'ok' at 20 a second) until it calms down
 */

import { sinceEpoch } from './small-time';

export interface QueryLimitConfig {
  /** Queries per second a source may sustain. */
  rate: number;
  /** Queries a source may send at once after a quiet spell. */
  burst: number;
  /** Sources remembered at most. */
  maxKeys: number;
}

export const DEFAULT_QUERY_LIMIT: QueryLimitConfig = { rate: 20, burst: 50, maxKeys: 4096 };

/** `limited`: this query is dropped and the source just became limited; `dropped`: still limited. */
export type TakeOutcome = 'ok' | 'limited' | 'dropped';

/** Tokens in thousandths and time in ms since the limiter's first query: small integers, unboxed. */
interface Bucket {
  milli: number;
  at: number;
  limited: boolean;
}

export class QueryLimiter {
  private readonly cfg: QueryLimitConfig;
  private readonly buckets = new Map<string, Bucket>();
  private epoch: number | undefined;
  dropped = 0;

  constructor(config: Partial<QueryLimitConfig> = {}) {
    this.cfg = { ...DEFAULT_QUERY_LIMIT, ...config };
  }

  get sources(): number {
    return this.buckets.size;
  }

  take(key: string, now: number): TakeOutcome {
    const t = this.rel(now);
    const full = this.cfg.burst * 1000;
    let b = this.buckets.get(key);
    if (b) {
      this.buckets.delete(key); // re-insert below: Map order is least recently touched first
      b.milli = Math.min(full, b.milli + (t - b.at) * this.cfg.rate); // rate/s = thousandths per ms
      b.at = t;
    } else {
      if (this.buckets.size >= this.cfg.maxKeys)
        this.buckets.delete(this.buckets.keys().next().value as string);
      b = { milli: full, at: t, limited: false };
    }
    this.buckets.set(key, b);
    // An episode ends when the source has calmed down (half its burst saved up again), not when a
    // sustained flood earns its next token: one report per flood.
    if (b.limited && b.milli >= full / 2) b.limited = false;
    if (b.milli >= 1000) {
      b.milli -= 1000;
      return 'ok';
    }
    this.dropped++;
    if (b.limited) return 'dropped';
    b.limited = true;
    return 'limited';
  }

  /** Forget sources whose bucket has refilled (they would start full anyway). */
  sweep(now: number): void {
    const t = this.rel(now);
    const full = this.cfg.burst * 1000;
    for (const [key, b] of this.buckets)
      if (b.milli + (t - b.at) * this.cfg.rate >= full) this.buckets.delete(key);
  }

  private rel(now: number): number {
    this.epoch ??= now;
    return sinceEpoch(now, this.epoch);
  }
}
