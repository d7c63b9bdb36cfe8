/**
 * A running `rxtorrent tracker` child process for console and interop tests: its port, everything it
 * printed, waiting for a line to appear (bounded in time), and stopping it by PID.
 */
import { ChildProcess } from 'node:child_process';
import { startCli } from './run-cli';

export interface TrackerProcess {
  child: ChildProcess;
  port: number;
  stdout(): string;
  stderr(): string;
  /** Resolve with the first match of `re` in stdout (or stderr) from `from` on; reject after `timeoutMs`. */
  waitFor(
    re: RegExp,
    opts?: { stream?: 'stdout' | 'stderr'; from?: number; timeoutMs?: number },
  ): Promise<RegExpExecArray>;
  send(line: string): void;
  /** Exit code once the process ends. */
  exited: Promise<number | null>;
  /** SIGTERM by PID (SIGKILL after 3 s) unless it already exited. */
  stop(): Promise<number | null>;
}

export async function startTracker(args: string[], env: NodeJS.ProcessEnv = {}): Promise<TrackerProcess> {
  const child = startCli(args, { env });
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
  const exited = new Promise<number | null>((resolve) =>
    child.on('exit', (code) => {
      ended = true;
      poke();
      resolve(code);
    }),
  );

  const waitFor: TrackerProcess['waitFor'] = (re, opts = {}) =>
    new Promise((resolve, reject) => {
      const stream = opts.stream ?? 'stdout';
      const check = (): boolean => {
        const text = out[stream].slice(opts.from ?? 0);
        const m = new RegExp(re.source, re.flags.replace('g', '')).exec(text);
        if (m) {
          done();
          resolve(m);
          return true;
        }
        if (ended) {
          done();
          reject(
            new Error(`tracker exited before ${re} appeared\nstdout:\n${out.stdout}\nstderr:\n${out.stderr}`),
          );
          return true;
        }
        return false;
      };
      const timer = setTimeout(() => {
        done();
        reject(
          new Error(
            `timed out waiting for ${re} on ${stream}\nstdout:\n${out.stdout}\nstderr:\n${out.stderr}`,
          ),
        );
      }, opts.timeoutMs ?? 10_000);
      const w = (): void => void check();
      const done = (): void => {
        clearTimeout(timer);
        waiters.delete(w);
      };
      waiters.add(w);
      check();
    });

  const proc: TrackerProcess = {
    child,
    port: 0,
    stdout: () => out.stdout,
    stderr: () => out.stderr,
    waitFor,
    send: (line) => child.stdin?.write(line + '\n'),
    exited,
    stop: async () => {
      if (ended || child.pid === undefined) return exited;
      process.kill(child.pid, 'SIGTERM');
      const t = setTimeout(() => {
        if (!ended && child.pid !== undefined) process.kill(child.pid, 'SIGKILL');
      }, 3000);
      const code = await exited;
      clearTimeout(t);
      return code;
    },
  };
  try {
    const m = await waitFor(/tracker listening on \S+:(\d+)/);
    proc.port = Number(m[1]);
  } catch (err) {
    await proc.stop();
    throw err;
  }
  return proc;
}
