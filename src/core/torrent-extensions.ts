/**
 * What a torrent does with BEP 10 extensions: its peers' extended handshakes (their `reqq` caps our
 * requests to them), serving its info dictionary over ut_metadata (BEP 9), and peer exchange (BEP 11,
 * the pure logic of src/core/pex-state.ts). Part of `TorrentLogic`, kept apart so each file stays
 * readable; pure like it (effects go out through the logic: `ToPeer`, and learned peers into its list).
 *
 * Owns: the PEX state and the per-peer metadata counters (pieces served, requests seen). Does not own:
 * decoding (the connection decodes every extension payload and closes the peer on a malformed one), the
 * peer list's bounds and bans (PEX addresses go through `learn` like any source), or timers (the
 * torrent's 1 s tick drives PEX).
 *
 * Private torrents (BEP 27) offer neither extension — their handshake declares none, so nothing arrives
 * here — and this module also refuses to act for them.
 *
 * Hostile peers: a ut_metadata request flood (more than `requestLimit` requests over a connection: BEP 9
 * lets us reject after a few rounds, a peer that keeps asking is broken or hostile) closes the peer with
 * a strike; a PEX flood closes it (pex-state's limit, libtorrent's rule of 6 a minute).
 */
import type { PeerSource } from './peer-list';
import { ipOfKey } from './peer-list';
import type { ExtendedMessage } from './peer-extensions';
import { PexEffect, PexIn, PexState, initialPexState, pexFlags, pexTransition } from './pex-state';
import type { TorrentLogic } from './torrent-logic';
import { ExtensionHandshake, UT_METADATA, UT_PEX, effectiveReqq } from '../protocol/extension-handshake';
import { SERVE_FACTOR, answerMetadataRequest } from './metadata-exchange';
import { encodeUtMetadata, metadataPieceCount } from '../protocol/ut-metadata';
import { PexFlag } from '../protocol/ut-pex';

/** Requests a peer may queue with us that we still honour as requests (our scheduler's hard cap). */
export const MAX_PEER_DEPTH = 500;

interface MetadataCounters {
  served: number;
  asked: number;
}

export class TorrentExtensions {
  private pex: PexState;
  private readonly metadata = new Map<string, MetadataCounters>();
  /** Peers we advertise as seeds (so a repeated HAVE does not re-send PeerConnected). */
  private readonly seeds = new Set<string>();
  /** Where each connected peer can be dialled, once known (dialled: its key; incoming: ip and its `p`). */
  private readonly dialable = new Map<string, { ip: string; port: number }>();
  readonly requestLimit: number;

  constructor(
    private readonly t: TorrentLogic,
    private readonly o: { private: boolean; info?: Buffer },
  ) {
    this.pex = initialPexState({ private: o.private, torrent: t.infoHash });
    const pieces = o.info ? metadataPieceCount(o.info.length) : 1;
    this.requestLimit = 2 * (SERVE_FACTOR * pieces + 2) + 64;
  }

  /** A connection finished its BitTorrent handshake: advertise it if we know where it can be dialled. */
  connected(key: string): void {
    const c = this.t.peers.get(key);
    if (!c) return;
    if (c.outgoing) {
      const ip = ipOfKey(key);
      this.dialable.set(key, { ip, port: Number(key.slice(key.lastIndexOf(':') + 1)) });
    }
    this.advertise(key);
  }

  /** Its extended handshake: cap our requests at its `reqq`, learn its listen port, its PEX support. */
  handshake(key: string, hs: ExtensionHandshake): void {
    const c = this.t.peers.get(key);
    if (!c) return;
    this.t.scheduler.setDepthCap(key, effectiveReqq(hs, MAX_PEER_DEPTH));
    if (!c.outgoing && hs.p !== undefined) {
      this.dialable.set(key, { ip: ipOfKey(key), port: hs.p });
      this.advertise(key);
    }
    const now = this.t.o.clock();
    const pex = hs.m.get(UT_PEX); // 0: a later handshake turned it off
    if (pex) this.pexStep({ type: 'PeerSupportsPex', peer: key, ip: ipOfKey(key), now });
    else if (pex === 0) this.pexStep({ type: 'PeerStoppedPex', peer: key, now });
  }

  /** The peer turned out to have every piece: advertise it with the seed flag. */
  maybeSeed(key: string): void {
    if (this.seeds.has(key) || this.t.scheduler.peerPieces(key) !== this.t.o.meta.pieceCount) return;
    this.seeds.add(key);
    this.advertise(key);
  }

  message(key: string, m: ExtendedMessage): void {
    if (this.o.private) return;
    if (m.name === UT_PEX) {
      this.pexStep({ type: 'PeerSentPex', peer: key, message: m.message, now: this.t.o.clock() });
      return;
    }
    if (m.message.type !== 'MetadataRequest') return; // data or rejects we never asked for: ignored
    const counters = this.metadata.get(key) ?? { served: 0, asked: 0 };
    this.metadata.set(key, counters);
    if (++counters.asked > this.requestLimit) {
      const reason = `protocol error: ${counters.asked} metadata requests`;
      this.t.toPeer(key, { type: 'Close', reason });
      this.t.strike(key, reason);
      return;
    }
    const { reply, served } = answerMetadataRequest(this.o.info, m.message.piece, counters.served);
    counters.served = served;
    this.t.emit({
      category: 'metadata',
      type: reply.type === 'MetadataData' ? 'MetadataPieceServed' : 'MetadataRequestRefused',
      level: 'debug',
      torrent: this.t.infoHash,
      peer: key,
      piece: reply.piece,
    });
    this.t.toPeer(key, { type: 'SendExtended', name: UT_METADATA, payload: encodeUtMetadata(reply) });
  }

  closed(key: string): void {
    this.metadata.delete(key);
    this.seeds.delete(key);
    this.dialable.delete(key);
    this.pexStep({ type: 'PeerDisconnected', peer: key, now: this.t.o.clock() });
  }

  tick(now: number): void {
    this.pexStep({ type: 'Tick', now });
  }

  private advertise(key: string): void {
    const c = this.t.peers.get(key);
    const address = this.dialable.get(key);
    if (!c || !address) return;
    const flags = pexFlags({
      seed: this.seeds.has(key),
      encrypted: c.encryption === 'rc4',
      outgoing: c.outgoing,
    });
    this.pexStep({ type: 'PeerConnected', peer: key, address, flags, now: this.t.o.clock() });
  }

  private pexStep(m: PexIn): void {
    if (this.o.private) return;
    const step = pexTransition(this.pex, m);
    this.pex = step.state;
    for (const e of step.events ?? []) this.t.emit(e);
    for (const e of step.effects ?? []) this.perform(e);
  }

  private perform(e: PexEffect): void {
    switch (e.type) {
      case 'SendPex':
        return this.t.toPeer(e.peer, { type: 'SendExtended', name: UT_PEX, payload: e.payload });
      case 'ClosePeer':
        return this.t.toPeer(e.peer, { type: 'Close', reason: e.reason });
      case 'AddPeers': {
        // A finished seed has no use for other seeds (nor they for it).
        const peers = this.t.completed ? e.peers.filter((p) => !(p.pexFlags & PexFlag.Seed)) : e.peers;
        if (peers.length > 0) this.t.learn(peers, e.source satisfies PeerSource);
        return;
      }
    }
  }
}
