/**
 * The seed/leech console on stdin, as a user types it: `rate <down> <up>` changes the limits while the
 * process runs, anything else gets a one-line hint, end of input does not stop it, and an empty line
 * (Enter) stops it cleanly.
 */
import { startPeer } from '../support/peer-process';
import { runCli, tempDir } from '../support/run-cli';
import { makeTorrent } from '../support/swarm-fixtures';

let tmp: { dir: string; cleanup: () => void };
beforeAll(() => (tmp = tempDir('rxt-stdin-')));
afterAll(() => tmp.cleanup());

it('rate changes the limits live; a stray line gets a hint; Enter stops with code 0', async () => {
  const t = await makeTorrent(tmp.dir, 'stdin', { file: 100_000 }, '127.0.0.1:1');
  const seeder = await startPeer('seed', 'stdin-seed', {
    torrent: t.torrent,
    dir: t.seedDir,
    extra: ['--max-up', '1M'],
  });
  try {
    seeder.child.stdin?.write('rate 5M 500K\n');
    await seeder.waitFor(/rate limits: down 5\.0 MiB\/s, up 500\.0 KiB\/s/);
    seeder.child.stdin?.write('rate 0 0\n');
    await seeder.waitFor(/rate limits: down unlimited, up unlimited/);
    seeder.child.stdin?.write('rate fast 1M\n');
    await seeder.waitFor(/not a rate: "fast"/, { stream: 'stderr' });
    seeder.child.stdin?.write('hello\n');
    await seeder.waitFor(/commands: rate <down> <up>/, { stream: 'stderr' });
    expect(seeder.hasExited()).toBe(false);
    expect(await seeder.stop()).toBe(0);
    expect(seeder.events('RateLimitsChanged').map((e) => [e.maxDown, e.maxUp])).toEqual([
      [5 * 1024 * 1024, 500 * 1024],
      [0, 0],
    ]);
    expect(seeder.events('SessionStopped')).toHaveLength(1);
  } finally {
    await seeder.kill();
  }
});

it('end of input does not stop a seeder; SIGTERM does, cleanly', async () => {
  const t = await makeTorrent(tmp.dir, 'eof', { file: 50_000 }, '127.0.0.1:1');
  const seeder = await startPeer('seed', 'eof-seed', { torrent: t.torrent, dir: t.seedDir });
  try {
    seeder.child.stdin?.end();
    // Still serving after its stdin closed: a second `info` round trip gives it time to (wrongly) exit.
    expect((await runCli(['info', t.torrent])).code).toBe(0);
    expect(seeder.hasExited()).toBe(false);
    process.kill(seeder.child.pid as number, 'SIGTERM');
    expect(await seeder.exited).toBe(0);
    expect(seeder.events('SessionStopped')).toHaveLength(1);
  } finally {
    await seeder.kill();
  }
});

it('refuses a bad --max-down with a usage error', async () => {
  const t = await makeTorrent(tmp.dir, 'bad', { file: 1000 }, '127.0.0.1:1');
  const r = await runCli([
    'leech',
    '-f',
    t.torrent,
    '-o',
    tmp.dir,
    '--peer',
    '127.0.0.1:1',
    '--max-down',
    'lots',
  ]);
  expect(r.code).toBe(2);
  expect(r.stderr).toMatch(/--max-down: not a rate: "lots"/);
});
