/**
 * One peer connection: the runtime that runs the protocol transition (src/core/peer-protocol.ts) on the
 * actor runtime and performs its effects on a transport (a TCP socket, or an encrypting stream over one).
 *
 * Owns: the transport — reading it through the framing reader (src/streams/wire-framing.ts), writing
 * frames (corked until the end of the tick, see `write`), the upload-limit wait before each block, and
 * answering `Pump` with whether the socket has room. Does not own: protocol rules (the transition) or
 * what the torrent does with the facts (`events$`). Supervision: a throw in the transition or an effect fails this actor, which closes
 * the connection with a `PeerClosed` event; nothing reaches the process.
 *
 * Upload memory per connection is bounded by design (UPLOAD_BUDGET): at most SEND_HIGH_WATER bytes queued
 * in the socket plus MAX_READS_IN_FLIGHT blocks being read or waiting for upload tokens. The uploader hands
 * blocks over as copies of their own, never views into a cached piece, so a peer that fills its request
 * queue and reads slowly holds this budget and no more; its queued requests are 12-byte spans.
 *
 * @example
 *   const conn = new PeerConnection({ transport: { stream: socket, encryption: 'none' }, address: '10.0.0.2:6881',
 *     outgoing: true, infoHash, peerId, geometry: meta, ourBitfield: () => bits });
 *   conn.events$.subscribe((e) => console.log(e.type)); // PeerHandshaked, PeerGotBitfield, …, PeerClosed
 *   conn.send({ type: 'SetInterested', interested: true });
 */
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { Observable } from 'rxjs/internal/Observable';
import { Subject } from 'rxjs/internal/Subject';
import { ActorRef, createActor } from './actor';
import {
  MAX_READS_IN_FLIGHT,
  PeerCommand,
  PeerConfig,
  PeerEffect,
  PeerEvent,
  PeerIn,
  PeerState,
  initialPeerState,
  peerTransition,
} from '../core/peer-protocol';
import {
  BLOCK_SIZE,
  BitSet,
  Handshake,
  PieceGeometry,
  WireError,
  encodeHandshake,
  makeReserved,
} from '../protocol/wire-codec';
import { RateMeter } from '../core/rate-meter';
import type { RateLimiter } from '../core/token-bucket';
import type { ExtensionHandshake } from '../protocol/extension-handshake';
import { MAX_METADATA_SIZE } from '../protocol/ut-metadata';
import { limitReceive } from '../streams/rate-limit';
import type { PeerTransport } from '../streams/peer-transport';
import { readDirect } from '../streams/socket-reads';
import { WireFrame, WireReader, sendHandshake, sendMessage } from '../streams/wire-framing';

export type { PeerCommand, PeerEvent, PeerTransport };

export interface PeerConnectionOptions {
  /** The transport; or, for plain TCP, just the socket. */
  transport?: PeerTransport;
  socket?: Socket;
  /** `ip:port` for logs and bookkeeping. */
  address: string;
  /** True when we dialled (we send our handshake first). */
  outgoing: boolean;
  /** The peer's handshake when the listener already read it (incoming connections routed by info-hash). */
  remoteHandshake?: Handshake;
  infoHash: Buffer;
  peerId: Buffer;
  /** The torrent's shape; null for a magnet's connection, which only fetches the metadata. */
  geometry: PieceGeometry | null;
  /** Our pieces, for the first message. */
  ourBitfield: () => BitSet;
  /** BEP 10: set its bit, offer these extensions, send this handshake (default: no BEP 10). */
  extensions?: PeerConfig['extensions'];
  /** BEP 5: our DHT port (sets the bit; PORT is sent when the peer sets it too). Default: no DHT. */
  dhtPort?: number;
  clock?: () => number;
  /** Most peer requests queued at once (default MAX_QUEUED_REQUESTS). */
  maxQueuedRequests?: number;
  /** Close after this long without any message from the peer (default 180 s). */
  idleTimeoutMs?: number;
  /** Close when no handshake has arrived this long after connecting (default 20 s). */
  handshakeTimeoutMs?: number;
  /** Process-wide download limit, shared by every peer (`--max-down`). */
  downBucket?: RateLimiter;
  /** Process-wide upload limit, shared by every peer (`--max-up`). */
  upBucket?: RateLimiter;
  /**
   * Start reading and (when dialled) send our handshake in the constructor (default true). False lets
   * the owner subscribe to `events$` first and call `start()`: nothing is emitted before that.
   */
  autoStart?: boolean;
}

