/**
 * WebTorrent's bittorrent-dht in a child process (bittorrent-dht-driver.mjs), driven by requests
 * that resolve with the driver's replies. Used by the interop test and the DHT benchmark.
 */
import * as path from 'node:path';
import { Watched, spawnWatched } from './child-process';

export interface BtDhtNodeInfo {
  port: number;
  id: string;
}

export interface BtDhtMeasure {
  ms: number;
  queries: number;
  hops: number;
  answers: number;
  peers: number;
}

const DRIVER = path.join(__dirname, 'bittorrent-dht-driver.mjs');

export class BtDhtProcess {
  private buffered = '';
  private nextId = 1;
  private readonly waiters = new Map<number, (reply: Record<string, unknown>) => void>();

  private constructor(readonly proc: Watched) {
    proc.child.stdout?.on('data', (d: Buffer) => {
      this.buffered += d.toString();
      let nl: number;
      while ((nl = this.buffered.indexOf('\n')) >= 0) {
        const line = this.buffered.slice(0, nl);
        this.buffered = this.buffered.slice(nl + 1);
        try {
          const reply = JSON.parse(line) as Record<string, unknown>;
          const w = this.waiters.get(reply.id as number);
          this.waiters.delete(reply.id as number);
          w?.(reply);
        } catch {
          // A line that is not a reply (e.g. a library's console output) is ignored.
        }
      }
    });
  }

  static async start(nodeArgs: string[] = []): Promise<BtDhtProcess> {
    const proc = spawnWatched('bittorrent-dht', process.execPath, [...nodeArgs, DRIVER]);
    await proc.waitFor(/"id":"hello"/);
    return new BtDhtProcess(proc);
  }

  request<T>(op: string, args: Record<string, unknown> = {}, timeoutMs = 120_000): Promise<T> {
    const id = this.nextId++;
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters.delete(id);
        reject(new Error(`bittorrent-dht ${op} got no reply in ${timeoutMs} ms\n${this.proc.stderr()}`));
      }, timeoutMs);
      this.waiters.set(id, (reply) => {
        clearTimeout(timer);
        if (reply.ok) resolve(reply as T);
        else reject(new Error(`bittorrent-dht ${op}: ${String(reply.error)}`));
      });
      this.proc.child.stdin?.write(`${JSON.stringify({ id, op, ...args })}\n`);
    });
  }

  spawn(count: number, bootstrap: string[] = []): Promise<{ nodes: BtDhtNodeInfo[] }> {
    return this.request('spawn', { count, bootstrap });
  }

  announce(node: number, infoHash: Buffer, port: number): Promise<unknown> {
    return this.request('announce', { node, infoHash: infoHash.toString('hex'), port });
  }

  lookup(node: number, infoHash: Buffer): Promise<{ peers: string[] }> {
    return this.request('lookup', { node, infoHash: infoHash.toString('hex') });
  }

  measure(node: number, infoHash: Buffer): Promise<BtDhtMeasure> {
    return this.request('measure', { node, infoHash: infoHash.toString('hex') });
  }

  memory(): Promise<{ heapUsed: number; rss: number; tableMedian: number }> {
    return this.request('memory');
  }

  /** Ask the driver to destroy its nodes and exit; kill it by PID if it does not. */
  async stop(): Promise<void> {
    this.proc.child.stdin?.end();
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise((r) => (timer = setTimeout(() => r('late'), 5000)));
    const exited = await Promise.race([this.proc.exited, late]);
    clearTimeout(timer);
    if (exited === 'late') await this.proc.kill();
  }
}
