import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import {
  DhtStateError,
  defaultDhtStatePath,
  loadDhtState,
  lockDhtState,
  saveDhtState,
} from '../../src/storage/dht-state-file';

let dir: string;
beforeEach(() => (dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rxt-dhtstate-'))));
afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

const ID = Buffer.alloc(20, 0xab);
const NODES = [{ id: 'cd'.repeat(20), ip: '10.0.0.1', port: 6881, verified: true }];

describe('DHT state file', () => {
  test('lives under XDG_STATE_HOME, else ~/.local/state', () => {
    expect(defaultDhtStatePath({ XDG_STATE_HOME: '/s' })).toBe('/s/rxtorrent/dht.json');
    expect(defaultDhtStatePath({ HOME: '/home/u' })).toBe('/home/u/.local/state/rxtorrent/dht.json');
  });

  test('round trip, creating folders; no temp files left behind; a missing file is no error', async () => {
    const file = path.join(dir, 'a', 'b', 'dht.json');
    expect(await loadDhtState(file)).toBeUndefined();
    await saveDhtState(file, { id: ID, nodes: NODES });
    await saveDhtState(file, { id: ID, nodes: NODES });
    expect(await loadDhtState(file)).toEqual({ id: ID, nodes: NODES });
    expect(fs.readdirSync(path.dirname(file))).toEqual(['dht.json']);
  });

  test.each([
    ['not JSON', '{'],
    ['another version', JSON.stringify({ version: 2, id: 'ab'.repeat(20), nodes: [] })],
    ['a bad id', JSON.stringify({ version: 1, id: 'xyz', nodes: [] })],
    ['nodes not a list', JSON.stringify({ version: 1, id: 'ab'.repeat(20), nodes: {} })],
  ])('%s: a typed error', async (_name, text) => {
    const file = path.join(dir, 'dht.json');
    fs.writeFileSync(file, text);
    await expect(loadDhtState(file)).rejects.toBeInstanceOf(DhtStateError);
  });

  test('malformed node entries are skipped; an oversized file is refused unread', async () => {
    const file = path.join(dir, 'dht.json');
    fs.writeFileSync(
      file,
      JSON.stringify({ version: 1, id: 'ab'.repeat(20), nodes: [null, 5, { id: 1 }, ...NODES] }),
    );
    expect((await loadDhtState(file))?.nodes).toEqual(NODES);
    fs.writeFileSync(file, Buffer.alloc(2 * 1024 * 1024, 0x20));
    await expect(loadDhtState(file)).rejects.toThrow(/too large/);
  });
});

describe('DHT state file lock', () => {
  test('one holder at a time; released, it can be taken again', async () => {
    const file = path.join(dir, 'x', 'dht.json');
    const release = await lockDhtState(file);
    expect(release).toBeDefined();
    expect(await lockDhtState(file)).toBeUndefined(); // this process holds it
    await release?.();
    expect(fs.existsSync(`${file}.lock`)).toBe(false);
    const again = await lockDhtState(file);
    expect(again).toBeDefined();
    await again?.();
  });

  test('a lock left by a process that is gone is taken over; garbage in it too', async () => {
    const file = path.join(dir, 'dht.json');
    for (const left of ['2147483646', 'not a pid', '']) {
      fs.writeFileSync(`${file}.lock`, left);
      const release = await lockDhtState(file);
      expect(release).toBeDefined();
      expect(fs.readFileSync(`${file}.lock`, 'utf8')).toBe(String(process.pid));
      await release?.();
    }
  });

  test("release leaves another holder's lock in place", async () => {
    const file = path.join(dir, 'dht.json');
    const release = await lockDhtState(file);
    fs.writeFileSync(`${file}.lock`, '1'); // taken over meanwhile (pid 1 is alive)
    await release?.();
    expect(fs.readFileSync(`${file}.lock`, 'utf8')).toBe('1');
    expect(await lockDhtState(file)).toBeUndefined();
  });
});