/** Requests from one peer we queue without dropping; advertised as our BEP 10 `reqq`. */
export const MAX_QUEUED_REQUESTS = 256;
/** Without the metadata the piece count is unknown: allow the bitfield of the largest torrent we accept. */
const METADATA_MODE_MAX_MESSAGE = 1 + Math.ceil(MAX_METADATA_SIZE / 20 / 8);
/** Our reserved bytes: the fast extension always, BEP 10 when the connection has extensions, BEP 5 with a DHT port. */
function reservedFor(o: Pick<PeerConnectionOptions, 'extensions' | 'dhtPort'>): Buffer {
  return makeReserved({ fast: true, extensions: o.extensions !== undefined, dht: (o.dhtPort ?? 0) > 0 });
}

/** Bytes queued in the socket before we stop pulling more blocks to send. */
const SEND_HIGH_WATER = 1024 * 1024;
/** Upload memory one connection may hold (see the module header). */
export const UPLOAD_BUDGET = SEND_HIGH_WATER + MAX_READS_IN_FLIGHT * BLOCK_SIZE;

export class PeerConnection {
  readonly address: string;
  readonly outgoing: boolean;
  readonly encryption: PeerTransport['encryption'];
  private readonly stream: Duplex;
  private readonly actor: ActorRef<PeerIn, PeerEvent, PeerState>;
  private readonly state: PeerState;
  private readonly events = new Subject<PeerEvent>();
  /** Facts about this connection; `PeerClosed` is always the last one. */
  readonly events$: Observable<PeerEvent> = this.events.asObservable();
  private readonly clock: () => number;
  private readonly delayed = new Set<NodeJS.Timeout>();
  private unrequested = 0;

  constructor(private readonly o: PeerConnectionOptions) {
    const transport: PeerTransport = o.transport ?? { stream: o.socket as Socket, encryption: 'none' };
    this.stream = transport.stream;
    this.encryption = transport.encryption;
    this.address = o.address;
    this.outgoing = o.outgoing;
    this.clock = o.clock ?? Date.now;
    const reserved = reservedFor(o);
    this.state = initialPeerState(
      {
        geometry: o.geometry,
        reserved,
        ourPeerId: o.peerId,
        outgoing: o.outgoing,
        ourBitfield: o.ourBitfield,
        maxQueuedRequests: o.maxQueuedRequests ?? MAX_QUEUED_REQUESTS,
        idleTimeoutMs: o.idleTimeoutMs ?? 180_000,
        extensions: o.extensions,
        dhtPort: o.dhtPort,
      },
      this.clock(),
      o.handshakeTimeoutMs ?? 20_000,
    );
    this.actor = createActor<PeerState, PeerIn, PeerEvent, PeerEffect>({
      name: `peer ${o.address}`,
      initial: this.state,
      transition: peerTransition,
      perform: (eff) => this.perform(eff),
      onError: (err) => this.failed(err),
    });
    // Not completed from the actor: after a failure the actor's streams end before `failed` reports.
    this.actor.events$.subscribe((e) => this.events.next(e));
    this.prelude = transport.prelude;
    this.handshakeSent = transport.handshakeSent === true;
    if (o.autoStart !== false) this.start();
  }

  private prelude: Buffer | undefined;
  /** Our handshake went out as the MSE initial payload (see `ourHandshake`). */
  private readonly handshakeSent: boolean;
  private started = false;

  /**
   * The handshake a connection with these options sends: what a dialler passes as the MSE initial
   * payload, so that the bytes (reserved bits included) are the connection's own.
   */
  static ourHandshake(
    o: Pick<PeerConnectionOptions, 'infoHash' | 'peerId' | 'extensions' | 'dhtPort'>,
  ): Buffer {
    return encodeHandshake({ infoHash: o.infoHash, peerId: o.peerId, reserved: reservedFor(o) });
  }

  /** Starts reading the transport and, for a dialled connection, sends our handshake. Idempotent. */
  start(): void {
    if (this.started) return;
    this.started = true;
    if ((this.stream as Socket).setNoDelay) (this.stream as Socket).setNoDelay(true);
    this.attachReader(this.prelude, this.state.config.reserved);
    this.prelude = undefined;
    this.stream.on('drain', () => this.pump());
    if (this.o.outgoing && !this.handshakeSent) this.writeHandshake();
  }

