/**
 * The piece lifecycle: one owner for what used to be spread over the picker, `buffers`, `hashing`,
 * `verified`, `unverified` and `corrupt`.
 *
 *   missing ──first block──▶ downloading ──all blocks──▶ hashing ──good──▶ writing ──on disk──▶ have
 *      ▲                         │                          │                 │
 *      └──── hash failed / abandoned / write failed ────────┴─────────────────┘
 *   unchecked (a seed's piece on disk, not hashed yet: served after a hash on first read) ──▶ have | corrupt
 *
 * Owns: each piece's status, the buffer of each piece being downloaded or written (blocks are copied into it once),
 * a small free list of piece buffers reused across pieces (memory does not churn per piece), and the
 * counts the scheduler's backpressure reads (pieces hashing, pieces writing). A piece is `have` only
 * after it hashed correctly and reached the disk, or was trusted from the resume file / a start-up check.
 * Does not own: which blocks to request (picker + scheduler), hashing (the verifier), disk I/O (the
 * storage actor), or reading pieces for upload (the uploader).
 *
 * A mutable object owned by one actor (the torrent); it is touched per block.
 *
 * @example
 *   const pieces = new PieceStates({ pieceCount: 3, pieceLength: 32768, length: 70000 });
 *   pieces.blockArrived(0, 0, block);            // 'downloading'
 *   const bytes = pieces.startHash(0);           // 'hashing' (when the picker says the piece is complete)
 *   pieces.hashed(0, true, bytes);               // 'writing' (bytes back from the hash worker)
 *   pieces.written(0);                           // 'have'; the buffer goes back to the free list
 */

export type PieceStatus =
  'missing' | 'downloading' | 'hashing' | 'writing' | 'have' | 'unchecked' | 'corrupt';

export interface PieceGeometryLike {
  pieceCount: number;
  pieceLength: number;
  length: number;
}

const MISSING = 0;
const DOWNLOADING = 1;
const HASHING = 2;
const WRITING = 3;
const HAVE = 4;
const UNCHECKED = 5;
const CORRUPT = 6;
const NAMES: PieceStatus[] = ['missing', 'downloading', 'hashing', 'writing', 'have', 'unchecked', 'corrupt'];

/** Free piece buffers kept for reuse (full-size pieces only). */
const FREE_LIST_MAX = 8;

export class PieceStates {
  private readonly status: Uint8Array;
  private readonly buffers = new Map<number, Buffer>();
  private readonly free: Buffer[] = [];
  private readonly counts: number[];
  /** Bytes of pieces held on disk in any form (have, unchecked, corrupt). */
  private held = 0;

  constructor(private readonly g: PieceGeometryLike) {
    this.status = new Uint8Array(g.pieceCount);
    this.counts = [g.pieceCount, 0, 0, 0, 0, 0, 0];
  }

  get pieceCount(): number {
    return this.g.pieceCount;
  }

  statusOf(index: number): PieceStatus {
    return NAMES[this.status[index]];
  }

  /** Pieces in a status. */
  count(status: PieceStatus): number {
    return this.counts[NAMES.indexOf(status)];
  }

  /** Verified and on disk. */
  has(index: number): boolean {
    return this.status[index] === HAVE;
  }

  /** We may send it: verified, or on a seed's disk and to be hashed on first read. */
  servable(index: number): boolean {
    const s = this.status[index];
    return s === HAVE || s === UNCHECKED;
  }

  /** Pieces the resume file may record: verified by hash in this run or trusted from the last. */
  verified(): number[] {
    const out: number[] = [];
    for (let i = 0; i < this.status.length; i++) if (this.status[i] === HAVE) out.push(i);
    return out;
  }

  pieceSize(index: number): number {
    return index === this.g.pieceCount - 1
      ? this.g.length - this.g.pieceLength * (this.g.pieceCount - 1)
      : this.g.pieceLength;
  }

  /** Bytes of pieces we do not have in any form (for the tracker's `left`); kept up to date, O(1). */
  bytesMissing(): number {
    return this.g.length - this.held;
  }

