/**
 * One torrent's decisions: what to do with each fact from its peers, the verifier, the disk and the
 * timers. The torrent actor (src/actors/torrent.ts) folds every message through `TorrentLogic.handle` and
 * performs the effects it returns; promise callbacks and sockets never change this state directly.
 *
 * Owns: the piece lifecycle (PieceStates), the request scheduler (with its picker), the peer list, the
 * connected peers as read-only views, per-torrent counters and the torrent's phase. The effect and view
 * types are in torrent-messages.ts (re-exported here). Does not own: any I/O
 * (effects: `ToPeer`, `Verify`, `Write`, `Read`, `Dial`, `Open`, `Destroy`, resume and announcer calls),
 * timers, or how a piece is hashed, stored or read.
 *
 * Data path of a block: PeerSentBlock → scheduler.blockReceived (exact match of our request) → copied
 * into its piece's buffer → piece complete: `Verify` → good: `Write` → PieceWritten: we have it, HAVE to
 * every peer; bad: blocks freed, every sender of a block blamed. A piece is never ours before it is
 * verified and written.
 *
 * Backpressure: each peer's request credit follows its measured rate; no new requests while the disk
 * queue is above its high watermark or the verifier's queue is full; and pieces in progress are capped,
 * so memory does not grow with the file.
 */
import type { PeerCommand, PeerEvent } from './peer-protocol';
import { PiecePicker } from './piece-picker';
import { PeerList, PeerSource, addressKey } from './peer-list';
import { PieceStates } from './piece-states';
import { RateMeter, pipelineDepth } from './rate-meter';
import { Scheduler } from './scheduler';
import type { EventInput } from '../events/engine-event';
import type { PeerAddress } from '../protocol/tracker-codec';
import { BitSet } from '../protocol/wire-codec';
import { TorrentExtensions } from './torrent-extensions';
import type { LogicOptions, PeerView, TorrentEffect } from './torrent-messages';
import { handlePeerEvent } from './torrent-peer-events';

export type { LogicOptions, PeerView, TorrentEffect } from './torrent-messages';

export const REQUEST_TIMEOUT_MS = 30_000;
/** Fewer connected peers than this while downloading: ask the tracker for more (within its min interval). */
export const FEW_PEERS = 3;
/** A peer we want data from that sent no block for this long is snubbed (no regular upload slot). */
export const SNUB_MS = 60_000;

export class TorrentLogic {
  readonly picker: PiecePicker;
  readonly scheduler: Scheduler;
  readonly pieces: PieceStates;
  readonly peerList: PeerList;
  readonly ext: TorrentExtensions;
  readonly peers = new Map<string, PeerView>();
  readonly downRate = new RateMeter();
  readonly upRate = new RateMeter();
  readonly stats = { downloaded: 0, uploaded: 0, wasted: 0 };
  /** When the first payload byte arrived (for rates from the first byte). */
  firstByteAt: number | undefined;
  readonly lastBlockAt = new Map<string, number>();
  /** Pieces whose read for upload failed and was reported. */
  readonly readFailuresReported = new Set<number>();
  completed = false;
  /** Peers are being dialled and accepted (false while paused or stopped). */
  active = false;
  peersLost = false;
  diskPressure = false;
  hashPressure = false;
  private effects: TorrentEffect[] = [];
  private events: EventInput[] = [];

  constructor(readonly o: LogicOptions) {
    const m = o.meta;
    this.picker = new PiecePicker({
      pieceLength: m.pieceLength,
      length: m.length,
      pieceCount: m.pieceCount,
      random: o.random,
    });
    // Piece buffers in flight: enough for every fast peer to work on its own pieces, and never more than
    // 24 MiB of them whatever the file size.
    const maxPieces = Math.max(8, Math.min(48, Math.floor((24 * 1024 * 1024) / m.pieceLength)));
    this.scheduler = new Scheduler(this.picker, { maxPiecesInProgress: maxPieces, initialDepth: 32 });
    this.pieces = new PieceStates(m);
    this.peerList = new PeerList({
      localAddresses: o.localAddresses,
      isSelf: (ip, port) => port === o.port() && o.localAddresses.has(ip),
    });
    this.ext = new TorrentExtensions(this, { private: o.private === true, info: o.info });
  }

  get infoHash(): string {
    return this.o.meta.infoHashHex;
  }

  // ---------------------------------------------------------------------------------- effects/events

  effect(e: TorrentEffect): void {
    this.effects.push(e);
  }

  emit(e: EventInput): void {
    this.events.push(e);
  }

  /** Takes what the last calls produced (the actor's step returns these). */
  drain(): { effects: TorrentEffect[]; events: EventInput[] } {
    const out = { effects: this.effects, events: this.events };
    this.effects = [];
    this.events = [];
    return out;
  }

