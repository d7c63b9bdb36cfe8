/**
 * BEP 9 ut_metadata messages: the spec's byte examples, data pieces of exactly the right size, unknown
 * message types ignored, and malformed, oversized and mis-sized messages refused with ExtensionError only.
 */
import fc from 'fast-check';
import { encode } from '../../src/protocol/bencode';
import { ExtensionError } from '../../src/protocol/extension-error';
import {
  MAX_METADATA_PIECES,
  MAX_METADATA_SIZE,
  METADATA_PIECE_SIZE,
  decodeUtMetadata,
  encodeUtMetadata,
  metadataPieceCount,
  metadataPieceLength,
} from '../../src/protocol/ut-metadata';
import { errorCode, expectOnly, mutated, samples } from '../support/hostile';

const b = (s: string): Buffer => Buffer.from(s, 'latin1');
const dict = (o: Record<string, number | bigint | Buffer>): Buffer => encode(new Map(Object.entries(o)));
const codeOf = (payload: Buffer): string | undefined => errorCode(decodeUtMetadata, ExtensionError, payload);

describe('ut_metadata messages', () => {
  it("encodes BEP 9's examples byte for byte", () => {
    expect(encodeUtMetadata({ type: 'MetadataRequest', piece: 0 }).toString()).toBe(
      'd8:msg_typei0e5:piecei0ee',
    );
    expect(encodeUtMetadata({ type: 'MetadataReject', piece: 0 }).toString()).toBe(
      'd8:msg_typei2e5:piecei0ee',
    );
    const data = encodeUtMetadata({ type: 'MetadataData', piece: 0, totalSize: 5, data: b('xxxxx') });
    expect(data.toString()).toBe('d8:msg_typei1e5:piecei0e10:total_sizei5eexxxxx');
  });

  it('decodes each message, data as the bytes after the dictionary', () => {
    expect(decodeUtMetadata(b('d8:msg_typei0e5:piecei3ee'))).toEqual({ type: 'MetadataRequest', piece: 3 });
    expect(decodeUtMetadata(b('d5:piecei3e8:msg_typei2ee'))).toEqual({ type: 'MetadataReject', piece: 3 });
    const full = Buffer.alloc(METADATA_PIECE_SIZE, 7);
    const m = decodeUtMetadata(
      encodeUtMetadata({ type: 'MetadataData', piece: 1, totalSize: 40000, data: full }),
    );
    expect(m).toEqual({ type: 'MetadataData', piece: 1, totalSize: 40000, data: full });
    const last = Buffer.alloc(40000 - 2 * METADATA_PIECE_SIZE, 9);
    expect(
      decodeUtMetadata(encodeUtMetadata({ type: 'MetadataData', piece: 2, totalSize: 40000, data: last })),
    ).toEqual({ type: 'MetadataData', piece: 2, totalSize: 40000, data: last });
  });

  it('tolerates extra keys and ignores unknown message types (BEP 9: MUST be ignored)', () => {
    expect(decodeUtMetadata(b('d3:fooi1e8:msg_typei0e5:piecei1ee'))).toEqual({
      type: 'MetadataRequest',
      piece: 1,
    });
    expect(decodeUtMetadata(b('d8:msg_typei7e5:piecei0ee'))).toEqual({ type: 'MetadataUnknown', msgType: 7 });
    expect(decodeUtMetadata(b('d8:msg_typei-1ee'))).toEqual({ type: 'MetadataUnknown', msgType: -1 });
  });

  it('knows the piece geometry', () => {
    expect(metadataPieceCount(1)).toBe(1);
    expect(metadataPieceCount(METADATA_PIECE_SIZE)).toBe(1);
    expect(metadataPieceCount(METADATA_PIECE_SIZE + 1)).toBe(2);
    expect(metadataPieceLength(METADATA_PIECE_SIZE + 1, 1)).toBe(1);
    expect(metadataPieceLength(METADATA_PIECE_SIZE + 1, 2)).toBe(0);
    expect(MAX_METADATA_PIECES).toBe(2048);
  });

  it('refuses to encode data of the wrong size or past the end', () => {
    const bad = [
      { type: 'MetadataData' as const, piece: 0, totalSize: 20000, data: Buffer.alloc(100) },
      { type: 'MetadataData' as const, piece: 2, totalSize: 20000, data: Buffer.alloc(0) },
      {
        type: 'MetadataData' as const,
        piece: 0,
        totalSize: MAX_METADATA_SIZE + 1,
        data: Buffer.alloc(16384),
      },
    ];
    for (const m of bad) expect(() => encodeUtMetadata(m)).toThrow(ExtensionError);
    expect(() => encodeUtMetadata({ type: 'MetadataRequest', piece: -1 })).toThrow(ExtensionError);
    expect(() => encodeUtMetadata({ type: 'MetadataRequest', piece: MAX_METADATA_PIECES })).toThrow(
      ExtensionError,
    );
  });
});

