/**
 * Peer wire framing: turns a socket's byte chunks into a handshake followed by decoded messages, with hard
 * limits, and writes messages back with the socket's backpressure signal.
 *
 * Owns: splitting `<len><id><body>` frames out of arbitrary chunks (`WireReader`), the length caps, the
 * RxJS adaptors (`wireFraming`, `fromSocket`, `readWire`) and the writers (`sendHandshake`, `sendMessage`).
 * Does not own: byte layouts (src/protocol/wire-codec.ts) or what a message means (the peer actor; it
 * should run `validateMessage` on what it gets).
 *
 * Limits, checked before anything is buffered:
 *   - the handshake's first byte must be 19 and the next 19 `BitTorrent protocol` (garbage fails at once);
 *   - a length prefix above `maxMessageLength` fails as soon as its 4 bytes arrive (a 4 GiB prefix costs
 *     nothing); the default is max(13 + BLOCK_SIZE, 1 + ceil(pieceCount / 8), maxExtendedLength);
 *   - once the id byte arrives: a piece may carry at most BLOCK_SIZE, a bitfield at most ceil(pieceCount / 8)
 *     bytes, an extended message at most `maxExtendedLength`; fixed-size messages must have their size;
 *     unknown ids fail without waiting for the body.
 * The reader holds at most one incomplete message plus the chunk it arrived in: complete frames are
 * emitted synchronously as each chunk is parsed. Chunks are kept in a list with a read offset (no
 * concatenation per chunk); a frame that lies inside one chunk is a view of it, not a copy.
 *
 * Errors are `WireError`s (`bad-protocol`, `info-hash-mismatch`, `message-too-large`, `unknown-id`,
 * `bad-length`, `not-negotiated`, `truncated`...): a protocol error ends that peer's stream, nothing else.
 *
 * @example
 *   readWire(socket, { pieceCount: 1200, expectInfoHash: infoHash }).subscribe({
 *     next: (m) => console.log(m.type), // 'Handshake', 'Bitfield', 'Unchoke', 'Piece', ...
 *     error: (e: WireError) => console.log(e.code), // the socket is already destroyed
 *   });
 */
import type { Duplex } from 'node:stream';
import { Observable } from 'rxjs/internal/Observable';
import type { OperatorFunction } from 'rxjs/internal/types';
import {
  BLOCK_SIZE,
  decodeHandshake,
  decodeMessage,
  checkHandshakePrefix,
  encodeHandshake,
  encodeMessage,
  encodePieceHeader,
  DecodeMessageOptions,
  Handshake,
  HANDSHAKE_LENGTH,
  MessageId,
  supportsExtensions,
  supportsFast,
  WireError,
  WireMessage,
} from '../protocol/wire-codec';

/** What the framing emits: the handshake first, then messages. */
export type WireFrame = Handshake | WireMessage;

/** Default cap for one BEP 10 message: a 16 KiB ut_metadata block plus its bencoded header, with room. */
export const DEFAULT_MAX_EXTENDED_LENGTH = 2 + BLOCK_SIZE + 8192;

export interface WireFramingOptions {
  /** Pieces in the torrent; sizes the bitfield cap. Unknown (0) allows only the non-bitfield caps. */
  pieceCount?: number;
  /** Cap on a length prefix (bytes after the prefix). Default: see the module comment. */
  maxMessageLength?: number;
  /** Cap on an extended message's length prefix (default DEFAULT_MAX_EXTENDED_LENGTH). */
  maxExtendedLength?: number;
  /** Info-hash this connection serves, or a predicate for incoming connections. */
  expectInfoHash?: Buffer | ((infoHash: Buffer) => boolean);
  /**
   * Our reserved bytes. When given, BEP 6 and BEP 10 messages are refused (`not-negotiated`) unless both
   * handshakes set the bit; when omitted, they are accepted.
   */
  localReserved?: Buffer;
  /** Expect a handshake first (default true); false for a stream already past it. */
  handshake?: boolean;
  /**
   * The peer's reserved bytes when its handshake was read elsewhere (`handshake: false`, e.g. by the
   * listener that routed the connection): with `localReserved`, decides which messages are negotiated.
   */
  remoteReserved?: Buffer;
}

