/**
 * Debian's transmission-remote (3.00) driving our RPC server over loopback, with the in-memory backend
 * standing in for the engine: `-l`, `-a file.torrent`, `-t N -S/-s/-i/-r`, `-si`, `-st`, `-d/-u` for the
 * session and for one torrent, and basic auth. The tests parse what it prints, so a field it cannot
 * read (a float where it wants an integer, a missing tag) shows up as a missing line or column.
 */
import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { RpcServer, createRpcServer } from '../../src/rpc/rpc-server';
import { tempDir } from '../support/run-cli';
import { describeWithTools } from '../support/real-clients';
import { MemoryBackend, sampleTorrent } from './memory-backend';

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/** Run transmission-remote against the server (asynchronously: the server lives in this process). */
function remote(port: number, ...args: string[]): Promise<Run> {
  return new Promise((resolve) => {
    execFile(
      'transmission-remote',
      [`127.0.0.1:${port}`, ...args],
      { timeout: 20_000 },
      (err, stdout, stderr) => {
        const code = err ? (typeof err.code === 'number' ? err.code : 1) : 0;
        resolve({ code, stdout, stderr });
      },
    );
  });
}

interface ListRow {
  id: number;
  error: boolean;
  done: string;
  have: string;
  eta: string;
  up: number;
  down: number;
  ratio: string;
  status: string;
  name: string;
}

/** `    ID   Done       Have  ETA           Up    Down  Ratio  Status       Name` rows. */
function parseList(stdout: string): ListRow[] {
  const lines = stdout.trimEnd().split('\n');
  expect(lines[0]).toMatch(/^\s+ID\s+Done\s+Have\s+ETA\s+Up\s+Down\s+Ratio\s+Status\s+Name$/);
  expect(lines[lines.length - 1]).toMatch(/^Sum:/);
  return lines.slice(1, -1).map((l) => {
    const m =
      /^\s*(\d+)(\*?)\s+(\S+)\s+(None|[\d.]+ \S+)\s+(Done|Unknown|\d+ \S+)\s+([\d.]+)\s+([\d.]+)\s+(\S+)\s+(Up & Down|\S+)\s+(.+)$/.exec(
        l,
      );
    if (!m) throw new Error(`cannot parse list row: ${JSON.stringify(l)}`);
    return {
      id: Number(m[1]),
      error: m[2] === '*',
      done: m[3],
      have: m[4],
      eta: m[5],
      up: Number(m[6]),
      down: Number(m[7]),
      ratio: m[8],
      status: m[9],
      name: m[10],
    };
  });
}

/** `  Key: value` lines of `-i` / `-si` / `-st` output. */
function fields(stdout: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const l of stdout.split('\n')) {
    const m = /^ {2}([^:]+):\s*(.*)$/.exec(l);
    if (m && !out.has(m[1])) out.set(m[1], m[2]);
  }
  return out;
}

