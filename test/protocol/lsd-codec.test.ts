/**
 * BEP 14 datagrams: the exact bytes we send (as libtorrent sends them), several info-hashes per datagram,
 * tolerant header parsing, and hostile datagrams refused with LsdError only.
 */
import fc from 'fast-check';
import {
  LSD_INFOHASHES_PER_DATAGRAM,
  LsdError,
  MAX_LSD_DATAGRAM,
  MAX_LSD_INFOHASHES,
  MAX_LSD_SEND,
  decodeLsdAnnounce,
  encodeLsdAnnounce,
} from '../../src/protocol/lsd-codec';
import { errorCode, expectOnly, samples } from '../support/hostile';

const IH = Buffer.from('c12fe1c06bba254a9dc9f519b335aa7c1367a88a', 'hex');
const b = (s: string): Buffer => Buffer.from(s, 'latin1');
const codeOf = (d: Buffer): string | undefined => errorCode(decodeLsdAnnounce, LsdError, d);

describe('LSD datagrams', () => {
  it('encodes an announce for each group', () => {
    expect(
      encodeLsdAnnounce({ family: 4, port: 6881, infoHashes: [IH], cookie: 'a1b2c3d4' }).toString(),
    ).toBe(
      'BT-SEARCH * HTTP/1.1\r\nHost: 239.192.152.143:6771\r\nPort: 6881\r\n' +
        `Infohash: ${IH.toString('hex')}\r\ncookie: a1b2c3d4\r\n\r\n\r\n`,
    );
    expect(encodeLsdAnnounce({ family: 6, port: 1, infoHashes: [IH] }).toString()).toContain(
      'Host: [ff15::efc0:988f]:6771\r\n',
    );
  });

  it('packs 20 info-hashes under 1400 bytes, and round-trips them', () => {
    const hashes = Array.from({ length: LSD_INFOHASHES_PER_DATAGRAM }, (_, i) => Buffer.alloc(20, i));
    const d = encodeLsdAnnounce({ family: 6, port: 65535, infoHashes: hashes, cookie: 'x'.repeat(64) });
    expect(d.length).toBeLessThanOrEqual(MAX_LSD_SEND);
    expect(decodeLsdAnnounce(d)).toEqual({
      port: 65535,
      infoHashes: hashes,
      cookie: 'x'.repeat(64),
      host: '[ff15::efc0:988f]:6771',
    });
  });

  it("reads libtorrent's datagram, other clients' spelling, bare \\n, and unknown headers", () => {
    const lt = b(
      `BT-SEARCH * HTTP/1.1\r\nHost: 239.192.152.143:6771\r\nPort: 51413\r\nInfohash: ${IH.toString('hex').toUpperCase()}\r\ncookie: 3fa2\r\n\r\n\r\n`,
    );
    expect(decodeLsdAnnounce(lt)).toMatchObject({ port: 51413, infoHashes: [IH], cookie: '3fa2' });
    const loose = b(
      `bt-search * HTTP/1.0\nX-Thing: 1\nPORT:  7000 \ninfohash:${IH.toString('hex')}\ninfohash: nonsense\n`,
    );
    expect(decodeLsdAnnounce(loose)).toEqual({
      port: 7000,
      infoHashes: [IH],
      cookie: undefined,
      host: undefined,
    });
  });

  it('refuses to encode what it cannot send', () => {
    expect(() => encodeLsdAnnounce({ family: 4, port: 0, infoHashes: [IH] })).toThrow(LsdError);
    expect(() => encodeLsdAnnounce({ family: 4, port: 1, infoHashes: [] })).toThrow(LsdError);
    expect(() => encodeLsdAnnounce({ family: 4, port: 1, infoHashes: Array(21).fill(IH) })).toThrow(LsdError);
    expect(() => encodeLsdAnnounce({ family: 4, port: 1, infoHashes: [IH], cookie: 'a b' })).toThrow(
      LsdError,
    );
    expect(() => encodeLsdAnnounce({ family: 4, port: 1, infoHashes: [Buffer.alloc(19)] })).toThrow(LsdError);
  });
});

