import fc from 'fast-check';
import { once } from 'node:events';
import * as crypto from 'node:crypto';
import * as net from 'node:net';
import { BLOCK_SIZE, encodeHandshake, encodeMessage, WireMessage } from '../../src/protocol/wire-codec';
import { connectReusingBuffer, readDirect } from '../../src/streams/socket-reads';
import { WireFrame, WireReader } from '../../src/streams/wire-framing';

const INFO_HASH = Buffer.alloc(20, 0x11);
const PEER_ID = Buffer.from('-RX0001-aaaaaaaaaaaa');

/** A server that writes `payload` to the first connection as soon as it is accepted, then ends. */
async function serverSending(payload: Buffer): Promise<{ port: number; close: () => void }> {
  const server = net.createServer((s) => s.end(payload));
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return { port: (server.address() as net.AddressInfo).port, close: () => server.close() };
}

describe('connectReusingBuffer', () => {
  it("emits every byte as 'data' copies, keeping what arrived before the first listener", async () => {
    const payload = crypto.randomBytes(3 * 1024 * 1024 + 17);
    const srv = await serverSending(payload);
    const socket = connectReusingBuffer('127.0.0.1', srv.port);
    await once(socket, 'connect');
    // Let reads arrive with nobody listening.
    await new Promise((r) => setTimeout(r, 50));
    const got: Buffer[] = [];
    socket.on('data', (c: Buffer) => got.push(c));
    await once(socket, 'end');
    srv.close();
    expect(Buffer.concat(got).equals(payload)).toBe(true);
  });

  it('hands reads to a direct consumer, after the ones kept, and pause() stops them', async () => {
    const payload = crypto.randomBytes(8 * 1024 * 1024);
    const srv = await serverSending(payload);
    const socket = connectReusingBuffer('127.0.0.1', srv.port);
    await once(socket, 'connect');
    await new Promise((r) => setTimeout(r, 20));
    const parts: Buffer[] = [];
    let paused = false;
    expect(
      readDirect(socket, (view) => {
        expect(paused).toBe(false);
        parts.push(Buffer.from(view)); // a view: copy to keep
        if (parts.length === 3) {
          paused = true;
          socket.pause();
          setTimeout(() => {
            paused = false;
            socket.resume();
          }, 30);
        }
      }),
    ).toBe(true);
    socket.resume();
    await once(socket, 'end');
    srv.close();
    expect(Buffer.concat(parts).equals(payload)).toBe(true);
  });

  it('readDirect is false for other streams', () => {
    const s = new net.Socket();
    expect(readDirect(s, () => undefined)).toBe(false);
  });
});

describe('WireReader.pushTransient', () => {
  const msgs: WireMessage[] = [
    { type: 'Bitfield', bits: Buffer.from([0xff, 0xe0]) },
    { type: 'Extended', id: 0, payload: Buffer.from('d1:md11:ut_metadatai3eee') },
    { type: 'Have', index: 10 },
    ...Array.from({ length: 6 }, (_, i): WireMessage => ({
      type: 'Piece',
      index: i,
      begin: 0,
      block: crypto.randomBytes(i === 5 ? 100 : BLOCK_SIZE),
    })),
    { type: 'Request', index: 1, begin: 16384, length: 16384 },
  ];
  const stream = Buffer.concat([
    encodeHandshake({ infoHash: INFO_HASH, peerId: PEER_ID }),
    ...msgs.map(encodeMessage),
  ]);

  /** Feeds `stream` through one reused buffer, cut at `cuts`; blocks are copied inside `emit`. */
  function readTransient(cuts: number[]): WireFrame[] {
    const reader = new WireReader({ pieceCount: 11, expectInfoHash: INFO_HASH });
    const scratch = Buffer.alloc(stream.length);
    const frames: WireFrame[] = [];
    const points = [0, ...[...new Set(cuts)].sort((a, b) => a - b), stream.length];
    for (let i = 1; i < points.length; i++) {
      const n = points[i] - points[i - 1];
      stream.copy(scratch, 0, points[i - 1], points[i]);
      reader.pushTransient(scratch.subarray(0, n), (f) =>
        frames.push(f.type === 'Piece' ? { ...f, block: Buffer.from(f.block) } : f),
      );
      scratch.fill(0xee); // the socket's buffer is overwritten by the next read
    }
    return frames;
  }

  it('yields the same frames as push, with kept frames unharmed by the buffer being reused', () => {
    const expected: WireFrame[] = [];
    new WireReader({ pieceCount: 11, expectInfoHash: INFO_HASH }).push(stream, (f) => expected.push(f));
    expect(readTransient([])).toEqual(expected);
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 1, max: stream.length - 1 }), { maxLength: 40 }), (cuts) => {
        expect(readTransient(cuts)).toEqual(expected);
      }),
      { numRuns: 30 },
    );
  });
});
