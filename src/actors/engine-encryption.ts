/**
 * The engine's encryption (MSE/PE): its policy, and the encrypted end of every connection — incoming
 * ones the listener could not read as plain, and every dial.
 *
 * Owns: the policy (`--encryption`, changeable at run time: it applies to connections made from then
 * on); the map HASH('req2', infoHash) → infoHash over the torrents served (the only way an encrypted
 * handshake names its torrent); running the responder on incoming connections, at most `maxPending` at
 * once, and reading the BitTorrent handshake that follows when the initial payload did not carry it;
 * dialling per policy — `tolerated` plain, `preferred` encrypted with one plain redial when the peer
 * hangs up on the encrypted handshake or answers in plain, `required` encrypted only; and the events
 * `EncryptedHandshake`, `HandshakeFallback`, `EncryptedHandshakeFailed`. Does not own: routing to a
 * torrent, the connection cap or the counters (the engine's `route` and `refused`), nor the handshake
 * itself (src/streams/mse-connection.ts).
 *
 * Every socket it holds while a handshake runs is in `pending`, so `stop()` ends them at once; each
 * handshake is bounded by `timeoutMs` (and memory by the parsers), whatever the peer sends.
 *
 * @example
 *   const enc = new EngineEncryption({ policy: 'preferred', timeoutMs: 10_000, maxPending: 256, serving, emit, route, refused });
 *   enc.serve(infoHash);                              // as a torrent is added
 *   listener onOther: (socket, head) => enc.accept(socket, head)
 *   const transport = await enc.dial('10.0.0.2', 6881, infoHash, ourHandshake);
 */
import type * as net from 'node:net';
import { addressKey } from '../core/peer-list';
import type { EventInput, EventLevel } from '../events/engine-event';
import { Cipher, ENCRYPTION_POLICIES, EncryptionPolicy, MseError, MseErrorCode } from '../protocol/mse-codec';
import { req2Hash } from '../protocol/mse-crypto';
import { nativeRc4Available } from '../protocol/mse-rc4';
import type { Handshake } from '../protocol/wire-codec';
import { mseAccept, mseConnect } from '../streams/mse-connection';
import { dialTcp, readHandshake } from '../streams/peer-dial';
import { PeerTransport, plainTransport } from '../streams/peer-transport';

export type { EncryptionPolicy };

export interface EngineEncryptionOptions {
  policy: EncryptionPolicy;
  /** Longest an encrypted handshake (and the BitTorrent handshake after it) may take. */
  timeoutMs: number;
  /** Longest a TCP connect may take. */
  connectTimeoutMs: number;
  /** Incoming encrypted handshakes running at once; more are dropped. */
  maxPending: number;
  /** Whether the engine still has this torrent (or magnet): the map may briefly lag behind. */
  serving: (infoHashHex: string) => boolean;
  emit: (e: EventInput) => void;
  /** An incoming connection whose handshake is read: to its torrent. */
  route: (socket: net.Socket, handshake: Handshake, transport: PeerTransport) => void;
  /** An incoming connection dropped before it reached a torrent (the engine counts and says it). */
  refused: (peer: string, reason: string, o: { level: EventLevel; code?: string }) => void;
}

/** A policy from a flag or an RPC value; throws RangeError naming the valid ones. */
export function parseEncryptionPolicy(value: string): EncryptionPolicy {
  const p = ENCRYPTION_POLICIES.find((x) => x === value);
  if (!p)
    throw new RangeError(
      `encryption must be one of ${ENCRYPTION_POLICIES.join(', ')}, not ${JSON.stringify(value)}`,
    );
  return p;
}

export class EngineEncryption {
  private current: EncryptionPolicy;
  private readonly served = new Map<string, Buffer>();
  private readonly pending = new Set<net.Socket>();
  private stopped = false;
  readonly lookup = (req2: Buffer): Buffer | undefined => {
    const infoHash = this.served.get(req2.toString('hex'));
    return infoHash && this.o.serving(infoHash.toString('hex')) ? infoHash : undefined;
  };

  constructor(private readonly o: EngineEncryptionOptions) {
    this.current = o.policy;
  }

  get policy(): EncryptionPolicy {
    return this.current;
  }

  set policy(p: EncryptionPolicy) {
    this.current = p;
  }

  /** Whether a plain incoming handshake may go on (not under `required`). */
  get acceptsPlain(): boolean {
    return this.current !== 'required';
  }

  /** Incoming encrypted handshakes may name this torrent from now on. */
  serve(infoHash: Buffer): void {
    this.served.set(req2Hash(infoHash).toString('hex'), infoHash);
  }

  unserve(infoHash: Buffer): void {
    this.served.delete(req2Hash(infoHash).toString('hex'));
  }

  /** Ends every handshake still running; later dials reject. */
  stop(): void {
    this.stopped = true;
    for (const s of this.pending) s.destroy();
    this.pending.clear();
  }

