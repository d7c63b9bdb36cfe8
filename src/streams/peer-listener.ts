/**
 * The engine's listen socket: accepts peer connections and tells, from their first bytes, which torrent
 * each one is for.
 *
 * Owns: the TCP server, reading each new connection's opening bytes (bounded: at most a handshake's 68
 * bytes, within `handshakeTimeoutMs`), telling a plain BitTorrent handshake (`\x13BitTorrent protocol`)
 * from anything else, and handing the connection on: `onPlain` with the decoded handshake and the bytes
 * read past it, or `onOther` with the bytes read so far (an encrypted MSE handshake, when the engine
 * speaks it; else the connection is dropped). Does not own: which torrents exist or whether one accepts
 * the peer (the engine routes by info-hash), nor the protocol after the handshake.
 *
 * A connection that sends garbage, nothing, or too little costs its socket and a counter, nothing more.
 */
import * as net from 'node:net';
import { Observable } from 'rxjs/internal/Observable';
import { Subject } from 'rxjs/internal/Subject';
import {
  HANDSHAKE_LENGTH,
  Handshake,
  PROTOCOL,
  WireError,
  checkHandshakePrefix,
  decodeHandshake,
} from '../protocol/wire-codec';

const PREFIX = Buffer.concat([Buffer.from([PROTOCOL.length]), Buffer.from(PROTOCOL, 'latin1')]);

export interface ListenerOptions {
  port: number;
  host?: string;
  /** A plain handshake arrived; `rest` holds bytes received after it (the peer may pipeline). */
  onPlain: (socket: net.Socket, handshake: Handshake, rest: Buffer) => void;
  /** The first bytes are not a plain handshake: an encrypted one, or garbage. Default: drop. */
  onOther?: (socket: net.Socket, firstBytes: Buffer) => void;
  handshakeTimeoutMs?: number;
}

export type ListenerEvent =
  /** `why` says it for a person: `handshake pstrlen is 71, not 19`, `no handshake within 10 s`. */
  | { type: 'Dropped'; reason: 'timeout' | 'garbage' | 'closed'; why: string; address: string }
  | { type: 'ListenError'; message: string };

export class PeerListener {
  private server: net.Server | null = null;
  private readonly events = new Subject<ListenerEvent>();
  readonly events$: Observable<ListenerEvent> = this.events.asObservable();
  private readonly pending = new Set<net.Socket>();
  port = 0;

  constructor(private readonly o: ListenerOptions) {}

  listen(): Promise<number> {
    return new Promise((resolve, reject) => {
      const server = net.createServer((socket) => this.accepted(socket));
      server.once('error', reject);
      server.listen({ port: this.o.port, host: this.o.host }, () => {
        server.off('error', reject);
        server.on('error', (err) => this.events.next({ type: 'ListenError', message: err.message }));
        this.port = (server.address() as net.AddressInfo).port;
        this.server = server;
        resolve(this.port);
      });
    });
  }

  close(): void {
    this.server?.close();
    this.server = null;
    for (const s of this.pending) s.destroy();
    this.pending.clear();
    this.events.complete();
  }

  private accepted(socket: net.Socket): void {
    const ip = (socket.remoteAddress ?? '').replace(/^::ffff:/, '');
    const address = ip.includes(':') ? `[${ip}]:${socket.remotePort}` : `${ip}:${socket.remotePort}`;
    this.pending.add(socket);
    let got: Buffer = Buffer.alloc(0);
    let settled = false;
    const finish = (): void => {
      settled = true;
      clearTimeout(timer);
      socket.off('data', onData);
      socket.off('close', onClose);
      this.pending.delete(socket);
    };
    const drop = (reason: 'timeout' | 'garbage' | 'closed', why: string): void => {
      finish();
      socket.destroy();
      this.events.next({ type: 'Dropped', reason, why, address });
    };
    const onData = (chunk: Buffer): void => {
      if (settled) return;
      got = got.length === 0 ? chunk : Buffer.concat([got, chunk]);
      // Plain so far? Compare only what has arrived of the 20-byte prefix.
      const n = Math.min(got.length, PREFIX.length);
      if (!got.subarray(0, n).equals(PREFIX.subarray(0, n))) {
        finish();
        socket.pause();
        if (this.o.onOther) this.o.onOther(socket, got);
        else {
          socket.destroy();
          this.events.next({ type: 'Dropped', reason: 'garbage', why: describeGarbage(got), address });
        }
        return;
      }
      if (got.length < HANDSHAKE_LENGTH) return;
      let hs: Handshake;
      try {
        hs = decodeHandshake(got.subarray(0, HANDSHAKE_LENGTH));
      } catch (err) {
        if (err instanceof WireError) return drop('garbage', err.message);
        throw err;
      }
      finish();
      socket.pause(); // the connection's reader resumes it once attached
      this.o.onPlain(socket, hs, Buffer.from(got.subarray(HANDSHAKE_LENGTH)));
    };
    const onClose = (): void => {
      if (!settled) drop('closed', `closed after ${got.length} bytes of a handshake`);
    };
    const limit = this.o.handshakeTimeoutMs ?? 10_000;
    const timer = setTimeout(() => drop('timeout', `no handshake within ${limit / 1000} s`), limit);
    timer.unref();
    socket.on('error', () => undefined);
    socket.on('data', onData);
    socket.on('close', onClose);
  }
}

/** Why bytes are not a plain handshake, in the codec's words. */
function describeGarbage(bytes: Buffer): string {
  try {
    checkHandshakePrefix(bytes);
  } catch (err) {
    if (err instanceof WireError) return err.message;
  }
  return 'not a BitTorrent handshake';
}
