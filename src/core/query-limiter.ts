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

interface Bucket {
  tokens: number;
  at: number;
  limited: boolean;
}

export class QueryLimiter {
  private readonly cfg: QueryLimitConfig;
  private readonly buckets = new Map<string, Bucket>();
  dropped = 0;

  constructor(config: Partial<QueryLimitConfig> = {}) {
    this.cfg = { ...DEFAULT_QUERY_LIMIT, ...config };
  }

  get sources(): number {
    return this.buckets.size;
  }

  take(key: string, now: number): TakeOutcome {
    let b = this.buckets.get(key);
    if (b) {
      this.buckets.delete(key); // re-insert below: Map order is least recently touched first
      b.tokens = Math.min(this.cfg.burst, b.tokens + ((now - b.at) / 1000) * this.cfg.rate);
      b.at = now;
    } else {
      if (this.buckets.size >= this.cfg.maxKeys)
        this.buckets.delete(this.buckets.keys().next().value as string);
      b = { tokens: this.cfg.burst, at: now, limited: false };
    }
    this.buckets.set(key, b);
    // An episode ends when the source has calmed down (half its burst saved up again), not when a
    // sustained flood earns its next token: one report per flood.
    if (b.limited && b.tokens >= this.cfg.burst / 2) b.limited = false;
    if (b.tokens >= 1) {
      b.tokens -= 1;
      return 'ok';
    }
    this.dropped++;
    if (b.limited) return 'dropped';
    b.limited = true;
    return 'limited';
  }

  /** Forget sources whose bucket has refilled (they would start full anyway). */
  sweep(now: number): void {
    for (const [key, b] of this.buckets)
      if (b.tokens + ((now - b.at) / 1000) * this.cfg.rate >= this.cfg.burst) this.buckets.delete(key);
  }
}
