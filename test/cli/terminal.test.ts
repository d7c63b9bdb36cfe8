/**
 * seed and leech in a real pseudo-terminal, as a new user runs the README quick start: messages never
 * land on the live progress line, the completion line gives the rate from the first byte received, and
 * a seeder started a moment before its tracker meets it within seconds.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { completionLine } from '../../src/cli/peer-command';
import { parseMetainfo } from '../../src/protocol/metainfo';
import { freePort } from '../support/child-process';
import { startPeer } from '../support/peer-process';
import { makeTorrent, subDir, useSwarmLab } from '../support/swarm-fixtures';
import { screenLines } from '../support/terminal-screen';
import { scrape } from '../support/tracker-http';
import { startTracker } from '../support/tracker-process';

const lab = useSwarmLab('rxt-tty-');
const PIECE = 512 * 1024;

/** The live progress line, whole: `42.0% 31/77 pieces, down 1.9 MiB/s up 0 B/s, 1 peers ETA 0:03`. */
const PROGRESS_LINE =
  /^\d{1,3}\.\d% \d+\/\d+ pieces, down [\d.]+ [KMGT]?i?B\/s up [\d.]+ [KMGT]?i?B\/s, \d+ peers( ETA [\d:?]+)?$/;
const PROGRESS_FRAGMENT = /% \d+\/\d+ pieces, down |B\/s up [\d.]+ /;

/** Rows of the screen that hold a progress fragment and anything else (a message on the live line). */
function mixedRows(output: string): string[] {
  return screenLines(output).filter((row) => PROGRESS_FRAGMENT.test(row) && !PROGRESS_LINE.test(row));
}

describe('completionLine', () => {
  it('gives time and rate from the first byte, and the total time apart', () => {
    const s = { downloaded: 40 * 2 ** 20, firstByteAt: 10_800 };
    expect(completionLine('movie.mp4', s, 0, 15_800)).toBe(
      'download complete: movie.mp4, 40.0 MiB in 5.0 s at 8.0 MiB/s from the first byte (15.8 s in all)',
    );
    expect(completionLine('movie.mp4', { downloaded: 0, firstByteAt: undefined }, 0, 200)).toBe(
      'download complete: movie.mp4 (nothing to download, 0.2 s in all)',
    );
  });
});

