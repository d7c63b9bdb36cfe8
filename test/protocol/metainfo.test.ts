import { createHash } from 'node:crypto';
import { dict, encode } from '../../src/protocol/bencode';
import {
  MetainfoError,
  buildMetainfo,
  importLegacyJson,
  magnetUri,
  parseMetainfo,
  pieceSize,
} from '../../src/protocol/metainfo';

const b = (s: string) => Buffer.from(s);
const single = (over: Record<string, unknown> = {}) =>
  dict({
    name: b('a.bin'),
    'piece length': 16384,
    pieces: Buffer.alloc(40, 1),
    length: 20000,
    ...(over as object),
  } as never);

const parse = (info: unknown, root: Record<string, unknown> = {}) =>
  parseMetainfo(encode(dict({ ...root, info } as never)));

const refusal = (info: unknown): string => {
  try {
    parse(info);
  } catch (err) {
    expect(err).toBeInstanceOf(MetainfoError);
    return (err as Error).message;
  }
  throw new Error('accepted');
};

describe('parseMetainfo', () => {
  it('reads a single-file torrent with trackers, private flag and dates', () => {
    const m = parse(single({ private: 1 }), {
      announce: b('http://t1/announce'),
      'announce-list': [[b('http://t1/announce'), b('http://t2/announce')], [b('udp://t3:80')]],
      comment: b('hi'),
      'created by': b('me'),
      'creation date': 1700000000,
      'url-list': b('http://web/seed'),
    });
    expect(m).toMatchObject({
      name: 'a.bin',
      length: 20000,
      pieceCount: 2,
      multiFile: false,
      private: true,
      comment: 'hi',
      createdBy: 'me',
      announceList: [['http://t1/announce', 'http://t2/announce'], ['udp://t3:80']],
      urlList: ['http://web/seed'],
    });
    expect(m.creationDate?.toISOString()).toBe('2023-11-14T22:13:20.000Z');
    expect(pieceSize(m, 0)).toBe(16384);
    expect(pieceSize(m, 1)).toBe(20000 - 16384);
  });

  it('takes the info-hash from the bytes as written, even with unsorted keys', () => {
    // Hand-written info dict with keys out of order: a re-encoding would sort them and change the hash.
    const info = Buffer.concat([
      b('d6:lengthi5e12:piece lengthi16384e4:name1:x6:pieces20:'),
      Buffer.alloc(20, 7),
      b('e'),
    ]);
    const file = Buffer.concat([b('d4:info'), info, b('e')]);
    const m = parseMetainfo(file);
    expect(m.infoHash).toEqual(createHash('sha1').update(info).digest());
    expect(m.infoBytes).toEqual(info);
  });

  it('reads a multi-file torrent with offsets', () => {
    const m = parse(
      dict({
        name: b('dir'),
        'piece length': 16384,
        pieces: Buffer.alloc(40),
        files: [
          dict({ length: 10, path: [b('a')] }),
          dict({ length: 0, path: [b('sub'), b('e')] }),
          dict({ length: 16384, path: [b('sub'), b('b')] }),
        ],
      }),
    );
    expect(m.files).toEqual([
      { path: ['a'], length: 10, offset: 0 },
      { path: ['sub', 'e'], length: 0, offset: 10 },
      { path: ['sub', 'b'], length: 16384, offset: 10 },
    ]);
    expect(m.multiFile).toBe(true);
  });

  it.each([
    ['piece length 1000', single({ 'piece length': 1000 }), /piece length 1000 is not a power of two/],
    ['piece length 8 KiB', single({ 'piece length': 8192 }), /piece length 8192/],
    ['pieces of 39 bytes', single({ pieces: Buffer.alloc(39) }), /"pieces" is 39 bytes/],
    [
      'too few pieces',
      single({ length: 40000 }),
      /holds 2 hashes but 40000 bytes in 16384-byte pieces need 3/,
    ],
    ['zero length', single({ length: 0 }), /total length 0/],
    ['negative length', single({ length: -1 }), /not a valid size/],
    ['no name', dict({ 'piece length': 16384, pieces: Buffer.alloc(20), length: 1 }), /no "name"/],
    ['name ..', single({ name: b('..') }), /unsafe file name in name: "\.\."/],
    ['name with slash', single({ name: b('a/b') }), /path separator/],
    [
      'path with ..',
      dict({
        name: b('d'),
        'piece length': 16384,
        pieces: Buffer.alloc(20),
        files: [dict({ length: 1, path: [b('..'), b('x')] })],
      }),
      /unsafe file name/,
    ],
    [
      'absolute path',
      dict({
        name: b('d'),
        'piece length': 16384,
        pieces: Buffer.alloc(20),
        files: [dict({ length: 1, path: [b('/etc'), b('x')] })],
      }),
      /path separator/,
    ],
    [
      'empty component',
      dict({
        name: b('d'),
        'piece length': 16384,
        pieces: Buffer.alloc(20),
        files: [dict({ length: 1, path: [b('a'), b('')] })],
      }),
      /is empty/,
    ],
    [
      'NUL byte',
      dict({
        name: b('d'),
        'piece length': 16384,
        pieces: Buffer.alloc(20),
        files: [dict({ length: 1, path: [b('a\0b')] })],
      }),
      /NUL/,
    ],
    [
      'backslash',
      dict({
        name: b('d'),
        'piece length': 16384,
        pieces: Buffer.alloc(20),
        files: [dict({ length: 1, path: [b('..\\x')] })],
      }),
      /path separator/,
    ],
    [
      'drive letter',
      dict({
        name: b('d'),
        'piece length': 16384,
        pieces: Buffer.alloc(20),
        files: [dict({ length: 1, path: [b('C:x')] })],
      }),
      /drive/,
    ],
    [
      'duplicate file',
      dict({
        name: b('d'),
        'piece length': 16384,
        pieces: Buffer.alloc(20),
        files: [dict({ length: 1, path: [b('a')] }), dict({ length: 1, path: [b('a')] })],
      }),
      /appears twice/,
    ],
    [
      'empty path list',
      dict({
        name: b('d'),
        'piece length': 16384,
        pieces: Buffer.alloc(20),
        files: [dict({ length: 1, path: [] })],
      }),
      /no "path"/,
    ],
  ])('refuses %s', (_n, info, message) => {
    expect(refusal(info)).toMatch(message);
  });

  it('refuses non-bencode and non-dictionary input with a clear message', () => {
    expect(() => parseMetainfo(b('garbage'))).toThrow(/not a valid \.torrent file \(bencode: .* at 0\)/);
    expect(() => parseMetainfo(b('li1ee'))).toThrow(/top level is not a dictionary/);
    expect(() => parseMetainfo(b('de'))).toThrow(/missing "info"/);
  });
});

