/**
 * The disk actor: runs the pure storage queue (src/core/storage-queue.ts) and performs its `Write` and
 * `Read` effects on a block store (normally a `PieceStorage`).
 *
 * Owns: turning effects into disk calls and their outcomes back into messages, and `pressure$` — true
 * while bytes waiting for the disk are at or above the high watermark, false again at or below the low
 * one. The scheduler stops requesting blocks while it is true. Does not own: deciding that a piece is
 * good (the torrent writes only pieces the verifier passed; `PieceWritten` means "on disk") or
 * opening/closing the files.
 *
 * @example
 *   const disk = createStorageActor({ storage, pieceLength: meta.pieceLength, total: meta.length });
 *   disk.pressure$.subscribe((on) => scheduler.send({ type: on ? 'PauseRequests' : 'ResumeRequests' }));
 *   disk.events$.subscribe((e) => e.type === 'PieceWritten' && torrent.send({ type: 'Written', index: e.index }));
 *   disk.send({ type: 'WriteBlock', index: 0, begin: 0, data: block });
 */
import { Observable } from 'rxjs/internal/Observable';
import { distinctUntilChanged } from 'rxjs/internal/operators/distinctUntilChanged';
import { map } from 'rxjs/internal/operators/map';
import { ActorRef, createActor } from './actor';
import {
  StorageEffect,
  StorageIn,
  StorageOut,
  StorageQueueConfig,
  StorageQueueState,
  initialStorageQueue,
  storageQueueTransition,
} from '../core/storage-queue';

/** What the actor needs from storage; `PieceStorage` satisfies it, tests pass fakes. */
export interface BlockStore {
  writeBlock(index: number, begin: number, data: Uint8Array): Promise<void>;
  readBlock(index: number, begin: number, length: number): Promise<Buffer>;
}

export interface StorageActorOptions extends StorageQueueConfig {
  storage: BlockStore;
  name?: string;
  onError?: (error: unknown) => void;
}

export interface StorageActor extends ActorRef<StorageIn, StorageOut, StorageQueueState> {
  /** Backpressure: true from the high watermark until the queue drains to the low one. Starts false. */
  readonly pressure$: Observable<boolean>;
}

export function createStorageActor(o: StorageActorOptions): StorageActor {
  const actor = createActor<StorageQueueState, StorageIn, StorageOut, StorageEffect>({
    name: o.name ?? 'storage',
    initial: initialStorageQueue(o),
    transition: storageQueueTransition,
    perform: (eff, self) => {
      if (eff.type === 'Write') {
        call(() => o.storage.writeBlock(eff.index, eff.begin, eff.data)).then(
          () => self.send({ type: 'DiskWroteBlock', id: eff.id }),
          (err: unknown) => self.send({ type: 'DiskWriteFailed', id: eff.id, ...describe(err) }),
        );
      } else {
        const { id, reqId, index, begin } = eff;
        call(() => o.storage.readBlock(index, begin, eff.length)).then(
          (data) => self.send({ type: 'DiskReadBlock', id, reqId, index, begin, data }),
          (err: unknown) => self.send({ type: 'DiskReadFailed', id, reqId, index, begin, ...describe(err) }),
        );
      }
    },
    onError: o.onError ? (err) => o.onError?.(err) : undefined,
  });
  const pressure$ = actor.state$.pipe(
    map((s) => s.pressure),
    distinctUntilChanged(),
  );
  return Object.assign(actor, { pressure$ });
}

/** A store that throws synchronously still answers through the promise. */
function call<T>(f: () => Promise<T>): Promise<T> {
  try {
    return f();
  } catch (e) {
    return Promise.reject(e);
  }
}

function describe(err: unknown): { code: string; path?: string; message: string } {
  const e = err as { code?: unknown; path?: unknown; message?: unknown } | undefined;
  return {
    code: typeof e?.code === 'string' ? e.code : 'EIO',
    path: typeof e?.path === 'string' ? e.path : undefined,
    message: typeof e?.message === 'string' ? e.message : String(err),
  };
}
