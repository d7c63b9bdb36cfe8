/**
 * One UDP socket as an Observable of datagrams and a `send` that never throws.
 *
 * Owns: binding (IPv4, or IPv6 only — no mapped IPv4 — for a v6 socket), turning `message` events
 * into `{ data, from }`, send errors (unreachable hosts are normal for a DHT) reported on `errors$`
 * rather than thrown, a cap on sends the OS has not yet taken (beyond it a datagram is dropped and
 * counted: UDP may drop, memory may not grow), and closing. Does not own: what the datagrams mean.
 *
 * @example
 *   const udp = await openUdpSocket({ port: 0, host: '127.0.0.1' });
 *   udp.messages$.subscribe(({ data, from }) => udp.send(data, from)); // an echo server
 */
import * as dgram from 'node:dgram';
import { isIPv6 } from 'node:net';
import { Observable } from 'rxjs/internal/Observable';
import { Subject } from 'rxjs/internal/Subject';
import type { NodeAddress } from '../protocol/krpc';

export interface Datagram {
  data: Buffer;
  from: NodeAddress;
}

export interface UdpEndpoint {
  readonly messages$: Observable<Datagram>;
  readonly errors$: Observable<Error>;
  readonly family: 4 | 6;
  send(data: Buffer, to: NodeAddress): void;
  address(): NodeAddress;
  /** Datagrams dropped because too many sends were waiting. */
  dropped(): number;
  close(): Promise<void>;
}

export interface UdpOptions {
  port?: number;
  /** Bind address (default 0.0.0.0, or :: for family 6). */
  host?: string;
  family?: 4 | 6;
  /** Sends waiting for the OS, at most (default 1024). */
  maxQueuedSends?: number;
}

export async function openUdpSocket(opts: UdpOptions = {}): Promise<UdpEndpoint> {
  const family: 4 | 6 = opts.family ?? (opts.host && isIPv6(opts.host) ? 6 : 4);
  const socket = dgram.createSocket({ type: family === 4 ? 'udp4' : 'udp6', ipv6Only: family === 6 });
  const messages = new Subject<Datagram>();
  const errors = new Subject<Error>();
  const maxQueued = opts.maxQueuedSends ?? 1024;
  let queued = 0;
  let dropped = 0;
  let closed = false;

  await new Promise<void>((resolve, reject) => {
    socket.once('error', reject);
    socket.bind(opts.port ?? 0, opts.host ?? (family === 4 ? '0.0.0.0' : '::'), () => {
      socket.off('error', reject);
      resolve();
    });
  });
  socket.on('error', (err) => errors.next(err));
  socket.on('message', (data, rinfo) => {
    if (rinfo.port > 0) messages.next({ data, from: { ip: rinfo.address, port: rinfo.port } });
  });
  const bound = socket.address();

  return {
    messages$: messages.asObservable(),
    errors$: errors.asObservable(),
    family,
    send(data, to) {
      if (closed) return;
      if (queued >= maxQueued) {
        dropped++;
        return;
      }
      queued++;
      try {
        socket.send(data, to.port, to.ip, (err) => {
          queued--;
          if (err) errors.next(err);
        });
      } catch (err) {
        // Synchronous failures (an invalid address or port) are the sender's bad luck, not ours.
        queued--;
        errors.next(err as Error);
      }
    },
    address: () => ({ ip: bound.address, port: bound.port }),
    dropped: () => dropped,
    close: () =>
      new Promise<void>((resolve) => {
        if (closed) return resolve();
        closed = true;
        messages.complete();
        errors.complete();
        socket.close(() => resolve());
      }),
  };
}
