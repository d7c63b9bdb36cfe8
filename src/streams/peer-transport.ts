/**
 * What a peer connection runs over (the seam in tasks/ENGINE-SEAMS.md): a byte stream, the bytes that
 * were already read from it during an encryption handshake, and which encryption it has.
 *
 * Owns: the `PeerTransport` shape and `plainTransport`. Does not own: handshakes (mse-connection.ts) or
 * the BitTorrent protocol on top (peer-connection.ts).
 */
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';

/** 'none': plain BitTorrent; 'plaintext': an MSE header, then plaintext; 'rc4': RC4 throughout. */
export type TransportEncryption = 'none' | 'plaintext' | 'rc4';

export interface PeerTransport {
  /**
   * The socket itself ('none', 'plaintext') or an encrypting/decrypting Duplex over it ('rc4'). After an
   * MSE handshake it comes paused, so that no byte is emitted before its reader listens: attach
   * 'data'/'end'/'error' listeners, then call `resume()`.
   */
  stream: Duplex;
  /** Bytes already read (and decrypted) that come before anything `stream` emits. */
  prelude?: Buffer;
  encryption: TransportEncryption;
}

/** A plain BitTorrent connection over `socket`, with bytes a sniffer has already read. */
export function plainTransport(socket: Socket, prelude?: Buffer): PeerTransport {
  return prelude && prelude.length > 0
    ? { stream: socket, prelude, encryption: 'none' }
    : { stream: socket, encryption: 'none' };
}
