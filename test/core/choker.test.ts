import { chokeRound, ChokerPeer, OptimisticState } from '../../src/core/choker';

const peer = (id: string, downloadRate: number, extra: Partial<ChokerPeer> = {}): ChokerPeer => ({
  id,
  interested: true,
  downloadRate,
  uploadRate: 0,
  ...extra,
});

/** A random source that replays fixed values. */
const replay =
  (...values: number[]) =>
  () =>
    values.length > 1 ? values.shift()! : values[0];

describe('chokeRound', () => {
  const swarm = [peer('a', 10), peer('b', 50), peer('c', 30), peer('d', 40), peer('e', 20), peer('f', 5)];

  it('unchokes the three fastest uploaders to us plus one optimistic peer while leeching', () => {
    const d = chokeRound(swarm, { seeding: false, now: 0, random: replay(0) });
    expect(d.unchoke.slice(0, 3)).toEqual(['b', 'd', 'c']);
    expect(d.optimistic).toEqual({ peer: 'a', since: 0 }); // random 0 → first choked candidate in input order
    expect(d.unchoke).toEqual(['b', 'd', 'c', 'a']);
    expect(d.choke).toEqual(['e', 'f']);
  });

  it('ranks by upload rate to them while seeding, and ignores snubbing', () => {
    const peers = [
      peer('a', 0, { uploadRate: 1 }),
      peer('b', 0, { uploadRate: 9, snubbed: true }),
      peer('c', 0, { uploadRate: 5 }),
      peer('d', 0, { uploadRate: 3 }),
      peer('e', 0, { uploadRate: 4 }),
    ];
    const d = chokeRound(peers, { seeding: true, now: 0, random: replay(0.99) });
    expect(d.unchoke).toEqual(['b', 'c', 'e', 'd']); // candidates a, d: random 0.99 → d
    expect(d.choke).toEqual(['a']);
  });

  it('never unchokes uninterested peers; snubbed peers only get the optimistic slot', () => {
    const peers = [
      peer('fast-but-uninterested', 999, { interested: false }),
      peer('snub', 500, { snubbed: true }),
      peer('x', 1),
      peer('y', 2),
    ];
    const d = chokeRound(peers, { seeding: false, now: 0, random: replay(0) });
    expect(d.unchoke).toEqual(['y', 'x', 'snub']);
    expect(d.choke).toEqual(['fast-but-uninterested']);
  });

  it('unchokes everyone interested when there are fewer than slots', () => {
    const d = chokeRound([peer('a', 1), peer('b', 2)], { seeding: false, now: 0, random: replay(0.5) });
    expect(d.unchoke.sort()).toEqual(['a', 'b']);
    expect(d.choke).toEqual([]);
    expect(d.optimistic.peer).toBeNull();
  });

  it('honours the slot count (one slot: optimistic only)', () => {
    expect(chokeRound(swarm, { seeding: false, now: 0, slots: 6, random: replay(0) }).unchoke).toHaveLength(
      6,
    );
    const one = chokeRound(swarm, { seeding: false, now: 0, slots: 1, random: replay(0.99) });
    expect(one.unchoke).toEqual(['f']);
  });

  it('keeps the optimistic peer for three 10 s rounds, then rotates', () => {
    let optimistic: OptimisticState | undefined;
    const chosen: (string | null)[] = [];
    const random = replay(0, 0.5, 0.99);
    for (let now = 0; now <= 60_000; now += 10_000) {
      const d = chokeRound(swarm, { seeding: false, now, optimistic, random });
      optimistic = d.optimistic;
      chosen.push(optimistic.peer);
    }
    // candidates are a, e, f (choked, interested): index 0 → a, 0.5 → e, 0.99 → f.
    expect(chosen).toEqual(['a', 'a', 'a', 'e', 'e', 'e', 'f']);
  });

  it('replaces the optimistic peer early when it leaves, loses interest or earns a regular slot', () => {
    const first = chokeRound(swarm, { seeding: false, now: 0, random: replay(0) });
    expect(first.optimistic.peer).toBe('a');
    const gone = chokeRound(
      swarm.filter((p) => p.id !== 'a'),
      { seeding: false, now: 10_000, optimistic: first.optimistic, random: replay(0) },
    );
    expect(gone.optimistic).toEqual({ peer: 'e', since: 10_000 });
    const bored = swarm.map((p) => (p.id === 'a' ? { ...p, interested: false } : p));
    expect(
      chokeRound(bored, { seeding: false, now: 10_000, optimistic: first.optimistic, random: replay(0) })
        .optimistic.peer,
    ).toBe('e');
    const promoted = swarm.map((p) => (p.id === 'a' ? { ...p, downloadRate: 1000 } : p));
    const d = chokeRound(promoted, {
      seeding: false,
      now: 10_000,
      optimistic: first.optimistic,
      random: replay(0),
    });
    expect(d.unchoke).toEqual(['a', 'b', 'd', 'c']); // c lost its regular slot to a: now first candidate
  });

  it('chooses the optimistic peer uniformly through the injected random', () => {
    const seen = new Set<string | null>();
    for (let k = 0; k < 3; k++)
      seen.add(chokeRound(swarm, { seeding: false, now: 0, random: () => k / 3 }).optimistic.peer);
    expect([...seen].sort()).toEqual(['a', 'e', 'f']);
    expect(chokeRound(swarm, { seeding: false, now: 0, random: () => 1 }).optimistic.peer).toBe('f'); // robust to 1
  });

  it('is pure: same input, same output, input untouched', () => {
    const copy = JSON.parse(JSON.stringify(swarm));
    const a = chokeRound(swarm, { seeding: false, now: 0, random: replay(0.3) });
    const b = chokeRound(swarm, { seeding: false, now: 0, random: replay(0.3) });
    expect(a).toEqual(b);
    expect(swarm).toEqual(copy);
  });
});
