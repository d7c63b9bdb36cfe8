/**
 * serve's state file: what was paused, added or removed by hand and the limits set at run time
 * survive a restart (a new ServeState on the same folder, and a process killed mid-write); bad or
 * hostile content is dropped with a warning instead of stopping serve.
 */
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { EventInput } from '../../src/events/engine-event';
import { STATE_FILE, ServeState, defaultServeStateDir } from '../../src/serve/serve-state';
import { ROOT, tempDir } from '../support/run-cli';

const A = 'a'.repeat(40);
const B = 'b'.repeat(40);
let t: { dir: string; cleanup: () => void };
let dir: string;
let events: EventInput[];
const open = (): Promise<ServeState> => ServeState.open(dir, { onEvent: (e) => void events.push(e) });

beforeEach(() => {
  t = tempDir('rxt-state-');
  dir = defaultServeStateDir(t.dir);
  events = [];
});
afterEach(() => t.cleanup());

it('starts empty, and keeps paused torrents, hand-added ones and limits across a restart', async () => {
  const s = await open();
  expect(s.snapshot()).toEqual({ version: 1, torrents: {}, removed: {}, session: {} });
  await s.setPaused(A, 'alpha.iso', true);
  await s.addManual(B, 'beta.bin', Buffer.from('d4:infodee'), false);
  await s.setLimits(A, 'alpha.iso', { downloadLimit: 50_000 });
  await s.setSessionLimits({ uploadLimit: 1_000_000 });
  await s.setSessionEncryption('required');

  const again = await open();
  expect(again.isPaused(A)).toBe(true);
  expect(again.isPaused(B)).toBe(false);
  expect(again.torrent(A)).toMatchObject({
    name: 'alpha.iso',
    origin: 'store',
    paused: true,
    downloadLimit: 50_000,
  });
  const manual = again.manual();
  expect(manual.map((m) => [m.infoHash, m.record.name])).toEqual([[B, 'beta.bin']]);
  expect((await manual[0].bytes()).toString()).toBe('d4:infodee');
  expect(again.snapshot().session).toEqual({ uploadLimit: 1_000_000, encryption: 'required' });
  expect(events).toEqual([]);
  expect(fs.statSync(path.join(dir, STATE_FILE)).mode & 0o077).toBe(0);
});

it('forgets a hand-removed torrent; a store torrent is remembered as removed until published again', async () => {
  const s = await open();
  await s.addManual(B, 'beta.bin', Buffer.from('x'));
  await s.remove(B, 'beta.bin', 'manual');
  expect(fs.existsSync(path.join(dir, 'torrents', `${B}.torrent`))).toBe(false);
  await s.setPaused(A, 'alpha.iso', true);
  await s.remove(A, 'alpha.iso', 'store');
  let again = await open();
  expect(again.torrent(A)).toBeUndefined();
  expect(again.torrent(B)).toBeUndefined();
  expect(again.wasRemoved(A)).toBe(true);
  await again.forgetRemoved(A);
  again = await open();
  expect(again.wasRemoved(A)).toBe(false);
});

it('shares one write among updates made while a write runs, and ends with the last state', async () => {
  const s = await open();
  const writes: Promise<void>[] = [];
  for (let i = 0; i < 100; i++) writes.push(s.setPaused(A, 'alpha.iso', i % 2 === 0));
  await Promise.all(writes);
  expect(s.saves).toBeLessThanOrEqual(2); // the first, and one shared by the 99 made while it ran
  const onDisk = JSON.parse(fs.readFileSync(path.join(dir, STATE_FILE), 'utf8'));
  expect(onDisk.torrents[A].paused).toBe(false); // i = 99
  expect(fs.readdirSync(dir).filter((f) => f.endsWith('.tmp'))).toEqual([]);
});

