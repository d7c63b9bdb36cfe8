import { PiecePicker } from '../../src/core/piece-picker';
import { Scheduler } from '../../src/core/scheduler';
import { BitSet } from '../../src/protocol/wire-codec';

const KIB = 1024;

/** A torrent of `pieces` pieces of 32 KiB (two blocks each), last piece 16 KiB + 1 byte over. */
function setup(pieces: number, maxPiecesInProgress = 100) {
  let seed = 7;
  const random = () => (seed = (seed * 16807) % 2147483647) / 2147483647;
  const picker = new PiecePicker({
    pieceLength: 32 * KIB,
    length: (pieces - 1) * 32 * KIB + 16 * KIB + 1,
    random,
  });
  return new Scheduler(picker, { maxPiecesInProgress, initialDepth: 4 });
}

const bits = (pattern: string): BitSet => {
  const b = BitSet.empty(pattern.length);
  [...pattern].forEach((c, i) => c === '*' && b.set(i));
  return b;
};

describe('Scheduler', () => {
  it('asks a peer only for pieces it has, within its credit, and only once unchoked', () => {
    const s = setup(4);
    s.addPeer('a');
    s.peerBitfield('a', bits('*  *'));
    expect(s.isInteresting('a')).toBe(true);
    expect(s.fill('a', 0)).toEqual([]); // choked
    s.peerUnchoked('a');
    const spans = s.fill('a', 0);
    expect(spans).toHaveLength(4);
    expect(new Set(spans.map((x) => x.index))).toEqual(new Set([0, 3]));
    expect(s.fill('a', 0)).toEqual([]); // no credit left
    expect(s.outstandingCount('a')).toBe(4);
  });

  it('completes pieces, ignores blocks it never asked for, and loses interest when done', () => {
    const s = setup(2);
    s.addPeer('a');
    s.peerHaveAll('a');
    s.peerUnchoked('a');
    const spans = s.fill('a', 0);
    expect(spans).toHaveLength(4); // 2 + 2 blocks (the last one 1 byte)
    expect(s.blockReceived('a', { index: 0, begin: 0, length: 999 })).toMatchObject({ kind: 'unexpected' });
    const done: number[] = [];
    for (const sp of spans) {
      const r = s.blockReceived('a', sp);
      expect(r.kind).toBe('accepted');
      if (r.kind === 'accepted' && r.complete) done.push(sp.index);
    }
    expect(done.sort()).toEqual([0, 1]);
    done.forEach((i) => s.pieceDone(i));
    expect(s.picker.isComplete()).toBe(true);
    expect(s.isInteresting('a')).toBe(false);
  });

  it('does not ask a peer again at once for a piece it rejected while unchoking us; another peer gets it', () => {
    const s = setup(1);
    for (const id of ['a', 'b']) {
      s.addPeer(id);
      s.peerHaveAll(id);
      s.peerUnchoked(id);
    }
    const spans = s.fill('a', 0);
    expect(spans.length).toBeGreaterThan(0);
    for (const sp of spans) expect(s.rejected('a', sp, 100)).toBe(true); // a seed that found it bad
    expect(s.fill('a', 200)).toEqual([]); // not the same piece again: that would loop
    expect(s.fill('b', 200).map((x) => x.index)).toEqual(spans.map((x) => x.index));
    // Some time later a is asked again (its queue may only have been full), if anything is still free.
    for (const sp of spans) s.rejected('b', sp, 300);
    expect(s.fill('a', 300 + 9_000)).toEqual([]);
    expect(s.fill('a', 300 + 10_001).length).toBeGreaterThan(0);
  });

  it('a choking peer rejecting its queue (BEP 6) is asked again once it unchokes', () => {
    const s = setup(1);
    s.addPeer('a');
    s.peerHaveAll('a');
    s.peerUnchoked('a');
    const spans = s.fill('a', 0);
    s.peerChoked('a', true); // fast: its queue is kept until it rejects it
    for (const sp of spans) expect(s.rejected('a', sp, 10)).toBe(true);
    s.peerUnchoked('a');
    expect(s.fill('a', 20).length).toBeGreaterThan(0);
  });

  it("frees a choked peer's requests without the fast extension, keeps them with it", () => {
    const s = setup(4);
    for (const id of ['slow', 'fast']) {
      s.addPeer(id);
      s.peerHaveAll(id);
      s.peerUnchoked(id);
    }
    s.fill('slow', 0);
    s.peerChoked('slow', false);
    expect(s.outstandingCount('slow')).toBe(0);
    s.fill('fast', 0);
    s.peerChoked('fast', true);
    expect(s.outstandingCount('fast')).toBe(4);
  });

  it('in endgame duplicates the last blocks and cancels the loser', () => {
    const s = setup(1);
    for (const id of ['a', 'b']) {
      s.addPeer(id);
      s.peerHaveAll(id);
      s.peerUnchoked(id);
    }
    const a = s.fill('a', 0);
    expect(a).toHaveLength(2);
    const b = s.fill('b', 2_001); // nothing free, a silent for 2 s: endgame duplicates its requests
    expect(b).toEqual(expect.arrayContaining(a));
    const r = s.blockReceived('b', a[0]);
    expect(r).toEqual({ kind: 'accepted', complete: false, cancels: [{ peer: 'a', span: a[0] }] });
    expect(s.blockReceived('a', a[0])).toMatchObject({ kind: 'unexpected' }); // the loser's copy arrives late
  });

  it('in endgame does not duplicate a block still on its way from a peer that delivers', () => {
    const s = setup(2); // 4 blocks
    for (const id of ['a', 'b']) {
      s.addPeer(id);
      s.peerHaveAll(id);
      s.peerUnchoked(id);
    }
    const spans = s.fill('a', 0); // all 4 blocks
    expect(spans).toHaveLength(4);
    s.blockReceived('a', spans[0], 1_000);
    s.blockReceived('a', spans[1], 1_900); // a delivers a block every 900 ms; 2 left take ~1.8 s
    expect(s.fill('b', 2_500)).toEqual([]); // not late: 1.5 × 2 × 900 ms + 250 ms after their request
    expect(s.fill('b', 3_000)).toEqual(expect.arrayContaining(spans.slice(2))); // overdue: duplicated
  });

  it('blames the peers that sent parts of a piece that failed its hash, and re-requests it', () => {
    const s = setup(1);
    s.addPeer('bad');
    s.peerHaveAll('bad');
    s.peerUnchoked('bad');
    for (const sp of s.fill('bad', 0)) s.blockReceived('bad', sp);
    expect(s.pieceFailed(0)).toEqual(['bad']);
    expect(s.fill('bad', 0)).toHaveLength(2);
  });

  it('stops handing out requests while paused and caps the pieces in progress', () => {
    const s = setup(10, 2);
    s.addPeer('a');
    s.peerHaveAll('a');
    s.peerUnchoked('a');
    s.setPaused(true);
    expect(s.fill('a', 0)).toEqual([]);
    s.setPaused(false);
    s.setDepth('a', 100);
    const spans = s.fill('a', 0);
    expect(new Set(spans.map((x) => x.index)).size).toBe(2);
  });

  it('expires old requests so another peer can take them', () => {
    const s = setup(1);
    s.addPeer('a');
    s.peerHaveAll('a');
    s.peerUnchoked('a');
    const spans = s.fill('a', 0);
    expect(s.expire(29_999, 30_000)).toEqual([]);
    expect(s.expire(30_000, 30_000).map((c) => c.span)).toEqual(spans);
    s.addPeer('b');
    s.peerHaveAll('b');
    s.peerUnchoked('b');
    expect(s.fill('b', 30_000)).toEqual(spans);
  });

  it('forgets a departed peer: availability drops and its blocks are free again', () => {
    const s = setup(2);
    s.addPeer('a');
    s.peerBitfield('a', bits('**'));
    s.peerUnchoked('a');
    s.fill('a', 0);
    s.removePeer('a');
    expect(s.picker.availability(0)).toBe(0);
    expect(s.picker.unrequestedBlocks()).toBe(4);
  });
});