describe('hostile LSD datagrams', () => {
  const head = 'BT-SEARCH * HTTP/1.1\r\nHost: x\r\n';
  const ih = `Infohash: ${IH.toString('hex')}\r\n`;
  it.each([
    ['an M-SEARCH (SSDP)', 'not-bt-search', b(`M-SEARCH * HTTP/1.1\r\nPort: 1\r\n${ih}\r\n`)],
    ['empty', 'not-bt-search', Buffer.alloc(0)],
    ['binary garbage', 'not-bt-search', Buffer.from([0, 1, 2, 3, 0xff])],
    ['no Port', 'no-port', b(`${head}${ih}\r\n`)],
    ['Port 0', 'bad-port', b(`${head}Port: 0\r\n${ih}\r\n`)],
    ['Port 65536', 'bad-port', b(`${head}Port: 65536\r\n${ih}\r\n`)],
    ['Port -1', 'bad-port', b(`${head}Port: -1\r\n${ih}\r\n`)],
    ['Port 6881x', 'bad-port', b(`${head}Port: 6881x\r\n${ih}\r\n`)],
    ['no Infohash', 'no-info-hash', b(`${head}Port: 1\r\n\r\n`)],
    ['a 39-digit Infohash', 'no-info-hash', b(`${head}Port: 1\r\nInfohash: ${'a'.repeat(39)}\r\n\r\n`)],
    ['a header without a colon', 'bad-header', b(`${head}Port 1\r\n${ih}\r\n`)],
    ['a header with an empty name', 'bad-header', b(`${head}: 1\r\n${ih}\r\n`)],
    ['100 header lines', 'too-many-headers', b(`${head}Port: 1\r\n${ih}${'X: 1\r\n'.repeat(100)}\r\n`)],
    ['over 2 KiB', 'too-large', b(`${head}Port: 1\r\n${ih}X: ${'y'.repeat(MAX_LSD_DATAGRAM)}\r\n\r\n`)],
  ])('%s → %s', (_name, code, d) => {
    expect(codeOf(d)).toBe(code);
  });

  it('reads at most 32 info-hashes, once each, and ignores a second Port and a long cookie', () => {
    const hashes = Array.from(
      { length: 33 },
      (_, i) => `Infohash: ${Buffer.alloc(20, i).toString('hex')}\r\n`,
    );
    const d = b(`${head}Port: 5\r\nPort: 6\r\n${ih}${ih}${hashes.join('')}cookie: ${'c'.repeat(65)}\r\n\r\n`);
    const a = decodeLsdAnnounce(d);
    expect(a.port).toBe(5);
    expect(a.infoHashes).toHaveLength(MAX_LSD_INFOHASHES);
    expect(a.cookie).toBeUndefined();
  });

  it('throws nothing but LsdError on 6,000 mutated and random datagrams', () => {
    const valid = fc
      .record({
        family: fc.constantFrom(4 as const, 6 as const),
        port: fc.integer({ min: 1, max: 65535 }),
        n: fc.integer({ min: 1, max: 20 }),
        cookie: fc.option(fc.stringMatching(/^[a-z0-9]{1,16}$/), { nil: undefined }),
      })
      .map(({ family, port, n, cookie }) =>
        encodeLsdAnnounce({
          family,
          port,
          cookie,
          infoHashes: Array.from({ length: n }, (_, i) => Buffer.alloc(20, i)),
        }),
      );
    const edit = fc.tuple(
      fc.nat(),
      fc.constantFrom('\r', '\n', ':', ' ', '0', 'Port: ', 'Infohash: ', '\x00', 'x'),
    );
    const mutated = fc.tuple(valid, fc.array(edit, { minLength: 1, maxLength: 5 })).map(([d, edits]) => {
      let s = d.toString('latin1');
      for (const [at, t] of edits) {
        const i = at % (s.length + 1);
        s = at % 2 ? s.slice(0, i) + t + s.slice(i) : s.slice(0, i) + t + s.slice(i + 1);
      }
      return b(s);
    });
    const inputs = [
      ...samples(mutated, 4000, 70),
      ...samples(
        fc
          .uint8Array({ maxLength: 300 })
          .map((u) => Buffer.concat([b('BT-SEARCH * HTTP/1.1\r\n'), Buffer.from(u)])),
        2000,
        71,
      ),
    ];
    const r = expectOnly(decodeLsdAnnounce, LsdError, inputs);
    expect(r.ok).toBeGreaterThan(500);
    expect(r.refused).toBeGreaterThan(1000);
  });
});
