import { createHash } from 'node:crypto';
import { firstValueFrom, filter, take, toArray } from 'rxjs';
import { VerifierOut, boundedDigest, createVerifier } from '../../src/actors/verifier';

const sha1 = (b: Buffer): Buffer => createHash('sha1').update(b).digest();
const pieces = Array.from({ length: 12 }, (_, i) => Buffer.alloc(64 * 1024 + i, i + 1));

async function verifyAll(opts: { inline?: boolean; maxHashing?: number }, corrupt: Set<number>) {
  const v = createVerifier({ expected: (i) => sha1(pieces[i]), ...opts });
  const done = firstValueFrom(v.events$.pipe(take(pieces.length), toArray()));
  pieces.forEach((p, i) => {
    const data = corrupt.has(i) ? Buffer.concat([p.subarray(1), Buffer.from([0])]) : p;
    v.send({ type: 'Verify', index: i, data });
  });
  return { v, results: await done };
}

describe('createVerifier', () => {
  it.each([
    ['libuv thread pool (default)', {}],
    ['thread pool, one at a time', { maxHashing: 1 }],
    ['this thread', { inline: true }],
  ])('passes good pieces and fails bad ones, handing back the same bytes (%s)', async (_name, opts) => {
    const bad = new Set([3, 7]);
    const { results } = await verifyAll(opts, bad);
    expect(results.map((r: VerifierOut) => r.index).sort((a, b) => a - b)).toEqual(pieces.map((_, i) => i));
    for (const r of results) {
      expect(r.ok).toBe(!bad.has(r.index));
      expect(r.error).toBeUndefined();
      if (!bad.has(r.index)) expect(r.data).toBe(pieces[r.index]); // the piece buffer itself, for the write
    }
  });

  it('turns busy at maxQueued and idle again once the hashes are answered', async () => {
    const v = createVerifier({ expected: (i) => sha1(pieces[i]), maxQueued: 4 });
    const busy: boolean[] = [];
    v.busy$.subscribe((b) => busy.push(b));
    const done = firstValueFrom(v.events$.pipe(take(6), toArray()));
    for (let i = 0; i < 6; i++) v.send({ type: 'Verify', index: i, data: pieces[i] });
    expect(v.snapshot().busy).toBe(true);
    await done;
    expect(v.snapshot()).toEqual({ inFlight: 0, busy: false });
    expect(busy).toEqual([false, true, false]);
  });

  it('answers an empty piece (a zero-length last piece is never asked, but must not hang)', async () => {
    const v = createVerifier({ expected: () => sha1(Buffer.alloc(0)) });
    const answer = firstValueFrom(v.events$.pipe(filter((e) => e.index === 0)));
    v.send({ type: 'Verify', index: 0, data: Buffer.alloc(0) });
    expect((await answer).ok).toBe(true);
  });
});

describe('boundedDigest', () => {
  it('runs at most `limit` digests at once, starts the rest in order, and frees slots on failure', async () => {
    let running = 0;
    let most = 0;
    const started: number[] = [];
    const release: Array<() => void> = [];
    const digest = (data: Buffer): Promise<ArrayBuffer> => {
      started.push(data[0]);
      running++;
      most = Math.max(most, running);
      return new Promise<ArrayBuffer>((resolve, reject) => {
        release.push(() => {
          running--;
          if (data[0] % 3 === 0) reject(new Error(`bad ${data[0]}`));
          else resolve(new ArrayBuffer(20));
        });
      });
    };
    const hash = boundedDigest(2, digest);
    const all = Array.from({ length: 9 }, (_, i) =>
      hash(Buffer.from([i])).then(
        () => 'ok',
        (e: Error) => e.message,
      ),
    );
    for (let round = 0; round < 20; round++) {
      await new Promise((r) => setImmediate(r)); // digests start a microtask after the call
      expect(running).toBeLessThanOrEqual(2);
      release.shift()?.();
    }
    expect(await Promise.all(all)).toEqual(['bad 0', 'ok', 'ok', 'bad 3', 'ok', 'ok', 'bad 6', 'ok', 'ok']);
    expect(started).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8]);
    expect(most).toBe(2);
  });

  it('frees the slot of a digest that throws instead of rejecting', async () => {
    let calls = 0;
    const hash = boundedDigest(1, () => {
      calls++;
      throw new Error('thrown');
    });
    await expect(hash(Buffer.from([1]))).rejects.toThrow('thrown');
    await expect(hash(Buffer.from([2]))).rejects.toThrow('thrown');
    expect(calls).toBe(2);
  });
});
