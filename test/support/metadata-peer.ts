/**
 * A scripted BEP 9 peer for hostile-input tests of magnet fetching: it accepts our engine's connection
 * (the engine dials it from a link's `x.pe`), does the BitTorrent and extended handshakes with whatever
 * `metadata_size` the test says, and answers each ut_metadata request with whatever the test's script
 * returns — honest pieces, pieces of the wrong size or index, metadata that does not hash, nothing.
 *
 * Owns: the listening socket and the conversation; the replies are the script's. Ids: we declare
 * ut_metadata as 3 (our requests arrive with it); replies go out with the engine's own id for it (1).
 */
import * as net from 'node:net';
import { OUR_EXTENSION_IDS, encodeExtensionHandshake } from '../../src/protocol/extension-handshake';
import { METADATA_PIECE_SIZE, decodeUtMetadata, encodeUtMetadata } from '../../src/protocol/ut-metadata';
import { Extended, encodeHandshake, makeReserved } from '../../src/protocol/wire-codec';
import { RawPeer, listenRaw } from './raw-peer';

export const THEIR_UT_METADATA = 3;
const OURS = OUR_EXTENSION_IDS.get('ut_metadata') as number;

/** What to send for a request of `piece`: a payload (or several), or undefined for silence. */
export type MetadataScript = (piece: number) => Buffer | Buffer[] | undefined;

export interface MetadataPeer {
  port: number;
  /** Requests received, by piece. */
  requests: number[];
  close(): void;
}

/** Honest answers from `info`. */
export function honest(info: Buffer): MetadataScript {
  return (piece) => {
    const start = piece * METADATA_PIECE_SIZE;
    if (start >= info.length) return encodeUtMetadata({ type: 'MetadataReject', piece });
    const data = info.subarray(start, Math.min(info.length, start + METADATA_PIECE_SIZE));
    return encodeUtMetadata({ type: 'MetadataData', piece, totalSize: info.length, data });
  };
}

/** A data message with a hand-made header and body (sizes the codec would refuse to build). */
export function rawData(piece: number, totalSize: number, body: Buffer): Buffer {
  return Buffer.concat([Buffer.from(`d8:msg_typei1e5:piecei${piece}e10:total_sizei${totalSize}ee`), body]);
}

export async function metadataPeer(o: {
  infoHash: Buffer;
  /** `metadata_size` in our extended handshake (omitted when undefined). */
  metadataSize?: number;
  script: MetadataScript;
}): Promise<MetadataPeer> {
  const requests: number[] = [];
  const run = async (peer: RawPeer): Promise<void> => {
    try {
      await peer.nextFrame((f) => f.type === 'Handshake', 5_000);
      peer.write(
        encodeHandshake({
          infoHash: o.infoHash,
          peerId: Buffer.from(`-MP0001-${Math.random().toString(36).slice(2, 14).padEnd(12, '0')}`),
          reserved: makeReserved({ extensions: true, fast: true }),
        }),
      );
      const m = new Map([['ut_metadata', THEIR_UT_METADATA]]);
      peer.send(
        { type: 'HaveAll' },
        { type: 'Extended', id: 0, payload: encodeExtensionHandshake({ m, metadataSize: o.metadataSize }) },
      );
      for (;;) {
        const f = (await peer.nextFrame(
          (x) => x.type === 'Extended' && x.id === THEIR_UT_METADATA,
          30_000,
        )) as Extended;
        const req = decodeUtMetadata(f.payload);
        if (req.type !== 'MetadataRequest') continue;
        requests.push(req.piece);
        const reply = o.script(req.piece) ?? [];
        for (const payload of Array.isArray(reply) ? reply : [reply])
          peer.send({ type: 'Extended', id: OURS, payload });
      }
    } catch {
      peer.destroy(); // closed by the engine, or the test is over
    }
  };
  const { server, port, peers } = await listenRaw('127.0.0.1', 0, (peer) => void run(peer));
  return {
    port,
    requests,
    close: () => {
      for (const p of peers) p.destroy();
      (server as net.Server).close();
    },
  };
}