it('moves a corrupt state file aside and starts afresh, with a warning', async () => {
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, STATE_FILE), '{"version":1,"torrents":{"aaa');
  const s = await open();
  expect(s.snapshot().torrents).toEqual({});
  expect(events).toEqual([expect.objectContaining({ type: 'StateFileCorrupt', level: 'warn' })]);
  expect(fs.readdirSync(dir).some((f) => f.startsWith(`${STATE_FILE}.corrupt-`))).toBe(true);
  await s.setPaused(A, 'alpha.iso', true);
  expect((await open()).isPaused(A)).toBe(true);
});

it('drops entries with a wrong shape one by one, keeping the good ones', async () => {
  fs.mkdirSync(dir, { recursive: true });
  const good = { name: 'ok', origin: 'store', paused: true, addedAt: 1 };
  const text = JSON.stringify({
    version: 1,
    torrents: {
      [A]: good,
      [B]: { ...good, paused: 'yes' },
      '../../etc/passwd': good,
      ['c'.repeat(40)]: { ...good, downloadLimit: -5 },
      ['d'.repeat(40)]: null,
    },
    removed: { [B]: { name: 'x', at: 'now' } },
    session: { downloadLimit: 1.5, uploadLimit: 100, encryption: 'sometimes' },
  });
  fs.writeFileSync(
    path.join(dir, STATE_FILE),
    text.replace('"torrents":{', `"torrents":{"__proto__":${JSON.stringify(good)},`),
  );
  const s = await open();
  expect(Object.keys(s.snapshot().torrents)).toEqual([A]);
  expect(s.snapshot().removed).toEqual({});
  expect(s.snapshot().session).toEqual({ uploadLimit: 100 });
  expect(events.filter((e) => e.type === 'StateEntryDropped')).toHaveLength(6);
  expect(({} as Record<string, unknown>).paused).toBeUndefined(); // no prototype pollution
});

it('refuses a bad info-hash or limit from the caller instead of writing it', async () => {
  const s = await open();
  await expect(s.setPaused('../x', 'x', true)).rejects.toThrow(/not an info-hash/);
  await expect(s.setLimits(A, 'a', { uploadLimit: -1 })).rejects.toThrow(/whole number/);
  await expect(s.addManual('zz', 'x', Buffer.alloc(1))).rejects.toThrow(/not an info-hash/);
});

it('reports a failed save, keeps the change in memory, and saves it once the disk is back', async () => {
  const s = await open();
  fs.rmSync(dir, { recursive: true });
  fs.writeFileSync(dir, 'a file where the folder was');
  await expect(s.setPaused(A, 'alpha.iso', true)).rejects.toThrow();
  expect(events.some((e) => e.type === 'StateSaveFailed')).toBe(true);
  expect(s.isPaused(A)).toBe(true);
  fs.rmSync(dir);
  fs.mkdirSync(path.join(dir, 'torrents'), { recursive: true });
  await s.setPaused(B, 'beta.bin', true);
  const again = await open();
  expect([again.isPaused(A), again.isPaused(B)]).toEqual([true, true]);
});

it('leaves a readable state when the process is killed in the middle of writing', async () => {
  // A child process rewrites the state as fast as it can; we kill it by PID at a random moment.
  const script = `
    const { ServeState } = require(${JSON.stringify(path.join(ROOT, 'dist', 'serve', 'serve-state.js'))});
    (async () => {
      const s = await ServeState.open(${JSON.stringify(dir)});
      process.stdout.write('ready\\n');
      for (let i = 0; ; i++) await s.setLimits('${A}', 'alpha.iso', { downloadLimit: i });
    })();`;
  for (let round = 0; round < 3; round++) {
    const child = spawn(process.execPath, ['-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
    await new Promise<void>((resolve) => child.stdout.once('data', () => resolve()));
    await new Promise((r) => setTimeout(r, 50 + Math.random() * 150));
    child.kill('SIGKILL');
    await new Promise((r) => child.once('close', r));
    const s = await open();
    expect(events.filter((e) => e.type === 'StateFileCorrupt')).toEqual([]);
    expect(s.torrent(A)?.downloadLimit).toEqual(expect.any(Number));
  }
});
