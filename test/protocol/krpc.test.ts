import fc from 'fast-check';
import {
  KrpcError,
  KrpcMessage,
  KrpcProblem,
  MAX_KRPC_BYTES,
  NodeContact,
  decodeCompactNodes,
  decodeKrpc,
  encodeCompactNodes,
  encodeError,
  encodeQuery,
  encodeResponse,
  encodeValues,
} from '../../src/protocol/krpc';

const b = (s: string): Buffer => Buffer.from(s, 'latin1');
const ID = b('abcdefghij0123456789');
const HASH = b('mnopqrstuvwxyz123456');

function problemOf(bytes: Buffer): { problem: KrpcProblem; t?: string; reply?: number } {
  try {
    decodeKrpc(bytes);
  } catch (err) {
    expect(err).toBeInstanceOf(KrpcError);
    const e = err as KrpcError;
    return { problem: e.problem, t: e.t?.toString('latin1'), reply: e.reply };
  }
  throw new Error('expected a KrpcError');
}

describe('KRPC: BEP 5 example frames', () => {
  test('ping query and its response', () => {
    const q = b('d1:ad2:id20:abcdefghij0123456789e1:q4:ping1:t2:aa1:y1:qe');
    expect(decodeKrpc(q)).toEqual({
      y: 'q',
      t: b('aa'),
      v: undefined,
      ro: false,
      query: { method: 'ping', id: ID },
    });
    expect(encodeQuery(b('aa'), { method: 'ping', id: ID })).toEqual(q);
    const r = b('d1:rd2:id20:mnopqrstuvwxyz123456e1:t2:aa1:y1:re');
    expect(decodeKrpc(r)).toMatchObject({ y: 'r', t: b('aa'), response: { id: HASH } });
    expect(encodeResponse(b('aa'), { id: HASH })).toEqual(r);
  });

  test('find_node and get_peers queries', () => {
    const fq = b(
      'd1:ad2:id20:abcdefghij01234567896:target20:mnopqrstuvwxyz123456e1:q9:find_node1:t2:aa1:y1:qe',
    );
    expect(decodeKrpc(fq)).toMatchObject({ y: 'q', query: { method: 'find_node', id: ID, target: HASH } });
    expect(encodeQuery(b('aa'), { method: 'find_node', id: ID, target: HASH })).toEqual(fq);
    const gq = b(
      'd1:ad2:id20:abcdefghij01234567899:info_hash20:mnopqrstuvwxyz123456e1:q9:get_peers1:t2:aa1:y1:qe',
    );
    expect(decodeKrpc(gq)).toMatchObject({ query: { method: 'get_peers', id: ID, infoHash: HASH } });
    expect(encodeQuery(b('aa'), { method: 'get_peers', id: ID, infoHash: HASH })).toEqual(gq);
  });

  test('get_peers response with values', () => {
    const r = b('d1:rd2:id20:abcdefghij01234567895:token8:aoeusnth6:valuesl6:axje.u6:idhtnmee1:t2:aa1:y1:re');
    const m = decodeKrpc(r);
    expect(m).toMatchObject({ y: 'r', response: { id: ID, token: b('aoeusnth') } });
    const values = (m as Extract<KrpcMessage, { y: 'r' }>).response.values;
    expect(values).toEqual([
      { ip: '97.120.106.101', port: 0x2e75 },
      { ip: '105.100.104.116', port: 0x6e6d },
    ]);
    expect(encodeResponse(b('aa'), { id: ID, token: b('aoeusnth'), values })).toEqual(r);
  });

  test('announce_peer with and without implied_port', () => {
    const a = b(
      'd1:ad2:id20:abcdefghij012345678912:implied_porti1e9:info_hash20:mnopqrstuvwxyz1234564:porti6881e5:token8:aoeusnthe1:q13:announce_peer1:t2:aa1:y1:qe',
    );
    expect(decodeKrpc(a)).toMatchObject({
      query: {
        method: 'announce_peer',
        id: ID,
        infoHash: HASH,
        impliedPort: true,
        port: 0,
        token: b('aoeusnth'),
      },
    });
    const q = {
      method: 'announce_peer',
      id: ID,
      infoHash: HASH,
      port: 6881,
      token: b('tok'),
      impliedPort: false,
    } as const;
    expect(decodeKrpc(encodeQuery(b('xy'), q))).toMatchObject({ t: b('xy'), query: q });
  });

  test('errors', () => {
    const e = b('d1:eli201e23:A Generic Error Ocurrede1:t2:aa1:y1:ee');
    expect(decodeKrpc(e)).toMatchObject({ y: 'e', error: { code: 201, message: 'A Generic Error Ocurred' } });
    expect(encodeError(b('aa'), 201, 'A Generic Error Ocurred')).toEqual(e);
  });
});

