/**
 * serve's own memory across restarts: which torrents were paused, added or removed by hand, and the
 * limits set while it ran (by the console or the RPC).
 *
 * Owns: `<dir>/serve-state.json`, and a copy of each hand-added torrent's .torrent in
 * `<dir>/torrents/<info-hash>.torrent` (the original file may be gone, or it came over the RPC as
 * base64). Every write is atomic and durable — a temp file, fsync, rename, fsync of the folder — so a
 * crash or power cut leaves the old state or the new one, never half of either. Updates change memory
 * at once and are written in order; updates made while a write runs share the next write. Does not
 * own: what the engine does with the state (the caller reads it at start and reports changes).
 *
 * A state file that is not valid JSON is moved aside (`serve-state.json.corrupt-<time>`) and serve
 * starts afresh with a warning; entries with wrong types are dropped one by one, each with a warning.
 *
 * @example
 *   const state = await ServeState.open(defaultServeStateDir(dataDir), { onEvent: log.emit });
 *   if (state.isPaused(hash)) torrent.stop();
 *   await state.setPaused(hash, 'movie.mp4', true);
 */
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import type { EventInput } from '../events/engine-event';

export const STATE_FILE = 'serve-state.json';
const HASH = /^[0-9a-f]{40}$/;

export type SessionEncryption = 'required' | 'preferred' | 'tolerated';
const ENCRYPTIONS: readonly unknown[] = ['required', 'preferred', 'tolerated'];

export interface TorrentRecord {
  name: string;
  /** `manual`: added by hand (its .torrent is kept beside the state); `store`: from the torrent store. */
  origin: 'store' | 'manual';
  paused: boolean;
  /** Per-torrent limits in bytes per second, when set. */
  downloadLimit?: number;
  uploadLimit?: number;
  /** When it was first recorded (ms since the epoch). */
  addedAt: number;
}

export interface ServeStateData {
  version: 1;
  /** By info-hash (40 lowercase hex digits). */
  torrents: Record<string, TorrentRecord>;
  /** Store torrents removed by hand (by info-hash): not to be added again from the store at start. */
  removed: Record<string, { name: string; at: number }>;
  /** Global limits in bytes per second, and the encryption policy, when set at run time. */
  session: { downloadLimit?: number; uploadLimit?: number; encryption?: SessionEncryption };
  /** Magnet links added by hand whose metadata has not arrived yet (by info-hash). */
  magnets?: Record<string, { uri: string; name: string; paused: boolean; addedAt: number }>;
}

export interface ServeStateOptions {
  /** `StateFileCorrupt`, `StateEntryDropped`, `StateSaveFailed` (warnings). */
  onEvent?: (e: EventInput) => void;
  now?: () => number;
}

/** `<data>/.rxtorrent`: beside the data it describes, hidden from torrents' own names. */
export function defaultServeStateDir(dataDir: string): string {
  return path.join(dataDir, '.rxtorrent');
}

function empty(): ServeStateData {
  return { version: 1, torrents: {}, removed: {}, session: {} };
}

const isRate = (x: unknown): x is number => typeof x === 'number' && Number.isSafeInteger(x) && x >= 0;

/** Keep what has the right shape; report what does not. */
function validate(raw: unknown, warn: (what: string) => void): ServeStateData {
  const out = empty();
  if (!raw || typeof raw !== 'object' || Array.isArray(raw)) {
    warn('the state is not a JSON object');
    return out;
  }
  const r = raw as Record<string, unknown>;
  const torrents =
    r.torrents && typeof r.torrents === 'object' ? (r.torrents as Record<string, unknown>) : {};
  for (const [hash, t] of Object.entries(torrents)) {
    const v = t as Partial<TorrentRecord> | null;
    const ok =
      HASH.test(hash) &&
      v &&
      typeof v.name === 'string' &&
      (v.origin === 'store' || v.origin === 'manual') &&
      typeof v.paused === 'boolean' &&
      typeof v.addedAt === 'number' &&
      (v.downloadLimit === undefined || isRate(v.downloadLimit)) &&
      (v.uploadLimit === undefined || isRate(v.uploadLimit));
    if (!ok) {
      warn(`torrent entry ${JSON.stringify(hash.slice(0, 64))}`);
      continue;
    }
    out.torrents[hash] = {
      name: v.name!,
      origin: v.origin!,
      paused: v.paused!,
      addedAt: v.addedAt!,
      ...(v.downloadLimit !== undefined ? { downloadLimit: v.downloadLimit } : {}),
      ...(v.uploadLimit !== undefined ? { uploadLimit: v.uploadLimit } : {}),
    };
  }
  const removed = r.removed && typeof r.removed === 'object' ? (r.removed as Record<string, unknown>) : {};
  for (const [hash, x] of Object.entries(removed)) {
    const v = x as { name?: unknown; at?: unknown } | null;
    if (HASH.test(hash) && v && typeof v.name === 'string' && typeof v.at === 'number') {
      out.removed[hash] = { name: v.name, at: v.at };
    } else warn(`removed entry ${JSON.stringify(hash.slice(0, 64))}`);
  }
  const magnets = r.magnets && typeof r.magnets === 'object' ? (r.magnets as Record<string, unknown>) : {};
  for (const [hash, x] of Object.entries(magnets)) {
    const v = x as { uri?: unknown; name?: unknown; paused?: unknown; addedAt?: unknown } | null;
    if (
      HASH.test(hash) &&
      v &&
      typeof v.uri === 'string' &&
      v.uri.startsWith('magnet:') &&
      v.uri.length <= 8192 &&
      typeof v.name === 'string' &&
      typeof v.paused === 'boolean' &&
      typeof v.addedAt === 'number'
    )
      // prettier-ignore
      (out.magnets ??= {})[hash] = { uri: v.uri, name: v.name, paused: v.paused, addedAt: v.addedAt };
    else warn(`magnet entry ${JSON.stringify(hash.slice(0, 64))}`);
  }
  const s = (r.session ?? {}) as Record<string, unknown>;
  if (isRate(s.downloadLimit)) out.session.downloadLimit = s.downloadLimit;
  if (isRate(s.uploadLimit)) out.session.uploadLimit = s.uploadLimit;
  if (ENCRYPTIONS.includes(s.encryption)) out.session.encryption = s.encryption as SessionEncryption;
  return out;
}

