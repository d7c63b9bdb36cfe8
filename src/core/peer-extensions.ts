/**
 * One connection's BEP 10 layer, as pure functions the peer protocol (src/core/peer-protocol.ts) calls:
 * reading an extended message into a typed fact, and choosing the id to send an extension with.
 *
 * Owns: the per-connection extension state (the peer's name → id map, its last extended handshake), the
 * dispatch of an incoming `<ext_id><payload>` — 0 is the handshake, our own ids (`local`) name an
 * extension, anything else is ignored (BEP 10) — and decoding the payloads we speak (ut_metadata,
 * ut_pex) so that a malformed one is an `ExtensionError` at the connection: that peer is closed, nothing
 * else. Does not own: the envelope and its length cap (wire-framing.ts), what a torrent or a metadata
 * fetcher does with the facts, or which extensions a torrent offers (the owner passes `local`: empty
 * for a private torrent, BEP 27).
 *
 * @example
 *   let ext = initialPeerExtensions();
 *   const got = readExtended(ext, OUR_EXTENSION_IDS, 0, payload); // { kind: 'handshake', handshake, ext }
 *   ext = got.ext;
 *   extensionIdFor(ext, 'ut_pex'); // the id the peer declared in `m`, or undefined
 */
import {
  EXTENDED_HANDSHAKE_ID,
  ExtensionHandshake,
  OUR_EXTENSION_IDS,
  UT_METADATA,
  UT_PEX,
  applyRemoteHandshake,
  decodeExtensionHandshake,
  encodeExtensionHandshake,
  localNameFor,
  ourHandshake,
  remoteIdFor,
} from '../protocol/extension-handshake';
import { ExtensionError } from '../protocol/extension-error';
import { UtMetadataMessage, decodeUtMetadata } from '../protocol/ut-metadata';
import { PexMessage, decodePex } from '../protocol/ut-pex';

/** A decoded extension message from a peer. */
export type ExtendedMessage =
  { name: typeof UT_METADATA; message: UtMetadataMessage } | { name: typeof UT_PEX; message: PexMessage };

export interface PeerExtensions {
  /** Extension name → the id the peer wants it sent with. */
  readonly remote: ReadonlyMap<string, number>;
  /** The peer's latest extended handshake. */
  readonly handshake?: ExtensionHandshake;
}

export function initialPeerExtensions(): PeerExtensions {
  return { remote: new Map() };
}

export type ExtendedRead =
  | { kind: 'handshake'; handshake: ExtensionHandshake; ext: PeerExtensions }
  | { kind: 'message'; message: ExtendedMessage }
  /** An id we did not hand out (or an extension we turned off): ignored. */
  | { kind: 'ignored' };

/**
 * Reads one extended message. `local` maps the names we offered to the ids we gave them. Throws
 * `ExtensionError` for a malformed handshake, ut_metadata or ut_pex payload.
 */
export function readExtended(
  ext: PeerExtensions,
  local: ReadonlyMap<string, number>,
  id: number,
  payload: Buffer,
): ExtendedRead {
  if (id === EXTENDED_HANDSHAKE_ID) {
    const handshake = decodeExtensionHandshake(payload);
    return {
      kind: 'handshake',
      handshake,
      ext: { remote: applyRemoteHandshake(ext.remote, handshake), handshake },
    };
  }
  const name = localNameFor(local, id);
  if (name === UT_METADATA) return { kind: 'message', message: { name, message: decodeUtMetadata(payload) } };
  if (name === UT_PEX) return { kind: 'message', message: { name, message: decodePex(payload) } };
  return { kind: 'ignored' };
}

const NO_EXTENSIONS: ReadonlyMap<string, number> = new Map();

/**
 * `readExtended` for the protocol transition: the new extension state and the fact to emit, or the
 * violation that closes the peer (a malformed payload). Never throws for anything a peer sends.
 */
export function readExtendedFrame(
  ext: PeerExtensions,
  local: ReadonlyMap<string, number> | undefined,
  id: number,
  payload: Buffer,
): {
  ext?: PeerExtensions;
  event?:
    | { type: 'PeerSentExtensionHandshake'; handshake: ExtensionHandshake }
    | { type: 'PeerSentExtended'; message: ExtendedMessage };
  violation?: string;
} {
  let got: ExtendedRead;
  try {
    got = readExtended(ext, local ?? NO_EXTENSIONS, id, payload);
  } catch (err) {
    if (err instanceof ExtensionError) return { violation: err.message };
    throw err;
  }
  if (got.kind === 'handshake')
    return { ext: got.ext, event: { type: 'PeerSentExtensionHandshake', handshake: got.handshake } };
  if (got.kind === 'message') return { event: { type: 'PeerSentExtended', message: got.message } };
  return {};
}

/** The id to send extension `name` to this peer with; undefined when the peer does not speak it. */
export function extensionIdFor(ext: PeerExtensions, name: string): number | undefined {
  return remoteIdFor(ext.remote, name);
}

/** Our `v` in the extended handshake. */
export const CLIENT_NAME = 'rxtorrent 0.1.0';

/**
 * What a connection needs to speak BEP 10 for us: the extensions we offer (none for a private torrent)
 * and our handshake, built when it is sent (the listen port and whether we are a seed are read then).
 */
export function ourExtensions(o: {
  /** Our listen port (0 before listening: not sent). */
  port: () => number;
  /** The info dictionary's size, when we have it. */
  metadataSize?: number;
  private?: boolean;
  /** Requests we queue from this peer without dropping any. */
  reqq: number;
  /** The peer's address as we see it (`yourip`). */
  peerIp: string;
  seed?: () => boolean;
}): { local: ReadonlyMap<string, number>; handshake: () => Buffer } {
  return {
    local: o.private ? new Map() : OUR_EXTENSION_IDS,
    handshake: () =>
      encodeExtensionHandshake(
        ourHandshake({
          port: o.port() || undefined,
          metadataSize: o.metadataSize,
          private: o.private,
          reqq: o.reqq,
          clientName: CLIENT_NAME,
          peerIp: o.peerIp,
          seed: o.seed?.(),
        }),
      ),
  };
}
