/**
 * Runs the built CLI (`bin/rxtorrent.js` → dist/) as a real child process, as a user would.
 * `npm test` builds dist/ first (the pretest script).
 */
import { ChildProcess, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

export const ROOT = path.resolve(__dirname, '..', '..');
export const BIN = path.join(ROOT, 'bin', 'rxtorrent.js');

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Run `rxtorrent args…` to completion (bounded by `timeoutMs`, then killed by PID). */
export function runCli(
  args: string[],
  opts: { cwd?: string; env?: NodeJS.ProcessEnv; input?: string; timeoutMs?: number } = {},
): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], {
      cwd: opts.cwd ?? ROOT,
      env: { ...process.env, ...opts.env },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 30_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
    if (opts.input !== undefined) child.stdin.end(opts.input);
    else child.stdin.end();
  });
}

/**
 * Start `rxtorrent args…` and leave it running; the caller stops it. `viaBin` executes bin/rxtorrent.js
 * itself, as `npx rxtorrent` does, so that its shebang's Node flags apply.
 */
export function startCli(
  args: string[],
  opts: { cwd?: string; env?: NodeJS.ProcessEnv; viaBin?: boolean } = {},
): ChildProcess {
  const [cmd, argv] = opts.viaBin ? [BIN, args] : [process.execPath, [BIN, ...args]];
  return spawn(cmd, argv, {
    cwd: opts.cwd ?? ROOT,
    env: { ...process.env, ...opts.env },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
}

/**
 * Start `rxtorrent args…` in a pseudo-terminal (util-linux `script`), as in a user's terminal window:
 * stdout and stderr are one tty (200 columns), and what the test writes to stdin is typed into it
 * without being echoed. Everything it printed arrives on the returned process's stdout, escapes and all.
 */
export function startCliInPty(
  args: string[],
  opts: { cwd?: string; env?: NodeJS.ProcessEnv } = {},
): ChildProcess {
  const quote = (a: string): string => `'${a.replace(/'/g, `'\\''`)}'`;
  const command = `stty -echo cols 200 rows 50; exec ${[process.execPath, BIN, ...args].map(quote).join(' ')}`;
  // -e: script exits with the program's exit code; -f: flush at once; output file: none.
  return spawn('script', ['-qfec', command, '/dev/null'], {
    cwd: opts.cwd ?? ROOT,
    env: { ...process.env, ...opts.env },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
}

/** A fresh temp folder, removed by the returned cleanup. */
export function tempDir(prefix = 'rxt-'): { dir: string; cleanup: () => void } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  return { dir, cleanup: () => fs.rmSync(dir, { recursive: true, force: true }) };
}

/** Deterministic pseudo-random bytes (xorshift), so test files are reproducible. */
export function pseudoRandomBytes(n: number, seed = 1): Buffer {
  const b = Buffer.allocUnsafe(n);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    b[i] = x & 0xff;
  }
  return b;
}
