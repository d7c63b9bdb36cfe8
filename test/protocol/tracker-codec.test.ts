import { decode, get, isBytes } from '../../src/protocol/bencode';
import {
  TrackerRequestError,
  buildAnnounceQuery,
  decodeAnnounceReply,
  decodeCompactPeers,
  decodeCompactPeers6,
  decodeScrapeReply,
  encodeAnnounceReply,
  encodeCompactPeers,
  encodeFailure,
  encodeScrapeReply,
  normalizeIp,
  parseAnnounce,
  parseQuery,
  parseScrape,
  percentDecode,
  percentEncode,
} from '../../src/protocol/tracker-codec';

const HASH = Buffer.from('00ff7e2025267f80a1b2c3d4e5f60718293a4b5c', 'hex');
const PEER = Buffer.from('-RX0100-\x00\x01\xfe\xff%&=+abcd', 'latin1');
const base = (extra = ''): string =>
  `info_hash=${percentEncode(HASH)}&peer_id=${percentEncode(PEER)}&port=6881${extra}`;
const limits = { remoteIp: '127.0.0.1' };

describe('percent coding', () => {
  it('round-trips every byte value', () => {
    const all = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
    expect(percentDecode(percentEncode(all))).toEqual(all);
  });

  it('decodes bytes that are not UTF-8, lower- and upper-case hex, and + as space', () => {
    expect(percentDecode('%ff%FEa+b')).toEqual(Buffer.from([0xff, 0xfe, 0x61, 0x20, 0x62]));
  });

  it('keeps a stray % literally', () => {
    expect(percentDecode('a%zz%4')).toEqual(Buffer.from('a%zz%4', 'latin1'));
  });
});

describe('parseAnnounce', () => {
  it('reads every BEP 3 field and keeps the raw 20-byte ids', () => {
    const q = parseQuery(
      base('&uploaded=10&downloaded=20&left=30&event=started&numwant=7&compact=1&key=abc'),
    );
    const r = parseAnnounce(q, limits);
    expect(r.infoHash).toEqual(HASH);
    expect(r.peerId).toEqual(PEER);
    expect(r).toMatchObject({
      ip: '127.0.0.1',
      port: 6881,
      uploaded: 10,
      downloaded: 20,
      left: 30,
      event: 'started',
      numwant: 7,
      compact: true,
    });
    expect(r.key).toBe(Buffer.from('abc').toString('hex'));
  });

  it('defaults: compact, numwant 50, counts 0, left unknown, no event', () => {
    const r = parseAnnounce(parseQuery(base()), limits);
    expect(r).toMatchObject({
      compact: true,
      numwant: 50,
      uploaded: 0,
      downloaded: 0,
      left: undefined,
      event: '',
      noPeerId: false,
    });
  });

  it('caps numwant and honours compact=0 and no_peer_id=1', () => {
    const r = parseAnnounce(parseQuery(base('&numwant=100000&compact=0&no_peer_id=1')), {
      ...limits,
      maxNumwant: 200,
    });
    expect(r).toMatchObject({ numwant: 200, compact: false, noPeerId: true });
  });

  it('ignores ip= unless trusted, and then validates it', () => {
    expect(parseAnnounce(parseQuery(base('&ip=10.0.0.9')), limits).ip).toBe('127.0.0.1');
    expect(parseAnnounce(parseQuery(base('&ip=10.0.0.9')), { ...limits, trustIpParam: true }).ip).toBe(
      '10.0.0.9',
    );
    expect(() =>
      parseAnnounce(parseQuery(base('&ip=evil.example')), { ...limits, trustIpParam: true }),
    ).toThrow(/invalid ip/);
  });

  it('treats an IPv4-mapped connection address as IPv4', () => {
    expect(parseAnnounce(parseQuery(base()), { remoteIp: '::ffff:192.168.1.7' }).ip).toBe('192.168.1.7');
    expect(normalizeIp('::1')).toBe('::1');
  });

  const bad: [string, string, RegExp][] = [
    ['no info_hash', `peer_id=${percentEncode(PEER)}&port=1`, /missing info_hash/],
    ['short info_hash', `info_hash=abc&peer_id=${percentEncode(PEER)}&port=1`, /invalid info_hash: 3 bytes/],
    [
      'long info_hash',
      `info_hash=${percentEncode(Buffer.alloc(21))}&peer_id=${percentEncode(PEER)}&port=1`,
      /21 bytes/,
    ],
    ['no peer_id', `info_hash=${percentEncode(HASH)}&port=1`, /missing peer_id/],
    ['short peer_id', `info_hash=${percentEncode(HASH)}&peer_id=x&port=1`, /invalid peer_id/],
    ['no port', `info_hash=${percentEncode(HASH)}&peer_id=${percentEncode(PEER)}`, /invalid port/],
    ['port 0', base().replace('port=6881', 'port=0'), /invalid port/],
    ['port 65536', base().replace('port=6881', 'port=65536'), /invalid port/],
    ['port text', base().replace('port=6881', 'port=http'), /invalid port/],
    ['unknown event', base('&event=exploded'), /unknown event/],
    ['negative left', base('&left=-5'), /invalid left/],
    ['text uploaded', base('&uploaded=lots'), /invalid uploaded/],
  ];
  it.each(bad)('refuses %s with a typed error', (_name, query, message) => {
    expect(() => parseAnnounce(parseQuery(query), limits)).toThrow(TrackerRequestError);
    expect(() => parseAnnounce(parseQuery(query), limits)).toThrow(message);
  });

  it('refuses an oversized query before parsing it', () => {
    expect(() => parseQuery(base('&pad=' + 'x'.repeat(9000)))).toThrow(/query too large/);
  });
});

