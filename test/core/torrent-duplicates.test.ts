/**
 * Two connections to one peer (both sides dialled each other at once — common when PEX, LSD or a tracker
 * tells each about the other at the same moment): both sides must close the same one, or each closes
 * the other's and nothing is left. The rule: keep the connection dialled by the smaller peer id.
 */
import { PeerCommand } from '../../src/core/peer-protocol';
import { Lab } from '../support/torrent-lab';

const L = Buffer.from('-RX0100-aaaaaaaaaaaa');
const R = Buffer.from('-RX0100-bbbbbbbbbbbb');

/** What `side` closes when its connection `first` handshakes before `second`, both to `peer`. */
function closes(
  self: Buffer,
  peer: Buffer,
  first: { key: string; outgoing: boolean },
  second: { key: string; outgoing: boolean },
): string[] {
  const lab = new Lab({ peerId: self });
  lab.connect(first.key, first.outgoing, peer);
  lab.connect(second.key, second.outgoing, peer);
  return lab
    .take()
    .flatMap((e) => (e.type === 'ToPeer' && (e.command as PeerCommand).type === 'Close' ? [e.key] : []));
}

test('both sides close the same connection, whichever handshake each saw first', () => {
  // Physical connection P1: L dialled R. Physical P2: R dialled L. Keys are as each side names them.
  const atL = {
    p1: { key: '10.0.0.2:6002', outgoing: true },
    p2: { key: '10.0.0.2:51000', outgoing: false },
  };
  const atR = {
    p1: { key: '10.0.0.1:52000', outgoing: false },
    p2: { key: '10.0.0.1:6001', outgoing: true },
  };
  for (const [lFirst, rFirst] of [
    ['p1', 'p1'],
    ['p1', 'p2'],
    ['p2', 'p1'],
    ['p2', 'p2'],
  ] as const) {
    const other = (x: 'p1' | 'p2'): 'p1' | 'p2' => (x === 'p1' ? 'p2' : 'p1');
    const byL = closes(L, R, atL[lFirst], atL[other(lFirst)]);
    const byR = closes(R, L, atR[rFirst], atR[other(rFirst)]);
    // L's id is smaller: P1 (dialled by L) survives on both sides; P2 is closed by both.
    expect(byL).toEqual([atL.p2.key]);
    expect(byR).toEqual([atR.p2.key]);
  }
});

test('two connections in the same direction: the newer one goes', () => {
  expect(
    closes(L, R, { key: '10.0.0.2:6002', outgoing: true }, { key: '10.0.0.2:6003', outgoing: true }),
  ).toEqual(['10.0.0.2:6003']);
});