/** The default cap on a length prefix for a torrent of `pieceCount` pieces. */
export function defaultMaxMessageLength(
  pieceCount = 0,
  maxExtendedLength = DEFAULT_MAX_EXTENDED_LENGTH,
): number {
  return Math.max(13 + BLOCK_SIZE, 1 + Math.ceil(pieceCount / 8), maxExtendedLength);
}

const FIXED_BODY: ReadonlyMap<number, number> = new Map([
  [MessageId.Choke, 0],
  [MessageId.Unchoke, 0],
  [MessageId.Interested, 0],
  [MessageId.NotInterested, 0],
  [MessageId.HaveAll, 0],
  [MessageId.HaveNone, 0],
  [MessageId.Have, 4],
  [MessageId.Suggest, 4],
  [MessageId.AllowedFast, 4],
  [MessageId.Request, 12],
  [MessageId.Cancel, 12],
  [MessageId.Reject, 12],
  [MessageId.Port, 2],
]);

/**
 * A push parser: feed it chunks, it calls `emit` for each complete handshake or message, and throws a
 * `WireError` on the first violation (after which it must not be used). Pure apart from the callback.
 */
export class WireReader {
  private readonly chunks: Buffer[] = [];
  /** Read offset into chunks[0]. */
  private offset = 0;
  private available = 0;
  private awaitingHandshake: boolean;
  private decodeOpts: DecodeMessageOptions = {};
  private failed = false;
  /** The chunk being parsed is reused after `pushTransient` returns. */
  private transient = false;
  private readonly maxLength: number;
  private readonly maxExtended: number;
  private readonly maxBitfield: number;
  /** Largest number of bytes ever held between chunks (for tests and diagnostics). */
  maxBuffered = 0;

  constructor(private readonly opts: WireFramingOptions = {}) {
    this.awaitingHandshake = opts.handshake !== false;
    this.maxExtended = opts.maxExtendedLength ?? DEFAULT_MAX_EXTENDED_LENGTH;
    this.maxLength = opts.maxMessageLength ?? defaultMaxMessageLength(opts.pieceCount ?? 0, this.maxExtended);
    this.maxBitfield = 1 + Math.ceil((opts.pieceCount ?? 0) / 8);
    if (opts.localReserved && opts.remoteReserved) this.negotiate(opts.localReserved, opts.remoteReserved);
  }

  private negotiate(local: Buffer, remote: Buffer): void {
    this.decodeOpts = {
      fast: supportsFast(local) && supportsFast(remote),
      extensions: supportsExtensions(local) && supportsExtensions(remote),
    };
  }

  /** Bytes received but not yet part of an emitted frame. */
  get buffered(): number {
    return this.available;
  }

  push(chunk: Buffer, emit: (frame: WireFrame) => void): void {
    this.pushChunk(chunk, emit, false);
  }

  /**
   * Like `push`, for a chunk whose memory is reused once this returns (src/streams/socket-reads.ts): a
   * piece's block is emitted as a view valid only during `emit` (the receiver copies it into its piece),
   * every other frame as a copy, and the bytes of an incomplete frame are copied before returning.
   */
  pushTransient(chunk: Buffer, emit: (frame: WireFrame) => void): void {
    this.pushChunk(chunk, emit, true);
  }

  private pushChunk(chunk: Buffer, emit: (frame: WireFrame) => void, transient: boolean): void {
    if (this.failed) throw new WireError('truncated', 'reader used after an error');
    if (chunk.length === 0) return;
    try {
      this.chunks.push(chunk);
      this.available += chunk.length;
      this.transient = transient;
      this.drain(emit);
      if (this.available > this.maxBuffered) this.maxBuffered = this.available;
      // What is left of this chunk gets a copy of its own (it is the last chunk, if any of it is left);
      // earlier chunks are already ours, so a frame trickling in over many reads is copied once.
      const last = this.chunks.length - 1;
      if (transient && last >= 0 && this.chunks[last] === chunk) {
        this.chunks[last] = Buffer.from(chunk.subarray(last === 0 ? this.offset : 0));
        if (last === 0) this.offset = 0;
      }
    } catch (err) {
      this.failed = true;
      this.chunks.length = 0;
      this.available = 0;
      throw err;
    }
  }

