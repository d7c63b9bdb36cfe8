/**
 * A small DHT of our own nodes on 127.0.0.1 for tests that run engines or CLI processes with the DHT on:
 * they bootstrap from `bootstrap` (never from the public routers).
 */
import { filter, firstValueFrom, timeout } from 'rxjs';
import { DhtNode } from '../../src/actors/dht-node';
import { EngineEvent } from '../../src/events/engine-event';
import { until } from './child-process';

export interface LoopbackDht {
  nodes: DhtNode[];
  /** `host:port` of the first node, for `--dht-bootstrap`. */
  bootstrapArg: string;
  bootstrap: { host: string; port: number }[];
  stop(): Promise<void>;
}

export async function startLoopbackDht(count = 4): Promise<LoopbackDht> {
  const nodes: DhtNode[] = [];
  try {
    const first = new DhtNode({ host: '127.0.0.1' });
    nodes.push(first);
    await first.start();
    const bootstrap = [{ host: '127.0.0.1', port: first.address()?.port ?? 0 }];
    for (let i = 1; i < count; i++) {
      const node = new DhtNode({ host: '127.0.0.1', bootstrap });
      nodes.push(node);
      const booted = firstValueFrom(
        node.events$.pipe(
          filter((e) => e.type === 'DhtBootstrapped'),
          timeout(10_000),
        ),
      );
      await node.start();
      await booted;
    }
    return {
      nodes,
      bootstrap,
      bootstrapArg: `127.0.0.1:${bootstrap[0].port}`,
      stop: async () => void (await Promise.all(nodes.map((n) => n.stop()))),
    };
  } catch (err) {
    await Promise.all(nodes.map((n) => n.stop()));
    throw err;
  }
}

/** The environment of a CLI process that runs the DHT: on, with its state file under `stateDir`. */
export function dhtOnEnv(stateDir: string): NodeJS.ProcessEnv {
  return { RXTORRENT_NO_DHT: '0', XDG_STATE_HOME: stateDir };
}

/** Resolves once a CLI process (its `--events` log) has announced `infoHashHex` in the DHT. */
export function announcedInDht(
  p: { name: string; events(type?: string): EngineEvent[]; hasExited(): boolean; stderr(): string },
  infoHashHex: string,
): Promise<unknown> {
  return until(
    `${p.name} to announce in the DHT`,
    () =>
      p.events('DhtLookupDone').find((e) => e.torrent === infoHashHex && Number(e.announced) > 0) ??
      (p.hasExited() ? Promise.reject(new Error(`${p.name} exited\n${p.stderr()}`)) : undefined),
    30_000,
  );
}
