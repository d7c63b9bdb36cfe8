/**
 * The CLI loads only the command it runs (start-up time: see BENCHMARKS.md "create"), and still knows
 * every command for help and typos.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { BIN, pseudoRandomBytes, runCli, tempDir } from '../support/run-cli';

let tmp: { dir: string; cleanup: () => void };
beforeAll(() => (tmp = tempDir('rxt-main-')));
afterAll(() => tmp.cleanup());

const COMMANDS = ['create', 'info', 'tracker', 'seed', 'leech', 'serve', 'store', 'dropbox'];

describe('rxtorrent', () => {
  it('lists every command in help, and each one answers --help', async () => {
    const help = await runCli(['--help']);
    expect(help.code).toBe(0);
    for (const c of COMMANDS) expect(help.stdout).toMatch(new RegExp(`^  ${c} `, 'm'));
    for (const c of COMMANDS) {
      const r = await runCli([c, '--help']);
      expect(r.code).toBe(0);
      expect(r.stdout).toContain(`Usage: rxtorrent ${c} `);
    }
  });

  it('help into a pipe closed early (`| head -1`) ends quietly, without an EPIPE stack', () => {
    // The shell's `head -1` reads one line and exits; the bin keeps writing into the closed pipe.
    const r = spawnSync(
      'bash',
      ['-c', `node ${JSON.stringify(BIN)} leech --help | head -1; exit \${PIPESTATUS[0]}`],
      {
        encoding: 'utf8',
        timeout: 20_000,
      },
    );
    expect(r.stdout).toBe('Usage: rxtorrent leech [options]\n');
    expect(r.stderr).not.toMatch(/EPIPE|Unhandled/);
    expect(r.status).toBe(0);
  });

  it('suggests the command a typo meant, and prints its version', async () => {
    const typo = await runCli(['creat']);
    expect(typo.code).toBe(2);
    expect(typo.stderr).toContain("unknown command 'creat'");
    expect(typo.stderr).toContain('Did you mean create?');
    const v = await runCli(['--version']);
    expect(v.stdout.trim()).toMatch(/^\d+\.\d+\.\d+$/);
  });

  it('create loads neither the engine, nor all of rxjs, nor ioredis or the Dropbox SDK', () => {
    const file = path.join(tmp.dir, 'small.bin');
    fs.writeFileSync(file, pseudoRandomBytes(70_000, 3));
    const report = path.join(tmp.dir, 'modules.json');
    const preload = path.join(tmp.dir, 'report.js');
    fs.writeFileSync(
      preload,
      `process.on('exit', () => require('fs').writeFileSync(${JSON.stringify(report)}, JSON.stringify(Object.keys(require.cache))));`,
    );
    const r = spawnSync(
      process.execPath,
      ['-r', preload, BIN, 'create', '-f', file, '-o', path.join(tmp.dir, 's.torrent'), '--no-publish'],
      { encoding: 'utf8' },
    );
    expect(r.status).toBe(0);
    const loaded = JSON.parse(fs.readFileSync(report, 'utf8')) as string[];
    expect(loaded.some((m) => m.endsWith(path.join('dist', 'cli', 'create-command.js')))).toBe(true);
    for (const never of [
      /rxjs[/\\]dist[/\\]cjs[/\\]index\.js$/,
      /node_modules[/\\]ioredis[/\\]/,
      /node_modules[/\\]dropbox[/\\]/,
      /dist[/\\]actors[/\\]engine\.js$/,
      /dist[/\\]cli[/\\]peer-command\.js$/,
    ])
      expect(loaded.filter((m) => never.test(m))).toEqual([]);
  });
});
