/**
 * `leech -f 'magnet:?…'` as a user meets it, apart from the downloads themselves (test/engine/magnet-*):
 * usage errors (seed with a link, a malformed link, no way to find peers) exit 2 with one clear line;
 * a link whose peers never answer shows the metadata progress and stops cleanly on Enter, leaving
 * nothing behind; `--no-publish` keeps the store untouched.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { watch } from '../support/child-process';
import { runCli, startCli, tempDir } from '../support/run-cli';

const HASH = 'c12fe1c06bba254a9dc9f519b335aa7c1367a88a';

let tmp: { dir: string; cleanup: () => void };
beforeAll(() => {
  tmp = tempDir('rxt-leech-magnet-');
});
afterAll(() => tmp?.cleanup());

test('seed refuses a magnet link', async () => {
  const r = await runCli(['seed', '-f', `magnet:?xt=urn:btih:${HASH}&x.pe=127.0.0.1:1`, '-p', '0']);
  expect(r.code).toBe(2);
  expect(r.stderr).toMatch(/seed needs the \.torrent file/);
});

test('a malformed link is a usage error naming what is wrong', async () => {
  const r = await runCli(['leech', '-f', 'magnet:?xt=urn:btih:nothex&dn=x', '-p', '0']);
  expect(r.code).toBe(2);
  expect(r.stderr).toMatch(/neither 40 hex digits nor 32 base32/);
  expect(r.stderr).not.toMatch(/\n\s+at /);
});

test('a link with no tracker and no peer, local discovery off: refused', async () => {
  const r = await runCli(['leech', '-f', `magnet:?xt=urn:btih:${HASH}`, '-p', '0', '-o', tmp.dir]);
  expect(r.code).toBe(2);
  expect(r.stderr).toMatch(/no tracker: .*local discovery/);
});

test('while no peer answers it shows the fetch and stops on Enter, writing nothing', async () => {
  const out = path.join(tmp.dir, 'nothing');
  const store = path.join(tmp.dir, 'store');
  fs.mkdirSync(out);
  const w = watch(
    startCli([
      '--store-dir',
      store,
      'leech',
      '-f',
      `magnet:?xt=urn:btih:${HASH}&dn=never&x.pe=127.0.0.1:1`,
      '-p',
      '0',
      '--bind',
      '127.0.0.1',
      '-o',
      out,
      '--progress-interval',
      '1',
    ]),
    'leech-magnet',
  );
  await w.waitFor(/fetching metadata for never \(c12f[0-9a-f]+\) on port \d+;/);
  await w.waitFor(/fetching metadata: 0 peers connected, 1 known/, { stream: 'stderr' });
  w.child.stdin?.write('\n');
  expect(await w.exited).toBe(0);
  expect(w.stdout()).toMatch(/stopped before the metadata arrived/);
  expect(fs.readdirSync(out)).toEqual([]);
  expect(fs.existsSync(store) ? fs.readdirSync(store) : []).toEqual([]);
});
