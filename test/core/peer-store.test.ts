import { PeerStore, PeerFields } from '../../src/core/peer-store';
import { ipToBytes } from '../../src/protocol/ip-bytes';

/** A small deterministic random source (mulberry32). */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Peer n's fields; `moved` gives it an address of the other family (a client that changed networks). */
const fields = (n: number, left: number | undefined, moved = false): PeerFields => {
  const ip = ipToBytes(
    (n % 3 === 0) !== moved ? `2001:db8::${(n % 65535).toString(16)}` : `10.0.${(n >> 8) & 255}.${n & 255}`,
  )!;
  return {
    addr: ip.addr,
    v6: ip.v6,
    port: 1 + (n % 60000),
    left,
    uploaded: n,
    downloaded: 2 * n,
    keyHash: undefined,
  };
};
const id = (n: number): Buffer => {
  const b = Buffer.alloc(20, 0x2d);
  b.writeUInt32BE(n, 16); // ids share a long common prefix, as real clients' do
  return b;
};

describe('packed peer store', () => {
  it('agrees with a Map model through 20,000 random inserts, updates and removals', () => {
    const random = rng(7);
    const store = new PeerStore(0);
    const swarms = ['aa', 'bb', 'cc', 'dd'].map((h) => store.addSwarm(h.repeat(20)));
    const model = new Map<string, { s: number; n: number; left: number | undefined; moved: boolean }>();
    for (let step = 0; step < 20_000; step++) {
      const s = swarms[Math.floor(random() * swarms.length)];
      const n = Math.floor(random() * 600);
      const key = `${s}/${n}`;
      const rec = store.find(s, id(n));
      expect(rec >= 0).toBe(model.has(key));
      if (random() < 0.35 && rec >= 0) {
        store.remove(rec);
        model.delete(key);
      } else {
        const left = random() < 0.3 ? 0 : random() < 0.1 ? undefined : Math.floor(random() * 1e6);
        const moved = random() < 0.1;
        if (rec >= 0) store.update(rec, fields(n, left, moved), step);
        else store.insert(s, id(n), fields(n, left, moved), step);
        model.set(key, { s, n, left, moved });
      }
    }
    expect(store.peers).toBe(model.size);
    expect(store.seeders).toBe([...model.values()].filter((v) => v.left === 0).length);
    for (const { s, n, left, moved } of model.values()) {
      const r = store.find(s, id(n));
      expect(r).toBeGreaterThanOrEqual(0);
      expect(store.left(r)).toBe(left);
      const f = fields(n, left, moved);
      expect(store.addr(r)).toEqual(f.addr);
      expect(store.isV6(r)).toBe(f.v6);
      expect(store.sameAddress(r, f.addr, f.v6)).toBe(true);
      expect(store.isSeed(r)).toBe(left === 0);
      expect(store.port(r)).toBe(1 + (n % 60000));
      expect(store.peerId(r)).toEqual(id(n));
    }
    for (const s of swarms) {
      const members = store.members(s);
      expect(members.length).toBe([...model.values()].filter((v) => v.s === s).length);
      expect(new Set(members).size).toBe(members.length);
      for (const r of members) expect(store.swarmIndexOf(r)).toBe(s);
    }
  });

  it('picks from a random start, skipping the asker, seeds for a seed, and the other family when asked', () => {
    const store = new PeerStore(0);
    const s = store.addSwarm('ab'.repeat(20));
    const recs = Array.from({ length: 9 }, (_, n) => store.insert(s, id(n), fields(n, n < 3 ? 0 : 50), 0));
    const pick = (forSeed: boolean, family: 0 | 4 | 6, skip: number): number[] => {
      const out: number[] = [];
      store.pick(s, 50, forSeed, family, 0.5, skip, out);
      return out;
    };
    expect(pick(false, 0, recs[4]).sort()).toEqual(recs.filter((r) => r !== recs[4]).sort());
    expect(pick(true, 0, -1).every((r) => !store.isSeed(r))).toBe(true);
    expect(pick(false, 6, -1).sort()).toEqual([recs[0], recs[3], recs[6]].sort());
    expect(pick(false, 4, -1)).toHaveLength(6);
  });

  it('writes the chosen peers as compact lists, IPv4 then IPv6, with their ids in that order', () => {
    const store = new PeerStore(0);
    const s = store.addSwarm('cd'.repeat(20));
    const recs = Array.from({ length: 9 }, (_, n) => store.insert(s, id(n), fields(n, 50), 0));
    const chosen: number[] = [];
    store.pick(s, 5, false, 0, 0.3, recs[2], chosen);
    const got = store.pickCompact(s, 5, false, 0, 0.3, recs[2], true);
    const v4 = chosen.filter((r) => !store.isV6(r));
    const v6 = chosen.filter((r) => store.isV6(r));
    const compact = (r: number, n: number): Buffer => {
      const b = Buffer.alloc(n + 2);
      store.addr(r).copy(b, 0, 16 - n);
      b.writeUInt16BE(store.port(r), n);
      return b;
    };
    expect(got.peers4).toEqual(Buffer.concat(v4.map((r) => compact(r, 4))));
    expect(got.peers6).toEqual(Buffer.concat(v6.map((r) => compact(r, 16))));
    expect(got.peerIds).toEqual(Buffer.concat([...v4, ...v6].map((r) => store.peerId(r))));
    expect(store.pickCompact(s, 5, false, 0, 0.3, recs[2], false).peerIds).toBeUndefined();
  });

  it('holds 50,000 peers in 1,000 swarms in under 100 bytes a peer', () => {
    const store = new PeerStore(0);
    for (let t = 0; t < 1000; t++) store.addSwarm(t.toString(16).padStart(40, '0'));
    for (let n = 0; n < 50_000; n++) store.insert(n % 1000, id(n), fields(n, 100), 0);
    expect(store.footprint() / 50_000).toBeLessThan(100);
  });
});
