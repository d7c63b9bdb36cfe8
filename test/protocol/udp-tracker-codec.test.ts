import fc from 'fast-check';
import {
  MAX_UDP_SCRAPE_HASHES,
  UDP_PROTOCOL_ID,
  decodeUdpReply,
  decodeUdpRequest,
  encodeAnnounceReply,
  encodeAnnounceRequest,
  encodeConnectReply,
  encodeConnectRequest,
  encodeErrorReply,
  encodeScrapeReply,
  encodeScrapeRequest,
} from '../../src/protocol/udp-tracker-codec';

const CID = Buffer.from('0102030405060708', 'hex');
const IH = Buffer.alloc(20, 0xab);
const PID = Buffer.from('-RX0100-abcdefghijkl');
const announce = (over: Partial<Parameters<typeof encodeAnnounceRequest>[0]> = {}) =>
  encodeAnnounceRequest({
    connectionId: CID,
    transactionId: 77,
    infoHash: IH,
    peerId: PID,
    downloaded: 5,
    left: 2 ** 40,
    uploaded: 7,
    event: 'started',
    key: 0xdeadbeef,
    numWant: -1,
    port: 6881,
    ...over,
  });

describe('UDP tracker requests', () => {
  it('connect, announce and scrape round-trip', () => {
    expect(decodeUdpRequest(encodeConnectRequest(0xfffffffe))).toEqual({
      ok: true,
      request: { action: 'connect', transactionId: 0xfffffffe },
    });
    const a = decodeUdpRequest(announce());
    expect(a).toEqual({
      ok: true,
      request: {
        action: 'announce',
        connectionId: CID,
        transactionId: 77,
        infoHash: IH,
        peerId: PID,
        downloaded: 5,
        left: 2 ** 40,
        uploaded: 7,
        event: 'started',
        ip: 0,
        key: 0xdeadbeef,
        numWant: -1,
        port: 6881,
      },
    });
    const hashes = [IH, Buffer.alloc(20, 1)];
    expect(decodeUdpRequest(encodeScrapeRequest(CID, 9, hashes))).toEqual({
      ok: true,
      request: { action: 'scrape', connectionId: CID, transactionId: 9, infoHashes: hashes },
    });
  });

  it('accepts BEP 41 options after an announce, and reads a negative left as unknown', () => {
    const a = announce();
    a.writeBigInt64BE(-1n, 64);
    const d = decodeUdpRequest(Buffer.concat([a, Buffer.from([2, 5, 0x2f, 0x61, 0x6e, 0x6e, 0x6f, 0])]));
    expect(d).toMatchObject({ ok: true, request: { action: 'announce', left: undefined } });
  });

  const connectWith = (f: (b: Buffer) => void): Buffer => {
    const b = encodeConnectRequest(5);
    f(b);
    return b;
  };
  const cases: [string, Buffer, string, boolean][] = [
    ['empty', Buffer.alloc(0), 'too-short', false],
    ['15 bytes', Buffer.alloc(15), 'too-short', false],
    [
      'a connect without the protocol id',
      connectWith((b) => b.writeBigUInt64BE(UDP_PROTOCOL_ID + 1n, 0)),
      'bad-protocol-id',
      true,
    ],
    ['a connect of 17 bytes', Buffer.concat([encodeConnectRequest(5), Buffer.alloc(1)]), 'bad-length', true],
    ['an announce of 97 bytes', announce().subarray(0, 97), 'bad-length', true],
    [
      'an announce with event 4',
      (() => {
        const b = announce();
        b.writeUInt32BE(4, 80);
        return b;
      })(),
      'bad-event',
      true,
    ],
    ['an announce for port 0', announce({ port: 0 }), 'bad-port', true],
    [
      'a scrape of 16 + 19 bytes',
      Buffer.concat([encodeScrapeRequest(CID, 1, []), Buffer.alloc(19)]),
      'bad-length',
      true,
    ],
    [
      'a scrape of 75 hashes (past 1500 bytes)',
      Buffer.concat([encodeScrapeRequest(CID, 1, []), Buffer.alloc(20 * (MAX_UDP_SCRAPE_HASHES + 1))]),
      'too-long',
      true,
    ],
    ['action 3 (error) from a client', connectWith((b) => b.writeUInt32BE(3, 8)), 'unknown-action', true],
    ['action 0xffffffff', connectWith((b) => b.writeUInt32BE(0xffffffff, 8)), 'unknown-action', true],
    ['1501 bytes', Buffer.concat([announce(), Buffer.alloc(1501 - 98)]), 'too-long', true],
  ];
  it.each(cases)('%s is refused with a typed error', (_name, datagram, code, hasTid) => {
    const d = decodeUdpRequest(datagram);
    expect(d).toMatchObject({ ok: false, code });
    expect(!d.ok && d.transactionId !== undefined).toBe(hasTid);
  });

  it('never throws on arbitrary bytes (bounded fuzz)', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 1600 }), fc.integer({ min: 0, max: 3 }), (bytes, action) => {
        const b = Buffer.from(bytes);
        if (b.length >= 12) b.writeUInt32BE(action, 8); // reach every action's branch
        const d = decodeUdpRequest(b);
        expect(typeof d.ok).toBe('boolean');
      }),
      { numRuns: 2000 },
    );
  });
});

