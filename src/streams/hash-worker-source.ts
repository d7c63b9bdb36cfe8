/**
 * The hash worker's code, kept as plain JavaScript text and started with `new Worker(src, { eval: true })`.
 * Why a string: the same pool then runs unchanged from compiled dist/ and from ts-jest sources, with no
 * separate build step for the worker file. Keep it small and dependency-free.
 *
 * Messages in:  { id, op: 'pieces', files: [{path,length,offset}], pieceLength, total, first, count }
 *               { id, op: 'buffer', bytes: Uint8Array }
 *               { id, op: 'owned', bytes: ArrayBuffer (transferred) }
 *               { job, op: 'job', files, pieceLength, total, batches: Int32Array [first, count, …],
 *                 ctrl: Int32Array on a SharedArrayBuffer [next batch, stop] }
 * Messages out: { id, hashes: Uint8Array (20 × count), bytes?: ArrayBuffer (transferred back) }
 *               | { id, error, code, path }
 *               | { job, batch, hashes } | { job, batch, error, code, path }
 *
 * A job is claimed batch by batch: every worker that got it takes the next batch with an atomic add on
 * `ctrl[0]`, so no worker waits for the main thread between batches (it may be busy loading modules),
 * and yields to its event loop after each batch so that single tasks (a downloaded piece) slip in.
 */
/**
 * Reading and hashing piece ranges, given `fs` and `crypto`: the worker's core, also run on the main
 * thread by `HashJob.helpHere` (through `rangeHasher`), so both hash with the very same code.
 */
const HASH_RANGE_SOURCE = `
const fds = new Map();
let scratch = Buffer.alloc(0);
function fdFor(path) {
  let fd = fds.get(path);
  if (fd === undefined) {
    if (fds.size > 64) { for (const f of fds.values()) fs.closeSync(f); fds.clear(); }
    fd = fs.openSync(path, 'r');
    fds.set(path, fd);
  }
  return fd;
}
function readRange(files, start, length, into) {
  const end = start + length;
  for (const f of files) {
    if (f.length === 0 || f.offset + f.length <= start) continue;
    if (f.offset >= end) break;
    const s = Math.max(start, f.offset), e = Math.min(end, f.offset + f.length);
    let done = 0;
    const fd = fdFor(f.path);
    while (done < e - s) {
      const n = fs.readSync(fd, into, s - start + done, e - s - done, s - f.offset + done);
      if (n === 0) { const err = new Error('file is shorter than expected (changed while hashing?)'); err.code = 'ESHORT'; err.path = f.path; throw err; }
      done += n;
    }
  }
}
function hashRange(files, pieceLength, total, first, count) {
  // Whole pieces up to 2 MiB per read: fewer system calls (~1.5% less CPU than a read per 512 KiB piece).
  const per = Math.max(1, Math.min(count, Math.floor(2097152 / pieceLength)));
  // 64 bytes in: a large Buffer starts 16 bytes past a 512-byte boundary (malloc's header), and the
  // kernel copies page-cache pages to a target 16-24 bytes past one ~50% slower than elsewhere
  // (0.145 vs 0.095 s of system time per GiB here, likely 4K aliasing; BENCHMARKS.md, "create").
  if (scratch.length < per * pieceLength) scratch = Buffer.allocUnsafeSlow(per * pieceLength + 64).subarray(64);
  // Not from Buffer's shared 8 KiB pool: a view posted to another thread takes its whole buffer along.
  const out = Buffer.allocUnsafeSlow(20 * count);
  for (let i = 0; i < count; i += per) {
    const start = (first + i) * pieceLength;
    const len = Math.min(Math.min(per, count - i) * pieceLength, total - start);
    readRange(files, start, len, scratch);
    for (let at = 0, k = i; at < len; at += pieceLength, k++)
      crypto.createHash('sha1').update(scratch.subarray(at, Math.min(len, at + pieceLength))).digest().copy(out, 20 * k);
  }
  return out;
}
function closeAll() {
  for (const f of fds.values()) { try { fs.closeSync(f); } catch {} }
  fds.clear();
}
`;

export interface RangeHasher {
  /** SHA1s (20 bytes each) of pieces first … first + count - 1 of the concatenated `files`. */
  hashRange(
    files: readonly { path: string; length: number; offset: number }[],
    pieceLength: number,
    total: number,
    first: number,
    count: number,
  ): Buffer;
  /** Close the files it keeps open. */
  closeAll(): void;
}

/** The worker's hashing core on this thread (with its own open files and scratch buffer). */
export function rangeHasher(): RangeHasher {
  const make = new Function(
    'fs',
    'crypto',
    `'use strict';${HASH_RANGE_SOURCE}\nreturn { hashRange, closeAll };`,
  );
  return make(require('node:fs'), require('node:crypto')) as RangeHasher;
}

export const HASH_WORKER_SOURCE = `
'use strict';
const { parentPort } = require('node:worker_threads');
const fs = require('node:fs');
const crypto = require('node:crypto');
${HASH_RANGE_SOURCE}
function runJob(m) {
  const n = m.batches.length >> 1;
  const step = () => {
    if (Atomics.load(m.ctrl, 1) !== 0) return;
    const b = Atomics.add(m.ctrl, 0, 1);
    if (b >= n) return;
    try {
      const hashes = hashRange(m.files, m.pieceLength, m.total, m.batches[2 * b], m.batches[2 * b + 1]);
      parentPort.postMessage({ job: m.job, batch: b, hashes });
    } catch (err) {
      Atomics.store(m.ctrl, 1, 1);
      closeAll();
      parentPort.postMessage({ job: m.job, batch: b, error: err.message, code: err.code, path: err.path });
      return;
    }
    setImmediate(step);
  };
  step();
}
parentPort.on('message', (m) => {
  if (m.op === 'job') return runJob(m);
  try {
    if (m.op === 'buffer') {
      const h = crypto.createHash('sha1').update(m.bytes).digest();
      parentPort.postMessage({ id: m.id, hashes: h });
      return;
    }
    if (m.op === 'owned') {
      const h = crypto.createHash('sha1').update(new Uint8Array(m.bytes)).digest();
      parentPort.postMessage({ id: m.id, hashes: h, bytes: m.bytes }, [m.bytes]);
      return;
    }
    if (m.op === 'pieces') {
      parentPort.postMessage({ id: m.id, hashes: hashRange(m.files, m.pieceLength, m.total, m.first, m.count) });
      return;
    }
    if (m.op === 'close') { closeAll(); parentPort.postMessage({ id: m.id, hashes: Buffer.alloc(0) }); }
  } catch (err) {
    closeAll();
    parentPort.postMessage({ id: m.id, error: err.message, code: err.code, path: err.path });
  }
});
`;
