/**
 * Runs a command to completion and measures it: wall time, CPU seconds (user + sys, from /proc), and
 * peak RSS (VmHWM, polled; the kernel keeps the high-water mark, so polling misses at most the last
 * few milliseconds of growth). Linux only, like the benchmarks.
 */
import { ChildProcess, spawn } from 'node:child_process';
import * as fs from 'node:fs';

export interface Measured {
  seconds: number;
  cpuSeconds: number;
  peakRssMiB: number;
  code: number | null;
  stdout: string;
  stderr: string;
}

const TICKS = 100; // USER_HZ on Linux

/** Peak RSS (VmHWM, KiB) and CPU seconds (user + sys, all threads) of a live process, or null. */
export function procStats(pid: number): { hwmKiB: number; cpu: number } | null {
  try {
    const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
    const hwm = Number(/VmHWM:\s+(\d+)/.exec(status)?.[1] ?? 0);
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // utime, stime are fields 14 and 15 (1-based) → indexes 11, 12 after the comm field.
    const cpu = (Number(fields[11]) + Number(fields[12])) / TICKS;
    return { hwmKiB: hwm, cpu };
  } catch {
    return null;
  }
}

export function measure(
  cmd: string,
  args: string[],
  opts: {
    cwd?: string;
    timeoutMs?: number;
    env?: NodeJS.ProcessEnv;
    /** Called once the child is spawned (e.g. to kill it early when a process it depends on dies). */
    onSpawn?: (child: ChildProcess) => void;
  } = {},
): Promise<Measured> {
  return new Promise((resolve, reject) => {
    const started = process.hrtime.bigint();
    const child = spawn(cmd, args, {
      cwd: opts.cwd,
      // Benchmarks talk to loopback only: no LSD multicast onto a real interface.
      env: { ...process.env, RXTORRENT_NO_LSD: '1', ...opts.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    opts.onSpawn?.(child);
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    let peak = 0;
    let cpu = 0;
    const poll = setInterval(() => {
      const s = procStats(child.pid as number);
      if (s) {
        peak = Math.max(peak, s.hwmKiB);
        cpu = Math.max(cpu, s.cpu);
      }
    }, 20);
    const killer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 600_000);
    child.on('error', reject);
    // 'exit' fires before the zombie is reaped? No: read the final figures on a SIGCHLD-free path by
    // polling until exit; the last sample is at most 20 ms old.
    child.on('exit', (code) => {
      clearInterval(poll);
      clearTimeout(killer);
      const seconds = Number(process.hrtime.bigint() - started) / 1e9;
      child.on('close', () =>
        resolve({ seconds, cpuSeconds: cpu, peakRssMiB: peak / 1024, code, stdout, stderr }),
      );
    });
  });
}

export const mbps = (bytes: number, seconds: number): number => bytes / 1e6 / seconds;
export const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
};
