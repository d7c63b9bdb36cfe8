/**
 * Peer wire codec: the BEP 3 messages, the BEP 6 fast extension, and the BEP 10 / port messages real
 * clients send, as pure functions over buffers.
 *
 * Owns: the wire ids and sizes, encoding messages to and decoding them from bytes, and the semantic
 * checks an actor applies before acting on a message (`validateMessage`, `validateRequest`). The
 * message types and `WireError` are in wire-messages.ts, the handshake and reserved bits in
 * wire-handshake.ts, `BitSet` in bitset.ts; all are re-exported here, the one import for the wire.
 * Does not own: sockets, framing a byte stream into messages or length limits
 * (src/streams/wire-framing.ts), what to do about a message (the peer actor), or the contents of
 * BEP 10 extended messages (carried as an id and opaque payload bytes).
 *
 * What runs per message or per block (encode, decode, validate, `MessageId`, `BLOCK_SIZE`) is defined
 * here rather than re-exported, so callers reach it without a re-export's getter.
 *
 * Frames (every integer is a 4-byte big-endian unsigned, except `<port>` (2 bytes) and ids (1 byte)):
 *
 *   handshake      (wire-handshake.ts)
 *   keep-alive     <len=0000>
 *   choke          <len=0001><id=0>
 *   unchoke        <len=0001><id=1>
 *   interested     <len=0001><id=2>
 *   not interested <len=0001><id=3>
 *   have           <len=0005><id=4><index>
 *   bitfield       <len=0001+X><id=5><bitfield:X>
 *   request        <len=0013><id=6><index><begin><length>
 *   piece          <len=0009+X><id=7><index><begin><block:X>
 *   cancel         <len=0013><id=8><index><begin><length>
 *   port           <len=0003><id=9><port:2>
 *   suggest        <len=0005><id=13><index>                    (BEP 6)
 *   have all       <len=0001><id=14>                           (BEP 6)
 *   have none      <len=0001><id=15>                           (BEP 6)
 *   reject         <len=0013><id=16><index><begin><length>     (BEP 6)
 *   allowed fast   <len=0005><id=17><index>                    (BEP 6)
 *   extended       <len=0002+X><id=20><ext_id:1><payload:X>    (BEP 10)
 *
 * The fast messages are only legal when both sides set the BEP 6 reserved bit
 * (`decodeMessage(p, { fast: false })` rejects them with `not-negotiated`).
 *
 * Bitfields are MSB-first: piece 0 is the high bit of byte 0.
 *
 * @example
 *   const frame = encodeMessage({ type: 'Request', index: 1, begin: 16384, length: 16384 }); // 17 bytes
 *   decodeMessage(frame.subarray(4)); // { type: 'Request', index: 1, begin: 16384, length: 16384 }
 */
import { BitSet } from './bitset';
import { BlockMessage, WireError, WireMessage } from './wire-messages';

export * from './bitset';
export * from './wire-handshake';
export * from './wire-messages';

/** The block size every client uses on the wire; larger requests are refused (BEP 3). */
export const BLOCK_SIZE = 16384;
/** Bytes of a piece message before its block, length prefix included: `<len><id=7><index><begin>`. */
export const PIECE_HEADER_LENGTH = 13;

const UINT32_MAX = 0xffffffff;

/** Message ids as they appear on the wire. */
export const MessageId = {
  Choke: 0,
  Unchoke: 1,
  Interested: 2,
  NotInterested: 3,
  Have: 4,
  Bitfield: 5,
  Request: 6,
  Piece: 7,
  Cancel: 8,
  Port: 9,
  Suggest: 13,
  HaveAll: 14,
  HaveNone: 15,
  Reject: 16,
  AllowedFast: 17,
  Extended: 20,
} as const;

// -------------------------------------------------------------------------------------------- messages

function uint32(v: number, what: string): number {
  if (!Number.isInteger(v) || v < 0 || v > UINT32_MAX)
    throw new WireError('unencodable', `${what} ${v} is not a uint32`);
  return v;
}

function frame(id: number, bodyLength: number): Buffer {
  const out = Buffer.allocUnsafe(5 + bodyLength);
  out.writeUInt32BE(1 + bodyLength, 0);
  out[4] = id;
  return out;
}

function indexFrame(id: number, index: number): Buffer {
  const out = frame(id, 4);
  out.writeUInt32BE(uint32(index, 'index'), 5);
  return out;
}

function spanFrame(id: number, m: { index: number; begin: number; length: number }): Buffer {
  const out = frame(id, 12);
  out.writeUInt32BE(uint32(m.index, 'index'), 5);
  out.writeUInt32BE(uint32(m.begin, 'begin'), 9);
  out.writeUInt32BE(uint32(m.length, 'length'), 13);
  return out;
}

