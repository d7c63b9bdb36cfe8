import fc from 'fast-check';
import {
  BitSet,
  BLOCK_SIZE,
  decodeHandshake,
  decodeMessage,
  encodeHandshake,
  encodeMessage,
  encodePieceHeader,
  HANDSHAKE_LENGTH,
  makeReserved,
  PieceGeometry,
  supportsDht,
  supportsExtensions,
  supportsFast,
  validateMessage,
  validateRequest,
  WireError,
  WireErrorCode,
  WireMessage,
} from '../../src/protocol/wire-codec';

const hex = (s: string) => Buffer.from(s.replace(/\s+/g, ''), 'hex');
const payloadOf = (frame: Buffer) => frame.subarray(4);
const roundTrip = (m: WireMessage) => decodeMessage(payloadOf(encodeMessage(m)));

function codeOf(fn: () => unknown): WireErrorCode | undefined {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(WireError);
    return (err as WireError).code;
  }
  return undefined;
}

/** One of every message, with the exact frame BEP 3 / 6 / 10 give it. */
const EXAMPLES: [WireMessage, string][] = [
  [{ type: 'KeepAlive' }, '00000000'],
  [{ type: 'Choke' }, '00000001 00'],
  [{ type: 'Unchoke' }, '00000001 01'],
  [{ type: 'Interested' }, '00000001 02'],
  [{ type: 'NotInterested' }, '00000001 03'],
  [{ type: 'Have', index: 0x01020304 }, '00000005 04 01020304'],
  [{ type: 'Bitfield', bits: hex('ff80') }, '00000003 05 ff80'],
  [{ type: 'Request', index: 1, begin: 0x4000, length: 0x4000 }, '0000000d 06 00000001 00004000 00004000'],
  [{ type: 'Piece', index: 2, begin: 0, block: hex('abcdef') }, '0000000c 07 00000002 00000000 abcdef'],
  [{ type: 'Cancel', index: 1, begin: 0x4000, length: 0x4000 }, '0000000d 08 00000001 00004000 00004000'],
  [{ type: 'Port', port: 6881 }, '00000003 09 1ae1'],
  [{ type: 'Suggest', index: 7 }, '00000005 0d 00000007'],
  [{ type: 'HaveAll' }, '00000001 0e'],
  [{ type: 'HaveNone' }, '00000001 0f'],
  [{ type: 'Reject', index: 3, begin: 0, length: 0x4000 }, '0000000d 10 00000003 00000000 00004000'],
  [{ type: 'AllowedFast', index: 9 }, '00000005 11 00000009'],
  [
    { type: 'Extended', id: 0, payload: Buffer.from('d1:md6:ut_pexi1eee') },
    '00000014 14 00 ' + Buffer.from('d1:md6:ut_pexi1eee').toString('hex'),
  ],
];

