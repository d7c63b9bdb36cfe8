/**
 * BEP 10 extended handshake: our handshake round-trips, real clients' handshakes decode (unknown keys
 * ignored), wrong types and bounds are refused with ExtensionError, ids are additive across handshakes,
 * and hostile bytes never throw anything else.
 */
import fc from 'fast-check';
import { BValue, encode } from '../../src/protocol/bencode';
import { ExtensionError } from '../../src/protocol/extension-error';
import {
  DEFAULT_REQQ,
  OUR_EXTENSION_IDS,
  applyRemoteHandshake,
  decodeExtensionHandshake,
  effectiveReqq,
  encodeExtensionHandshake,
  ipToBytes,
  localNameFor,
  ourHandshake,
  remoteIdFor,
} from '../../src/protocol/extension-handshake';
import { errorCode, expectOnly, mutated, samples } from '../support/hostile';

const b = (s: string): Buffer => Buffer.from(s, 'latin1');
const enc = (o: Record<string, unknown>): Buffer => encode(o as unknown as BValue);
const codeOf = (payload: Buffer): string | undefined =>
  errorCode(decodeExtensionHandshake, ExtensionError, payload);

describe('our handshake', () => {
  it('round-trips every field we send', () => {
    const bytes = encodeExtensionHandshake(
      ourHandshake({
        port: 6881,
        metadataSize: 31235,
        reqq: 500,
        clientName: 'rxtorrent 0.1.0',
        peerIp: '192.0.2.7',
        seed: true,
        encryption: true,
      }),
    );
    const hs = decodeExtensionHandshake(bytes);
    expect([...hs.m]).toEqual([...OUR_EXTENSION_IDS]);
    expect(hs).toMatchObject({
      p: 6881,
      metadataSize: 31235,
      reqq: 500,
      v: 'rxtorrent 0.1.0',
      yourip: '192.0.2.7',
      uploadOnly: true,
      encryption: true,
    });
  });

  it('sends IPv6 yourip as 16 bytes and omits what it does not know', () => {
    const bytes = encodeExtensionHandshake(ourHandshake({ peerIp: '2001:db8::1' }));
    expect(bytes.includes(b('6:youripl6:'))).toBe(false);
    const hs = decodeExtensionHandshake(bytes);
    expect(hs.yourip).toBe('2001:db8::1');
    expect(hs.p).toBeUndefined();
    expect(hs.metadataSize).toBeUndefined();
    expect(hs.reqq).toBe(DEFAULT_REQQ);
  });

  it('offers neither metadata nor PEX for a private torrent (BEP 27)', () => {
    const hs = decodeExtensionHandshake(
      encodeExtensionHandshake(ourHandshake({ port: 6881, metadataSize: 100, private: true })),
    );
    expect(hs.m.size).toBe(0);
    expect(hs.metadataSize).toBeUndefined();
  });

  it('refuses to encode what the protocol cannot carry', () => {
    const bad = [
      { m: new Map([['ut_metadata', 256]]) },
      {
        m: new Map([
          ['a', 1],
          ['b', 1],
        ]),
      },
      { m: new Map(), p: 0 },
      { m: new Map(), p: 65536 },
      { m: new Map(), reqq: 0 },
      { m: new Map(), metadataSize: 1.5 },
      { m: new Map(), yourip: 'example.org' },
      { m: new Map(), v: 'x'.repeat(300) },
    ];
    for (const h of bad) expect(() => encodeExtensionHandshake(h)).toThrow(ExtensionError);
  });
});

