/**
 * `rxtorrent serve`'s core: many torrents on one engine, following the torrent store, remembering what
 * was paused or added by hand, and doing what the console and the RPC ask.
 *
 * Owns: the torrent list as users see it — a small number per torrent that is never reused, where it came
 * from (the store or by hand), whether it is queued, running, paused or failed, and why; adding from the
 * store (a watched folder or Dropbox) and by hand (a path, a store name, or .torrent bytes); pause,
 * resume, remove (optionally with the data), verify, per-torrent and global limits; and the state
 * file's updates. Does not own: the entry type and finding entries (serve-entries.ts), the start queue
 * (serve-start-queue.ts: two torrents check their data at a time, the rest wait in `queued`), the
 * engine's work (src/actors/engine.ts), watching the store (src/store/store-watcher.ts) or the state
 * file's format (src/serve/serve-state.ts).
 *
 * Isolation: a torrent that fails — a bad .torrent in the store, a data folder that cannot be written,
 * a disk that fills — shows `error` with its message; every other torrent keeps running.
 */
import * as fs from 'node:fs/promises';
import { Observable } from 'rxjs/internal/Observable';
import { Subject } from 'rxjs/internal/Subject';
import { Subscription } from 'rxjs/internal/Subscription';
import type { Magnet } from '../actors/magnet';
import { parseMagnet } from '../protocol/magnet';
import type { EventInput } from '../events/engine-event';
import { Metainfo, parseMetainfo } from '../protocol/metainfo';
import { StoreChange, watchStore } from '../store/store-watcher';
import type { TorrentStore } from '../store/torrent-store';
import { ServeEntry, attachTorrent, findEntry } from './serve-entries';
import type { ServeState } from './serve-state';
import { StartQueue, TorrentStartOptions } from './serve-start-queue';

export type { EntryState, ServeEntry } from './serve-entries';

export interface ServeDaemonOptions extends TorrentStartOptions {
  store: TorrentStore;
  state: ServeState;
  watch: boolean;
  clock?: () => number;
  /** Store-watch options (tests shorten the rescan). */
  rescanMs?: number;
}

export type AddInput = { bytes: Buffer } | { filename: string };

export class ServeDaemon {
  private readonly entries = new Map<string, ServeEntry>();
  private nextId = 1;
  private readonly events = new Subject<EventInput>();
  /** serve's own events (the engine's come through the engine). */
  readonly events$: Observable<EventInput> = this.events.asObservable();
  private readonly queue: StartQueue;
  private readonly sub = new Subscription();
  private readonly clock: () => number;
  private stopped = false;

  constructor(private readonly o: ServeDaemonOptions) {
    this.clock = o.clock ?? Date.now;
    this.queue = new StartQueue({
      ...o,
      isListed: (e) => this.entries.get(e.key) === e,
      emit: (e) => this.emit(e),
    });
  }

  /** Adds what was added by hand before, then the store's torrents (and follows the store when watching). */
  async start(): Promise<void> {
    for (const m of this.o.state.pendingMagnets()) {
      const e = this.newEntry(m.infoHash, m.name, 'manual');
      e.magnetUri = m.uri;
      this.entries.set(e.key, e);
      if (m.paused) e.state = 'paused';
      else this.fetchMetadata(e);
    }
    for (const m of this.o.state.manual()) {
      try {
        await this.addParsed(await m.bytes(), 'manual', undefined, m.record.paused);
      } catch (err) {
        this.emit({ category: 'error', type: 'ManualTorrentLost', level: 'warn', torrent: m.infoHash, message: (err as Error).message }); // prettier-ignore
      }
    }
    if (this.o.watch) {
      this.sub.add(
        watchStore(this.o.store, { onEvent: (e) => this.emit(e), rescanMs: this.o.rescanMs }).subscribe(
          (c) => void this.onStoreChange(c),
        ),
      );
    } else {
      for (const e of await this.o.store.list())
        await this.onStoreChange({
          type: 'TorrentPublished',
          name: e.name,
          entry: e,
          replaced: false,
          existing: true,
        });
    }
  }

  list(): ServeEntry[] {
    return [...this.entries.values()].sort((a, b) => a.id - b.id);
  }

  byId(id: number): ServeEntry | undefined {
    for (const e of this.entries.values()) if (e.id === id) return e;
    return undefined;
  }

  /** A name (or its unique start), an info-hash prefix (4+ hex digits), or the number `list` shows. */
  find(spec: string): { entry?: ServeEntry; error?: string } {
    return findEntry(this.list(), spec);
  }

  /** Adds by hand: .torrent bytes, a path, or a name in the store. Resolves once it is in the list. */
  async add(
    input: AddInput,
    opts: { paused?: boolean } = {},
  ): Promise<{ entry: ServeEntry; duplicate: boolean }> {
    if ('filename' in input && input.filename.startsWith('magnet:'))
      return this.addMagnet(input.filename, opts);
    const bytes = 'bytes' in input ? input.bytes : await this.readTorrentFile(input.filename);
    const meta = parseMetainfo(bytes); // throws MetainfoError with a clear message
    const known = this.entries.get(meta.infoHashHex);
    if (known) return { entry: known, duplicate: true };
    await this.o.state.addManual(meta.infoHashHex, meta.name, bytes, opts.paused === true);
    const entry = await this.addParsed(bytes, 'manual', undefined, opts.paused === true);
    return { entry, duplicate: false };
  }

