/**
 * Milliseconds since an epoch, as a small integer where it fits: V8 keeps object fields that only
 * ever hold small integers unboxed, while a single heap number stored into a field boxes that field
 * in every object of the same shape. `now - epoch` on two `Date.now()` values is such a heap number
 * in unoptimized code, even when the difference is small; `| 0` makes it a small integer again.
 * After 24.8 days the value no longer fits in 32 bits and is returned as it is (boxed, still right).
 *
 * Used by the long-lived, numerous records: routing-table entries and per-source query buckets.
 *
 * @example
 *   sinceEpoch(1_700_000_000_500, 1_700_000_000_000) // 500, unboxed
 */
export function sinceEpoch(now: number, epoch: number): number {
  const t = now - epoch;
  return t >= -0x80000000 && t <= 0x7fffffff ? t | 0 : t;
}
