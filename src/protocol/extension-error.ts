/**
 * The one error type of the BEP 10 payload codecs (the extended handshake, ut_metadata, ut_pex): a
 * malformed or oversized extended message closes that peer, nothing else.
 *
 * Owns: the error codes and the bounded bencode decode every extension payload goes through. Does not
 * own: the envelope `<len><id=20><ext_id><payload>` (src/protocol/wire-codec.ts) or its length cap
 * (src/streams/wire-framing.ts).
 */
import { BValue, BencodeError, DecodeOptions, DecodedDocument, decodeDocument } from './bencode';

export type ExtensionName = 'handshake' | 'ut_metadata' | 'ut_pex';

export type ExtensionErrorCode =
  /** The payload is not valid bencode (or nests too deep, or holds too many values). */
  | 'bencode'
  /** The top level is not a dictionary. */
  | 'not-a-dict'
  /** A known key holds the wrong bencode type. */
  | 'bad-type'
  /** A known key's value is outside what the protocol allows. */
  | 'out-of-range'
  /** A required key is missing. */
  | 'missing'
  /** Two extensions share one message id in `m`. */
  | 'duplicate-id'
  /** More bytes or entries than we accept in one message. */
  | 'too-large'
  /** Bytes after the message where none belong. */
  | 'trailing-data'
  /** We were asked to encode something the protocol cannot carry. */
  | 'unencodable';

export class ExtensionError extends Error {
  constructor(
    readonly extension: ExtensionName,
    readonly code: ExtensionErrorCode,
    detail: string,
  ) {
    super(`${extension}: ${detail}`);
    this.name = 'ExtensionError';
  }
}

/**
 * Small documents: extension payloads are a handful of keys. These caps make the work per message
 * bounded before anything is allocated for it.
 */
const PAYLOAD_LIMITS: DecodeOptions = { maxDepth: 8, maxValues: 512 };

/**
 * Decodes the bencoded dictionary at the start of an extension payload; `allowTrailing` for ut_metadata
 * data messages, whose raw piece follows the dictionary. Throws only ExtensionError.
 */
export function decodePayloadDict(
  extension: ExtensionName,
  payload: Buffer,
  opts: { maxBytes: number; allowTrailing?: boolean },
): { dict: Map<string, BValue>; end: number } {
  if (payload.length > opts.maxBytes) {
    throw new ExtensionError(extension, 'too-large', `${payload.length} bytes, limit ${opts.maxBytes}`);
  }
  let doc: DecodedDocument;
  try {
    doc = decodeDocument(payload, {
      ...PAYLOAD_LIMITS,
      maxBytes: opts.maxBytes,
      allowTrailing: opts.allowTrailing ?? false,
    });
  } catch (err) {
    if (err instanceof BencodeError) throw new ExtensionError(extension, 'bencode', err.message);
    throw err;
  }
  if (!(doc.value instanceof Map))
    throw new ExtensionError(extension, 'not-a-dict', 'payload is not a dictionary');
  return { dict: doc.value, end: doc.end };
}
