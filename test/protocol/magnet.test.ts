/**
 * Magnet links: hex and base32 info-hashes, dn, several tr, x.pe peers, clear errors for what cannot be
 * used, a round-trip property, hostile strings, and the same links read by python3-libtorrent.
 */
import { spawnSync } from 'node:child_process';
import fc from 'fast-check';
import {
  MAX_MAGNET_PEERS,
  MAX_MAGNET_TRACKERS,
  MagnetError,
  formatMagnet,
  isMagnet,
  parseInfoHash,
  parseMagnet,
  parseMagnetPeer,
} from '../../src/protocol/magnet';
import { SYSTEM_PYTHON, describeWithTools } from '../support/real-clients';
import { errorCode } from '../support/hostile';

/** One text form per address, so ours (as written in the link) and libtorrent's compare. */
const canonical = (h: string): string =>
  h.includes(':') ? new URL(`http://[${h}]/`).hostname.slice(1, -1) : h;
const HEX = 'c12fe1c06bba254a9dc9f519b335aa7c1367a88a';
const codeOf = (uri: string): string | undefined => errorCode(parseMagnet, MagnetError, uri);

describe('parseMagnet', () => {
  it('reads the info-hash, name, trackers and peers', () => {
    const m = parseMagnet(
      `magnet:?xt=urn:btih:${HEX.toUpperCase()}&dn=Big+Buck%20Bunny&tr=udp%3A%2F%2Ftracker.example%3A80&tr=http://t2.example/announce` +
        '&tr=udp%3A%2F%2Ftracker.example%3A80&x.pe=192.0.2.1:6881&x.pe=%5B2001:db8::1%5D:51413&x.pe=seed.example.org:6881&xl=12345',
    );
    expect(m).toEqual({
      infoHash: Buffer.from(HEX, 'hex'),
      infoHashHex: HEX,
      name: 'Big Buck Bunny',
      trackers: ['udp://tracker.example:80', 'http://t2.example/announce'],
      peers: [
        { host: '192.0.2.1', port: 6881 },
        { host: '2001:db8::1', port: 51413 },
        { host: 'seed.example.org', port: 6881 },
      ],
      length: 12345,
      warnings: [],
    });
  });

  it('reads a base32 info-hash in either case, and numbered xt/tr', () => {
    const b32 = 'YEX6DQDLXISUVHOJ6UM3GNNKPQJWPKEK';
    expect(parseInfoHash(b32).toString('hex')).toBe(HEX);
    const m = parseMagnet(
      `magnet:?xt.1=urn:btih:${b32.toLowerCase()}&xt.2=urn:btih:${HEX}&tr.1=http://a/announce`,
    );
    expect(m.infoHashHex).toBe(HEX);
    expect(m.trackers).toEqual(['http://a/announce']);
    expect(isMagnet('  MAGNET:?xt=1')).toBe(true);
    expect(isMagnet('./magnet.torrent')).toBe(false);
  });

  it('skips what it cannot use and says so', () => {
    const m = parseMagnet(
      `magnet:?xt=urn:btih:${HEX}&xt=urn:sha1:abc&tr=wss://tracker.webtorrent.dev&tr=not%20a%20url&x.pe=nope&x.pe=1.2.3.4:0` +
        `&x.pe=1.2.3.4:99999&x.pe=[zz]:1&xl=-5&ws=http://seed/&so=0-3&dn=%1B%5B31mred`,
    );
    expect(m.trackers).toEqual([]);
    expect(m.peers).toEqual([]);
    expect(m.length).toBeUndefined();
    expect(m.name).toBe('[31mred');
    expect(m.warnings).toHaveLength(8);
    expect(m.warnings.join('\n')).toMatch(/wss:\/\/tracker/);
  });

  it('caps trackers and peers', () => {
    const many = Array.from(
      { length: 150 },
      (_, i) => `&tr=http://t${i}/announce&x.pe=10.0.0.1:${1000 + i}`,
    ).join('');
    const m = parseMagnet(`magnet:?xt=urn:btih:${HEX}${many}`);
    expect(m.trackers).toHaveLength(MAX_MAGNET_TRACKERS);
    expect(m.peers).toHaveLength(MAX_MAGNET_PEERS);
    expect(m.warnings).toHaveLength(2);
  });

  it.each([
    ['a path', 'not-magnet', '/tmp/x.torrent'],
    ['magnet without ?', 'not-magnet', `magnet:xt=urn:btih:${HEX}`],
    ['no xt', 'no-info-hash', 'magnet:?dn=x'],
    ['only a v2 hash', 'no-info-hash', 'magnet:?xt=urn:btmh:1220' + 'ab'.repeat(32)],
    ['39 hex digits', 'bad-info-hash', `magnet:?xt=urn:btih:${HEX.slice(1)}`],
    ['base32 with 1', 'bad-info-hash', 'magnet:?xt=urn:btih:YEX6DQDLXISUVHOJ6UM3GNNKPQJWPKE1'],
    ['two torrents', 'conflicting-info-hashes', `magnet:?xt=urn:btih:${HEX}&xt=urn:btih:${'0'.repeat(40)}`],
    ['bad percent', 'bad-encoding', `magnet:?xt=urn:btih:${HEX}&dn=%E0%A4%A`],
    ['too long', 'too-long', `magnet:?xt=urn:btih:${HEX}&dn=${'x'.repeat(70_000)}`],
  ])('%s → %s', (_name, code, uri) => {
    expect(codeOf(uri)).toBe(code);
  });

  it('reads x.pe peers strictly', () => {
    expect(parseMagnetPeer('[::1]:1')).toEqual({ host: '::1', port: 1 });
    expect(parseMagnetPeer('example.com:65535')).toEqual({ host: 'example.com', port: 65535 });
    for (const bad of [
      '::1:1',
      '1.2.3:4',
      '300.1.1.1:5',
      'a_b:1',
      'host',
      'host:',
      ':5',
      '[1.2.3.4]:5',
      'h:1:2',
    ])
      expect(typeof parseMagnetPeer(bad)).toBe('string');
  });
});

