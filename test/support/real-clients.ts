/**
 * Gates for tests that need a real third-party client. On a user's machine without the tool, the test
 * is skipped with a message naming the Debian package to install; under CI=true a missing tool fails
 * the run instead, so CI can never go green by skipping interop.
 */
import { spawnSync } from 'node:child_process';

export type RealTool = 'mktorrent' | 'aria2c' | 'libtorrent' | 'opentracker' | 'transmission' | 'redis';

const PACKAGES: Record<RealTool, string> = {
  mktorrent: 'mktorrent',
  aria2c: 'aria2',
  libtorrent: 'python3-libtorrent',
  opentracker: 'opentracker',
  transmission: 'transmission-cli',
  redis: 'redis-server',
};

/** aria2c on loopback only: no DHT, LPD or PEX, no preallocation, quiet, short tracker timeouts. */
export const ARIA2_LOOPBACK = [
  '--enable-dht=false',
  '--enable-dht6=false',
  '--bt-enable-lpd=false',
  '--enable-peer-exchange=false',
  '--file-allocation=none',
  '--summary-interval=0',
  '--console-log-level=warn',
  '--check-certificate=false',
  '--bt-tracker-connect-timeout=5',
  '--bt-tracker-timeout=5',
];

/** Debian's python3-libtorrent is built for the system interpreter, not a pyenv one. */
export const SYSTEM_PYTHON = '/usr/bin/python3';

const cache = new Map<RealTool, boolean>();

export function hasTool(tool: RealTool): boolean {
  const known = cache.get(tool);
  if (known !== undefined) return known;
  let ok: boolean;
  if (tool === 'libtorrent') {
    ok = spawnSync(SYSTEM_PYTHON, ['-c', 'import libtorrent'], { stdio: 'ignore' }).status === 0;
  } else {
    const bin = tool === 'transmission' ? 'transmission-cli' : tool === 'redis' ? 'redis-server' : tool;
    ok = spawnSync('sh', ['-c', `command -v ${bin}`], { stdio: 'ignore' }).status === 0;
  }
  cache.set(tool, ok);
  return ok;
}

/**
 * `describe` when every tool is present; otherwise `describe.skip` with a message (or, under CI, a
 * failing test that names the missing package).
 */
export function describeWithTools(tools: RealTool[], name: string, body: () => void): void {
  const missing = tools.filter((t) => !hasTool(t));
  const pkgs = missing.map((t) => PACKAGES[t]).join(' ');
  describeIf(
    missing.length === 0
      ? undefined
      : `${name}: needs ${missing.join(', ')}; install with: apt-get install -y ${pkgs}`,
    name,
    body,
  );
}

/**
 * `describe` when `missing` is undefined; otherwise `describe.skip` with the message on stderr, or under
 * CI=true a failing test that says what is missing (CI never goes green by skipping).
 */
export function describeIf(missing: string | undefined, name: string, body: () => void): void {
  if (missing === undefined) {
    describe(name, body);
  } else if (process.env.CI === 'true') {
    describe(name, () => {
      it('has what it needs', () => {
        throw new Error(missing);
      });
    });
  } else {
    process.stderr.write(`skipped: ${missing}\n`);
    describe.skip(name, body);
  }
}
