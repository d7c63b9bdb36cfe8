/**
 * Rolling transfer rates and the request-pipeline depth derived from them.
 *
 * Owns: bytes counted in fixed time buckets over a sliding window (default 5 s in 1 s buckets), the rate
 * they imply, and `pipelineDepth` — how many 16 KiB requests to keep in flight to a peer for its rate.
 * Does not own: a clock (every call takes `now` in ms, so tests and marble schedulers drive time), timers,
 * or rate *limiting* (that throttles streams in src/streams; this only measures).
 *
 * Memory is O(buckets) whatever the traffic. Used per peer (download from / upload to it, for the choker)
 * and per torrent (progress display).
 *
 * @example
 *   const down = new RateMeter();
 *   down.add(16384, 0); down.add(16384, 500);
 *   down.rate(1000);             // 32768 (bytes/s)
 *   pipelineDepth(down.rate(1000)); // 6: three seconds of requests at that rate
 */
import { BLOCK_SIZE } from './piece-picker';

const { floor, ceil, max, min } = Math;

export interface RateMeterOptions {
  /** Window the rate is averaged over; default 5000 ms. */
  windowMs?: number;
  /** Bucket width; `windowMs` must be a multiple. Default 1000 ms. */
  bucketMs?: number;
  /** When measuring began (e.g. the connection time). Default: the first `add`. */
  start?: number;
}

export class RateMeter {
  readonly windowMs: number;
  readonly bucketMs: number;
  /** All bytes ever added. */
  total = 0;

  private readonly counts: Float64Array;
  /** Which bucket number (floor(time / bucketMs)) each slot holds now; NaN = none. */
  private readonly ids: Float64Array;
  private latest = -Infinity;
  private start: number | undefined;

  constructor(opts: RateMeterOptions = {}) {
    this.windowMs = opts.windowMs ?? 5000;
    this.bucketMs = opts.bucketMs ?? 1000;
    const n = this.windowMs / this.bucketMs;
    if (!(this.bucketMs > 0) || !Number.isInteger(n) || n < 1) {
      throw new RangeError(
        `windowMs ${this.windowMs} must be a positive multiple of bucketMs ${this.bucketMs}`,
      );
    }
    this.counts = new Float64Array(n);
    this.ids = new Float64Array(n).fill(NaN);
    this.start = opts.start;
  }

  /** Counts `bytes` transferred at time `now` (ms). Samples older than the window only count in `total`. */
  add(bytes: number, now: number): void {
    this.total += bytes;
    if (this.start === undefined) this.start = now;
    const id = floor(now / this.bucketMs);
    const n = this.counts.length;
    if (id <= this.latest - n) return; // the clock went backwards past the window
    if (id > this.latest) this.latest = id;
    const slot = ((id % n) + n) % n;
    if (this.ids[slot] !== id) {
      this.ids[slot] = id;
      this.counts[slot] = 0;
    }
    this.counts[slot] += bytes;
  }

  /**
   * Bytes per second over the window ending at `now`: the bytes in the buckets it covers divided by the
   * time they cover — clipped to when measuring began (so a new peer is not under-rated) and never less
   * than one bucket (so one early block is not a spike).
   */
  rate(now: number): number {
    if (this.start === undefined) return 0;
    const n = this.counts.length;
    const id = floor(now / this.bucketMs);
    const lo = id - n + 1;
    let sum = 0;
    for (let s = 0; s < n; s++) {
      const b = this.ids[s];
      if (b >= lo && b <= id) sum += this.counts[s];
    }
    const from = max(lo * this.bucketMs, this.start);
    const elapsed = max(now - from, this.bucketMs);
    return (sum * 1000) / elapsed;
  }
}

export interface PipelineOptions {
  /** Requests kept in flight however slow the peer; default 2 (one being served, one queued). */
  minDepth?: number;
  /** The peer's `reqq` from its extension handshake (BEP 10); default 250, libtorrent's default. */
  maxDepth?: number;
  /**
   * Seconds of transfer to keep requested; default 3 (libtorrent's `request_queue_time`). Enough to
   * cover round trip and disk latency on a LAN without parking much of a piece at a slow peer.
   */
  targetSeconds?: number;
  blockSize?: number;
}

/**
 * How many block requests to keep outstanding to a peer sending `rateBytesPerSec`:
 * `ceil(rate × targetSeconds / blockSize)`, clamped to [minDepth, maxDepth]. This is the peer's credit in
 * the scheduler's backpressure: it grows with measured throughput and never exceeds the peer's `reqq`.
 *
 * @example
 *   pipelineDepth(0);                // 2
 *   pipelineDepth(1_000_000);        // 184
 *   pipelineDepth(100_000_000);      // 250
 */
export function pipelineDepth(rateBytesPerSec: number, opts: PipelineOptions = {}): number {
  const minDepth = opts.minDepth ?? 2;
  const maxDepth = max(minDepth, opts.maxDepth ?? 250);
  const target = opts.targetSeconds ?? 3;
  const blockSize = opts.blockSize ?? BLOCK_SIZE;
  if (!(rateBytesPerSec > 0) || !Number.isFinite(rateBytesPerSec)) {
    return rateBytesPerSec === Infinity ? maxDepth : minDepth;
  }
  return min(maxDepth, max(minDepth, ceil((rateBytesPerSec * target) / blockSize)));
}