describe('KRPC: compact node info and peers', () => {
  const v4: NodeContact[] = [
    { id: Buffer.alloc(20, 1), ip: '10.0.0.1', port: 6881 },
    { id: Buffer.alloc(20, 2), ip: '192.168.255.254', port: 65535 },
  ];
  const v6: NodeContact[] = [
    { id: Buffer.alloc(20, 3), ip: '2001:db8::1', port: 6881 },
    { id: Buffer.alloc(20, 4), ip: '::1', port: 1 },
  ];

  test('26-byte IPv4 and 38-byte IPv6 (BEP 32) entries round-trip', () => {
    expect(encodeCompactNodes(v4, 4)).toHaveLength(52);
    expect(decodeCompactNodes(encodeCompactNodes(v4, 4), 4)).toEqual(v4);
    expect(encodeCompactNodes(v6, 6)).toHaveLength(76);
    expect(decodeCompactNodes(encodeCompactNodes(v6, 6), 6)).toEqual(v6);
    // Contacts of the other family are skipped, not garbled.
    expect(encodeCompactNodes([...v4, ...v6], 4)).toEqual(encodeCompactNodes(v4, 4));
  });

  test('responses carry nodes, nodes6, values (v4 and v6), token and the BEP 42 ip field', () => {
    const values = [
      { ip: '1.2.3.4', port: 80 },
      { ip: '2001:db8::2', port: 443 },
    ];
    const bytes = encodeResponse(
      b('t1'),
      { id: ID, nodes: v4, nodes6: v6, values, token: b('tk') },
      { ip: { ip: '9.8.7.6', port: 1234 }, v: b('RX01') },
    );
    expect(decodeKrpc(bytes)).toEqual({
      y: 'r',
      t: b('t1'),
      v: b('RX01'),
      ip: { ip: '9.8.7.6', port: 1234 },
      response: { id: ID, nodes: v4, nodes6: v6, values, token: b('tk') },
    });
    expect(encodeValues(values).map((x) => x.length)).toEqual([6, 18]);
  });

  test('want lists (BEP 32) and read-only queries (BEP 43)', () => {
    const bytes = encodeQuery(
      b('w'),
      { method: 'find_node', id: ID, target: HASH, want: ['n4', 'n6'] },
      { ro: true },
    );
    expect(decodeKrpc(bytes)).toMatchObject({ ro: true, query: { want: ['n4', 'n6'] } });
  });

  test('unknown methods keep their target for forward compatibility', () => {
    const bytes = b('d1:ad2:id20:abcdefghij01234567896:target20:mnopqrstuvwxyz123456e1:q3:get1:t1:x1:y1:qe');
    expect(decodeKrpc(bytes)).toMatchObject({ query: { method: 'unknown', name: 'get', target: HASH } });
  });
});

