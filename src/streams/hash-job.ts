/**
 * One run of batch hashing on the hash pool's workers (`create`, a resume re-check): every worker takes
 * the next batch itself through an atomic counter shared with the others, hashes it and posts the
 * hashes back. Nothing waits for the main thread between batches, so hashing goes on at full speed
 * while the main thread is busy (loading the CLI's modules, say), and there is no round trip per batch.
 *
 * Owns: the batch plan, the shared counter, the hashes that arrived and not yet taken, and the callers
 * waiting for a batch. Results are taken once (`result`), so what is held is bounded by the plan.
 */
import { LayoutFile } from '../storage/file-layout';
import { rangeHasher } from './hash-worker-source';

export interface HashJobSpec {
  files: readonly LayoutFile[];
  pieceLength: number;
  total: number;
  /** The batches, ascending and disjoint. */
  batches: readonly { first: number; count: number }[];
}

/** A read or hash that failed, naming the file it concerns if any. */
export class HashError extends Error {
  constructor(
    message: string,
    readonly code?: string,
    readonly path?: string,
  ) {
    super(message);
    this.name = 'HashError';
  }
}

export type HashJobMessage =
  | { job: number; batch: number; hashes: Uint8Array }
  | { job: number; batch: number; error: string; code?: string; path?: string };

export class HashJob {
  /** [next batch to claim, stop flag]; shared with every worker running the job. */
  readonly ctrl = new Int32Array(new SharedArrayBuffer(8));
  private readonly index = new Map<number, number>();
  private readonly arrived = new Map<number, Buffer>();
  private readonly waiting = new Map<number, { resolve: (b: Buffer) => void; reject: (e: Error) => void }>();
  private received = 0;
  private failure: Error | undefined;

  constructor(
    readonly id: number,
    readonly spec: HashJobSpec,
    private readonly onEnd: (job: HashJob) => void,
  ) {
    spec.batches.forEach((b, i) => this.index.set(b.first, i));
  }

  /** True once the job failed or was cancelled. */
  get failed(): boolean {
    return this.failure !== undefined;
  }

  /** True while batches are still to come (and the job neither failed nor was cancelled). */
  get active(): boolean {
    return this.failure === undefined && this.received < this.spec.batches.length;
  }

  /** The message that starts the job on a worker. */
  message(): Record<string, unknown> {
    const batches = new Int32Array(2 * this.spec.batches.length);
    this.spec.batches.forEach((b, i) => batches.set([b.first, b.count], 2 * i));
    const { files, pieceLength, total } = this.spec;
    return { op: 'job', job: this.id, files, pieceLength, total, batches, ctrl: this.ctrl };
  }

  /** The hashes (20 bytes a piece) of the batch starting at piece `first`, once a worker has them. */
  result(first: number): Promise<Buffer> {
    const i = this.index.get(first);
    if (i === undefined) return Promise.reject(new HashError(`no batch starts at piece ${first}`));
    const got = this.arrived.get(i);
    if (got) {
      this.arrived.delete(i);
      return Promise.resolve(got);
    }
    if (this.failure) return Promise.reject(this.failure);
    return new Promise((resolve, reject) => this.waiting.set(i, { resolve, reject }));
  }

  /**
   * Hash batches on this thread too, one per turn of its event loop, until none is left: for a caller
   * with nothing else to do (the `create` command), so that it counts as one of the hashing threads.
   */
  helpHere(): void {
    const hasher = rangeHasher();
    const { files, pieceLength, total, batches } = this.spec;
    const step = (): void => {
      const b = this.active ? Atomics.add(this.ctrl, 0, 1) : batches.length;
      if (b >= batches.length) {
        hasher.closeAll();
        return;
      }
      try {
        const hashes = hasher.hashRange(files, pieceLength, total, batches[b].first, batches[b].count);
        this.receive({ job: this.id, batch: b, hashes });
      } catch (err) {
        hasher.closeAll();
        const e = err as NodeJS.ErrnoException;
        this.receive({ job: this.id, batch: b, error: e.message, code: e.code, path: e.path });
        return;
      }
      setImmediate(step);
    };
    setImmediate(step);
  }

  /** Whether `spec` asks for exactly this job's work (so a job started early can be taken over). */
  matches(spec: HashJobSpec): boolean {
    const a = this.spec;
    return (
      a.pieceLength === spec.pieceLength &&
      a.total === spec.total &&
      a.files.length === spec.files.length &&
      a.files.every(
        (f, i) =>
          f.path === spec.files[i].path &&
          f.length === spec.files[i].length &&
          f.offset === spec.files[i].offset,
      ) &&
      a.batches.length === spec.batches.length &&
      a.batches.every((b, i) => b.first === spec.batches[i].first && b.count === spec.batches[i].count)
    );
  }

  /** A worker's message about this job. */
  receive(m: HashJobMessage): void {
    if (!this.active) return;
    if ('error' in m) {
      this.fail(new HashError(m.error, m.code, m.path));
      return;
    }
    this.received++;
    // A copy of just these bytes: the view may sit on a larger buffer that would stay alive with it.
    const hashes = Buffer.from(m.hashes);
    const w = this.waiting.get(m.batch);
    if (w) {
      this.waiting.delete(m.batch);
      w.resolve(hashes);
    } else this.arrived.set(m.batch, hashes);
    if (!this.active) this.onEnd(this);
  }

  /** Stop handing out batches; whoever waits gets `err`. */
  fail(err: Error): void {
    if (!this.active) return;
    this.failure = err;
    Atomics.store(this.ctrl, 1, 1);
    for (const w of this.waiting.values()) w.reject(err);
    this.waiting.clear();
    this.arrived.clear();
    this.onEnd(this);
  }
}