describeWithTools(['transmission'], 'transmission-remote against the RPC server', () => {
  let backend: MemoryBackend;
  let server: RpcServer;
  let port: number;
  let tmp: { dir: string; cleanup: () => void };

  beforeEach(async () => {
    tmp = tempDir('rxt-rpc-remote-');
    backend = new MemoryBackend();
    backend.put({
      name: 'alpha.iso',
      state: 'downloading',
      totalSize: 10_000_000,
      haveValid: 2_500_000,
      downRate: 250_000,
      upRate: 1_000,
      downloadedEver: 2_600_000,
      uploadedEver: 1_300_000,
      peers: [
        {
          ip: '127.0.0.1',
          port: 51413,
          client: 'aria2/1.36.0',
          progress: 1,
          downRate: 250_000,
          upRate: 1_000,
          amChoked: false,
          amInterested: true,
          peerChoked: false,
          peerInterested: true,
          incoming: false,
        },
      ],
    });
    backend.put({ name: 'beta.bin', state: 'seeding', totalSize: 5000, haveValid: 5000 });
    backend.put({ name: 'broken.img', state: 'stopped', haveValid: 0, error: { kind: 'local', message: 'data folder is not writable' } }); // prettier-ignore
    server = createRpcServer({ backend, port: 0 });
    port = (await server.start()).port;
  });
  afterEach(async () => {
    await server.stop();
    tmp.cleanup();
  });

  it('-l lists every torrent with its state, progress, rates and error mark', async () => {
    const r = await remote(port, '-l');
    expect(r.code).toBe(0);
    const rows = parseList(r.stdout);
    expect(rows.map((x) => [x.id, x.name])).toEqual([
      [1, 'alpha.iso'],
      [2, 'beta.bin'],
      [3, 'broken.img'],
    ]);
    expect(rows[0]).toMatchObject({ done: '25%', have: '2.50 MB', eta: '30 sec', down: 250, up: 1, ratio: '0.5', status: 'Up & Down', error: false }); // prettier-ignore
    expect(rows[1]).toMatchObject({ done: '100%', eta: 'Done', status: 'Idle', error: false });
    expect(rows[2]).toMatchObject({ done: '0%', status: 'Stopped', error: true });
  });

  it('-a adds a .torrent file (sent as base64 metainfo), and a second -a is a duplicate, not an error', async () => {
    const file = path.join(tmp.dir, 'gamma.img.torrent');
    fs.writeFileSync(file, sampleTorrent('gamma.img', 2_000_000));
    const first = await remote(port, '-a', file);
    expect(first.stdout).toMatch(/responded: "success"/);
    expect(first.code).toBe(0);
    const again = await remote(port, '-a', file);
    expect(again.stdout).toMatch(/responded: "success"/);
    const rows = parseList((await remote(port, '-l')).stdout);
    expect(rows.filter((x) => x.name === 'gamma.img')).toEqual([
      expect.objectContaining({ id: 4, done: '0%' }),
    ]);
  });

  it('-a of a corrupt file prints the reason and fails', async () => {
    const file = path.join(tmp.dir, 'bad.torrent');
    fs.writeFileSync(file, 'd4:infod6:lengthi-5eee');
    const r = await remote(port, '-a', file);
    expect(r.stdout).toMatch(/^Error: invalid or corrupt torrent file: /m);
    expect(r.code).not.toBe(0);
    expect(backend.views.size).toBe(3);
  });

  it('-t N -S stops and -t N -s starts the torrent, as -l then shows', async () => {
    expect((await remote(port, '-t', '1', '-S')).stdout).toMatch(/responded: "success"/);
    expect(parseList((await remote(port, '-l')).stdout)[0].status).toBe('Stopped');
    expect((await remote(port, '-t', '1', '-s')).stdout).toMatch(/responded: "success"/);
    expect(backend.views.get(1)?.state).toBe('downloading');
    expect(backend.commands().map((c) => [c.command, c.id])).toEqual([
      ['stop', 1],
      ['start', 1],
    ]);
  });

  it('-t HASH -S names a torrent by info-hash; an unknown id is an error, not a silent no-op', async () => {
    await remote(port, '-t', backend.views.get(2)!.infoHash, '-S');
    expect(backend.views.get(2)?.state).toBe('stopped');
    const r = await remote(port, '-t', '99', '-S');
    expect(r.stdout).toMatch(/^Error: no torrent with id 99/m);
    expect(r.code).not.toBe(0);
  });

  it('-t N -i shows the details', async () => {
    const f = fields((await remote(port, '-t', '1', '-i')).stdout);
    expect(f.get('Id')).toBe('1');
    expect(f.get('Name')).toBe('alpha.iso');
    expect(f.get('Hash')).toBe(backend.views.get(1)!.infoHash);
    expect(f.get('State')).toBe('Up & Down');
    expect(f.get('Percent Done')).toBe('25.0%');
    expect(f.get('Download Speed')).toBe('250 kB/s');
    expect(f.get('Have')).toBe('2.50 MB (2.50 MB verified)');
    expect(f.get('Total size')).toBe('10.00 MB (10.00 MB wanted)');
    expect(f.get('Ratio')).toBe('0.5');
    expect(f.get('Peers')).toBe('connected to 1, uploading to 1, downloading from 1');
    expect(f.get('Piece Count')).toBe('611');
    expect(f.get('Download Limit')).toBe('Unlimited');
    const broken = fields((await remote(port, '-t', '3', '-i')).stdout);
    expect(broken.get('Error')).toBe('data folder is not writable');
  });

  it('-t N -ip, -if, -it show peers, files and trackers', async () => {
    expect((await remote(port, '-t', '1', '-ip')).stdout).toMatch(
      /^127\.0\.0\.1\s+DU\s+100\.0\s+250\.0\s+1\.0\s+aria2\/1\.36\.0$/m,
    );
    expect((await remote(port, '-t', '1', '-if')).stdout).toMatch(
      /^\s+0:\s+25% Normal\s+Yes\s+10\.00 MB\s+alpha\.iso$/m,
    );
    expect((await remote(port, '-t', '1', '-it')).stdout).toMatch(/Tracker 0: http:\/\/127\.0\.0\.1:6969/);
  });

  it('-t N -r removes the torrent (and -t N --remove-and-delete asks to delete its data)', async () => {
    expect((await remote(port, '-t', '2', '-r')).stdout).toMatch(/responded: "success"/);
    expect(parseList((await remote(port, '-l')).stdout).map((x) => x.id)).toEqual([1, 3]);
    await remote(port, '-t', '3', '--remove-and-delete');
    expect(backend.commands('remove').map((c) => c.arg)).toEqual([
      { deleteData: false },
      { deleteData: true },
    ]);
  });

  it('-si shows the session, -st the totals', async () => {
    const si = fields((await remote(port, '-si')).stdout);
    expect(si.get('Daemon version')).toBe('rxtorrent 0.1.0-test');
    expect(si.get('RPC version')).toBe('17');
    expect(si.get('Listenport')).toBe('6881');
    expect(si.get('Encryption')).toBe('preferred');
    expect(si.get('Download speed limit')).toMatch(/^Unlimited/);
    const st = (await remote(port, '-st')).stdout;
    expect(st).toMatch(
      /CURRENT SESSION\n {2}Uploaded: {3}1\.30 MB\n {2}Downloaded: 2\.60 MB\n {2}Ratio: {6}0\.5\n {2}Duration: {3}1 hour, 2 minutes \(3725 seconds\)/,
    );
    expect(st).toMatch(/TOTAL\n {2}Started 3 times/);
  });

  it("-d/-u set the global limits, -D/-U clear them; with -t they set the torrent's", async () => {
    await remote(port, '-d', '100', '-u', '50');
    expect(backend.sessionView).toMatchObject({ downloadLimit: 100_000, uploadLimit: 50_000 });
    let si = fields((await remote(port, '-si')).stdout);
    expect(si.get('Download speed limit')).toBe(
      '100 kB/s (Enabled limit: 100 kB/s; Disabled turtle limit: 50 kB/s)',
    );
    expect(si.get('Upload speed limit')).toBe(
      '50 kB/s (Enabled limit: 50 kB/s; Disabled turtle limit: 50 kB/s)',
    );
    await remote(port, '-D');
    si = fields((await remote(port, '-si')).stdout);
    expect(si.get('Download speed limit')).toBe(
      'Unlimited (Disabled limit: 100 kB/s; Disabled turtle limit: 50 kB/s)',
    );
    expect(backend.sessionView.downloadLimit).toBeUndefined();

    await remote(port, '-t', '2', '-d', '30', '-u', '7');
    expect(backend.views.get(2)).toMatchObject({ downloadLimit: 30_000, uploadLimit: 7_000 });
    const i = fields((await remote(port, '-t', '2', '-i')).stdout);
    expect(i.get('Download Limit')).toBe('30 kB/s');
    expect(i.get('Upload Limit')).toBe('7 kB/s');
  });

  it('-v verifies', async () => {
    expect((await remote(port, '-t', '2', '-v')).stdout).toMatch(/responded: "success"/);
    expect(backend.views.get(2)?.state).toBe('check-queued');
  });

  it('works with basic auth (-n), and reports wrong credentials', async () => {
    await server.stop();
    server = createRpcServer({ backend, port: 0, auth: { username: 'admin', password: 'pa:ss' } });
    port = (await server.start()).port;
    const good = await remote(port, '-n', 'admin:pa:ss', '-l');
    expect(parseList(good.stdout)).toHaveLength(3);
    const bad = await remote(port, '-n', 'admin:nope', '-l');
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toMatch(/Unexpected response: <h1>401: Unauthorized<\/h1>/);
  });
});
