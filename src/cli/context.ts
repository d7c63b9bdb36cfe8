/**
 * What every CLI command gets: the event log (with -v / --events sinks attached by main), the torrent
 * store chosen by configuration, the terminal's live line (messages printed while a progress line or
 * prompt is shown go through it), and a way to fail with a clear message and the right exit code.
 *
 * Store choice: `--store local|dropbox` (or `RXTORRENT_STORE`) decides; otherwise Dropbox when
 * credentials are present (environment or the config file of `rxtorrent dropbox login`), the local
 * folder when not. `--store-dir` given on the command line implies the local store.
 */
import type { EventLog } from '../events/event-log';
import { ConfigError } from '../store/config-file';
import { LocalTorrentStore, defaultStoreDir } from '../store/local-store';
import { StoreError, TorrentStore } from '../store/torrent-store';
import { LiveLine } from './live-line';

export interface GlobalOptions {
  events?: string;
  verbose?: boolean;
  storeDir?: string;
  /** `--store`: force a store kind. */
  store?: 'local' | 'dropbox';
  /** `--remote-dir`: the Dropbox folder (default /SharedTorrents). */
  remoteDir?: string;
  /** `--store-dir` came from the command line (not the environment): it implies the local store. */
  storeDirFromCli?: boolean;
}

export interface CliContext {
  log: EventLog;
  store(): TorrentStore;
  stdout: NodeJS.WriteStream;
  stderr: NodeJS.WriteStream;
  /** Print through this while a live line may be shown (seed/leech progress, bars, the tracker prompt). */
  live: LiveLine;
  env: NodeJS.ProcessEnv;
}

/** An error whose message is for the user, printed without a stack; exit code 2 means a usage error. */
export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode = 1,
  ) {
    super(message);
    this.name = 'CliError';
  }
}

export function makeContext(
  opts: GlobalOptions,
  log: EventLog,
  env: NodeJS.ProcessEnv = process.env,
  live: LiveLine = new LiveLine(process.stdout, process.stderr),
): CliContext {
  let store: TorrentStore | undefined;
  return {
    log,
    env,
    live,
    stdout: process.stdout,
    stderr: process.stderr,
    store: () => (store ??= chooseStore(opts, log, env, live.writer('stderr'))),
  };
}

/** The configured torrent store (see the header); throws CliError for unusable configuration. */
export function chooseStore(
  opts: GlobalOptions,
  log: EventLog,
  env: NodeJS.ProcessEnv,
  stderr: { write(text: string): unknown },
): TorrentStore {
  const local = (): TorrentStore => new LocalTorrentStore(opts.storeDir ?? defaultStoreDir(env));
  if (opts.store === 'local' || (opts.store === undefined && opts.storeDirFromCli)) return local();
  // Loaded here, not at the top: commands that never touch the store (and local stores) skip the SDK.
  const { DropboxAuthError, emulatorBaseUrl, makeDropboxClient, makeDropboxFetch, resolveCredentials } =
    require('../store/dropbox-auth') as typeof import('../store/dropbox-auth');
  const { DEFAULT_REMOTE_DIR, DropboxTorrentStore } =
    require('../store/dropbox-store') as typeof import('../store/dropbox-store');
  try {
    const { credentials, warnings } = resolveCredentials(env);
    for (const w of warnings) stderr.write(`warning: ${w}\n`);
    if (!credentials) {
      if (opts.store === 'dropbox') {
        throw new CliError(
          '--store dropbox needs Dropbox credentials: run `rxtorrent dropbox login`, or set DROPBOX_APP_KEY and DROPBOX_REFRESH_TOKEN (or DROPBOX_ACCESS_TOKEN)',
          2,
        );
      }
      return local();
    }
    const client = makeDropboxClient(credentials, makeDropboxFetch({ baseUrl: emulatorBaseUrl(env) }));
    return new DropboxTorrentStore({
      client,
      folder: opts.remoteDir ?? DEFAULT_REMOTE_DIR,
      onEvent: (e) => log.emit(e),
    });
  } catch (err) {
    if (err instanceof DropboxAuthError || err instanceof ConfigError) throw new CliError(err.message);
    if (err instanceof StoreError) throw new CliError(`--remote-dir: ${err.message}`, 2);
    throw err;
  }
}
