/**
 * A child process under test (ours or a real client): everything it printed, waiting for a line to
 * appear (bounded in time), and stopping it by PID. Used by the engine swarm and interop tests.
 */
import { ChildProcess, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';

export interface Watched {
  child: ChildProcess;
  name: string;
  stdout(): string;
  stderr(): string;
  /** Resolve with the first match of `re` in stdout (default) or stderr; reject on exit or after `timeoutMs`. */
  waitFor(
    re: RegExp,
    opts?: { stream?: 'stdout' | 'stderr'; from?: number; timeoutMs?: number },
  ): Promise<RegExpExecArray>;
  /** Exit code (or signal name) once the process ends. */
  exited: Promise<number | string | null>;
  hasExited(): boolean;
  /** SIGTERM by PID (SIGKILL after `graceMs`) unless it already exited. */
  kill(graceMs?: number): Promise<number | string | null>;
}

export function watch(child: ChildProcess, name: string): Watched {
  const out = { stdout: '', stderr: '' };
  const waiters = new Set<() => void>();
  const poke = (): void => waiters.forEach((w) => w());
  child.stdout?.on('data', (d: Buffer) => {
    out.stdout += d.toString();
    poke();
  });
  child.stderr?.on('data', (d: Buffer) => {
    out.stderr += d.toString();
    poke();
  });
  let ended = false;
  const exited = new Promise<number | string | null>((resolve) =>
    child.on('close', (code, signal) => {
      ended = true;
      poke();
      resolve(code ?? signal);
    }),
  );
  const describe = (): string => `${name} stdout:\n${out.stdout}\n${name} stderr:\n${out.stderr}`;

  const waitFor: Watched['waitFor'] = (re, opts = {}) =>
    new Promise((resolve, reject) => {
      const stream = opts.stream ?? 'stdout';
      const check = (): void => {
        // A fresh non-global copy: a /g pattern's lastIndex would make repeated checks skip matches.
        const m = new RegExp(re.source, re.flags.replace('g', '')).exec(out[stream].slice(opts.from ?? 0));
        if (m) {
          done();
          resolve(m);
        } else if (ended) {
          done();
          reject(new Error(`${name} exited before ${re} appeared\n${describe()}`));
        }
      };
      const timer = setTimeout(() => {
        done();
        reject(new Error(`timed out waiting for ${re} from ${name}\n${describe()}`));
      }, opts.timeoutMs ?? 15_000);
      const done = (): void => {
        clearTimeout(timer);
        waiters.delete(check);
      };
      waiters.add(check);
      check();
    });

  return {
    child,
    name,
    stdout: () => out.stdout,
    stderr: () => out.stderr,
    waitFor,
    exited,
    hasExited: () => ended,
    kill: async (graceMs = 3000) => {
      if (ended || child.pid === undefined) return exited;
      // The child may be gone already with its 'exit' not yet delivered (a leecher with --exit-on-done
      // that finished): ESRCH then only means there is nothing left to signal.
      const signal = (sig: NodeJS.Signals): void => {
        try {
          process.kill(child.pid as number, sig);
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code !== 'ESRCH') throw err;
        }
      };
      signal('SIGTERM');
      const t = setTimeout(() => {
        if (!ended) signal('SIGKILL');
      }, graceMs);
      const code = await exited;
      clearTimeout(t);
      return code;
    },
  };
}

/** Spawn `cmd args…` with piped stdio and watch it. */
export function spawnWatched(
  name: string,
  cmd: string,
  args: string[],
  opts: { cwd?: string; env?: NodeJS.ProcessEnv } = {},
): Watched {
  const env = opts.env ? { ...process.env, ...opts.env } : undefined;
  return watch(spawn(cmd, args, { cwd: opts.cwd, env, stdio: ['pipe', 'pipe', 'pipe'] }), name);
}

/** A TCP port that was free a moment ago (for clients that cannot report the port they bound). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
  });
}

/** Poll `test` every `everyMs` until it returns a value, or throw after `timeoutMs`. */
export async function until<T>(
  what: string,
  test: () => T | undefined | Promise<T | undefined>,
  timeoutMs = 15_000,
  everyMs = 50,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await test();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

/** Whether something accepts TCP connections on 127.0.0.1:port now. */
export function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect({ host: '127.0.0.1', port });
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

/** Whether two files (or whole folders, recursively) have the same bytes. */
export function sameTree(a: string, b: string): boolean {
  const sa = fs.statSync(a);
  const sb = fs.statSync(b);
  if (sa.isDirectory() !== sb.isDirectory()) return false;
  if (!sa.isDirectory()) return sa.size === sb.size && fs.readFileSync(a).equals(fs.readFileSync(b));
  const na = fs.readdirSync(a).sort();
  const nb = fs.readdirSync(b).sort();
  return na.length === nb.length && na.every((n, i) => n === nb[i] && sameTree(`${a}/${n}`, `${b}/${n}`));
}

/** The process's exit code, or a rejection (with its output) if it is still running after `timeoutMs`. */
export function exitWithin(w: Watched, timeoutMs: number): Promise<number | string | null> {
  return new Promise((resolve, reject) => {
    const t = setTimeout(
      () =>
        reject(
          new Error(
            `${w.name} still running after ${timeoutMs} ms\nstdout:\n${w.stdout()}\nstderr:\n${w.stderr()}`,
          ),
        ),
      timeoutMs,
    );
    void w.exited.then((code) => {
      clearTimeout(t);
      resolve(code);
    });
  });
}
