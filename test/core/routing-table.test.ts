import fc from 'fast-check';
import { bitAt, commonPrefixBits, compareDistance, randomIdWithPrefix } from '../../src/core/dht-id';
import { GOOD_WINDOW_MS, RoutingTable } from '../../src/core/routing-table';

const OWN = Buffer.alloc(20, 0);
const MIN = 60_000;

/** An id sharing exactly `bits` leading bits with OWN (all zero); `tail` fills the bits after those. */
function idAt(bits: number, tail: number): Buffer {
  const id = Buffer.alloc(20, 0);
  id.writeUInt32BE(tail, 16);
  for (let i = 0; i < bits; i++) id[i >> 3] &= ~(0x80 >> (i & 7));
  id[bits >> 3] |= 0x80 >> (bits & 7);
  return id;
}
const contact = (id: Buffer, n: number, ip = `10.0.${n >> 8}.${n & 255}`) => ({ id, ip, port: 6881 });
const randomBytes = (n: number): Buffer => Buffer.alloc(n, 0xa5);

describe('dht ids', () => {
  test('common prefix, distance order and bits', () => {
    expect(commonPrefixBits(OWN, OWN)).toBe(160);
    expect(commonPrefixBits(OWN, idAt(0, 0))).toBe(0);
    expect(commonPrefixBits(OWN, idAt(13, 0))).toBe(13);
    expect(compareDistance(idAt(20, 0), idAt(3, 0), OWN)).toBeLessThan(0);
    expect(bitAt(idAt(9, 0), 9)).toBe(1);
  });

  test('random ids inside a bucket range', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 20, maxLength: 20 }),
        fc.uint8Array({ minLength: 20, maxLength: 20 }),
        fc.integer({ min: 0, max: 159 }),
        (p, r, bits) => {
          const prefix = Buffer.from(p);
          const exact = randomIdWithPrefix(prefix, bits, () => Buffer.from(r));
          expect(commonPrefixBits(exact, prefix)).toBe(bits);
          const atLeast = randomIdWithPrefix(prefix, bits, () => Buffer.from(r), false);
          expect(commonPrefixBits(atLeast, prefix)).toBeGreaterThanOrEqual(bits);
        },
      ),
    );
  });
});