/** Write `bytes` to `file` so that a crash leaves the old content or the new, never a mix. */
export async function writeFileDurable(file: string, bytes: Buffer | string): Promise<void> {
  const tmp = `${file}.${process.pid}.${Date.now()}.tmp`;
  try {
    const fh = await fs.open(tmp, 'w', 0o600);
    try {
      await fh.writeFile(bytes);
      await fh.sync();
    } finally {
      await fh.close();
    }
    await fs.rename(tmp, file);
  } catch (err) {
    await fs.rm(tmp, { force: true });
    throw err;
  }
  const dir = await fs.open(path.dirname(file), 'r').catch(() => undefined);
  await dir?.sync().catch(() => undefined); // the rename itself is durable only once its folder is
  await dir?.close();
}

export class ServeState {
  private data: ServeStateData;
  private chain: Promise<void> = Promise.resolve();
  private queued?: Promise<void>;
  private written = 0;
  private readonly now: () => number;

  private constructor(
    readonly dir: string,
    data: ServeStateData,
    private readonly opts: ServeStateOptions,
  ) {
    this.data = data;
    this.now = opts.now ?? Date.now;
  }

  /** Read the state in `dir` (none yet: empty). Never fails on bad content; fails only if `dir` is unusable. */
  static async open(dir: string, opts: ServeStateOptions = {}): Promise<ServeState> {
    await fs.mkdir(path.join(dir, 'torrents'), { recursive: true, mode: 0o700 });
    const file = path.join(dir, STATE_FILE);
    const emit = opts.onEvent ?? (() => undefined);
    let text: string | undefined;
    try {
      text = await fs.readFile(file, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
    let data = empty();
    if (text !== undefined) {
      let raw: unknown;
      try {
        raw = JSON.parse(text);
      } catch (err) {
        const aside = `${file}.corrupt-${new Date().toISOString().replace(/[:.]/g, '-')}`;
        await fs.rename(file, aside);
        emit({ category: 'engine', type: 'StateFileCorrupt', level: 'warn', file, movedTo: aside, message: (err as Error).message }); // prettier-ignore
        raw = empty();
      }
      data = validate(raw, (what) =>
        emit({ category: 'engine', type: 'StateEntryDropped', level: 'warn', file, entry: what }),
      );
    }
    return new ServeState(dir, data, opts);
  }

  get file(): string {
    return path.join(this.dir, STATE_FILE);
  }

  /** A copy of the whole state (for the engine at start). */
  snapshot(): ServeStateData {
    return structuredClone(this.data);
  }

  torrent(infoHash: string): TorrentRecord | undefined {
    const t = this.data.torrents[infoHash];
    return t ? { ...t } : undefined;
  }

  isPaused(infoHash: string): boolean {
    return this.data.torrents[infoHash]?.paused === true;
  }

  wasRemoved(infoHash: string): boolean {
    return infoHash in this.data.removed;
  }

  /** Hand-added torrents, with their kept .torrent bytes (read on demand, at start). */
  manual(): Array<{ infoHash: string; record: TorrentRecord; bytes: () => Promise<Buffer> }> {
    return Object.entries(this.data.torrents)
      .filter(([, t]) => t.origin === 'manual')
      .map(([infoHash, record]) => ({
        infoHash,
        record: { ...record },
        bytes: () => fs.readFile(this.copyPath(infoHash)),
      }));
  }

  /** Magnet links added by hand still waiting for their metadata. */
  pendingMagnets(): Array<{ infoHash: string; uri: string; name: string; paused: boolean }> {
    return Object.entries(this.data.magnets ?? {}).map(([infoHash, m]) => ({ infoHash, ...m }));
  }

  /** Remember a magnet added by hand until its metadata arrives (then `addManual` replaces it). */
  async addMagnet(infoHash: string, uri: string, name: string, paused = false): Promise<void> {
    const hash = checkHash(infoHash);
    (this.data.magnets ??= {})[hash] = { uri, name, paused, addedAt: this.now() };
    delete this.data.removed[hash];
    return this.save();
  }

  /** Remember a torrent added by hand: its .torrent is copied first, so the state never names a missing copy. */
  async addManual(infoHash: string, name: string, torrent: Buffer, paused = false): Promise<void> {
    const hash = checkHash(infoHash);
    await writeFileDurable(this.copyPath(hash), torrent);
    const prev = this.data.torrents[hash];
    this.data.torrents[hash] = {
      ...prev,
      name,
      origin: 'manual',
      paused,
      addedAt: prev?.addedAt ?? this.now(),
    };
    delete this.data.removed[hash];
    if (this.data.magnets) delete this.data.magnets[hash];
    return this.save();
  }

  /** Pause or resume by hand (a store torrent gets a record the first time). */
  async setPaused(infoHash: string, name: string, paused: boolean): Promise<void> {
    const m = this.data.magnets?.[infoHash];
    if (m) {
      m.paused = paused;
      return this.save();
    }
    const t = this.record(infoHash, name);
    t.paused = paused;
    return this.save();
  }

  /** Per-torrent limits in bytes/s (`null` clears one). */
  async setLimits(
    infoHash: string,
    name: string,
    limits: { downloadLimit?: number | null; uploadLimit?: number | null },
  ): Promise<void> {
    const t = this.record(infoHash, name);
    applyLimits(t, limits);
    return this.save();
  }

  async setSessionLimits(limits: {
    downloadLimit?: number | null;
    uploadLimit?: number | null;
  }): Promise<void> {
    applyLimits(this.data.session, limits);
    return this.save();
  }

  /** `session-set encryption`: kept so a restart without `--encryption` uses it again. */
  async setSessionEncryption(policy: SessionEncryption): Promise<void> {
    this.data.session.encryption = policy;
    return this.save();
  }

  /** Removed by hand: forget it; a store torrent is also remembered as removed (not re-added at start). */
  async remove(infoHash: string, name: string, origin: 'store' | 'manual'): Promise<void> {
    const hash = checkHash(infoHash);
    delete this.data.torrents[hash];
    if (this.data.magnets) delete this.data.magnets[hash];
    if (origin === 'store') this.data.removed[hash] = { name, at: this.now() };
    await this.save();
    if (origin === 'manual') await fs.rm(this.copyPath(hash), { force: true });
  }

  /** The store published it again (new content or a new copy): it may be added again. */
  async forgetRemoved(infoHash: string): Promise<void> {
    if (!(infoHash in this.data.removed)) return;
    delete this.data.removed[infoHash];
    return this.save();
  }

  /** Writes of the state file so far (updates made during a write share the next one). */
  get saves(): number {
    return this.written;
  }

  /** Resolves when every update so far is on disk. */
  flush(): Promise<void> {
    return this.chain;
  }

  private record(infoHash: string, name: string): TorrentRecord {
    const hash = checkHash(infoHash);
    this.data.torrents[hash] ??= { name, origin: 'store', paused: false, addedAt: this.now() };
    return this.data.torrents[hash];
  }

  private copyPath(infoHash: string): string {
    return path.join(this.dir, 'torrents', `${checkHash(infoHash)}.torrent`);
  }

  /** Queue a write of the current state; calls while one is queued share it. */
  private save(): Promise<void> {
    if (this.queued) return this.queued;
    const p = this.chain.then(async () => {
      this.queued = undefined; // later updates need a later write
      try {
        await writeFileDurable(this.file, JSON.stringify(this.data, null, 1) + '\n');
        this.written++;
      } catch (err) {
        this.opts.onEvent?.({ category: 'engine', type: 'StateSaveFailed', level: 'warn', file: this.file, message: (err as Error).message }); // prettier-ignore
        throw err;
      }
    });
    this.queued = p;
    this.chain = p.catch(() => undefined);
    return p;
  }
}

function checkHash(infoHash: string): string {
  if (!HASH.test(infoHash)) throw new Error(`not an info-hash: ${JSON.stringify(infoHash.slice(0, 64))}`);
  return infoHash;
}

function applyLimits(
  target: { downloadLimit?: number; uploadLimit?: number },
  limits: { downloadLimit?: number | null; uploadLimit?: number | null },
): void {
  for (const k of ['downloadLimit', 'uploadLimit'] as const) {
    const v = limits[k];
    if (v === null) delete target[k];
    else if (v !== undefined) {
      if (!isRate(v)) throw new Error(`${k} must be a whole number of bytes per second`);
      target[k] = v;
    }
  }
}
