/**
 * What every CLI command gets: the event log (with -v / --events sinks attached by main), the torrent
 * store chosen by configuration, and a way to fail with a clear message and the right exit code.
 */
import { EventLog } from '../events/event-log';
import { LocalTorrentStore, defaultStoreDir } from '../store/local-store';
import { TorrentStore } from '../store/torrent-store';

export interface GlobalOptions {
  events?: string;
  verbose?: boolean;
  storeDir?: string;
}

export interface CliContext {
  log: EventLog;
  store(): TorrentStore;
  stdout: NodeJS.WriteStream;
  stderr: NodeJS.WriteStream;
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
): CliContext {
  let store: TorrentStore | undefined;
  return {
    log,
    env,
    stdout: process.stdout,
    stderr: process.stderr,
    store: () => (store ??= new LocalTorrentStore(opts.storeDir ?? defaultStoreDir(env))),
  };
}
