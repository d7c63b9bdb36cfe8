/**
 * What a peer connection runs over: a byte stream, the bytes that were already read from it (while
 * sniffing or during an encryption handshake), and which encryption it has. The one `PeerTransport` type:
 * the listener, the dialler, the MSE handshakes and the peer connection all use it.
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
  /**
   * Our BitTorrent handshake already went out (as the MSE initial payload of a connection we dialled):
   * the connection must not send it again.
   */
  handshakeSent?: boolean;
}

/** A plain BitTorrent connection over `socket`, with bytes a sniffer has already read. */
export function plainTransport(socket: Socket, prelude?: Buffer): PeerTransport {
  return prelude && prelude.length > 0
    ? { stream: socket, prelude, encryption: 'none' }
    : { stream: socket, encryption: 'none' };
}
