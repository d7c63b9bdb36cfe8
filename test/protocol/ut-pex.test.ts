/**
 * BEP 11 ut_pex messages: both families with their flags, what libtorrent needs (added.f always with
 * added), lenient flags, and malformed or oversized lists refused with ExtensionError only.
 */
import fc from 'fast-check';
import { BValue, decode, encode } from '../../src/protocol/bencode';
import { ExtensionError } from '../../src/protocol/extension-error';
import { MAX_PEX_DECODE_ENTRIES, PexFlag, PexMessage, decodePex, encodePex } from '../../src/protocol/ut-pex';
import { errorCode, expectOnly, mutated, samples } from '../support/hostile';

const b = (s: string): Buffer => Buffer.from(s, 'latin1');
const enc = (o: Record<string, Buffer | number>): Buffer => encode(new Map(Object.entries(o)) as BValue);
const codeOf = (payload: Buffer): string | undefined => errorCode(decodePex, ExtensionError, payload);

describe('ut_pex messages', () => {
  it('round-trips IPv4 and IPv6 peers with their flags, split by family', () => {
    const m: PexMessage = {
      added: [
        { ip: '10.0.0.7', port: 6881, flags: PexFlag.Seed | PexFlag.Reachable },
        { ip: '2001:db8::7', port: 51413, flags: PexFlag.Encryption },
        { ip: '192.0.2.1', port: 1, flags: 0 },
      ],
      dropped: [
        { ip: '10.0.0.8', port: 6882 },
        { ip: 'fd00::8', port: 65535 },
      ],
    };
    const payload = encodePex(m);
    const d = decode(payload) as Map<string, Buffer>;
    expect([...d.keys()]).toEqual(['added', 'added.f', 'added6', 'added6.f', 'dropped', 'dropped6']);
    expect(d.get('added')).toEqual(Buffer.from([10, 0, 0, 7, 0x1a, 0xe1, 192, 0, 2, 1, 0, 1]));
    expect(d.get('added.f')).toEqual(Buffer.from([0x12, 0]));
    expect(decodePex(payload)).toEqual({ added: [m.added[0], m.added[2], m.added[1]], dropped: m.dropped });
  });

  it('always sends added.f with added, and at least one list', () => {
    expect(encodePex({ added: [], dropped: [] }).toString()).toBe('d5:added0:7:added.f0:e');
    expect(encodePex({ added: [], dropped: [{ ip: '10.0.0.1', port: 1 }] }).toString()).toBe(
      'd7:dropped6:\x0a\x00\x00\x01\x00\x01e',
    );
  });

  it('reads flags of the wrong length as no flags, and tolerates unknown keys', () => {
    const m = decodePex(enc({ added: b('\x0a\x00\x00\x01\x1a\xe1'), 'added.f': b('\x02\x02'), 'x.y': 5 }));
    expect(m.added).toEqual([{ ip: '10.0.0.1', port: 6881, flags: 0 }]);
    expect(decodePex(b('de'))).toEqual({ added: [], dropped: [] });
  });

  it('refuses to encode what is not an address', () => {
    expect(() => encodePex({ added: [{ ip: 'example.org', port: 1, flags: 0 }], dropped: [] })).toThrow(
      ExtensionError,
    );
    expect(() => encodePex({ added: [{ ip: '10.0.0.1', port: 0, flags: 0 }], dropped: [] })).toThrow(
      ExtensionError,
    );
    expect(() => encodePex({ added: [{ ip: '10.0.0.1', port: 1, flags: 256 }], dropped: [] })).toThrow(
      ExtensionError,
    );
    expect(() => encodePex({ added: [], dropped: [{ ip: '::1', port: 70000 }] })).toThrow(ExtensionError);
  });
});

describe('hostile ut_pex input', () => {
  it.each([
    ['added is an int', 'bad-type', enc({ added: 5 })],
    ['added6 is an int', 'bad-type', enc({ added6: 5 })],
    ['dropped6 is a list', 'bad-type', b('d8:dropped6lee')],
    ['added.f is an int', 'bad-type', enc({ added: Buffer.alloc(6), 'added.f': 1 })],
    ['added of 7 bytes', 'out-of-range', enc({ added: Buffer.alloc(7) })],
    ['added6 of 17 bytes', 'out-of-range', enc({ added6: Buffer.alloc(17) })],
    ['dropped of 5 bytes', 'out-of-range', enc({ dropped: Buffer.alloc(5) })],
    ['201 peers in added', 'too-large', enc({ added: Buffer.alloc(6 * (MAX_PEX_DECODE_ENTRIES + 1)) })],
    [
      '201 peers in dropped6',
      'too-large',
      enc({ dropped6: Buffer.alloc(18 * (MAX_PEX_DECODE_ENTRIES + 1)) }),
    ],
    ['a payload over 24 KiB', 'too-large', enc({ junk: Buffer.alloc(25 * 1024) })],
    ['a list', 'not-a-dict', b('le')],
    ['garbage', 'bencode', b('d5:added')],
  ])('%s → %s', (_name, code, payload) => {
    expect(codeOf(payload)).toBe(code);
  });

  const arbPeer = fc.record({
    ip: fc.oneof(fc.ipV4(), fc.ipV6()),
    port: fc.integer({ min: 1, max: 65535 }),
    flags: fc.integer({ min: 0, max: 255 }),
  });
  const arbMessage = fc.record({
    added: fc.array(arbPeer, { maxLength: 20 }),
    dropped: fc.array(
      arbPeer.map(({ ip, port }) => ({ ip, port })),
      { maxLength: 20 },
    ),
  });

  it('round-trips arbitrary messages (addresses compared as bytes)', () => {
    fc.assert(
      fc.property(arbMessage, (m) => {
        const again = decodePex(encodePex(m));
        expect(again.added.length).toBe(m.added.length);
        expect(again.dropped.length).toBe(m.dropped.length);
        expect(encodePex(again).equals(encodePex(m))).toBe(true); // same bytes, whatever the text form
        const sorted = (xs: { port: number }[]): number[] => xs.map((x) => x.port).sort();
        expect(sorted(again.added)).toEqual(sorted(m.added));
      }),
      { numRuns: 300, seed: 40 },
    );
  });

  it('throws nothing but ExtensionError on 6,000 mutated and random payloads', () => {
    const inputs = [
      ...samples(mutated(arbMessage.map((m) => encodePex(m))), 4000, 41),
      ...samples(
        fc.uint8Array({ maxLength: 120 }).map((u) => Buffer.from(u)),
        2000,
        42,
      ),
    ];
    const r = expectOnly(decodePex, ExtensionError, inputs);
    expect(r.ok).toBeGreaterThan(100);
    expect(r.refused).toBeGreaterThan(1000);
  });
});
