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
import { newSecret } from '../tracker/connection-ids';
import { runConsole, TrackerConsole } from '../tracker/console';
import { FrontEnds, startFrontEnds } from '../tracker/front-ends';
import { TorrentCatalog } from '../tracker/torrent-catalog';
import { Traffic, trafficRows } from '../tracker/traffic';
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
  udp: boolean;
}

export function trackerCommand(context: () => CliContext): Command {
  return new Command('tracker')
    .description('run an HTTP and UDP tracker (BEP 3/7/15/23/48) with an interactive console')
    .addOption(
      new Option('-p, --port <port>', 'TCP and UDP port to listen on (0 picks a free one)').default('5000'),
    )
    .option('--no-udp', 'serve HTTP only (no BEP 15 UDP tracker on the same port)')
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
  // Per-peer events cost at thousands of announces a second: produce them only for -v / --events.
  const detach = ctx.log.observed() ? [ctx.log.attach(registry.events$)] : [];
  const traffic = new Traffic();
  let server: FrontEnds;
  try {
    server = await startFrontEnds({
      registry,
      host: o.host,
      port,
      udp: o.udp,
      secret: newSecret(),
      trustIpParam: o.trustIpParam,
      maxNumwant,
      allow: o.allowOnlyKnown ? (hex) => catalog.isKnown(hex) : undefined,
      traffic,
    });
  } catch (err) {
    await registry.close();
    detach.forEach((d) => d());
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'EADDRINUSE') throw new CliError(`port ${port} on ${o.host} is already in use`);
    if (code === 'EADDRNOTAVAIL' || code === 'EAFNOSUPPORT')
      throw new CliError(`cannot bind ${o.host}: ${code}`, 2);
    throw err;
  }
  detach.push(ctx.log.attach(server.events$));
  ctx.stdout.write(
    `tracker listening on ${hostPort(server.host, server.port)}${o.udp ? ' (HTTP and UDP)' : ''}\n`,
  );
  for (const url of announceUrls(server.host, server.port, o.udp))
    ctx.stdout.write(`  announce URL: ${url}\n`);
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
    shell = runConsole({
      input: stdin,
      output: ctx.stdout,
      terminal: Boolean(stdin.isTTY && ctx.stdout.isTTY),
      registry,
      catalog,
      onExit: () => stop('exit'),
      extraStats: () => trafficRows(traffic.snapshot()),
    });
    void shell.done.then((why) => {
      if (why === 'eof')
        ctx.stderr.write('console input ended; the tracker keeps running (SIGINT/SIGTERM stops it)\n');
    });
  }

  const why = await stopped;
  process.off('SIGINT', onSignal);
  process.off('SIGTERM', onSignal);
  shell?.close();
  // A console on a pipe leaves stdin paused but open; let go of it so the process can end.
  if (o.console && !process.stdin.isTTY) process.stdin.destroy();
  await server.close();
  await registry.close();
  detach.forEach((d) => d());
  if (why !== 'exit') ctx.stderr.write(`tracker stopped (${why})\n`);
}

function hostPort(host: string, port: number): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}

/** URLs peers can use: the bound address, or every non-internal address when bound to all. */
function announceUrls(host: string, port: number, udp: boolean): string[] {
  const hosts: string[] = [];
  if (host !== '0.0.0.0' && host !== '::') hosts.push(host);
  else {
    hosts.push('127.0.0.1');
    for (const addrs of Object.values(os.networkInterfaces())) {
      for (const a of addrs ?? []) {
        if (a.internal || (a.family === 'IPv6' && host === '0.0.0.0')) continue;
        if (a.family === 'IPv6' && a.address.startsWith('fe80')) continue;
        hosts.push(a.address);
      }
    }
  }
  return hosts.flatMap((h) => [
    `http://${hostPort(h, port)}/announce`,
    ...(udp ? [`udp://${hostPort(h, port)}/announce`] : []),
  ]);
}
