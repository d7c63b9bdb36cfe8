/**
 * Dialling a peer over TCP, and reading the BitTorrent handshake that comes first on a transport.
 *
 * Owns: the connect timeout and turning socket errors into one rejection with the reason (`dialTcp`);
 * reading, within a time limit and at most 68 bytes plus one chunk, the peer's handshake from a
 * transport whose MSE initial payload did not carry it (`readHandshake`). Does not own: encryption
 * (mse-connection.ts), policies or events (src/actors/peer-crypto.ts).
 *
 * @example
 *   const socket = await dialTcp('10.0.0.2', 6881, 10_000);
 *   const { handshake, transport } = await readHandshake(accepted.transport, 10_000);
 */
import * as net from 'node:net';
import {
  HANDSHAKE_LENGTH,
  Handshake,
  WireError,
  checkHandshakePrefix,
  decodeHandshake,
} from '../protocol/wire-codec';
import { PeerTransport } from './peer-transport';
import { connectReusingBuffer } from './socket-reads';

/** A connected socket to ip:port, or a rejection with the reason (refused, unreachable, timed out). */
export function dialTcp(ip: string, port: number, timeoutMs: number): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const socket = connectReusingBuffer(ip, port);
    socket.setTimeout(timeoutMs);
    const fail = (why: string): void => {
      socket.destroy();
      reject(new Error(why));
    };
    socket.once('error', (err) => fail(err.message));
    socket.once('timeout', () => fail('connect timeout'));
    socket.once('connect', () => {
      socket.setTimeout(0);
      socket.removeAllListeners('error');
      socket.removeAllListeners('timeout');
      resolve(socket);
    });
  });
}

/**
 * The peer's BitTorrent handshake from the start of `t` (its prelude, then its stream), and the transport
 * with what followed the handshake as its prelude, the stream paused again. Rejects (and destroys the
 * stream) on anything but a handshake prefix, on end of stream, or after `timeoutMs`.
 */
export function readHandshake(
  t: PeerTransport,
  timeoutMs: number,
): Promise<{ handshake: Handshake; transport: PeerTransport }> {
  return new Promise((resolve, reject) => {
    const stream = t.stream;
    let got: Buffer = t.prelude ?? Buffer.alloc(0);
    let settled = false;
    const cleanup = (): void => {
      settled = true;
      clearTimeout(timer);
      stream.off('data', onData);
      stream.off('end', onEnd);
      stream.off('close', onEnd);
      stream.off('error', onError);
    };
    const fail = (why: string): void => {
      if (settled) return;
      cleanup();
      stream.on('error', () => undefined);
      stream.destroy();
      reject(new Error(why));
    };
    const check = (): void => {
      try {
        checkHandshakePrefix(got);
        if (got.length < HANDSHAKE_LENGTH) return;
        const handshake = decodeHandshake(got.subarray(0, HANDSHAKE_LENGTH));
        cleanup();
        stream.pause();
        const rest = got.subarray(HANDSHAKE_LENGTH);
        const transport: PeerTransport = { ...t, prelude: rest.length > 0 ? rest : undefined };
        if (!transport.prelude) delete transport.prelude;
        resolve({ handshake, transport });
      } catch (err) {
        fail(err instanceof WireError ? err.message : String(err));
      }
    };
    const onData = (chunk: Buffer): void => {
      if (settled) return;
      got = got.length === 0 ? chunk : Buffer.concat([got, chunk]);
      check();
    };
    const onEnd = (): void => fail(`closed after ${got.length} bytes of a handshake`);
    const onError = (err: Error): void => fail(err.message);
    const timer = setTimeout(() => fail(`no handshake within ${timeoutMs / 1000} s`), timeoutMs);
    check();
    if (settled) return;
    stream.on('data', onData);
    stream.on('end', onEnd);
    stream.on('close', onEnd);
    stream.on('error', onError);
    stream.resume();
  });
}
