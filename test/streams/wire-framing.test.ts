import fc from 'fast-check';
import { once } from 'node:events';
import * as net from 'node:net';
import { isDeepStrictEqual } from 'node:util';
import { from, lastValueFrom, Observable, tap, toArray } from 'rxjs';
import {
  BLOCK_SIZE,
  encodeHandshake,
  encodeMessage,
  Handshake,
  makeReserved,
  WireError,
  WireErrorCode,
  WireMessage,
} from '../../src/protocol/wire-codec';
import {
  defaultMaxMessageLength,
  fromSocket,
  readWire,
  sendHandshake,
  sendMessage,
  WireFrame,
  WireFramingOptions,
  wireFraming,
  WireReader,
  WireSink,
} from '../../src/streams/wire-framing';

const INFO_HASH = Buffer.alloc(20, 0x11);
const OTHER_HASH = Buffer.alloc(20, 0x22);
const idA = Buffer.from('-RX0001-aaaaaaaaaaaa');
const idB = Buffer.from('-RX0001-bbbbbbbbbbbb');
const handshakeOf = (peerId: Buffer, reserved: Buffer = Buffer.alloc(8)): Handshake => ({
  type: 'Handshake',
  reserved,
  infoHash: INFO_HASH,
  peerId,
});

const block = (n: number, seed: number) =>
  Buffer.from(Array.from({ length: n }, (_, i) => (i * 31 + seed) & 0xff));

/** One of every message (small blocks, so splitting at every byte stays cheap). */
const ALL: WireMessage[] = [
  { type: 'Bitfield', bits: Buffer.from([0xff, 0xe0]) },
  { type: 'KeepAlive' },
  { type: 'Choke' },
  { type: 'Unchoke' },
  { type: 'Interested' },
  { type: 'NotInterested' },
  { type: 'Have', index: 10 },
  { type: 'Request', index: 1, begin: 16384, length: 16384 },
  { type: 'Piece', index: 1, begin: 0, block: block(37, 1) },
  { type: 'Cancel', index: 1, begin: 16384, length: 16384 },
  { type: 'Port', port: 6881 },
  { type: 'Suggest', index: 2 },
  { type: 'HaveAll' },
  { type: 'HaveNone' },
  { type: 'Reject', index: 4, begin: 0, length: 16384 },
  { type: 'AllowedFast', index: 5 },
  { type: 'Extended', id: 0, payload: Buffer.from('d1:md11:ut_metadatai3eee') },
  { type: 'Piece', index: 0, begin: 0, block: Buffer.alloc(0) },
];
const OPTS: WireFramingOptions = { pieceCount: 11, expectInfoHash: INFO_HASH };

/** Runs chunks through the operator synchronously; returns what was emitted and how it ended. */
function frameAll(chunks: Buffer[], opts: WireFramingOptions = OPTS) {
  const frames: WireFrame[] = [];
  let error: unknown;
  let completed = false;
  from(chunks)
    .pipe(wireFraming(opts))
    .subscribe({
      next: (f) => frames.push(f),
      error: (e) => (error = e),
      complete: () => (completed = true),
    });
  return { frames, error, completed, code: (error as WireError | undefined)?.code };
}

function splitAt(buf: Buffer, cuts: number[]): Buffer[] {
  const points = [0, ...[...new Set(cuts)].sort((a, b) => a - b), buf.length];
  const out: Buffer[] = [];
  for (let i = 1; i < points.length; i++) out.push(Buffer.from(buf.subarray(points[i - 1], points[i])));
  return out;
}

const equals = (a: unknown, b: unknown) => isDeepStrictEqual(a, b);
const STREAM = Buffer.concat([
  encodeHandshake({ infoHash: INFO_HASH, peerId: idA }),
  ...ALL.map(encodeMessage),
]);
const EXPECTED: WireFrame[] = [handshakeOf(idA), ...ALL];

