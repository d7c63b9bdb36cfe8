/**
 * Real clients through our tracker: a python3-libtorrent seeder and an aria2c leecher find each other
 * via `rxtorrent tracker` on 127.0.0.1, the download completes with the right bytes, and the console's
 * `peers` command lists both while aria2c runs (its download is rate-limited so that window is wide).
 */
import { ChildProcess, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { SYSTEM_PYTHON, describeWithTools } from '../support/real-clients';
import { pseudoRandomBytes, tempDir } from '../support/run-cli';
import { makeTorrent, publish } from '../support/tracker-fixtures';
import { startTracker, TrackerProcess } from '../support/tracker-process';

const SEEDER = `
import libtorrent as lt, sys
ses = lt.session({
    'listen_interfaces': '127.0.0.1:0', 'enable_dht': False, 'enable_lsd': False,
    'enable_upnp': False, 'enable_natpmp': False, 'enable_outgoing_utp': False,
    'enable_incoming_utp': False, 'allow_multiple_connections_per_ip': True,
    'peer_fingerprint': lt.generate_fingerprint('LT', 2, 0, 8, 0),
})
h = ses.add_torrent({'ti': lt.torrent_info(sys.argv[1]), 'save_path': sys.argv[2]})
print('listening', ses.listen_port(), flush=True)
sys.stdin.read()  # run until the test closes our stdin
`;

/** Wait for a child to exit, SIGKILL by PID after `ms`. */
function exitOf(child: ChildProcess, ms: number): Promise<number | null> {
  return new Promise((resolve) => {
    if (child.exitCode !== null) return resolve(child.exitCode);
    const t = setTimeout(() => child.pid !== undefined && process.kill(child.pid, 'SIGKILL'), ms);
    child.on('exit', (code) => {
      clearTimeout(t);
      resolve(code);
    });
  });
}

describeWithTools(['libtorrent', 'aria2c'], 'real clients through our tracker', () => {
  let tmp: { dir: string; cleanup: () => void };
  const children: ChildProcess[] = [];
  let tracker: TrackerProcess | undefined;

  beforeAll(() => {
    tmp = tempDir('rxt-interop-');
  });
  afterAll(async () => {
    if (process.env.RXT_DEBUG && tracker)
      fs.writeFileSync(process.env.RXT_DEBUG, `${tracker.stderr()}\n---\n${tracker.stdout()}`);
    for (const c of children)
      if (c.exitCode === null && c.signalCode === null && c.pid !== undefined) process.kill(c.pid, 'SIGKILL');
    await tracker?.stop();
    tmp.cleanup();
  });

  it('a libtorrent seeder and an aria2c leecher find each other; the download is byte-exact', async () => {
    const store = path.join(tmp.dir, 'store');
    tracker = await startTracker(['-v', '--store-dir', store, 'tracker', '-p', '0', '--host', '127.0.0.1']);
    const url = `http://127.0.0.1:${tracker.port}/announce`;

    const content = pseudoRandomBytes(3 * 1024 * 1024, 42);
    const torrent = makeTorrent('payload.bin', content, { pieceLength: 256 * 1024, announce: url });
    const torrentFile = publish(store, torrent);
    const seedDir = path.join(tmp.dir, 'seed');
    const leechDir = path.join(tmp.dir, 'leech');
    fs.mkdirSync(seedDir);
    fs.mkdirSync(leechDir);
    fs.writeFileSync(path.join(seedDir, 'payload.bin'), content);

    const seeder = spawn(SYSTEM_PYTHON, ['-c', SEEDER, torrentFile, seedDir], {
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    children.push(seeder);
    let seederErr = '';
    seeder.stderr.on('data', (d: Buffer) => (seederErr += d.toString()));
    // The seeder is in the swarm once the tracker has logged its announce with left=0.
    await tracker
      .waitFor(/tracker PeerJoined .*left=0 client=-LT2080-/, { stream: 'stderr', timeoutMs: 15_000 })
      .catch((e: Error) => {
        throw new Error(`${e.message}\nseeder stderr:\n${seederErr}`);
      });

    const aria = spawn(
      'aria2c',
      [
        `--dir=${leechDir}`,
        '--enable-dht=false',
        '--enable-dht6=false',
        '--bt-enable-lpd=false',
        '--enable-peer-exchange=false',
        '--seed-time=0',
        '--file-allocation=falloc',
        '--max-download-limit=1M', // keeps aria2c in the swarm for ~3 s, long enough to look at it
        '--listen-port=46881-46999',
        '--summary-interval=0',
        '--console-log-level=warn',
        '--bt-stop-timeout=30',
        torrentFile,
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    children.push(aria);
    let ariaOut = '';
    aria.stdout.on('data', (d: Buffer) => (ariaOut += d.toString()));
    aria.stderr.on('data', (d: Buffer) => (ariaOut += d.toString()));

    await tracker.waitFor(/tracker PeerJoined .*client=A2-/, { stream: 'stderr', timeoutMs: 15_000 });
    const from = tracker.stdout().length;
    tracker.send('peers payload.bin');
    await tracker.waitFor(/ADDRESS[^\n]*\n(?:[^\n]*\n){2}/, { from, timeoutMs: 5000 });
    const peers = tracker.stdout().slice(from);
    expect(peers).toMatch(/payload\.bin\s+[0-9a-f]{40}\s+seeders 1\s+leechers 1/);
    expect(peers).toMatch(/127\.0\.0\.1:\d+\s+libtorrent 2\.0\.8\s+100% \(seed\)/);
    expect(peers).toMatch(/127\.0\.0\.1:46[89]\d\d\s+aria2 1\.\d+\.\d+/);

    const code = await exitOf(aria, 30_000);
    expect({ code, ariaOut }).toEqual({ code: 0, ariaOut: expect.any(String) });
    expect(fs.readFileSync(path.join(leechDir, 'payload.bin')).equals(content)).toBe(true);

    // aria2c said `completed` and then `stopped`: the swarm counts one download and only the seeder.
    await tracker.waitFor(/tracker PeerStopped .*client=A2-/, { stream: 'stderr', timeoutMs: 10_000 });
    const from2 = tracker.stdout().length;
    tracker.send('list');
    const list = await tracker.waitFor(/payload\.bin\s+\w+\s+\d+\s+\d+\s+\d+\n/, { from: from2 });
    expect(list[0]).toMatch(/payload\.bin\s+\w+\s+1\s+0\s+1/);

    seeder.stdin.end();
    await exitOf(seeder, 5000);
    tracker.send('exit');
    expect(await tracker.exited).toBe(0);
  }, 45_000);
});