/**
 * The 13 bytes before a piece's block, `<len=0009+X><id=7><index><begin>`, so a seeder can write the
 * header and then the block it read from disk, with no copy of the block.
 */
export function encodePieceHeader(index: number, begin: number, length: number): Buffer {
  const out = Buffer.allocUnsafe(PIECE_HEADER_LENGTH);
  out.writeUInt32BE(uint32(9 + uint32(length, 'length'), 'piece frame length'), 0);
  out[4] = MessageId.Piece;
  out.writeUInt32BE(uint32(index, 'index'), 5);
  out.writeUInt32BE(uint32(begin, 'begin'), 9);
  return out;
}

/** Encodes one message with its length prefix. For large blocks prefer `encodePieceHeader` + the block. */
export function encodeMessage(msg: WireMessage): Buffer {
  switch (msg.type) {
    case 'KeepAlive':
      return Buffer.alloc(4);
    case 'Choke':
    case 'Unchoke':
    case 'Interested':
    case 'NotInterested':
    case 'HaveAll':
    case 'HaveNone':
      return frame(MessageId[msg.type], 0);
    case 'Have':
    case 'Suggest':
    case 'AllowedFast':
      return indexFrame(MessageId[msg.type], msg.index);
    case 'Request':
    case 'Cancel':
    case 'Reject':
      return spanFrame(MessageId[msg.type], msg);
    case 'Bitfield': {
      const out = frame(MessageId.Bitfield, msg.bits.length);
      msg.bits.copy(out, 5);
      return out;
    }
    case 'Piece': {
      const out = Buffer.allocUnsafe(PIECE_HEADER_LENGTH + msg.block.length);
      encodePieceHeader(msg.index, msg.begin, msg.block.length).copy(out, 0);
      msg.block.copy(out, PIECE_HEADER_LENGTH);
      return out;
    }
    case 'Port': {
      if (!Number.isInteger(msg.port) || msg.port < 0 || msg.port > 0xffff) {
        throw new WireError('unencodable', `port ${msg.port} is not a uint16`);
      }
      const out = frame(MessageId.Port, 2);
      out.writeUInt16BE(msg.port, 5);
      return out;
    }
    case 'Extended': {
      if (!Number.isInteger(msg.id) || msg.id < 0 || msg.id > 0xff) {
        throw new WireError('unencodable', `extended id ${msg.id} is not a byte`);
      }
      const out = frame(MessageId.Extended, 1 + msg.payload.length);
      out[5] = msg.id;
      msg.payload.copy(out, 6);
      return out;
    }
  }
}

export interface DecodeMessageOptions {
  /** BEP 6 negotiated by both sides (default true: accept the fast messages). */
  fast?: boolean;
  /** BEP 10 negotiated by both sides (default true: accept extended messages). */
  extensions?: boolean;
}

const FAST_IDS = new Set<number>([
  MessageId.Suggest,
  MessageId.HaveAll,
  MessageId.HaveNone,
  MessageId.Reject,
  MessageId.AllowedFast,
]);

function expectBody(payload: Buffer, body: number, name: string): void {
  if (payload.length !== 1 + body) {
    throw new WireError('bad-length', `${name} body is ${payload.length - 1} bytes, expected ${body}`);
  }
}

/**
 * Decodes one message from its payload (`<id><body>`, the bytes after the length prefix); an empty payload
 * is a keep-alive. Buffers in the result (`bits`, `block`, `payload`) are views of `payload`, not copies.
 * Errors: `unknown-id`, `bad-length`, `not-negotiated`.
 */
