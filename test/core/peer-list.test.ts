import { PeerList, REDIAL_BASE_MS, REDIAL_MAX_MS } from '../../src/core/peer-list';

const list = () => new PeerList({ localAddresses: new Set(['127.0.0.1']), isSelf: () => false });
const KEY = '10.0.0.2:6881';

/** Dial KEY at `now` if it is a candidate; returns whether it was. */
function dial(l: PeerList, now: number): boolean {
  const c = l.candidates(now, 1, false);
  if (c.length === 0) return false;
  l.connecting(c[0].key);
  l.connected(c[0].key);
  return true;
}

describe('PeerList redial back-off', () => {
  it('backs off a peer that keeps ending connections with nothing exchanged (5 s, 10 s, 20 s, then 30 s)', () => {
    const l = list();
    l.learn([{ ip: '10.0.0.2', port: 6881 }], 'manual', 0);
    let now = 0;
    const waits: number[] = [];
    for (let i = 0; i < 5; i++) {
      expect(dial(l, now)).toBe(true);
      l.disconnected(KEY, false, now);
      const start = now;
      while (l.candidates(now, 1, false).length === 0) now += 1000;
      waits.push(now - start);
    }
    expect(waits).toEqual([
      REDIAL_BASE_MS,
      2 * REDIAL_BASE_MS,
      4 * REDIAL_BASE_MS,
      REDIAL_MAX_MS,
      REDIAL_MAX_MS,
    ]);
  });

  it('redials at once after a connection that carried payload, and forgives the failures', () => {
    const l = list();
    l.learn([{ ip: '10.0.0.2', port: 6881 }], 'manual', 0);
    expect(dial(l, 0)).toBe(true);
    l.disconnected(KEY, false, 0); // refused once: back off
    expect(dial(l, 1000)).toBe(false);
    expect(dial(l, REDIAL_BASE_MS)).toBe(true);
    l.disconnected(KEY, false); // a session with payload ended
    expect(dial(l, REDIAL_BASE_MS)).toBe(true);
    l.disconnected(KEY, false, REDIAL_BASE_MS); // refused again: the first back-off, not a longer one
    expect(dial(l, 2 * REDIAL_BASE_MS - 1)).toBe(false);
    expect(dial(l, 2 * REDIAL_BASE_MS)).toBe(true);
  });
});
