/**
 * A small DHT of our own nodes on 127.0.0.1 for tests that run engines or CLI processes with the DHT on:
 * they bootstrap from `bootstrap` (never from the public routers).
 */
import { filter, firstValueFrom, timeout } from 'rxjs';
import { DhtNode } from '../../src/actors/dht-node';

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
