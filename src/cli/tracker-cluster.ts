/**
 * `rxtorrent tracker --workers N --registry redis://…`: N worker processes (node:cluster) serve HTTP
 * and UDP on one port, over one Redis; the primary holds the console and restarts workers that die.
 *
 * Owns: the port and the UDP connection-id secret (chosen by the primary, handed to every worker so
 * any worker accepts any other's ids), forking, readiness (`listening` messages), restarting a dead
 * worker (at most `MAX_RESTARTS_PER_MIN` a minute, so a crash loop stops), and shutdown. Workers
 * accept connections themselves (SCHED_NONE): the primary never carries traffic.
 */
import cluster, { Worker } from 'node:cluster';
import * as dgram from 'node:dgram';
import * as net from 'node:net';
import { newSecret } from '../tracker/connection-ids';
import { startFrontEnds } from '../tracker/front-ends';
import { createRedisRegistry } from '../tracker/redis-registry';
import { Traffic, trafficRows } from '../tracker/traffic';
import { CliContext, CliError } from './context';
import {
  TrackerSettings,
  bindError,
  openCatalog,
  printListening,
  serveUntilStopped,
  sharedSecretOr,
  warnStorage,
} from './tracker-command';

const MAX_RESTARTS_PER_MIN = 10;
const ENV_SECRET = 'RXTORRENT_TRACKER_SECRET';
const ENV_PORT = 'RXTORRENT_TRACKER_PORT';

type WorkerMessage = { type: 'listening'; port: number } | { type: 'failed'; message: string };

/** A port free for TCP and UDP on `host` a moment ago (port 0 with workers: they must agree on one). */
async function freeTwinPort(host: string): Promise<number> {
  for (let i = 0; i < 16; i++) {
    const tcp = net.createServer();
    const port = await new Promise<number>((resolve, reject) => {
      tcp.once('error', reject);
      tcp.listen(0, host, () => resolve((tcp.address() as net.AddressInfo).port));
    });
    const udp = dgram.createSocket(net.isIPv6(host) ? 'udp6' : 'udp4');
    const free = await new Promise<boolean>((resolve) => {
      udp.once('error', () => resolve(false));
      udp.bind(port, host, () => resolve(true));
    });
    if (free) udp.close();
    await new Promise((r) => tcp.close(r));
    if (free) return port;
  }
  throw new CliError(`no port free for both TCP and UDP on ${host}`);
}

export async function runPrimary(ctx: CliContext, s: TrackerSettings): Promise<void> {
  const catalog = await openCatalog(ctx, s);
  const registry = createRedisRegistry({ url: s.redisUrl as string, config: s.config });
  const detach = [warnStorage(ctx, registry)];
  const secret = await sharedSecretOr(registry, newSecret(), ctx);
  const port = s.port === 0 ? await freeTwinPort(s.host) : s.port;
  // Workers accept on the shared socket themselves; round-robin through the primary would cap the rate.
  cluster.schedulingPolicy = cluster.SCHED_NONE;
  cluster.setupPrimary({ silent: false });
  let stopping = false;
  const restarts: number[] = [];

  const fork = (): Promise<Worker> =>
    new Promise((resolve, reject) => {
      const w = cluster.fork({ [ENV_SECRET]: secret, [ENV_PORT]: String(port) });
      const onMessage = (m: WorkerMessage): void => {
        if (m.type === 'listening') resolve(w);
        else reject(new CliError(m.message));
      };
      w.on('message', onMessage);
      w.once('exit', (code) =>
        reject(new CliError(`tracker worker exited with code ${code} before listening`)),
      );
    });

  cluster.on('exit', (w, code, signal) => {
    if (stopping) return;
    const now = Date.now();
    while (restarts.length > 0 && now - restarts[0] > 60_000) restarts.shift();
    const died = `tracker worker ${w.process.pid} died (${signal ?? code})`;
    if (restarts.length >= MAX_RESTARTS_PER_MIN) {
      ctx.live.print(`${died}; too many restarts in a minute, not restarting`);
      return;
    }
    restarts.push(now);
    ctx.live.print(`${died}; starting another`);
    fork().then(
      (n) => ctx.live.print(`tracker worker ${n.process.pid} listening`),
      (err: Error) => ctx.live.print(`tracker worker failed: ${err.message}`),
    );
  });

  let workers: Worker[];
  try {
    workers = await Promise.all(Array.from({ length: s.workers }, fork));
  } catch (err) {
    stopping = true;
    for (const w of Object.values(cluster.workers ?? {})) w?.kill();
    await registry.close();
    detach.forEach((d) => d());
    throw err;
  }
  printListening(ctx, s, s.host, port, catalog, `, ${s.workers} workers`);
  ctx.stdout.write(`  workers: ${workers.map((w) => w.process.pid).join(' ')}\n`);
  await serveUntilStopped(ctx, s, registry, catalog, async () => trafficRows(await registry.trafficTotals()));
  stopping = true;
  await Promise.all(
    Object.values(cluster.workers ?? {}).map(
      (w) =>
        new Promise<void>((resolve) => {
          if (!w || w.isDead()) return resolve();
          const t = setTimeout(() => w.process.kill('SIGKILL'), 3000);
          w.once('exit', () => {
            clearTimeout(t);
            resolve();
          });
          w.process.kill('SIGTERM');
        }),
    ),
  );
  await registry.close();
  detach.forEach((d) => d());
}

export async function runWorker(ctx: CliContext, s: TrackerSettings): Promise<void> {
  const send = (m: WorkerMessage): void => void process.send?.(m);
  const secret = process.env[ENV_SECRET] ?? newSecret();
  const port = Number(process.env[ENV_PORT] ?? s.port);
  const catalog = await openCatalog(ctx, { ...s, console: false });
  const traffic = new Traffic();
  const registry = createRedisRegistry({ url: s.redisUrl as string, config: s.config, traffic });
  await registry.ready(5000); // the primary waited for Redis already; a worker rarely waits at all
  const detach = ctx.log.observed() ? [ctx.log.attach(registry.events$)] : [];
  let server;
  try {
    server = await startFrontEnds({
      registry,
      host: s.host,
      port,
      udp: s.udp,
      secret,
      trustIpParam: s.trustIpParam,
      maxNumwant: s.maxNumwant,
      allow: s.allowOnlyKnown ? (hex) => catalog.isKnown(hex) : undefined,
      traffic,
      trafficTotals: () => registry.trafficTotals(),
    });
  } catch (err) {
    const e = bindError(err, { ...s, port });
    send({ type: 'failed', message: (e as Error).message });
    await registry.close();
    throw e;
  }
  detach.push(ctx.log.attach(server.events$));
  send({ type: 'listening', port: server.port });
  await new Promise<void>((resolve) => {
    process.once('SIGTERM', () => resolve());
    process.once('SIGINT', () => resolve());
    process.once('disconnect', () => resolve()); // the primary is gone
  });
  await server.close();
  await registry.close();
  detach.forEach((d) => d());
  if (process.connected) cluster.worker?.disconnect(); // let go of the IPC channel so the process ends
}
