/**
 * A magnet link's decisions while its torrent has no metadata yet: which peers to dial, what to do with
 * each fact from their connections, and when the info dictionary is verified. The fetcher actor
 * (src/actors/magnet-fetcher.ts) folds every message through `magnetTransition` and performs the effects.
 *
 * Owns: the peer list (bounded, with backoff, strikes and bans, like a torrent's), the connected peers as
 * read-only views, the metadata exchange (src/core/metadata-exchange.ts: sizes, pieces, liars) and PEX
 * (src/core/pex-state.ts: peers learned while fetching help find one that has the metadata). Does not
 * own: sockets, timers, trackers, LSD, or what happens once the metadata is verified (the engine
 * replaces the fetcher with a torrent, src/actors/magnet.ts).
 *
 * Peers that cannot help are let go: a peer without BEP 10, or whose extended handshake does not offer
 * ut_metadata (or that sends none within EXT_HANDSHAKE_TIMEOUT_MS), is closed and not dialled again
 * before the peer list's backoff. Peers whose requests we get are told we have nothing (a reject).
 */
import type { PeerCommand, PeerEvent } from './peer-protocol';
import { PeerList, PeerSource, ipOfKey } from './peer-list';
import {
  MetadataFetchEffect,
  MetadataFetchIn,
  MetadataFetchState,
  initialMetadataFetch,
  metadataFetchTransition,
  metadataProgress,
} from './metadata-exchange';
import { PexIn, PexState, initialPexState, pexFlags, pexTransition } from './pex-state';
import type { Step } from './step';
import type { PeerView } from './torrent-logic';
import { keepNewDuplicate } from './torrent-peer-events';
import type { EventInput } from '../events/engine-event';
import { UT_METADATA, UT_PEX } from '../protocol/extension-handshake';
import type { PeerAddress } from '../protocol/tracker-codec';
import { encodeUtMetadata } from '../protocol/ut-metadata';

/** A peer that set the BEP 10 bit gets this long to send its extended handshake. */
export const EXT_HANDSHAKE_TIMEOUT_MS = 10_000;
/** Fewer connected peers than this: ask the trackers for more. */
const FEW_PEERS = 3;

export type MagnetIn =
  | { type: 'Peer'; key: string; conn: PeerView; event: PeerEvent }
  | { type: 'Attached'; key: string; conn: PeerView; outgoing: boolean }
  | { type: 'DialFailed'; key: string; reason: string }
  | { type: 'PeersFound'; peers: readonly PeerAddress[]; source: PeerSource }
  | { type: 'Tick' };

export type MagnetEffect =
  | { type: 'ToPeer'; key: string; command: PeerCommand }
  | { type: 'Dial'; key: string; ip: string; port: number }
  | { type: 'NeedPeers' }
  /** The info dictionary, checked against the info-hash. */
  | { type: 'MetadataVerified'; info: Buffer };

export interface MagnetLogicOptions {
  infoHash: Buffer;
  peerId: Buffer;
  clock: () => number;
  /** Connections of this magnet at once. */
  maxPeers: number;
  /** Connections the engine's global cap still allows. */
  engineSlots: () => number;
  localAddresses: ReadonlySet<string>;
  port: () => number;
}

interface Connected {
  view: PeerView;
  /** Deadline for its extended handshake (cleared once it came). */
  extDeadline?: number;
  /** Whether it offers ut_metadata. */
  metadata: boolean;
}

export class MagnetLogic {
  readonly peerList: PeerList;
  readonly peers = new Map<string, Connected>();
  fetch: MetadataFetchState;
  private pex: PexState;
  /** Where connected peers can be dialled (outgoing: their key; incoming: ip and their `p`). */
  readonly dialable = new Map<string, PeerAddress>();
  /** Verified: nothing more to do. */
  done = false;
  private effects: MagnetEffect[] = [];
  private events: EventInput[] = [];
  readonly infoHashHex: string;

  constructor(readonly o: MagnetLogicOptions) {
    this.infoHashHex = o.infoHash.toString('hex');
    this.fetch = initialMetadataFetch({ infoHash: o.infoHash });
    this.pex = initialPexState({ private: false, torrent: this.infoHashHex });
    this.peerList = new PeerList({
      localAddresses: o.localAddresses,
      isSelf: (ip, port) => port === o.port() && o.localAddresses.has(ip),
    });
  }

  drain(): { effects: MagnetEffect[]; events: EventInput[] } {
    const out = { effects: this.effects, events: this.events };
    this.effects = [];
    this.events = [];
    return out;
  }

  progress(): { size?: number; have: number; pieces: number } {
    return metadataProgress(this.fetch);
  }

