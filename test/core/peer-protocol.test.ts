import {
  MAX_EXCESS_REQUESTS,
  PeerIn,
  PeerState,
  initialPeerState,
  peerTransition,
} from '../../src/core/peer-protocol';
import { BitSet, makeReserved } from '../../src/protocol/wire-codec';

const PIECES = 8;
const geometry = { pieceLength: 262_144, length: PIECES * 262_144, pieceCount: PIECES };

/** An unchoked incoming connection from a fast-extension peer, with `queue` request slots. */
function unchokedPeer(queue: number): PeerState {
  const s = initialPeerState(
    {
      geometry,
      reserved: makeReserved({ fast: true }),
      ourPeerId: Buffer.alloc(20, 1),
      outgoing: false,
      ourBitfield: () => BitSet.empty(PIECES),
      maxQueuedRequests: queue,
      idleTimeoutMs: 180_000,
    },
    0,
    20_000,
  );
  const hs = {
    type: 'Handshake' as const,
    reserved: makeReserved({ fast: true }),
    infoHash: Buffer.alloc(20),
    peerId: Buffer.alloc(20, 2),
  };
  feed(s, { type: 'GotFrame', frame: hs, now: 0 }, { type: 'Unchoke' });
  return s;
}

function feed(s: PeerState, ...ms: PeerIn[]): void {
  for (const m of ms) peerTransition(s, m);
}

const request = (n: number): PeerIn => ({
  type: 'GotFrame',
  frame: { type: 'Request', index: n % PIECES, begin: 0, length: 16384 },
  now: 1,
});

describe('request queue overruns', () => {
  it('a peer that keeps reading may overrun the queue again and again: rejected, never cut off', () => {
    const s = unchokedPeer(4);
    for (let round = 0; round < 5; round++) {
      for (let i = 0; i < MAX_EXCESS_REQUESTS; i++) feed(s, request(i));
      feed(s, { type: 'Pump', canSend: true }); // our socket drains: the peer reads
    }
    expect(s.closed).toBe(false);
  });

  it('a peer that stops reading and goes on requesting is cut off as a flood', () => {
    const s = unchokedPeer(4);
    let closedBy = '';
    for (let i = 0; i <= MAX_EXCESS_REQUESTS + 4 && !s.closed; i++) {
      const step = peerTransition(s, request(i));
      for (const e of step.events ?? []) if (e.type === 'PeerClosed') closedBy = e.reason;
      peerTransition(s, { type: 'Pump', canSend: false });
    }
    expect(closedBy).toBe('request flood');
  });
});

describe('BEP 5 PORT', () => {
  /** Our side after the peer's handshake: the messages we wrote and the events. */
  function handshake(o: { ourDht?: number; peerDht: boolean; outgoing?: boolean }) {
    const s = initialPeerState(
      {
        geometry,
        reserved: makeReserved({ fast: true, dht: o.ourDht !== undefined }),
        ourPeerId: Buffer.alloc(20, 1),
        outgoing: o.outgoing ?? false,
        ourBitfield: () => BitSet.empty(PIECES),
        maxQueuedRequests: 16,
        idleTimeoutMs: 180_000,
        dhtPort: o.ourDht,
      },
      0,
      20_000,
    );
    const frame = {
      type: 'Handshake' as const,
      reserved: makeReserved({ fast: true, dht: o.peerDht }),
      infoHash: Buffer.alloc(20),
      peerId: Buffer.alloc(20, 2),
    };
    const step = peerTransition(s, { type: 'GotFrame', frame, now: 0 });
    const written = (step.effects ?? []).flatMap((e) => (e.type === 'Write' ? [e.message] : []));
    return { s, written };
  }

  it('sent after the handshake when both sides set the DHT bit, either direction', () => {
    for (const outgoing of [false, true]) {
      const { written } = handshake({ ourDht: 6881, peerDht: true, outgoing });
      expect(written).toContainEqual({ type: 'Port', port: 6881 });
      // After the first message about pieces (BEP 6: HaveNone must come first).
      expect(written.findIndex((m) => m.type === 'Port')).toBeGreaterThan(0);
    }
  });

  it('not sent when the peer has no DHT, or we have none', () => {
    expect(handshake({ ourDht: 6881, peerDht: false }).written.some((m) => m.type === 'Port')).toBe(false);
    expect(handshake({ peerDht: true }).written.some((m) => m.type === 'Port')).toBe(false);
  });

  it("a peer's PORT (any value, repeated, before or after anything) is an event, never a close", () => {
    const { s } = handshake({ ourDht: 6881, peerDht: true });
    const events: string[] = [];
    for (const port of [0, 1, 6881, 65535, 6881, 6881]) {
      const step = peerTransition(s, { type: 'GotFrame', frame: { type: 'Port', port }, now: 1 });
      for (const e of step.events ?? []) events.push(e.type === 'PeerSentPort' ? `port ${e.port}` : e.type);
    }
    expect(events).toEqual(['port 0', 'port 1', 'port 6881', 'port 65535', 'port 6881', 'port 6881']);
    expect(s.closed).toBe(false);
  });
});
