import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { hashFiles } from '../../src/actors/create-actor';
import { guessCreate, prestart, releasePrestart, takePrestarted } from '../../src/cli/create-prestart';
import { commandIn } from '../../src/cli/main';
import { scanInput } from '../../src/storage/scan-input';
import { HashPool } from '../../src/streams/hash-pool';
import { pseudoRandomBytes, tempDir } from '../support/run-cli';

const argv = (...args: string[]): string[] => ['node', 'rxtorrent', ...args];

describe("create's early start", () => {
  let tmp: { dir: string; cleanup: () => void };
  beforeAll(() => (tmp = tempDir('rxt-prestart-')));
  afterAll(() => tmp.cleanup());

  it('reads -f and --piece-length of a plain create, after global options, in every spelling', () => {
    expect(guessCreate(argv('create', '-f', 'a.bin'))).toEqual({ file: 'a.bin' });
    expect(
      guessCreate(argv('--events', 'e.jsonl', '-v', 'create', '--file=a.bin', '--piece-length', '1M')),
    ).toEqual({
      file: 'a.bin',
      pieceLength: '1M',
    });
    expect(guessCreate(argv('create', '--piece-length=64K', '--file', 'a.bin', '-o', '-f'))).toEqual({
      file: 'a.bin',
      pieceLength: '64K',
    });
    // A value of another option is never taken for -f.
    expect(guessCreate(argv('create', '--comment', '-f', '-f', 'b.bin'))).toEqual({ file: 'b.bin' });
  });

  it('stays out of everything else', () => {
    for (const a of [
      argv('seed', '-f', 'create'),
      argv('create'),
      argv('create', '-f', 'a.json', '--from-legacy'),
      argv('create', '-f', 'a.bin', '--help'),
      argv('--bogus', 'create', '-f', 'a.bin'),
      argv('info', 'create'),
    ])
      expect(guessCreate(a)).toBeUndefined();
  });

  it('hashes the file early; the command gets the pool, and its hashes are right', async () => {
    const file = path.join(tmp.dir, 'early.bin');
    const bytes = pseudoRandomBytes(3 * 16384 + 5, 1);
    fs.writeFileSync(file, bytes);
    prestart(argv('create', '-f', file, '--piece-length', '16K'));
    const early = takePrestarted();
    expect(early).toBeDefined();
    expect(takePrestarted()).toBeUndefined(); // once
    const pool = (early as { pool: HashPool }).pool;
    try {
      const input = await scanInput(file);
      const got = await hashFiles({ layout: input.layout, total: input.total, pieceLength: 16384, pool });
      const want = [0, 1, 2, 3].map((i) =>
        createHash('sha1')
          .update(bytes.subarray(i * 16384, (i + 1) * 16384))
          .digest(),
      );
      expect(got).toEqual(Buffer.concat(want));
    } finally {
      await pool.close();
    }
  });

  it('starts nothing for a folder, an empty file or a bad piece length, and releases what nobody took', async () => {
    const empty = path.join(tmp.dir, 'empty.bin');
    fs.writeFileSync(empty, '');
    for (const a of [
      argv('create', '-f', tmp.dir),
      argv('create', '-f', empty),
      argv('create', '-f', path.join(tmp.dir, 'missing.bin')),
      argv('create', '-f', empty, '--piece-length', '3K'),
    ]) {
      prestart(a);
      expect(takePrestarted()).toBeUndefined();
    }
    const file = path.join(tmp.dir, 'released.bin');
    fs.writeFileSync(file, pseudoRandomBytes(100_000, 2));
    prestart(argv('create', '-f', file));
    await releasePrestart();
    expect(takePrestarted()).toBeUndefined();
  });
});

describe('the command a run loads', () => {
  it('is the first word after the global options, if it is a command', () => {
    expect(commandIn(argv('create', '-f', 'x'))).toBe('create');
    expect(commandIn(argv('--store-dir', 'seed', '-v', 'leech', 'x'))).toBe('leech');
    expect(commandIn(argv('--events=e.jsonl', 'tracker'))).toBe('tracker');
  });

  it('is none (all load) for help, version, typos and unknown options', () => {
    for (const a of [
      argv(),
      argv('--help'),
      argv('-V'),
      argv('creat'),
      argv('help', 'create'),
      argv('--x', 'create'),
    ])
      expect(commandIn(a)).toBeUndefined();
  });
});
