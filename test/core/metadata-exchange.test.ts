/**
 * BEP 9 metadata exchange as pure logic: the fetching side against scripted peers (honest, lying about
 * the size, sending wrong pieces, rejecting, silent), and the serving side. A small simulator plays the
 * peers: every RequestMetadataPiece effect is answered by that peer's script, in order.
 */
import { createHash } from 'node:crypto';
import fc from 'fast-check';
import {
  MetadataFetchEffect,
  MetadataFetchIn,
  MetadataFetchState,
  answerMetadataRequest,
  initialMetadataFetch,
  metadataFetchTransition,
  metadataProgress,
} from '../../src/core/metadata-exchange';
import {
  MAX_METADATA_SIZE,
  METADATA_PIECE_SIZE,
  MetadataData,
  UtMetadataMessage,
  decodeUtMetadata,
  encodeUtMetadata,
} from '../../src/protocol/ut-metadata';

const sha1 = (b: Buffer): Buffer => createHash('sha1').update(b).digest();
const bytes = (n: number, seed = 1): Buffer => {
  const out = Buffer.alloc(n);
  let x = seed;
  for (let i = 0; i < n; i++) out[i] = (x = (x * 1103515245 + 12345) >>> 0) >>> 24;
  return out;
};

/** What a scripted peer answers to a request for `piece` (undefined: it stays silent). */
type Script = (piece: number) => UtMetadataMessage | undefined;
const honest =
  (info: Buffer): Script =>
  (piece) => {
    // Through the real codec both ways, as on the wire.
    const { reply } = answerMetadataRequest(info, piece, 0);
    return decodeUtMetadata(encodeUtMetadata(reply));
  };
const rejecting: Script = (piece) => ({ type: 'MetadataReject', piece });
const silent: Script = () => undefined;

class Sim {
  state: MetadataFetchState;
  readonly requests: { peer: string; piece: number }[] = [];
  readonly strikes: { peer: string; reason: string }[] = [];
  readonly events: string[] = [];
  info?: Buffer;
  now = 0;
  private readonly queue: MetadataFetchEffect[] = [];

  constructor(
    infoHash: Buffer,
    readonly scripts: Map<string, Script>,
    cfg: Partial<Parameters<typeof initialMetadataFetch>[0]> = {},
  ) {
    this.state = initialMetadataFetch({ infoHash, ...cfg });
  }

  send(msg: MetadataFetchIn): void {
    const step = metadataFetchTransition(this.state, msg);
    this.state = step.state;
    for (const e of step.events ?? []) this.events.push(e.type);
    this.queue.push(...(step.effects ?? []));
  }

  join(peer: string, metadataSize?: number): void {
    this.send({ type: 'PeerSupportsMetadata', peer, metadataSize, now: this.now });
  }

  /** Answers requests until nothing is left to do (bounded). */
  run(maxSteps = 10_000): void {
    for (let i = 0; i < maxSteps && this.queue.length > 0; i++) {
      const e = this.queue.shift() as MetadataFetchEffect;
      if (e.type === 'StrikePeer') this.strikes.push({ peer: e.peer, reason: e.reason });
      else if (e.type === 'MetadataVerified') this.info = e.info;
      else {
        this.requests.push({ peer: e.peer, piece: e.piece });
        const reply = this.scripts.get(e.peer)?.(e.piece);
        if (reply) this.send({ type: 'PeerSentMetadata', peer: e.peer, message: reply, now: this.now });
      }
    }
    expect(this.queue).toHaveLength(0);
  }

  tick(ms: number): void {
    this.now += ms;
    this.send({ type: 'Tick', now: this.now });
    this.run();
  }
}

/** Buffer equality without jest's element-by-element deep compare (slow on 50 KiB). */
const expectSame = (a: Buffer | undefined, b: Buffer): void => {
  expect(a?.length).toBe(b.length);
  expect(a?.equals(b)).toBe(true);
};

const INFO = bytes(3 * METADATA_PIECE_SIZE + 500); // 4 pieces
const HASH = sha1(INFO);

