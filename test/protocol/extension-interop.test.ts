/**
 * The extension codecs against a real client, before any engine wiring: a raw socket speaks to a
 * python3-libtorrent seeder with our BEP 10 handshake, fetches the info dictionary (two 16 KiB pieces
 * and a short one) through our ut_metadata codec and the pure metadata exchange, checks it against the
 * info-hash, and hands libtorrent a ut_pex message that makes it dial an address it names.
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import {
  MetadataFetchEffect,
  initialMetadataFetch,
  metadataFetchTransition,
} from '../../src/core/metadata-exchange';
import {
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
} from '../../src/protocol/extension-handshake';
import { buildMetainfo, parseMetainfo } from '../../src/protocol/metainfo';
import { decodeUtMetadata, encodeUtMetadata } from '../../src/protocol/ut-metadata';
import { PexFlag, encodePex } from '../../src/protocol/ut-pex';
import { Extended, encodeHandshake, makeReserved } from '../../src/protocol/wire-codec';
import { Watched, spawnWatched } from '../support/child-process';
import { RawPeer, listenRaw } from '../support/raw-peer';
import { SYSTEM_PYTHON, describeWithTools } from '../support/real-clients';
import { ROOT, pseudoRandomBytes, tempDir } from '../support/run-cli';

const LT_SEED = path.join(ROOT, 'test', 'support', 'lt-seed.py');
const PIECE = 16 * 1024;

describeWithTools(['libtorrent'], 'extension codecs against libtorrent', () => {
  let tmp: { dir: string; cleanup: () => void };
  let lt: Watched;
  let torrent: ReturnType<typeof parseMetainfo>;
  let ltPort: number;

  beforeAll(async () => {
    tmp = tempDir('rxt-ext-');
    // 1,300 pieces: an info dictionary of ~26 KiB, so the metadata travels in two pieces.
    const content = pseudoRandomBytes(1300 * PIECE - 999, 91);
    fs.writeFileSync(path.join(tmp.dir, 'meta.bin'), content);
    const pieces: Buffer[] = [];
    for (let o = 0; o < content.length; o += PIECE)
      pieces.push(
        createHash('sha1')
          .update(content.subarray(o, o + PIECE))
          .digest(),
      );
    const bytes = buildMetainfo({
      name: 'meta.bin',
      pieceLength: PIECE,
      pieces: Buffer.concat(pieces),
      files: [{ path: ['meta.bin'], length: content.length }],
      multiFile: false,
    });
    fs.writeFileSync(path.join(tmp.dir, 'meta.torrent'), bytes);
    torrent = parseMetainfo(bytes);
    lt = spawnWatched('lt-seed', SYSTEM_PYTHON, [LT_SEED, path.join(tmp.dir, 'meta.torrent'), tmp.dir]);
    ltPort = Number((await lt.waitFor(/^ready (\d+)$/m, { timeoutMs: 30_000 }))[1]);
  }, 60_000);

  afterAll(async () => {
    await lt?.kill();
    tmp?.cleanup();
  });

  /** Dial libtorrent, exchange handshakes (ours as a peer without metadata), return its extended handshake. */
  async function connect(): Promise<{ peer: RawPeer; theirs: ExtensionHandshake; ids: Map<string, number> }> {
    const peer = await RawPeer.connect(ltPort, { pieceCount: torrent.pieceCount });
    peer.write(
      encodeHandshake({
        infoHash: torrent.infoHash,
        peerId: Buffer.from('-RX0100-extinterop01'),
        reserved: makeReserved({ extensions: true, fast: true }),
      }),
    );
    const payload = encodeExtensionHandshake(ourHandshake({ port: 6881, clientName: 'rxtorrent test' }));
    peer.send({ type: 'Extended', id: 0, payload });
    const hs = await peer.nextFrame((f) => f.type === 'Handshake');
    expect(hs.type === 'Handshake' && hs.reserved[5] & 0x10).toBeTruthy();
    const ext = (await peer.nextFrame((f) => f.type === 'Extended' && f.id === 0, 10_000)) as Extended;
    const theirs = decodeExtensionHandshake(ext.payload);
    return { peer, theirs, ids: applyRemoteHandshake(new Map(), theirs) };
  }

  it("decodes libtorrent's extended handshake", async () => {
    const { peer, theirs, ids } = await connect();
    expect(remoteIdFor(ids, UT_METADATA)).toBeGreaterThan(0);
    expect(remoteIdFor(ids, UT_PEX)).toBeGreaterThan(0);
    expect(theirs.metadataSize).toBe(torrent.infoBytes.length);
    expect(theirs.yourip).toBe('127.0.0.1');
    expect(theirs.reqq).toBeGreaterThan(0);
    expect(theirs.v).toMatch(/libtorrent/i);
    peer.destroy();
  });

  it('fetches and verifies the metadata through ut_metadata and the metadata exchange', async () => {
    const { peer, theirs, ids } = await connect();
    const utMetadata = remoteIdFor(ids, UT_METADATA) as number;
    let state = initialMetadataFetch({ infoHash: torrent.infoHash });
    let info: Buffer | undefined;
    const perform = (effects: readonly MetadataFetchEffect[] = []): void => {
      for (const e of effects) {
        if (e.type === 'RequestMetadataPiece') {
          peer.send({
            type: 'Extended',
            id: utMetadata,
            payload: encodeUtMetadata({ type: 'MetadataRequest', piece: e.piece }),
          });
        } else if (e.type === 'MetadataVerified') info = e.info;
        else throw new Error(`libtorrent struck: ${e.reason}`);
      }
    };
    let step = metadataFetchTransition(state, {
      type: 'PeerSupportsMetadata',
      peer: 'lt',
      metadataSize: theirs.metadataSize,
      now: 0,
    });
    state = step.state;
    perform(step.effects);
    for (let i = 0; i < 20 && !info; i++) {
      // libtorrent answers with the id *we* declared for ut_metadata.
      const f = (await peer.nextFrame(
        (x) => x.type === 'Extended' && localNameFor(OUR_EXTENSION_IDS, x.id) === UT_METADATA,
        10_000,
      )) as Extended;
      step = metadataFetchTransition(state, {
        type: 'PeerSentMetadata',
        peer: 'lt',
        message: decodeUtMetadata(f.payload),
        now: i,
      });
      state = step.state;
      perform(step.effects);
    }
    expect(info?.equals(torrent.infoBytes)).toBe(true);
    expect(state.pieces).toHaveLength(2);
    peer.destroy();
  });

  it('libtorrent reads our ut_pex message: it dials the address we name, and keeps our connection', async () => {
    let resolveDial: (infoHash: Buffer) => void = () => undefined;
    const dialled = new Promise<Buffer>((resolve) => (resolveDial = resolve));
    const { server, port, peers } = await listenRaw('127.0.0.1', torrent.pieceCount, (p) => {
      p.nextFrame((f) => f.type === 'Handshake', 10_000).then(
        (f) => f.type === 'Handshake' && resolveDial(f.infoHash),
        () => undefined,
      );
    });
    const { peer, ids } = await connect();
    const payload = encodePex({ added: [{ ip: '127.0.0.1', port, flags: PexFlag.Reachable }], dropped: [] });
    peer.send({ type: 'Extended', id: remoteIdFor(ids, UT_PEX) as number, payload });
    expect((await dialled).equals(torrent.infoHash)).toBe(true);
    expect(peer.isClosed).toBe(false);
    peer.destroy();
    for (const p of peers) p.destroy();
    server.close();
  });
});
