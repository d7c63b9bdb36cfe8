/**
 * `rxtorrent tracker [-p 5000] [--host 0.0.0.0]`: the HTTP tracker, its registry actor and console.
 *
 * Owns: option parsing, wiring (registry actor → event log, catalog → whitelist and console, server),
 * and shutting everything down on `exit`, SIGINT or SIGTERM. Nothing else: the rules live in
 * src/core/swarm-registry.ts, HTTP in src/tracker/http-server.ts, commands in src/tracker/console.ts.
 */
import { Command, Option } from 'commander';
import * as os from 'node:os';
import { createRegistryActor } from '../actors/registry-actor';
import { runConsole, TrackerConsole } from '../tracker/console';
import { createTrackerServer } from '../tracker/http-server';
import { TorrentCatalog } from '../tracker/torrent-catalog';
import { CliContext, CliError } from './context';

interface TrackerOptions {
  port: string;
  host: string;
  trustIpParam?: boolean;
  allowOnlyKnown?: boolean;
  console: boolean;
  interval: string;
  minInterval: string;
  grace: string;
  maxNumwant: string;
}

export function trackerCommand(context: () => CliContext): Command {
  return new Command('tracker')
    .description('run an HTTP tracker (BEP 3/7/23/48) with an interactive console')
    .addOption(new Option('-p, --port <port>', 'TCP port to listen on (0 picks a free one)').default('5000'))
    .addOption(
      new Option('--host <address>', 'address to bind; :: serves IPv4 and IPv6 peers').default('0.0.0.0'),
    )
    .option(
      '--trust-ip-param',
      'use the announce `ip=` parameter as the peer address (only on a LAN you control)',
    )
    .option('--allow-only-known', 'track only torrents present in the torrent store (whitelist mode)')
    .option('--no-console', 'run as a plain daemon: no console on stdin')
    .addOption(new Option('--interval <seconds>', 'announce interval handed to clients').default('300'))
    .addOption(new Option('--min-interval <seconds>', 'minimum announce interval').default('30'))
    .addOption(
      new Option('--grace <seconds>', 'silence tolerated past the interval before a peer expires').default(
        '120',
      ),
    )
    .addOption(new Option('--max-numwant <n>', 'most peers returned per announce').default('200'))
    .addHelpText(
      'after',
      '\nConsole commands: list, details, info <torrent>, peers <torrent>, stats, help, exit.\n' +
        'Example:\n  rxtorrent tracker -p 5000\n  rxtorrent -v tracker --no-console --allow-only-known\n',
    )
    .action(async (opts: TrackerOptions) => runTracker(context(), opts));
}

function int(value: string, name: string, min: number, max: number): number {
  if (!/^\d+$/.test(value) || +value < min || +value > max) {
    throw new CliError(
      `--${name} must be a whole number from ${min} to ${max} (got ${JSON.stringify(value)})`,
      2,
    );
  }
  return Number(value);
}

async function runTracker(ctx: CliContext, o: TrackerOptions): Promise<void> {
  const port = int(o.port, 'port', 0, 65535);
  const interval = int(o.interval, 'interval', 1, 86_400);
  const minInterval = int(o.minInterval, 'min-interval', 0, interval);
  const grace = int(o.grace, 'grace', 0, 86_400);
  const maxNumwant = int(o.maxNumwant, 'max-numwant', 0, 10_000);

  const catalog = new TorrentCatalog(ctx.store());
  try {
    await catalog.refresh();
  } catch (err) {
    if (o.allowOnlyKnown)
      throw new CliError(`--allow-only-known needs the torrent store: ${(err as Error).message}`);
    ctx.stderr.write(`warning: cannot read the torrent store: ${(err as Error).message}\n`);
  }
  for (const p of catalog.problems) ctx.stderr.write(`warning: skipping ${p}\n`);

  const registry = createRegistryActor({
    config: { interval, minInterval, grace },
    onError: (err) =>
      ctx.log.emit({
        category: 'error',
        type: 'RegistryFailed',
        level: 'error',
        reason: (err as Error).message,
      }),
  });
  const detach = [ctx.log.attach(registry.events$)];
  const server = createTrackerServer({
    registry,
    host: o.host,
    port,
    trustIpParam: o.trustIpParam,
    maxNumwant,
    allow: o.allowOnlyKnown ? (hex) => catalog.isKnown(hex) : undefined,
  });
  detach.push(ctx.log.attach(server.events$));

  let bound: { host: string; port: number };
  try {
    bound = await server.listen();
  } catch (err) {
    await registry.close();
    detach.forEach((d) => d());
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'EADDRINUSE') throw new CliError(`port ${port} on ${o.host} is already in use`);
    if (code === 'EADDRNOTAVAIL' || code === 'EAFNOSUPPORT')
      throw new CliError(`cannot bind ${o.host}: ${code}`, 2);
    throw err;
  }
  ctx.stdout.write(`tracker listening on ${hostPort(bound.host, bound.port)}\n`);
  for (const url of announceUrls(bound.host, bound.port)) ctx.stdout.write(`  announce URL: ${url}\n`);
  if (o.allowOnlyKnown)
    ctx.stdout.write(`  whitelist: ${catalog.entries().length} torrents from the store\n`);

  let stop: (why: string) => void = () => undefined;
  const stopped = new Promise<string>((resolve) => (stop = resolve));
  const onSignal = (sig: NodeJS.Signals): void => stop(sig);
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);

  let shell: TrackerConsole | undefined;
  if (o.console) {
    const stdin = process.stdin;
    const terminal = Boolean(stdin.isTTY && ctx.stdout.isTTY);
    const prompt = runConsole({
      input: stdin,
      output: ctx.stdout,
      terminal,
      registry,
      catalog,
      onExit: () => stop('exit'),
    });
    shell = prompt;
    // The prompt is the live line: `-v` event lines go above it and it is drawn again below them.
    if (terminal) ctx.live.own(ctx.stdout, () => prompt.redraw());
    void prompt.done.then((why) => {
      ctx.live.hide();
      if (why === 'eof')
        ctx.live.print('console input ended; the tracker keeps running (SIGINT/SIGTERM stops it)');
    });
  }

  const why = await stopped;
  process.off('SIGINT', onSignal);
  process.off('SIGTERM', onSignal);
  shell?.close();
  ctx.live.hide();
  // A console on a pipe leaves stdin paused but open; let go of it so the process can end.
  if (o.console && !process.stdin.isTTY) process.stdin.destroy();
  await server.close();
  await registry.close();
  detach.forEach((d) => d());
  if (why !== 'exit') ctx.live.print(`tracker stopped (${why})`);
}

function hostPort(host: string, port: number): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}

/** URLs peers can use: the bound address, or every non-internal address when bound to all. */
function announceUrls(host: string, port: number): string[] {
  if (host !== '0.0.0.0' && host !== '::') return [`http://${hostPort(host, port)}/announce`];
  const urls = [`http://127.0.0.1:${port}/announce`];
  for (const addrs of Object.values(os.networkInterfaces())) {
    for (const a of addrs ?? []) {
      if (a.internal || (a.family === 'IPv6' && host === '0.0.0.0')) continue;
      if (a.family === 'IPv6' && a.address.startsWith('fe80')) continue;
      urls.push(`http://${hostPort(a.address, port)}/announce`);
    }
  }
  return urls;
}
