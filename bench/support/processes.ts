/**
 * Child processes for benchmarks: start a long-running one and wait (bounded) for a line saying it is
 * ready, stop it (SIGTERM, then SIGKILL), and kill every child we started if the benchmark dies — by PID,
 * never by name. Also a free loopback port for clients that cannot pick their own.
 */
import { ChildProcess, spawn } from 'node:child_process';
import * as net from 'node:net';
import * as path from 'node:path';

const live = new Set<ChildProcess>();

export function track(child: ChildProcess): ChildProcess {
  live.add(child);
  child.on('exit', () => live.delete(child));
  return child;
}

function killAll(): void {
  for (const c of live) if (c.pid !== undefined && c.exitCode === null) c.kill('SIGKILL');
}
process.on('exit', killAll);
for (const sig of ['SIGINT', 'SIGTERM'] as const) {
  process.on(sig, () => {
    killAll();
    process.exit(130);
  });
}

export const tail = (s: string, n = 2000): string => (s.length > n ? '…' + s.slice(-n) : s);

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as net.AddressInfo).port;
      srv.close(() => resolve(port));
    });
  });
}

export interface Daemon {
  child: ChildProcess;
  match: RegExpExecArray;
  output: () => string;
}

/** Starts `cmd` and waits (bounded) for `ready` in its output; keeps the last few KiB for error reports. */
export function startDaemon(
  cmd: string,
  args: string[],
  ready: RegExp,
  timeoutMs: number,
  env?: NodeJS.ProcessEnv,
): Promise<Daemon> {
  return new Promise((resolve, reject) => {
    const child = track(
      spawn(cmd, args, { env: { RXTORRENT_NO_LSD: '1', RXTORRENT_NO_DHT: '1', ...(env ?? process.env) }, stdio: ['ignore', 'pipe', 'pipe'] }), // prettier-ignore
    );
    let out = '';
    let done = false;
    const append = (d: Buffer): void => {
      out = (out + d.toString()).slice(-8000);
      if (done) return;
      const m = ready.exec(out);
      if (m) {
        done = true;
        clearTimeout(timer);
        resolve({ child, match: m, output: () => out });
      }
    };
    const fail = (why: string): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      child.kill('SIGKILL');
      reject(new Error(`${path.basename(cmd)} ${args.join(' ')}: ${why}\n${tail(out)}`));
    };
    const timer = setTimeout(() => fail(`not ready after ${timeoutMs / 1000} s`), timeoutMs);
    child.stdout?.on('data', append);
    child.stderr?.on('data', append);
    child.on('error', (e) => fail(e.message));
    child.on('exit', (code, sig) => fail(`exited early (${code ?? sig})`));
  });
}

/** SIGTERM, then SIGKILL if it has not exited within `graceMs`. Resolves once it has exited. */
export function stopDaemon(child: ChildProcess, graceMs = 10_000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const hard = setTimeout(() => child.kill('SIGKILL'), graceMs);
    const last = setTimeout(resolve, graceMs + 5_000); // never wait forever, even for a zombie
    child.once('exit', () => {
      clearTimeout(hard);
      clearTimeout(last);
      resolve();
    });
    child.kill('SIGTERM');
  });
}