describe('messages', () => {
  it.each(EXAMPLES.map(([m, f]) => [m.type, m, f] as const))(
    '%s encodes to its BEP frame and back',
    (_t, m, f) => {
      expect(encodeMessage(m)).toEqual(hex(f));
      expect(roundTrip(m)).toEqual(m);
    },
  );

  it('encodePieceHeader is the first 13 bytes of the piece frame', () => {
    const block = Buffer.alloc(BLOCK_SIZE, 7);
    const full = encodeMessage({ type: 'Piece', index: 5, begin: 32768, block });
    expect(encodePieceHeader(5, 32768, BLOCK_SIZE)).toEqual(full.subarray(0, 13));
    expect(Buffer.concat([encodePieceHeader(5, 32768, BLOCK_SIZE), block])).toEqual(full);
  });

  const arbMessage: fc.Arbitrary<WireMessage> = (() => {
    const u32 = fc.nat({ max: 0xffffffff });
    const bytes = (max: number) => fc.uint8Array({ maxLength: max }).map((a) => Buffer.from(a));
    return fc.oneof(
      fc.constantFrom<WireMessage>(
        { type: 'KeepAlive' },
        { type: 'Choke' },
        { type: 'Unchoke' },
        { type: 'Interested' },
        { type: 'NotInterested' },
        { type: 'HaveAll' },
        { type: 'HaveNone' },
      ),
      fc.record({
        type: fc.constantFrom('Have' as const, 'Suggest' as const, 'AllowedFast' as const),
        index: u32,
      }),
      fc.record({ type: fc.constant('Bitfield' as const), bits: bytes(64) }),
      fc.record({
        type: fc.constantFrom('Request' as const, 'Cancel' as const, 'Reject' as const),
        index: u32,
        begin: u32,
        length: u32,
      }),
      fc.record({ type: fc.constant('Piece' as const), index: u32, begin: u32, block: bytes(300) }),
      fc.record({ type: fc.constant('Port' as const), port: fc.nat({ max: 0xffff }) }),
      fc.record({ type: fc.constant('Extended' as const), id: fc.nat({ max: 255 }), payload: bytes(100) }),
    );
  })();

  it('every message round-trips (property)', () => {
    fc.assert(
      fc.property(arbMessage, (m) => {
        const frame = encodeMessage(m);
        expect(frame.readUInt32BE(0)).toBe(frame.length - 4);
        expect(roundTrip(m)).toEqual(m);
      }),
      { numRuns: 500 },
    );
  });

  it('decoding arbitrary bytes either succeeds or throws a WireError (property)', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 40 }), (a) => {
        try {
          const m = decodeMessage(Buffer.from(a));
          expect(encodeMessage(m).subarray(4)).toEqual(Buffer.from(a));
        } catch (err) {
          expect(err).toBeInstanceOf(WireError);
        }
      }),
      { numRuns: 1000 },
    );
  });

  it.each<[string, string, WireErrorCode]>([
    ['unknown id', '0a', 'unknown-id'],
    ['unknown id 255', 'ff 00', 'unknown-id'],
    ['choke with a body', '00 00', 'bad-length'],
    ['have all with a body', '0e 01', 'bad-length'],
    ['short have', '04 000001', 'bad-length'],
    ['long have', '04 0000000100', 'bad-length'],
    ['short request', '06 00000001 00000000 0000', 'bad-length'],
    ['long cancel', '08 00000001 00000000 00004000 00', 'bad-length'],
    ['short reject', '10 00', 'bad-length'],
    ['piece without begin', '07 00000001 0000', 'bad-length'],
    ['short port', '09 1a', 'bad-length'],
    ['extended without ext id', '14', 'bad-length'],
    ['short suggest', '0d 00', 'bad-length'],
    ['long allowed fast', '11 0000000000', 'bad-length'],
  ])('%s → %s', (_name, payload, code) => {
    expect(codeOf(() => decodeMessage(hex(payload)))).toBe(code);
  });

  it('refuses BEP 6 and BEP 10 messages when not negotiated', () => {
    for (const p of ['0e', '0f', '0d 00000001', '10 00000001 00000000 00004000', '11 00000001']) {
      expect(codeOf(() => decodeMessage(hex(p), { fast: false }))).toBe('not-negotiated');
    }
    expect(codeOf(() => decodeMessage(hex('14 00'), { extensions: false }))).toBe('not-negotiated');
    expect(decodeMessage(hex('0e'), { fast: true })).toEqual({ type: 'HaveAll' });
    expect(decodeMessage(hex('01'), { fast: false, extensions: false })).toEqual({ type: 'Unchoke' });
  });

  it.each<[string, WireMessage]>([
    ['negative index', { type: 'Have', index: -1 }],
    ['fractional begin', { type: 'Request', index: 0, begin: 0.5, length: 1 }],
    ['length past uint32', { type: 'Cancel', index: 0, begin: 0, length: 2 ** 32 }],
    ['port past uint16', { type: 'Port', port: 65536 }],
    ['extended id past a byte', { type: 'Extended', id: 256, payload: Buffer.alloc(0) }],
  ])('refuses to encode %s', (_name, m) => {
    expect(codeOf(() => encodeMessage(m))).toBe('unencodable');
  });
});

