/**
 * Socket reads without a Buffer per chunk, for the sockets we dial.
 *
 * A Node socket normally hands out each read (up to 64 KiB) as a new Buffer: at transfer speed that is
 * ~16,000 external allocations per GiB, each freed only by the garbage collector, plus the Readable
 * stream's bookkeeping per chunk. A socket made by `connectReusingBuffer` instead reads (Node's `onread`)
 * into one process-wide buffer, and its `SocketTap` delivers each read in one of two ways:
 *   - copy mode (from the start): every read is copied into a new Buffer and emitted as the socket's
 *     usual 'data' event, so handshake readers (MSE, plain, the RC4 stream) work unchanged; a read that
 *     arrives while nobody listens is kept (reading stops until someone resumes the socket) and goes,
 *     first, to the next listener or consumer;
 *   - direct mode (`readDirect`): each read is handed to one consumer as a view of the shared buffer,
 *     valid only until the consumer returns — it must copy what it keeps (the wire reader's transient
 *     mode does: see src/streams/wire-framing.ts).
 * One buffer serves every socket: libuv reads one socket at a time on this thread, and the bytes are
 * consumed before the next read. Pause/resume keep working (`onread` sockets stop reading when paused).
 *
 * Accepted sockets keep Node's usual reads (a server cannot be given `onread`).
 */
import * as net from 'node:net';
import type { Duplex } from 'node:stream';

/** Loopback and LAN reads fill this much when data is waiting: fewer, larger reads than Node's 64 KiB. */
const READ_BUFFER_SIZE = 256 * 1024;
let shared: Buffer | undefined;
const taps = new WeakMap<Duplex, SocketTap>();

class SocketTap {
  private consumer: ((view: Buffer) => void) | undefined;
  private early: Buffer[] = [];

  constructor(private readonly socket: net.Socket) {
    socket.on('newListener', (event: string) => {
      if (event !== 'data' || this.early.length === 0) return;
      // After the listener is added (newListener fires before), and before any later read.
      queueMicrotask(() => this.flushEarly());
    });
  }

  /** Returns false to stop reading: a read arrived before anyone listens, so it waits (with no more). */
  deliver(view: Buffer): boolean {
    if (this.consumer) {
      this.consumer(view);
      return true;
    }
    const copy = Buffer.from(view); // 'data' listeners may keep the chunk
    if (this.socket.listenerCount('data') > 0 && this.early.length === 0) {
      this.socket.emit('data', copy);
      return true;
    }
    // Kept until a listener or consumer comes (each resumes the socket). Reading stops meanwhile, as a
    // Readable's does when nobody reads: memory stays bounded, and the end of the stream is not seen
    // before the bytes that come before it.
    this.early.push(copy);
    return false;
  }

  direct(consumer: (view: Buffer) => void): void {
    this.consumer = consumer;
    const early = this.early;
    this.early = [];
    for (const b of early) consumer(b);
  }

  private flushEarly(): void {
    while (this.early.length > 0 && !this.consumer && this.socket.listenerCount('data') > 0) {
      this.socket.emit('data', this.early.shift() as Buffer);
    }
  }
}

/** `net.connect` to host:port whose reads go through a `SocketTap` (copy mode until `readDirect`). */
export function connectReusingBuffer(host: string, port: number): net.Socket {
  shared ??= Buffer.allocUnsafeSlow(READ_BUFFER_SIZE);
  const ref: { tap?: SocketTap } = {};
  const socket = net.connect({
    host,
    port,
    onread: {
      buffer: shared,
      callback: (n: number, buf: Uint8Array) => {
        try {
          return ref.tap?.deliver(Buffer.from(buf.buffer, buf.byteOffset, n)) !== false;
        } catch (err) {
          socket.destroy(err as Error); // a consumer's bug ends this connection, not the process
          return false;
        }
      },
    },
  });
  const tap = new SocketTap(socket);
  ref.tap = tap;
  taps.set(socket, tap);
  return socket;
}

/**
 * Hands every later read of `stream` to `consumer` as a transient view (see the module comment), and
 * any reads kept so far. False when `stream` is not a socket from `connectReusingBuffer`: read 'data'.
 */
export function readDirect(stream: Duplex, consumer: (view: Buffer) => void): boolean {
  const tap = taps.get(stream);
  if (!tap) return false;
  tap.direct(consumer);
  return true;
}
