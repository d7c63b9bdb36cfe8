/**
 * `rxtorrent serve`: one daemon for many torrents — everything in the torrent store (and what is added
 * by hand) on one engine and one peer port, following the store while it runs, driven from its console
 * or remotely through a Transmission-compatible RPC.
 *
 * Owns: the flags, starting the parts in order (state file, engine, RPC, daemon), the lines a user sees,
 * and stopping everything on `exit`, SIGINT or SIGTERM. Nothing else: the daemon (src/serve) holds the
 * rules. End of console input does not stop serve (a service has no stdin).
 */
import { Command, Option } from 'commander';
import * as path from 'node:path';
import { Engine } from '../actors/engine';
import { EventInput } from '../events/engine-event';
import { DEFAULT_RPC_PORT, RpcServer, createRpcServer, parseRpcAuth } from '../rpc/rpc-server';
import { createServeBackend } from '../serve/serve-backend';
import { runServeConsole } from '../serve/serve-console';
import { ServeDaemon } from '../serve/serve-daemon';
import { ServeState, defaultServeStateDir } from '../serve/serve-state';
import { CliContext, CliError } from './context';
import { NetworkFlags, addNetworkOptions, engineOptions, intOption } from './network-options';
import { formatBytes } from './progress';

interface ServeFlags extends NetworkFlags {
  dir: string;
  rpcPort: string;
  rpcBind: string;
  rpcAuth?: string;
  rpc: boolean;
  watch: boolean;
  console: boolean;
  maxPeers: string;
  peersPerTorrent: string;
  uploadSlots: string;
  minAnnounceInterval: string;
}

export function serveCommand(context: () => CliContext): Command {
  const cmd = new Command('serve').description(
    'seed and download every torrent in the torrent store (and any added by hand) from one process, with a console and Transmission-compatible remote control',
  );
  return addNetworkOptions(cmd, '6881')
    .option('-o, --dir <folder>', "data folder: each torrent's content is <folder>/<name>", '.')
    .option('--rpc-port <port>', 'remote control port (Transmission RPC)', String(DEFAULT_RPC_PORT))
    .option('--rpc-bind <address>', 'remote control address (default: this machine only)', '127.0.0.1')
    .option('--rpc-auth <user:pass>', 'require HTTP basic auth for the remote control')
    .option('--no-rpc', 'no remote control')
    .option('--no-watch', 'add what is in the torrent store at start, then stop following it')
    .option('--no-console', 'no console on stdin (for services)')
    .option('--max-peers <n>', 'most connections for all torrents together', '500')
    .option('--peers-per-torrent <n>', 'most connections per torrent', '60')
    .option('--upload-slots <n>', 'peers unchoked at once, per torrent', '8')
    .addOption(
      new Option(
        '--min-announce-interval <seconds>',
        'lowest announce interval taken from trackers (for testing / LANs)',
      ).default('30'),
    )
    .addHelpText(
      'after',
      `\nExamples:\n  rxtorrent serve -o ~/shared\n  rxtorrent serve -o /srv/torrents --no-console --rpc-bind 0.0.0.0 --rpc-auth admin:secret\n  transmission-remote 127.0.0.1:9091 -l\n`,
    )
    .action(async (o: ServeFlags) => runServe(context(), o));
}

