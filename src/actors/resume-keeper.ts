/**
 * The resume keeper: records which pieces are verified in the resume file, so a restart never hashes or
 * downloads them again (src/core/resume-data.ts decides what to trust; src/storage/resume-file.ts stores).
 *
 * Owns: the set of verified pieces it will record, whether that changed since the last save, one save at
 * a time (a forced save asked for during another runs right after it), and the order of a save — data
 * fsync first, then the files' sizes and mtimes, then an atomic write. A failure keeps the previous file
 * (it never claims more than was on disk) and is reported once per distinct message.
 *
 * The data fsync runs on forced saves (stop, fatal error) and at most once a minute otherwise: an fsync
 * every 5 s of a file written at LAN speed flushes a gigabyte at a time and halved a 4 GiB download's
 * speed. The saves in between still record mtimes taken after the writes: after a process crash the
 * page cache holds the data anyway, and after a power cut a file whose mtime still matches had its
 * hole-filling writes committed before that metadata (ext4's default ordered mode); any other file no
 * longer matches and is re-checked.
 *
 * @example
 *   const keeper = createResumeKeeper({ file, meta, storage, clock: Date.now });
 *   keeper.send({ type: 'Verified', index: 3 });
 *   await keeper.save(true); // on stop
 */
import { ActorRef, createActor } from './actor';
import { bitfieldOf } from '../core/resume-data';
import type { EventInput } from '../events/engine-event';
import type { Metainfo } from '../protocol/metainfo';
import { currentFiles, toResumeFiles, writeResume } from '../storage/resume-file';

/** Periodic saves fsync the data at most this often (forced saves always do). */
export const DATA_SYNC_INTERVAL_MS = 60_000;

type Done = () => void;

export type ResumeIn =
  | { type: 'Verified'; index: number }
  /** The start-up check is done: from here on a save describes real state. */
  | { type: 'Ready' }
  | { type: 'Save'; force: boolean; done?: Done }
  | { type: 'Saved'; synced: boolean; at: number; error?: string };

interface ResumeState {
  verified: Set<number>;
  ready: boolean;
  dirty: boolean;
  saving: boolean;
  /** A save asked for while one ran: runs when it ends (forced if any request was). */
  next: { force: boolean; done: Done[] } | null;
  current: Done[];
  lastDataSync: number;
  lastError: string | undefined;
}

type ResumeEffect = { type: 'Write'; pieces: number[]; sync: boolean };

export interface ResumeKeeperOptions {
  file: string;
  meta: Pick<Metainfo, 'infoHashHex' | 'pieceLength' | 'pieceCount'>;
  storage: { flush(): Promise<void>; readonly paths: readonly string[] };
  clock: () => number;
  onEvent: (e: EventInput) => void;
  onError?: (err: unknown) => void;
}

export interface ResumeKeeper extends ActorRef<ResumeIn, never, ResumeState> {
  /** Saves now (when something changed, or always when forced); resolves when that save ended. */
  save(force: boolean): Promise<void>;
}

export function createResumeKeeper(o: ResumeKeeperOptions): ResumeKeeper {
  const start = (s: ResumeState, force: boolean, done: Done[]): ResumeEffect[] => {
    s.saving = true;
    s.dirty = false;
    s.current = done;
    const sync = force || o.clock() - s.lastDataSync >= DATA_SYNC_INTERVAL_MS;
    return [{ type: 'Write', pieces: [...s.verified], sync }];
  };
  const actor = createActor<ResumeState, ResumeIn, never, ResumeEffect>({
    name: 'resume',
    initial: {
      verified: new Set(),
      ready: false,
      dirty: true, // say what we found (and drop a stale or corrupt record) at the first save
      saving: false,
      next: null,
      current: [],
      lastDataSync: 0,
      lastError: undefined,
    },
    transition: (s, m) => {
      switch (m.type) {
        case 'Verified':
          if (!s.verified.has(m.index)) {
            s.verified.add(m.index);
            s.dirty = true;
          }
          return { state: s };
        case 'Ready':
          s.ready = true;
          return { state: s };
        case 'Save': {
          const done = m.done ? [m.done] : [];
          if (!s.ready || (!m.force && !s.dirty)) {
            for (const d of done) d();
            return { state: s };
          }
          if (s.saving) {
            s.next = { force: (s.next?.force ?? false) || m.force, done: [...(s.next?.done ?? []), ...done] };
            return { state: s };
          }
          return { state: s, effects: start(s, m.force, done) };
        }
        case 'Saved': {
          s.saving = false;
          if (m.synced) s.lastDataSync = m.at;
          if (m.error === undefined) s.lastError = undefined;
          else {
            s.dirty = true;
            if (s.lastError !== m.error) {
              s.lastError = m.error;
              o.onEvent({
                category: 'storage',
                type: 'ResumeSaveFailed',
                level: 'warn',
                torrent: o.meta.infoHashHex,
                path: o.file,
                message: `cannot save resume data to ${o.file}: ${m.error}`,
              });
            }
          }
          for (const d of s.current.splice(0)) d();
          const next = s.next;
          s.next = null;
          if (!next) return { state: s };
          if (!next.force && !s.dirty) {
            for (const d of next.done) d();
            return { state: s };
          }
          return { state: s, effects: start(s, next.force, next.done) };
        }
      }
    },
    perform: (eff, self) => {
      void (async () => {
        if (eff.sync) await o.storage.flush();
        const files = toResumeFiles(await currentFiles(o.storage.paths));
        await writeResume(o.file, {
          infoHash: o.meta.infoHashHex,
          pieceLength: o.meta.pieceLength,
          pieceCount: o.meta.pieceCount,
          verified: bitfieldOf(o.meta.pieceCount, eff.pieces),
          files,
        });
      })().then(
        () => self.send({ type: 'Saved', synced: eff.sync, at: o.clock() }),
        (err: unknown) =>
          self.send({
            type: 'Saved',
            synced: false,
            at: o.clock(),
            error: (err as Error)?.message ?? String(err),
          }),
      );
    },
    onError: o.onError ? (err) => o.onError?.(err) : undefined,
  });
  const save = (force: boolean): Promise<void> =>
    actor.status() !== 'active'
      ? Promise.resolve()
      : new Promise((resolve) => actor.send({ type: 'Save', force, done: resolve }));
  return Object.assign(actor, { save });
}
