import fc from 'fast-check';
import { once } from 'node:events';
import * as crypto from 'node:crypto';
import * as net from 'node:net';
import {
  BLOCK_SIZE,
  encodeHandshake,
  encodeMessage,
  WireError,
  WireMessage,
} from '../../src/protocol/wire-codec';
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
      { numRuns: 15 },
    );
  });

  /** What a reader makes of `bytes` cut at `cuts`: its frames (blocks copied out), then its error, if any. */
  function outcome(
    bytes: Buffer,
    cuts: number[],
    transient: boolean,
  ): { frames: WireFrame[]; error?: string } {
    const reader = new WireReader({ pieceCount: 11, expectInfoHash: INFO_HASH });
    const scratch = Buffer.alloc(bytes.length);
    const frames: WireFrame[] = [];
    // A block is summed while it is valid (jest compares large Buffers slowly, byte by byte).
    const keep = (f: WireFrame): number =>
      frames.push(
        f.type === 'Piece' ? { ...f, block: crypto.createHash('sha1').update(f.block).digest() } : f,
      );
    const points = [
      0,
      ...[...new Set(cuts)].filter((c) => c < bytes.length).sort((a, b) => a - b),
      bytes.length,
    ];
    try {
      for (let i = 1; i < points.length; i++) {
        const n = points[i] - points[i - 1];
        if (!transient) reader.push(Buffer.from(bytes.subarray(points[i - 1], points[i])), keep);
        else {
          bytes.copy(scratch, 0, points[i - 1], points[i]);
          reader.pushTransient(scratch.subarray(0, n), keep);
          scratch.fill(0xee);
        }
      }
    } catch (err) {
      // Only the reader's own protocol errors may come out (the peer connection closes on them).
      expect(err).toBeInstanceOf(WireError);
      return { frames, error: (err as WireError).code };
    }
    return { frames };
  }

  it('hostile input: a mutated stream gives the same frames and the same protocol error as push', () => {
    // Where the frame headers are (length prefix, id, fields): most mutations land there, the rest anywhere.
    const heads = [0];
    for (let at = 68; at < stream.length; at += 4 + stream.readUInt32BE(at)) heads.push(at);
    const mutation = fc.record({
      at: fc.oneof(
        fc
          .tuple(fc.constantFrom(...heads), fc.nat({ max: 12 }))
          .map(([h, d]) => Math.min(h + d, stream.length - 1)),
        fc.nat({ max: stream.length - 1 }),
      ),
      bytes: fc.uint8Array({ minLength: 1, maxLength: 8 }),
      cut: fc.nat({ max: stream.length }),
    });
    fc.assert(
      fc.property(
        fc.array(mutation, { minLength: 1, maxLength: 6 }),
        fc.array(fc.nat({ max: stream.length }), { maxLength: 20 }),
        (muts, cuts) => {
          let bytes = Buffer.from(stream);
          for (const m of muts) {
            if (m.at < bytes.length) bytes.set(m.bytes.subarray(0, bytes.length - m.at), m.at);
            if (m.cut > 0 && m.cut < bytes.length && m.cut % 3 === 0) bytes = bytes.subarray(0, m.cut);
          }
          expect(outcome(bytes, cuts, true)).toEqual(outcome(bytes, cuts, false));
        },
      ),
      { numRuns: 200 },
    );
    // A length prefix far past any message, inside the transient buffer: refused, nothing buffered.
    const huge = Buffer.concat([
      encodeHandshake({ infoHash: INFO_HASH, peerId: PEER_ID }),
      Buffer.from([0x7f, 0xff, 0xff, 0xff, 7]),
    ]);
    expect(outcome(huge, [], true).error).toBeDefined();
    expect(outcome(huge, [], true)).toEqual(outcome(huge, [], false));
  });
});
