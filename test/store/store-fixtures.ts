/**
 * Small valid .torrent files for store tests, a Dropbox store wired to an emulator, the harnesses the
 * store and store-watcher contract suites run on, and a recorder for store watchers.
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Observable } from 'rxjs';
import type { EventInput } from '../../src/events/engine-event';
import { buildMetainfo } from '../../src/protocol/metainfo';
import { DropboxCredentials, makeDropboxClient, makeDropboxFetch } from '../../src/store/dropbox-auth';
import { DropboxStoreOptions, DropboxTorrentStore } from '../../src/store/dropbox-store';
import { LocalTorrentStore } from '../../src/store/local-store';
import type { StoreChange } from '../../src/store/store-index';
import type { TorrentStore } from '../../src/store/torrent-store';
import { DropboxEmulator, EmulatorOptions, startDropboxEmulator } from '../support/dropbox-emulator';
import { tempDir } from '../support/run-cli';

/** A valid single-file .torrent named `name` (content derived from `seed`). */
export function torrentBytes(name: string, seed = 1): Buffer {
  const length = 20_000 + seed;
  return buildMetainfo({
    name,
    pieceLength: 16384,
    pieces: Buffer.concat([0, 1].map((i) => createHash('sha1').update(`${name}:${seed}:${i}`).digest())),
    files: [{ path: [name], length }],
    multiFile: false,
  });
}

export function emulatorStore(
  emu: DropboxEmulator,
  opts: Partial<DropboxStoreOptions> & { credentials?: DropboxCredentials } = {},
): DropboxTorrentStore {
  const credentials: DropboxCredentials = opts.credentials ?? {
    kind: 'refresh',
    appKey: emu.appKey,
    refreshToken: emu.issueRefreshToken(),
    source: 'environment',
  };
  return new DropboxTorrentStore({
    retry: { baseDelayMs: 5, maxDelayMs: 20 },
    ...opts,
    client: makeDropboxClient(credentials, makeDropboxFetch({ baseUrl: emu.url })),
  });
}

/** What a store watcher emitted so far, and a way to await the next change that matches. */
export interface Collected {
  changes: StoreChange[];
  events: EventInput[];
  /** Resolves with the first change (already seen or still to come) matching `pred`; rejects after `ms`. */
  next(pred: (c: StoreChange) => boolean, ms?: number): Promise<StoreChange>;
  /** Resolves with the first event matching `pred`. */
  event(pred: (e: EventInput) => boolean, ms?: number): Promise<EventInput>;
  stop(): void;
}

/** Subscribe to a watcher built by `start` (given the event sink) and record what it says. */
export function collect(start: (onEvent: (e: EventInput) => void) => Observable<StoreChange>): Collected {
  const changes: StoreChange[] = [];
  const events: EventInput[] = [];
  const pokes = new Set<() => void>();
  const poke = (): void => pokes.forEach((p) => p());
  const sub = start((e) => {
    events.push(e);
    poke();
  }).subscribe((c) => {
    changes.push(c);
    poke();
  });
  const waitIn = <T>(list: T[], pred: (x: T) => boolean, ms: number, what: string): Promise<T> =>
    new Promise((resolve, reject) => {
      let from = 0;
      const check = (): void => {
        for (; from < list.length; from++) {
          if (pred(list[from])) {
            pokes.delete(check);
            clearTimeout(timer);
            return resolve(list[from]);
          }
        }
      };
      const timer = setTimeout(() => {
        pokes.delete(check);
        reject(new Error(`no matching ${what} within ${ms} ms; saw ${JSON.stringify(list)}`));
      }, ms);
      pokes.add(check);
      check();
    });
  return {
    changes,
    events,
    next: (pred, ms = 10_000) => waitIn(changes, pred, ms, 'change'),
    event: (pred, ms = 10_000) => waitIn(events, pred, ms, 'event'),
    stop: () => sub.unsubscribe(),
  };
}

export const published =
  (name: string, extra: Partial<Extract<StoreChange, { type: 'TorrentPublished' }>> = {}) =>
  (c: StoreChange): boolean =>
    c.type === 'TorrentPublished' &&
    c.name === name &&
    Object.entries(extra).every(([k, v]) => (c as unknown as Record<string, unknown>)[k] === v);

export const removed =
  (name: string) =>
  (c: StoreChange): boolean =>
    c.type === 'TorrentRemoved' && c.name === name;

/** A store for a contract suite, and a way to change it behind its back (as another program might). */
export interface StoreHarness {
  store: TorrentStore;
  /** Put raw bytes into the store without going through it; `ageMs` back-dates the file where it can. */
  plant(name: string, bytes: Buffer, ageMs?: number): void;
  close(): Promise<void>;
  /** The Dropbox emulator behind the store, when there is one. */
  emu?: DropboxEmulator;
}

/** A local-folder store in a fresh temp folder (the folder itself is not created yet). */
export function localHarness(prefix = 'rxt-store-'): StoreHarness {
  const t = tempDir(prefix);
  const dir = path.join(t.dir, 'torrents');
  return {
    store: new LocalTorrentStore(dir),
    plant: (name, bytes, ageMs) => {
      fs.mkdirSync(dir, { recursive: true });
      fs.writeFileSync(path.join(dir, name), bytes);
      if (ageMs)
        fs.utimesSync(path.join(dir, name), new Date(Date.now() - ageMs), new Date(Date.now() - ageMs));
    },
    close: async () => t.cleanup(),
  };
}

/** A Dropbox store on the real SDK, talking to a fresh loopback emulator. */
export async function dropboxHarness(
  opts: EmulatorOptions = {},
): Promise<StoreHarness & { emu: DropboxEmulator }> {
  const emu = await startDropboxEmulator(opts);
  return {
    emu,
    store: emulatorStore(emu),
    plant: (name, bytes) => void emu.put(`/SharedTorrents/${name}`, bytes),
    close: () => emu.close(),
  };
}
