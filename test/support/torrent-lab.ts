/**
 * A torrent's logic with stand-in connections and an injected clock, for pure tests of what it decides
 * about its peers: `connect` a handshaked peer, feed it `PeerEvent`s, read the effects (`toPeer`, dials).
 */
import { PeerCommand, PeerEvent } from '../../src/core/peer-protocol';
import { RateMeter } from '../../src/core/rate-meter';
import { PeerView, TorrentEffect, TorrentLogic } from '../../src/core/torrent-logic';
import { TorrentIn, torrentTransition } from '../../src/core/torrent-transition';
import { EventInput } from '../../src/events/engine-event';
import { ExtensionHandshake } from '../../src/protocol/extension-handshake';

const PIECES = 8;
const PIECE_LENGTH = 64 * 1024;
export const INFO = Buffer.alloc(40_000, 0x61); // three metadata pieces

export class View implements PeerView {
  readonly encryption = 'none';
  peerId: Buffer;
  fast = true;
  handshaked = true;
  closed = false;
  amChoking = true;
  amInterested = false;
  peerChoking = true;
  peerInterested = false;
  downloaded = 0;
  uploaded = 0;
  downRate = new RateMeter();
  upRate = new RateMeter();
  constructor(
    readonly address: string,
    readonly outgoing: boolean,
  ) {
    this.peerId = Buffer.from(`-XX0001-${address.replace(/\D/g, '').padStart(12, '0').slice(-12)}`);
  }
  unrequestedBlock(): number {
    return 0;
  }
  tick(): void {}
}

export class Lab {
  clock = { now: 1_000_000 };
  logic: TorrentLogic;
  effects: TorrentEffect[] = [];
  events: EventInput[] = [];
  views = new Map<string, View>();
  constructor(o: { private?: boolean; peerId?: Buffer } = {}) {
    this.logic = new TorrentLogic({
      meta: {
        infoHashHex: 'ab'.repeat(20),
        pieceCount: PIECES,
        pieceLength: PIECE_LENGTH,
        length: PIECES * PIECE_LENGTH,
      },
      peerId: o.peerId ?? Buffer.from('-RX0100-ourselves000'),
      clock: () => this.clock.now,
      random: () => 0.5,
      maxPeers: 60,
      uploadSlots: 4,
      engineSlots: () => 100,
      localAddresses: new Set(['127.0.0.1']),
      port: () => 6881,
      private: o.private,
      info: INFO,
    });
    this.send({ type: 'Checked', have: [], unchecked: [] });
    this.send({ type: 'SetActive', active: true });
  }
  send(m: TorrentIn): void {
    const step = torrentTransition(this.logic, m);
    this.effects.push(...(step.effects ?? []));
    this.events.push(...(step.events ?? []));
  }
  /** A handshaked connection (`key` is `ip:port`); the peer's id made from the key unless given. */
  connect(key: string, outgoing: boolean, peerId?: Buffer): View {
    const v = new View(key, outgoing);
    if (peerId) v.peerId = peerId;
    this.views.set(key, v);
    this.send({ type: 'Attached', key, conn: v, outgoing });
    this.peer(key, {
      type: 'PeerHandshaked',
      peerId: v.peerId,
      fast: true,
      extensions: true,
      reserved: Buffer.alloc(8),
    });
    return v;
  }
  peer(key: string, event: PeerEvent): void {
    this.send({ type: 'Peer', key, conn: this.views.get(key) as View, event });
  }
  extHandshake(key: string, hs: Partial<ExtensionHandshake> & { m?: Map<string, number> }): void {
    this.peer(key, { type: 'PeerSentExtensionHandshake', handshake: { m: new Map(), ...hs } });
  }
  take(): TorrentEffect[] {
    return this.effects.splice(0);
  }
  toPeer(key: string): PeerCommand[] {
    return this.take().flatMap((e) => (e.type === 'ToPeer' && e.key === key ? [e.command] : []));
  }
  tick(ms: number): void {
    this.clock.now += ms;
    this.send({ type: 'Tick' });
  }
}
