/**
 * One peer connection: the runtime that owns a socket and speaks the BEP 3 wire (with BEP 6 when both
 * sides set the bit).
 *
 * Owns: the handshake, the first-message rules, choke/interest state both ways, keep-alives and the
 * idle timeout, validating every message against the torrent, the bounded queue of the peer's requests
 * (served only as fast as the socket drains), and byte counters and rate meters. Does not own: which
 * blocks to ask for (the scheduler), whether a block is good (the verifier), or reading piece data (the
 * session answers `PeerWantsBlock` with `SendBlock`).
 *
 * Shape (STYLE.md): commands in through `send` (one inbox Subject), facts out through `events$`. Any
 * protocol violation ends this connection with a `PeerClosed` event and nothing else.
 */
import type { Socket } from 'node:net';
import { Observable, Subject, Subscription } from 'rxjs';
import {
  BitSet,
  PieceGeometry,
  WireError,
  WireMessage,
  makeReserved,
  supportsFast,
  validateMessage,
} from '../protocol/wire-codec';
import { readWire, sendHandshake, sendMessage } from '../streams/wire-framing';
import type { BlockSpan } from '../core/piece-picker';
import { RateMeter } from '../core/rate-meter';
import { TokenBucket } from '../core/token-bucket';
import { limitReceive } from '../streams/rate-limit';

export type PeerCommand =
  | { type: 'RequestBlocks'; spans: readonly BlockSpan[] }
  | { type: 'CancelBlock'; span: BlockSpan }
  | { type: 'SendHave'; index: number }
  | { type: 'Choke' }
  | { type: 'Unchoke' }
  | { type: 'SetInterested'; interested: boolean }
  | { type: 'SendBlock'; span: BlockSpan; data: Buffer }
  | { type: 'BlockUnavailable'; span: BlockSpan }
  | { type: 'Close'; reason: string };

export type PeerEvent =
  | { type: 'PeerHandshaked'; peerId: Buffer; fast: boolean }
  | { type: 'PeerGotBitfield'; bits: BitSet }
  | { type: 'PeerGotHave'; index: number }
  | { type: 'PeerGotHaveAll' }
  | { type: 'PeerGotAllowedFast'; index: number }
  | { type: 'PeerChokedUs' }
  | { type: 'PeerUnchokedUs' }
  | { type: 'PeerInterested' }
  | { type: 'PeerNotInterested' }
  | { type: 'PeerSentBlock'; span: BlockSpan; data: Buffer }
  | { type: 'PeerRejected'; span: BlockSpan }
  | { type: 'PeerWantsBlock'; span: BlockSpan }
  | { type: 'PeerClosed'; reason: string; violation: boolean };

export interface PeerConnectionOptions {
  socket: Socket;
  /** `ip:port` for logs and bookkeeping. */
  address: string;
  /** True when we dialled (we send our handshake first). */
  outgoing: boolean;
  infoHash: Buffer;
  peerId: Buffer;
  geometry: PieceGeometry;
  /** Our pieces, for the first message. */
  ourBitfield: () => BitSet;
  clock?: () => number;
  /** Most peer requests queued at once (we advertise nothing, so peers assume ~250). */
  maxQueuedRequests?: number;
  /** Close after this long without any message from the peer (default 180 s). */
  idleTimeoutMs?: number;
  /** Close when no handshake has arrived this long after connecting (default 20 s). */
  handshakeTimeoutMs?: number;
  /** Process-wide download limit, shared by every peer (`--max-down`). */
  downBucket?: TokenBucket;
  /** Process-wide upload limit, shared by every peer (`--max-up`). */
  upBucket?: TokenBucket;
}

const KEEPALIVE_MS = 90_000;
const MAX_READS_IN_FLIGHT = 4;
/** Bytes queued in the socket before we stop pulling more blocks to send. */
const SEND_HIGH_WATER = 1024 * 1024;
/**
 * Upload memory per connection, by design: at most SEND_HIGH_WATER bytes queued in the socket plus
 * MAX_READS_IN_FLIGHT blocks being read or waiting for upload tokens. Blocks are handed to us as copies
 * of their own (never views into a cached piece), so a peer that requests its whole queue and then reads
 * slowly holds this budget and no more; its queued requests are 12-byte spans.
 */
