/**
 * The BEP 3 handshake and its reserved bits (BEP 10 extensions, BEP 6 fast, BEP 5 DHT), as pure
 * functions over buffers.
 *
 *   handshake      <pstrlen=19><pstr="BitTorrent protocol"><reserved:8><info_hash:20><peer_id:20>
 *
 * Reserved bits: byte 5 & 0x10 = extension protocol (BEP 10), byte 7 & 0x04 = fast extension (BEP 6),
 * byte 7 & 0x01 = DHT (BEP 5).
 *
 * Owns: encoding, checking a prefix of and decoding the 68-byte handshake; building and reading the
 * reserved bytes. Does not own: the messages after it (wire-codec.ts), reading it off a socket
 * (src/streams), or what to do about a mismatch (the peer actor).
 *
 * Separate because it runs once per connection, before any message, and the dial/listen paths need it
 * alone; wire-codec.ts re-exports it.
 */
import { WireError } from './wire-messages';

export const PROTOCOL = 'BitTorrent protocol';
export const HANDSHAKE_LENGTH = 68;

const PROTOCOL_BYTES = Buffer.from(PROTOCOL, 'latin1');

export interface Handshake {
  type: 'Handshake';
  /** 8 reserved bytes (extension bits). */
  reserved: Buffer;
  infoHash: Buffer;
  peerId: Buffer;
}

/** Reserved-byte masks: `[byte index, bit]`. */
export const RESERVED_EXTENSIONS: readonly [number, number] = [5, 0x10];
export const RESERVED_FAST: readonly [number, number] = [7, 0x04];
/** BEP 5: we run a DHT node (and send PORT when the peer does too). */
export const RESERVED_DHT: readonly [number, number] = [7, 0x01];

/** Builds the 8 reserved bytes for the extensions we offer. */
export function makeReserved(opts: { fast?: boolean; extensions?: boolean; dht?: boolean } = {}): Buffer {
  const r = Buffer.alloc(8);
  if (opts.fast) r[RESERVED_FAST[0]] |= RESERVED_FAST[1];
  if (opts.extensions) r[RESERVED_EXTENSIONS[0]] |= RESERVED_EXTENSIONS[1];
  if (opts.dht) r[RESERVED_DHT[0]] |= RESERVED_DHT[1];
  return r;
}

/** BEP 6 bit (byte 7, 0x04). Use on both sides' reserved bytes: fast is on only when both set it. */
export const supportsFast = (reserved: Buffer): boolean =>
  (reserved[RESERVED_FAST[0]] & RESERVED_FAST[1]) !== 0;

/** BEP 10 bit (byte 5, 0x10). */
export const supportsExtensions = (reserved: Buffer): boolean =>
  (reserved[RESERVED_EXTENSIONS[0]] & RESERVED_EXTENSIONS[1]) !== 0;

/** BEP 5 bit (byte 7, 0x01). */
export const supportsDht = (reserved: Buffer): boolean => (reserved[RESERVED_DHT[0]] & RESERVED_DHT[1]) !== 0;

// --------------------------------------------------------------------------------------------- handshake

/**
 * `<pstrlen=19><pstr="BitTorrent protocol"><reserved:8><info_hash:20><peer_id:20>` (68 bytes).
 * `reserved` defaults to eight zero bytes (no extensions); see `makeReserved`.
 */
export function encodeHandshake(h: { infoHash: Buffer; peerId: Buffer; reserved?: Buffer }): Buffer {
  const reserved = h.reserved ?? Buffer.alloc(8);
  if (h.infoHash.length !== 20) throw new WireError('unencodable', `info-hash is ${h.infoHash.length} bytes`);
  if (h.peerId.length !== 20) throw new WireError('unencodable', `peer id is ${h.peerId.length} bytes`);
  if (reserved.length !== 8) throw new WireError('unencodable', `reserved is ${reserved.length} bytes`);
  const out = Buffer.allocUnsafe(HANDSHAKE_LENGTH);
  out[0] = 19;
  PROTOCOL_BYTES.copy(out, 1);
  reserved.copy(out, 20);
  h.infoHash.copy(out, 28);
  h.peerId.copy(out, 48);
  return out;
}

/**
 * Checks a handshake prefix as soon as bytes arrive, so a garbage peer is dropped at its first byte
 * rather than after 68. Throws `bad-protocol`; returns quietly for a valid (possibly partial) prefix.
 */
export function checkHandshakePrefix(buf: Buffer): void {
  const n = Math.min(buf.length, 20);
  if (n > 0 && buf[0] !== 19) throw new WireError('bad-protocol', `handshake pstrlen is ${buf[0]}, not 19`);
  for (let i = 1; i < n; i++) {
    if (buf[i] !== PROTOCOL_BYTES[i - 1])
      throw new WireError('bad-protocol', 'handshake protocol string mismatch');
  }
}

/**
 * Decodes a 68-byte handshake. `expectInfoHash` is the info-hash this connection serves, or a predicate
 * (an incoming connection may ask for any torrent we hold).
 * Errors: `bad-handshake-length`, `bad-protocol`, `info-hash-mismatch`.
 */
export function decodeHandshake(
  buf: Buffer,
  expectInfoHash?: Buffer | ((infoHash: Buffer) => boolean),
): Handshake {
  if (buf.length !== HANDSHAKE_LENGTH) {
    throw new WireError('bad-handshake-length', `handshake is ${buf.length} bytes, not ${HANDSHAKE_LENGTH}`);
  }
  checkHandshakePrefix(buf);
  const infoHash = Buffer.from(buf.subarray(28, 48));
  if (expectInfoHash !== undefined) {
    const ok =
      typeof expectInfoHash === 'function' ? expectInfoHash(infoHash) : expectInfoHash.equals(infoHash);
    if (!ok) throw new WireError('info-hash-mismatch', `unexpected info-hash ${infoHash.toString('hex')}`);
  }
  return {
    type: 'Handshake',
    reserved: Buffer.from(buf.subarray(20, 28)),
    infoHash,
    peerId: Buffer.from(buf.subarray(48, 68)),
  };
}
