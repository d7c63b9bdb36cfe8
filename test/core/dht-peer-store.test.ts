import { PeerStore } from '../../src/core/dht-peer-store';

const H1 = Buffer.alloc(20, 1);
const H2 = Buffer.alloc(20, 2);
const MIN = 60_000;

describe('DHT peer store', () => {
  test('stores announces for 30 minutes, most recent first; a re-announce refreshes', () => {
    const s = new PeerStore();
    expect(s.add(H1, { ip: '10.0.0.1', port: 1 }, 0)).toBe('added');
    expect(s.add(H1, { ip: '10.0.0.2', port: 2 }, 10 * MIN)).toBe('added');
    expect(s.get(H1, 10, 20 * MIN).map((p) => p.port)).toEqual([2, 1]);
    expect(s.get(H1, 10, 30 * MIN).map((p) => p.port)).toEqual([2]); // the first expired
    expect(s.add(H1, { ip: '10.0.0.1', port: 1 }, 31 * MIN)).toBe('refreshed');
    expect(s.get(H1, 10, 31 * MIN).map((p) => p.port)).toEqual([1, 2]);
    expect(s.get(H2, 10, 0)).toEqual([]);
    expect(s.get(H1, 1, 31 * MIN)).toHaveLength(1);
  });

  test('IPv6 peers keep their compact form; bad addresses are refused', () => {
    const s = new PeerStore();
    s.add(H1, { ip: '2001:db8::7', port: 6881 }, 0);
    expect(s.get(H1, 5, 1)).toEqual([{ ip: '2001:db8::7', port: 6881, compact: expect.any(String) }]);
    expect(s.add(H1, { ip: 'not-an-ip', port: 1 }, 0)).toBe('invalid');
    expect(s.add(H1, { ip: '1.1.1.1', port: 0 }, 0)).toBe('invalid');
  });

  test('capped per info-hash (the oldest makes room) and in total (new entries refused); sweep frees room', () => {
    const s = new PeerStore({ maxPerHash: 3, maxTotal: 5 });
    for (let i = 1; i <= 4; i++) s.add(H1, { ip: '10.0.0.1', port: i }, i);
    expect(s.get(H1, 10, 5).map((p) => p.port)).toEqual([4, 3, 2]);
    s.add(H2, { ip: '10.0.0.1', port: 10 }, 5);
    s.add(H2, { ip: '10.0.0.1', port: 11 }, 5);
    expect(s.size).toBe(5);
    expect(s.add(H2, { ip: '10.0.0.1', port: 12 }, 6)).toBe('full');
    expect(s.sweep(31 * MIN)).toBe(5);
    expect(s.size).toBe(0);
    expect(s.infoHashes).toBe(0);
    expect(s.add(H2, { ip: '10.0.0.1', port: 12 }, 31 * MIN)).toBe('added');
  });
});
