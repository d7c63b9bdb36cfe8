/**
 * The tracker console driven through a pipe, as a script would: the real CLI in a child process, real
 * HTTP announces, commands on stdin, answers on stdout.
 */
import * as path from 'node:path';
import { describeClient, humanBytes } from '../../src/tracker/console';
import { pseudoRandomBytes, tempDir } from '../support/run-cli';
import { screenLines } from '../support/terminal-screen';
import { makeTorrent, publish, TestTorrent } from '../support/tracker-fixtures';
import { announceOk, httpGet, id20 } from '../support/tracker-http';
import { startTracker, TrackerProcess } from '../support/tracker-process';

let tmp: { dir: string; cleanup: () => void };
let store: string;
let alpha: TestTorrent;
let beta: TestTorrent;
const running: TrackerProcess[] = [];

beforeAll(() => {
  tmp = tempDir('rxt-console-');
  store = path.join(tmp.dir, 'store');
  alpha = makeTorrent('alpha.bin', pseudoRandomBytes(100_000, 1));
  beta = makeTorrent('beta.bin', pseudoRandomBytes(40_000, 2));
  publish(store, alpha);
  publish(store, beta);
});
afterEach(async () => {
  await Promise.all(running.splice(0).map((p) => p.stop()));
});
afterAll(() => tmp.cleanup());

async function tracker(extra: string[] = [], global: string[] = [], pty = false): Promise<TrackerProcess> {
  const p = await startTracker(
    [...global, '--store-dir', store, 'tracker', '-p', '0', '--host', '127.0.0.1', ...extra],
    {},
    { pty },
  );
  running.push(p);
  return p;
}

/** Send one command and wait for the text that ends its answer. */
async function ask(p: TrackerProcess, line: string, until: RegExp): Promise<string> {
  const from = p.stdout().length;
  p.send(line);
  await p.waitFor(until, { from });
  return p.stdout().slice(from);
}

describe('tracker console through a pipe', () => {
  it('list, details, info, peers, stats, then exit ends the process with code 0', async () => {
    const p = await tracker();
    const t = { host: '127.0.0.1', port: p.port };
    const seeder = id20('-LT2080-', 1);
    await announceOk(t, {
      infoHash: alpha.meta.infoHash,
      peerId: seeder,
      port: 6881,
      left: 0,
      event: 'started',
    });
    await announceOk(t, {
      infoHash: alpha.meta.infoHash,
      peerId: Buffer.from('A2-1-36-0-0123456789', 'latin1'),
      port: 6882,
      left: 25_000,
      downloaded: 75_000,
      event: 'started',
    });
    await announceOk(t, {
      infoHash: beta.meta.infoHash,
      peerId: id20('-qB4250-', 3),
      port: 6883,
      left: 40_000,
    });

    const list = await ask(p, 'list', /beta\.bin.*\n/);
    expect(list).toMatch(/TORRENT\s+INFO-HASH\s+SEEDERS\s+LEECHERS\s+COMPLETED/);
    expect(list).toMatch(new RegExp(`alpha\\.bin\\s+${alpha.meta.infoHashHex.slice(0, 12)}\\s+1\\s+1\\s+0`));
    expect(list).toMatch(new RegExp(`beta\\.bin\\s+${beta.meta.infoHashHex.slice(0, 12)}\\s+0\\s+1\\s+0`));

    const details = await ask(p, 'details', /qBittorrent 4\.2\.5.*\n/);
    expect(details).toContain(`alpha.bin  ${alpha.meta.infoHashHex}  seeders 1  leechers 1`);
    expect(details).toMatch(/127\.0\.0\.1:6881\s+libtorrent 2\.0\.8\s+100% \(seed\)/);
    expect(details).toMatch(/127\.0\.0\.1:6882\s+aria2 1\.36\.0\s+75\.0%\s+0 B\s+73\.2 KiB\s+\d+s ago/);
    expect(details).toMatch(/127\.0\.0\.1:6883\s+qBittorrent 4\.2\.5\s+0\.0%/);

    const info = await ask(p, 'info alpha.bin.torrent', /magnet:.*\n.*completed\n/);
    expect(info).toContain('name:       alpha.bin');
    expect(info).toContain(`info-hash:  ${alpha.meta.infoHashHex}`);
    expect(info).toContain('size:       97.7 KiB (100000 bytes)');
    expect(info).toContain('pieces:     7 × 16.0 KiB');
    expect(info).toMatch(/files:\s+1\n\s+alpha\.bin\s+97\.7 KiB/);

    const byHash = await ask(p, `info ${beta.meta.infoHashHex.slice(0, 8)}`, /magnet:.*\n.*completed\n/);
    expect(byHash).toContain('name:       beta.bin');

    const peers = await ask(p, 'peers alpha.bin', /6882.*\n/);
    expect(peers).toMatch(/ADDRESS\s+CLIENT\s+PROGRESS\s+UPLOADED\s+DOWNLOADED\s+LAST SEEN/);
    expect(peers).toMatch(/127\.0\.0\.1:6881\s+libtorrent/);
    expect(peers).toMatch(/127\.0\.0\.1:6882\s+aria2/);
    expect(peers).not.toMatch(/6883/);

    expect(await ask(p, 'peers nothing-like-this', /no torrent matches.*\n/)).toContain(
      '"nothing-like-this"',
    );
    const stats = await ask(p, 'stats', /uptime\s+\d+s\n/);
    expect(stats).toMatch(/torrents\s+2\n/);
    expect(stats).toMatch(/peers\s+3\n/);
    expect(stats).toMatch(/announces\s+3\n/);
    // HTTP and UDP are counted apart.
    expect(stats).toMatch(/http announces\s+3\n/);
    expect(stats).toMatch(/udp announces\s+0\n/);
    expect(await ask(p, 'help', /exit.*\n.*\n/)).toContain('peers <torrent>');
    expect(await ask(p, 'frobnicate', /unknown command.*\n/)).toContain('try help');

    p.send('exit');
    expect(await p.exited).toBe(0);
  });

  it('runs commands given all at once in order; end of input leaves the tracker running', async () => {
    const p = await tracker();
    p.child.stdin?.end('stats\nlist\n');
    await p.waitFor(/console input ended; the tracker keeps running/, { stream: 'stderr' });
    expect(p.stdout()).toMatch(/announces\s+0[\s\S]*alpha\.bin/);
    const r = await httpGet('127.0.0.1', p.port, '/stats');
    expect(JSON.parse(r.body.toString())).toMatchObject({ torrents: 0, peers: 0 });
    expect(await p.stop()).toBe(0);
    expect(p.stderr()).toContain('tracker stopped (SIGTERM)');
  });

  it('--no-console ignores stdin; -v prints announces as event-log lines', async () => {
    const p = await tracker(['--no-console'], ['-v']);
    p.send('exit');
    await announceOk(
      { host: '127.0.0.1', port: p.port },
      { infoHash: alpha.meta.infoHash, peerId: id20('-LT2080-', 5), port: 6890, left: 0, event: 'started' },
    );
    const m = await p.waitFor(/tracker PeerJoined .*\n/, { stream: 'stderr' });
    expect(m[0]).toContain(`torrent=${alpha.meta.infoHashHex}`);
    expect(m[0]).toContain('peer=127.0.0.1:6890');
    expect(m[0]).toContain('event=started');
    expect((await httpGet('127.0.0.1', p.port, '/stats')).status).toBe(200);
    expect(await p.stop()).toBe(0);
  });

  it('--allow-only-known tracks only torrents from the store', async () => {
    const p = await tracker(['--allow-only-known', '--no-console']);
    const t = { host: '127.0.0.1', port: p.port };
    await announceOk(t, { infoHash: alpha.meta.infoHash, peerId: id20('-LT2080-', 1), port: 6881, left: 0 });
    const r = await httpGet(
      '127.0.0.1',
      p.port,
      `/announce?info_hash=${'%AA'.repeat(20)}&peer_id=${'%BB'.repeat(20)}&port=1`,
    );
    expect(r.body.toString()).toBe('d14:failure reason20:unregistered torrente');
  });
});

