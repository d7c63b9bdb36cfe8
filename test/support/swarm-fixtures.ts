/**
 * What the engine's process-level tests share: a torrent made from pseudo-random content (one file or a
 * folder) by our own `create`, a fresh sub-folder, and the totals a peer reported when it stopped.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { PeerProcess } from './peer-process';
import { pseudoRandomBytes, runCli, tempDir } from './run-cli';
import { TrackerProcess, startTracker } from './tracker-process';

export type Content = { file: number } | { folder: Record<string, number> };

export interface MadeTorrent {
  torrent: string;
  /** `<root>/seed`, holding the source. */
  seedDir: string;
  /** The file, or the folder for a multi-file torrent. */
  source: string;
  root: string;
  size: number;
}

/** `<parent>/<name>/seed/<name>.bin` (or the folder `<name>`), and `<parent>/<name>/<name>.torrent`. */
export async function makeTorrent(
  parent: string,
  name: string,
  content: Content,
  trackerAddr: string,
  seed = 1,
): Promise<MadeTorrent> {
  const root = path.join(parent, name);
  const seedDir = path.join(root, 'seed');
  fs.mkdirSync(seedDir, { recursive: true });
  let source: string;
  let size = 0;
  if ('file' in content) {
    source = path.join(seedDir, `${name}.bin`);
    fs.writeFileSync(source, pseudoRandomBytes(content.file, seed));
    size = content.file;
  } else {
    source = path.join(seedDir, name);
    for (const [rel, n] of Object.entries(content.folder)) {
      fs.mkdirSync(path.dirname(path.join(source, rel)), { recursive: true });
      fs.writeFileSync(path.join(source, rel), pseudoRandomBytes(n, seed++));
      size += n;
    }
  }
  const torrent = path.join(root, `${name}.torrent`);
  const r = await runCli(['create', '-f', source, '-t', trackerAddr, '-o', torrent, '--no-publish']);
  expect(r.stderr).not.toMatch(/rxtorrent:/);
  expect(r.code).toBe(0);
  return { torrent, seedDir, source, root, size };
}

/** `<root>/<name>`, created. */
export function subDir(root: string, name: string): string {
  const d = path.join(root, name);
  fs.mkdirSync(d, { recursive: true });
  return d;
}

/** The totals of a peer's last `SessionStopped` event. */
export function stoppedStats(p: PeerProcess): { downloaded: number; uploaded: number; have: number } {
  const e = p.events('SessionStopped').at(-1);
  if (!e) throw new Error(`${p.name} wrote no SessionStopped event\n${p.stdout()}\n${p.stderr()}`);
  return { downloaded: Number(e.downloaded), uploaded: Number(e.uploaded), have: Number(e.have) };
}

export interface SwarmLab {
  /** A temp folder for this test file (removed after it). */
  readonly dir: string;
  /** `127.0.0.1:<port>` of the lab's own `rxtorrent tracker`. */
  readonly trackerAddr: string;
  /** Stop `p` (by PID) after the current test, whatever its outcome. */
  track<T extends { kill(): Promise<unknown> }>(p: T): T;
}

/**
 * Registers the jest hooks every process-level engine test file needs: a temp folder and a tracker
 * for the file, and the processes a test started killed after it.
 */
export function useSwarmLab(prefix: string): SwarmLab {
  let tmp: { dir: string; cleanup: () => void } | undefined;
  let tracker: TrackerProcess | undefined;
  let started: { kill(): Promise<unknown> }[] = [];
  beforeAll(async () => {
    tmp = tempDir(prefix);
    tracker = await startTracker(['tracker', '-p', '0', '--host', '127.0.0.1', '--no-console']);
  });
  afterEach(async () => {
    await Promise.all(started.map((p) => p.kill()));
    started = [];
  });
  afterAll(async () => {
    await tracker?.stop();
    if (!process.env.RXTORRENT_KEEP_TMP) tmp?.cleanup();
  });
  return {
    get dir() {
      return (tmp as { dir: string }).dir;
    },
    get trackerAddr() {
      return `127.0.0.1:${(tracker as TrackerProcess).port}`;
    },
    track: (p) => {
      started.push(p);
      return p;
    },
  };
}
