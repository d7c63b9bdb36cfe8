/**
 * `rxtorrent tracker [-p 5000] [--host 0.0.0.0] [--registry redis://…] [--workers N]`: the HTTP and
 * UDP tracker, its registry and console.
 *
 * Owns: option parsing and checks, choosing the registry (the in-process actor, or Redis), the roles
 * (one process; or with `--workers`, a cluster primary holding the console and N workers holding the
 * port, src/cli/tracker-cluster.ts), and shutting down on `exit`, SIGINT or SIGTERM. Nothing else:
 * rules live in src/core/swarm-registry.ts and the Redis scripts, the servers in src/tracker/.
 */
import cluster from 'node:cluster';
import { Command, Option } from 'commander';
import * as os from 'node:os';
import { createRegistryActor } from '../actors/registry-actor';
import type { RegistryConfig } from '../core/swarm-registry';
import { newSecret } from '../tracker/connection-ids';
import { runConsole } from '../tracker/console';
import { startFrontEnds } from '../tracker/front-ends';
import { createRedisRegistry, parseRedisUrl, RedisRegistry } from '../tracker/redis-registry';
import type { TrackerRegistry } from '../tracker/registry';
import { TorrentCatalog } from '../tracker/torrent-catalog';
import { Traffic, TrafficCounts, trafficRows } from '../tracker/traffic';
import { CliContext, CliError } from './context';
import { runPrimary, runWorker } from './tracker-cluster';

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
  registry: string;
  workers?: string;
}