describe('tracker console on a terminal', () => {
  /** `tracker> lis` as readline draws it: the prompt, a cursor move, the typed text. */
  const PROMPT_LIS = new RegExp(`tracker> (?:${String.fromCharCode(27)}\\[[\\d;]*[A-Za-z])*lis`);

  it('on a terminal, -v event lines go above the prompt, which keeps what was typed', async () => {
    const p = await tracker([], ['-v'], true);
    await p.waitFor(/tracker> /);
    p.child.stdin?.write('lis'); // typed, not yet entered
    await p.waitFor(PROMPT_LIS);
    for (const port of [6891, 6892]) {
      await announceOk(
        { host: '127.0.0.1', port: p.port },
        { infoHash: alpha.meta.infoHash, peerId: id20('-LT2080-', port), port, left: 0, event: 'started' },
      );
      await p.waitFor(new RegExp(`tracker PeerJoined .*peer=127\\.0\\.0\\.1:${port}`));
    }
    await p.waitFor(new RegExp(`PeerJoined .*6892[^]*${PROMPT_LIS.source}`));
    let rows = screenLines(p.stdout());
    expect(rows.filter((r) => r.includes('tracker>'))).toEqual(['tracker> lis']);
    expect(rows.at(-1)).toBe('tracker> lis');
    expect(rows.filter((r) => / tracker PeerJoined /.test(r))).toHaveLength(2);
    expect(
      rows.filter((r) => / tracker PeerJoined /.test(r) && !/^\d{4}-\d\d-\d\dT\S+ tracker /.test(r)),
    ).toEqual([]);

    p.child.stdin?.write('t\r'); // Enter: `list` runs
    await p.waitFor(/alpha\.bin\s+\S+\s+2\s+0\s+0[^]*tracker> \S*$/);
    rows = screenLines(p.stdout());
    expect(rows).toContain('tracker> list');
    expect(rows.at(-1)).toBe('tracker>');
    p.child.stdin?.write('exit\r');
    expect(await p.exited).toBe(0);
  });
});

describe('console formatting', () => {
  it.each([
    ['-LT2080-abcdefghijkl', 'libtorrent 2.0.8'],
    ['-TR3000-abcdefghijkl', 'Transmission 3.0'],
    ['-qB4250-abcdefghijkl', 'qBittorrent 4.2.5'],
    ['A2-1-36-0-0123456789', 'aria2 1.36.0'],
    ['M7-2-3--abcdefghijkl', 'M7-2-3--'],
    ['\x00\x01binary-garbage-xyz', 'unknown'],
  ])('describeClient(%j) = %s', (id, name) => expect(describeClient(id)).toBe(name));

  it('humanBytes', () => {
    expect([0, 1023, 1024, 100_000, 4 * 1024 ** 3].map(humanBytes)).toEqual([
      '0 B',
      '1023 B',
      '1.00 KiB',
      '97.7 KiB',
      '4.00 GiB',
    ]);
  });
});