describe('seed and leech in a terminal', () => {
  it('a seeder started before its tracker is registered within 3 s; its messages never share the progress line', async () => {
    const port = await freePort();
    const addr = `127.0.0.1:${port}`;
    const t = await makeTorrent(lab.dir, 'early', { file: 3 * PIECE + 99 }, addr, 21);
    // The scenario: the seeder first, the tracker half a second later (about when the seeder, booting
    // as fast, finds it missing).
    const seeding = startPeer('seed', 'early-seed', {
      torrent: t.torrent,
      dir: t.seedDir,
      tracker: addr,
      global: ['-v'],
      pty: true,
    }).then((p) => lab.track(p));
    await new Promise((r) => setTimeout(r, 500));
    const trackerStarted = Date.now();
    const tracker = await startTracker([
      'tracker',
      '-p',
      String(port),
      '--host',
      '127.0.0.1',
      '--no-console',
    ]);
    lab.track({ kill: () => tracker.stop() });
    const seeder = await seeding;
    await seeder.waitFor(new RegExp(`tracker http://127\\.0\\.0\\.1:${port}/announce answers again`), {
      timeoutMs: 10_000,
    });
    const registeredAfter = Date.now() - trackerStarted;
    expect(seeder.stdout()).toMatch(/tracker unreachable \(.*\); retrying in 1 s/); // it did start first
    const infoHash = parseMetainfo(fs.readFileSync(t.torrent)).infoHash;
    const swarms = await scrape({ host: '127.0.0.1', port }, [infoHash]);
    expect(swarms.get(infoHash.toString('hex'))?.complete).toBe(1);
    expect(registeredAfter).toBeLessThan(3000);

    // Some traffic while the live line is up: a leecher (event lines with -v) and a `rate` reply.
    const out = subDir(t.root, 'early-leech');
    const leecher = lab.track(
      await startPeer('leech', 'early-leech', {
        torrent: t.torrent,
        dir: out,
        tracker: addr,
        exitOnDone: true,
      }),
    );
    await leecher.complete(20_000);
    seeder.child.stdin?.write('rate 4M 4M\n');
    await seeder.waitFor(/rate limits: down 4\.0 MiB\/s, up 4\.0 MiB\/s/);
    expect(await seeder.stop()).toBe(0);

    const output = seeder.stdout();
    expect(output).toMatch(/100\.0% 4\/4 pieces, down/); // the live line was drawn
    expect(mixedRows(output)).toEqual([]);
    const rows = screenLines(output);
    expect(rows).toContain(`tracker http://127.0.0.1:${port}/announce answers again`);
    expect(rows).toContain('rate limits: down 4.0 MiB/s, up 4.0 MiB/s');
    expect(rows.some((r) => / peer PeerConnected /.test(r))).toBe(true);
  });

  it('the leecher reports the rate from the first byte (within 10% of --max-down); no message on the progress line', async () => {
    const limit = 2 * 1024 * 1024;
    const t = await makeTorrent(lab.dir, 'limited', { file: 24 * PIECE }, lab.trackerAddr, 22);
    const out = subDir(t.root, 'leech');
    const leecher = lab.track(
      await startPeer('leech', 'limited-leech', {
        torrent: t.torrent,
        dir: out,
        tracker: lab.trackerAddr,
        global: ['-v'],
        extra: ['--max-down', '2M'],
        pty: true,
      }),
    );
    // No seeder yet: the leecher waits (time that must not count against the rate). 12 MiB at 2 MiB/s:
    // the limiter's saved-up burst (a quarter second) moves the measured rate by about 4 %.
    await leecher.waitFor(/0\.0% 0\/24 pieces/);
    await new Promise((r) => setTimeout(r, 1500));
    const seeder = lab.track(
      await startPeer('seed', 'limited-seed', {
        torrent: t.torrent,
        dir: t.seedDir,
        tracker: lab.trackerAddr,
      }),
    );
    await leecher.waitFor(/\d+\.\d% [1-9]\d*\/24 pieces/, { timeoutMs: 20_000 });
    leecher.child.stdin?.write('rate 2M 0\n');
    await leecher.complete(30_000);
    expect(fs.readFileSync(path.join(out, 'limited.bin')).equals(fs.readFileSync(t.source))).toBe(true);

    const m =
      /download complete: limited\.bin, 12\.0 MiB in ([\d.]+) s at ([\d.]+) (KiB|MiB)\/s from the first byte \(([\d.]+) s in all\)/.exec(
        leecher.stdout(),
      );
    expect(m).not.toBeNull();
    const [active, rate, unit, all] = [Number(m?.[1]), Number(m?.[2]), m?.[3], Number(m?.[4])];
    const bytesPerSecond = rate * (unit === 'MiB' ? 2 ** 20 : 2 ** 10);
    if (process.env.RXT_DUMP) fs.writeFileSync(process.env.RXT_DUMP, leecher.stdout());
    expect(Math.abs(bytesPerSecond - limit) / limit).toBeLessThanOrEqual(0.1);
    expect(all).toBeGreaterThanOrEqual(active + 1.5); // the wait is reported apart

    expect(await leecher.stop()).toBe(0);
    await seeder.stop();
    const output = leecher.stdout();
    expect(mixedRows(output)).toEqual([]);
    const rows = screenLines(output);
    expect(rows).toContain('rate limits: down 2.0 MiB/s, up unlimited');
    expect(rows.some((r) => /^download complete: limited\.bin, /.test(r))).toBe(true);
    expect(rows.some((r) => / tracker PeersReceived /.test(r))).toBe(true);
  });
});
