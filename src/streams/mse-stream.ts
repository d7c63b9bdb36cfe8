/**
 * The RC4 payload stream of an MSE connection: a Duplex that decrypts what the socket receives and
 * encrypts what is written to it, with the socket's flow control passed straight through.
 *
 * Owns: the per-chunk cipher calls, backpressure in both directions, and end/close/error propagation.
 * Does not own: the handshake that produced the ciphers (mse-connection.ts) or framing.
 *
 * Cost per chunk: one cipher pass. Received chunks belong to us (each socket read is a fresh buffer),
 * so the TypeScript cipher decrypts them in place; written chunks belong to the writer, so each is
 * encrypted into one new buffer and handed to the socket — nothing else is copied. Corked writes arrive
 * together in `_writev` and go out in one corked socket write (a piece's header and block, say).
 * Reading: each chunk is pushed as it arrives; when our reader pauses and our buffer fills, the socket is
 * paused (TCP then slows the sender), and `_read` resumes it.
 * Writing: a write completes as soon as the socket accepts it; when the socket asks for a 'drain', the
 * write completes on that drain. `writableLength` counts our queue plus the socket's, and a socket
 * 'drain' is passed on, so a writer that watches `writableLength` and 'drain' sees the socket's state.
 */
import type { Socket } from 'node:net';
import { Duplex } from 'node:stream';
import type { Rc4 } from '../protocol/mse-rc4';

type Callback = (err?: Error | null) => void;

export class Rc4Stream extends Duplex {
  private pendingWrite: Callback | null = null;

  constructor(
    private readonly socket: Socket,
    private readonly encrypt: Rc4,
    private readonly decrypt: Rc4,
  ) {
    super({ allowHalfOpen: false });
    socket.on('data', this.onData);
    socket.on('end', this.onEnd);
    socket.on('drain', this.onDrain);
    socket.on('error', this.onError);
    socket.on('close', this.onClose);
  }

  private readonly onData = (chunk: Buffer): void => {
    if (!this.push(this.decrypt.updateOwned(chunk))) this.socket.pause();
  };

  private readonly onEnd = (): void => {
    this.push(null);
  };

  private readonly onDrain = (): void => {
    const cb = this.pendingWrite;
    this.pendingWrite = null;
    cb?.();
    // Our own 'drain' fires only when our write() returned false; a writer that stopped on
    // writableLength waits for this one.
    if (!this.pendingWrite && !this.destroyed) this.emit('drain');
  };

  private readonly onError = (err: Error): void => {
    this.destroy(err);
  };

  private readonly onClose = (): void => {
    if (!this.destroyed) this.destroy();
  };

  override _read(): void {
    if (this.socket.isPaused() && !this.socket.destroyed) this.socket.resume();
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, cb: Callback): void {
    this.settle(this.socket.write(this.encrypt.update(chunk)), cb);
  }

  override _writev(chunks: { chunk: Buffer }[], cb: Callback): void {
    const socket = this.socket;
    let ok = true;
    socket.cork();
    for (const c of chunks) ok = socket.write(this.encrypt.update(c.chunk));
    socket.uncork();
    this.settle(ok, cb);
  }

  override _final(cb: Callback): void {
    this.socket.end();
    cb();
  }

  override _destroy(err: Error | null, cb: Callback): void {
    this.socket.off('data', this.onData);
    this.socket.off('end', this.onEnd);
    this.socket.off('drain', this.onDrain);
    this.socket.off('close', this.onClose);
    // Keep an error listener: a late socket error must not become an uncaught exception.
    this.socket.off('error', this.onError);
    this.socket.on('error', () => undefined);
    this.socket.destroy();
    const pending = this.pendingWrite;
    this.pendingWrite = null;
    pending?.(err ?? new Error('stream destroyed'));
    cb(err);
  }

  /** Nagle's algorithm off (or on) for the socket underneath, as a peer connection asks of its stream. */
  setNoDelay(noDelay = true): this {
    this.socket.setNoDelay(noDelay);
    return this;
  }

  /** Bytes the socket has accepted but not yet handed to the kernel. */
  socketWritableLength(): number {
    return this.socket.writableLength;
  }

  private settle(ok: boolean, cb: Callback): void {
    if (ok) cb();
    else this.pendingWrite = cb;
  }
}

// Duplex declares writableLength as a data property in the typings (an accessor at run time), so ours is
// defined on the prototype: Node's own count of our queue, plus what the socket still holds.
const ownWritableLength = Object.getOwnPropertyDescriptor(Duplex.prototype, 'writableLength')?.get;
Object.defineProperty(Rc4Stream.prototype, 'writableLength', {
  configurable: true,
  get(this: Rc4Stream): number {
    const own = (ownWritableLength?.call(this) as number | undefined) ?? 0;
    return own + this.socketWritableLength();
  },
});