describe('hostile ut_metadata input', () => {
  const header = (o: Record<string, number | bigint | Buffer>, tail: Buffer = Buffer.alloc(0)): Buffer =>
    Buffer.concat([dict(o), tail]);
  it.each([
    ['no msg_type', 'missing', header({ piece: 0 })],
    ['msg_type a string', 'bad-type', header({ msg_type: b('0'), piece: 0 })],
    ['no piece', 'missing', header({ msg_type: 0 })],
    ['piece a string', 'bad-type', header({ msg_type: 0, piece: b('0') })],
    ['piece negative', 'out-of-range', header({ msg_type: 0, piece: -1 })],
    ['piece past 32 MiB', 'out-of-range', header({ msg_type: 0, piece: MAX_METADATA_PIECES })],
    ['piece a bigint', 'out-of-range', header({ msg_type: 0, piece: 2n ** 70n })],
    ['bytes after a request', 'trailing-data', header({ msg_type: 0, piece: 0 }, b('x'))],
    ['bytes after a reject', 'trailing-data', header({ msg_type: 2, piece: 0 }, b('x'))],
    ['data without total_size', 'missing', header({ msg_type: 1, piece: 0 }, b('x'))],
    ['total_size 0', 'out-of-range', header({ msg_type: 1, piece: 0, total_size: 0 })],
    [
      'total_size over 32 MiB',
      'out-of-range',
      header({ msg_type: 1, piece: 0, total_size: MAX_METADATA_SIZE + 1 }),
    ],
    ['total_size a string', 'bad-type', header({ msg_type: 1, piece: 0, total_size: b('5') }, b('x'))],
    [
      'data too short',
      'out-of-range',
      header({ msg_type: 1, piece: 0, total_size: 20000 }, Buffer.alloc(100)),
    ],
    ['data too long', 'out-of-range', header({ msg_type: 1, piece: 0, total_size: 5 }, Buffer.alloc(6))],
    [
      'piece past total_size',
      'out-of-range',
      header({ msg_type: 1, piece: 1, total_size: 5 }, Buffer.alloc(5)),
    ],
    ['a list', 'not-a-dict', b('li1ee')],
    ['garbage', 'bencode', b('\x00\x01')],
    ['empty', 'bencode', Buffer.alloc(0)],
    ['a 2 KiB dictionary', 'too-large', header({ msg_type: 0, piece: 0, pad: Buffer.alloc(2048) })],
    ['over 17 KiB', 'too-large', header({ msg_type: 1, piece: 0, total_size: 16384 }, Buffer.alloc(20000))],
  ])('%s → %s', (_name, code, payload) => {
    expect(codeOf(payload)).toBe(code);
  });

  const arbMessage = fc.oneof(
    fc.record({ type: fc.constant('MetadataRequest' as const), piece: fc.integer({ min: 0, max: 2047 }) }),
    fc.record({ type: fc.constant('MetadataReject' as const), piece: fc.integer({ min: 0, max: 2047 }) }),
    fc
      .tuple(fc.integer({ min: 1, max: 70000 }), fc.nat(), fc.integer({ min: 0, max: 255 }))
      .map(([totalSize, k, fill]) => {
        const piece = k % metadataPieceCount(totalSize);
        return {
          type: 'MetadataData' as const,
          piece,
          totalSize,
          data: Buffer.alloc(metadataPieceLength(totalSize, piece), fill),
        };
      }),
  );

  it('round-trips arbitrary valid messages', () => {
    fc.assert(
      fc.property(arbMessage, (m) => {
        expect(decodeUtMetadata(encodeUtMetadata(m))).toEqual(m);
      }),
      { numRuns: 300, seed: 20 },
    );
  });

  it('throws nothing but ExtensionError on 6,000 mutated and random payloads', () => {
    const small = arbMessage.filter((m) => m.type !== 'MetadataData' || m.data.length < 64);
    const inputs = [
      ...samples(mutated(small.map((m) => encodeUtMetadata(m))), 4000, 21),
      ...samples(
        fc.uint8Array({ maxLength: 120 }).map((u) => Buffer.from(u)),
        2000,
        22,
      ),
    ];
    const r = expectOnly(decodeUtMetadata, ExtensionError, inputs);
    expect(r.ok).toBeGreaterThan(20); // a mutation that keeps the exact piece size is rare
    expect(r.refused).toBeGreaterThan(1000);
  });
});
