/**
 * A running `rxtorrent seed|leech` child process: its listen port, its event log (`--events` JSONL),
 * waiting for "download complete", and stopping it the way a user does (Enter), by PID as a fallback.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { EngineEvent } from '../../src/events/engine-event';
import { Watched, watch } from './child-process';
import { startCli, startCliInPty } from './run-cli';

export interface PeerProcess extends Watched {
  port: number;
  eventsFile: string;
  /** Events written so far (complete lines only). */
  events(type?: string): EngineEvent[];
  /** Resolves when the leecher prints "download complete". */
  complete(timeoutMs?: number): Promise<void>;
  /** Enter on stdin (a clean stop: `stopped` announce, SessionStopped), SIGTERM/SIGKILL if it hangs. */
  stop(): Promise<number | string | null>;
}

export interface PeerSpec {
  torrent: string;
  /** Data folder (`-o`). */
  dir: string;
  /** Tracker `host:port`, if any. */
  tracker?: string;
  peers?: string[];
  exitOnDone?: boolean;
  extra?: string[];
  /** Where to write the JSONL event log; default `<dir>/../<name>.jsonl`. */
  eventsFile?: string;
  /** Global options before the command (e.g. `-v`). */
  global?: string[];
  /** Run in a pseudo-terminal: stdout and stderr arrive together, escapes included, on `stdout()`. */
  pty?: boolean;
  /** Execute the bin itself (its shebang's Node flags apply), not `node bin/rxtorrent.js`. */
  viaBin?: boolean;
  /** Environment on top of ours (not with `pty`). */
  env?: NodeJS.ProcessEnv;
}

export async function startPeer(mode: 'seed' | 'leech', name: string, spec: PeerSpec): Promise<PeerProcess> {
  const eventsFile = spec.eventsFile ?? path.join(path.dirname(path.resolve(spec.dir)), `${name}.jsonl`);
  const args = [
    ...(spec.global ?? []),
    '--events',
    eventsFile,
    mode,
    '-f',
    spec.torrent,
    '-p',
    '0',
    '--bind',
    '127.0.0.1',
    '-o',
    spec.dir,
  ];
  if (spec.tracker) args.push('-t', spec.tracker);
  for (const p of spec.peers ?? []) args.push('--peer', p);
  if (spec.exitOnDone) args.push('--exit-on-done');
  args.push(...(spec.extra ?? []));
  const w = watch(
    spec.pty ? startCliInPty(args) : startCli(args, { viaBin: spec.viaBin, env: spec.env }),
    name,
  );
  const proc: PeerProcess = {
    ...w,
    port: 0,
    eventsFile,
    events: (type) => readEvents(eventsFile).filter((e) => type === undefined || e.type === type),
    complete: async (timeoutMs = 15_000) => {
      await w.waitFor(/download complete/, { timeoutMs });
    },
    stop: async () => {
      if (!w.hasExited()) w.child.stdin?.write('\n');
      const t = setTimeout(() => void w.kill(), 5000);
      const code = await w.exited;
      clearTimeout(t);
      return code;
    },
  };
  try {
    const m = await w.waitFor(/on port (\d+)[;,]/); // `, N pieces already here;` after a resume
    proc.port = Number(m[1]);
  } catch (err) {
    await w.kill();
    throw err;
  }
  return proc;
}

export function readEvents(file: string): EngineEvent[] {
  if (!fs.existsSync(file)) return [];
  return fs
    .readFileSync(file, 'utf8')
    .split('\n')
    .filter((l) => l.endsWith('}'))
    .map((l) => JSON.parse(l) as EngineEvent);
}

/** Bytes this process downloaded from each peer (by listen port of the peer's address), from PeerDisconnected. */
export function downloadedByPeer(events: EngineEvent[]): Map<string, number> {
  const m = new Map<string, number>();
  for (const e of events) {
    if (e.type !== 'PeerDisconnected' || e.peer === undefined) continue;
    m.set(e.peer, (m.get(e.peer) ?? 0) + Number(e.downloaded ?? 0));
  }
  return m;
}