describe('parseScrape', () => {
  it('returns each distinct info-hash; none means a full scrape', () => {
    const h2 = Buffer.alloc(20, 7);
    const q = parseQuery(
      `info_hash=${percentEncode(HASH)}&info_hash=${percentEncode(h2)}&info_hash=${percentEncode(HASH)}`,
    );
    expect(parseScrape(q)).toEqual([HASH, h2]);
    expect(parseScrape(parseQuery(''))).toEqual([]);
    expect(() => parseScrape(parseQuery('info_hash=short'))).toThrow(/invalid info_hash/);
  });
});

describe('replies', () => {
  const peers = [
    { ip: '10.1.2.3', port: 6881, peerId: Buffer.alloc(20, 1) },
    { ip: '2001:db8::1', port: 51413, peerId: Buffer.alloc(20, 2) },
    { ip: '::ffff:1.2.3.4', port: 1, peerId: Buffer.alloc(20, 3) },
  ];

  it('compact: 6-byte IPv4 entries in peers, 18-byte IPv6 entries in peers6', () => {
    const { peers: v4, peers6 } = encodeCompactPeers(peers);
    expect(v4.toString('hex')).toBe('0a0102031ae1');
    expect(peers6.length).toBe(36);
    expect(decodeCompactPeers(v4)).toEqual([{ ip: '10.1.2.3', port: 6881 }]);
    expect(decodeCompactPeers6(peers6)).toEqual([
      { ip: '2001:db8::1', port: 51413 },
      { ip: '::ffff:102:304', port: 1 },
    ]);
  });

  it('encodes interval, min interval, complete, incomplete and decodes back', () => {
    const bytes = encodeAnnounceReply({
      interval: 1800,
      minInterval: 60,
      complete: 2,
      incomplete: 5,
      peers: peers.slice(0, 2),
    });
    expect(bytes.toString('latin1')).toMatch(
      /^d8:completei2e10:incompletei5e8:intervali1800e12:min intervali60e5:peers6:/,
    );
    const r = decodeAnnounceReply(bytes);
    expect(r).toEqual({
      ok: true,
      interval: 1800,
      minInterval: 60,
      complete: 2,
      incomplete: 5,
      peers: [
        { ip: '10.1.2.3', port: 6881 },
        { ip: '2001:db8::1', port: 51413 },
      ],
    });
  });

  it('non-compact: a list of dictionaries, with or without peer ids', () => {
    const reply = { interval: 10, minInterval: 5, complete: 0, incomplete: 1, peers: peers.slice(0, 1) };
    const withIds = decodeAnnounceReply(encodeAnnounceReply(reply, { compact: false }));
    expect(withIds.ok && withIds.peers).toEqual([
      { ip: '10.1.2.3', port: 6881, peerId: Buffer.alloc(20, 1) },
    ]);
    const without = decodeAnnounceReply(encodeAnnounceReply(reply, { compact: false, noPeerId: true }));
    expect(without.ok && without.peers).toEqual([{ ip: '10.1.2.3', port: 6881 }]);
  });

  it('failure reason', () => {
    const d = decode(encodeFailure('bad port')) as Map<string, unknown>;
    expect(get(d as never, 'failure reason')?.toString()).toBe('bad port');
    expect(decodeAnnounceReply(encodeFailure('nope'))).toEqual({ ok: false, failureReason: 'nope' });
  });

  it('scrape files keyed by the raw info-hash', () => {
    const bytes = encodeScrapeReply([{ infoHash: HASH, complete: 1, downloaded: 4, incomplete: 2 }]);
    const files = get(decode(bytes) as never, 'files') as Map<string, unknown>;
    expect([...files.keys()].map((k) => Buffer.from(k, 'latin1'))).toEqual([HASH]);
    expect(decodeScrapeReply(bytes).get(HASH.toString('hex'))).toEqual({
      complete: 1,
      downloaded: 4,
      incomplete: 2,
    });
  });

  it('buildAnnounceQuery output parses back to the same request', () => {
    const q = buildAnnounceQuery({
      infoHash: HASH,
      peerId: PEER,
      port: 7,
      left: 0,
      event: 'completed',
      numwant: 3,
      key: 'k1',
    });
    const r = parseAnnounce(parseQuery(q), limits);
    expect(r.infoHash).toEqual(HASH);
    expect(r.peerId).toEqual(PEER);
    expect(r).toMatchObject({ port: 7, left: 0, event: 'completed', numwant: 3 });
    expect(isBytes(r.peerId)).toBe(true);
  });
});
