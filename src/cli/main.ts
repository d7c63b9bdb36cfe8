/**
 * The `rxtorrent` command line: global options, one sub-command per file, and the one place where
 * errors become a message on stderr and an exit code (2 for usage errors, 1 otherwise; never a stack).
 */
import { Command, CommanderError, Option } from 'commander';
// From its own module, not rxjs's index (see src/actors/actor.ts).
import { config as rxConfig } from 'rxjs/internal/config';
import { EventLog, JsonlSink, printEvents, writeJsonl } from '../events/event-log';
import { commandIndex } from './command-word';
import { CliContext, CliError, GlobalOptions, makeContext } from './context';

export type CommandFactory = (ctx: () => CliContext) => Command;

/**
 * Every command, in the order help lists them, with the module that makes it. A run loads only its own
 * command's module (`create` then never loads the engine, ioredis or the Dropbox SDK: ~0.1 s of start-up
 * on this machine); help and unknown commands load them all.
 */
const commands: [string, () => CommandFactory][] = [
  ['create', () => require('./create-command').createCommand],
  ['info', () => require('./info-command').infoCommand],
  ['tracker', () => require('./tracker-command').trackerCommand],
  ['seed', () => require('./peer-command').seedCommand],
  ['leech', () => require('./peer-command').leechCommand],
  ['serve', () => require('./serve-command').serveCommand],
  ['store', () => require('./store-command').storeCommand],
  ['dropbox', () => require('./dropbox-command').dropboxCommand],
];

/** The command `argv` runs, if plain to see; undefined when all must be loaded (help, typos). */
export function commandIn(argv: readonly string[]): string | undefined {
  const i = commandIndex(argv);
  return i > 0 && commands.some(([name]) => name === argv[i]) ? argv[i] : undefined;
}

export function buildProgram(only?: string): {
  program: Command;
  context: () => CliContext;
  shutdown: () => Promise<void>;
} {
  const log = new EventLog();
  superviseUnhandled(log);
  let ctx: CliContext | undefined;
  let jsonl: JsonlSink | undefined;
  const program = new Command('rxtorrent')
    .description('BitTorrent on RxJS actors: create torrents, run a tracker, seed, leech and serve')
    .version(packageVersion())
    .option('--events <file.jsonl>', 'write every engine event as a JSON line to this file')
    .option('-v, --verbose', 'print engine events to stderr')
    .addOption(
      new Option(
        '--store-dir <dir>',
        'local torrent store folder (given here, it implies --store local)',
      ).env('RXTORRENT_STORE_DIR'),
    )
    .addOption(
      new Option('--store <kind>', 'torrent store (default: dropbox when credentials are set, else local)')
        .choices(['local', 'dropbox'])
        .env('RXTORRENT_STORE'),
    )
    .addOption(
      new Option('--remote-dir <dir>', 'Dropbox folder of the torrent store')
        .default('/SharedTorrents')
        .env('RXTORRENT_DROPBOX_DIR'),
    )
    .showHelpAfterError('(run with --help for usage)')
    .exitOverride()
    .configureOutput({ writeErr: (s) => process.stderr.write(s) });

  const context = (): CliContext => {
    if (ctx) return ctx;
    const g: GlobalOptions = {
      ...program.opts<GlobalOptions>(),
      storeDirFromCli: program.getOptionValueSource('storeDir') === 'cli',
    };
    ctx = makeContext(g, log);
    // Event lines go above a live progress line or prompt, never onto it.
    if (g.verbose) printEvents(log, ctx.live.writer('stderr'));
    if (g.events) jsonl = writeJsonl(log, g.events);
    return ctx;
  };
  for (const [name, load] of commands)
    if (only === undefined || name === only) program.addCommand(load()(context).exitOverride());
  return {
    program,
    context,
    shutdown: async () => {
      log.complete();
      await jsonl?.close();
    },
  };
}

export async function main(argv: string[]): Promise<void> {
  ignoreClosedPipes();
  const { program, shutdown } = buildProgram(commandIn(argv));
  let code = 0;
  try {
    await program.parseAsync(argv);
  } catch (err) {
    code = reportError(err);
  }
  await shutdown();
  if (code !== 0) process.exitCode = code;
}

/**
 * `rxtorrent --help | head` closes our stdout early: what we still print is lost, not a crash (an
 * unhandled EPIPE would end a seeder whose terminal went away). Other stream errors are rethrown.
 */
function ignoreClosedPipes(): void {
  for (const stream of [process.stdout, process.stderr]) {
    if (stream.listenerCount('error') > 0) continue;
    stream.on('error', (err: NodeJS.ErrnoException) => {
      if (err.code !== 'EPIPE' && err.code !== 'ERR_STREAM_DESTROYED') throw err;
    });
  }
}

/**
 * Errors nobody handled — a throw inside an RxJS subscriber, a rejected promise nobody awaited — become
 * `error` events instead of ending the process: engine parts guard their own handlers, so one reaching
 * here is a bug to report, not a reason to drop every other torrent and peer.
 */
function superviseUnhandled(log: EventLog): void {
  const report = (source: string) => (err: unknown) => {
    const message = err instanceof Error ? err.message : String(err);
    log.emit({ category: 'error', type: 'UnhandledError', level: 'error', source, message });
    if (process.env.RXTORRENT_DEBUG && err instanceof Error) process.stderr.write(`${err.stack}\n`);
  };
  rxConfig.onUnhandledError = report('rxjs');
  if (process.listenerCount('unhandledRejection') === 0) process.on('unhandledRejection', report('promise'));
}

function reportError(err: unknown): number {
  if (err instanceof CommanderError) {
    // Help and version exit 0; commander already printed usage errors.
    if (
      err.code === 'commander.helpDisplayed' ||
      err.code === 'commander.version' ||
      err.code === 'commander.help'
    )
      return 0;
    return 2;
  }
  if (err instanceof CliError) {
    process.stderr.write(`rxtorrent: ${err.message}\n`);
    return err.exitCode;
  }
  const message = err instanceof Error ? err.message : String(err);
  process.stderr.write(`rxtorrent: ${message}\n`);
  if (process.env.RXTORRENT_DEBUG && err instanceof Error) process.stderr.write(`${err.stack}\n`);
  return 1;
}

function packageVersion(): string {
  try {
    return (require('../../package.json') as { version: string }).version;
  } catch {
    return '0.0.0';
  }
}