  /** Call at end of stream: throws `truncated` if a handshake or message was cut off. */
  end(): void {
    if (this.available > 0 && !this.failed) {
      this.failed = true;
      const what = this.awaitingHandshake ? 'handshake' : 'message';
      throw new WireError('truncated', `stream ended ${this.available} bytes into a ${what}`);
    }
  }

  private drain(emit: (frame: WireFrame) => void): void {
    for (;;) {
      if (this.awaitingHandshake) {
        checkHandshakePrefix(this.peek(Math.min(this.available, 20)));
        if (this.available < HANDSHAKE_LENGTH) return;
        const raw = this.take(HANDSHAKE_LENGTH);
        const hs = decodeHandshake(this.transient ? Buffer.from(raw) : raw, this.opts.expectInfoHash);
        this.awaitingHandshake = false;
        if (this.opts.localReserved) this.negotiate(this.opts.localReserved, hs.reserved);
        emit(hs);
        continue;
      }
      if (this.available < 4) return;
      const len = this.readUInt32(0);
      if (len > this.maxLength) {
        throw new WireError('message-too-large', `length prefix ${len} exceeds the cap of ${this.maxLength}`);
      }
      if (len > 0 && this.available >= 5) this.checkId(this.byteAt(4), len);
      if (this.available < 4 + len) return;
      this.skip(4);
      const body = this.take(len);
      const keep = this.transient && len > 0 && body[0] !== MessageId.Piece;
      emit(decodeMessage(keep ? Buffer.from(body) : body, this.decodeOpts));
    }
  }

  /** Fails as soon as the id byte shows a frame cannot be valid, before its body is buffered. */
  private checkId(id: number, len: number): void {
    if (id === MessageId.Extended && this.decodeOpts.extensions === false) {
      throw new WireError('not-negotiated', 'extended message without BEP 10');
    }
    const fixed = FIXED_BODY.get(id);
    if (fixed !== undefined) {
      if (len !== 1 + fixed)
        throw new WireError('bad-length', `message id ${id} with length ${len}, expected ${1 + fixed}`);
      return;
    }
    switch (id) {
      case MessageId.Piece:
        if (len > 9 + BLOCK_SIZE)
          throw new WireError('message-too-large', `piece of ${len - 9} bytes exceeds a block`);
        return;
      case MessageId.Bitfield:
        if (this.opts.pieceCount && len > this.maxBitfield) {
          throw new WireError(
            'message-too-large',
            `bitfield of ${len - 1} bytes for ${this.opts.pieceCount} pieces`,
          );
        }
        return;
      case MessageId.Extended:
        if (len > this.maxExtended) {
          throw new WireError(
            'message-too-large',
            `extended message of ${len} bytes exceeds ${this.maxExtended}`,
          );
        }
        return;
      default:
        throw new WireError('unknown-id', `unknown message id ${id}`);
    }
  }

  private byteAt(pos: number): number {
    let p = this.offset + pos;
    for (const c of this.chunks) {
      if (p < c.length) return c[p];
      p -= c.length;
    }
    throw new RangeError('byteAt past buffered data');
  }

  private readUInt32(pos: number): number {
    const c = this.chunks[0];
    if (this.offset + pos + 4 <= c.length) return c.readUInt32BE(this.offset + pos);
    return (
      ((this.byteAt(pos) << 24) |
        (this.byteAt(pos + 1) << 16) |
        (this.byteAt(pos + 2) << 8) |
        this.byteAt(pos + 3)) >>>
      0
    );
  }

  /** Copies (or views) the first n bytes without consuming them. */
  private peek(n: number): Buffer {
    if (n === 0) return Buffer.alloc(0);
    const c = this.chunks[0];
    if (this.offset + n <= c.length) return c.subarray(this.offset, this.offset + n);
    const out = Buffer.allocUnsafe(n);
    let written = 0;
    let off = this.offset;
    for (let i = 0; written < n; i++) {
      written += this.chunks[i].copy(out, written, off, Math.min(this.chunks[i].length, off + n - written));
      off = 0;
    }
    return out;
  }

