/**
 * A real redis-server for tests: on a free loopback port (never 6379), in its own temp dir, no
 * persistence, stopped (and restarted on the same port) by PID. Other engineers run Redis on this
 * machine too: never touch a server this helper did not start.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { spawnWatched, Watched, freePort } from './child-process';

export interface TestRedis {
  port: number;
  url: string;
  /** SIGTERM by PID, wait for exit. */
  stop(): Promise<void>;
  /** Start again on the same port (empty: no persistence). */
  start(): Promise<void>;
  cleanup(): Promise<void>;
}

export async function startRedis(): Promise<TestRedis> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rxt-redis-'));
  let port = await freePort();
  while (port === 6379) port = await freePort();
  let proc: Watched | null = null;
  const start = async (): Promise<void> => {
    proc = spawnWatched('redis-server', 'redis-server', [
      '--port',
      String(port),
      '--bind',
      '127.0.0.1',
      '--dir',
      dir,
      '--save',
      '',
      '--appendonly',
      'no',
      '--daemonize',
      'no',
      '--protected-mode',
      'yes',
    ]);
    await proc.waitFor(/Ready to accept connections/, { timeoutMs: 10_000 });
  };
  await start();
  const stop = async (): Promise<void> => {
    const p = proc;
    proc = null;
    await p?.kill(3000);
  };
  return {
    port,
    url: `redis://127.0.0.1:${port}`,
    stop,
    start,
    cleanup: async () => {
      await stop();
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}