describe('KRPC: every malformed input gets a typed error', () => {
  const cases: [string, string, KrpcProblem, number | undefined][] = [
    ['not bencode', 'd1:t', 'bencode', undefined],
    ['a list', 'li1ee', 'not-dict', undefined],
    ['no transaction id', 'd1:y1:qe', 'bad-transaction', undefined],
    ['empty transaction id', 'd1:t0:1:y1:qe', 'bad-transaction', undefined],
    ['long transaction id', 'd1:t17:aaaaaaaaaaaaaaaaa1:y1:qe', 'bad-transaction', undefined],
    ['unknown type', 'd1:t2:aa1:y1:xe', 'bad-type', undefined],
    ['query without method', 'd1:ad2:id20:abcdefghij0123456789e1:t2:aa1:y1:qe', 'bad-method', 203],
    ['query without arguments', 'd1:q4:ping1:t2:aa1:y1:qe', 'missing-args', 203],
    ['short id', 'd1:ad2:id3:abce1:q4:ping1:t2:aa1:y1:qe', 'bad-id', 203],
    [
      'find_node without target',
      'd1:ad2:id20:abcdefghij0123456789e1:q9:find_node1:t2:aa1:y1:qe',
      'bad-target',
      203,
    ],
    [
      'get_peers with short hash',
      'd1:ad2:id20:abcdefghij01234567899:info_hash1:xe1:q9:get_peers1:t2:aa1:y1:qe',
      'bad-info-hash',
      203,
    ],
    [
      'announce_peer with port 0',
      'd1:ad2:id20:abcdefghij01234567899:info_hash20:mnopqrstuvwxyz1234564:porti0e5:token1:xe1:q13:announce_peer1:t2:aa1:y1:qe',
      'bad-port',
      203,
    ],
    [
      'announce_peer with port 70000',
      'd1:ad2:id20:abcdefghij01234567899:info_hash20:mnopqrstuvwxyz1234564:porti70000e5:token1:xe1:q13:announce_peer1:t2:aa1:y1:qe',
      'bad-port',
      203,
    ],
    [
      'announce_peer without token',
      'd1:ad2:id20:abcdefghij01234567899:info_hash20:mnopqrstuvwxyz1234564:porti1ee1:q13:announce_peer1:t2:aa1:y1:qe',
      'bad-token',
      203,
    ],
    [
      'want not a list',
      'd1:ad2:id20:abcdefghij01234567896:target20:mnopqrstuvwxyz1234564:wanti1ee1:q9:find_node1:t2:aa1:y1:qe',
      'bad-want',
      203,
    ],
    ['response without r', 'd1:t2:aa1:y1:re', 'bad-response', undefined],
    ['response with short id', 'd1:rd2:id1:xe1:t2:aa1:y1:re', 'bad-id', undefined],
    [
      'nodes of 25 bytes',
      `d1:rd2:id20:abcdefghij01234567895:nodes25:${'x'.repeat(25)}e1:t2:aa1:y1:re`,
      'bad-nodes',
      undefined,
    ],
    [
      'nodes6 of 26 bytes',
      `d1:rd2:id20:abcdefghij01234567896:nodes626:${'x'.repeat(26)}e1:t2:aa1:y1:re`,
      'bad-nodes',
      undefined,
    ],
    [
      'values not a list',
      'd1:rd2:id20:abcdefghij01234567896:values6:abcdefe1:t2:aa1:y1:re',
      'bad-values',
      undefined,
    ],
    [
      'a 5-byte value',
      'd1:rd2:id20:abcdefghij01234567896:valuesl5:abcdeee1:t2:aa1:y1:re',
      'bad-values',
      undefined,
    ],
    ['an empty token', 'd1:rd2:id20:abcdefghij01234567895:token0:e1:t2:aa1:y1:re', 'bad-token', undefined],
    ['error not a list', 'd1:e3:bad1:t2:aa1:y1:ee', 'bad-error', undefined],
    ['error without code', 'd1:el3:bade1:t2:aa1:y1:ee', 'bad-error', undefined],
    [
      'nesting too deep',
      'd1:ad1:xl' + 'l'.repeat(10) + 'e'.repeat(10) + 'eee1:t2:aa1:y1:qe',
      'bencode',
      undefined,
    ],
  ];
  test.each(cases)('%s', (_name, input, problem, reply) => {
    const got = problemOf(b(input));
    expect(got.problem).toBe(problem);
    expect(got.reply).toBe(reply);
  });

  test('a query whose transaction id was read carries it, so the 203 reply can echo it', () => {
    expect(problemOf(b('d1:ad2:id3:abce1:q4:ping1:t2:zz1:y1:qe')).t).toBe('zz');
  });

  test('oversized datagrams are refused before decoding', () => {
    expect(problemOf(Buffer.alloc(MAX_KRPC_BYTES + 1, 0x64)).problem).toBe('too-large');
  });

  test('random bytes and mutated messages throw KrpcError or decode, never anything else', () => {
    const seeds = [
      encodeQuery(b('aa'), { method: 'ping', id: ID }),
      encodeQuery(b('ab'), { method: 'get_peers', id: ID, infoHash: HASH, want: ['n4'] }),
      encodeQuery(b('ac'), {
        method: 'announce_peer',
        id: ID,
        infoHash: HASH,
        port: 1,
        token: b('t'),
        impliedPort: true,
      }),
      encodeResponse(b('ad'), {
        id: ID,
        nodes: [{ id: HASH, ip: '1.2.3.4', port: 5 }],
        values: [{ ip: '1.1.1.1', port: 2 }],
        token: b('x'),
      }),
      encodeError(b('ae'), 203, 'no'),
    ];
    const mutated = fc
      .tuple(
        fc.constantFrom(...seeds),
        fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { maxLength: 4 }),
        fc.nat(),
      )
      .map(([seed, edits, cut]) => {
        const out = Buffer.from(seed);
        for (const [at, byte] of edits) out[at % out.length] = byte;
        return cut % 5 === 0 ? out.subarray(0, cut % out.length) : out;
      });
    fc.assert(
      fc.property(
        fc.oneof(
          mutated,
          fc.uint8Array({ maxLength: 300 }).map((u) => Buffer.from(u)),
        ),
        (bytes) => {
          try {
            decodeKrpc(bytes);
          } catch (err) {
            if (!(err instanceof KrpcError)) throw err;
          }
        },
      ),
      { numRuns: 3000 },
    );
  });
});