describe('handshake', () => {
  const infoHash = Buffer.alloc(20, 0xaa);
  const peerId = Buffer.from('-RX0001-abcdefghijkl');

  it('encodes the BEP 3 layout and decodes it back', () => {
    const reserved = makeReserved({ fast: true, extensions: true });
    const hs = encodeHandshake({ infoHash, peerId, reserved });
    expect(hs.length).toBe(HANDSHAKE_LENGTH);
    expect(hs[0]).toBe(19);
    expect(hs.subarray(1, 20).toString('latin1')).toBe('BitTorrent protocol');
    expect(hs.subarray(20, 28)).toEqual(hex('0000000000100004'));
    expect(decodeHandshake(hs, infoHash)).toEqual({ type: 'Handshake', reserved, infoHash, peerId });
    expect(decodeHandshake(encodeHandshake({ infoHash, peerId })).reserved).toEqual(Buffer.alloc(8));
  });

  it('reserved-bit helpers', () => {
    expect(supportsFast(makeReserved({ fast: true }))).toBe(true);
    expect(supportsExtensions(makeReserved({ fast: true }))).toBe(false);
    expect(supportsExtensions(makeReserved({ extensions: true }))).toBe(true);
    expect(supportsFast(makeReserved({ extensions: true }))).toBe(false);
    expect(supportsFast(Buffer.from('ffffffffffffff04', 'hex'))).toBe(true);
    expect(makeReserved({ fast: true, dht: true })).toEqual(hex('0000000000000005'));
    expect(supportsDht(makeReserved({ dht: true }))).toBe(true);
    expect(supportsDht(makeReserved({ fast: true, extensions: true }))).toBe(false);
  });

  it('typed errors for bad handshakes', () => {
    const good = encodeHandshake({ infoHash, peerId });
    expect(codeOf(() => decodeHandshake(good.subarray(0, 67)))).toBe('bad-handshake-length');
    expect(codeOf(() => decodeHandshake(Buffer.concat([good, Buffer.alloc(1)])))).toBe(
      'bad-handshake-length',
    );
    expect(codeOf(() => decodeHandshake(Buffer.alloc(68, 0x41)))).toBe('bad-protocol');
    const wrongPstr = Buffer.from(good);
    wrongPstr.write('X', 19, 'latin1');
    expect(codeOf(() => decodeHandshake(wrongPstr))).toBe('bad-protocol');
    const wrongLen = Buffer.from(good);
    wrongLen[0] = 18;
    expect(codeOf(() => decodeHandshake(wrongLen))).toBe('bad-protocol');
    expect(codeOf(() => decodeHandshake(good, Buffer.alloc(20, 0xbb)))).toBe('info-hash-mismatch');
    expect(codeOf(() => decodeHandshake(good, (h) => h[0] === 0xbb))).toBe('info-hash-mismatch');
    expect(decodeHandshake(good, (h) => h[0] === 0xaa).infoHash).toEqual(infoHash);
    expect(codeOf(() => encodeHandshake({ infoHash: Buffer.alloc(19), peerId }))).toBe('unencodable');
    expect(codeOf(() => encodeHandshake({ infoHash, peerId: Buffer.alloc(21) }))).toBe('unencodable');
  });
});