export const UPLOAD_BUDGET = SEND_HIGH_WATER + MAX_READS_IN_FLIGHT * 16 * 1024;
/** Requests refused (choked or queue full) since we last unchoked the peer before we call it a flood. */
const MAX_EXCESS_REQUESTS = 10_000;

export class PeerConnection {
  readonly address: string;
  readonly outgoing: boolean;
  peerId: Buffer | null = null;
  fast = false;
  handshaked = false;
  /** We choke them / they choke us; interest both ways. */
  amChoking = true;
  amInterested = false;
  peerChoking = true;
  peerInterested = false;
  downloaded = 0;
  uploaded = 0;
  readonly downRate: RateMeter;
  readonly upRate: RateMeter;
  closed = false;

  private readonly socket: Socket;
  private readonly inbox = new Subject<PeerCommand>();
  private readonly events = new Subject<PeerEvent>();
  readonly events$: Observable<PeerEvent> = this.events.asObservable();
  private readonly sub = new Subscription();
  private readonly clock: () => number;
  private readonly reserved = makeReserved({ fast: true });
  private readonly uploads: BlockSpan[] = [];
  private readsInFlight = 0;
  /** Blocks waiting for upload tokens (--max-up). */
  private readonly delayed = new Set<NodeJS.Timeout>();
  private gotFirstMessage = false;
  private lastReceived: number;
  private lastSent: number;
  private readonly maxQueued: number;
  /** The first message was BITFIELD, HAVE ALL or HAVE NONE (so a later one is an update, not a violation). */
  private openedWithPieces = false;
  private readonly idleTimeout: number;
  private readonly handshakeDeadline: number;
  private excessRequests = 0;
  private unrequested = 0;

  constructor(private readonly o: PeerConnectionOptions) {
    this.socket = o.socket;
    this.address = o.address;
    this.outgoing = o.outgoing;
    this.clock = o.clock ?? Date.now;
    this.lastReceived = this.lastSent = this.clock();
    this.maxQueued = o.maxQueuedRequests ?? 256;
    this.idleTimeout = o.idleTimeoutMs ?? 180_000;
    // A silent socket still holds one of the session's few connection slots: it gets seconds, not minutes.
    this.handshakeDeadline = this.lastReceived + (o.handshakeTimeoutMs ?? 20_000);
    this.downRate = new RateMeter({ start: this.lastReceived });
    this.upRate = new RateMeter({ start: this.lastReceived });
    this.socket.setNoDelay(true);
    this.sub.add(this.inbox.subscribe((c) => this.handle(c)));
    this.sub.add(
      readWire(this.socket, {
        pieceCount: o.geometry.pieceCount,
        expectInfoHash: o.infoHash,
        localReserved: this.reserved,
      }).subscribe({
        next: (f) => this.guard(f.type, () => this.onFrame(f)),
        error: (err: Error) =>
          this.close(
            err instanceof WireError ? `protocol error: ${err.message}` : err.message,
            err instanceof WireError,
          ),
        complete: () => this.close('connection closed by peer', false),
      }),
    );
    this.socket.on('drain', () => this.pumpUploads());
    const down = o.downBucket;
    // Pausing the socket after a chunk makes TCP slow the sender down; nothing is buffered here.
    if (down)
      this.socket.on('data', (chunk: Buffer) => limitReceive(this.socket, down, chunk.length, this.clock));
    if (o.outgoing)
      this.write(() =>
        sendHandshake(this.socket, { infoHash: o.infoHash, peerId: o.peerId, reserved: this.reserved }),
      );
  }

  send(command: PeerCommand): void {
    if (!this.closed) this.inbox.next(command);
  }

  /** Counts one block the peer sent that we had not asked for; returns the total so far. */
  unrequestedBlock(): number {
    return ++this.unrequested;
  }

  /** Requests from the peer waiting to be served. */
  get queuedUploads(): number {
    return this.uploads.length;
  }

  /** Called about once a second by the session: keep-alive and idle timeout. */
  tick(now: number): void {
    if (this.closed) return;
    if (!this.handshaked && now > this.handshakeDeadline) {
      this.close('handshake timeout', false);
      return;
    }
    if (now - this.lastReceived > this.idleTimeout) {
      this.close('idle timeout', false);
      return;
    }
    if (this.handshaked && now - this.lastSent > KEEPALIVE_MS) this.sendWire({ type: 'KeepAlive' });
  }

