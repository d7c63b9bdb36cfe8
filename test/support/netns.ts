/**
 * Two network namespaces joined by a veth pair, for tests of what loopback cannot carry (multicast: Linux's
 * `lo` has none). Each namespace gets an IPv4 and an IPv6 (ULA, no DAD wait) address and a multicast
 * route on its end of the pair; nothing leaves the pair. Names are unique per process and call, and
 * `cleanup()` deletes both namespaces (which deletes the pair). Needs root (`ip netns add`): where that is
 * not permitted the suite is skipped with a message, and fails instead under CI=true.
 */
import { ChildProcess, spawn, spawnSync } from 'node:child_process';
import { describeIf } from './real-clients';

export interface NetnsHost {
  ns: string;
  iface: string;
  ip4: string;
  ip6: string;
}

export interface NetnsPair {
  a: NetnsHost;
  b: NetnsHost;
  /** Runs `node -e script` inside `host`'s namespace, with `env` on top of ours. */
  node(host: NetnsHost, script: string, env?: NodeJS.ProcessEnv): ChildProcess;
  /** Runs `node <args…>` (e.g. the built CLI) inside `host`'s namespace, with `env` on top of ours. */
  exec(host: NetnsHost, args: string[], env?: NodeJS.ProcessEnv): ChildProcess;
  cleanup(): void;
}

function ip(args: string[]): void {
  const r = spawnSync('ip', args, { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`ip ${args.join(' ')}: ${(r.stderr || r.error?.message || '').trim()}`);
}

let counter = 0;

/** Whether this process may create network namespaces (probed once, by creating and deleting one). */
export const netnsPermitted: () => string | undefined = (() => {
  let cached: string | undefined | null = null;
  return () => {
    if (cached !== null) return cached;
    const name = `rxt-probe-${process.pid}`;
    const r = spawnSync('ip', ['netns', 'add', name], { encoding: 'utf8' });
    if (r.status === 0) {
      spawnSync('ip', ['netns', 'del', name]);
      cached = undefined;
    } else cached = (r.stderr || r.error?.message || `exit ${r.status}`).trim();
    return cached;
  };
})();

export function createNetnsPair(): NetnsPair {
  const id = `${process.pid % 100000}${String.fromCharCode(97 + (counter++ % 26))}`;
  const a: NetnsHost = { ns: `rxt-${id}-a`, iface: `rxv${id}a`, ip4: '10.77.0.1', ip6: 'fd77::1' };
  const b: NetnsHost = { ns: `rxt-${id}-b`, iface: `rxv${id}b`, ip4: '10.77.0.2', ip6: 'fd77::2' };
  const children = new Set<ChildProcess>();
  const cleanup = (): void => {
    for (const c of children) if (c.exitCode === null && c.pid) process.kill(c.pid, 'SIGKILL');
    for (const h of [a, b]) spawnSync('ip', ['netns', 'del', h.ns]);
  };
  try {
    ip(['netns', 'add', a.ns]);
    ip(['netns', 'add', b.ns]);
    ip(['link', 'add', a.iface, 'netns', a.ns, 'type', 'veth', 'peer', 'name', b.iface, 'netns', b.ns]);
    for (const h of [a, b]) {
      ip(['-n', h.ns, 'link', 'set', 'lo', 'up']);
      ip(['-n', h.ns, 'addr', 'add', `${h.ip4}/24`, 'dev', h.iface]);
      ip(['-n', h.ns, '-6', 'addr', 'add', `${h.ip6}/64`, 'dev', h.iface, 'nodad']);
      ip(['-n', h.ns, 'link', 'set', h.iface, 'up']);
      ip(['-n', h.ns, 'route', 'add', '224.0.0.0/4', 'dev', h.iface]);
    }
  } catch (err) {
    cleanup();
    throw err;
  }
  return {
    a,
    b,
    node(host, script, env = {}) {
      return this.exec(host, ['-e', script], env);
    },
    exec(host, args, env = {}) {
      const child = spawn('ip', ['netns', 'exec', host.ns, process.execPath, ...args], {
        env: { ...process.env, ...env },
        stdio: ['pipe', 'pipe', 'pipe'],
      });
      children.add(child);
      return child;
    },
    cleanup,
  };
}

/** `describe` where namespaces can be made; otherwise skipped with a message (a failing test under CI). */
export function describeWithNetns(name: string, body: () => void): void {
  const refusal = process.platform === 'linux' ? netnsPermitted() : 'not Linux';
  const missing = `${name}: needs network namespaces (root and iproute2: ip netns add): ${refusal}`;
  describeIf(refusal === undefined ? undefined : missing, name, body);
}

/** Lines of a child's stdout, parsed as JSON, with a way to wait for one that matches. */
export class JsonLines<T = Record<string, unknown>> {
  readonly seen: T[] = [];
  private waiters: { test: (v: T) => boolean; resolve: (v: T) => void }[] = [];
  private buffer = '';

  constructor(child: ChildProcess) {
    child.stdout?.on('data', (d: Buffer) => {
      this.buffer += d.toString();
      let nl: number;
      while ((nl = this.buffer.indexOf('\n')) >= 0) {
        const line = this.buffer.slice(0, nl);
        this.buffer = this.buffer.slice(nl + 1);
        if (line.trim() === '') continue;
        const v = JSON.parse(line) as T;
        this.seen.push(v);
        this.waiters = this.waiters.filter((w) => (w.test(v) ? (w.resolve(v), false) : true));
      }
    });
  }

  /** The first line (seen or to come) that passes `test`, or a rejection after `ms`. */
  waitFor(test: (v: T) => boolean, ms: number, what: string): Promise<T> {
    const found = this.seen.find(test);
    if (found) return Promise.resolve(found);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
      this.waiters.push({
        test,
        resolve: (v) => {
          clearTimeout(timer);
          resolve(v);
        },
      });
    });
  }
}