describe('buildMetainfo and magnetUri', () => {
  it('round-trips and produces a canonical info dictionary', () => {
    const bytes = buildMetainfo({
      name: 'x y.bin',
      pieceLength: 16384,
      pieces: Buffer.alloc(20, 3),
      files: [{ path: ['x y.bin'], length: 100 }],
      multiFile: false,
      announceList: [['http://a/announce'], ['http://b/announce']],
      private: true,
    });
    const m = parseMetainfo(bytes);
    expect(m.infoBytes.toString('latin1')).toMatch(
      /^d6:lengthi100e4:name7:x y.bin12:piece lengthi16384e6:pieces20:.{20}7:privatei1ee$/s,
    );
    expect(magnetUri(m)).toBe(
      `magnet:?xt=urn:btih:${m.infoHashHex}&dn=x%20y.bin&tr=http%3A%2F%2Fa%2Fannounce&tr=http%3A%2F%2Fb%2Fannounce`,
    );
  });

  it('imports legacy JSON and refuses malformed legacy JSON', () => {
    const m = parseMetainfo(
      importLegacyJson(
        JSON.stringify({
          filename: 'dir/m.mp4',
          size: 600000,
          piece_size: 524288,
          pieces: ['ab'.repeat(20), 'cd'.repeat(20)],
        }),
      ),
    );
    expect(m).toMatchObject({ name: 'm.mp4', length: 600000, pieceCount: 2 });
    expect(() => importLegacyJson('{')).toThrow(/not valid JSON/);
    expect(() =>
      importLegacyJson(JSON.stringify({ filename: 'a', size: 1, piece_size: 524288, pieces: ['zz'] })),
    ).toThrow(/40-digit hex/);
    expect(() =>
      importLegacyJson(
        JSON.stringify({ filename: 'a', size: 600000, piece_size: 524288, pieces: ['ab'.repeat(20)] }),
      ),
    ).toThrow(/need 2/);
  });
});