  /** Consumes n bytes: a view when they lie in one chunk, else one copy. */
  private take(n: number): Buffer {
    const out = this.peek(n);
    this.skip(n);
    return out;
  }

  private skip(n: number): void {
    this.available -= n;
    let drop = 0;
    let off = this.offset + n;
    while (drop < this.chunks.length && off >= this.chunks[drop].length) {
      off -= this.chunks[drop].length;
      drop++;
    }
    if (drop > 0) this.chunks.splice(0, drop);
    this.offset = this.chunks.length > 0 ? off : 0;
  }
}

/**
 * Operator: socket chunks in, `WireFrame`s out (the handshake first unless `handshake: false`). Errors with a
 * `WireError` on the first violation or when the source completes mid-frame; completes when the source
 * completes at a frame boundary.
 *
 * @example
 *   from([encodeHandshake(h), encodeMessage({ type: 'Have', index: 3 })])
 *     .pipe(wireFraming({ pieceCount: 8 }))
 *     .subscribe((f) => console.log(f.type)); // 'Handshake', 'Have'
 */
export function wireFraming(options: WireFramingOptions = {}): OperatorFunction<Buffer, WireFrame> {
  return (source) =>
    new Observable<WireFrame>((subscriber) => {
      const reader = new WireReader(options);
      const emit = (f: WireFrame) => subscriber.next(f);
      return source.subscribe({
        next: (chunk) => {
          try {
            reader.push(chunk, emit);
          } catch (err) {
            subscriber.error(err);
          }
        },
        error: (err) => subscriber.error(err),
        complete: () => {
          try {
            reader.end();
            subscriber.complete();
          } catch (err) {
            subscriber.error(err);
          }
        },
      });
    });
}

/**
 * A socket's data as an Observable: completes on end/close, errors on a socket error. Unsubscribing
 * removes the listeners and leaves the socket open (its owner closes it).
 */
export function fromSocket(socket: Duplex): Observable<Buffer> {
  return new Observable<Buffer>((subscriber) => {
    const onData = (chunk: Buffer) => subscriber.next(chunk);
    const onEnd = () => subscriber.complete();
    const onError = (err: Error) => subscriber.error(err);
    socket.on('data', onData);
    socket.on('end', onEnd);
    socket.on('close', onEnd);
    socket.on('error', onError);
    return () => {
      socket.off('data', onData);
      socket.off('end', onEnd);
      socket.off('close', onEnd);
      socket.off('error', onError);
    };
  });
}

/**
 * `fromSocket(socket).pipe(wireFraming(options))`, destroying the socket when the stream errors (a
 * protocol violation closes that peer only).
 */
export function readWire(socket: Duplex, options: WireFramingOptions = {}): Observable<WireFrame> {
  return new Observable<WireFrame>((subscriber) =>
    fromSocket(socket)
      .pipe(wireFraming(options))
      .subscribe({
        next: (f) => subscriber.next(f),
        error: (err) => {
          socket.destroy();
          subscriber.error(err);
        },
        complete: () => subscriber.complete(),
      }),
  );
}

/** Minimal writable side of a socket, so writers can be tested without one. */
export interface WireSink {
  write(chunk: Buffer): boolean;
  cork?(): void;
  uncork?(): void;
}

/** Writes our handshake. Returns false when the socket wants a 'drain' before more writes. */
export function sendHandshake(
  socket: WireSink,
  h: { infoHash: Buffer; peerId: Buffer; reserved?: Buffer },
): boolean {
  return socket.write(encodeHandshake(h));
}

/**
 * Writes one message. A piece goes out as its 13-byte header and then the block itself (no copy of the
 * block). Returns false when the socket wants a 'drain' before more writes: stop sending until then.
 */
export function sendMessage(socket: WireSink, msg: WireMessage): boolean {
  if (msg.type !== 'Piece') return socket.write(encodeMessage(msg));
  socket.cork?.();
  socket.write(encodePieceHeader(msg.index, msg.begin, msg.block.length));
  const ok = socket.write(msg.block);
  socket.uncork?.();
  return ok;
}