const arbMagnet = fc.record({
  infoHashHex: fc.uint8Array({ minLength: 20, maxLength: 20 }).map((u) => Buffer.from(u).toString('hex')),
  name: fc.option(
    fc
      .string({ minLength: 1, maxLength: 30 })
      .filter(
        (s) => s.trim() === s && ![...s].some((c) => c.charCodeAt(0) < 0x20 || c.charCodeAt(0) === 0x7f),
      ),
    {
      nil: undefined,
    },
  ),
  trackers: fc.uniqueArray(
    fc
      .tuple(fc.constantFrom('http', 'https', 'udp'), fc.domain(), fc.integer({ min: 1, max: 65535 }))
      .map(([s, d, p]) => `${s}://${d}:${p}/announce?x=${p}&y=a+b`),
    { maxLength: 5 },
  ),
  peers: fc.uniqueArray(
    fc.record({ host: fc.oneof(fc.ipV4(), fc.ipV6()), port: fc.integer({ min: 1, max: 65535 }) }),
    { maxLength: 5, selector: (p) => `${p.host}|${p.port}` },
  ),
  length: fc.option(fc.nat(), { nil: undefined }),
});

describe('round trip and hostile strings', () => {
  it('parse(format(m)) gives m back (property)', () => {
    fc.assert(
      fc.property(arbMagnet, (m) => {
        const back = parseMagnet(formatMagnet(m));
        expect({ ...back, infoHash: undefined }).toEqual({ ...m, infoHash: undefined, warnings: [] });
      }),
      { numRuns: 300, seed: 60 },
    );
  });

  it('throws nothing but MagnetError on 5,000 mutated and random strings', () => {
    const strings = [
      ...fc.sample(
        fc
          .tuple(
            arbMagnet.map((m) => formatMagnet(m)),
            fc.array(fc.tuple(fc.nat(), fc.string({ maxLength: 3 })), { maxLength: 4 }),
          )
          .map(([s, edits]) =>
            edits.reduce(
              (acc, [at, t]) =>
                acc.slice(0, at % (acc.length + 1)) + t + acc.slice((at % (acc.length + 1)) + 1),
              s,
            ),
          ),
        { numRuns: 3000, seed: 61 },
      ),
      ...fc.sample(
        fc.string({ maxLength: 80 }).map((s) => `magnet:?${s}`),
        { numRuns: 2000, seed: 62 },
      ),
    ];
    let ok = 0;
    for (const s of strings) {
      try {
        parseMagnet(s);
        ok++;
      } catch (err) {
        if (!(err instanceof MagnetError))
          throw new Error(`unexpected ${String(err)} for ${JSON.stringify(s)}`);
      }
    }
    expect(ok).toBeGreaterThan(100);
  });
});

describeWithTools(['libtorrent'], 'magnet links as libtorrent reads them', () => {
  it('gives the same info-hash, name, trackers and peers as lt.parse_magnet_uri', () => {
    const links = fc.sample(arbMagnet, { numRuns: 40, seed: 63 }).map((m) => formatMagnet(m));
    links.push(
      `magnet:?xt=urn:btih:YEX6DQDLXISUVHOJ6UM3GNNKPQJWPKEK&dn=a+b%20c&tr=udp%3A%2F%2Fx%3A1&x.pe=1.2.3.4:5`,
    );
    const script = [
      'import json, sys, libtorrent as lt',
      'out = []',
      'for uri in json.load(sys.stdin):',
      '    p = lt.parse_magnet_uri(uri)',
      '    out.append({"h": str(p.info_hashes.v1), "n": p.name, "t": list(p.trackers), "p": [list(x) for x in p.peers]})',
      'print(json.dumps(out))',
    ].join('\n');
    const r = spawnSync(SYSTEM_PYTHON, ['-c', script], { input: JSON.stringify(links), encoding: 'utf8' });
    expect(r.status).toBe(0);
    const theirs = JSON.parse(r.stdout) as { h: string; n: string; t: string[]; p: [string, number][] }[];
    links.forEach((uri, i) => {
      const ours = parseMagnet(uri);
      expect(ours.infoHashHex).toBe(theirs[i].h);
      expect(ours.name ?? '').toBe(theirs[i].n);
      expect(ours.trackers).toEqual(theirs[i].t);
      expect(ours.peers.map((p) => [canonical(p.host), p.port])).toEqual(
        theirs[i].p.map(([h, port]) => [canonical(h), port]),
      );
    });
  });
});
