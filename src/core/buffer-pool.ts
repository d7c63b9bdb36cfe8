/**
 * A process-wide budget of piece-sized buffers for upload read caches, reused instead of allocated per
 * read (memory stays flat and the garbage collector sees no churn of half-megabyte buffers).
 *
 * Owns: how many bytes of buffers are handed out (never more than `budgetBytes`) and a short free list
 * per size. Does not own: what a buffer holds (the read cache) — a caller gives back only buffers it no
 * longer references anywhere (blocks leave the cache as copies, see src/core/read-cache.ts).
 *
 * @example
 *   const pool = new BufferPool(32 * 1024 * 1024);
 *   const buf = pool.take(512 * 1024);   // undefined when the budget is spent
 *   if (buf) { …; pool.give(buf); }
 */
export class BufferPool {
  private out = 0;
  private readonly free = new Map<number, Buffer[]>();

  constructor(
    readonly budgetBytes: number,
    /** Free buffers kept per size (beyond that, given-back buffers are dropped). */
    private readonly keepFree = 8,
  ) {}

  /** Bytes handed out and not given back. */
  get inUse(): number {
    return this.out;
  }

  /** A buffer of exactly `size` bytes, or undefined when that would exceed the budget. */
  take(size: number): Buffer | undefined {
    if (this.out + size > this.budgetBytes) return undefined;
    this.out += size;
    return this.free.get(size)?.pop() ?? Buffer.allocUnsafeSlow(size);
  }

  give(buf: Buffer): void {
    this.out = Math.max(0, this.out - buf.length);
    let list = this.free.get(buf.length);
    if (!list) this.free.set(buf.length, (list = []));
    if (list.length < this.keepFree) list.push(buf);
  }
}
