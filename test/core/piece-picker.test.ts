import fc from 'fast-check';
import { BLOCK_SIZE, BlockSpan, PiecePicker } from '../../src/core/piece-picker';

const B = BLOCK_SIZE;
const { imul } = Math; // a local binding: global lookups are slow in jest's vm context

/** Small seeded PRNG (mulberry32) so every tie-break is reproducible. */
function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = imul(t ^ (t >>> 15), t | 1);
    t ^= t + imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * libtorrent-style fixture: one character per piece. `avail` is how many peers have each piece (0-9);
 * `have` marks pieces we have with '*'. Pieces are 4 blocks (64 KiB). Random-first is off unless asked for.
 */
function setup(
  avail: string,
  have = '',
  opts: { seed?: number; randomFirstPieces?: number } = {},
): PiecePicker {
  const picker = new PiecePicker({
    pieceLength: 4 * B,
    length: avail.length * 4 * B,
    random: seeded(opts.seed ?? 1),
    randomFirstPieces: opts.randomFirstPieces ?? 0,
  });
  for (let i = 0; i < avail.length; i++) for (let k = 0; k < Number(avail[i]); k++) picker.peerHave(i);
  for (let i = 0; i < have.length; i++) if (have[i] === '*') picker.have(i);
  return picker;
}

/** A peer from a string fixture: '*' = has the piece. */
const peer = (s: string) => (i: number) => s[i] === '*';
const all = () => true;
const pieces = (spans: BlockSpan[]) => [...new Set(spans.map((s) => s.index))];
const block = (index: number, b: number, length = B): BlockSpan => ({ index, begin: b * B, length });

describe('PiecePicker geometry', () => {
  it('sizes the last piece and its last block (3 pieces + 1 byte)', () => {
    const p = new PiecePicker({ pieceLength: 4 * B, length: 3 * 4 * B + 1, random: seeded(1) });
    expect(p.pieceCount).toBe(4);
    expect(p.pieceSize(3)).toBe(1);
    expect(p.blocksInPiece(3)).toBe(1);
    expect(p.blockSpan(3, 0)).toEqual({ index: 3, begin: 0, length: 1 });
    p.peerHaveAll();
    const spans = p.pick(all, 100);
    expect(spans).toHaveLength(13);
    expect(spans.filter((s) => s.index === 3)).toEqual([{ index: 3, begin: 0, length: 1 }]);
    expect(spans.reduce((n, s) => n + s.length, 0)).toBe(3 * 4 * B + 1);
  });

  it('handles a piece length that is not a multiple of 16 KiB and a short last block', () => {
    const p = new PiecePicker({
      pieceLength: 2 * B + 100,
      length: 2 * (2 * B + 100) + B + 5,
      random: seeded(1),
    });
    expect(p.pieceCount).toBe(3);
    expect(p.blockSpan(0, 2)).toEqual({ index: 0, begin: 2 * B, length: 100 });
    expect(p.blockSpan(2, 1)).toEqual({ index: 2, begin: B, length: 5 });
    p.peerHaveAll();
    expect(p.pick(all, 100).reduce((n, s) => n + s.length, 0)).toBe(p.length);
  });

  it('checks a given pieceCount and rejects spans that are not blocks', () => {
    expect(() => new PiecePicker({ pieceLength: B, length: 3 * B, pieceCount: 4 })).toThrow(RangeError);
    const p = setup('11');
    expect(p.isValidBlock(block(0, 1))).toBe(true);
    expect(p.isValidBlock({ index: 0, begin: 100, length: B })).toBe(false);
    expect(p.isValidBlock({ index: 0, begin: 0, length: 10 })).toBe(false);
    expect(p.isValidBlock(block(2, 0))).toBe(false);
    expect(() => p.requested({ index: 0, begin: 1, length: B })).toThrow(RangeError);
    // Peer data never throws: a bogus PIECE is just not a block.
    expect(p.received({ index: 9, begin: 0, length: B })).toBe(false);
  });
});

