/**
 * MSE against bittorrent-protocol (WebTorrent's wire and its MSE), both directions, both ciphers: a
 * BitTorrent handshake and a few messages (interested, unchoke, request, a 16 KiB piece) over the
 * encrypted stream. The other peer runs in a child process (test/support/bt-protocol-peer.mjs).
 */
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import * as net from 'node:net';
import * as path from 'node:path';
import { Cipher, EncryptionPolicy } from '../../src/protocol/mse-codec';
import { req2Hash } from '../../src/protocol/mse-crypto';
import { encodeHandshake, encodeMessage, WireMessage } from '../../src/protocol/wire-codec';
import { mseAccept, mseConnect } from '../../src/streams/mse-connection';
import { PeerTransport } from '../../src/streams/peer-transport';
import { WireFrame, WireReader } from '../../src/streams/wire-framing';
import { spawnWatched, Watched } from '../support/child-process';

jest.setTimeout(30_000);

const DRIVER = path.join(__dirname, '../support/bt-protocol-peer.mjs');
const INFO_HASH = createHash('sha1').update('mse interop').digest();
const PEER_ID = Buffer.from('-RX0001-mseinterop00');
const BLOCK = Buffer.from(Array.from({ length: 16384 }, (_, i) => (i * 7) & 255));
const BLOCK_SHA1 = createHash('sha1').update(BLOCK).digest('hex');

const children: Watched[] = [];
const sockets: net.Socket[] = [];
afterEach(async () => {
  sockets.splice(0).forEach((s) => s.destroy());
  await Promise.all(children.splice(0).map((c) => c.kill()));
});

function peer(args: string[], legacyOpenSsl = false): Watched {
  const flags = legacyOpenSsl ? ['--openssl-legacy-provider'] : [];
  const c = spawnWatched('bittorrent-protocol', process.execPath, [...flags, DRIVER, ...args]);
  children.push(c);
  return c;
}

/** Frames from a transport (prelude first), one at a time. */
function frameReader(t: PeerTransport): () => Promise<WireFrame> {
  const reader = new WireReader({ pieceCount: 1 });
  const frames: WireFrame[] = [];
  let wake: (() => void) | undefined;
  let failure: Error | undefined;
  const feed = (chunk: Buffer) => {
    try {
      reader.push(chunk, (f) => frames.push(f));
    } catch (err) {
      failure = err as Error;
    }
    wake?.();
  };
  if (t.prelude) feed(t.prelude);
  t.stream.on('data', feed);
  t.stream.on('close', () => {
    failure ??= new Error('stream closed');
    wake?.();
  });
  t.stream.on('error', () => undefined);
  t.stream.resume();
  return async () => {
    while (frames.length === 0) {
      if (failure) throw failure;
      await new Promise<void>((r) => (wake = r));
    }
    return frames.shift() as WireFrame;
  };
}

const send = (t: PeerTransport, m: WireMessage) => t.stream.write(encodeMessage(m));

async function nextOf(next: () => Promise<WireFrame>, type: WireFrame['type']): Promise<WireFrame> {
  for (let i = 0; i < 10; i++) {
    const f = await next();
    if (f.type === type) return f;
  }
  throw new Error(`no ${type} in 10 frames`);
}

describe('MSE interop with bittorrent-protocol', () => {
  const incoming: [string, number, EncryptionPolicy, Cipher, boolean][] = [
    ['RC4 only', 2, 'preferred', 'rc4', false],
    ['RC4 or plaintext', 1, 'preferred', 'rc4', false],
    ['RC4 or plaintext', 1, 'tolerated', 'plaintext', false],
    ['RC4 only, OpenSSL RC4', 2, 'required', 'rc4', true],
  ];
  it.each(incoming)(
    'it dials us (%s, pe=%i), we accept with %s: %s',
    async (_n, pe, policy, cipher, legacy) => {
      const server = net.createServer();
      server.listen(0, '127.0.0.1');
      await once(server, 'listening');
      const accepted = once(server, 'connection');
      const child = peer(
        ['dial', String((server.address() as net.AddressInfo).port), INFO_HASH.toString('hex'), String(pe)],
        legacy,
      );
      const [socket] = (await accepted) as [net.Socket];
      server.close();
      sockets.push(socket);
      const lookup = (h: Buffer) => (h.equals(req2Hash(INFO_HASH)) ? INFO_HASH : undefined);
      const done = await mseAccept(socket, { lookup, policy });
      expect(done.cipher).toBe(cipher);
      expect(done.infoHash.equals(INFO_HASH)).toBe(true);
      // bittorrent-protocol sends no IA: its handshake comes in the payload stream.
      const t = done.transport;
      const next = frameReader(t);
      const hs = await next();
      expect(hs.type).toBe('Handshake');
      t.stream.write(encodeHandshake({ infoHash: INFO_HASH, peerId: PEER_ID }));
      await nextOf(next, 'Interested');
      send(t, { type: 'Unchoke' });
      const req = await nextOf(next, 'Request');
      expect(req).toMatchObject({ index: 0, begin: 0, length: 16384 });
      send(t, { type: 'Piece', index: 0, begin: 0, block: BLOCK });
      await child.waitFor(new RegExp(`BLOCK ${BLOCK_SHA1}`));
      expect(child.stdout()).toContain(`CIPHER ${cipher}`);
      expect(child.stdout()).toContain(`HANDSHAKE ${PEER_ID.toString('hex')}`);
    },
  );

  const outgoing: [string, number, EncryptionPolicy, Cipher, boolean][] = [
    ['RC4 only', 2, 'preferred', 'rc4', false],
    ['plaintext preferred', 1, 'preferred', 'plaintext', false],
    ['plaintext preferred', 1, 'required', 'rc4', false],
    ['RC4 only, OpenSSL RC4', 2, 'required', 'rc4', true],
  ];
  it.each(outgoing)('we dial it (%s, pe=%i) with %s: %s', async (_n, pe, policy, cipher, legacy) => {
    const child = peer(['listen', INFO_HASH.toString('hex'), String(pe)], legacy);
    const port = Number((await child.waitFor(/LISTENING (\d+)/))[1]);
    const socket = net.connect(port, '127.0.0.1');
    sockets.push(socket);
    await once(socket, 'connect');
    const done = await mseConnect(socket, {
      infoHash: INFO_HASH,
      policy,
      initialPayload: encodeHandshake({ infoHash: INFO_HASH, peerId: PEER_ID }),
    });
    expect(done.cipher).toBe(cipher);
    const t = done.transport;
    const next = frameReader(t);
    const hs = await next();
    expect(hs).toMatchObject({ type: 'Handshake', infoHash: INFO_HASH });
    send(t, { type: 'Interested' });
    await nextOf(next, 'Unchoke');
    send(t, { type: 'Request', index: 0, begin: 0, length: 16384 });
    const piece = await nextOf(next, 'Piece');
    expect(piece.type === 'Piece' && piece.block.equals(BLOCK)).toBe(true);
    await child.waitFor(/GOT request 0 0 16384/);
    expect(child.stdout()).toContain(`CIPHER ${cipher}`);
  });
});
