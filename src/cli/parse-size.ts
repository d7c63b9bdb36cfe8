/** Sizes as users write them on the command line. Kept apart so `create`'s early start can read them. */

/** `524288`, `512K`, `512KiB`, `1M` → bytes. */
export function parseSize(s: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*([kmgt]?)(?:i?b)?$/i.exec(s.trim());
  if (!m) throw new Error(`not a size: ${s} (use bytes or a suffix like 512K, 1M)`);
  const mult = { '': 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3, t: 1024 ** 4 }[
    m[2].toLowerCase() as '' | 'k' | 'm' | 'g' | 't'
  ];
  const n = Math.round(Number(m[1]) * mult);
  if (!Number.isSafeInteger(n)) throw new Error(`size too large: ${s}`);
  return n;
}

/** Piece lengths `create` accepts: a power of two from 16 KiB to 64 MiB. */
export function isPieceLength(n: number): boolean {
  return n >= 16384 && n <= 64 * 1024 * 1024 && (n & (n - 1)) === 0;
}