describe('wireFraming (in process)', () => {
  it('decodes the stream in one chunk', () => {
    const r = frameAll([STREAM]);
    expect(r.error).toBeUndefined();
    expect(r.completed).toBe(true);
    expect(r.frames).toEqual(EXPECTED);
  });

  it('decodes the stream split at every byte boundary', () => {
    for (let cut = 1; cut < STREAM.length; cut++) {
      const r = frameAll(splitAt(STREAM, [cut]));
      if (r.error || !r.completed) throw new Error(`split at ${cut}: ${String(r.error)}`);
      if (!equals(r.frames, EXPECTED)) expect(r.frames).toEqual(EXPECTED); // only pay for the diff on failure
    }
  });

  it('decodes one byte at a time, including a full 16 KiB block', () => {
    const big: WireMessage = { type: 'Piece', index: 3, begin: 16384, block: block(BLOCK_SIZE, 9) };
    const stream = Buffer.concat([STREAM, encodeMessage(big)]);
    const r = frameAll(
      splitAt(
        stream,
        Array.from({ length: stream.length }, (_, i) => i),
      ),
    );
    expect(r.error).toBeUndefined();
    expect(r.frames).toEqual([...EXPECTED, big]);
  });

  it('decodes any split into any number of chunks (property)', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 1, max: STREAM.length - 1 }), { maxLength: 30 }), (cuts) => {
        const r = frameAll(splitAt(STREAM, cuts));
        expect(r.error).toBeUndefined();
        expect(r.frames).toEqual(EXPECTED);
      }),
      { numRuns: 200 },
    );
  });

  it('completes on an empty stream and on a stream that ends at a frame boundary', () => {
    expect(frameAll([])).toMatchObject({ completed: true, frames: [] });
    expect(frameAll([STREAM.subarray(0, 68)])).toMatchObject({ completed: true, frames: [handshakeOf(idA)] });
  });

  it.each<[string, WireErrorCode, Buffer, number]>([
    ['garbage instead of a handshake', 'bad-protocol', Buffer.from('GET / HTTP/1.1\r\n'), 0],
    ['a cut-off handshake', 'truncated', STREAM.subarray(0, 40), 0],
    ['a cut-off message', 'truncated', STREAM.subarray(0, 68 + 6), 1],
    ['a cut-off length prefix', 'truncated', STREAM.subarray(0, 68 + 2), 1],
  ])('%s → %s', (_name, code, bytes, emitted) => {
    const r = frameAll([bytes]);
    expect(r.code).toBe(code);
    expect(r.frames).toHaveLength(emitted);
  });

  it('rejects a wrong protocol string at its first wrong byte', () => {
    const r = frameAll([Buffer.from('\x13BitTorrent protocoX', 'latin1')]);
    expect(r.code).toBe('bad-protocol');
    expect(frameAll([Buffer.from([18])]).code).toBe('bad-protocol');
  });

  it('rejects the wrong info-hash', () => {
    const r = frameAll([encodeHandshake({ infoHash: OTHER_HASH, peerId: idA })]);
    expect(r.code).toBe('info-hash-mismatch');
    const ok = frameAll([encodeHandshake({ infoHash: OTHER_HASH, peerId: idA })], {
      expectInfoHash: (h) => h.equals(OTHER_HASH),
    });
    expect(ok.frames).toHaveLength(1);
  });

  const hs = encodeHandshake({ infoHash: INFO_HASH, peerId: idA });
  const prefix = (len: number, ...rest: number[]) => {
    const b = Buffer.alloc(4 + rest.length);
    b.writeUInt32BE(len, 0);
    rest.forEach((x, i) => (b[4 + i] = x));
    return b;
  };

  it('fails a 4 GiB length prefix on its 4 bytes, holding nothing', () => {
    const reader = new WireReader(OPTS);
    const got: WireFrame[] = [];
    reader.push(hs, (f) => got.push(f));
    expect(() => reader.push(prefix(0xffffffff), (f) => got.push(f))).toThrow(
      expect.objectContaining({ code: 'message-too-large' }),
    );
    expect(reader.buffered).toBe(0);
    expect(reader.maxBuffered).toBeLessThanOrEqual(4);
    expect(got).toEqual([handshakeOf(idA)]);
  });

  it.each<[string, Buffer, WireErrorCode]>([
    ['a length just above the cap', prefix(defaultMaxMessageLength(11) + 1), 'message-too-large'],
    ['a piece with a block above 16 KiB', prefix(9 + BLOCK_SIZE + 1, 7), 'message-too-large'],
    ['a bitfield longer than the torrent needs', prefix(1 + 3, 5), 'message-too-large'],
    ['an extended message above its cap', prefix(1 + 40000, 20), 'message-too-large'],
    ['an unknown id', prefix(100, 99), 'unknown-id'],
    ['a choke with a body', prefix(2, 0), 'bad-length'],
    ['a request of the wrong size', prefix(12, 6), 'bad-length'],
  ])('fails %s as soon as the id byte arrives', (_name, head, code) => {
    const r = frameAll([hs, head]);
    expect(r.code).toBe(code);
    expect(r.frames).toHaveLength(1);
  });

  it('accepts a bitfield at its cap and a 16 KiB block at its cap', () => {
    const r = frameAll([
      hs,
      encodeMessage({ type: 'Bitfield', bits: Buffer.from([0, 0]) }),
      encodeMessage({ type: 'Piece', index: 0, begin: 0, block: Buffer.alloc(BLOCK_SIZE) }),
    ]);
    expect(r.error).toBeUndefined();
    expect(r.frames.map((f) => f.type)).toEqual(['Handshake', 'Bitfield', 'Piece']);
  });

  it('enforces BEP 6 / BEP 10 negotiation when our reserved bits are given', () => {
    const both = makeReserved({ fast: true, extensions: true });
    const remoteNone = encodeHandshake({ infoHash: INFO_HASH, peerId: idA });
    const remoteBoth = encodeHandshake({ infoHash: INFO_HASH, peerId: idA, reserved: both });
    const haveAll = encodeMessage({ type: 'HaveAll' });
    const ext = encodeMessage({ type: 'Extended', id: 0, payload: Buffer.alloc(100) });
    expect(frameAll([remoteNone, haveAll], { localReserved: both }).code).toBe('not-negotiated');
    expect(frameAll([remoteNone, ext.subarray(0, 5)], { localReserved: both }).code).toBe('not-negotiated');
    expect(frameAll([remoteBoth, haveAll, ext], { localReserved: both }).frames).toHaveLength(3);
    expect(frameAll([remoteBoth, haveAll], { localReserved: Buffer.alloc(8) }).code).toBe('not-negotiated');
    expect(frameAll([remoteNone, haveAll, ext]).frames).toHaveLength(3); // no local bits: accept all
  });

  it('can start after the handshake', () => {
    const r = frameAll([encodeMessage({ type: 'Have', index: 1 })], { handshake: false });
    expect(r.frames).toEqual([{ type: 'Have', index: 1 }]);
  });

  it('passes source errors through', async () => {
    const src = new Observable<Buffer>((s) => s.error(new Error('ECONNRESET')));
    await expect(lastValueFrom(src.pipe(wireFraming()))).rejects.toThrow('ECONNRESET');
  });
});

