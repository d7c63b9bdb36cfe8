import { pipelineDepth, RateMeter } from '../../src/core/rate-meter';

describe('RateMeter', () => {
  it('is zero before any bytes', () => {
    expect(new RateMeter().rate(12_345)).toBe(0);
  });

  it('measures a steady stream exactly over the window', () => {
    const m = new RateMeter({ start: 0 });
    for (let t = 0; t < 20_000; t += 100) m.add(1000, t); // 10 kB/s
    expect(m.rate(20_000)).toBeCloseTo(10_000, 5);
    // Mid-bucket, discrete samples make it approximate: 50 samples of 1000 B over 4.95 s.
    expect(m.rate(19_950)).toBeCloseTo(50_000 / 4.95, 6);
    expect(m.total).toBe(200_000);
  });

  it('rates a new peer by the time since it started, not the whole window', () => {
    const m = new RateMeter();
    m.add(16384, 0);
    m.add(16384, 500);
    expect(m.rate(1000)).toBe(32768);
    expect(m.rate(2000)).toBe(16384);
  });

  it('never divides by less than one bucket (no spike from one early block)', () => {
    const m = new RateMeter();
    m.add(16384, 1000);
    expect(m.rate(1000)).toBe(16384);
  });

  it('forgets bytes older than the window', () => {
    const m = new RateMeter({ windowMs: 5000, bucketMs: 1000 });
    m.add(50_000, 0);
    expect(m.rate(4999)).toBe(50_000 / 4.999);
    expect(m.rate(5000)).toBe(0);
    m.add(5000, 7000);
    expect(m.rate(7500)).toBeCloseTo(5000 / 4.5, 6);
  });

  it('reuses bucket slots as time passes and ignores samples from before the window', () => {
    const m = new RateMeter({ windowMs: 3000, bucketMs: 1000, start: 0 });
    m.add(3000, 100);
    m.add(3000, 3100); // same slot as t=100, three buckets later
    expect(m.rate(3500)).toBeCloseTo(3000 / 2.5, 6);
    m.add(9999, 200); // a late sample far behind the window
    expect(m.rate(3500)).toBeCloseTo(3000 / 2.5, 6);
    expect(m.total).toBe(3000 + 3000 + 9999);
  });

  it('rejects a window that is not a multiple of the bucket', () => {
    expect(() => new RateMeter({ windowMs: 2500, bucketMs: 1000 })).toThrow(RangeError);
    expect(() => new RateMeter({ bucketMs: 0 })).toThrow(RangeError);
  });
});

describe('pipelineDepth', () => {
  it('keeps three seconds of blocks in flight, clamped to [2, reqq]', () => {
    expect(pipelineDepth(0)).toBe(2);
    expect(pipelineDepth(NaN)).toBe(2);
    expect(pipelineDepth(-5)).toBe(2);
    expect(pipelineDepth(16384)).toBe(3);
    expect(pipelineDepth(1_000_000)).toBe(184);
    expect(pipelineDepth(100_000_000)).toBe(250);
    expect(pipelineDepth(Infinity)).toBe(250);
  });

  it('honours the peer reqq, a minimum and a target time', () => {
    expect(pipelineDepth(100_000_000, { maxDepth: 500 })).toBe(500);
    expect(pipelineDepth(1_000_000, { maxDepth: 64 })).toBe(64);
    expect(pipelineDepth(0, { minDepth: 5 })).toBe(5);
    expect(pipelineDepth(16384, { targetSeconds: 10 })).toBe(10);
    expect(pipelineDepth(0, { minDepth: 8, maxDepth: 4 })).toBe(8); // a reqq below the minimum: the minimum wins
  });
});
