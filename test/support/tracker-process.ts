/**
 * A running `rxtorrent tracker` child process for console and interop tests: its port, everything it
 * printed, waiting for a line to appear (bounded in time), and stopping it by PID.
 */
import { ChildProcess } from 'node:child_process';
import { watch } from './child-process';
import { startCli, startCliInPty } from './run-cli';

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

/**
 * With `pty`, it runs in a pseudo-terminal: stdout and stderr arrive together on `stdout()`.
 * `startTimeoutMs` bounds the wait for "tracker listening" (forking `--workers` on a busy machine is slow).
 */
export async function startTracker(
  args: string[],
  env: NodeJS.ProcessEnv = {},
  opts: { pty?: boolean; startTimeoutMs?: number } = {},
): Promise<TrackerProcess> {
  const child = opts.pty ? startCliInPty(args, { env }) : startCli(args, { env });
  const w = watch(child, 'tracker');
  const code = (c: number | string | null): number | null => (typeof c === 'number' ? c : null);
  const proc: TrackerProcess = {
    child,
    port: 0,
    stdout: w.stdout,
    stderr: w.stderr,
    waitFor: (re, opts = {}) => w.waitFor(re, { timeoutMs: 10_000, ...opts }),
    send: (line) => child.stdin?.write(line + '\n'),
    exited: w.exited.then(code),
    stop: () => w.kill(3000).then(code),
  };
  try {
    const m = await proc.waitFor(/tracker listening on \S+:(\d+)/, {
      timeoutMs: opts.startTimeoutMs ?? 10_000,
    });
    proc.port = Number(m[1]);
  } catch (err) {
    await proc.stop();
    throw err;
  }
  return proc;
}
