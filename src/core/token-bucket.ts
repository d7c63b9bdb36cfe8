/**
 * A token bucket for byte rates: `rate` bytes per second refill, up to `burst` bytes saved up.
 *
 * Owns: the arithmetic only. Time comes in as `now` (ms) on every call, so the same bucket runs on the
 * wall clock in the engine and on a virtual clock in tests. Callers *reserve*: `reserve(n, now)` always
 * takes the bytes (the balance may go negative) and answers how long to wait before using them — so a
 * 16 KiB block is never split, and many peers sharing one bucket are served in arrival order.
 *
 * @example
 *   const b = new TokenBucket(1_000_000);  // 1 MB/s, burst defaults to rate / 4
 *   b.reserve(250_000, 0);  // 0: the initial burst covers it
 *   b.reserve(500_000, 0);  // 500: wait half a second
 */
/** What a rate-limited stream needs: whether a limit applies, and how long to wait for `bytes`. */
export interface RateLimiter {
  readonly limited: boolean;
  reserve(bytes: number, now: number): number;
}

export class TokenBucket implements RateLimiter {
  private tokens: number;
  private last: number | undefined;

  /** `rate` 0 or Infinity = unlimited. */
  constructor(
    private rate: number,
    private burst: number = Math.max(16 * 1024, rate / 4),
  ) {
    this.tokens = this.burst;
  }

  get limited(): boolean {
    return this.rate > 0 && Number.isFinite(this.rate);
  }

  get bytesPerSecond(): number {
    return this.limited ? this.rate : Infinity;
  }

  /** Change the rate while running; what was saved up is kept, clipped to the new burst. */
  setRate(rate: number, now: number, burst: number = Math.max(16 * 1024, rate / 4)): void {
    this.refill(now);
    this.rate = rate;
    this.burst = burst;
    this.tokens = Math.min(this.tokens, burst);
  }

  /** Take `bytes` now; returns the ms to wait before sending/receiving them (0 = go ahead). */
  reserve(bytes: number, now: number): number {
    if (!this.limited) return 0;
    this.refill(now);
    this.tokens -= bytes;
    return this.tokens >= 0 ? 0 : Math.ceil((-this.tokens / this.rate) * 1000);
  }

  private refill(now: number): void {
    if (this.last === undefined) {
      this.last = now;
      return;
    }
    const elapsed = Math.max(0, now - this.last);
    this.last = now;
    if (this.limited) this.tokens = Math.min(this.burst, this.tokens + (elapsed * this.rate) / 1000);
  }
}

/**
 * Several limits at once (a torrent's own and the process-wide one): the bytes are taken from each, and
 * the wait is the longest.
 */
export function chainLimiters(...limiters: RateLimiter[]): RateLimiter {
  return {
    get limited() {
      return limiters.some((l) => l.limited);
    },
    reserve(bytes, now) {
      let wait = 0;
      for (const l of limiters) wait = Math.max(wait, l.reserve(bytes, now));
      return wait;
    },
  };
}

/** `5M`, `500K`, `1.5M`, `800000` (bytes per second; K = 1024) → number; `0`/`unlimited` → 0. */
export function parseRate(s: string): number {
  const t = s.trim().toLowerCase();
  if (t === '0' || t === 'unlimited' || t === 'off' || t === 'none') return 0;
  const m = /^(\d+(?:\.\d+)?)\s*([kmg]?)(?:i?b)?(?:\/s)?$/.exec(t);
  if (!m) throw new Error(`not a rate: ${JSON.stringify(s)} (use bytes per second, or 500K, 5M)`);
  const mult = { '': 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3 }[m[2] as '' | 'k' | 'm' | 'g'];
  return Math.round(Number(m[1]) * mult);
}
