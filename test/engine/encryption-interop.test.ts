/**
 * Acceptance of MSE/PE in the engine (issue 10) against real third-party software on loopback:
 * aria2c leeching from our seeder (its defaults, then RC4 required), python3-libtorrent with
 * encryption forced (RC4, then plaintext) as seeder and as leecher, libtorrent with encryption disabled
 * (our `preferred` falls back to plain; our `required` never connects and says why), and WebTorrent's
 * wire `bittorrent-protocol` with its own MSE, both directions, against our seed and leech processes.
 *
 * What each side chose is read from our `--events` log (PeerConnected `encryption`, EncryptedHandshake
 * `cipher`) and from the other client's own report (libtorrent's peer flags, bittorrent-protocol's
 * selected method).
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { buildMetainfo, parseMetainfo } from '../../src/protocol/metainfo';
import { Watched, exitWithin, freePort, sameTree, spawnWatched, until } from '../support/child-process';
import { PeerProcess, startPeer } from '../support/peer-process';
import { pieceHashes } from '../support/raw-peer';
import { ARIA2_LOOPBACK, SYSTEM_PYTHON, describeWithTools } from '../support/real-clients';
import { ROOT } from '../support/run-cli';
import { MadeTorrent, makeTorrent, subDir, useSwarmLab } from '../support/swarm-fixtures';

jest.setTimeout(60_000);

const LT_SEED = path.join(ROOT, 'test', 'support', 'lt-seed.py');
const LT_LEECH = path.join(ROOT, 'test', 'support', 'lt-leech.py');
const BT_PROTOCOL = path.join(ROOT, 'test', 'support', 'bt-protocol-peer.mjs');
const NOBODY = '127.0.0.1:1';

const lab = useSwarmLab('rxt-enc-interop-');

function track<T extends Watched>(w: T): T {
  return lab.track(w);
}

async function ourSeeder(name: string, t: MadeTorrent, extra: string[] = []): Promise<PeerProcess> {
  return track(await startPeer('seed', name, { torrent: t.torrent, dir: t.seedDir, extra, global: ['-v'] }));
}

async function ourLeecher(name: string, t: MadeTorrent, peerPort: number, extra: string[] = []) {
  const dir = subDir(t.root, name);
  const p = track(
    await startPeer('leech', name, {
      torrent: t.torrent,
      dir,
      peers: [`127.0.0.1:${peerPort}`],
      exitOnDone: true,
      extra,
      global: ['-v'],
    }),
  );
  return { p, dir };
}

const encryptions = (p: PeerProcess): string[] => p.events('PeerConnected').map((e) => String(e.encryption));

describeWithTools(['aria2c'], 'aria2c leeching from our seeder', () => {
  it.each([
    { label: 'its defaults', flags: [] as string[], id: 'defaults' },
    { label: 'RC4 required', flags: ['--bt-require-crypto=true', '--bt-min-crypto-level=arc4'], id: 'rc4' },
  ])('with $label: encrypted at the first attempt', async ({ flags, id }) => {
    const name = `to-aria2-${id}`;
    const t = await makeTorrent(lab.dir, name, { file: 2 * 1024 * 1024 + 77 }, lab.trackerAddr, 61);
    const seeder = track(
      await startPeer('seed', `${name}-seed`, {
        torrent: t.torrent,
        dir: t.seedDir,
        tracker: lab.trackerAddr,
      }),
    );
    const dir = subDir(t.root, 'aria2');
    const aria = track(
      spawnWatched('aria2c', 'aria2c', [
        ...ARIA2_LOOPBACK,
        ...flags,
        '--seed-time=0',
        `--listen-port=${await freePort()}`,
        '-d',
        dir,
        t.torrent,
      ]),
    );
    expect(await exitWithin(aria, 30_000)).toBe(0);
    expect(sameTree(path.join(dir, `${name}.bin`), t.source)).toBe(true);
    expect(await seeder.stop()).toBe(0);
    // aria2c opens encrypted (offering RC4, and plaintext unless told not to) and our default policy
    // selects RC4 at once: no refused attempt, no plain retry a second later.
    expect(encryptions(seeder)).toEqual(['rc4']);
    expect(seeder.events('EncryptedHandshake').map((e) => e.cipher)).toEqual(['rc4']);
    expect(seeder.events('IncomingRefused')).toEqual([]);
  });
});

describeWithTools(['libtorrent'], 'python3-libtorrent with encryption forced', () => {
  describe.each(['rc4', 'plaintext'])('allowed_enc_level %s', (level) => {
    const env = { LT_ENCRYPTION: level };

    it('a libtorrent seeder feeds our leecher', async () => {
      const t = await makeTorrent(lab.dir, `from-lt-${level}`, { file: 3 * 1024 * 1024 + 5 }, NOBODY, 71);
      const lt = track(spawnWatched('lt-seed', SYSTEM_PYTHON, [LT_SEED, t.torrent, t.seedDir], { env }));
      const port = Number((await lt.waitFor(/^ready (\d+)$/m))[1]);
      const { p, dir } = await ourLeecher(`from-lt-${level}-leech`, t, port);
      await p.complete(30_000);
      expect(await p.exited).toBe(0);
      expect(sameTree(path.join(dir, `from-lt-${level}.bin`), t.source)).toBe(true);
      expect(encryptions(p)).toEqual([level]);
      await lt.waitFor(new RegExp(`^peer 127\\.0\\.0\\.1:\\d+ ${level}$`, 'm'));
    });

    it('our seeder feeds a libtorrent leecher', async () => {
      const t = await makeTorrent(lab.dir, `to-lt-${level}`, { file: 3 * 1024 * 1024 + 9 }, NOBODY, 73);
      const seeder = await ourSeeder(`to-lt-${level}-seed`, t);
      const dir = subDir(t.root, 'lt');
      const lt = track(
        spawnWatched('lt-leech', SYSTEM_PYTHON, [LT_LEECH, t.torrent, dir, String(seeder.port)], { env }),
      );
      await lt.waitFor(/^finished/m, { timeoutMs: 30_000 });
      expect(await lt.exited).toBe(0);
      expect(sameTree(path.join(dir, `to-lt-${level}.bin`), t.source)).toBe(true);
      expect(lt.stdout()).toMatch(new RegExp(`^peer 127\\.0\\.0\\.1:${seeder.port} ${level}$`, 'm'));
      await until('the seeder to log the connection', () => (encryptions(seeder).length ? true : undefined));
      expect(encryptions(seeder)).toEqual([level]);
    });
  });
});

describeWithTools(['libtorrent'], 'python3-libtorrent with encryption disabled', () => {
  const env = { LT_ENCRYPTION: 'disabled' };
  let t: MadeTorrent;
  let lt: Watched;
  let ltPort: number;
  beforeEach(async () => {
    t ??= await makeTorrent(lab.dir, 'plain-lt', { file: 1024 * 1024 + 3 }, NOBODY, 79);
    lt = track(spawnWatched('lt-seed', SYSTEM_PYTHON, [LT_SEED, t.torrent, t.seedDir], { env }));
    ltPort = Number((await lt.waitFor(/^ready (\d+)$/m))[1]);
  });

  it('our preferred leecher falls back to plain once and downloads', async () => {
    const { p, dir } = await ourLeecher('plain-lt-preferred', t, ltPort);
    await p.complete(30_000);
    expect(await p.exited).toBe(0);
    expect(sameTree(path.join(dir, 'plain-lt.bin'), t.source)).toBe(true);
    expect(p.events('HandshakeFallback').map((e) => e.peer)).toEqual([`127.0.0.1:${ltPort}`]);
    expect(encryptions(p)).toEqual(['none']);
    expect(p.stderr()).toMatch(/HandshakeFallback .*peer closed the connection/);
  });

  it('our required leecher never connects, and -v says why', async () => {
    const { p } = await ourLeecher('plain-lt-required', t, ltPort, ['--encryption', 'required']);
    const m = await p.waitFor(/EncryptedHandshakeFailed .*reason="([^"]+)"/, { stream: 'stderr' });
    expect(m[1]).toMatch(/^encryption required, and the peer does not encrypt/);
    expect(p.events('PeerConnected')).toEqual([]);
    expect(p.events('HandshakeFallback')).toEqual([]);
    expect(lt.stdout()).not.toMatch(/^peer /m);
  });
});

/** One 16 KiB piece of the bytes bt-protocol-peer.mjs serves: (i * 7) & 255. */
function blockTorrent(name: string): MadeTorrent {
  const block = Buffer.from(Array.from({ length: 16384 }, (_, i) => (i * 7) & 255));
  const root = subDir(lab.dir, name);
  const seedDir = subDir(root, 'seed');
  const source = path.join(seedDir, 'block.bin');
  fs.writeFileSync(source, block);
  const torrent = path.join(root, `${name}.torrent`);
  fs.writeFileSync(
    torrent,
    buildMetainfo({
      name: 'block.bin',
      pieceLength: 16384,
      pieces: pieceHashes(block, 16384),
      files: [{ path: ['block.bin'], length: 16384 }],
      multiFile: false,
      announceList: [[`http://${NOBODY}/announce`]],
    }),
  );
  return { torrent, seedDir, source, root, size: block.length };
}