  /** An incoming connection whose first bytes (`head`) are not a plain handshake. */
  accept(socket: net.Socket, head: Buffer): void {
    const peer = addressKey((socket.remoteAddress ?? '').replace(/^::ffff:/, ''), socket.remotePort ?? 0);
    if (this.stopped || this.pending.size >= this.o.maxPending) {
      socket.destroy();
      this.o.refused(peer, 'too many encrypted handshakes at once', { level: 'debug' });
      return;
    }
    this.acceptEncrypted(socket, head, peer).catch((err: Error) => {
      socket.destroy(); // a bug past the handshake (routing): this connection only
      this.o.refused(peer, `internal error: ${err.message}`, { level: 'error' });
    });
  }

  private async acceptEncrypted(socket: net.Socket, head: Buffer, peer: string): Promise<void> {
    this.pending.add(socket);
    const deadline = Date.now() + this.o.timeoutMs;
    const policy = this.current;
    let hs: Handshake;
    let transport: PeerTransport;
    let cipher: Cipher;
    try {
      const ok = await mseAccept(socket, { lookup: this.lookup, policy, head, timeoutMs: this.o.timeoutMs });
      cipher = ok.cipher;
      ({ handshake: hs, transport } = await readHandshake(ok.transport, Math.max(1, deadline - Date.now())));
      if (!hs.infoHash.equals(ok.infoHash)) {
        transport.stream.destroy();
        throw new Error(
          `its handshake names torrent ${hs.infoHash.toString('hex')}, its encrypted handshake ${ok.infoHash.toString('hex')}`,
        );
      }
    } catch (err) {
      this.pending.delete(socket);
      socket.destroy();
      const code: MseErrorCode | 'handshake' = err instanceof MseError ? err.code : 'handshake';
      // A policy refusal is worth a line under -v; garbage and floods stay at debug.
      const level = code === 'no-common-cipher' ? 'info' : 'debug';
      this.o.refused(peer, incomingReason(err, code, policy), { level, code });
      return;
    }
    this.pending.delete(socket);
    if (this.stopped) {
      transport.stream.destroy();
      return;
    }
    this.o.emit(handshakeEvent(hs.infoHash, peer, cipher, false));
    this.o.route(socket, hs, transport);
  }

  /**
   * A connection to ip:port for the torrent `infoHash`, per the policy; `handshake` (ours) travels as the
   * MSE initial payload. Rejects with the reason the peer could not be reached or refused us.
   */
  async dial(ip: string, port: number, infoHash: Buffer, handshake: Buffer): Promise<PeerTransport> {
    const policy = this.current;
    const socket = await this.tcp(ip, port);
    if (policy === 'tolerated') return plainTransport(socket);
    const peer = addressKey(ip, port);
    const torrent = infoHash.toString('hex');
    this.pending.add(socket);
    try {
      const { transport, cipher } = await mseConnect(socket, {
        infoHash,
        policy,
        initialPayload: handshake,
        timeoutMs: this.o.timeoutMs,
      });
      this.o.emit(handshakeEvent(infoHash, peer, cipher, true));
      return { ...transport, handshakeSent: true };
    } catch (err) {
      if (!(err instanceof MseError)) throw err;
      if (this.stopped) throw new Error('engine stopped');
      const plainPeer = err.code === 'closed' || err.code === 'plain-handshake';
      if (policy === 'preferred' && plainPeer) {
        this.o.emit({
          category: 'peer',
          type: 'HandshakeFallback',
          torrent,
          peer,
          reason: err.message.replace(/^mse: /, ''),
        });
        return plainTransport(await this.tcp(ip, port));
      }
      const reason = outgoingReason(err, policy, plainPeer);
      this.o.emit({
        category: 'peer',
        type: 'EncryptedHandshakeFailed',
        torrent,
        peer,
        outgoing: true,
        policy,
        code: err.code,
        reason,
      });
      throw new Error(reason);
    } finally {
      this.pending.delete(socket);
    }
  }

  private async tcp(ip: string, port: number): Promise<net.Socket> {
    if (this.stopped) throw new Error('engine stopped');
    const socket = await dialTcp(ip, port, this.o.connectTimeoutMs);
    if (this.stopped) {
      socket.destroy();
      throw new Error('engine stopped');
    }
    return socket;
  }
}

function handshakeEvent(infoHash: Buffer, peer: string, cipher: Cipher, outgoing: boolean): EventInput {
  return {
    category: 'peer',
    type: 'EncryptedHandshake',
    level: 'debug',
    torrent: infoHash.toString('hex'),
    peer,
    outgoing,
    cipher,
    ...(cipher === 'rc4' ? { rc4: nativeRc4Available() ? 'openssl' : 'typescript' } : {}),
  };
}

/** Why a dial failed, for a person reading `-v`. */
function outgoingReason(err: MseError, policy: EncryptionPolicy, plainPeer: boolean): string {
  const what = err.message.replace(/^mse: /, '');
  if (policy === 'required' && plainPeer)
    return `encryption required, and the peer does not encrypt (${what})`;
  if (policy === 'required' && err.code === 'bad-select')
    return `encryption required, and the peer chose no encryption (${what})`;
  return `encrypted handshake failed: ${what}`;
}

function incomingReason(err: unknown, code: string, policy: EncryptionPolicy): string {
  const what = (err as Error)?.message?.replace(/^mse: /, '') ?? String(err);
  if (code === 'no-common-cipher' && policy === 'required')
    return `encryption required, and the peer offered plaintext only (${what})`;
  return `encrypted handshake failed: ${what}`;
}
