/**
 * A pool of worker threads that compute SHA1: of piece ranges read straight from files (for `create`
 * and re-checks: the bytes never cross threads), or of a buffer (for verifying a downloaded piece).
 *
 * Owns: the workers, a FIFO of tasks, one task in flight per worker, and the batch jobs the workers
 * run between tasks (see hash-job.ts). Callers bound how many tasks they queue, so memory stays flat
 * whatever the file size.
 */
import * as os from 'node:os';
import { Worker } from 'node:worker_threads';
import { LayoutFile } from '../storage/file-layout';
import { HashError, HashJob, HashJobMessage, HashJobSpec } from './hash-job';
import { HASH_WORKER_SOURCE } from './hash-worker-source';

export { HashError, HashJob };
export type { HashJobSpec };

interface Task {
  id: number;
  message: Record<string, unknown>;
  transfer?: ArrayBuffer[];
  resolve: (hashes: Buffer, bytes?: ArrayBuffer) => void;
  reject: (err: Error) => void;
}

export class HashPool {
  private readonly workers: { worker: Worker; busy: Task | null }[] = [];
  private readonly queue: Task[] = [];
  private readonly jobs = new Map<number, HashJob>();
  /** A job started before anyone asked for it (`prestart`), until `hashBatches` takes or cancels it. */
  private spare: HashJob | undefined;
  private nextId = 1;
  private closed = false;

  /**
   * `size` workers at most; they start on demand (one at first, another whenever work is waiting), so
   * a leecher whose pieces arrive slower than one core hashes holds one worker, not one per core.
   */
  constructor(
    readonly size: number = Math.max(1, os.availableParallelism()),
    opts: { eager?: boolean } = {},
  ) {
    // `eager` (the default) starts one worker now, ready for the first job; the engine's pool starts
    // none until work comes (a leecher hashes on its own thread: a worker costs ~10 MB it may never use).
    if (opts.eager !== false) this.spawn();
  }

  /** Hash `count` pieces starting at `first`, reading them from `files`. Resolves to 20 × count bytes. */
  hashPieces(
    files: readonly LayoutFile[],
    pieceLength: number,
    total: number,
    first: number,
    count: number,
  ): Promise<Buffer> {
    return this.submit({ op: 'pieces', files, pieceLength, total, first, count });
  }

  /** SHA1 of a buffer (copied to the worker; the caller keeps its bytes). */
  hashBuffer(bytes: Buffer): Promise<Buffer> {
    return this.submit({ op: 'buffer', bytes });
  }

  /**
   * SHA1 of a buffer that owns its whole ArrayBuffer (e.g. `Buffer.alloc(n)` with n > 4 KiB): the memory is
   * moved to the worker and back, never copied. Resolves with the hash and the (same) bytes.
   */
  hashOwned(bytes: Buffer): Promise<{ hash: Buffer; bytes: Buffer }> {
    if (bytes.byteOffset !== 0 || bytes.byteLength !== bytes.buffer.byteLength) {
      return this.hashBuffer(bytes).then((hash) => ({ hash, bytes }));
    }
    if (this.closed) return Promise.reject(new HashError('hash pool closed'));
    const ab = bytes.buffer as ArrayBuffer;
    return new Promise((resolve, reject) => {
      this.queue.push({
        id: this.nextId++,
        message: { op: 'owned', bytes: ab },
        transfer: [ab],
        resolve: (hash, back) => resolve({ hash, bytes: Buffer.from(back as ArrayBuffer) }),
        reject,
      });
      this.pump();
    });
  }

  /**
   * Hash the pieces of `spec.batches` on every worker, each taking the next batch itself; take the
   * hashes with `job.result(first)`. A job `prestart`ed with the same spec is taken over, not redone.
   */
  hashBatches(spec: HashJobSpec): HashJob {
    const spare = this.spare;
    this.spare = undefined;
    if (spare && !spare.failed && spare.matches(spec)) return spare;
    spare?.fail(new HashError('superseded'));
    return this.startJob(spec);
  }

  /** Start `spec` now, before it is asked for (`create` does so before loading the rest of the CLI). */
  prestart(spec: HashJobSpec): HashJob {
    this.spare?.fail(new HashError('superseded'));
    this.spare = this.startJob(spec);
    return this.spare;
  }

  get pending(): number {
    return this.queue.length + this.workers.filter((w) => w.busy).length;
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const t of this.queue.splice(0)) t.reject(new HashError('hash pool closed'));
    for (const j of [...this.jobs.values()]) j.fail(new HashError('hash pool closed'));
    await Promise.all(this.workers.map((w) => w.worker.terminate()));
  }

  private submit(message: Record<string, unknown>): Promise<Buffer> {
    if (this.closed) return Promise.reject(new HashError('hash pool closed'));
    return new Promise((resolve, reject) => {
      this.queue.push({ id: this.nextId++, message, resolve, reject });
      this.pump();
    });
  }

  private startJob(spec: HashJobSpec): HashJob {
    const job = new HashJob(this.nextId++, spec, (j) => {
      this.jobs.delete(j.id);
      this.pump();
    });
    if (this.closed) {
      job.fail(new HashError('hash pool closed'));
      return job;
    }
    if (!job.active) return job;
    this.jobs.set(job.id, job);
    const start = job.message();
    for (const slot of this.workers) slot.worker.postMessage(start);
    while (this.workers.length < Math.min(this.size, spec.batches.length)) this.spawn();
    this.pump();
    return job;
  }

  private spawn(): void {
    const worker = new Worker(HASH_WORKER_SOURCE, { eval: true });
    const slot = { worker, busy: null as Task | null };
    // A new worker joins the jobs under way.
    for (const job of this.jobs.values()) worker.postMessage(job.message());
    worker.on(
      'message',
      (
        m:
          | HashJobMessage
          | {
              id: number;
              hashes?: Uint8Array;
              bytes?: ArrayBuffer;
              error?: string;
              code?: string;
              path?: string;
            },
      ) => {
        if ('job' in m) {
          this.jobs.get(m.job)?.receive(m);
          return;
        }
        const task = slot.busy;
        slot.busy = null;
        if (task && task.id === m.id) {
          if (m.error !== undefined) task.reject(new HashError(m.error, m.code, m.path));
          else task.resolve(Buffer.from(m.hashes as Uint8Array), m.bytes);
        }
        this.pump();
      },
    );
    worker.on('error', (err) => {
      // A crashed worker fails its task and is replaced, so one bad read cannot stall the pool.
      const task = slot.busy;
      slot.busy = null;
      task?.reject(new HashError(err.message));
      // It may have taken a batch it will never hash.
      for (const j of [...this.jobs.values()]) j.fail(new HashError(err.message));
      const i = this.workers.indexOf(slot);
      if (i >= 0) this.workers.splice(i, 1);
      if (!this.closed) {
        this.spawn();
        this.pump();
      }
    });
    worker.unref();
    this.workers.push(slot);
  }

  private pump(): void {
    const idle = this.workers.filter((w) => !w.busy).length;
    for (let i = idle; i < this.queue.length && this.workers.length < this.size && !this.closed; i++)
      this.spawn();
    for (const slot of this.workers) {
      if (slot.busy || this.queue.length === 0) continue;
      const task = this.queue.shift() as Task;
      slot.busy = task;
      slot.worker.ref();
      slot.worker.postMessage({ id: task.id, ...task.message }, task.transfer ?? []);
    }
    for (const slot of this.workers) {
      if (slot.busy || this.jobs.size > 0) slot.worker.ref();
      else slot.worker.unref();
    }
  }
}