async function runServe(ctx: CliContext, o: ServeFlags): Promise<void> {
  const maxPeers = intOption(o.maxPeers, '--max-peers', 1, 100_000);
  const perTorrent = intOption(o.peersPerTorrent, '--peers-per-torrent', 1, 10_000);
  const uploadSlots = intOption(o.uploadSlots, '--upload-slots', 1, 1000);
  const minAnnounce = intOption(o.minAnnounceInterval, '--min-announce-interval', 1, 3600);
  const rpcPort = intOption(o.rpcPort, '--rpc-port', 0, 65535);
  let auth: { username: string; password: string } | undefined;
  try {
    auth = o.rpcAuth !== undefined ? parseRpcAuth(o.rpcAuth) : undefined;
  } catch (err) {
    throw new CliError((err as Error).message, 2);
  }
  const dataDir = path.resolve(o.dir);
  const store = ctx.store();
  const detach: (() => void)[] = [];
  const log = (e: EventInput): void => ctx.log.emit(e);
  let state: ServeState;
  try {
    state = await ServeState.open(defaultServeStateDir(dataDir), { onEvent: log });
  } catch (err) {
    throw new CliError(`cannot use ${dataDir} for serve's state: ${(err as Error).message}`);
  }
  const engine = new Engine(engineOptions(o, { maxConnections: maxPeers }));
  // Limits set at run time (console, RPC) survive a restart, unless the command line sets them now.
  const saved = state.snapshot().session;
  if (o.maxDown === undefined && saved.downloadLimit !== undefined)
    engine.downBucket.setRate(saved.downloadLimit, Date.now());
  if (o.maxUp === undefined && saved.uploadLimit !== undefined)
    engine.upBucket.setRate(saved.uploadLimit, Date.now());
  if (o.encryption === undefined && saved.encryption !== undefined) engine.setEncryption(saved.encryption);
  const daemon = new ServeDaemon({
    engine,
    store,
    state,
    dataDir,
    watch: o.watch,
    maxPeersPerTorrent: perTorrent,
    uploadSlots,
    minAnnounceIntervalMs: minAnnounce * 1000,
  });
  detach.push(ctx.log.attach(engine.events$), ctx.log.attach(daemon.events$));
  // Worth a line without -v: what serve takes on, loses, finishes or cannot use.
  const notices = (e: EventInput): void => {
    const text = notice(e, daemon);
    if (text) ctx.live.print(text);
  };
  detach.push(subscribe(engine.events$, notices), subscribe(daemon.events$, notices));

  let rpc: RpcServer | undefined;
  try {
    await engine.start();
    if (o.rpc) {
      rpc = createRpcServer({
        backend: createServeBackend(
          {
            daemon,
            engine,
            dataDir,
            configDir: state.dir,
            version: `rxtorrent ${version()}`,
            peerLimitGlobal: maxPeers,
            peerLimitPerTorrent: perTorrent,
          },
          {
            encryption: () => engine.encryption,
            setEncryption: (policy) => {
              engine.setEncryption(policy);
              state.setSessionEncryption(policy).catch(() => undefined); // StateSaveFailed says why
            },
            dhtEnabled: () => engine.dhtEnabled,
            pexEnabled: () => true,
            lpdEnabled: () => engine.lsdEnabled,
          },
        ),
        host: o.rpcBind,
        port: rpcPort,
        auth,
      });
      detach.push(ctx.log.attach(rpc.events$));
      await rpc.start();
    }
    await daemon.start();
  } catch (err) {
    await rpc?.stop();
    await daemon.stop().catch(() => undefined);
    detach.forEach((d) => d());
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'EADDRINUSE')
      throw new CliError(
        `a port is already in use (${(err as Error).message}): choose another with -p or --rpc-port`,
      );
    if (code === 'EADDRNOTAVAIL') throw new CliError(`cannot bind: ${(err as Error).message}`, 2);
    throw new CliError((err as Error).message);
  }
  ctx.stdout.write(
    `serving the ${store.kind} torrent store (${store.location}) on port ${engine.port}; data in ${dataDir}\n` +
      (rpc ? `  remote control: ${rpc.url()}${auth ? ' (basic auth)' : ''}\n` : '') +
      (o.console ? '  console: type help; Ctrl-C stops\n' : ''),
  );

  let stop: (why: string) => void = () => undefined;
  const stopped = new Promise<string>((resolve) => (stop = resolve));
  const onSignal = (sig: NodeJS.Signals): void => stop(sig);
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  let shell: { close(): void } | undefined;
  if (o.console) {
    const terminal = Boolean(process.stdin.isTTY && ctx.stdout.isTTY);
    const prompt = runServeConsole({
      daemon,
      engine,
      dataDir,
      input: process.stdin,
      output: ctx.stdout,
      terminal,
      onExit: () => stop('exit'),
    });
    shell = prompt;
    if (terminal) ctx.live.own(ctx.stdout, () => prompt.redraw());
    void prompt.done.then((why) => {
      ctx.live.hide();
      if (why === 'eof') ctx.live.print('console input ended; serve keeps running (SIGINT/SIGTERM stops it)');
    });
  }
  const why = await stopped;
  process.off('SIGINT', onSignal);
  process.off('SIGTERM', onSignal);
  shell?.close();
  ctx.live.hide();
  if (o.console && !process.stdin.isTTY) process.stdin.destroy();
  await rpc?.stop();
  await daemon.stop();
  detach.forEach((d) => d());
  ctx.stdout.write(`serve stopped (${why})\n`);
}

function subscribe(
  events$: { subscribe(f: (e: EventInput) => void): { unsubscribe(): void } },
  f: (e: EventInput) => void,
): () => void {
  const s = events$.subscribe(f);
  return () => s.unsubscribe();
}

function notice(e: EventInput, daemon: ServeDaemon): string | undefined {
  const name = (): string =>
    String(e.name ?? daemon.list().find((x) => x.key === e.torrent)?.name ?? e.torrent);
  switch (e.type) {
    case 'TorrentAdded':
      return `added ${name()}${e.origin === 'manual' ? ' (by hand)' : ''}${e.paused ? ', paused' : ''}`;
    case 'StoreTorrentGone':
      return `removed from the store: ${name()} (stopped; its data is kept)`;
    case 'StoreTorrentUnusable':
      return `cannot use ${String(e.file)} from the store: ${String(e.message)}`;
    case 'TorrentFailed':
    case 'WriteFailed':
      return `${name()} failed: ${String(e.message)}`;
    case 'DownloadCompleted':
      return `download complete: ${name()} (${formatBytes(Number(e.downloaded))} downloaded); seeding`;
    case 'StoreWatchFailed':
      return `cannot follow the torrent store: ${String(e.message)}`;
    default:
      return undefined;
  }
}

function version(): string {
  try {
    return (require('../../package.json') as { version: string }).version;
  } catch {
    return '0.0.0';
  }
}