  // --------------------------------------------------------------------------------------- download

  /**
   * A block the scheduler accepted: copied into the piece's buffer (allocated, or taken from the free
   * list, on the first block). Ignored unless the piece is missing or downloading.
   */
  blockArrived(index: number, begin: number, data: Buffer): void {
    const s = this.status[index];
    if (s !== MISSING && s !== DOWNLOADING) return;
    let buf = this.buffers.get(index);
    if (!buf) {
      buf = this.allocate(this.pieceSize(index));
      this.buffers.set(index, buf);
      this.set(index, DOWNLOADING);
    }
    data.copy(buf, begin);
  }

  /** Every block is in: the piece's bytes go to the verifier. */
  startHash(index: number): Buffer {
    const buf = this.buffers.get(index);
    if (!buf || this.status[index] !== DOWNLOADING) throw new Error(`piece ${index} is not downloading`);
    this.buffers.delete(index);
    this.set(index, HASHING);
    return buf;
  }

  /**
   * The verifier's answer, with the piece's bytes back from the worker. Good: the piece goes to disk
   * (`writing`, the bytes kept until written); bad: back to missing, the buffer reused.
   */
  hashed(index: number, ok: boolean, bytes: Buffer): void {
    if (this.status[index] !== HASHING) return;
    this.set(index, ok ? WRITING : MISSING);
    if (ok) this.buffers.set(index, bytes);
    else this.release(bytes);
  }

  /** The verified piece is on disk: we have it; its buffer is reused for later pieces. */
  written(index: number): void {
    if (this.status[index] !== WRITING) return;
    this.set(index, HAVE);
    this.dropBuffer(index);
  }

  /** The write failed (disk full…): the piece is missing again; nothing is claimed. */
  writeFailed(index: number): void {
    if (this.status[index] !== WRITING) return;
    this.set(index, MISSING);
    this.dropBuffer(index);
  }

  /** The download of a piece stopped before it completed (its blocks were freed): drop its buffer. */
  abandoned(index: number): void {
    if (this.status[index] !== DOWNLOADING) return;
    this.dropBuffer(index);
    this.set(index, MISSING);
  }

  // --------------------------------------------------------------------------------------- on disk

  /** Trusted from the resume file, or hashed correctly at start-up. */
  markHave(index: number): void {
    const s = this.status[index];
    if (s === HAVE) return;
    if (s === DOWNLOADING) this.abandoned(index);
    this.set(index, HAVE);
  }

  /** A seed serving without a full check: on disk, hashed on its first read. */
  markUnchecked(index: number): void {
    if (this.status[index] === MISSING) this.set(index, UNCHECKED);
  }

  /** The first read of an unchecked piece hashed: `have`, or `corrupt` (never sent). */
  checked(index: number, ok: boolean): void {
    if (this.status[index] === UNCHECKED) this.set(index, ok ? HAVE : CORRUPT);
  }

  // ------------------------------------------------------------------------------------- internals

  private dropBuffer(index: number): void {
    const buf = this.buffers.get(index);
    this.buffers.delete(index);
    if (buf) this.release(buf);
  }

  private set(index: number, s: number): void {
    const was = this.status[index];
    this.counts[was]--;
    this.status[index] = s;
    this.counts[s]++;
    const held = (x: number): boolean => x === HAVE || x === UNCHECKED || x === CORRUPT;
    if (held(was) !== held(s)) this.held += held(s) ? this.pieceSize(index) : -this.pieceSize(index);
  }

  /**
   * A piece buffer: from the free list when it holds one of the right size, else new. Over 4 KiB, so not
   * from Node's shared pool: the hash worker can take and give back the memory without a copy.
   */
  private allocate(size: number): Buffer {
    if (size === this.g.pieceLength) {
      const b = this.free.pop();
      if (b) return b;
    }
    return Buffer.allocUnsafeSlow(size);
  }

  private release(buf: Buffer): void {
    if (buf.length === this.g.pieceLength && this.free.length < FREE_LIST_MAX && buf.byteOffset === 0)
      this.free.push(buf);
  }
}