  async pause(e: ServeEntry): Promise<void> {
    if (e.state === 'paused') return;
    const fetching = e.state === 'metadata';
    e.state = 'paused';
    if (e.meta || e.magnetUri) await this.o.state.setPaused(e.key, e.name, true);
    if (fetching) {
      e.magnet = undefined;
      await this.o.engine.remove(e.key); // the fetch starts again on resume
    }
    this.queue.drop(e);
    await e.torrent?.pause();
    this.emit({ category: 'engine', type: 'TorrentPaused', torrent: e.key, name: e.name });
  }

  async resume(e: ServeEntry): Promise<void> {
    if (e.state !== 'paused' && e.state !== 'error') return;
    if (!e.meta && e.magnetUri) {
      await this.o.state.setPaused(e.key, e.name, false);
      this.fetchMetadata(e);
      return;
    }
    if (!e.meta) return; // a store file that does not parse: fixed only by a new file
    await this.o.state.setPaused(e.key, e.name, false);
    this.emit({ category: 'engine', type: 'TorrentResumed', torrent: e.key, name: e.name });
    if (e.torrent && e.torrent.status === 'paused') {
      e.state = 'running';
      e.torrent.resumeTorrent();
      return;
    }
    await this.restart(e, false);
  }

  /** Stops it and forgets it; with `deleteData` its files go too. A store torrent stays out after a restart. */
  async remove(e: ServeEntry, opts: { deleteData?: boolean } = {}): Promise<void> {
    this.entries.delete(e.key);
    this.queue.drop(e);
    if (e.meta || e.magnetUri) {
      e.magnet = undefined;
      await this.o.engine.remove(e.key, { deleteData: opts.deleteData === true });
      await this.o.state.remove(e.key, e.name, e.origin);
    }
    this.emit({ category: 'engine', type: 'TorrentRemovedByHand', torrent: e.key, name: e.name, deletedData: opts.deleteData === true }); // prettier-ignore
  }

  /** Hashes every piece again (the torrent restarts with `--verify`). */
  async verify(e: ServeEntry): Promise<void> {
    if (!e.meta) return;
    await this.restart(e, true);
  }

  async setLimits(e: ServeEntry, l: { down?: number | null; up?: number | null }): Promise<void> {
    if (l.down !== undefined) e.limits.down = l.down ?? undefined;
    if (l.up !== undefined) e.limits.up = l.up ?? undefined;
    e.torrent?.setLimits({ down: e.limits.down ?? 0, up: e.limits.up ?? 0 });
    if (e.meta) await this.o.state.setLimits(e.key, e.name, { downloadLimit: l.down, uploadLimit: l.up });
  }

  async setGlobalLimits(l: { down?: number | null; up?: number | null }): Promise<void> {
    const now = this.clock();
    if (l.down !== undefined) this.o.engine.downBucket.setRate(l.down ?? 0, now);
    if (l.up !== undefined) this.o.engine.upBucket.setRate(l.up ?? 0, now);
    await this.o.state.setSessionLimits({ downloadLimit: l.down, uploadLimit: l.up });
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    this.queue.stop();
    this.sub.unsubscribe();
    await this.o.engine.stop();
    await this.o.state.flush().catch(() => undefined);
    this.events.complete();
  }

  // ------------------------------------------------------------------------------------------ store

  private async onStoreChange(c: StoreChange): Promise<void> {
    if (this.stopped) return;
    const current = [...this.entries.values()].find((e) => e.origin === 'store' && e.storeName === c.name);
    if (c.type === 'TorrentRemoved') {
      if (!current) return;
      // Removed from the store: stop serving it, keep its data.
      this.entries.delete(current.key);
      if (current.meta) await this.o.engine.remove(current.key);
      this.emit({ category: 'store', type: 'StoreTorrentGone', torrent: current.key, name: current.name, file: c.name }); // prettier-ignore
      return;
    }
    let bytes: Buffer;
    try {
      bytes = await this.o.store.fetch(c.name);
    } catch (err) {
      return this.storeFailure(c.name, current, `cannot fetch it from the store: ${(err as Error).message}`);
    }
    let meta: Metainfo;
    try {
      meta = parseMetainfo(bytes);
    } catch (err) {
      return this.storeFailure(c.name, current, `not a valid torrent: ${(err as Error).message}`);
    }
    if (current && current.key === meta.infoHashHex) return; // same torrent, rewritten
    if (current) {
      this.entries.delete(current.key);
      if (current.meta) await this.o.engine.remove(current.key);
    }
    if (this.entries.has(meta.infoHashHex)) return; // already here (added by hand)
    if (this.o.state.wasRemoved(meta.infoHashHex)) {
      if (c.existing) return; // removed by hand earlier: stays out
      await this.o.state.forgetRemoved(meta.infoHashHex); // published anew while we run: welcome back
    }
    await this.addParsed(bytes, 'store', c.name, this.o.state.isPaused(meta.infoHashHex));
  }