  // --------------------------------------------------------------------------------------- public API

  send(command: PeerCommand): void {
    this.actor.send(command);
  }

  /** Called about once a second by the torrent: keep-alive, handshake and idle timeouts. */
  tick(now: number): void {
    this.actor.send({ type: 'Tick', now });
  }

  close(reason: string, violation: boolean): void {
    if (violation) this.actor.send({ type: 'WireFailed', reason, violation });
    else this.actor.send({ type: 'Close', reason });
  }

  /** Counts one block the peer sent that we had not asked for; returns the total so far. */
  unrequestedBlock(): number {
    return ++this.unrequested;
  }

  get peerId(): Buffer | null {
    return this.state.peerId;
  }
  get fast(): boolean {
    return this.state.fast;
  }
  get extensions(): boolean {
    return this.state.extensions;
  }
  get handshaked(): boolean {
    return this.state.handshaked;
  }
  /** The peer's latest BEP 10 handshake (its client name `v`, `reqq`, listen port `p`…), if it sent one. */
  get extensionHandshake(): ExtensionHandshake | undefined {
    return this.state.ext.handshake;
  }
  get closed(): boolean {
    return this.state.closed || this.actor.status() !== 'active';
  }
  get amChoking(): boolean {
    return this.state.amChoking;
  }
  get amInterested(): boolean {
    return this.state.amInterested;
  }
  get peerChoking(): boolean {
    return this.state.peerChoking;
  }
  get peerInterested(): boolean {
    return this.state.peerInterested;
  }
  get downloaded(): number {
    return this.state.downloaded;
  }
  get uploaded(): number {
    return this.state.uploaded;
  }
  get downRate(): RateMeter {
    return this.state.downRate;
  }
  get upRate(): RateMeter {
    return this.state.upRate;
  }
  /** Requests from the peer waiting to be served. */
  get queuedUploads(): number {
    return this.state.uploads.length;
  }

  // ------------------------------------------------------------------------------------------ runtime

  private attachReader(prelude: Buffer | undefined, reserved: Buffer): void {
    const reader = new WireReader({
      pieceCount: this.o.geometry?.pieceCount ?? 0,
      ...(this.o.geometry === null ? { maxMessageLength: METADATA_MODE_MAX_MESSAGE } : {}),
      expectInfoHash: this.o.infoHash,
      localReserved: reserved,
      handshake: this.o.remoteHandshake === undefined,
      remoteReserved: this.o.remoteHandshake?.reserved,
    });
    const emit = (frame: WireFrame): void => this.actor.send({ type: 'GotFrame', frame, now: this.clock() });
    const fail = (err: unknown): void => {
      const wire = err instanceof WireError;
      this.actor.send({
        type: 'WireFailed',
        reason: wire ? `protocol error: ${err.message}` : ((err as Error)?.message ?? String(err)),
        violation: wire,
      });
    };
    const push = (chunk: Buffer, transient = false): void => {
      if (this.state.closed) return;
      try {
        if (transient) reader.pushTransient(chunk, emit);
        else reader.push(chunk, emit);
      } catch (err) {
        fail(err);
      }
    };
    const down = this.o.downBucket;
    const onChunk = (chunk: Buffer, transient: boolean): void => {
      push(chunk, transient);
      // Pausing the stream after a chunk makes TCP slow the sender down; nothing is buffered here.
      if (down) limitReceive(this.stream, down, chunk.length, this.clock);
    };

    const ended = (): void => {
      if (this.state.closed) return;
      try {
        reader.end();
        this.actor.send({ type: 'WireFailed', reason: this.closedReason(), violation: false });
      } catch (err) {
        fail(err);
      }
    };
    this.stream.on('end', ended);
    this.stream.on('close', ended);
    this.stream.on('error', (err: Error) =>
      this.actor.send({ type: 'WireFailed', reason: err.message, violation: false }),
    );
    if (this.o.remoteHandshake) emit(this.o.remoteHandshake);
    if (prelude && prelude.length > 0) push(prelude);
    // After the prelude, which comes first. A socket we dialled reads into a shared buffer: its blocks
    // go from there straight into their pieces (the torrent consumes each synchronously, within this
    // call); other streams emit 'data'.
    if (!readDirect(this.stream, (view) => onChunk(view, true)))
      this.stream.on('data', (chunk: Buffer) => onChunk(chunk, false));
    this.stream.resume(); // a listener that read the handshake left the stream paused
  }