describe('routing table', () => {
  test('buckets of 8 split around our own id; far buckets keep newcomers as replacements', () => {
    const t = new RoutingTable(OWN);
    for (let i = 0; i < 8; i++)
      expect(t.observe(contact(idAt(0, i), i), 'responded', 0).outcome).toBe('added');
    // The ninth far node splits the only bucket; bucket 0 (far half) stays full, so it is a replacement.
    const r = t.observe(contact(idAt(0, 99), 99), 'responded', 1);
    expect(r.outcome).toBe('replacement');
    expect(t.bucketCount).toBe(2);
    // Nodes nearer our id go to the last bucket, which keeps splitting.
    for (let i = 0; i < 8; i++)
      expect(t.observe(contact(idAt(5, i), 100 + i), 'responded', 2).outcome).toBe('added');
    expect(t.observe(contact(idAt(7, 1), 200), 'responded', 3).outcome).toBe('added');
    expect(t.bucketCount).toBeGreaterThan(2);
    expect(t.size).toBe(17);
    expect(t.stats(3)).toMatchObject({ nodes: 17, good: 17, replacements: 1 });
  });

  test('good, questionable and bad by the 15-minute rules', () => {
    const t = new RoutingTable(OWN);
    const id = idAt(0, 1);
    t.observe(contact(id, 1), 'queried', 0);
    const status = (at: number) => t.status(t.get(id)!, at); // snapshots: read again after each change
    expect(status(0)).toBe('questionable'); // has never answered us
    t.observe(contact(id, 1), 'responded', 0);
    expect(status(GOOD_WINDOW_MS - 1)).toBe('good');
    expect(status(GOOD_WINDOW_MS)).toBe('questionable');
    t.observe(contact(id, 1), 'queried', 20 * MIN); // answered once, queried us recently
    expect(status(21 * MIN)).toBe('good');
    t.failed(id, 22 * MIN);
    expect(status(22 * MIN)).toBe('good');
    t.failed(id, 23 * MIN);
    expect(status(23 * MIN)).toBe('bad');
    t.observe(contact(id, 1), 'responded', 24 * MIN);
    expect(status(24 * MIN)).toBe('good');
  });

  test('a full bucket names its least recently seen questionable node; when it fails twice a replacement takes over', () => {
    const t = new RoutingTable(OWN);
    for (let i = 0; i < 8; i++) t.observe(contact(idAt(0, i), i), 'responded', i);
    t.observe(contact(idAt(1, 0), 50), 'responded', 10); // split: bucket 0 = the 8 far nodes
    const later = 20 * MIN; // everyone is questionable now
    const r = t.observe(contact(idAt(0, 42), 42), 'responded', later);
    expect(r.outcome).toBe('replacement');
    expect(r.ping?.id).toEqual(idAt(0, 0)); // seen longest ago
    // Named once; a second newcomer right after names the next oldest, not the same one again.
    expect(t.observe(contact(idAt(0, 43), 43), 'queried', later).ping?.id).toEqual(idAt(0, 1));
    t.failed(idAt(0, 0), later + 1);
    expect(t.get(idAt(0, 0))).toBeDefined();
    t.failed(idAt(0, 0), later + 2);
    expect(t.get(idAt(0, 0))).toBeUndefined();
    expect(t.get(idAt(0, 42))).toBeDefined(); // the replacement that answered us wins over the one that only queried
    expect(t.get(idAt(0, 43))).toBeUndefined();
  });

  test('a bad node is replaced by a newcomer that queried or answered us, never by one we only heard of', () => {
    const t = new RoutingTable(OWN);
    for (let i = 0; i < 8; i++) t.observe(contact(idAt(0, i), i), 'responded', 0);
    t.observe(contact(idAt(1, 0), 50), 'responded', 0);
    t.failed(idAt(0, 3), 1);
    t.failed(idAt(0, 3), 2);
    // Only heard of: takes no one's place, not even a bad node's, and waits nowhere.
    expect(t.observe(contact(idAt(0, 78), 78), 'heard', 3)).toEqual({ outcome: 'ignored' });
    expect(t.observe(contact(idAt(0, 77), 77), 'queried', 3).outcome).toBe('added');
    expect(t.get(idAt(0, 3))).toBeUndefined();
    expect(t.stats(3).replacements).toBe(0);
  });

  test('one node per public IP; loopback is exempt', () => {
    const t = new RoutingTable(OWN);
    expect(t.observe(contact(idAt(0, 1), 0, '1.2.3.4'), 'responded', 0).outcome).toBe('added');
    expect(t.observe(contact(idAt(0, 2), 0, '1.2.3.4'), 'responded', 0).outcome).toBe('ignored');
    expect(t.observe(contact(idAt(0, 3), 0, '127.0.0.1'), 'responded', 0).outcome).toBe('added');
    expect(t.observe(contact(idAt(0, 4), 0, '127.0.0.1'), 'responded', 0).outcome).toBe('added');
    const open = new RoutingTable(OWN, { onePerIp: false });
    open.observe(contact(idAt(0, 1), 0, '1.2.3.4'), 'responded', 0);
    expect(open.observe(contact(idAt(0, 2), 0, '1.2.3.4'), 'responded', 0).outcome).toBe('added');
  });

  test('a known id claimed from another address is ignored unless the old address went bad', () => {
    const t = new RoutingTable(OWN);
    const id = idAt(0, 1);
    t.observe(contact(id, 1, '1.1.1.1'), 'responded', 0);
    expect(t.observe(contact(id, 1, '2.2.2.2'), 'responded', 1).outcome).toBe('ignored');
    t.failed(id, 2);
    t.failed(id, 3);
    expect(t.observe(contact(id, 1, '2.2.2.2'), 'heard', 4).outcome).toBe('ignored'); // only the node itself
    expect(t.observe(contact(id, 1, '2.2.2.2'), 'responded', 5).outcome).toBe('updated');
    expect(t.get(id)).toMatchObject({ ip: '2.2.2.2', failures: 0 });
  });

  test('our own id, port 0 and unspecified addresses never enter', () => {
    const t = new RoutingTable(OWN);
    expect(t.observe({ id: OWN, ip: '1.1.1.1', port: 1 }, 'responded', 0).outcome).toBe('ignored');
    expect(t.observe({ id: idAt(0, 1), ip: '1.1.1.1', port: 0 }, 'responded', 0).outcome).toBe('ignored');
    expect(t.observe({ id: idAt(0, 1), ip: '0.0.0.0', port: 1 }, 'responded', 0).outcome).toBe('ignored');
    expect(t.observe({ id: idAt(0, 1), ip: 'example.com', port: 1 }, 'responded', 0).outcome).toBe('ignored');
  });

  test('closest: the k nearest by XOR, bad nodes never, unverified ones only on request', () => {
    fc.assert(
      fc.property(
        fc.array(fc.uint8Array({ minLength: 20, maxLength: 20 }), { minLength: 1, maxLength: 120 }),
        fc.uint8Array({ minLength: 20, maxLength: 20 }),
        (ids, tgt) => {
          const t = new RoutingTable(OWN, { onePerIp: false });
          ids.forEach((raw, i) => t.observe(contact(Buffer.from(raw), i), 'responded', 0));
          const target = Buffer.from(tgt);
          const all = [...t.nodes()].sort((a, b) => compareDistance(a.id, b.id, target));
          expect(t.closest(target, 8, 0).map((n) => n.id)).toEqual(all.slice(0, 8).map((n) => n.id));
        },
      ),
      { numRuns: 200 },
    );
    const t = new RoutingTable(OWN);
    t.observe(contact(idAt(0, 1), 1), 'heard', 0);
    t.observe(contact(idAt(0, 2), 2), 'responded', 0);
    t.observe(contact(idAt(0, 3), 3), 'responded', 0);
    t.failed(idAt(0, 3), 0);
    t.failed(idAt(0, 3), 0);
    expect(t.closest(OWN, 8, 0).map((n) => n.port && n.ip)).toEqual(['10.0.0.2']);
    expect(t.closest(OWN, 8, 0, { unverified: true })).toHaveLength(2);
  });

  test('stale buckets yield refresh targets inside their range, once per window', () => {
    const t = new RoutingTable(OWN, {}, 0);
    for (let i = 0; i < 9; i++) t.observe(contact(idAt(i % 2, i), i), 'responded', 0);
    expect(t.refreshTargets(GOOD_WINDOW_MS - 1, randomBytes)).toEqual([]);
    const targets = t.refreshTargets(GOOD_WINDOW_MS, randomBytes);
    expect(targets).toHaveLength(t.bucketCount);
    expect(commonPrefixBits(targets[0], OWN)).toBe(0);
    expect(commonPrefixBits(targets[targets.length - 1], OWN)).toBeGreaterThanOrEqual(t.bucketCount - 1);
    expect(t.refreshTargets(GOOD_WINDOW_MS + 1, randomBytes)).toEqual([]);
  });

  test('a flood of fake nodes aimed at every bucket stays bounded', () => {
    const t = new RoutingTable(OWN);
    let n = 0;
    for (let bits = 0; bits < 160; bits++)
      for (let i = 0; i < 40; i++) t.observe(contact(idAt(bits, i), n++, '127.0.0.1'), 'heard', n);
    const s = t.stats(n);
    expect(s.buckets).toBeLessThanOrEqual(160);
    expect(s.nodes).toBeLessThanOrEqual(160 * 8);
    expect(s.replacements).toBeLessThanOrEqual(160 * 4); // k / 2 spares per bucket
  });

  test('save and restore: nodes come back questionable, answering ones first, garbage skipped', () => {
    const t = new RoutingTable(OWN);
    t.observe(contact(idAt(0, 1), 1), 'heard', 0);
    t.observe(contact(idAt(1, 2), 2), 'responded', 0);
    const saved = t.save(0);
    expect(saved.map((s) => s.verified)).toEqual([true, false]);
    const u = new RoutingTable(OWN);
    const garbage = [
      { id: 'zz', ip: '1.1.1.1', port: 1, verified: true },
      { id: '00'.repeat(20), ip: 'x', port: 1, verified: true },
    ];
    expect(u.restore([...saved, ...garbage], 100)).toBe(2);
    expect(u.get(idAt(1, 2))).toMatchObject({ verified: true, lastResponse: -Infinity });
    expect(u.status(u.get(idAt(1, 2))!, 100)).toBe('questionable');
    expect(u.closest(OWN, 8, 100)).toHaveLength(1); // the verified one is offered to others
  });
});
