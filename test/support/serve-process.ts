/**
 * A running `rxtorrent serve` child process: its peer port and RPC port (from what it prints), its event
 * log (`--events` JSONL), console commands written to its stdin, and stopping it as a user does.
 */
import * as path from 'node:path';
import { EngineEvent } from '../../src/events/engine-event';
import { Watched, until, watch } from './child-process';
import { readEvents } from './peer-process';
import { startCli } from './run-cli';

export interface ServeProcess extends Watched {
  port: number;
  rpcPort: number;
  eventsFile: string;
  events(type?: string): EngineEvent[];
  /** Type a console line and resolve with what it printed up to the next command's output. */
  command(line: string, done: RegExp, timeoutMs?: number): Promise<string>;
  /** Resolves with the first event matching `pred` (bounded). */
  event(pred: (e: EngineEvent) => boolean, what: string, timeoutMs?: number): Promise<EngineEvent>;
  /** `exit` on the console (or SIGTERM), bounded. */
  stop(): Promise<number | string | null>;
}

export interface ServeSpec {
  store: string;
  data: string;
  /** Folder for the event log; default the data folder's parent. */
  logDir?: string;
  extra?: string[];
  /** Added to the child's environment (e.g. `RXTORRENT_NO_DHT: '0'` with a loopback DHT). */
  env?: NodeJS.ProcessEnv;
}

export async function startServe(name: string, spec: ServeSpec): Promise<ServeProcess> {
  const eventsFile = path.join(spec.logDir ?? path.dirname(spec.data), `${name}.jsonl`);
  const args = [
    '--events',
    eventsFile,
    '--store-dir',
    spec.store,
    'serve',
    '-o',
    spec.data,
    '-p',
    '0',
    '--bind',
    '127.0.0.1',
    '--rpc-port',
    '0',
    '--min-announce-interval',
    '2',
    ...(spec.extra ?? []),
  ];
  const w = watch(startCli(args, { env: spec.env }), name);
  const events = (type?: string): EngineEvent[] =>
    readEvents(eventsFile).filter((e) => type === undefined || e.type === type);
  const proc: ServeProcess = {
    ...w,
    port: 0,
    rpcPort: 0,
    eventsFile,
    events,
    command: async (line, done, timeoutMs = 10_000) => {
      const from = w.stdout().length;
      w.child.stdin?.write(`${line}\n`);
      await w.waitFor(done, { from, timeoutMs });
      return w.stdout().slice(from);
    },
    event: (pred, what, timeoutMs = 15_000) => until(what, () => events().find(pred), timeoutMs, 50),
    stop: async () => {
      if (!w.hasExited()) w.child.stdin?.write('exit\n');
      const t = setTimeout(() => void w.kill(), 8000);
      const code = await w.exited;
      clearTimeout(t);
      return code;
    },
  };
  try {
    proc.port = Number((await w.waitFor(/on port (\d+);/))[1]);
    const rpc = /remote control: http:\/\/[^:]+:(\d+)\//.exec(w.stdout());
    proc.rpcPort = rpc ? Number(rpc[1]) : 0;
  } catch (err) {
    await w.kill();
    throw err;
  }
  return proc;
}