  /** Why the peer's end came, in words: before its handshake on a plain dial, our policy may be why. */
  private closedReason(): string {
    if (this.state.handshaked) return 'connection closed by peer';
    if (this.o.outgoing && this.encryption === 'none')
      return 'connection closed by peer before its handshake (a peer that requires encryption refuses plain ones)';
    return 'connection closed by peer before its handshake';
  }

  private perform(eff: PeerEffect): void {
    switch (eff.type) {
      case 'Write':
        return this.write(() => sendMessage(this.stream, eff.message));
      case 'WriteRequests':
        return this.write(() => {
          this.stream.cork();
          for (const s of eff.spans)
            sendMessage(this.stream, { type: 'Request', index: s.index, begin: s.begin, length: s.length });
          this.stream.uncork();
          return true;
        });
      case 'SendHandshake':
        return this.writeHandshake();
      case 'SendPiece': {
        // Under --max-up the block waits its turn; it stays counted as a read in flight until sent, so at
        // most MAX_READS_IN_FLIGHT blocks per peer are ever held back.
        const wait = this.o.upBucket?.reserve(eff.data.length, this.clock()) ?? 0;
        if (wait <= 0) return this.sendPiece(eff.span.index, eff.span.begin, eff.data);
        const t = setTimeout(() => {
          this.delayed.delete(t);
          this.sendPiece(eff.span.index, eff.span.begin, eff.data);
        }, wait);
        this.delayed.add(t);
        return;
      }
      case 'Pump':
        return this.pump();
      case 'Close':
        return this.shutdown();
    }
  }

  private sendPiece(index: number, begin: number, block: Buffer): void {
    const ok = !this.state.closed && !this.stream.destroyed;
    if (ok) this.write(() => sendMessage(this.stream, { type: 'Piece', index, begin, block }));
    const canSend = this.stream.writableLength < SEND_HIGH_WATER;
    this.actor.send({ type: 'PieceSent', bytes: block.length, sent: ok, now: this.clock(), canSend });
  }

  private pump(): void {
    this.actor.send({ type: 'Pump', canSend: this.stream.writableLength < SEND_HIGH_WATER });
  }

  private writeHandshake(): void {
    this.write(() =>
      sendHandshake(this.stream, {
        infoHash: this.o.infoHash,
        peerId: this.o.peerId,
        reserved: this.state.config.reserved,
      }),
    );
  }

  /** Corked from a tick's first write to its end: a burst of blocks leaves in one writev, not one each. */
  private corked = false;
  private readonly flush = (): void => {
    if (!this.corked) return;
    this.corked = false;
    this.stream.uncork();
  };

  private write(f: () => boolean): void {
    if (this.state.closed || this.stream.destroyed) return;
    this.state.lastSent = this.clock(); // the runtime records when it last wrote, for keep-alives
    if (!this.corked) {
      this.corked = true;
      this.stream.cork();
      process.nextTick(this.flush);
    }
    try {
      f();
    } catch (err) {
      this.actor.send({
        type: 'WireFailed',
        reason: `write failed: ${(err as Error).message}`,
        violation: false,
      });
    }
  }

  private shutdown(): void {
    for (const t of this.delayed) clearTimeout(t);
    this.delayed.clear();
    this.flush(); // what this step wrote (a reject, a last message) goes out before the socket closes
    this.stream.destroy();
    // PeerClosed went out with this step's events (events before effects): nothing follows it.
    this.actor.stop();
    this.events.complete();
  }

  /** The transition or an effect threw (a bug): the connection ends, reported like any other close. */
  private failed(err: unknown): void {
    const reason = `internal error: ${(err as Error)?.message ?? String(err)}`;
    if (!this.state.closed) {
      this.state.closed = true;
      this.events.next({ type: 'PeerClosed', reason, violation: false });
    }
    for (const t of this.delayed) clearTimeout(t);
    this.flush();
    this.stream.destroy();
    this.events.complete();
  }
}