describe('writers', () => {
  it('writes a piece as header + the block itself, and reports backpressure', () => {
    const writes: Buffer[] = [];
    let full = false;
    const sink: WireSink = { write: (b) => (writes.push(b), !full), cork: jest.fn(), uncork: jest.fn() };
    const blk = block(BLOCK_SIZE, 3);
    expect(sendMessage(sink, { type: 'Piece', index: 1, begin: 0, block: blk })).toBe(true);
    expect(writes).toHaveLength(2);
    expect(writes[1]).toBe(blk); // the same buffer: no copy
    expect(Buffer.concat(writes)).toEqual(encodeMessage({ type: 'Piece', index: 1, begin: 0, block: blk }));
    full = true;
    expect(sendMessage(sink, { type: 'Choke' })).toBe(false);
    expect(sendHandshake(sink, { infoHash: INFO_HASH, peerId: idA })).toBe(false);
    expect(sink.cork).toHaveBeenCalledTimes(1);
  });
});

// ------------------------------------------------------------------------------------------- loopback TCP

async function withServer<T>(fn: (client: net.Socket, server: net.Socket) => Promise<T>): Promise<T> {
  const listener = net.createServer();
  listener.listen(0, '127.0.0.1');
  await once(listener, 'listening');
  const accepted = once(listener, 'connection') as Promise<[net.Socket]>;
  const client = net.connect((listener.address() as net.AddressInfo).port, '127.0.0.1');
  await once(client, 'connect');
  const [server] = await accepted;
  try {
    return await fn(client, server);
  } finally {
    client.destroy();
    server.destroy();
    listener.close();
  }
}

const collect = (o: Observable<WireFrame>) => lastValueFrom(o.pipe(toArray()));
const failure = (o: Observable<WireFrame>) =>
  new Promise<{ frames: WireFrame[]; error: WireError }>((resolve, reject) => {
    const frames: WireFrame[] = [];
    o.subscribe({
      next: (f) => frames.push(f),
      error: (error) => resolve({ frames, error }),
      complete: () => reject(new Error('stream completed, expected an error')),
    });
  });

describe('two wires over a loopback TCP socket pair', () => {
  it('round-trips every message both ways', async () => {
    await withServer(async (a, b) => {
      const big: WireMessage = { type: 'Piece', index: 7, begin: 32768, block: block(BLOCK_SIZE, 5) };
      const reserved = makeReserved({ fast: true, extensions: true });
      const opts = { ...OPTS, localReserved: reserved };
      const atB = collect(readWire(b, opts));
      const atA = collect(readWire(a, opts));
      sendHandshake(a, { infoHash: INFO_HASH, peerId: idA, reserved });
      sendHandshake(b, { infoHash: INFO_HASH, peerId: idB, reserved });
      for (const m of [...ALL, big]) {
        sendMessage(a, m);
        sendMessage(b, m);
      }
      a.end();
      b.end();
      expect(await atB).toEqual([handshakeOf(idA, reserved), ...ALL, big]);
      expect(await atA).toEqual([handshakeOf(idB, reserved), ...ALL, big]);
    });
  });
});