  /** Addresses worth handing to the torrent that replaces this fetcher, by where they came from. */
  knownPeers(): Map<PeerSource, PeerAddress[]> {
    const out = new Map<PeerSource, PeerAddress[]>();
    const add = (source: PeerSource, p: PeerAddress): void => {
      const list = out.get(source) ?? [];
      list.push(p);
      out.set(source, list);
    };
    const seen = new Set<string>();
    for (const [key, p] of this.dialable) {
      seen.add(key);
      add(this.peerList.get(key)?.source ?? 'incoming', p);
    }
    // Every other address not struck out (a banned machine's are gone from the list already).
    for (const k of this.peerList.dialable()) if (!seen.has(k.key)) add(k.source, { ip: k.ip, port: k.port });
    return out;
  }

  // -------------------------------------------------------------------------------------- messages

  handle(m: MagnetIn): void {
    if (this.done) {
      if (m.type === 'Attached') this.toPeer(m.key, { type: 'Close', reason: 'metadata complete' });
      return;
    }
    switch (m.type) {
      case 'Attached':
        this.peers.set(m.key, { view: m.conn, metadata: false });
        if (m.outgoing) {
          this.peerList.connected(m.key);
          this.dialable.set(m.key, {
            ip: ipOfKey(m.key),
            port: Number(m.key.slice(m.key.lastIndexOf(':') + 1)),
          });
        } else this.peerList.accepted(m.key, this.o.clock());
        return;
      case 'Peer':
        if (this.peers.get(m.key)?.view === m.conn) this.peerEvent(m.key, m.event);
        return;
      case 'DialFailed':
        this.peerList.dialFailed(m.key, this.o.clock());
        this.emit('peer', 'ConnectFailed', 'debug', { peer: m.key, reason: m.reason });
        return;
      case 'PeersFound': {
        const added = this.peerList.learn(m.peers, m.source, this.o.clock());
        if (added > 0) this.emit('peer', 'PeersLearned', 'debug', { source: m.source, added });
        return this.connectMore();
      }
      case 'Tick':
        return this.tick();
    }
  }

  private peerEvent(key: string, e: PeerEvent): void {
    const c = this.peers.get(key) as Connected;
    const now = this.o.clock();
    switch (e.type) {
      case 'PeerHandshaked': {
        for (const [other, x] of this.peers) {
          if (other === key || !x.view.peerId?.equals(e.peerId)) continue;
          const keepNew = keepNewDuplicate(this.o.peerId, e.peerId, c.view.outgoing, x.view.outgoing);
          const [drop, kept] = keepNew ? [other, key] : [key, other];
          this.toPeer(drop, { type: 'Close', reason: `duplicate connection (already connected as ${kept})` });
          if (!keepNew) return;
        }
        if (!e.extensions) return this.letGo(key, 'peer does not speak the extension protocol (no metadata)');
        c.extDeadline = now + EXT_HANDSHAKE_TIMEOUT_MS;
        this.emit('peer', 'PeerConnected', 'info', {
          peer: key,
          outgoing: c.view.outgoing,
          fetching: 'metadata',
        });
        return this.advertise(key);
      }
      case 'PeerSentExtensionHandshake': {
        const hs = e.handshake;
        c.extDeadline = undefined;
        if (!c.view.outgoing && hs.p !== undefined) {
          this.dialable.set(key, { ip: ipOfKey(key), port: hs.p });
          this.advertise(key);
        }
        const pex = hs.m.get(UT_PEX);
        if (pex) this.pexStep({ type: 'PeerSupportsPex', peer: key, ip: ipOfKey(key), now });
        else if (pex === 0) this.pexStep({ type: 'PeerStoppedPex', peer: key, now });
        if (hs.m.get(UT_METADATA)) {
          c.metadata = true;
          return this.fetchStep({
            type: 'PeerSupportsMetadata',
            peer: key,
            metadataSize: hs.metadataSize,
            now,
          });
        }
        if (c.metadata) this.fetchStep({ type: 'PeerGone', peer: key, now });
        c.metadata = false;
        return this.letGo(key, 'peer offers no metadata (ut_metadata)');
      }
      case 'PeerSentExtended':
        if (e.message.name === UT_PEX)
          return this.pexStep({ type: 'PeerSentPex', peer: key, message: e.message.message, now });
        if (e.message.message.type === 'MetadataRequest') {
          const reject = { type: 'MetadataReject', piece: e.message.message.piece } as const;
          return this.toPeer(key, {
            type: 'SendExtended',
            name: UT_METADATA,
            payload: encodeUtMetadata(reject),
          });
        }
        return this.fetchStep({ type: 'PeerSentMetadata', peer: key, message: e.message.message, now });
      case 'PeerClosed': {
        this.peers.delete(key);
        this.dialable.delete(key);
        this.fetchStep({ type: 'PeerGone', peer: key, now });
        this.pexStep({ type: 'PeerDisconnected', peer: key, now });
        // A peer that could not help (or closed us as a duplicate) is not dialled again at once.
        this.peerList.disconnected(key, false, c.metadata ? undefined : now);
        if (e.violation) this.strike(key, e.reason);
        this.emit('peer', 'PeerDisconnected', e.violation ? 'warn' : 'info', { peer: key, reason: e.reason });
        return this.connectMore();
      }
      default:
        return; // pieces, choking and interest mean nothing before the metadata
    }
  }

