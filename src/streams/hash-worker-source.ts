/**
 * The hash worker's code, kept as plain JavaScript text and started with `new Worker(src, { eval: true })`.
 * Why a string: the same pool then runs unchanged from compiled dist/ and from ts-jest sources, with no
 * separate build step for the worker file. Keep it small and dependency-free.
 *
 * Messages in:  { id, op: 'pieces', files: [{path,length,offset}], pieceLength, total, first, count }
 *               { id, op: 'buffer', bytes: Uint8Array }
 *               { id, op: 'owned', bytes: ArrayBuffer (transferred) }
 * Messages out: { id, hashes: Uint8Array (20 × count), bytes?: ArrayBuffer (transferred back) }
 *               | { id, error, code, path }
 */
export const HASH_WORKER_SOURCE = `
'use strict';
const { parentPort } = require('node:worker_threads');
const fs = require('node:fs');
const crypto = require('node:crypto');
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
parentPort.on('message', (m) => {
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
      if (scratch.length < m.pieceLength) scratch = Buffer.allocUnsafe(m.pieceLength);
      const out = Buffer.allocUnsafe(20 * m.count);
      for (let i = 0; i < m.count; i++) {
        const start = (m.first + i) * m.pieceLength;
        const len = Math.min(m.pieceLength, m.total - start);
        readRange(m.files, start, len, scratch);
        crypto.createHash('sha1').update(scratch.subarray(0, len)).digest().copy(out, 20 * i);
      }
      parentPort.postMessage({ id: m.id, hashes: out });
      return;
    }
    if (m.op === 'close') { for (const f of fds.values()) fs.closeSync(f); fds.clear(); parentPort.postMessage({ id: m.id, hashes: Buffer.alloc(0) }); }
  } catch (err) {
    for (const f of fds.values()) { try { fs.closeSync(f); } catch {} }
    fds.clear();
    parentPort.postMessage({ id: m.id, error: err.message, code: err.code, path: err.path });
  }
});
`;
