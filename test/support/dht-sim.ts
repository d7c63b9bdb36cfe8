/**
 * An in-memory network of DHT node states on a virtual clock: Send effects are delivered in order,
 * nodes listed in `silent` never answer, and every event and effect is recorded. Tests of the pure
 * transition use it; no sockets, no timers.
 */
import { createHash } from 'node:crypto';
import {
  DhtEffect,
  DhtIn,
  DhtState,
  dhtTransition,
  initialDhtState,
  DhtConfig,
} from '../../src/core/dht-state';
import type { EventInput } from '../../src/events/engine-event';
import type { NodeAddress } from '../../src/protocol/krpc';

export interface SimNode {
  addr: NodeAddress;
  state: DhtState;
  events: EventInput[];
  effects: DhtEffect[];
}

/** Deterministic bytes from a counter (SHA1 of it), so runs repeat exactly. */
export function seededBytes(seed: string): (n: number) => Buffer {
  let i = 0;
  return (n) => {
    const out = Buffer.alloc(n);
    for (let o = 0; o < n; o += 20) createHash('sha1').update(`${seed}:${i++}`).digest().copy(out, o);
    return out;
  };
}

export class DhtSim {
  now = 0;
  readonly nodes: SimNode[] = [];
  readonly silent = new Set<string>();
  /** Datagrams sent to addresses no node has (e.g. a test's raw client). */
  readonly outside: { to: NodeAddress; data: Buffer; from: NodeAddress }[] = [];
  private queue: { to: NodeAddress; data: Buffer; from: NodeAddress }[] = [];
  private head = 0;
  private readonly byAddr = new Map<string, SimNode>();

  add(config: Partial<DhtConfig> = {}, ip = '127.0.0.1'): SimNode {
    const i = this.nodes.length;
    const bytes = seededBytes(`node${i}`);
    const node: SimNode = {
      addr: { ip, port: 10_000 + i },
      state: initialDhtState({
        id: bytes(20),
        family: 4,
        now: this.now,
        randomBytes: bytes,
        random: () => 0.5,
        config,
      }),
      events: [],
      effects: [],
    };
    this.nodes.push(node);
    this.byAddr.set(`${ip}:${node.addr.port}`, node);
    return node;
  }

  send(node: SimNode, m: DhtIn): void {
    const step = dhtTransition(node.state, m);
    node.events.push(...(step.events ?? []));
    for (const e of step.effects ?? []) {
      node.effects.push(e);
      if (e.type === 'Send') this.queue.push({ to: e.to, data: e.data, from: node.addr });
    }
  }

  /** A datagram from outside (a raw client at `from`), then delivery of what it caused. */
  inject(to: SimNode, data: Buffer, from: NodeAddress): void {
    this.send(to, { type: 'DatagramReceived', data, from, at: this.now });
    this.deliver();
  }

  /** Deliver queued datagrams (and what they cause) until the network is quiet; bounded. */
  deliver(limit = 200_000): number {
    let n = 0;
    while (this.head < this.queue.length && n++ < limit) {
      const d = this.queue[this.head++];
      const key = `${d.to.ip}:${d.to.port}`;
      const target = this.byAddr.get(key);
      if (!target) this.outside.push(d);
      else if (!this.silent.has(key))
        this.send(target, { type: 'DatagramReceived', data: d.data, from: d.from, at: this.now });
    }
    if (this.head === this.queue.length) {
      this.queue = [];
      this.head = 0;
    }
    return n;
  }

  /** Advance the clock in ticks of `step` ms, ticking every node and delivering after each. */
  advance(ms: number, step = 250): void {
    for (let t = 0; t < ms; t += step) {
      this.now += step;
      for (const node of this.nodes) this.send(node, { type: 'Tick', at: this.now });
      this.deliver();
    }
  }

  /** Node 0 is the bootstrap node; every other node bootstraps from it. */
  bootstrapAll(): void {
    for (const node of this.nodes.slice(1)) {
      this.send(node, { type: 'Bootstrap', routers: [this.nodes[0].addr], at: this.now });
      this.deliver();
    }
  }
}
