/**
 * Our DHT nodes and WebTorrent's bittorrent-dht nodes in one network on 127.0.0.1 (theirs in a child
 * process: the package is ESM-only). Bootstrap only through that network: the public routers are
 * never asked.
 */
import { lastValueFrom, scan, filter, firstValueFrom, timeout } from 'rxjs';
import { DhtNode } from '../../src/actors/dht-node';
import type { PeerAddress } from '../../src/protocol/tracker-codec';
import { BtDhtProcess } from '../support/bittorrent-dht-process';

const THEIRS = 8;
const OURS = 4;
let bt: BtDhtProcess;
const ours: DhtNode[] = [];

beforeAll(async () => {
  bt = await BtDhtProcess.start();
  const { nodes } = await bt.spawn(THEIRS);
  for (let i = 0; i < OURS; i++) {
    // Each of ours bootstraps from a different one of theirs.
    const node = new DhtNode({
      host: '127.0.0.1',
      bootstrap: [{ host: '127.0.0.1', port: nodes[i * 2].port }],
    });
    const booted = firstValueFrom(
      node.events$.pipe(
        filter((e) => e.type === 'DhtBootstrapped'),
        timeout(15_000),
      ),
    );
    ours.push(node);
    await node.start();
    await booted;
  }
}, 60_000);

afterAll(async () => {
  await Promise.all(ours.map((n) => n.stop()));
  await bt?.stop();
});

describe('interop with bittorrent-dht on loopback', () => {
  test('our announce is found by their lookup', async () => {
    const hash = Buffer.alloc(20, 0xa1);
    const outcome = await ours[0].announce(hash, 7101);
    expect(outcome.announced).toBeGreaterThan(0);
    const found = await bt.lookup(THEIRS - 1, hash);
    expect(found.peers).toContain('127.0.0.1:7101');
  });

  test('their announce is found by our lookup', async () => {
    const hash = Buffer.alloc(20, 0xb2);
    await bt.announce(3, hash, 7102);
    const peers = await lastValueFrom(
      ours[2].getPeers(hash).pipe(scan((acc, b) => [...acc, ...b], [] as PeerAddress[])),
      { defaultValue: [] },
    );
    expect(peers).toContainEqual(expect.objectContaining({ ip: '127.0.0.1', port: 7102 }));
  });

  test('their nodes answer ours and ours answer theirs: both kinds fill our tables', async () => {
    const s = ours[1].stats()!;
    expect(s.nodes).toBeGreaterThanOrEqual(THEIRS);
    expect(s.counters.queriesIn).toBeGreaterThan(0); // their queries reached us
    expect(s.counters.badDatagrams).toBe(0); // and we understood every datagram they sent
  });
});
