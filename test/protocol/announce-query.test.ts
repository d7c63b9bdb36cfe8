import fc from 'fast-check';
import { parseAnnounceQuery } from '../../src/protocol/announce-query';
import {
  buildAnnounceQuery,
  parseAnnounce,
  parseQuery,
  percentEncode,
} from '../../src/protocol/tracker-codec';

const LIMITS = { remoteIp: '::ffff:10.0.0.9', maxNumwant: 200, defaultNumwant: 50 };

function outcome(f: () => unknown): unknown {
  try {
    return { ok: f() };
  } catch (err) {
    return { error: (err as Error).message };
  }
}

const hash20 = fc.uint8Array({ minLength: 20, maxLength: 20 }).map((b) => percentEncode(b));
const value = fc.oneof(
  hash20,
  fc.constantFrom(
    '-RX0100-abcdefghijkl',
    '%41%42',
    'abc',
    '%zz' + 'a'.repeat(17),
    '+'.repeat(20),
    '%4' + 'b'.repeat(19),
  ),
  fc.constantFrom(
    '0',
    '1',
    '6881',
    '65535',
    '65536',
    '00007',
    '-1',
    '1e3',
    '9'.repeat(17),
    '9007199254740993',
    '',
  ),
  fc.constantFrom(
    'started',
    'completed',
    'stopped',
    'paused',
    'exploded',
    'st%61rted',
    '%30',
    '1',
    'constructor',
  ),
  fc.string({ maxLength: 8 }),
);
const name = fc.constantFrom(
  'info_hash',
  'peer_id',
  'port',
  'uploaded',
  'downloaded',
  'left',
  'event',
  'numwant',
  'compact',
  'no_peer_id',
  'key',
  'ip',
  'INFO_HASH',
  'Port',
  'foo',
  '',
  'trackerid',
);
const part = fc.oneof(
  fc.tuple(name, value).map(([n, v]) => `${n}=${v}`),
  name, // a name without `=`
);

describe('the announce query fast path', () => {
  it('gives exactly what the generic parser gives, request or error (bounded fuzz)', () => {
    const good = buildAnnounceQuery({
      infoHash: Buffer.alloc(20, 0xab),
      peerId: Buffer.from('-RX0100-abcdefghijkl'),
      port: 6881,
      left: 5,
      event: 'started',
      numwant: 30,
      key: 'k1',
    });
    fc.assert(
      fc.property(fc.array(part, { maxLength: 14 }), fc.boolean(), fc.boolean(), (parts, withGood, trust) => {
        const q = [...(withGood ? [good] : []), ...parts].join('&');
        const limits = { ...LIMITS, trustIpParam: trust };
        expect(outcome(() => parseAnnounceQuery(q, limits))).toEqual(
          outcome(() => parseAnnounce(parseQuery(q), limits)),
        );
      }),
      { numRuns: 3000 },
    );
  });

  it('reads what real clients send', () => {
    const q = buildAnnounceQuery({
      infoHash: Buffer.from('00ff20252641423d7e2d2e5f80c3a9010203fe7f', 'hex'),
      peerId: Buffer.from('-lt0D80-\x01\x02\xff\xfe\x10abcdefg', 'latin1'),
      port: 51413,
      uploaded: 12,
      downloaded: 34,
      left: 0,
      event: 'completed',
      numwant: 500,
      noPeerId: true,
      key: '7a3F',
    });
    expect(parseAnnounceQuery(q, LIMITS)).toEqual(parseAnnounce(parseQuery(q), LIMITS));
    expect(parseAnnounceQuery(q, LIMITS)).toMatchObject({
      ip: '10.0.0.9',
      port: 51413,
      left: 0,
      numwant: 200,
      event: 'completed',
    });
  });
});