describe('PiecePicker policy', () => {
  it('picks rarest first, whole pieces in block order', () => {
    const p = setup('2223333');
    const first = p.pick(all, 4);
    expect(pieces(first)).toHaveLength(1);
    expect([0, 1, 2]).toContain(first[0].index);
    expect(first.map((s) => s.begin)).toEqual([0, B, 2 * B, 3 * B]);
    expect(pieces(p.pick(all, 12)).sort()).toEqual([0, 1, 2]);
    expect(pieces(setup('3313').pick(all, 4))).toEqual([2]);
  });

  it('never picks a piece we have', () => {
    const p = setup('1111111', '* * * *');
    expect(pieces(p.pick(all, 100)).sort()).toEqual([1, 3, 5]);
    expect(p.missingCount()).toBe(3);
  });

  it('never picks a piece the peer lacks, whatever its form', () => {
    const p = setup('2222222');
    expect(pieces(p.pick(peer(' *  *  '), 100)).sort()).toEqual([1, 4]);
    expect(p.pick(peer('       '), 100)).toEqual([]);
    expect(pieces(p.pick(Buffer.from([0b00100000]), 100))).toEqual([2]); // BEP 3 bitfield bytes, MSB first
    expect(pieces(p.pick({ get: (i: number) => i === 6 }, 100))).toEqual([6]); // a BitSet-like object
  });

  it('prefers the rarest piece the peer has, not the rarest overall', () => {
    const p = setup('1234');
    expect(pieces(p.pick(peer('  **'), 4))).toEqual([2]);
  });

  it('breaks availability ties at random, reproducibly for a seed', () => {
    const firsts = new Set<number>();
    for (let seed = 1; seed <= 40; seed++) {
      const a = setup('2111112', '', { seed }).pick(all, 1)[0].index;
      const b = setup('2111112', '', { seed }).pick(all, 1)[0].index;
      expect(a).toBe(b);
      expect(a).not.toBe(0);
      expect(a).not.toBe(6);
      firsts.add(a);
    }
    expect([...firsts].sort()).toEqual([1, 2, 3, 4, 5]);
  });

  it('finishes partial pieces first, even common ones', () => {
    const p = setup('1119');
    p.requested(block(3, 0));
    p.received(block(3, 2));
    expect(p.piecesInProgress()).toEqual([3]);
    const spans = p.pick(all, 3);
    expect(spans.slice(0, 2)).toEqual([block(3, 1), block(3, 3)]);
    expect([0, 1, 2]).toContain(spans[2].index);
    // A partial piece the peer lacks is skipped.
    expect(pieces(p.pick(peer('*   '), 8))).toEqual([0]);
  });

  it('picks the first pieces at random, then rarest first once it has enough', () => {
    // Rarest-first would always start with piece 0; random-first starts anywhere.
    const firsts = new Set<number>();
    for (let seed = 1; seed <= 40; seed++) {
      firsts.add(setup('1999999', '', { seed, randomFirstPieces: 4 }).pick(all, 1)[0].index);
    }
    expect(firsts.size).toBeGreaterThan(3);
    for (let seed = 1; seed <= 10; seed++) {
      const p = setup('1999999', '', { seed, randomFirstPieces: 2 });
      p.have(5);
      p.have(6);
      expect(p.pick(all, 1)[0].index).toBe(0);
    }
  });

  it('does not pick requested or received blocks again; cancel and timeout free them', () => {
    const p = setup('1');
    p.requested(block(0, 0));
    p.requested(block(0, 1));
    p.received(block(0, 2));
    expect(p.pick(all, 10)).toEqual([block(0, 3)]);
    expect(p.unrequestedBlocks()).toBe(1);
    p.cancelled(block(0, 0));
    p.peerTimedOut(block(0, 1));
    expect(p.pick(all, 10)).toEqual([block(0, 0), block(0, 1), block(0, 3)]);
    expect(p.blockState(block(0, 2))).toBe('received');
    expect(p.blockState(block(0, 0))).toBe('free');
  });

  it('forgets a piece whose every request was cancelled (no progress kept)', () => {
    const p = setup('11');
    p.requested(block(1, 0));
    p.cancelled(block(1, 0));
    expect(p.piecesInProgress()).toEqual([]);
    expect(p.unrequestedBlocks()).toBe(8);
  });
});

describe('PiecePicker availability', () => {
  it('counts bitfields, haves, seeds and lost peers', () => {
    const p = setup('0000');
    p.peerBitfield(Buffer.from([0b11100000]));
    p.peerBitfield(peer('**  '));
    p.peerHave(0);
    expect([0, 1, 2, 3].map((i) => p.availability(i))).toEqual([3, 2, 1, 0]);
    p.peerHaveAll();
    expect([0, 1, 2, 3].map((i) => p.availability(i))).toEqual([4, 3, 2, 1]);
    expect(pieces(p.pick(all, 4))).toEqual([3]);
    p.peerLost('all');
    p.peerLost(Buffer.from([0b11100000]));
    expect([0, 1, 2, 3].map((i) => p.availability(i))).toEqual([2, 1, 0, 0]);
    p.peerLost(peer('****')); // more than was announced: clamps at zero
    expect([0, 1, 2, 3].map((i) => p.availability(i))).toEqual([1, 0, 0, 0]);
    expect(pieces(p.pick(peer('**  '), 4))).toEqual([1]);
  });

  it('keeps counting availability of pieces we have', () => {
    const p = setup('12', '*');
    p.peerHave(0);
    expect(p.availability(0)).toBe(2);
    expect(pieces(p.pick(all, 10))).toEqual([1]);
  });
});

