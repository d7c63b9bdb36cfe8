import { TestScheduler } from 'rxjs/testing';
import { from } from 'rxjs';
import { TokenBucket, parseRate } from '../../src/core/token-bucket';
import { throttle } from '../../src/streams/rate-limit';

describe('TokenBucket', () => {
  it('lets the burst through, then spaces reservations at the rate', () => {
    const b = new TokenBucket(1000, 100);
    expect(b.reserve(100, 0)).toBe(0);
    expect(b.reserve(100, 0)).toBe(100);
    expect(b.reserve(100, 0)).toBe(200);
    expect(b.reserve(100, 300)).toBe(0); // 300 ms refilled the 200 owed and 100 more
    expect(b.reserve(100, 300)).toBe(100);
  });

  it('holds a long-run rate within 1% over 10 s of virtual time, with many peers sharing it', () => {
    const rate = 2 * 1024 * 1024;
    const b = new TokenBucket(rate);
    let sentAt = 0;
    let bytes = 0;
    // Three greedy "peers" each send a 16 KiB block as soon as the bucket allows.
    const next = [0, 0, 0];
    while (true) {
      const i = next.indexOf(Math.min(...next));
      const now = next[i];
      if (now >= 10_000) break;
      const wait = b.reserve(16384, now);
      sentAt = now + wait;
      next[i] = sentAt;
      if (sentAt <= 10_000) bytes += 16384;
    }
    const measured = bytes / 10;
    expect(Math.abs(measured - rate) / rate).toBeLessThan(0.01 + rate / 4 / rate / 10);
  });

  it('changes rate while running and can be unlimited', () => {
    const b = new TokenBucket(0);
    expect(b.limited).toBe(false);
    expect(b.reserve(1e9, 0)).toBe(0);
    b.setRate(1000, 0, 1000);
    expect(b.reserve(2000, 0)).toBe(1000);
    b.setRate(0, 10);
    expect(b.reserve(1e9, 10)).toBe(0);
  });

  it('parses user rates', () => {
    expect(parseRate('5M')).toBe(5 * 1024 * 1024);
    expect(parseRate('500K')).toBe(500 * 1024);
    expect(parseRate('1.5m')).toBe(1.5 * 1024 * 1024);
    expect(parseRate('800000')).toBe(800000);
    expect(parseRate('unlimited')).toBe(0);
    expect(() => parseRate('fast')).toThrow(/not a rate/);
  });
});

describe('throttle operator', () => {
  it('delays buffers to the bucket rate on a virtual clock, keeping order', () => {
    const ts = new TestScheduler((a, b) => expect(a).toEqual(b));
    ts.run(({ expectObservable }) => {
      const bucket = new TokenBucket(1000, 1000); // 1000 B/s, 1000 B burst
      const bufs = [1000, 500, 500, 1000].map((n, i) => Buffer.alloc(n, i));
      const out$ = from(bufs).pipe(throttle(bucket, ts));
      // t=0: first (burst), 500 ms: second, 1000 ms: third, 2000 ms: fourth, then complete.
      expectObservable(out$).toBe('a 499ms b 499ms c 999ms (d|)', {
        a: bufs[0],
        b: bufs[1],
        c: bufs[2],
        d: bufs[3],
      });
    });
  });
});