describe('decoding real clients', () => {
  it('decodes a libtorrent-style handshake and ignores extensions it does not know', () => {
    const payload = enc({
      m: { lt_donthave: 7, share_mode: 8, upload_only: 3, ut_holepunch: 4, ut_metadata: 2, ut_pex: 1 },
      metadata_size: 5123,
      p: 51413,
      reqq: 2000,
      v: 'qBittorrent/4.6.2',
      yourip: Buffer.from([127, 0, 0, 1]),
      complete_ago: -1,
      upload_only: 1,
    });
    const hs = decodeExtensionHandshake(payload);
    expect(hs.m.get('ut_metadata')).toBe(2);
    expect(hs.m.get('ut_pex')).toBe(1);
    expect(hs).toMatchObject({
      metadataSize: 5123,
      p: 51413,
      reqq: 2000,
      yourip: '127.0.0.1',
      uploadOnly: true,
    });
  });

  it('decodes a Transmission-style handshake with ipv4/ipv6 and e', () => {
    const payload = enc({
      e: 1,
      ipv4: Buffer.from([10, 0, 0, 5]),
      ipv6: ipToBytes('fd00::5'),
      m: { ut_holepunch: 4, ut_metadata: 3, ut_pex: 1 },
      metadata_size: 12000,
      p: 51413,
      reqq: 512,
      upload_only: 0,
      v: 'Transmission 4.0.5',
    });
    expect(decodeExtensionHandshake(payload)).toMatchObject({
      encryption: true,
      ipv4: '10.0.0.5',
      ipv6: 'fd00::5',
      uploadOnly: false,
      reqq: 512,
    });
  });

  it("decodes BEP 10's own example (names it does not know are kept, not used)", () => {
    const payload = Buffer.concat([
      b('d1:md11:LT_metadatai1e6:'),
      Buffer.from('µT_PEX', 'utf8').subarray(0, 6),
      b('i2ee1:pi6881e1:v13:'),
      Buffer.from('µTorrent 1.2', 'utf8'),
      b('e'),
    ]);
    const hs = decodeExtensionHandshake(payload);
    expect(hs.p).toBe(6881);
    expect(hs.v).toBe('µTorrent 1.2');
    expect(remoteIdFor(applyRemoteHandshake(new Map(), hs), 'ut_pex')).toBeUndefined();
  });

  it('accepts an empty dictionary (every key is optional)', () => {
    expect(decodeExtensionHandshake(b('de'))).toEqual({ m: new Map() });
  });

  it('is lenient where nothing is at stake: p=0, metadata_size=0, odd unknown m entries, control bytes in v', () => {
    const hs = decodeExtensionHandshake(
      enc({
        m: { lt_weird: b('x'), lt_big: 1000, lt_neg: -1, ut_metadata: 2 },
        p: 0,
        metadata_size: 0,
        v: Buffer.from('evil\x1b[31m\n', 'latin1'),
      }),
    );
    expect([...hs.m]).toEqual([['ut_metadata', 2]]);
    expect(hs.p).toBeUndefined();
    expect(hs.metadataSize).toBeUndefined();
    expect(hs.v).toBe('evil?[31m?');
  });
});

describe('strict about the keys we use', () => {
  it.each([
    ['m is a list', 'bad-type', enc({ m: [1] })],
    ['ut_metadata is a string', 'bad-type', enc({ m: { ut_metadata: b('1') } })],
    ['ut_pex id 256', 'out-of-range', enc({ m: { ut_pex: 256 } })],
    ['ut_pex id -1', 'out-of-range', enc({ m: { ut_pex: -1 } })],
    ['ut_metadata id is a bigint', 'out-of-range', b('d1:md11:ut_metadatai99999999999999999999eee')],
    ['two extensions share an id', 'duplicate-id', enc({ m: { ut_metadata: 1, ut_pex: 1 } })],
    ['ours shares an id with another', 'duplicate-id', enc({ m: { lt_donthave: 2, ut_pex: 2 } })],
    ['p is a string', 'bad-type', enc({ m: {}, p: b('6881') })],
    ['p above 65535', 'out-of-range', enc({ p: 65536 })],
    ['p negative', 'out-of-range', enc({ p: -5 })],
    ['reqq 0', 'out-of-range', enc({ reqq: 0 })],
    ['reqq huge', 'out-of-range', enc({ reqq: 2 ** 40 })],
    ['reqq a list', 'bad-type', enc({ reqq: [] })],
    ['metadata_size negative', 'out-of-range', enc({ metadata_size: -1 })],
    ['metadata_size a bigint', 'out-of-range', b('d13:metadata_sizei123456789012345678901234567890ee')],
    ['metadata_size a string', 'bad-type', enc({ metadata_size: b('10') })],
    ['yourip 5 bytes', 'out-of-range', enc({ yourip: Buffer.alloc(5) })],
    ['yourip an int', 'bad-type', enc({ yourip: 1 })],
    ['ipv4 16 bytes', 'out-of-range', enc({ ipv4: Buffer.alloc(16) })],
    ['ipv6 4 bytes', 'out-of-range', enc({ ipv6: Buffer.alloc(4) })],
    ['v an int', 'bad-type', enc({ v: 7 })],
    ['v of 300 bytes', 'out-of-range', enc({ v: Buffer.alloc(300, 0x41) })],
    ['upload_only a string', 'bad-type', enc({ upload_only: b('1') })],
    ['not a dictionary', 'not-a-dict', b('li1ee')],
    ['not bencode', 'bencode', b('hello')],
    ['trailing bytes', 'bencode', b('dexx')],
    ['empty payload', 'bencode', Buffer.alloc(0)],
    [
      'nested 100 deep',
      'bencode',
      Buffer.concat([b('d1:x'), b('l'.repeat(100)), b('e'.repeat(100)), b('e')]),
    ],
    ['over 16 KiB', 'too-large', enc({ x: Buffer.alloc(17 * 1024) })],
  ])('%s → %s', (_name, code, payload) => {
    expect(codeOf(payload)).toBe(code);
  });
});

