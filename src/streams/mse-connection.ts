/**
 * MSE over a socket: `mseConnect` runs the initiator on a socket we dialled, `mseAccept` the responder on
 * one we accepted; both resolve with a `PeerTransport` for the payload that follows.
 *
 * Owns: driving the pure handshakes (src/protocol/mse-initiator.ts, mse-responder.ts) with the socket's
 * chunks, the handshake timeout, turning end/reset/socket errors into `MseError('closed')`, and building
 * the transport: the socket itself for plaintext, an `Rc4Stream` over it for RC4. Does not own: dialling,
 * sniffing plain from encrypted on a listener (`sniffIncoming`), fallback to plain, the torrent table,
 * or events (the engine decides what to do with each outcome and error).
 *
 * On success the socket (or the Rc4Stream) is returned paused, with bytes that arrived after the
 * handshake in `transport.prelude` (for an accepted connection: IA, normally the peer's BitTorrent
 * handshake, then anything after it). On failure the socket is destroyed and the promise rejects with
 * an `MseError` whose code says why; nothing else is affected. Memory is bounded by the parsers
 * (about 67 KB at most, for a 64 KiB IA).
 *
 * @example
 *   const { transport, cipher } = await mseConnect(socket, { infoHash, policy: 'preferred',
 *                                                         initialPayload: encodeHandshake(h) });
 *   const { transport, infoHash } = await mseAccept(socket, { lookup, policy: 'required', head });
 */
import type { Socket } from 'node:net';
import {
  Cipher,
  EncryptionPolicy,
  MseError,
  MseOutcome,
  MseStep,
  policyCiphers,
} from '../protocol/mse-codec';
import { RandomSource } from '../protocol/mse-crypto';
import { MseInitiator } from '../protocol/mse-initiator';
import { MseLookup, MseResponder } from '../protocol/mse-responder';
import { Rc4 } from '../protocol/mse-rc4';
import { Rc4Stream } from './mse-stream';
import { PeerTransport } from './peer-transport';

/** libtorrent's handshake timeout; a silent or stalling peer is dropped after this. */
export const DEFAULT_MSE_TIMEOUT_MS = 10_000;

interface CommonOptions {
  /** Default 'preferred'. */
  policy?: EncryptionPolicy;
  /** Overrides the policy's ciphers (most wanted first), e.g. ['plaintext'] for header-only. */
  ciphers?: readonly Cipher[];
  timeoutMs?: number;
  random?: RandomSource;
  rc4?: (key: Buffer) => Rc4;
}

export interface MseConnectOptions extends CommonOptions {
  infoHash: Buffer;
  /** IA: normally our BitTorrent handshake, so it travels in step 3 (then do not send it again). */
  initialPayload?: Buffer;
}

export interface MseAcceptOptions extends CommonOptions {
  /** HASH('req2', infoHash) -> infoHash over the torrents we serve. */
  lookup: MseLookup;
  /** Bytes the listener already read from the socket to sniff it. */
  head?: Buffer;
}

export interface MseConnected {
  transport: PeerTransport;
  cipher: Cipher;
}

export interface MseAcceptedConnection extends MseConnected {
  infoHash: Buffer;
  /** IA as the peer sent it (decrypted); also the start of `transport.prelude`. May be empty. */
  initialPayload: Buffer;
}

/** Runs the initiator on a dialled (or still connecting) socket. */
export async function mseConnect(socket: Socket, o: MseConnectOptions): Promise<MseConnected> {
  const machine = new MseInitiator({
    infoHash: o.infoHash,
    ciphers: o.ciphers ?? policyCiphers(o.policy ?? 'preferred'),
    initialPayload: o.initialPayload,
    random: o.random,
    rc4: o.rc4,
  });
  const done = await drive(socket, machine, [machine.start()], undefined, o.timeoutMs);
  return { transport: transportOf(socket, done, done.rest), cipher: done.cipher };
}

/** Runs the responder on an accepted socket whose first bytes were not a plain handshake. */
export async function mseAccept(socket: Socket, o: MseAcceptOptions): Promise<MseAcceptedConnection> {
  const machine = new MseResponder({
    lookup: o.lookup,
    ciphers: o.ciphers ?? policyCiphers(o.policy ?? 'preferred'),
    random: o.random,
    rc4: o.rc4,
  });
  const done = await drive(socket, machine, [], o.head, o.timeoutMs);
  const prelude =
    done.rest.length === 0 ? done.initialPayload : Buffer.concat([done.initialPayload, done.rest]);
  return {
    transport: transportOf(socket, done, prelude),
    cipher: done.cipher,
    infoHash: done.infoHash,
    initialPayload: done.initialPayload,
  };
}

function transportOf(socket: Socket, done: MseOutcome, prelude: Buffer): PeerTransport {
  const stream = done.encrypt && done.decrypt ? new Rc4Stream(socket, done.encrypt, done.decrypt) : socket;
  if (stream !== socket) stream.pause();
  const transport: PeerTransport = { stream, encryption: done.cipher };
  if (prelude.length > 0) transport.prelude = prelude;
  return transport;
}

interface Machine<T extends MseOutcome> {
  push(chunk: Buffer): MseStep<T>;
  end(): void;
  waitingFor(): string;
}

/** Feeds the socket to `machine` until it finishes, fails, the socket ends or the time is up. */
function drive<T extends MseOutcome>(
  socket: Socket,
  machine: Machine<T>,
  first: Buffer[],
  head: Buffer | undefined,
  timeoutMs = DEFAULT_MSE_TIMEOUT_MS,
): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    let settled = false;
    const cleanup = (): void => {
      settled = true;
      clearTimeout(timer);
      socket.off('data', onData);
      socket.off('end', onEnd);
      socket.off('close', onClose);
      socket.off('error', onError);
    };
    const fail = (err: MseError): void => {
      if (settled) return;
      cleanup();
      socket.on('error', () => undefined); // the socket is dead; a late error must not crash us
      socket.destroy();
      reject(err);
    };
    const handle = (step: MseStep<T>): void => {
      for (const b of step.send) socket.write(b);
      if (!step.done) return;
      cleanup();
      // Hold further bytes until the transport's reader is listening.
      socket.pause();
      resolve(step.done);
    };
    const guarded = (f: () => void): void => {
      try {
        f();
      } catch (err) {
        fail(
          err instanceof MseError
            ? err
            : new MseError('closed', `handshake failed: ${(err as Error).message}`),
        );
      }
    };
    const onData = (chunk: Buffer): void => {
      if (!settled) guarded(() => handle(machine.push(chunk)));
    };
    const onEnd = (): void => guarded(() => machine.end());
    const onClose = (): void =>
      fail(new MseError('closed', `connection closed while we waited for ${machine.waitingFor()}`));
    const onError = (err: Error): void =>
      fail(new MseError('closed', `${err.message} while we waited for ${machine.waitingFor()}`));
    const timer = setTimeout(
      () =>
        fail(
          new MseError(
            'timeout',
            `no complete handshake within ${timeoutMs} ms (waiting for ${machine.waitingFor()})`,
          ),
        ),
      timeoutMs,
    );

    socket.on('data', onData);
    socket.on('end', onEnd);
    socket.on('close', onClose);
    socket.on('error', onError);
    for (const b of first) socket.write(b);
    if (head && head.length > 0) onData(head);
    if (!settled) socket.resume();
  });
}