  private tick(): void {
    const now = this.o.clock();
    for (const [key, c] of this.peers) {
      c.view.tick(now);
      if (c.extDeadline !== undefined && now > c.extDeadline) {
        c.extDeadline = undefined;
        this.letGo(key, 'no extended handshake');
      }
    }
    this.fetchStep({ type: 'Tick', now });
    this.pexStep({ type: 'Tick', now });
    let connected = 0;
    for (const c of this.peers.values()) if (c.view.handshaked && !c.view.closed) connected++;
    if (connected < FEW_PEERS) this.effects.push({ type: 'NeedPeers' });
    this.connectMore();
  }

  private connectMore(): void {
    if (this.done) return;
    const connecting = this.peerList.connectingCount();
    const room = Math.min(
      this.o.maxPeers - this.peers.size - connecting,
      16 - connecting,
      this.o.engineSlots() - connecting,
    );
    for (const k of this.peerList.candidates(this.o.clock(), room, false)) {
      this.peerList.connecting(k.key);
      this.effects.push({ type: 'Dial', key: k.key, ip: k.ip, port: k.port });
    }
  }

  private fetchStep(m: MetadataFetchIn): void {
    const step = metadataFetchTransition(this.fetch, m);
    this.fetch = step.state;
    this.events.push(...(step.events ?? []));
    for (const e of step.effects ?? []) this.fetchEffect(e);
  }

  private fetchEffect(e: MetadataFetchEffect): void {
    switch (e.type) {
      case 'RequestMetadataPiece': {
        const payload = encodeUtMetadata({ type: 'MetadataRequest', piece: e.piece });
        return this.toPeer(e.peer, { type: 'SendExtended', name: UT_METADATA, payload });
      }
      case 'StrikePeer':
        return this.strike(e.peer, e.reason);
      case 'MetadataVerified':
        this.done = true;
        this.effects.push({ type: 'MetadataVerified', info: e.info });
        return;
    }
  }

  private pexStep(m: PexIn): void {
    const step = pexTransition(this.pex, m);
    this.pex = step.state;
    this.events.push(...(step.events ?? []));
    for (const e of step.effects ?? []) {
      if (e.type === 'SendPex')
        this.toPeer(e.peer, { type: 'SendExtended', name: UT_PEX, payload: e.payload });
      else if (e.type === 'ClosePeer') this.toPeer(e.peer, { type: 'Close', reason: e.reason });
      else this.handle({ type: 'PeersFound', peers: e.peers, source: 'pex' });
    }
  }

  private advertise(key: string): void {
    const c = this.peers.get(key);
    const address = this.dialable.get(key);
    if (!c || !address || !c.view.handshaked) return;
    const flags = pexFlags({ encrypted: c.view.encryption === 'rc4', outgoing: c.view.outgoing });
    this.pexStep({ type: 'PeerConnected', peer: key, address, flags, now: this.o.clock() });
  }

  private strike(key: string, reason: string): void {
    const r = this.peerList.strike(key);
    if (r.bannedIp) this.emit('peer', 'PeerBanned', 'warn', { peer: key, reason });
    if (r.close && this.peers.has(key)) this.toPeer(key, { type: 'Close', reason: `banned: ${reason}` });
  }

  private letGo(key: string, reason: string): void {
    this.toPeer(key, { type: 'Close', reason });
  }

  private toPeer(key: string, command: PeerCommand): void {
    this.effects.push({ type: 'ToPeer', key, command });
  }

  private emit(
    category: EventInput['category'],
    type: string,
    level: EventInput['level'],
    details: Record<string, unknown>,
  ): void {
    this.events.push({ ...details, category, type, level, torrent: this.infoHashHex });
  }
}

export type MagnetStep = Step<MagnetLogic, MagnetEffect, EventInput>;

/** The fetcher actor's transition. */
export function magnetTransition(l: MagnetLogic, m: MagnetIn): MagnetStep {
  l.handle(m);
  const { effects, events } = l.drain();
  return { state: l, effects, events };
}
