/** Near-miss names for "did you mean …?" hints when a torrent is not found in a store. */

/** Names close to `wanted`, best first (case-insensitive Levenshtein on the part before `.torrent`). */
export function closeMatches(wanted: string, names: readonly string[], max = 3): string[] {
  const stem = (s: string): string => s.toLowerCase().replace(/\.torrent$/, '');
  const w = stem(wanted);
  return names
    .map((n) => {
      const s = stem(n);
      const [short, long] = s.length <= w.length ? [s, w] : [w, s];
      const contained = short.length >= 4 && long.includes(short);
      const d = contained ? Math.min(1, (long.length - short.length) / 20) : levenshtein(w, s);
      return { n, d };
    })
    .filter((x) => x.d <= Math.max(2, Math.floor(w.length / 3)))
    .sort((a, b) => a.d - b.d || (a.n < b.n ? -1 : 1))
    .slice(0, max)
    .map((x) => x.n);
}

function levenshtein(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++) {
      cur[j] = Math.min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    prev = cur;
  }
  return prev[b.length];
}
