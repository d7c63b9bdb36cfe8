/**
 * Retry delays for failed announce rounds: exponential backoff with jitter (15 s × 2^(n-1), capped
 * at 30 min, minus up to 25 %), and before any tracker has answered a fast start (1 s, 2 s, 4 s,
 * 8 s: the steps below the usual first delay) so that a tracker switched on a moment after its peers
 * meets them within seconds.
 *
 * Owns: the delay arithmetic and its defaults. Does not own: when a round counts as failed, or the
 * schedule itself (announce-state.ts). Pure; the jitter's random value comes in as `rand`.
 */

export const BACKOFF_BASE_MS = 15_000;
export const BACKOFF_MAX_MS = 30 * 60_000;
/** Jitter takes up to this fraction off a backoff delay (so the cap is never exceeded). */
export const BACKOFF_JITTER = 0.25;
/** First retry while no tracker has answered yet; doubles while below `backoffBaseMs`. */
export const STARTUP_RETRY_MS = 1_000;

/** Backoff before the next round after `failures` consecutive failed rounds (≥ 1); `rand` in [0, 1). */
export function backoffDelay(
  failures: number,
  rand = 0,
  base: number = BACKOFF_BASE_MS,
  max: number = BACKOFF_MAX_MS,
): number {
  const raw = Math.min(max, base * 2 ** Math.min(30, Math.max(0, failures - 1)));
  return Math.round(raw * (1 - BACKOFF_JITTER * Math.min(1, Math.max(0, rand))));
}

/**
 * Delay before the next round after `failures` consecutive failed rounds. Before any tracker answered
 * (`startup`), the first rounds use `startupRetryMs` doubling while that stays below the usual first
 * delay, then the usual backoff from its start: 1, 2, 4, 8, 15, 30, 60 s … at the defaults.
 *
 * @example
 *   [1, 2, 3, 4, 5, 6].map((n) => retryDelay(n, true));  // [1000, 2000, 4000, 8000, 15000, 30000]
 *   retryDelay(1, false);                                 // 15000
 */
export function retryDelay(
  failures: number,
  startup: boolean,
  rand = 0,
  c: { backoffBaseMs: number; backoffMaxMs: number; startupRetryMs: number } = {
    backoffBaseMs: BACKOFF_BASE_MS,
    backoffMaxMs: BACKOFF_MAX_MS,
    startupRetryMs: STARTUP_RETRY_MS,
  },
): number {
  let fast = 0; // how many doublings of startupRetryMs stay below the usual first delay
  if (startup && c.startupRetryMs > 0) {
    while (fast < 30 && c.startupRetryMs * 2 ** fast < c.backoffBaseMs) fast++;
  }
  if (failures <= fast) return backoffDelay(failures, rand, c.startupRetryMs, c.backoffBaseMs);
  return backoffDelay(failures - fast, rand, c.backoffBaseMs, c.backoffMaxMs);
}
