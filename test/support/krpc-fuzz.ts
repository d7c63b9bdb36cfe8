/**
 * Hostile KRPC datagrams from a seeded generator (the same seed gives the same datagrams): random
 * bytes, valid frames mutated (bytes changed, cut short, extended), and well-formed bencode whose
 * fields have the wrong types, lengths or values — unknown methods, huge integers, bogus ids, tokens
 * and node lists, answers to transactions nobody opened.
 */
import { BValue, dict, encode } from '../../src/protocol/bencode';
import { encodeError, encodeQuery, encodeResponse } from '../../src/protocol/krpc';
import { seededRandom } from './seeded-random';

export { seededRandom };

export function krpcFuzzer(seed: number): () => Buffer {
  const rnd = seededRandom(seed);
  const int = (n: number): number => Math.floor(rnd() * n);
  const bytes = (n: number): Buffer => Buffer.from(Array.from({ length: n }, () => int(256)));
  const pick = <T>(xs: readonly T[]): T => xs[int(xs.length)];
  const b = (s: string): Buffer => Buffer.from(s, 'latin1');
  const id = (): Buffer => bytes(pick([20, 20, 20, 0, 19, 21, 40]));

  const anyValue = (depth: number): BValue => {
    switch (int(depth > 3 ? 4 : 6)) {
      case 0:
        return pick([0, -1, 1, 6881, 65535, 65536, 2 ** 53 - 1, -(2 ** 40)]);
      case 1:
        return BigInt('9'.repeat(1 + int(30)));
      case 2:
        return bytes(int(60));
      case 3:
        return b(pick(['ping', 'find_node', 'get_peers', 'announce_peer', 'q', 'r', 'e', 'n4', 'n6', '']));
      case 4:
        return Array.from({ length: int(5) }, () => anyValue(depth + 1));
      default: {
        const d = new Map<string, BValue>();
        for (let i = 0; i < int(6); i++)
          d.set(
            pick([
              'id',
              'target',
              'info_hash',
              'port',
              'token',
              'implied_port',
              'want',
              'nodes',
              'values',
              'x',
            ]),
            anyValue(depth + 1),
          );
        return d;
      }
    }
  };

  const valid = (): Buffer => {
    const t = bytes(pick([1, 2, 2, 4]));
    switch (int(6)) {
      case 0:
        return encodeQuery(t, { method: 'ping', id: bytes(20) });
      case 1:
        return encodeQuery(t, {
          method: 'find_node',
          id: bytes(20),
          target: bytes(20),
          want: pick([undefined, ['n4'], ['n6']]),
        });
      case 2:
        return encodeQuery(t, { method: 'get_peers', id: bytes(20), infoHash: bytes(20) });
      case 3:
        return encodeQuery(t, {
          method: 'announce_peer',
          id: bytes(20),
          infoHash: bytes(20),
          port: 1 + int(65535),
          token: bytes(1 + int(20)),
          impliedPort: rnd() < 0.5,
        });
      case 4: {
        const nodes = Array.from({ length: int(10) }, () => ({
          id: bytes(20),
          ip: `127.0.0.${1 + int(250)}`,
          port: 1 + int(65535),
        }));
        return encodeResponse(t, {
          id: bytes(20),
          nodes,
          token: bytes(8),
          values: [{ ip: '10.0.0.1', port: 1 + int(9) }],
        });
      }
      default:
        return encodeError(t, pick([201, 202, 203, 204, 0, -5]), 'fuzz');
    }
  };

  const mutate = (m: Buffer): Buffer => {
    const out = Buffer.from(m);
    switch (int(4)) {
      case 0:
        for (let i = 0, n = 1 + int(4); i < n; i++) out[int(out.length)] = int(256);
        return out;
      case 1:
        return out.subarray(0, int(out.length));
      case 2:
        return Buffer.concat([out, bytes(int(40))]);
      default: {
        const at = int(out.length);
        return Buffer.concat([
          out.subarray(0, at),
          b(pick(['e', 'd', 'l', 'i', '0:', '99999:', 'i-0e', 'le', 'de'])),
          out.subarray(at),
        ]);
      }
    }
  };

  const structured = (): Buffer => {
    const top = new Map<string, BValue>();
    if (rnd() < 0.9) top.set('t', pick<BValue>([bytes(2), bytes(0), bytes(17), 5, [bytes(2)]]));
    top.set('y', pick<BValue>([b('q'), b('r'), b('e'), b('x'), 1, bytes(3)]));
    if (rnd() < 0.8)
      top.set(
        'q',
        pick<BValue>([
          b('ping'),
          b('find_node'),
          b('get_peers'),
          b('announce_peer'),
          b('vote'),
          bytes(70),
          7,
        ]),
      );
    if (rnd() < 0.8) {
      const a = new Map<string, BValue>([['id', id()]]);
      for (const k of ['target', 'info_hash', 'port', 'token', 'implied_port', 'want'])
        if (rnd() < 0.5) a.set(k, k === 'port' ? pick<BValue>([0, -1, 70000, 6881, b('6881')]) : anyValue(2));
      top.set(pick(['a', 'a', 'r', 'e']), a);
    }
    if (rnd() < 0.2) top.set('e', anyValue(1));
    if (rnd() < 0.2) top.set('ro', anyValue(2));
    return encode(top);
  };

  return () => {
    const r = rnd();
    if (r < 0.2) return bytes(int(400));
    if (r < 0.55) return mutate(valid());
    if (r < 0.95) return structured();
    return encode(dict({ t: bytes(2), y: b('q'), q: b('ping'), a: anyValue(0) }));
  };
}