  toPeer(key: string, command: PeerCommand): void {
    this.effects.push({ type: 'ToPeer', key, command });
  }

  // ----------------------------------------------------------------------------------------- peers

  peerEvent(key: string, e: PeerEvent): void {
    handlePeerEvent(this, key, e);
  }

  /** A connection is open (dialled or accepted) and its PeerConnection exists. */
  attached(key: string, view: PeerView, outgoing: boolean): void {
    if (this.peers.has(key)) this.scheduler.removePeer(key); // a replaced connection: its close is ignored
    this.peers.set(key, view);
    this.scheduler.addPeer(key);
    if (outgoing) this.peerList.connected(key);
    else this.peerList.accepted(key, this.o.clock());
  }

  /** May an incoming connection from `ip` be accepted now? */
  mayAccept(ip: string): boolean {
    return this.active && !this.peerList.isBanned(ip) && this.peers.size < this.o.maxPeers + 10;
  }

  learn(peers: readonly PeerAddress[], source: PeerSource): void {
    const mine = peers.filter((p) => !p.peerId || !Buffer.from(p.peerId).equals(this.o.peerId));
    const added = this.peerList.learn(mine, source, this.o.clock());
    if (added > 0)
      this.emit({
        category: 'peer',
        type: 'PeersLearned',
        level: 'debug',
        torrent: this.infoHash,
        source,
        added,
      });
    this.connectMore();
  }

  connectMore(): void {
    if (!this.active) return;
    const connecting = this.peerList.connectingCount();
    const room = Math.min(
      this.o.maxPeers - this.peers.size - connecting,
      16 - connecting,
      this.o.engineSlots() - connecting,
    );
    // A finished seed does not dial other seeds' addresses: leechers find it through the tracker.
    for (const k of this.peerList.candidates(this.o.clock(), room, this.completed)) {
      this.peerList.connecting(k.key);
      this.effect({ type: 'Dial', key: k.key, ip: k.ip, port: k.port });
    }
  }

  dialFailed(key: string, reason: string): void {
    this.peerList.dialFailed(key, this.o.clock());
    this.emit({
      category: 'peer',
      type: 'ConnectFailed',
      level: 'debug',
      torrent: this.infoHash,
      peer: key,
      reason,
    });
  }

  strike(key: string, reason: string, weight = 1): void {
    const r = this.peerList.strike(key, weight);
    if (r.bannedIp)
      this.emit({
        category: 'peer',
        type: 'PeerBanned',
        level: 'warn',
        torrent: this.infoHash,
        peer: key,
        reason,
      });
    if (r.close) this.toPeer(key, { type: 'Close', reason: `banned: ${reason}` });
  }

  /** While downloading: ask for peers when few are left, and say once that none are. */
  peerLeft(): void {
    let connected = 0;
    for (const c of this.peers.values()) if (c.handshaked && !c.closed) connected++;
    if (connected < FEW_PEERS) this.effect({ type: 'NeedPeers' });
    if (connected > 0 || this.peersLost) return;
    this.peersLost = true;
    this.emit({
      category: 'peer',
      type: 'PeersLost',
      level: 'warn',
      torrent: this.infoHash,
      have: this.picker.haveCount(),
      pieces: this.o.meta.pieceCount,
    });
  }

  updateInterest(key: string): void {
    const c = this.peers.get(key);
    if (!c) return;
    if (this.completed && this.scheduler.peerPieces(key) === this.o.meta.pieceCount) {
      this.toPeer(key, { type: 'Close', reason: 'both sides are seeds' }); // neither has anything the other wants
      return;
    }
    const want = this.scheduler.isInteresting(key);
    if (want !== c.amInterested) this.toPeer(key, { type: 'SetInterested', interested: want });
    if (want) this.fill(key, true);
  }

  /** Requests for one peer; `interested` when we just (re)declared interest in the same step. */
  fill(key: string, interested = false): void {
    const c = this.peers.get(key);
    if (!c || c.closed || !(c.amInterested || interested)) return;
    const spans = this.scheduler.fill(key, this.o.clock());
    if (spans.length > 0) this.toPeer(key, { type: 'RequestBlocks', spans });
  }

  fillAll(): void {
    for (const key of this.peers.keys()) this.fill(key);
  }

  ourBitfield(): BitSet {
    const bits = BitSet.empty(this.o.meta.pieceCount);
    for (let i = 0; i < this.o.meta.pieceCount; i++) if (this.pieces.servable(i)) bits.set(i);
    return bits;
  }

  // ---------------------------------------------------------------------------------------- pieces

