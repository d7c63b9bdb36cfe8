/**
 * `rxtorrent create` and `rxtorrent info` as a user runs them: real child processes, real files, and the
 * resulting .torrent checked against mktorrent and python3-libtorrent for the same content.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { parseMetainfo } from '../../src/protocol/metainfo';
import { spawnWatched, until } from '../support/child-process';
import { SYSTEM_PYTHON, describeWithTools } from '../support/real-clients';
import { pseudoRandomBytes, runCli, tempDir } from '../support/run-cli';

const PIECE = 512 * 1024;

let tmp: { dir: string; cleanup: () => void };
beforeAll(() => {
  tmp = tempDir('rxt-create-');
});
afterAll(() => tmp.cleanup());

/** Make a file or folder under tmp; returns its path. */
function make(name: string, sizes: number | Record<string, number>): string {
  const target = path.join(tmp.dir, 'src', name);
  if (typeof sizes === 'number') {
    fs.mkdirSync(path.dirname(target), { recursive: true });
    fs.writeFileSync(target, pseudoRandomBytes(sizes, sizes + 7));
  } else {
    let seed = 1;
    for (const [rel, size] of Object.entries(sizes)) {
      const f = path.join(target, rel);
      fs.mkdirSync(path.dirname(f), { recursive: true });
      fs.writeFileSync(f, pseudoRandomBytes(size, seed++));
    }
  }
  return target;
}

async function create(
  input: string,
  extra: string[] = [],
): Promise<{ torrent: string; stdout: string; stderr: string }> {
  const out = path.join(
    tmp.dir,
    'out',
    `${path.basename(input)}-${Math.random().toString(36).slice(2)}.torrent`,
  );
  fs.mkdirSync(path.dirname(out), { recursive: true });
  const r = await runCli([
    'create',
    '-f',
    input,
    '-o',
    out,
    '--store-dir',
    path.join(tmp.dir, 'store'),
    ...extra,
  ]);
  expect(r.stderr).not.toMatch(/at .*\.js:\d+/); // never a stack trace
  expect(r.code).toBe(0);
  return { torrent: out, stdout: r.stdout, stderr: r.stderr };
}

const CASES: [string, number | Record<string, number>][] = [
  ['one-byte.bin', 1],
  ['one-piece.bin', PIECE],
  ['one-over.bin', PIECE + 1],
  ['three-and-a-bit.bin', 3 * PIECE + 12345],
  [
    'folder',
    {
      'a.txt': 1000,
      'b/c.bin': PIECE + 3,
      'b/d.bin': 77,
      'B-upper.txt': 5,
      'z/empty-neighbour.bin': 2 * PIECE - 1,
    },
  ],
];

describeWithTools(['mktorrent', 'libtorrent'], 'create matches mktorrent and libtorrent', () => {
  it.each(CASES)(
    '%s: same info-hash as mktorrent -l 19; libtorrent agrees on hash, pieces and files',
    async (name, sizes) => {
      const input = make(name, sizes);
      const { torrent, stdout } = await create(input, ['-t', '127.0.0.1:5000']);
      const ours = parseMetainfo(fs.readFileSync(torrent));
      expect(stdout).toContain(`info-hash: ${ours.infoHashHex}`);
      expect(stdout).toContain(`magnet:    magnet:?xt=urn:btih:${ours.infoHashHex}`);

      const mkOut = `${torrent}.mk`;
      const mk = spawnSync(
        'mktorrent',
        ['-l', '19', '-a', 'http://127.0.0.1:5000/announce', '-o', mkOut, input],
        { encoding: 'utf8' },
      );
      expect(mk.status).toBe(0);
      expect(parseMetainfo(fs.readFileSync(mkOut)).infoHashHex).toBe(ours.infoHashHex);

      const py = spawnSync(
        SYSTEM_PYTHON,
        [
          '-c',
          `import json, sys, libtorrent as lt
ti = lt.torrent_info(sys.argv[1])
fs = ti.files()
print(json.dumps({"hash": str(ti.info_hashes().v1), "pieces": ti.num_pieces(), "files": [[fs.file_path(i), fs.file_size(i)] for i in range(fs.num_files())]}))`,
          torrent,
        ],
        { encoding: 'utf8' },
      );
      expect(py.stderr).toBe('');
      const lt = JSON.parse(py.stdout) as { hash: string; pieces: number; files: [string, number][] };
      expect(lt.hash).toBe(ours.infoHashHex);
      expect(lt.pieces).toBe(ours.pieceCount);
      const ourFiles = ours.files.map((f) => [
        ours.multiFile ? [ours.name, ...f.path].join('/') : f.path.join('/'),
        f.length,
      ]);
      expect(lt.files).toEqual(ourFiles);
    },
  );
});

