import fc from 'fast-check';
import { compareDistance } from '../../src/core/dht-id';
import { Candidate, Lookup } from '../../src/core/dht-lookup';
import type { NodeContact } from '../../src/protocol/krpc';

/** A simulated network: every node answers with the 8 nodes of the whole network closest to the target. */
function network(ids: Buffer[]) {
  const nodes: NodeContact[] = ids.map((id, i) => ({ id, ip: '10.0.0.1', port: 1000 + i }));
  const closest = (target: Buffer, n = 8) =>
    [...nodes].sort((a, b) => compareDistance(a.id, b.id, target)).slice(0, n);
  return { nodes, closest };
}

/** Run a lookup to completion, answering every query (or failing the ones `dead` names). */
function run(l: Lookup, answer: (c: Candidate) => NodeContact[] | 'fail') {
  let rounds = 0;
  let maxInflight = 0;
  const inflight: Candidate[] = l.next();
  while (inflight.length > 0 && rounds++ < 1000) {
    maxInflight = Math.max(maxInflight, inflight.length);
    const c = inflight.shift()!;
    const a = answer(c);
    if (a === 'fail') l.failed(c);
    else l.answered(c, c.id, a);
    inflight.push(...l.next());
  }
  return { maxInflight };
}

const bytes20 = fc.uint8Array({ minLength: 20, maxLength: 20 }).map((u) => Buffer.from(u));

describe('iterative lookup', () => {
  test('finds the k closest nodes of the network, with α in flight and a bounded number of queries', () => {
    fc.assert(
      fc.property(
        fc.array(bytes20, { minLength: 20, maxLength: 300 }),
        bytes20,
        bytes20,
        (ids, target, own) => {
          const net = network(ids);
          const l = new Lookup(target, own);
          l.seed(net.closest(own, 8)); // our table knows the nodes near us
          const { maxInflight } = run(l, (c) =>
            net
              .closest(target)
              .filter((n) => !n.id.equals(c.id))
              .concat(net.closest(c.id)),
          );
          expect(l.done).toBe(true);
          expect(maxInflight).toBeLessThanOrEqual(3);
          const want = net.closest(target, 8).filter((n) => !n.id.equals(own));
          expect(l.closestAnswered(8).map((c) => c.id.toString('hex'))).toEqual(
            want.map((n) => n.id.toString('hex')),
          );
          expect(l.stats().queries).toBeLessThanOrEqual(128);
        },
      ),
      { numRuns: 60 },
    );
  });

  test('hops count the answer chain from our table', () => {
    // A chain 0x80.. → 0x40.. → … → 0x01.. → 00..01, each node knowing only the next, closer one.
    const chain = Array.from({ length: 8 }, (_, j) => {
      const id = Buffer.alloc(20);
      id[0] = 0x80 >> j;
      return { id, ip: '10.0.0.1', port: 100 + j };
    });
    const last = Buffer.alloc(20);
    last[19] = 1;
    chain.push({ id: last, ip: '10.0.0.1', port: 200 });
    const l = new Lookup(Buffer.alloc(20), Buffer.alloc(20, 0xff));
    l.seed([chain[0]]);
    run(l, (c) => {
      const i = chain.findIndex((n) => n.id.equals(c.id));
      return i + 1 < chain.length ? [chain[i + 1]] : [];
    });
    expect(l.done).toBe(true);
    expect(l.closestAnswered(1)[0].id).toEqual(last);
    expect(l.stats()).toMatchObject({ hops: 9, queries: 9, answers: 9 });
  });

  test('failed nodes do not count as results; the lookup ends when nothing is left to ask', () => {
    const net = network(Array.from({ length: 30 }, (_, i) => Buffer.alloc(20, i)));
    const l = new Lookup(Buffer.alloc(20, 3), Buffer.alloc(20, 0xee));
    l.seed(net.nodes.slice(0, 10));
    run(l, (c) => (c.id[0] % 2 === 0 ? 'fail' : net.closest(c.id)));
    expect(l.done).toBe(true);
    expect(l.closestAnswered(8).every((c) => c.id[0] % 2 === 1)).toBe(true);
    expect(l.stats().failures).toBeGreaterThan(0);
  });

  test('a slow node frees its slot; its late answer still counts', () => {
    const net = network(Array.from({ length: 30 }, (_, i) => Buffer.alloc(20, i)));
    const l = new Lookup(Buffer.alloc(20, 0), Buffer.alloc(20, 0xee));
    l.seed(net.nodes.slice(0, 10));
    const first = l.next();
    expect(first).toHaveLength(3);
    expect(l.next()).toHaveLength(0);
    l.slow(first[0]);
    expect(l.next()).toHaveLength(1);
    l.answered(first[0], first[0].id, []);
    expect(l.stats().answers).toBe(1);
  });

  test('routers are asked first and join the results under the id they answer with', () => {
    const own = Buffer.alloc(20, 0xee);
    const l = new Lookup(own, own);
    l.seedRouters([{ ip: '127.0.0.1', port: 6881 }]);
    const [router] = l.next();
    expect(router).toMatchObject({ router: true, port: 6881 });
    const real = Buffer.alloc(20, 7);
    l.answered(router, real, [{ id: Buffer.alloc(20, 8), ip: '127.0.0.1', port: 7000 }]);
    expect(l.next().map((c) => c.port)).toEqual([7000]);
    expect(l.closestAnswered(8)[0].id).toEqual(real);
  });

  test('nothing to ask: done at once; the candidate list is capped; answers to settled queries are ignored', () => {
    const empty = new Lookup(Buffer.alloc(20), Buffer.alloc(20, 1));
    expect(empty.next()).toEqual([]);
    expect(empty.done).toBe(true);
    const l = new Lookup(Buffer.alloc(20), Buffer.alloc(20, 1), { maxCandidates: 5 });
    l.seed(
      Array.from({ length: 50 }, (_, i) => ({ id: Buffer.alloc(20, i + 2), ip: '10.0.0.1', port: 10 + i })),
    );
    const picks = l.next();
    l.failed(picks[0]);
    l.answered(picks[0], picks[0].id, []); // late: already failed
    expect(l.stats()).toMatchObject({ answers: 0, failures: 1 });
    let sent = picks.length;
    for (let c = l.next(); c.length; c = l.next()) {
      sent += c.length;
      c.forEach((x) => l.failed(x));
      picks.slice(1).forEach((x) => l.failed(x));
    }
    expect(sent).toBeLessThanOrEqual(5);
  });
});