describe('hostile raw-socket peers', () => {
  const closed = (s: net.Socket) =>
    s.destroyed ? Promise.resolve() : once(s, 'close').then(() => undefined);

  it('garbage instead of a handshake: error, and that peer is closed', async () => {
    await withServer(async (raw, server) => {
      const result = failure(readWire(server, OPTS));
      raw.write('GET /announce HTTP/1.1\r\nHost: x\r\n\r\n');
      const { frames, error } = await result;
      expect(error.code).toBe('bad-protocol');
      expect(frames).toEqual([]);
      await closed(raw);
    });
  });

  it('a wrong protocol string', async () => {
    await withServer(async (raw, server) => {
      const result = failure(readWire(server, OPTS));
      const hs = encodeHandshake({ infoHash: INFO_HASH, peerId: idA });
      hs.write('BitTorrent protocoL', 1, 'latin1');
      raw.write(hs);
      expect((await result).error.code).toBe('bad-protocol');
      await closed(raw);
    });
  });

  it('the wrong info-hash', async () => {
    await withServer(async (raw, server) => {
      const result = failure(readWire(server, OPTS));
      raw.write(encodeHandshake({ infoHash: OTHER_HASH, peerId: idA }));
      expect((await result).error.code).toBe('info-hash-mismatch');
      await closed(raw);
    });
  });

  it('a 4 GiB length prefix fails at once, with the peer still connected and no body sent', async () => {
    await withServer(async (raw, server) => {
      const before = process.memoryUsage().arrayBuffers;
      const result = failure(readWire(server, OPTS));
      raw.write(
        Buffer.concat([
          encodeHandshake({ infoHash: INFO_HASH, peerId: idA }),
          Buffer.from('ffffffff', 'hex'),
        ]),
      );
      const { frames, error } = await result;
      expect(error.code).toBe('message-too-large');
      expect(frames.map((f) => f.type)).toEqual(['Handshake']);
      expect(process.memoryUsage().arrayBuffers - before).toBeLessThan(64 * 1024 * 1024);
      await closed(raw);
    });
  });

  it('a disconnect mid-block errors with truncated after the frames before it', async () => {
    await withServer(async (raw, server) => {
      const result = failure(readWire(server, OPTS));
      const piece = encodeMessage({ type: 'Piece', index: 0, begin: 0, block: block(BLOCK_SIZE, 2) });
      raw.end(
        Buffer.concat([
          encodeHandshake({ infoHash: INFO_HASH, peerId: idA }),
          encodeMessage({ type: 'Unchoke' }),
          piece.subarray(0, 5000),
        ]),
      );
      const { frames, error } = await result;
      expect(error.code).toBe('truncated');
      expect(frames.map((f) => f.type)).toEqual(['Handshake', 'Unchoke']);
    });
  });

  it('a disconnect at a frame boundary completes', async () => {
    await withServer(async (raw, server) => {
      const result = collect(readWire(server, OPTS));
      raw.end(
        Buffer.concat([
          encodeHandshake({ infoHash: INFO_HASH, peerId: idA }),
          encodeMessage({ type: 'Choke' }),
        ]),
      );
      expect((await result).map((f) => f.type)).toEqual(['Handshake', 'Choke']);
    });
  });

  it('a flood of 100k requests is decoded with at most one partial frame held', async () => {
    await withServer(async (raw, server) => {
      const N = 100_000;
      const reader = new WireReader(OPTS);
      let maxChunk = 0;
      let readerCount = 0;
      server.on('data', (c: Buffer) => reader.push(c, () => readerCount++));
      const count = lastValueFrom(
        fromSocket(server).pipe(
          tap((c) => (maxChunk = Math.max(maxChunk, c.length))),
          wireFraming(OPTS),
          toArray(),
        ),
      );
      const one = encodeMessage({ type: 'Request', index: 3, begin: 0, length: BLOCK_SIZE });
      const flood = Buffer.allocUnsafe(one.length * N);
      for (let i = 0; i < N; i++) one.copy(flood, i * one.length);
      raw.write(encodeHandshake({ infoHash: INFO_HASH, peerId: idA }));
      raw.end(flood);
      const frames = await count;
      expect(frames).toHaveLength(N + 1);
      expect(frames[N]).toEqual({ type: 'Request', index: 3, begin: 0, length: BLOCK_SIZE });
      expect(readerCount).toBe(N + 1);
      // Between chunks the reader holds at most one incomplete frame (a partial handshake or request).
      expect(reader.maxBuffered).toBeLessThan(68);
      expect(maxChunk).toBeGreaterThan(0);
    });
  });
});