describe('create', () => {
  it('publishes to the local store, writes the torrent where asked, and info reads it back by name', async () => {
    const input = make('stored.bin', 70_000);
    const store = path.join(tmp.dir, 'store');
    const { torrent } = await create(input, [
      '-t',
      'tracker.lan',
      '-t',
      'http://backup.lan:6969/announce',
      '--comment',
      'hello',
      '--private',
    ]);
    const m = parseMetainfo(fs.readFileSync(torrent));
    expect(m.announceList).toEqual([
      ['http://tracker.lan:5000/announce'],
      ['http://backup.lan:6969/announce'],
    ]);
    expect(m.private).toBe(true);
    expect(m.comment).toBe('hello');
    expect(fs.readFileSync(path.join(store, 'stored.bin.torrent'))).toEqual(fs.readFileSync(torrent));

    const info = await runCli(['info', 'stored.bin', '--store-dir', store]);
    expect(info.code).toBe(0);
    expect(info.stdout).toContain(`info-hash:  ${m.infoHashHex}`);
    expect(info.stdout).toContain('pieces:     1 × 512.0 KiB');
    expect(info.stdout).toContain('http://tracker.lan:5000/announce | http://backup.lan:6969/announce');
  });

  it('honours --piece-length and RXTORRENT_STORE_DIR', async () => {
    const input = make('pl.bin', 100_000);
    const store = path.join(tmp.dir, 'env-store');
    const out = path.join(tmp.dir, 'pl.torrent');
    const r = await runCli(['create', '-f', input, '-o', out, '--piece-length', '16K'], {
      env: { RXTORRENT_STORE_DIR: store },
    });
    expect(r.code).toBe(0);
    const m = parseMetainfo(fs.readFileSync(out));
    expect(m.pieceLength).toBe(16384);
    expect(m.pieceCount).toBe(Math.ceil(100_000 / 16384));
    expect(fs.existsSync(path.join(store, 'pl.bin.torrent'))).toBe(true);
  });

  it('writes every event to --events as JSON lines and prints them with -v', async () => {
    const input = make('events.bin', 2 * PIECE);
    const events = path.join(tmp.dir, 'events.jsonl');
    const r = await runCli([
      '--events',
      events,
      '-v',
      'create',
      '-f',
      input,
      '-o',
      path.join(tmp.dir, 'ev.torrent'),
      '--no-publish',
    ]);
    expect(r.code).toBe(0);
    const lines = fs
      .readFileSync(events, 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    const types = lines.map((l) => l.type);
    expect(types).toEqual(
      expect.arrayContaining(['HashingStarted', 'PiecesHashed', 'HashingFinished', 'TorrentWritten']),
    );
    for (const l of lines) expect(new Date(String(l.ts)).toString()).not.toBe('Invalid Date');
    expect(r.stderr).toMatch(/^\d{4}-\d\d-\d\dT[\d:.]+Z create HashingStarted pieces=2 bytes=1048576/m);
  });

  it('publishes even when a folder watcher takes the file from the store at once: one line, exit 0', async () => {
    const store = path.join(tmp.dir, 'watched-store');
    const taken = path.join(tmp.dir, 'taken');
    fs.mkdirSync(store, { recursive: true });
    fs.mkdirSync(taken, { recursive: true });
    // Like transmission-daemon's watch dir: every .torrent that appears is moved away at once.
    const watcher = spawnWatched('watcher', process.execPath, [
      '-e',
      `const fs = require('fs'), path = require('path');
       const [dir, to] = process.argv.slice(1);
       fs.watch(dir, (ev, name) => {
         if (!name || !name.endsWith('.torrent')) return;
         try { fs.renameSync(path.join(dir, name), path.join(to, name)); } catch {}
       });
       console.log('watching');`,
      store,
      taken,
    ]);
    try {
      await watcher.waitFor(/watching/);
      // The watcher wins the race with the check after publishing often, not always: try a few times.
      for (const i of [1, 2, 3]) {
        const input = make(`watched-${i}.bin`, 30_000 + i);
        const r = await runCli([
          'create',
          '-f',
          input,
          '-o',
          path.join(tmp.dir, `watched-${i}.torrent`),
          '--store-dir',
          store,
        ]);
        expect(r.stderr).not.toMatch(/rxtorrent:/);
        expect(r.code).toBe(0);
        const published = r.stdout.split('\n').filter((l) => l.startsWith('published:'));
        expect(published).toEqual([
          expect.stringMatching(
            new RegExp(
              `^published: local store: .*watched-${i}\\.bin\\.torrent( \\(at once taken from the folder by another program, e\\.g\\. a watch folder\\))?$`,
            ),
          ),
        ]);
        await until(`the watcher to take watched-${i}.bin.torrent`, () =>
          fs.existsSync(path.join(taken, `watched-${i}.bin.torrent`)) ? true : undefined,
        );
      }
    } finally {
      await watcher.kill();
    }
  });

  it("converts the old program's JSON metainfo into a real torrent with the same pieces", async () => {
    const input = make('legacy.bin', PIECE + 10);
    const { torrent } = await create(input);
    const m = parseMetainfo(fs.readFileSync(torrent));
    const legacy = path.join(tmp.dir, 'legacy.json');
    const hex = [0, 1].map((i) => m.pieces.subarray(i * 20, i * 20 + 20).toString('hex'));
    fs.writeFileSync(
      legacy,
      JSON.stringify({ filename: 'legacy.bin', size: PIECE + 10, piece_size: PIECE, pieces: hex }),
    );
    const out = path.join(tmp.dir, 'legacy.torrent');
    const r = await runCli(['create', '--from-legacy', '-f', legacy, '-o', out, '--no-publish']);
    expect(r.code).toBe(0);
    expect(parseMetainfo(fs.readFileSync(out)).infoHashHex).toBe(m.infoHashHex);
    const bad = await runCli(['info', legacy]);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain('--from-legacy');
  });
});

describe('create and info refuse bad input with one clear line', () => {
  const cases: [string, () => string[], RegExp, number][] = [
    [
      'a missing file',
      () => ['create', '-f', path.join(tmp.dir, 'nope.bin')],
      /no such file or folder: .*nope\.bin/,
      1,
    ],
    ['an empty file', () => ['create', '-f', make('empty.bin', 0)], /empty\.bin is empty/, 1],
    [
      'an empty folder',
      () => (
        fs.mkdirSync(path.join(tmp.dir, 'void'), { recursive: true }),
        ['create', '-f', path.join(tmp.dir, 'void')]
      ),
      /holds no data/,
      1,
    ],
    ['an unknown flag', () => ['create', '-f', 'x', '--frobnicate'], /unknown option '--frobnicate'/, 2],
    ['a missing -f', () => ['create'], /required option '-f, --file <path>'/, 2],
    [
      'a bad piece length',
      () => ['create', '-f', make('x.bin', 10), '--piece-length', '1000'],
      /must be a power of two/,
      2,
    ],
    [
      'a bad tracker',
      () => ['create', '-f', make('y.bin', 10), '-t', 'ftp://x'],
      /unsupported tracker scheme ftp:/,
      2,
    ],
    [
      'a torrent that is not bencode',
      () => [
        'info',
        (fs.writeFileSync(path.join(tmp.dir, 'junk.torrent'), 'hello'), path.join(tmp.dir, 'junk.torrent')),
      ],
      /not a valid \.torrent file \(bencode: .* at 0\)/,
      1,
    ],
    [
      'an unknown store name',
      () => ['info', 'no-such-torrent', '--store-dir', path.join(tmp.dir, 'store')],
      /no torrent "no-such-torrent"/,
      1,
    ],
  ];
  it.each(cases)('%s', async (_name, args, message, code) => {
    const r = await runCli(args(), { cwd: tmp.dir });
    expect(r.code).toBe(code);
    expect(r.stderr).toMatch(message);
    expect(r.stderr).not.toMatch(/\n\s+at /);
  });

  it('refuses a torrent whose file path escapes the download folder, and one with a short pieces field', async () => {
    const { encode, dict } = await import('../../src/protocol/bencode');
    const evil = path.join(tmp.dir, 'evil.torrent');
    fs.writeFileSync(
      evil,
      encode(
        dict({
          info: dict({
            name: Buffer.from('x'),
            'piece length': 16384,
            pieces: Buffer.alloc(20),
            files: [dict({ length: 5, path: [Buffer.from('..'), Buffer.from('etc')] })],
          }),
        }),
      ),
    );
    let r = await runCli(['info', evil]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/unsafe file name in files\[0\]\.path: "\.\." is "\.\."/);
    const short = path.join(tmp.dir, 'short.torrent');
    fs.writeFileSync(
      short,
      encode(
        dict({
          info: dict({ name: Buffer.from('x'), 'piece length': 16384, pieces: Buffer.alloc(19), length: 5 }),
        }),
      ),
    );
    r = await runCli(['info', short]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/"pieces" is 19 bytes, not a non-zero multiple of 20/);
  });

  it('leaves nothing half-written when the output folder does not exist', async () => {
    const out = path.join(tmp.dir, 'missing-dir', 'x.torrent');
    const r = await runCli(['create', '-f', make('z.bin', 10), '-o', out, '--no-publish']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/cannot write .*x\.torrent: ENOENT/);
    expect(fs.existsSync(path.dirname(out))).toBe(false);
  });
});