  close(reason: string, violation: boolean): void {
    if (this.closed) return;
    this.closed = true;
    this.uploads.length = 0;
    for (const t of this.delayed) clearTimeout(t);
    this.delayed.clear();
    this.socket.destroy();
    this.events.next({ type: 'PeerClosed', reason, violation });
    this.sub.unsubscribe();
    this.events.complete();
    this.inbox.complete();
  }

  /** Supervision: a throw while handling a command or a frame closes this connection, nothing else. */
  private guard(what: string, f: () => void): void {
    try {
      f();
    } catch (err) {
      this.close(`internal error handling ${what}: ${(err as Error)?.message ?? String(err)}`, false);
    }
  }

  private handle(c: PeerCommand): void {
    this.guard(c.type, () => this.perform(c));
  }

  private perform(c: PeerCommand): void {
    if (this.closed) return;
    switch (c.type) {
      case 'RequestBlocks':
        if (c.spans.length === 0) return;
        this.socket.cork();
        for (const s of c.spans)
          this.sendWire({ type: 'Request', index: s.index, begin: s.begin, length: s.length });
        this.socket.uncork();
        return;
      case 'CancelBlock':
        this.sendWire({ type: 'Cancel', ...c.span });
        return;
      case 'SendHave':
        this.sendWire({ type: 'Have', index: c.index });
        return;
      case 'Choke':
        if (this.amChoking) return;
        this.amChoking = true;
        this.sendWire({ type: 'Choke' });
        // Without BEP 6 a choke silently drops their queue; with it, each request gets a reject.
        for (const s of this.uploads.splice(0)) if (this.fast) this.sendWire({ type: 'Reject', ...s });
        return;
      case 'Unchoke':
        if (!this.amChoking) return;
        this.amChoking = false;
        this.excessRequests = 0; // requests that raced earlier chokes are forgiven
        this.sendWire({ type: 'Unchoke' });
        return;
      case 'SetInterested':
        if (this.amInterested === c.interested) return;
        this.amInterested = c.interested;
        this.sendWire({ type: c.interested ? 'Interested' : 'NotInterested' });
        return;
      case 'SendBlock': {
        // Under --max-up the block waits its turn; it stays counted in flight until sent, so at most
        // MAX_READS_IN_FLIGHT blocks per peer are ever held back.
        const wait = this.o.upBucket?.reserve(c.data.length, this.clock()) ?? 0;
        if (wait <= 0) return this.sendBlock(c.span, c.data);
        const t = setTimeout(() => {
          this.delayed.delete(t);
          this.sendBlock(c.span, c.data);
        }, wait);
        this.delayed.add(t);
        return;
      }
      case 'BlockUnavailable':
        this.readsInFlight--;
        if (this.fast) this.sendWire({ type: 'Reject', ...c.span });
        this.pumpUploads();
        return;
      case 'Close':
        this.close(c.reason, false);
        return;
    }
  }

