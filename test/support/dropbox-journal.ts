/**
 * The Dropbox emulator's memory of change: which folders exist, every path that changed (a journal),
 * list_folder cursors over it, and longpoll waiters woken by each change.
 *
 * A cursor is a page position while a listing is paged, then a journal position: `continue` answers
 * the changes after it in the cursor's folder (last change per path). Cursors from before
 * `resetCursors()` answer `reset`, as Dropbox's do after a server-side rebuild.
 */

export interface Cursor {
  epoch: number;
  /** Folder, lowercased (`''` is the root). */
  dir: string;
  /** Journal length when the listing started. */
  seq: number;
  /** Paging: the next entry to list, and the page size. */
  offset?: number;
  limit?: number;
}

export interface Change {
  lower: string;
  display: string;
}

export type PollOutcome = 'changes' | 'reset' | 'none';

export class DropboxJournal {
  /** Folders (lowercased) that exist; they appear when something is put in them and stay when emptied. */
  readonly folders = new Set<string>();
  private readonly changes: Change[] = [];
  private readonly waiters = new Set<() => void>();
  private epoch = 0;

  hasFolder(dir: string): boolean {
    return dir === '' || this.folders.has(dir);
  }

  /** A path changed (created, modified, deleted): longpolls that can see it wake up. */
  record(pathDisplay: string): void {
    this.changes.push({ lower: pathDisplay.toLowerCase(), display: pathDisplay });
    this.wake();
  }

  /** The folders above a new file, created (and recorded) as Dropbox does on upload. */
  addParents(pathDisplay: string): void {
    const parts = pathDisplay.split('/');
    for (let i = 2; i < parts.length; i++) {
      const folder = parts.slice(0, i).join('/');
      if (this.folders.has(folder.toLowerCase())) continue;
      this.folders.add(folder.toLowerCase());
      this.record(folder);
    }
  }

  /** Forget a folder and every folder below it. */
  removeFolders(dir: string): void {
    for (const d of [...this.folders]) if (d === dir || d.startsWith(`${dir}/`)) this.folders.delete(d);
  }

  resetCursors(): void {
    this.epoch++;
    this.wake();
  }

  /** A cursor for a listing of `dir` starting now. */
  start(dir: string, paging?: { limit: number }): Cursor {
    return {
      epoch: this.epoch,
      dir,
      seq: this.changes.length,
      ...(paging ? { offset: 0, limit: paging.limit } : {}),
    };
  }

  /** The cursor for "changes after now" in `dir`. */
  latest(dir: string): string {
    return this.encode(this.start(dir));
  }

  encode(c: Cursor): string {
    return Buffer.from(JSON.stringify(c)).toString('base64url');
  }

  /** A cursor issued in the current epoch, else undefined (→ `reset`). */
  decode(raw: unknown): Cursor | undefined {
    try {
      const c = JSON.parse(Buffer.from(String(raw), 'base64url').toString('utf8')) as Cursor;
      return c && c.epoch === this.epoch && typeof c.dir === 'string' && typeof c.seq === 'number'
        ? c
        : undefined;
    } catch {
      return undefined;
    }
  }

  /** Changes after the cursor to its folder and its direct children, the last change per path. */
  since(c: Cursor): Change[] {
    const latest = new Map<string, Change>();
    for (const j of this.changes.slice(c.seq)) {
      const child = j.lower.startsWith(`${c.dir}/`) && !j.lower.slice(c.dir.length + 1).includes('/');
      if (j.lower !== c.dir && !child) continue;
      latest.delete(j.lower);
      latest.set(j.lower, j);
    }
    return [...latest.values()];
  }

  /** What a longpoll with this cursor would answer now. */
  poll(raw: unknown): PollOutcome {
    const c = this.decode(raw);
    if (!c) return 'reset';
    return this.since(c).length > 0 || !this.hasFolder(c.dir) ? 'changes' : 'none';
  }

  /** Call `done` once: when a change makes `poll(raw)` say something, or after `ms`. Returns a cancel. */
  wait(raw: unknown, ms: number, done: (o: PollOutcome) => void): () => void {
    let finished = false;
    const finish = (o: PollOutcome): void => {
      if (finished) return;
      finished = true;
      cancel();
      done(o);
    };
    const waiter = (): void => {
      const o = this.poll(raw);
      if (o !== 'none') finish(o);
    };
    const timer = setTimeout(() => finish('none'), ms);
    const cancel = (): void => {
      this.waiters.delete(waiter);
      clearTimeout(timer);
    };
    this.waiters.add(waiter);
    return cancel;
  }

  /** Wake every waiter (each checks its own cursor). */
  wake(): void {
    for (const w of [...this.waiters]) w();
  }
}