describe('PiecePicker completion', () => {
  it('reports a piece complete once, then verified, with duplicates ignored', () => {
    const p = setup('1');
    const spans = p.pick(all, 4);
    spans.forEach((s) => p.requested(s));
    expect(spans.map((s) => p.received(s))).toEqual([false, false, false, true]);
    expect(p.received(spans[3])).toBe(false);
    expect(spans.map((s) => p.written(s))).toEqual([false, false, false, true]);
    p.pieceVerified(0);
    expect(p.isComplete()).toBe(true);
    expect(p.missingCount()).toBe(0);
    expect(p.received(spans[0])).toBe(false);
    expect(p.blockState(spans[0])).toBe('written');
  });

  it('returns every block of a failed piece to free', () => {
    const p = setup('11');
    const spans = p.pick(peer('*'), 4);
    spans.forEach((s) => p.requested(s));
    spans.forEach((s) => p.received(s));
    expect(p.unrequestedBlocks()).toBe(4);
    p.pieceFailed(0);
    expect(p.unrequestedBlocks()).toBe(8);
    expect(p.piecesInProgress()).toEqual([]);
    expect(p.pick(peer('*'), 10)).toEqual(spans);
    expect(p.isComplete()).toBe(false);
  });

  it('accepts a block that arrives after its request was cancelled', () => {
    const p = setup('1');
    p.requested(block(0, 0));
    p.cancelled(block(0, 0));
    expect(p.received(block(0, 0))).toBe(false);
    expect(p.pick(all, 10)).toEqual([block(0, 1), block(0, 2), block(0, 3)]);
  });
});

describe('PiecePicker endgame', () => {
  it('offers requested-but-not-received blocks only with endgame, least duplicated first', () => {
    const p = setup('11');
    const spans = p.pick(all, 8);
    spans.forEach((s) => p.requested(s));
    p.requested(spans[0]); // already duplicated once
    p.received(spans[1]);
    expect(p.pick(all, 8)).toEqual([]);
    expect(p.unrequestedBlocks()).toBe(0);
    const dup = p.pick(all, 8, { endgame: true });
    expect(dup).toHaveLength(7);
    expect(dup).not.toContainEqual(spans[1]);
    expect(dup[dup.length - 1]).toEqual(spans[0]);
    expect(p.requestedBlocksNotReceived()).toHaveLength(7);
    expect(p.requestCount(spans[0])).toBe(2);
  });

  it('excludes blocks already requested from this peer and pieces it lacks', () => {
    const p = setup('11');
    const spans = p.pick(all, 8);
    spans.forEach((s) => p.requested(s));
    const mine = new Set(spans.slice(0, 6).map((s) => p.blockKey(s)));
    expect(p.pick(all, 8, { endgame: true, exclude: mine })).toEqual(spans.slice(6));
    const only = spans[0].index;
    expect(pieces(p.pick(peer(only === 0 ? '*' : ' *'), 8, { endgame: true }))).toEqual([only]);
  });

  it('prefers free blocks before duplicates', () => {
    const p = setup('11');
    p.requested(block(0, 0));
    expect(p.pick(all, 7, { endgame: true })).not.toContainEqual(block(0, 0));
    expect(p.pick(all, 8, { endgame: true })[7]).toEqual(block(0, 0));
  });
});