export function decodeMessage(payload: Buffer, opts: DecodeMessageOptions = {}): WireMessage {
  if (payload.length === 0) return { type: 'KeepAlive' };
  const id = payload[0];
  if (opts.fast === false && FAST_IDS.has(id)) {
    throw new WireError('not-negotiated', `fast-extension message id ${id} without BEP 6`);
  }
  if (opts.extensions === false && id === MessageId.Extended) {
    throw new WireError('not-negotiated', 'extended message without BEP 10');
  }
  switch (id) {
    case MessageId.Choke:
      expectBody(payload, 0, 'choke');
      return { type: 'Choke' };
    case MessageId.Unchoke:
      expectBody(payload, 0, 'unchoke');
      return { type: 'Unchoke' };
    case MessageId.Interested:
      expectBody(payload, 0, 'interested');
      return { type: 'Interested' };
    case MessageId.NotInterested:
      expectBody(payload, 0, 'not interested');
      return { type: 'NotInterested' };
    case MessageId.HaveAll:
      expectBody(payload, 0, 'have all');
      return { type: 'HaveAll' };
    case MessageId.HaveNone:
      expectBody(payload, 0, 'have none');
      return { type: 'HaveNone' };
    case MessageId.Have:
      expectBody(payload, 4, 'have');
      return { type: 'Have', index: payload.readUInt32BE(1) };
    case MessageId.Suggest:
      expectBody(payload, 4, 'suggest');
      return { type: 'Suggest', index: payload.readUInt32BE(1) };
    case MessageId.AllowedFast:
      expectBody(payload, 4, 'allowed fast');
      return { type: 'AllowedFast', index: payload.readUInt32BE(1) };
    case MessageId.Request:
    case MessageId.Cancel:
    case MessageId.Reject: {
      const type = id === MessageId.Request ? 'Request' : id === MessageId.Cancel ? 'Cancel' : 'Reject';
      expectBody(payload, 12, type.toLowerCase());
      return {
        type,
        index: payload.readUInt32BE(1),
        begin: payload.readUInt32BE(5),
        length: payload.readUInt32BE(9),
      };
    }
    case MessageId.Bitfield:
      return { type: 'Bitfield', bits: payload.subarray(1) };
    case MessageId.Piece:
      if (payload.length < 9)
        throw new WireError('bad-length', `piece body is ${payload.length - 1} bytes, under 8`);
      return {
        type: 'Piece',
        index: payload.readUInt32BE(1),
        begin: payload.readUInt32BE(5),
        block: payload.subarray(9),
      };
    case MessageId.Port:
      expectBody(payload, 2, 'port');
      return { type: 'Port', port: payload.readUInt16BE(1) };
    case MessageId.Extended:
      if (payload.length < 2) throw new WireError('bad-length', 'extended message has no extended id');
      return { type: 'Extended', id: payload[1], payload: payload.subarray(2) };
    default:
      throw new WireError('unknown-id', `unknown message id ${id}`);
  }
}

// ------------------------------------------------------------------------------------------ validation

/** The torrent's shape; a `Metainfo` satisfies it. */
export interface PieceGeometry {
  pieceCount: number;
  pieceLength: number;
  /** Total bytes in the torrent. */
  length: number;
}

function pieceBytes(g: PieceGeometry, index: number): number {
  return index === g.pieceCount - 1 ? g.length - g.pieceLength * (g.pieceCount - 1) : g.pieceLength;
}

/**
 * Checks that a request, cancel, reject or piece names a real block: index in range, length 1..BLOCK_SIZE
 * (`maxBlock`), and `begin + length` within the piece. Returns the error rather than throwing, so an
 * actor can drop the peer with it. Does not check that the block was requested (the actor's state).
 */
export function validateRequest(
  msg: BlockMessage,
  geometry: PieceGeometry,
  maxBlock: number = BLOCK_SIZE,
): WireError | undefined {
  const length = msg.type === 'Piece' ? msg.block.length : msg.length;
  if (msg.index >= geometry.pieceCount) {
    return new WireError(
      'index-out-of-range',
      `${msg.type} for piece ${msg.index} of ${geometry.pieceCount}`,
    );
  }
  if (length === 0 || length > maxBlock) {
    return new WireError('bad-span', `${msg.type} of ${length} bytes (allowed 1..${maxBlock})`);
  }
  const size = pieceBytes(geometry, msg.index);
  if (msg.begin + length > size) {
    return new WireError(
      'bad-span',
      `${msg.type} ${msg.begin}+${length} past the end of piece ${msg.index} (${size})`,
    );
  }
  return undefined;
}

/**
 * Semantic checks for any message against the torrent: piece indices in range, bitfield length and spare
 * bits, block spans (`validateRequest`). Messages with nothing to check pass.
 */
export function validateMessage(msg: WireMessage, geometry: PieceGeometry): WireError | undefined {
  switch (msg.type) {
    case 'Have':
    case 'Suggest':
    case 'AllowedFast':
      return msg.index < geometry.pieceCount
        ? undefined
        : new WireError('index-out-of-range', `${msg.type} for piece ${msg.index} of ${geometry.pieceCount}`);
    case 'Bitfield':
      try {
        BitSet.fromBuffer(msg.bits, geometry.pieceCount);
        return undefined;
      } catch (err) {
        return err as WireError;
      }
    case 'Request':
    case 'Cancel':
    case 'Reject':
    case 'Piece':
      return validateRequest(msg, geometry);
    default:
      return undefined;
  }
}