  /** A store file we cannot use: listed with its error (by file name), replacing what it was. */
  private async storeFailure(file: string, current: ServeEntry | undefined, message: string): Promise<void> {
    if (current?.meta) {
      this.entries.delete(current.key);
      await this.o.engine.remove(current.key);
    }
    const key = `store:${file}`;
    const e = this.entries.get(key) ?? this.newEntry(key, file.replace(/\.torrent$/, ''), 'store');
    e.storeName = file;
    e.state = 'error';
    e.error = message;
    this.entries.set(key, e);
    this.emit({ category: 'error', type: 'StoreTorrentUnusable', level: 'error', file, message });
  }

  // ------------------------------------------------------------------------------------- torrents

  private async addParsed(
    bytes: Buffer,
    origin: 'store' | 'manual',
    storeName: string | undefined,
    paused: boolean,
  ): Promise<ServeEntry> {
    const meta = parseMetainfo(bytes);
    if (storeName) this.entries.delete(`store:${storeName}`); // it parses now
    const e = this.newEntry(meta.infoHashHex, meta.name, origin);
    e.meta = meta;
    e.storeName = storeName;
    const rec = this.o.state.torrent(meta.infoHashHex);
    e.limits = { down: rec?.downloadLimit, up: rec?.uploadLimit };
    if (rec) e.addedAt = rec.addedAt;
    this.entries.set(e.key, e);
    this.emit({ category: 'engine', type: 'TorrentAdded', torrent: e.key, name: e.name, origin, paused });
    if (paused) e.state = 'paused';
    else this.queue.enqueue(e, false);
    return e;
  }

  /** A magnet link by hand: listed at once ("downloading metadata"), remembered until its metadata arrives. */
  private async addMagnet(
    uri: string,
    opts: { paused?: boolean },
  ): Promise<{ entry: ServeEntry; duplicate: boolean }> {
    const link = parseMagnet(uri); // throws MagnetError with a clear message
    const known = this.entries.get(link.infoHashHex);
    if (known) return { entry: known, duplicate: true };
    const name = link.name ?? link.infoHashHex;
    await this.o.state.addMagnet(link.infoHashHex, uri, name, opts.paused === true);
    const e = this.newEntry(link.infoHashHex, name, 'manual');
    e.magnetUri = uri;
    this.entries.set(e.key, e);
    this.emit({ category: 'engine', type: 'TorrentAdded', torrent: e.key, name, origin: 'manual', paused: opts.paused === true, magnet: true }); // prettier-ignore
    if (opts.paused) e.state = 'paused';
    else this.fetchMetadata(e);
    return { entry: e, duplicate: false };
  }

  /** Fetches the metadata; then the .torrent is kept (as if added by hand) and the torrent runs. */
  private fetchMetadata(e: ServeEntry): void {
    e.state = 'metadata';
    e.error = undefined;
    let m: Magnet;
    try {
      m = this.o.engine.addMagnet(e.magnetUri as string, {
        dir: this.o.dataDir,
        maxPeers: this.o.maxPeersPerTorrent,
        uploadSlots: this.o.uploadSlots,
        minAnnounceIntervalMs: this.o.minAnnounceIntervalMs,
      });
    } catch (err) {
      e.state = 'error';
      e.error = (err as Error).message;
      return;
    }
    e.magnet = m;
    m.start();
    const current = (): boolean => this.entries.get(e.key) === e && e.magnet === m;
    const failed = (err: Error): void => {
      if (!current()) return;
      e.state = 'error';
      e.error = err.message;
    };
    m.whenMetadata()
      .then(async ({ meta, torrentFile }) => {
        if (!current()) return;
        e.meta = meta;
        e.name = meta.name;
        await this.o.state.addManual(meta.infoHashHex, meta.name, torrentFile);
        const t = await m.whenTorrent();
        if (!current()) return;
        e.magnet = undefined;
        e.state = 'running';
        attachTorrent(e, t);
      }, failed)
      .catch(failed);
  }

  private newEntry(key: string, name: string, origin: 'store' | 'manual'): ServeEntry {
    return { id: this.nextId++, key, name, origin, state: 'queued', addedAt: this.clock(), limits: {} };
  }

  private async restart(e: ServeEntry, verify: boolean): Promise<void> {
    if (e.torrent) {
      await this.o.engine.remove(e.key);
      e.torrent = undefined;
    }
    e.error = undefined;
    this.queue.enqueue(e, verify);
  }

  private async readTorrentFile(filename: string): Promise<Buffer> {
    try {
      return await fs.readFile(filename);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code !== 'ENOENT' && code !== 'ENOTDIR' && code !== 'EISDIR') throw err;
    }
    return this.o.store.fetch(filename);
  }

  private emit(e: EventInput): void {
    this.events.next(e);
  }
}
