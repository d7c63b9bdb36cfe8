/**
 * A magnet's decisions while it has no metadata, as pure logic (stand-in connections, injected clock):
 * whom it dials, which peers it lets go (no BEP 10, no ut_metadata, no extended handshake in time) and
 * backs off from, requests it answers with a reject, and the addresses it hands to the torrent that
 * replaces it, by source.
 */
import { MagnetEffect, MagnetLogic, magnetTransition } from '../../src/core/magnet-logic';
import { PeerEvent } from '../../src/core/peer-protocol';
import { decodeUtMetadata } from '../../src/protocol/ut-metadata';
import { View } from '../support/torrent-lab';

const INFO_HASH = Buffer.alloc(20, 0x42);

class MagnetLab {
  clock = { now: 1_000_000 };
  logic = new MagnetLogic({
    infoHash: INFO_HASH,
    peerId: Buffer.from('-RX0100-magnetmagnet'),
    clock: () => this.clock.now,
    maxPeers: 30,
    engineSlots: () => 100,
    localAddresses: new Set(['127.0.0.1']),
    port: () => 6881,
  });
  effects: MagnetEffect[] = [];
  views = new Map<string, View>();
  send(m: Parameters<typeof magnetTransition>[1]): void {
    this.effects.push(...(magnetTransition(this.logic, m).effects ?? []));
  }
  take(): MagnetEffect[] {
    return this.effects.splice(0);
  }
  connect(key: string, outgoing: boolean, extensions = true): View {
    const v = new View(key, outgoing);
    this.views.set(key, v);
    this.send({ type: 'Attached', key, conn: v, outgoing });
    this.peer(key, {
      type: 'PeerHandshaked',
      peerId: v.peerId,
      fast: true,
      extensions,
      reserved: Buffer.alloc(8),
    });
    return v;
  }
  peer(key: string, event: PeerEvent): void {
    this.send({ type: 'Peer', key, conn: this.views.get(key) as View, event });
  }
  tick(ms: number): void {
    this.clock.now += ms;
    this.send({ type: 'Tick' });
  }
}

const closes = (effects: MagnetEffect[]): string[] =>
  effects.flatMap((e) => (e.type === 'ToPeer' && e.command.type === 'Close' ? [e.key] : []));
const dials = (effects: MagnetEffect[]): string[] =>
  effects.flatMap((e) => (e.type === 'Dial' ? [e.key] : []));

test('dials what it learns, and asks a peer offering ut_metadata for the pieces', () => {
  const lab = new MagnetLab();
  lab.send({ type: 'PeersFound', peers: [{ ip: '10.0.0.2', port: 6002 }], source: 'manual' });
  expect(dials(lab.take())).toEqual(['10.0.0.2:6002']);
  lab.connect('10.0.0.2:6002', true);
  lab.peer('10.0.0.2:6002', {
    type: 'PeerSentExtensionHandshake',
    handshake: { m: new Map([['ut_metadata', 3]]), metadataSize: 40_000 },
  });
  const asked = lab
    .take()
    .flatMap((e) =>
      e.type === 'ToPeer' && e.command.type === 'SendExtended' ? [decodeUtMetadata(e.command.payload)] : [],
    );
  expect(asked).toEqual([
    { type: 'MetadataRequest', piece: 0 },
    { type: 'MetadataRequest', piece: 1 },
  ]);
});

test('lets go of peers that cannot help, and does not dial them again at once', () => {
  const lab = new MagnetLab();
  lab.send({
    type: 'PeersFound',
    peers: [
      { ip: '10.0.0.2', port: 1 },
      { ip: '10.0.0.3', port: 1 },
      { ip: '10.0.0.4', port: 1 },
    ],
    source: 'tracker',
  });
  lab.take();
  lab.connect('10.0.0.2:1', true, false); // no BEP 10
  lab.connect('10.0.0.3:1', true);
  lab.peer('10.0.0.3:1', { type: 'PeerSentExtensionHandshake', handshake: { m: new Map([['ut_pex', 1]]) } });
  lab.connect('10.0.0.4:1', true); // says nothing
  expect(closes(lab.take())).toEqual(['10.0.0.2:1', '10.0.0.3:1']);
  lab.tick(11_000);
  expect(closes(lab.take())).toEqual(['10.0.0.4:1']);
  for (const key of ['10.0.0.2:1', '10.0.0.3:1', '10.0.0.4:1'])
    lab.peer(key, { type: 'PeerClosed', reason: 'let go', violation: false });
  lab.tick(1000);
  expect(dials(lab.take())).toEqual([]); // backing off
  lab.tick(5000);
  expect(dials(lab.take()).sort()).toEqual(['10.0.0.2:1', '10.0.0.3:1', '10.0.0.4:1']);
});

test("answers a peer's metadata request with a reject: it has nothing yet", () => {
  const lab = new MagnetLab();
  lab.connect('10.0.0.5:5', false);
  lab.peer('10.0.0.5:5', {
    type: 'PeerSentExtensionHandshake',
    handshake: { m: new Map([['ut_metadata', 7]]) },
  });
  lab.take();
  lab.peer('10.0.0.5:5', {
    type: 'PeerSentExtended',
    message: { name: 'ut_metadata', message: { type: 'MetadataRequest', piece: 0 } },
  });
  const [reply] = lab.take();
  expect(
    reply.type === 'ToPeer' &&
      reply.command.type === 'SendExtended' &&
      decodeUtMetadata(reply.command.payload),
  ).toEqual({
    type: 'MetadataReject',
    piece: 0,
  });
});

test('hands the torrent every usable address by source: dialled ones, and incoming ones at their `p`', () => {
  const lab = new MagnetLab();
  lab.send({ type: 'PeersFound', peers: [{ ip: '10.0.0.2', port: 6002 }], source: 'tracker' });
  lab.send({ type: 'PeersFound', peers: [{ ip: '10.0.0.9', port: 6009 }], source: 'lsd' });
  lab.take();
  lab.connect('10.0.0.2:6002', true);
  lab.connect('10.0.0.7:40000', false);
  lab.peer('10.0.0.7:40000', {
    type: 'PeerSentExtensionHandshake',
    handshake: { m: new Map([['ut_metadata', 2]]), p: 6007 },
  });
  expect(Object.fromEntries(lab.logic.knownPeers())).toEqual({
    tracker: [{ ip: '10.0.0.2', port: 6002 }],
    incoming: [{ ip: '10.0.0.7', port: 6007 }],
    lsd: [{ ip: '10.0.0.9', port: 6009 }],
  });
});