describe('fetching metadata', () => {
  it('fetches every piece from one honest peer, two requests at a time, and checks the SHA1', () => {
    const sim = new Sim(HASH, new Map([['a', honest(INFO)]]));
    sim.join('a', INFO.length);
    sim.run();
    expectSame(sim.info, INFO);
    expect(sim.requests.map((r) => r.piece)).toEqual([0, 1, 2, 3]);
    expect(sim.events).toContain('MetadataComplete');
    expect(metadataProgress(sim.state)).toEqual({ size: INFO.length, have: 4, pieces: 4 });
  });

  it('spreads pieces over peers and never asks two peers for one piece at once', () => {
    const sim = new Sim(
      HASH,
      new Map([
        ['a', silent],
        ['b', silent],
        ['c', silent],
      ]),
    );
    for (const p of ['a', 'b', 'c']) sim.join(p, INFO.length);
    sim.run();
    const pieces = sim.requests.map((r) => r.piece).sort();
    expect(pieces).toEqual([0, 1, 2, 3]);
    expect(new Set(sim.requests.map((r) => r.peer)).size).toBeGreaterThan(1);
  });

  it('asks a peer that gave no metadata_size for piece 0 and learns the size from total_size', () => {
    const sim = new Sim(HASH, new Map([['a', honest(INFO)]]));
    sim.join('a');
    sim.run();
    expect(sim.requests[0]).toEqual({ peer: 'a', piece: 0 });
    expectSame(sim.info, INFO);
  });

  it('strikes out a peer whose metadata_size is over 32 MiB and asks another', () => {
    const sim = new Sim(
      HASH,
      new Map([
        ['big', honest(INFO)],
        ['ok', honest(INFO)],
      ]),
    );
    sim.join('big', MAX_METADATA_SIZE + 1);
    sim.join('zero', 0);
    sim.join('ok', INFO.length);
    sim.run();
    expect(sim.strikes.map((s) => s.peer)).toEqual(['big', 'zero']); // 0 never gets past the codec, but
    expect(sim.requests.every((r) => r.peer === 'ok')).toBe(true);
    expectSame(sim.info, INFO);
  });

  it('strikes out a peer whose total_size contradicts its metadata_size, or that changes its claim', () => {
    const liar: Script = (piece) => ({ type: 'MetadataData', piece, totalSize: 5, data: Buffer.alloc(5) });
    const sim = new Sim(
      HASH,
      new Map([
        ['liar', liar],
        ['ok', honest(INFO)],
      ]),
    );
    sim.join('liar', INFO.length);
    sim.run();
    expect(sim.strikes).toEqual([{ peer: 'liar', reason: expect.stringMatching(/total_size 5 differs/) }]);
    sim.join('ok', INFO.length);
    sim.join('ok', INFO.length + 1); // a second handshake with another size
    sim.run();
    expect(sim.strikes.map((s) => s.peer)).toEqual(['liar', 'ok']);
  });

  it('strikes a piece of the wrong size and asks for it again', () => {
    let first = true;
    const short: Script = (piece) => {
      const m = honest(INFO)(piece) as MetadataData;
      if (!first) return m;
      first = false;
      return { ...m, data: m.data.subarray(1) }; // only possible past the codec, but checked anyway
    };
    const sim = new Sim(
      HASH,
      new Map([
        ['a', short],
        ['b', honest(INFO)],
      ]),
    );
    sim.join('a', INFO.length);
    sim.join('b', INFO.length);
    sim.run();
    expect(sim.strikes).toEqual([
      { peer: 'a', reason: expect.stringMatching(/has 16383 bytes, expected 16384/) },
    ]);
    expectSame(sim.info, INFO);
  });

  it('goes with the size most peers claim, and tries a minority claim when that one fails', () => {
    const other = bytes(1000, 7); // what two liars serve: right shape, wrong hash
    const scripts = new Map<string, Script>([
      ['x', silent],
      ['l1', honest(other)],
      ['l2', honest(other)],
      ['ok', honest(INFO)],
    ]);
    const sim = new Sim(HASH, scripts);
    sim.join('x', 12345); // chosen at once: the only claim so far
    for (const p of ['l1', 'l2', 'ok']) sim.join(p, p === 'ok' ? INFO.length : other.length);
    sim.run();
    expect(sim.requests.every((r) => r.peer === 'x')).toBe(true);
    sim.send({ type: 'PeerGone', peer: 'x', now: 0 }); // two votes for the liars' size, one for the truth
    sim.run();
    expect(sim.events.filter((e) => e === 'MetadataHashFailed')).toHaveLength(2); // l1, then l2 (tie, earlier)
    expectSame(sim.info, INFO);
    expect(new Set(sim.strikes.map((s) => s.peer))).toEqual(new Set(['l1', 'l2']));
    expect(sim.state.peers.get('l1')?.out && sim.state.peers.get('l2')?.out).toBe(true);
  });

  it('after a hash failure shared by two peers, takes a whole attempt from one peer and strikes out the liar', () => {
    const garbage: Script = (piece) => {
      const m = honest(INFO)(piece) as MetadataData;
      return { ...m, data: Buffer.alloc(m.data.length, 0xee) };
    };
    for (const order of [
      ['ok', 'bad'],
      ['bad', 'ok'],
    ]) {
      const sim = new Sim(
        HASH,
        new Map([
          ['ok', honest(INFO)],
          ['bad', garbage],
        ]),
      );
      for (const p of order) sim.join(p, INFO.length);
      sim.run();
      expectSame(sim.info, INFO);
      expect(sim.state.hashFailures).toBeGreaterThanOrEqual(1);
      const struck = sim.state.peers.get('bad');
      if (sim.state.hashFailures === 2) expect(struck?.out).toBe(true);
      expect(sim.state.peers.get('ok')?.out).toBe(false);
    }
  });

  it('a single peer whose metadata does not hash is struck out at once', () => {
    const sim = new Sim(HASH, new Map([['bad', honest(bytes(INFO.length, 9))]]));
    sim.join('bad', INFO.length);
    sim.run();
    expect(sim.strikes).toEqual([{ peer: 'bad', reason: 'metadata does not hash to the info-hash' }]);
    expect(sim.state.peers.get('bad')?.out).toBe(true);
    expect(sim.info).toBeUndefined();
  });

  it('a reject sends the piece elsewhere and rests the peer for a minute', () => {
    const sim = new Sim(HASH, new Map([['r', rejecting]]));
    sim.join('r', INFO.length);
    sim.run();
    expect(sim.requests).toHaveLength(2);
    sim.scripts.set('r', honest(INFO));
    sim.tick(30_000);
    expect(sim.requests).toHaveLength(2); // still resting
    sim.tick(30_000);
    expectSame(sim.info, INFO);
  });

  it('a silent peer times out and its pieces go to another; a departed peer frees its pieces at once', () => {
    const sim = new Sim(HASH, new Map([['s', silent]]));
    sim.join('s', INFO.length);
    sim.run();
    sim.scripts.set('ok', honest(INFO));
    sim.join('ok', INFO.length); // 0, 1 in flight at 's'; 'ok' gets 2, 3
    sim.run();
    expect(sim.info).toBeUndefined();
    sim.tick(8_000);
    expectSame(sim.info, INFO);
    expect(sim.events).toContain('MetadataRequestTimedOut');

    const sim2 = new Sim(
      HASH,
      new Map([
        ['s', silent],
        ['ok', silent],
      ]),
    );
    sim2.join('s', INFO.length);
    sim2.join('ok', INFO.length);
    sim2.run();
    sim2.scripts.set('ok', honest(INFO));
    sim2.send({ type: 'PeerGone', peer: 's', now: 0 });
    sim2.run();
    expect(sim2.info).toBeUndefined(); // 'ok' still holds two silent requests
    sim2.tick(8_000);
    sim2.tick(15_000);
    expectSame(sim2.info, INFO);
  });

  it('ignores data nobody asked for, unknown message types, and everything once done', () => {
    const sim = new Sim(HASH, new Map([['a', honest(INFO)]]));
    sim.send({ type: 'PeerSentMetadata', peer: 'x', message: { type: 'MetadataReject', piece: 0 }, now: 0 });
    sim.join('a', INFO.length);
    const unasked = honest(INFO)(3) as MetadataData;
    sim.send({ type: 'PeerSentMetadata', peer: 'a', message: unasked, now: 0 });
    sim.send({
      type: 'PeerSentMetadata',
      peer: 'a',
      message: { type: 'MetadataUnknown', msgType: 9 },
      now: 0,
    });
    expect(sim.events).toContain('MetadataPieceIgnored');
    sim.run();
    expectSame(sim.info, INFO);
    const done = sim.state;
    sim.send({ type: 'PeerSupportsMetadata', peer: 'late', metadataSize: 5, now: 0 });
    expect(sim.state).toBe(done);
    expect(sim.strikes).toHaveLength(0);
  });

  it('always ends with the right metadata, whatever the size, the peers and one liar (property)', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 5 * METADATA_PIECE_SIZE }),
        fc.integer({ min: 1, max: 4 }),
        fc.boolean(),
        fc.nat(),
        (size, honestPeers, withLiar, seed) => {
          const info = bytes(size, seed);
          const scripts = new Map<string, Script>();
          for (let i = 0; i < honestPeers; i++) scripts.set(`h${i}`, honest(info));
          if (withLiar) scripts.set('liar', honest(bytes(size, seed + 1)));
          const sim = new Sim(sha1(info), scripts);
          const order = [...scripts.keys()].sort(
            (a, b) => ((a.charCodeAt(1) ^ seed) & 3) - ((b.charCodeAt(1) ^ seed) & 3),
          );
          for (const p of order) sim.join(p, size);
          sim.run();
          expectSame(sim.info, info);
          // An honest peer may share a strike for a failed attempt, but is never struck out.
          for (let i = 0; i < honestPeers; i++) expect(sim.state.peers.get(`h${i}`)?.out).toBe(false);
        },
      ),
      { numRuns: 150, seed: 30 },
    );
  });
});

describe('serving metadata', () => {
  it('answers with data, a reject when we lack the metadata or the piece, and a reject past the flood limit', () => {
    const r0 = answerMetadataRequest(INFO, 3, 0);
    expect(r0.reply).toEqual({
      type: 'MetadataData',
      piece: 3,
      totalSize: INFO.length,
      data: INFO.subarray(3 * 16384),
    });
    expect(r0.served).toBe(1);
    expect(answerMetadataRequest(undefined, 0, 0).reply.type).toBe('MetadataReject');
    expect(answerMetadataRequest(INFO, 4, 0).reply.type).toBe('MetadataReject');
    expect(answerMetadataRequest(INFO, -1, 0).reply.type).toBe('MetadataReject');
    let served = 0;
    let rejects = 0;
    for (let i = 0; i < 100; i++) {
      const r = answerMetadataRequest(INFO, i % 4, served);
      served = r.served;
      if (r.reply.type === 'MetadataReject') rejects++;
    }
    expect(served).toBe(4 * 4 + 2);
    expect(rejects).toBe(100 - served);
  });
});