describe('PiecePicker properties', () => {
  it('picking and receiving repeatedly completes every piece exactly once', () => {
    fc.assert(
      fc.property(
        fc.record({
          seed: fc.integer(),
          pieceLength: fc.constantFrom(B, 2 * B, 3 * B + 7, 4 * B),
          pieceCount: fc.integer({ min: 1, max: 24 }),
          tail: fc.integer({ min: 0, max: 4 * B }),
          peers: fc.array(fc.array(fc.boolean(), { minLength: 24, maxLength: 24 }), {
            minLength: 0,
            maxLength: 4,
          }),
          n: fc.integer({ min: 1, max: 9 }),
          failFirst: fc.integer({ min: 0, max: 3 }),
        }),
        ({ seed, pieceLength, pieceCount, tail, peers, n, failFirst }) => {
          const length = (pieceCount - 1) * pieceLength + Math.max(1, Math.min(tail, pieceLength));
          const rnd = seeded(seed);
          const p = new PiecePicker({ pieceLength, length, random: rnd });
          p.peerHaveAll(); // one seed so every piece is available
          peers.forEach((bits) => p.peerBitfield((i) => bits[i]));
          const has: ((i: number) => boolean)[] = [all, ...peers.map((bits) => (i: number) => bits[i])];
          const verified = new Array<number>(p.pieceCount).fill(0);
          let inFlight: BlockSpan[] = [];
          let completions = 0;
          for (let round = 0; round < 10_000 && !p.isComplete(); round++) {
            const who = Math.floor(rnd() * has.length);
            for (const s of p.pick(has[who], n, { endgame: rnd() < 0.2 })) {
              expect(has[who](s.index)).toBe(true);
              expect(p.hasPiece(s.index)).toBe(false);
              p.requested(s);
              inFlight.push(s);
            }
            const next: BlockSpan[] = [];
            for (const s of inFlight) {
              const r = rnd();
              if (r < 0.15) p.cancelled(s);
              else if (r < 0.3) next.push(s);
              else if (p.received(s)) {
                completions++;
                if (completions <= failFirst)
                  p.pieceFailed(s.index); // a bad piece is fetched again
                else {
                  p.pieceVerified(s.index);
                  verified[s.index]++;
                }
              }
            }
            inFlight = next;
          }
          expect(p.isComplete()).toBe(true);
          expect(verified).toEqual(new Array(p.pieceCount).fill(1));
          expect(p.unrequestedBlocks()).toBe(0);
          expect(p.piecesInProgress()).toEqual([]);
        },
      ),
      { numRuns: 60 },
    );
  });

  it('always picks a piece of minimal availability among those it may start', () => {
    type Op = { kind: 'have' | 'lost' | 'mine'; piece: number };
    fc.assert(
      fc.property(
        fc.integer(),
        fc.array(
          fc.record({ kind: fc.constantFrom<Op['kind']>('have', 'have', 'lost', 'mine'), piece: fc.nat(15) }),
          { maxLength: 80 },
        ),
        (seed, ops) => {
          const p = new PiecePicker({
            pieceLength: B,
            length: 16 * B,
            random: seeded(seed),
            randomFirstPieces: 0,
          });
          const count = new Array<number>(16).fill(0);
          for (const op of ops) {
            if (op.kind === 'have') {
              p.peerHave(op.piece);
              count[op.piece]++;
            } else if (op.kind === 'lost' && count[op.piece] > 0) {
              p.peerLost((i) => i === op.piece);
              count[op.piece]--;
            } else if (op.kind === 'mine') p.have(op.piece);
            const missing = count.map((c, i) => (p.hasPiece(i) ? Infinity : c));
            const min = Math.min(...missing);
            const picked = p.pick(all, 1);
            if (min === Infinity) expect(picked).toEqual([]);
            else expect(missing[picked[0].index]).toBe(min);
          }
          expect(count.map((_, i) => p.availability(i))).toEqual(count);
        },
      ),
      { numRuns: 200 },
    );
  });
});

describe('PiecePicker scale', () => {
  it('serves thousands of picks over 10k pieces and 50 peers quickly', () => {
    const rnd = seeded(7);
    const pieceCount = 10_000;
    const p = new PiecePicker({ pieceLength: 32 * B, length: pieceCount * 32 * B, random: rnd });
    const peers = Array.from({ length: 50 }, () => {
      const bits = new Uint8Array(Math.ceil(pieceCount / 8));
      for (let i = 0; i < pieceCount; i++) if (rnd() < 0.7) bits[i >> 3] |= 0x80 >> (i & 7);
      return bits;
    });
    const t0 = performance.now();
    peers.forEach((bits) => p.peerBitfield(bits));
    for (let round = 0; round < 5000; round++) {
      for (const s of p.pick(peers[round % 50], 8)) {
        p.requested(s);
        if (p.received(s)) p.pieceVerified(s.index);
      }
    }
    const ms = performance.now() - t0;
    expect(p.haveCount()).toBeGreaterThan(1000);
    expect(ms).toBeLessThan(1500);
  });
});
