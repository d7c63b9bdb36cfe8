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