const infoHashOf = (torrentFile: string): string => parseMetainfo(fs.readFileSync(torrentFile)).infoHashHex;

describe('bittorrent-protocol (WebTorrent wire, its own MSE) against our engine', () => {
  // pe 1: it offers RC4 and plaintext (and prefers plaintext as responder); pe 2: RC4 only.
  it.each([
    [1, 'preferred', 'rc4'],
    [2, 'preferred', 'rc4'],
    [1, 'tolerated', 'plaintext'],
  ])('it dials our seeder (pe=%i, our policy %s): %s', async (pe, policy, cipher) => {
    const t = blockTorrent(`btp-in-${pe}-${policy}`);
    const seeder = await ourSeeder(`btp-in-${pe}-${policy}-seed`, t, ['--encryption', String(policy)]);
    const child = track(
      spawnWatched('bittorrent-protocol', process.execPath, [
        BT_PROTOCOL,
        'dial',
        String(seeder.port),
        infoHashOf(t.torrent),
        String(pe),
      ]),
    );
    const sha1 = createHash('sha1').update(fs.readFileSync(t.source)).digest('hex');
    await child.waitFor(new RegExp(`BLOCK ${sha1}`));
    expect(child.stdout()).toContain(`CIPHER ${cipher}`);
    // Its IA is empty: our engine read its handshake from the encrypted stream.
    await until('our seeder to log it', () => (encryptions(seeder).length ? true : undefined));
    expect(encryptions(seeder)).toEqual([cipher]);
    expect(seeder.events('PeerConnected')[0].client).toMatch(/^BP /);
  });

  it.each([
    [1, 'preferred', 'plaintext'],
    [2, 'preferred', 'rc4'],
    [1, 'required', 'rc4'],
  ])('our leecher dials it (pe=%i, our policy %s): %s', async (pe, policy, cipher) => {
    const t = blockTorrent(`btp-out-${pe}-${policy}`);
    const child = track(
      spawnWatched('bittorrent-protocol', process.execPath, [
        BT_PROTOCOL,
        'listen',
        infoHashOf(t.torrent),
        String(pe),
      ]),
    );
    const port = Number((await child.waitFor(/LISTENING (\d+)/))[1]);
    const { p, dir } = await ourLeecher(`btp-out-${pe}-${policy}-leech`, t, port, [
      '--encryption',
      String(policy),
    ]);
    await p.complete(20_000);
    expect(await p.exited).toBe(0);
    expect(sameTree(path.join(dir, 'block.bin'), t.source)).toBe(true);
    expect(encryptions(p)).toEqual([cipher]);
    await child.waitFor(/GOT request 0 0 16384/);
    expect(child.stdout()).toContain(`CIPHER ${cipher}`);
  });
});