describe('BitSet', () => {
  it('is MSB-first and counts', () => {
    const b = BitSet.empty(10);
    b.set(0);
    b.set(9);
    expect(b.toBuffer()).toEqual(hex('8040'));
    expect(b.get(0) && b.get(9) && !b.get(1)).toBe(true);
    expect(b.get(10)).toBe(false);
    expect(b.count()).toBe(2);
    expect(b.isComplete()).toBe(false);
    b.set(0, false);
    expect(b.count()).toBe(1);
    expect(() => b.set(10)).toThrow(RangeError);
    expect(BitSet.full(10).toBuffer()).toEqual(hex('ffc0'));
    expect(BitSet.full(10).isComplete()).toBe(true);
    expect(BitSet.empty(10).isEmpty()).toBe(true);
    expect(BitSet.full(16).toBuffer()).toEqual(hex('ffff'));
  });

  it('validates peer bytes: exact length, spare bits clear', () => {
    expect(BitSet.fromBuffer(hex('ffc0'), 10).count()).toBe(10);
    expect(codeOf(() => BitSet.fromBuffer(hex('ffe0'), 10))).toBe('spare-bits-set');
    expect(codeOf(() => BitSet.fromBuffer(hex('ff'), 10))).toBe('bad-bitfield-length');
    expect(codeOf(() => BitSet.fromBuffer(hex('ffc000'), 10))).toBe('bad-bitfield-length');
    expect(BitSet.fromBuffer(hex('ff'), 8).isComplete()).toBe(true);
    const src = hex('8000');
    const b = BitSet.fromBuffer(src, 9);
    src[0] = 0;
    expect(b.get(0)).toBe(true); // copied, not a view of the socket chunk
  });

  it('round-trips any set of pieces (property)', () => {
    fc.assert(
      fc.property(
        fc
          .integer({ min: 1, max: 200 })
          .chain((n) => fc.tuple(fc.constant(n), fc.uniqueArray(fc.nat({ max: n - 1 })))),
        ([n, set]) => {
          const b = BitSet.empty(n);
          set.forEach((i) => b.set(i));
          const back = BitSet.fromBuffer(b.toBuffer(), n);
          expect(back.count()).toBe(set.length);
          const members = new Set(set);
          for (let i = 0; i < n; i++) if (back.get(i) !== members.has(i)) throw new Error(`piece ${i}`);
        },
      ),
    );
  });
});

describe('validation', () => {
  // 3 pieces of 32 KiB; the last is 10,000 bytes.
  const g: PieceGeometry = { pieceCount: 3, pieceLength: 32768, length: 2 * 32768 + 10000 };

  it.each<[string, WireMessage, WireErrorCode | undefined]>([
    ['a full block', { type: 'Request', index: 0, begin: 16384, length: 16384 }, undefined],
    ['the short last block', { type: 'Request', index: 2, begin: 0, length: 10000 }, undefined],
    ['past the end of a piece', { type: 'Request', index: 0, begin: 16385, length: 16384 }, 'bad-span'],
    ['past the end of the last piece', { type: 'Request', index: 2, begin: 0, length: 10001 }, 'bad-span'],
    ['begin at 2^32-1', { type: 'Request', index: 0, begin: 0xffffffff, length: 1 }, 'bad-span'],
    ['a block above 16 KiB', { type: 'Request', index: 0, begin: 0, length: 16385 }, 'bad-span'],
    ['an empty block', { type: 'Cancel', index: 0, begin: 0, length: 0 }, 'bad-span'],
    ['a piece index past the end', { type: 'Reject', index: 3, begin: 0, length: 1 }, 'index-out-of-range'],
    [
      'a piece message in range',
      { type: 'Piece', index: 1, begin: 0, block: Buffer.alloc(16384) },
      undefined,
    ],
    [
      'a piece message past the end',
      { type: 'Piece', index: 2, begin: 9000, block: Buffer.alloc(1001) },
      'bad-span',
    ],
    ['have in range', { type: 'Have', index: 2 }, undefined],
    ['have past the end', { type: 'Have', index: 3 }, 'index-out-of-range'],
    ['allowed fast past the end', { type: 'AllowedFast', index: 99 }, 'index-out-of-range'],
    ['suggest past the end', { type: 'Suggest', index: 3 }, 'index-out-of-range'],
    ['a good bitfield', { type: 'Bitfield', bits: hex('e0') }, undefined],
    ['bitfield spare bits', { type: 'Bitfield', bits: hex('f0') }, 'spare-bits-set'],
    ['bitfield too long', { type: 'Bitfield', bits: hex('e000') }, 'bad-bitfield-length'],
    ['choke', { type: 'Choke' }, undefined],
  ])('%s', (_name, m, code) => {
    expect(validateMessage(m, g)?.code).toBe(code);
    if (m.type === 'Request' || m.type === 'Cancel' || m.type === 'Reject' || m.type === 'Piece') {
      expect(validateRequest(m, g)?.code).toBe(code);
    }
  });
});