describe('ids across a connection', () => {
  it('resolves names both ways and treats later handshakes as additive', () => {
    let remote = applyRemoteHandshake(new Map(), {
      m: new Map([
        ['ut_metadata', 3],
        ['ut_pex', 9],
      ]),
    });
    expect(remoteIdFor(remote, 'ut_metadata')).toBe(3);
    expect(remoteIdFor(remote, 'ut_pex')).toBe(9);
    remote = applyRemoteHandshake(remote, { m: new Map([['ut_pex', 0]]) }); // turn PEX off only
    expect(remoteIdFor(remote, 'ut_pex')).toBeUndefined();
    expect(remoteIdFor(remote, 'ut_metadata')).toBe(3);
    remote = applyRemoteHandshake(remote, { m: new Map([['ut_pex', 4]]) }); // and on again, new id
    expect(remoteIdFor(remote, 'ut_pex')).toBe(4);

    expect(localNameFor(OUR_EXTENSION_IDS, 1)).toBe('ut_metadata');
    expect(localNameFor(OUR_EXTENSION_IDS, 2)).toBe('ut_pex');
    expect(localNameFor(OUR_EXTENSION_IDS, 0)).toBeUndefined(); // the handshake itself
    expect(localNameFor(OUR_EXTENSION_IDS, 77)).toBeUndefined(); // unknown ids are ignored
    expect(localNameFor(new Map(), 1)).toBeUndefined(); // private torrent: we offered nothing
  });

  it("honours the peer's reqq, capped by ours", () => {
    expect(effectiveReqq(undefined, 500)).toBe(DEFAULT_REQQ);
    expect(effectiveReqq({ reqq: 20 }, 500)).toBe(20);
    expect(effectiveReqq({ reqq: 100_000 }, 500)).toBe(500);
  });
});

describe('hostile input', () => {
  const arbHandshake = fc
    .record({
      p: fc.option(fc.integer({ min: 1, max: 65535 }), { nil: undefined }),
      metadataSize: fc.option(fc.integer({ min: 1, max: 2 ** 30 }), { nil: undefined }),
      reqq: fc.option(fc.integer({ min: 1, max: 100_000 }), { nil: undefined }),
      v: fc.option(fc.string({ maxLength: 40 }), { nil: undefined }),
      ip: fc.option(fc.oneof(fc.ipV4(), fc.ipV6()), { nil: undefined }),
      ids: fc.uniqueArray(fc.integer({ min: 1, max: 255 }), { minLength: 2, maxLength: 2 }),
    })
    .map((r) => ({
      m: new Map([
        ['ut_metadata', r.ids[0]],
        ['ut_pex', r.ids[1]],
      ]),
      p: r.p,
      metadataSize: r.metadataSize,
      reqq: r.reqq,
      v: r.v,
      yourip: r.ip,
    }));

  it('round-trips arbitrary valid handshakes', () => {
    fc.assert(
      fc.property(arbHandshake, (h) => {
        const hs = decodeExtensionHandshake(encodeExtensionHandshake(h));
        expect([...hs.m]).toEqual([...h.m]);
        expect(hs.p).toBe(h.p);
        expect(hs.metadataSize).toBe(h.metadataSize);
        expect(hs.reqq).toBe(h.reqq);
        if (h.yourip) expect(ipToBytes(hs.yourip as string)).toEqual(ipToBytes(h.yourip));
      }),
      { numRuns: 300, seed: 10 },
    );
  });

  it('throws nothing but ExtensionError on 6,000 mutated, truncated and random payloads', () => {
    const valid = arbHandshake.map((h) => encodeExtensionHandshake(h));
    const inputs = [
      ...samples(mutated(valid), 4000, 11),
      ...samples(
        fc.uint8Array({ maxLength: 200 }).map((u) => Buffer.from(u)),
        2000,
        12,
      ),
    ];
    const r = expectOnly(decodeExtensionHandshake, ExtensionError, inputs);
    expect(r.ok).toBeGreaterThan(100);
    expect(r.refused).toBeGreaterThan(1000);
  });
});