  /** The verifier's answer for a downloaded piece. */
  hashed(index: number, ok: boolean, data: Buffer, error?: string): void {
    this.pieces.hashed(index, ok && error === undefined, data);
    if (error !== undefined) {
      // The hash could not run (shutting down): nobody is to blame; the blocks are free again.
      this.scheduler.pieceAbandoned(index);
      return;
    }
    if (!ok) {
      const blamed = this.scheduler.pieceFailed(index);
      this.stats.wasted += data.length;
      this.emit({
        category: 'piece',
        type: 'HashFailed',
        level: 'warn',
        torrent: this.infoHash,
        index,
        peers: blamed,
      });
      // A piece built from several peers' blocks cannot tell who lied: each shares the strike, so an
      // honest peer that happened to contribute is not banned alongside a bad one.
      for (const id of blamed) this.strike(id, `sent bad data for piece ${index}`, 1 / blamed.length);
      this.fillAll();
      return;
    }
    this.effect({ type: 'Write', index, data });
    this.fillAll();
  }

  /** A verified piece reached the disk (or a seed's piece checked on first read): we have it. */
  pieceWritten(index: number): void {
    if (this.pieces.has(index)) return;
    this.pieces.written(index);
    this.haveIt(index);
    this.emit({
      category: 'piece',
      type: 'PieceVerified',
      level: 'debug',
      torrent: this.infoHash,
      index,
      have: this.picker.haveCount(),
      pieces: this.o.meta.pieceCount,
    });
    for (const [key, c] of this.peers) {
      if (!c.handshaked) continue;
      this.toPeer(key, { type: 'SendHave', index });
      if (c.amInterested && !this.scheduler.isInteresting(key))
        this.toPeer(key, { type: 'SetInterested', interested: false });
    }
    if (this.picker.isComplete() && !this.completed) {
      this.completed = true;
      for (const [key] of this.peers)
        if (this.scheduler.peerPieces(key) === this.o.meta.pieceCount)
          this.toPeer(key, { type: 'Close', reason: 'both sides are seeds' });
      this.effect({ type: 'Completed' });
      this.effect({ type: 'Choke', round: true });
    }
  }

  /** Trusted or checked at start-up, or verified now: the picker and the resume record learn it. */
  haveIt(index: number): void {
    this.scheduler.pieceDone(index);
    this.effect({ type: 'ResumeVerified', index });
  }

  writeFailed(index: number, m: { message: string; code?: string; path?: string }): void {
    this.scheduler.pieceAbandoned(index);
    this.pieces.writeFailed(index);
    this.effect({ type: 'SaveResume' }); // what is verified stays verified on the next start
    this.emit({
      category: 'error',
      type: 'WriteFailed',
      level: 'error',
      torrent: this.infoHash,
      index,
      ...m,
    });
    const err = Object.assign(new Error(m.message), { code: m.code ?? 'EIO', path: m.path });
    this.effect({ type: 'Fatal', error: err });
  }

  updatePause(): void {
    this.scheduler.setPaused(this.diskPressure || this.hashPressure);
  }

  // ---------------------------------------------------------------------------------------- timers

  tick(): void {
    const now = this.o.clock();
    for (const [key, c] of this.peers) {
      c.tick(now);
      if (!c.closed)
        this.scheduler.setDepth(key, pipelineDepth(c.downRate.rate(now), { minDepth: 8, maxDepth: 500 }));
    }
    for (const t of this.scheduler.expire(now, REQUEST_TIMEOUT_MS))
      this.toPeer(t.peer, { type: 'CancelBlock', span: t.span });
    this.ext.tick(now);
    this.fillAll();
    this.connectMore();
  }

  /** Peers for a choke round (with snubbing: wanted data, got no block for SNUB_MS). */
  chokerPeers(): {
    id: string;
    interested: boolean;
    downloadRate: number;
    uploadRate: number;
    snubbed: boolean;
  }[] {
    const now = this.o.clock();
    const out = [];
    for (const [id, c] of this.peers) {
      if (!c.handshaked) continue;
      const last = this.lastBlockAt.get(id) ?? 0;
      const snubbed = c.amInterested && this.scheduler.outstandingCount(id) > 0 && now - last > SNUB_MS;
      out.push({
        id,
        interested: c.peerInterested,
        downloadRate: c.downRate.rate(now),
        uploadRate: c.upRate.rate(now),
        snubbed,
      });
    }
    return out;
  }

  unchokedCount(): number {
    let n = 0;
    for (const c of this.peers.values()) if (!c.amChoking) n++;
    return n;
  }

  setChoke(key: string, choke: boolean): void {
    const c = this.peers.get(key);
    if (!c || c.amChoking === choke) return;
    // Keep uninterested peers as they are: choking them changes nothing and costs a message.
    if (choke && !c.peerInterested) return;
    this.toPeer(key, choke ? { type: 'Choke' } : { type: 'Unchoke' });
    this.emit({
      category: 'peer',
      type: choke ? 'PeerChoked' : 'PeerUnchoked',
      torrent: this.infoHash,
      peer: key,
    });
  }

  addressOf(ip: string, port: number): string {
    return addressKey(ip, port);
  }
}