  private onFrame(
    f: WireMessage | { type: 'Handshake'; reserved: Buffer; infoHash: Buffer; peerId: Buffer },
  ): void {
    if (this.closed) return;
    this.lastReceived = this.clock();
    if (f.type === 'Handshake') {
      if (f.peerId.equals(this.o.peerId)) return this.close('connected to ourselves', false);
      this.peerId = Buffer.from(f.peerId);
      this.fast = supportsFast(f.reserved) && supportsFast(this.reserved);
      if (!this.o.outgoing)
        this.write(() =>
          sendHandshake(this.socket, {
            infoHash: this.o.infoHash,
            peerId: this.o.peerId,
            reserved: this.reserved,
          }),
        );
      this.handshaked = true;
      this.events.next({ type: 'PeerHandshaked', peerId: this.peerId, fast: this.fast });
      if (this.closed) return;
      this.sendFirstMessage();
      return;
    }
    const bad = validateMessage(f, this.o.geometry);
    if (bad) return this.close(`protocol error: ${bad.message}`, true);
    const first = !this.gotFirstMessage;
    if (f.type !== 'KeepAlive') this.gotFirstMessage = true;
    switch (f.type) {
      case 'KeepAlive':
      case 'Port':
      case 'Suggest':
      case 'Extended':
        return;
      case 'Bitfield':
      case 'HaveAll':
      case 'HaveNone':
        // BEP 3/6 want these first. aria2, having opened with one, later sends a fresh BITFIELD (or HAVE
        // ALL) instead of a run of HAVEs: take that as an update. Without an opening one it is a violation.
        if (first) this.openedWithPieces = true;
        else if (!this.openedWithPieces)
          return this.close(`protocol error: ${f.type} after the first message`, true);
        else if (f.type === 'HaveNone') return;
        if (f.type === 'Bitfield')
          this.events.next({
            type: 'PeerGotBitfield',
            bits: BitSet.fromBuffer(f.bits, this.o.geometry.pieceCount),
          });
        else if (f.type === 'HaveAll') this.events.next({ type: 'PeerGotHaveAll' });
        return;
      case 'Have':
        this.events.next({ type: 'PeerGotHave', index: f.index });
        return;
      case 'AllowedFast':
        this.events.next({ type: 'PeerGotAllowedFast', index: f.index });
        return;
      case 'Choke':
        this.peerChoking = true;
        this.events.next({ type: 'PeerChokedUs' });
        return;
      case 'Unchoke':
        this.peerChoking = false;
        this.events.next({ type: 'PeerUnchokedUs' });
        return;
      case 'Interested':
        this.peerInterested = true;
        this.events.next({ type: 'PeerInterested' });
        return;
      case 'NotInterested':
        this.peerInterested = false;
        this.events.next({ type: 'PeerNotInterested' });
        return;
      case 'Request':
        return this.onRequest({ index: f.index, begin: f.begin, length: f.length });
      case 'Cancel': {
        const i = this.uploads.findIndex(
          (s) => s.index === f.index && s.begin === f.begin && s.length === f.length,
        );
        if (i >= 0) this.uploads.splice(i, 1);
        return;
      }
      case 'Reject':
        if (!this.fast) return this.close('protocol error: reject without the fast extension', true);
        this.events.next({
          type: 'PeerRejected',
          span: { index: f.index, begin: f.begin, length: f.length },
        });
        return;
      case 'Piece':
        this.downloaded += f.block.length;
        this.downRate.add(f.block.length, this.lastReceived);
        this.events.next({
          type: 'PeerSentBlock',
          span: { index: f.index, begin: f.begin, length: f.block.length },
          data: f.block,
        });
        return;
    }
  }

  private onRequest(span: BlockSpan): void {
    if (this.amChoking || this.uploads.length >= this.maxQueued) {
      // Requests while choked are allowed to race a choke, and a fast peer may overrun the queue a little;
      // answer with a reject when we can. A flood far past either (every reject is a queued write, so
      // without a cutoff a peer that never reads grows our send buffer without bound) is an attack.
      if (++this.excessRequests > MAX_EXCESS_REQUESTS) return this.close('request flood', true);
      if (this.fast) this.sendWire({ type: 'Reject', ...span });
      return;
    }
    this.uploads.push(span);
    this.pumpUploads();
  }

  private sendBlock(span: BlockSpan, data: Buffer): void {
    this.readsInFlight--;
    if (this.closed) return;
    if (!this.amChoking || this.fast) {
      this.sendWire({ type: 'Piece', index: span.index, begin: span.begin, block: data });
      this.uploaded += data.length;
      this.upRate.add(data.length, this.clock());
    }
    this.pumpUploads();
  }

  /** Ask the session for block data while the socket has room and few reads are pending. */
  private pumpUploads(): void {
    while (
      !this.closed &&
      this.uploads.length > 0 &&
      this.readsInFlight < MAX_READS_IN_FLIGHT &&
      this.socket.writableLength < SEND_HIGH_WATER
    ) {
      const span = this.uploads.shift() as BlockSpan;
      this.readsInFlight++;
      this.events.next({ type: 'PeerWantsBlock', span });
    }
  }

  private sendFirstMessage(): void {
    const bits = this.o.ourBitfield();
    if (this.fast && bits.isComplete()) this.sendWire({ type: 'HaveAll' });
    else if (this.fast && bits.isEmpty()) this.sendWire({ type: 'HaveNone' });
    else if (!bits.isEmpty()) this.sendWire({ type: 'Bitfield', bits: bits.toBuffer() });
  }

  private sendWire(m: WireMessage): void {
    this.write(() => sendMessage(this.socket, m));
  }

  private write(f: () => boolean): void {
    if (this.closed || this.socket.destroyed) return;
    this.lastSent = this.clock();
    try {
      f();
    } catch (err) {
      this.close(`write failed: ${(err as Error).message}`, false);
    }
  }
}
