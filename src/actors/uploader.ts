/**
 * The uploader: runs the read cache (src/core/read-cache.ts) and performs its disk reads and hashes.
 *
 * Owns: turning `ReadPiece` / `ReadBlock` / `HashPiece` effects into storage reads and pool hashes, and
 * their outcomes back into messages (promise callbacks never touch state: they send to the inbox). Does
 * not own: sending blocks (the torrent hands `BlockRead` to the peer's connection) or deciding which
 * pieces may be sent.
 *
 * @example
 *   const up = createUploader({ storage, pool, buffers, expected: (i) => pieceHash(meta, i), pieceSize });
 *   up.events$.subscribe((e) => e.type === 'BlockRead' && peers.get(e.peer)?.send({ type: 'SendBlock', span: e.span, data: e.data }));
 *   up.send({ type: 'ReadBlock', peer: '10.0.0.2:6881', span: { index: 0, begin: 0, length: 16384 }, check: false });
 */
import { ActorRef, createActor } from './actor';
import type { BufferPool } from '../core/buffer-pool';
import {
  ReadCacheEffect,
  ReadCacheIn,
  ReadCacheOut,
  ReadCacheState,
  initialReadCache,
  readCacheTransition,
  releaseReadCache,
} from '../core/read-cache';
import type { HashPool } from '../streams/hash-pool';

/** What the uploader reads from; `PieceStorage` satisfies it. */
export interface PieceReader {
  readPieceInto(index: number, target: Buffer): Promise<Buffer>;
  readBlock(index: number, begin: number, length: number): Promise<Buffer>;
}

export interface UploaderOptions {
  storage: PieceReader;
  pool: HashPool;
  buffers: BufferPool;
  expected: (index: number) => Buffer;
  pieceSize: (index: number) => number;
  /** Pieces cached at most (default 16). */
  capacity?: number;
  onError?: (err: unknown) => void;
}

export interface Uploader extends ActorRef<ReadCacheIn, ReadCacheOut, ReadCacheState> {
  /** Gives cached buffers back to the pool; waiting requests are answered as unavailable. */
  release(): ReadCacheOut[];
}

export function createUploader(o: UploaderOptions): Uploader {
  const actor = createActor<ReadCacheState, ReadCacheIn, ReadCacheOut, ReadCacheEffect>({
    name: 'uploader',
    initial: initialReadCache({ capacity: o.capacity ?? 16, pool: o.buffers, pieceSize: o.pieceSize }),
    transition: readCacheTransition,
    perform: (eff, self) => {
      switch (eff.type) {
        case 'ReadPiece':
          return void call(() => o.storage.readPieceInto(eff.index, eff.target)).then(
            () => self.send({ type: 'PieceRead', index: eff.index, data: eff.target }),
            (err: unknown) => self.send({ type: 'PieceReadFailed', index: eff.index, ...describe(err) }),
          );
        case 'ReadBlock': {
          const { index, begin, length } = eff.span;
          return void call(() => o.storage.readBlock(index, begin, length)).then(
            (data) => self.send({ type: 'BlockReadDirect', peer: eff.peer, span: eff.span, data }),
            (err: unknown) =>
              self.send({ type: 'BlockReadFailed', peer: eff.peer, span: eff.span, ...describe(err) }),
          );
        }
        case 'HashPiece':
          return void o.pool.hashOwned(eff.data).then(
            ({ hash, bytes }) =>
              self.send({
                type: 'PieceHashed',
                index: eff.index,
                ok: hash.equals(o.expected(eff.index)),
                data: bytes,
              }),
            (err: unknown) => self.send({ type: 'PieceReadFailed', index: eff.index, ...describe(err) }),
          );
      }
    },
    onError: o.onError ? (err) => o.onError?.(err) : undefined,
  });
  return Object.assign(actor, { release: () => releaseReadCache(actor.snapshot()) });
}

function call<T>(f: () => Promise<T>): Promise<T> {
  try {
    return f();
  } catch (e) {
    return Promise.reject(e);
  }
}

function describe(err: unknown): { message: string; code?: string } {
  const e = err as { code?: unknown; message?: unknown } | undefined;
  return {
    message: typeof e?.message === 'string' ? e.message : String(err),
    code: typeof e?.code === 'string' ? e.code : undefined,
  };
}
