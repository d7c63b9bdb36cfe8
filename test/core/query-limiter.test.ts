import { QueryLimiter } from '../../src/core/query-limiter';

describe('per-source query limiter', () => {
  test('a burst, then the sustained rate; the episode is reported once', () => {
    const l = new QueryLimiter({ rate: 10, burst: 5 });
    const at0 = Array.from({ length: 8 }, () => l.take('a', 0));
    expect(at0).toEqual(['ok', 'ok', 'ok', 'ok', 'ok', 'limited', 'dropped', 'dropped']);
    expect(l.take('b', 0)).toBe('ok'); // other sources are unaffected
    expect(l.take('a', 100)).toBe('ok'); // 100 ms at 10/s refills one
    expect(l.take('a', 100)).toBe('dropped'); // the same flood: not reported again
    expect(l.take('a', 1000)).toBe('ok'); // calmed down: half the burst saved up again
    for (let i = 0; i < 4; i++) l.take('a', 1000);
    expect(l.take('a', 1000)).toBe('limited'); // a new flood, a new report
    expect(l.dropped).toBe(5);
  });

  test('remembers a bounded number of sources; sweep forgets refilled ones', () => {
    const l = new QueryLimiter({ rate: 1, burst: 2, maxKeys: 3 });
    for (let i = 0; i < 10; i++) l.take(`s${i}`, 0);
    expect(l.sources).toBe(3);
    l.sweep(500);
    expect(l.sources).toBe(3);
    l.sweep(1000);
    expect(l.sources).toBe(0);
  });
});
