/**
 * Acceptance of MSE/PE in the engine (issue 10) with our own processes: a seeder and a leecher for
 * every pair of `--encryption` policies, on loopback. The leecher dials the seeder (`--peer`); the
 * torrent names a tracker nobody listens on, so neither learns the other any other way. Each side's
 * `--events` log says which encryption the connection got; the pair that cannot agree (a `required`
 * seeder, a leecher that dials plain) never connects, and `-v` says why on both sides.
 *
 * Which cipher each pair selects (README, "Encryption"): the dialler offers RC4 and plaintext under
 * `preferred`, RC4 only under `required`, and dials plain under `tolerated`; the responder picks RC4 if
 * offered under `preferred`/`required`, plaintext if offered under `tolerated`.
 */
import * as path from 'node:path';
import { sameTree, until } from '../support/child-process';
import { PeerProcess, startPeer } from '../support/peer-process';
import { MadeTorrent, makeTorrent, subDir, useSwarmLab } from '../support/swarm-fixtures';

jest.setTimeout(60_000);

type Policy = 'preferred' | 'required' | 'tolerated';
type Encryption = 'rc4' | 'plaintext' | 'none';

const lab = useSwarmLab('rxt-enc-');
const NOBODY = '127.0.0.1:1';
let t: MadeTorrent;

beforeAll(async () => {
  t = await makeTorrent(lab.dir, 'enc', { file: 1024 * 1024 + 4321 }, NOBODY, 91);
});

async function seeder(policy: Policy, name: string): Promise<PeerProcess> {
  return lab.track(
    await startPeer('seed', name, {
      torrent: t.torrent,
      dir: t.seedDir,
      extra: ['--encryption', policy],
      global: ['-v'],
    }),
  );
}

async function leecher(policy: Policy, name: string, seedPort: number, exitOnDone = true) {
  const dir = subDir(t.root, name);
  const p = lab.track(
    await startPeer('leech', name, {
      torrent: t.torrent,
      dir,
      peers: [`127.0.0.1:${seedPort}`],
      exitOnDone,
      extra: ['--encryption', policy],
      global: ['-v'],
    }),
  );
  return { p, dir };
}

/** The `encryption` of this process's connections (from PeerConnected), one per connection. */
function encryptions(p: PeerProcess): string[] {
  return p.events('PeerConnected').map((e) => String(e.encryption));
}

const PAIRS: [Policy, Policy, Encryption][] = [
  ['preferred', 'preferred', 'rc4'],
  ['preferred', 'required', 'rc4'],
  ['preferred', 'tolerated', 'none'],
  ['required', 'preferred', 'rc4'],
  ['required', 'required', 'rc4'],
  ['tolerated', 'preferred', 'plaintext'],
  ['tolerated', 'required', 'rc4'],
  ['tolerated', 'tolerated', 'none'],
];

describe.each(['preferred', 'required', 'tolerated'] as Policy[])('a %s seeder', (seedPolicy) => {
  const pairs = PAIRS.filter(([s]) => s === seedPolicy);
  it(`feeds ${pairs.map(([, l, e]) => `a ${l} leecher (${e})`).join(', ')}`, async () => {
    const seed = await seeder(seedPolicy, `seed-${seedPolicy}`);
    for (const [, leechPolicy, expected] of pairs) {
      const name = `${seedPolicy}-to-${leechPolicy}`;
      const { p, dir } = await leecher(leechPolicy, name, seed.port);
      await p.complete(20_000);
      expect(await p.exited).toBe(0);
      expect(sameTree(path.join(dir, 'enc.bin'), t.source)).toBe(true);
      expect({ name, got: encryptions(p) }).toEqual({ name, got: [expected] });
      expect(p.events('HandshakeFallback')).toEqual([]);
      const handshakes = p.events('EncryptedHandshake');
      expect(handshakes.map((e) => e.cipher)).toEqual(expected === 'none' ? [] : [expected]);
    }
    // The seeder saw the same, incoming, once per leecher.
    expect(encryptions(seed).sort()).toEqual(pairs.map(([, , e]) => e).sort());
    expect(seed.events('PeerConnected').every((e) => e.outgoing === false)).toBe(true);
  });
});

it('a required seeder and a leecher that dials plain never connect, and -v says why on both sides', async () => {
  const seed = await seeder('required', 'seed-required-alone');
  const { p } = await leecher('tolerated', 'required-to-tolerated', seed.port, false);
  // The seeder refuses the plain handshake; the leecher retries with a back-off, not in a loop.
  await seed.waitFor(/IncomingRefused .*plain handshake refused: encryption is required/, {
    stream: 'stderr',
  });
  await p.waitFor(/PeerDisconnected .*before its handshake \(a peer that requires encryption/, {
    stream: 'stderr',
  });
  const refusals = await until('a second attempt after the back-off', () => {
    const n = seed.events('IncomingRefused').length;
    return n >= 2 ? n : undefined;
  });
  expect(refusals).toBeLessThan(5);
  expect(p.events('PeerConnected')).toEqual([]);
  expect(seed.events('PeerConnected')).toEqual([]);
  expect(seed.events('IncomingRefused')[0].level).toBe('info');
});

it('run as the bin (rxtorrent), RC4 comes from OpenSSL; run as node bin/rxtorrent.js, from TypeScript', async () => {
  const seed = lab.track(
    await startPeer('seed', 'seed-bin', {
      torrent: t.torrent,
      dir: t.seedDir,
      extra: ['--encryption', 'required'],
      viaBin: true,
    }),
  );
  const dir = subDir(t.root, 'bin-leech');
  const p = lab.track(
    await startPeer('leech', 'bin-leech', {
      torrent: t.torrent,
      dir,
      peers: [`127.0.0.1:${seed.port}`],
      exitOnDone: true,
      extra: ['--encryption', 'required'],
    }),
  );
  await p.complete(20_000);
  expect(await p.exited).toBe(0);
  await until('the seeder to log the handshake', () => seed.events('EncryptedHandshake')[0]);
  expect(seed.events('EncryptedHandshake').map((e) => e.rc4)).toEqual(['openssl']);
  expect(p.events('EncryptedHandshake').map((e) => e.rc4)).toEqual(['typescript']);
});
