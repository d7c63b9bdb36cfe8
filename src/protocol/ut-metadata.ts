/**
 * BEP 9 `ut_metadata` messages: the payload of an extended message whose ext_id is the peer's (or our)
 * `ut_metadata` id.
 *
 * Owns: encoding and decoding the three messages, and every check that needs only the message itself
 * (types, the piece index against the total size, the exact size of a data piece). Does not own: which
 * piece to ask whom, checking the assembled metadata against the info-hash, or answering requests
 * (src/core/metadata-exchange.ts).
 *
 * Frames (the payload after `<len><id=20><ext_id>`):
 *   request  d8:msg_typei0e5:piecei<n>ee
 *   data     d8:msg_typei1e5:piecei<n>e10:total_sizei<size>ee<piece bytes>
 *   reject   d8:msg_typei2e5:piecei<n>ee
 *
 * The metadata (the info dictionary's bytes) travels in 16 KiB pieces; only the last may be shorter.
 * An unknown `msg_type` decodes to `MetadataUnknown` (BEP 9: it MUST be ignored, not fatal). Bytes after
 * the dictionary of a request or reject, a data piece of the wrong size, a piece past the end of
 * `total_size` or a `total_size` over MAX_METADATA_SIZE are errors: the sender is closed.
 *
 * @example
 *   encodeUtMetadata({ type: 'MetadataRequest', piece: 0 }).toString(); // 'd8:msg_typei0e5:piecei0ee'
 *   decodeUtMetadata(payload); // { type: 'MetadataData', piece: 0, totalSize: 31235, data: <Buffer …> }
 */
import { encode, get, isInt } from './bencode';
import { ExtensionError, decodePayloadDict } from './extension-error';

/** BEP 9 piece size. */
export const METADATA_PIECE_SIZE = 16 * 1024;
/** Largest info dictionary we fetch or accept (libtorrent's default cap is 30 MiB). */
export const MAX_METADATA_SIZE = 32 * 1024 * 1024;
/** Pieces in the largest metadata we accept. */
export const MAX_METADATA_PIECES = MAX_METADATA_SIZE / METADATA_PIECE_SIZE;
/** The dictionary before a data piece is ~50 bytes; anything larger is not a ut_metadata message. */
const MAX_DICT_BYTES = 1024;

export const MetadataMsgType = { Request: 0, Data: 1, Reject: 2 } as const;

export interface MetadataRequest {
  type: 'MetadataRequest';
  piece: number;
}
export interface MetadataData {
  type: 'MetadataData';
  piece: number;
  totalSize: number;
  /** The piece; when decoded, a view of the payload. */
  data: Buffer;
}
export interface MetadataReject {
  type: 'MetadataReject';
  piece: number;
}
/** A message type this version does not know: ignore it. */
export interface MetadataUnknown {
  type: 'MetadataUnknown';
  msgType: number | bigint;
}
export type UtMetadataMessage = MetadataRequest | MetadataData | MetadataReject | MetadataUnknown;

const fail = (code: ConstructorParameters<typeof ExtensionError>[1], detail: string): never => {
  throw new ExtensionError('ut_metadata', code, detail);
};

/** Pieces in metadata of `size` bytes. */
export function metadataPieceCount(size: number): number {
  return Math.ceil(size / METADATA_PIECE_SIZE);
}

/** Bytes of piece `piece` in metadata of `size` bytes (0 when past the end). */
export function metadataPieceLength(size: number, piece: number): number {
  return Math.max(0, Math.min(METADATA_PIECE_SIZE, size - piece * METADATA_PIECE_SIZE));
}

function checkPiece(piece: number): void {
  if (!Number.isInteger(piece) || piece < 0 || piece >= MAX_METADATA_PIECES)
    fail('unencodable', `piece ${piece}`);
}

/** Encodes one message. Data must have the exact size of its piece. Throws ExtensionError `unencodable`. */
export function encodeUtMetadata(msg: MetadataRequest | MetadataData | MetadataReject): Buffer {
  checkPiece(msg.piece);
  if (msg.type !== 'MetadataData') {
    const msgType = msg.type === 'MetadataRequest' ? MetadataMsgType.Request : MetadataMsgType.Reject;
    return encode(
      new Map([
        ['msg_type', msgType],
        ['piece', msg.piece],
      ]),
    );
  }
  const { totalSize, piece, data } = msg;
  if (!Number.isInteger(totalSize) || totalSize < 1 || totalSize > MAX_METADATA_SIZE)
    fail('unencodable', `total_size ${totalSize}`);
  const expected = metadataPieceLength(totalSize, piece);
  if (expected === 0 || data.length !== expected)
    fail('unencodable', `piece ${piece} of ${totalSize} bytes must hold ${expected}, not ${data.length}`);
  const head = encode(
    new Map([
      ['msg_type', MetadataMsgType.Data],
      ['piece', piece],
      ['total_size', totalSize],
    ]),
  );
  return Buffer.concat([head, data]);
}

/**
 * Decodes a ut_metadata payload. A data message's `data` is a view of `payload` (copy it to keep it).
 * Throws ExtensionError: `bencode`, `not-a-dict`, `missing`, `bad-type`, `out-of-range`, `trailing-data`.
 */
export function decodeUtMetadata(payload: Buffer): UtMetadataMessage {
  // Only the dictionary is parsed as bencode; a data piece after it is up to 16 KiB of raw bytes.
  const { dict, end } = decodePayloadDict('ut_metadata', payload, {
    maxBytes: MAX_DICT_BYTES + METADATA_PIECE_SIZE,
    allowTrailing: true,
  });
  if (end > MAX_DICT_BYTES) fail('too-large', `dictionary of ${end} bytes`);
  const msgType = get(dict, 'msg_type');
  if (msgType === undefined) return fail('missing', 'no msg_type');
  if (!isInt(msgType)) return fail('bad-type', 'msg_type is not an integer');
  if (msgType !== 0 && msgType !== 1 && msgType !== 2) return { type: 'MetadataUnknown', msgType };

  const piece = get(dict, 'piece');
  if (piece === undefined) return fail('missing', 'no piece');
  if (!isInt(piece)) return fail('bad-type', 'piece is not an integer');
  if (typeof piece === 'bigint' || piece < 0 || piece >= MAX_METADATA_PIECES)
    return fail('out-of-range', `piece ${piece}`);

  const rest = payload.subarray(end);
  if (msgType !== MetadataMsgType.Data) {
    if (rest.length > 0)
      fail('trailing-data', `${rest.length} bytes after a ${msgType === 0 ? 'request' : 'reject'}`);
    return msgType === MetadataMsgType.Request
      ? { type: 'MetadataRequest', piece }
      : { type: 'MetadataReject', piece };
  }

  const totalSize = get(dict, 'total_size');
  if (totalSize === undefined) return fail('missing', 'data without total_size');
  if (!isInt(totalSize)) return fail('bad-type', 'total_size is not an integer');
  if (typeof totalSize === 'bigint' || totalSize < 1 || totalSize > MAX_METADATA_SIZE)
    return fail('out-of-range', `total_size ${totalSize}`);
  const expected = metadataPieceLength(totalSize, piece);
  if (expected === 0) return fail('out-of-range', `piece ${piece} is past the end of ${totalSize} bytes`);
  if (rest.length !== expected)
    return fail('out-of-range', `piece ${piece} carries ${rest.length} bytes, expected ${expected}`);
  return { type: 'MetadataData', piece, totalSize, data: rest };
}