/** Checked options, as every role needs them. */
export interface TrackerSettings {
  port: number;
  host: string;
  udp: boolean;
  trustIpParam: boolean;
  allowOnlyKnown: boolean;
  console: boolean;
  maxNumwant: number;
  config: RegistryConfig;
  /** `redis://…`, or undefined for the in-process registry. */
  redisUrl: string | undefined;
  workers: number;
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
    .addOption(
      new Option(
        '--registry <where>',
        'where swarms live: memory (this process) or redis://HOST:PORT[/DB] (shared by many trackers)',
      ).default('memory'),
    )
    .option('--workers <n>', 'run N tracker processes on the port (node:cluster); needs --registry redis://…')
    .addHelpText(
      'after',
      '\nConsole commands: list, details, info <torrent>, peers <torrent>, stats, help, exit.\n' +
        'Example:\n  rxtorrent tracker -p 5000\n  rxtorrent -v tracker --no-console --allow-only-known\n' +
        '  rxtorrent tracker --registry redis://127.0.0.1:6379 --workers 2\n',
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

export function checkOptions(o: TrackerOptions): TrackerSettings {
  const interval = int(o.interval, 'interval', 1, 86_400);
  let redisUrl: string | undefined;
  if (o.registry !== 'memory') {
    try {
      redisUrl = parseRedisUrl(o.registry).toString();
    } catch (err) {
      throw new CliError(`--registry: ${(err as Error).message}; or use memory`, 2);
    }
  }
  const workers = o.workers === undefined ? 0 : int(o.workers, 'workers', 1, 64);
  if (workers > 0 && !redisUrl)
    throw new CliError(
      '--workers needs --registry redis://HOST:PORT: processes can share swarms only through Redis',
      2,
    );
  return {
    port: int(o.port, 'port', 0, 65535),
    host: o.host,
    udp: o.udp,
    trustIpParam: o.trustIpParam === true,
    allowOnlyKnown: o.allowOnlyKnown === true,
    console: o.console,
    maxNumwant: int(o.maxNumwant, 'max-numwant', 0, 10_000),
    config: {
      interval,
      minInterval: int(o.minInterval, 'min-interval', 0, interval),
      grace: int(o.grace, 'grace', 0, 86_400),
    },
    redisUrl,
    workers,
  };
}

/** The torrent store as the whitelist and the console see it. */
export async function openCatalog(ctx: CliContext, s: TrackerSettings): Promise<TorrentCatalog> {
  const catalog = new TorrentCatalog(ctx.store());
  try {
    await catalog.refresh();
  } catch (err) {
    if (s.allowOnlyKnown)
      throw new CliError(`--allow-only-known needs the torrent store: ${(err as Error).message}`);
    ctx.live.print(`warning: cannot read the torrent store: ${(err as Error).message}`);
  }
  for (const p of catalog.problems) ctx.live.print(`warning: skipping ${p}`);
  return catalog;
}

/** A bind failure as a message for the user. */
export function bindError(err: unknown, s: TrackerSettings): unknown {
  const code = (err as NodeJS.ErrnoException).code;
  if (code === 'EADDRINUSE') return new CliError(`port ${s.port} on ${s.host} is already in use`);
  if (code === 'EADDRNOTAVAIL' || code === 'EAFNOSUPPORT')
    return new CliError(`cannot bind ${s.host}: ${code}`, 2);
  return err;
}

async function runTracker(ctx: CliContext, o: TrackerOptions): Promise<void> {
  const s = checkOptions(o);
  if (s.workers > 0) return cluster.isPrimary ? runPrimary(ctx, s) : runWorker(ctx, s);

  const catalog = await openCatalog(ctx, s);
  const traffic = new Traffic();
  let registry: TrackerRegistry;
  let secret = newSecret();
  let totals: () => Promise<TrafficCounts> = async () => traffic.snapshot();
  if (s.redisUrl) {
    const redis: RedisRegistry = createRedisRegistry({ url: s.redisUrl, config: s.config, traffic });
    registry = redis;
    secret = await sharedSecretOr(redis, secret, ctx);
    totals = () => redis.trafficTotals();
  } else {
    registry = createRegistryActor({
      config: s.config,
      onError: (err) =>
        ctx.log.emit({
          category: 'error',
          type: 'RegistryFailed',
          level: 'error',
          reason: (err as Error).message,
        }),
    });
  }
  // Per-peer events cost at thousands of announces a second: produce them only for -v / --events.
  const detach = ctx.log.observed() ? [ctx.log.attach(registry.events$)] : [];
  if (s.redisUrl && !ctx.log.observed()) detach.push(warnStorage(ctx, registry));
  const server = await startFrontEnds({
    registry,
    host: s.host,
    port: s.port,
    udp: s.udp,
    secret,
    trustIpParam: s.trustIpParam,
    maxNumwant: s.maxNumwant,
    allow: s.allowOnlyKnown ? (hex) => catalog.isKnown(hex) : undefined,
    traffic,
    trafficTotals: totals,
  }).catch(async (err: unknown) => {
    await registry.close();
    detach.forEach((d) => d());
    throw bindError(err, s);
  });
  detach.push(ctx.log.attach(server.events$));
  printListening(ctx, s, server.host, server.port, catalog);
  await serveUntilStopped(ctx, s, registry, catalog, async () => trafficRows(await totals()));
  await server.close();
  await registry.close();
  detach.forEach((d) => d());
}

/** How long start-up waits for Redis before serving without it (announces then fail until it is back). */
const REDIS_START_WAIT_MS = 5000;

/** The UDP connection-id secret from Redis (shared by every tracker on it), or a local one if Redis is down. */
export async function sharedSecretOr(
  redis: RedisRegistry,
  fallback: string,
  ctx: CliContext,
): Promise<string> {
  await redis.ready(REDIS_START_WAIT_MS);
  try {
    return await redis.sharedSecret();
  } catch (err) {
    ctx.live.print(
      `warning: Redis unreachable at start (${(err as Error).message}); announces fail until it is back, ` +
        'and UDP connection ids of this process are its own',
    );
    return fallback;
  }
}

/** Storage outages are worth a line on stderr even without -v. */
export function warnStorage(ctx: CliContext, registry: TrackerRegistry): () => void {
  const sub = registry.events$.subscribe((e) => {
    if (e.type === 'StorageUnavailable')
      ctx.live.print(`warning: Redis unavailable (${String(e.reason)}); retrying`);
    if (e.type === 'StorageRecovered') ctx.live.print('Redis is back');
  });
  return () => sub.unsubscribe();
}

export function printListening(
  ctx: CliContext,
  s: TrackerSettings,
  host: string,
  port: number,
  catalog: TorrentCatalog,
  extra = '',
): void {
  ctx.stdout.write(`tracker listening on ${hostPort(host, port)}${s.udp ? ' (HTTP and UDP)' : ''}${extra}\n`);
  for (const url of announceUrls(host, port, s.udp)) ctx.stdout.write(`  announce URL: ${url}\n`);
  if (s.redisUrl) ctx.stdout.write(`  registry: ${redactUrl(s.redisUrl)}\n`);
  if (s.allowOnlyKnown)
    ctx.stdout.write(`  whitelist: ${catalog.entries().length} torrents from the store\n`);
}

/** A Redis URL without its password, for logs. */
function redactUrl(url: string): string {
  const u = new URL(url);
  if (u.password) u.password = '***';
  return u.toString();
}

/** Run the console (if any) until `exit`, SIGINT or SIGTERM. */
export async function serveUntilStopped(
  ctx: CliContext,
  s: TrackerSettings,
  registry: TrackerRegistry,
  catalog: TorrentCatalog,
  extraStats: () => Promise<Record<string, number>>,
): Promise<void> {
  let stop: (why: string) => void = () => undefined;
  const stopped = new Promise<string>((resolve) => (stop = resolve));
  const onSignal = (sig: NodeJS.Signals): void => stop(sig);
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  const stdin = process.stdin;
  const terminal = Boolean(stdin.isTTY && ctx.stdout.isTTY);
  const shell = s.console
    ? runConsole({
        input: stdin,
        output: ctx.stdout,
        terminal,
        registry,
        catalog,
        onExit: () => stop('exit'),
        extraStats,
      })
    : undefined;
  if (shell) {
    // The prompt is the live line: `-v` event lines go above it and it is drawn again below them.
    if (terminal) ctx.live.own(ctx.stdout, () => shell.redraw());
    void shell.done.then((why) => {
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
  if (s.console && !stdin.isTTY) stdin.destroy();
  if (why !== 'exit') ctx.live.print(`tracker stopped (${why})`);
}

export function hostPort(host: string, port: number): string {
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