describe('UDP tracker replies', () => {
  it('connect, announce (both strides), scrape and error round-trip', () => {
    expect(decodeUdpReply(encodeConnectReply(3, CID), 4)).toEqual({
      ok: true,
      reply: { action: 'connect', transactionId: 3, connectionId: CID },
    });
    const v4 = Buffer.from([10, 0, 0, 1, 0x1a, 0xe1, 10, 0, 0, 2, 0x1a, 0xe2]);
    expect(
      decodeUdpReply(
        encodeAnnounceReply({ transactionId: 4, interval: 1800, leechers: 2, seeders: 1, peers: v4 }),
        4,
      ),
    ).toEqual({
      ok: true,
      reply: {
        action: 'announce',
        transactionId: 4,
        interval: 1800,
        leechers: 2,
        seeders: 1,
        peers: [
          { ip: '10.0.0.1', port: 6881 },
          { ip: '10.0.0.2', port: 6882 },
        ],
      },
    });
    const v6 = Buffer.concat([
      Buffer.from('20010db8000000000000000000000001', 'hex'),
      Buffer.from([0x1a, 0xe1]),
    ]);
    expect(
      decodeUdpReply(
        encodeAnnounceReply({ transactionId: 4, interval: 60, leechers: 0, seeders: 1, peers: v6 }),
        6,
      ),
    ).toMatchObject({
      ok: true,
      reply: { peers: [{ ip: '2001:db8::1', port: 6881 }] },
    });
    expect(decodeUdpReply(encodeScrapeReply(5, [{ seeders: 1, completed: 2, leechers: 3 }]), 4)).toEqual({
      ok: true,
      reply: { action: 'scrape', transactionId: 5, entries: [{ seeders: 1, completed: 2, leechers: 3 }] },
    });
    expect(decodeUdpReply(encodeErrorReply(6, 'no\x1b[31m way'), 4)).toEqual({
      ok: true,
      reply: { action: 'error', transactionId: 6, message: 'no [31m way' },
    });
  });

  it('an error reply never exceeds the size it is given', () => {
    const long = 'x'.repeat(1000);
    for (const max of [0, 8, 9, 20, 98, 2000]) {
      expect(encodeErrorReply(1, long, max).length).toBeLessThanOrEqual(Math.max(8, Math.min(max, 8 + 256)));
    }
  });

  it.each([
    ['7 bytes', Buffer.alloc(7)],
    ['a connect reply of 15 bytes', encodeConnectReply(1, CID).subarray(0, 15)],
    [
      'an announce reply of 19 bytes',
      Buffer.from('000000010000000100000000000000000000', 'hex').subarray(0, 19),
    ],
    ['action 9', Buffer.from('0000000900000001', 'hex')],
  ])('%s is reported, not thrown', (_name, d) => {
    expect(decodeUdpReply(d, 4)).toMatchObject({ ok: false });
  });

  it('never throws on arbitrary replies (bounded fuzz)', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ maxLength: 600 }),
        fc.integer({ min: 0, max: 4 }),
        fc.boolean(),
        (bytes, action, v6) => {
          const b = Buffer.from(bytes);
          if (b.length >= 4) b.writeUInt32BE(action, 0);
          expect(typeof decodeUdpReply(b, v6 ? 6 : 4).ok).toBe('boolean');
        },
      ),
      { numRuns: 2000 },
    );
  });
});
