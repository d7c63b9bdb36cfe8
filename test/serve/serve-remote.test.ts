/**
 * `rxtorrent serve` driven remotely (issue 9): Debian's transmission-remote against a real serve process
 * (`-l`, `-a file.torrent`, `-t N -S`, `-t N -s`, `-t N -i`, `-t N -r`, `-si`, `-st`, `-d/-u` limits),
 * parsing its output; and bad RPC input — malformed JSON, unknown methods, wrong types, unknown ids, a
 * body over 10 MiB, a missing or stale session id, wrong credentials — answered Transmission's way
 * (a `result` string, 409, 401, 413) while every torrent keeps being served.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { sameTree } from '../support/child-process';
import { startPeer } from '../support/peer-process';
import { announcedInDht, dhtOnEnv, startLoopbackDht } from '../support/loopback-dht';
import { describeWithTools } from '../support/real-clients';
import { ServeProcess, startServe } from '../support/serve-process';
import { makeTorrent, subDir, useSwarmLab } from '../support/swarm-fixtures';
import { fields, parseList, remote } from '../support/transmission-remote';
import { RpcClient, rawRequest } from '../rpc/rpc-client';
import { parseMetainfo } from '../../src/protocol/metainfo';

jest.setTimeout(60_000);

const lab = useSwarmLab('rxt-serve-rpc-');

async function twoTorrentServe(
  name: string,
  extra: string[] = [],
): Promise<{ serve: ServeProcess; data: string; store: string }> {
  const store = subDir(lab.dir, `${name}-store`);
  const data = subDir(lab.dir, `${name}-data`);
  for (const [i, n] of ['alpha', 'beta'].entries()) {
    const t = await makeTorrent(
      lab.dir,
      `${name}-${n}`,
      { file: 1_000_000 + i * 1000 },
      lab.trackerAddr,
      7 + i,
    );
    fs.copyFileSync(t.torrent, path.join(store, path.basename(t.torrent)));
    fs.copyFileSync(t.source, path.join(data, path.basename(t.source)));
  }
  const serve = lab.track(await startServe(name, { store, data, extra: ['--no-console', ...extra] }));
  await serve.event(() => serve.events('CheckFinished').length >= 2, 'both torrents checked');
  return { serve, data, store };
}

describeWithTools(['transmission'], 'transmission-remote against rxtorrent serve', () => {
  it('lists, adds, stops, starts, shows, removes, and sets limits', async () => {
    const { serve, data } = await twoTorrentServe('tr');
    const port = serve.rpcPort;
    let rows = parseList((await remote(port, '-l')).stdout);
    expect(rows.map((r) => r.name).sort()).toEqual(['tr-alpha.bin', 'tr-beta.bin']);
    expect(rows.every((r) => r.done === '100%' && r.status === 'Idle')).toBe(true);

    // -a: a torrent whose data is not here is added and starts downloading.
    const extra = await makeTorrent(lab.dir, 'tr-gamma', { file: 600_000 }, lab.trackerAddr, 9);
    const added = await remote(port, '-a', extra.torrent);
    expect(added.stdout).toMatch(/success/);
    rows = parseList((await remote(port, '-l')).stdout);
    const gamma = rows.find((r) => r.name === 'tr-gamma.bin');
    expect(gamma).toBeDefined();
    expect(fs.existsSync(path.join(data, '.rxtorrent', 'torrents'))).toBe(true);

    // -t N -S / -s
    const alpha = rows.find((r) => r.name === 'tr-alpha.bin')!;
    expect((await remote(port, '-t', String(alpha.id), '-S')).stdout).toMatch(/success/);
    expect(parseList((await remote(port, '-l')).stdout).find((r) => r.id === alpha.id)?.status).toBe(
      'Stopped',
    );
    expect((await remote(port, '-t', String(alpha.id), '-s')).stdout).toMatch(/success/);
    expect(parseList((await remote(port, '-l')).stdout).find((r) => r.id === alpha.id)?.status).not.toBe(
      'Stopped',
    );

    // -t N -i
    const info = fields((await remote(port, '-t', String(alpha.id), '-i')).stdout);
    expect(info.get('Name')).toBe('tr-alpha.bin');
    expect(info.get('Location')).toBe(data);
    expect(info.get('Percent Done')).toBe('100%');

    // -d / -u for the session, and for one torrent
    expect((await remote(port, '-d', '300', '-u', '200')).stdout).toMatch(/success/);
    const si = fields((await remote(port, '-si')).stdout);
    expect(si.get('Download speed limit')).toMatch(/^300 kB\/s/);
    expect(si.get('Upload speed limit')).toMatch(/^200 kB\/s/);
    expect((await remote(port, '-t', String(alpha.id), '-d', '50')).stdout).toMatch(/success/);
    expect(fields((await remote(port, '-t', String(alpha.id), '-i')).stdout).get('Download Limit')).toMatch(
      /50 kB\/s/,
    );

    // -er: the engine's policy changes, session-get says so, and the state keeps it for a restart
    expect((await remote(port, '-er')).stdout).toMatch(/success/);
    await serve.event(() => serve.events('EncryptionPolicyChanged').length === 1, 'policy changed');
    expect(serve.events('EncryptionPolicyChanged')[0]).toMatchObject({ policy: 'required' });
    expect(fields((await remote(port, '-si')).stdout).get('Encryption')).toMatch(/required/i);
    const saved = JSON.parse(fs.readFileSync(path.join(data, '.rxtorrent', 'serve-state.json'), 'utf8'));
    expect(saved.session.encryption).toBe('required');

    // -st
    const st = fields((await remote(port, '-st')).stdout);
    expect(st.get('Uploaded')).toBeDefined();
    expect(st.get('Duration')).toMatch(/second/);

    // -t N -r: removed, its data kept
    expect((await remote(port, '-t', String(gamma!.id), '-r')).stdout).toMatch(/success/);
    expect(parseList((await remote(port, '-l')).stdout).map((r) => r.name)).not.toContain('tr-gamma.bin');
    expect(await serve.stop()).toBe(0);
  });
});

it('bad RPC input gets Transmission-style answers, and every torrent keeps being served', async () => {
  const { serve, data } = await twoTorrentServe('bad', ['--rpc-auth', 'admin:s3cret']);
  const port = serve.rpcPort;
  const auth = `Basic ${Buffer.from('admin:s3cret').toString('base64')}`;
  expect(
    (await rawRequest(port, { body: '{}', headers: { Authorization: 'Basic d3Jvbmc6d3Jvbmc=' } })).status,
  ).toBe(401);
  const first = await rawRequest(port, { body: '{}', headers: { Authorization: auth } });
  expect(first.status).toBe(409);
  const sid = String(first.headers['x-transmission-session-id']);
  const call = (body: string | Buffer, headers: Record<string, string> = {}) =>
    rawRequest(port, {
      body,
      headers: { Authorization: auth, 'X-Transmission-Session-Id': sid, ...headers },
    });
  expect((await call('{}', { 'X-Transmission-Session-Id': 'stale' })).status).toBe(409);
  const result = async (body: string): Promise<string> => {
    const r = await call(body);
    expect(r.status).toBe(200);
    return (JSON.parse(r.body) as { result: string }).result;
  };
  expect(await result('{not json')).not.toBe('success');
  expect(await result('{"method":"no-such-method","tag":3}')).toMatch(/method/);
  expect(await result('{"method":"torrent-start","arguments":{"ids":"seven"}}')).not.toBe('success');
  expect(await result('{"method":"torrent-stop","arguments":{"ids":[999]}}')).toMatch(/999/);
  expect(await result('{"method":"torrent-set","arguments":{"ids":[1],"downloadLimit":"fast"}}')).toMatch(
    /downloadLimit/,
  );
  expect(await result('{"method":"torrent-add","arguments":{"metainfo":"bm90IGEgdG9ycmVudA=="}}')).not.toBe(
    'success',
  );
  const huge = await rawRequest(port, {
    headers: { Authorization: auth, 'X-Transmission-Session-Id': sid, 'Content-Length': 11 * 1024 * 1024 },
  });
  expect(huge.status).toBe(413); // refused from the header, before any body is read
  const tagged = JSON.parse((await call('{"method":"session-get","tag":42}')).body) as {
    tag: number;
    arguments: object;
  };
  expect(tagged.tag).toBe(42);
  expect(tagged.arguments).toBeDefined();
  // Still serving: a leecher gets a torrent's data from serve.
  const out = subDir(lab.dir, 'bad-out');
  const torrent = path.join(lab.dir, 'bad-alpha', 'bad-alpha.torrent');
  const leech = lab.track(
    await startPeer('leech', 'bad-leech', {
      torrent,
      dir: out,
      peers: [`127.0.0.1:${serve.port}`],
      exitOnDone: true,
    }),
  );
  await leech.complete(20_000);
  expect(sameTree(path.join(out, 'bad-alpha.bin'), path.join(data, 'bad-alpha.bin'))).toBe(true);
  expect(serve.stderr()).not.toMatch(/\n\s+at /);
  expect(await serve.stop()).toBe(0);
});

it('torrent-add with a magnet link: downloading metadata, then the torrent downloads from a seeder; kept across a restart', async () => {
  const store = subDir(lab.dir, 'mag-store');
  const data = subDir(lab.dir, 'mag-data');
  const t = await makeTorrent(lab.dir, 'mag', { file: 1_500_000 }, lab.trackerAddr, 61);
  const seeder = lab.track(await startPeer('seed', 'mag-seed', { torrent: t.torrent, dir: t.seedDir }));
  const meta = parseMetainfo(fs.readFileSync(t.torrent));
  const serve = lab.track(await startServe('mag', { store, data, extra: ['--no-console'] }));
  const rpc = new RpcClient(serve.rpcPort);
  // No tracker in the link: the seeder is named with x.pe.
  const magnet = `magnet:?xt=urn:btih:${meta.infoHashHex}&dn=mag.bin&x.pe=127.0.0.1:${seeder.port}`;
  const added = await rpc.call('torrent-add', { filename: magnet });
  expect(added.result).toBe('success');
  const fields = ['id', 'name', 'status', 'percentDone', 'metadataPercentComplete', 'errorString'];
  const first = await rpc.call('torrent-get', { fields });
  const torrents = () => (first.arguments.torrents as Record<string, unknown>[]) ?? [];
  expect(torrents()).toHaveLength(1);
  expect(torrents()[0].name).toBe('mag.bin');
  // It downloads: percentDone reaches 1 (metadata first, then data), bounded.
  const deadline = Date.now() + 30_000;
  for (;;) {
    const r = await rpc.call('torrent-get', { fields });
    const x = (r.arguments.torrents as Record<string, unknown>[])[0];
    if (x.percentDone === 1 && x.metadataPercentComplete === 1) break;
    if (Date.now() > deadline) throw new Error(`not downloaded: ${JSON.stringify(x)}`);
    await new Promise((res) => setTimeout(res, 200));
  }
  expect(sameTree(path.join(data, 'mag.bin'), t.source)).toBe(true);
  expect(await serve.stop()).toBe(0);
  // Restarted: the torrent is there (its .torrent was kept), complete.
  const again = lab.track(await startServe('mag2', { store, data }));
  await again.event(
    (e) => e.type === 'CheckFinished' && e.torrent === meta.infoHashHex,
    'the magnet torrent checked',
  );
  expect(await again.command('list', /mag\.bin/)).toMatch(/mag\.bin\s+seeding\s+100\.0%/);
  expect(await again.stop()).toBe(0);
});

it('with the DHT on, session-get says dht-enabled and a bare magnet link (no tr=, no x.pe) downloads through it', async () => {
  const net = await startLoopbackDht(4);
  try {
    const dhtEnv = (who: string): NodeJS.ProcessEnv => dhtOnEnv(subDir(lab.dir, `dht-state-${who}`));
    const boot = ['--dht-bootstrap', net.bootstrapArg];
    const t = await makeTorrent(lab.dir, 'dhtmag', { file: 900_000 }, lab.trackerAddr, 67);
    const seeder = lab.track(
      await startPeer('seed', 'dhtmag-seed', {
        torrent: t.torrent,
        dir: t.seedDir,
        extra: boot,
        env: dhtEnv('s'),
      }),
    );
    const meta = parseMetainfo(fs.readFileSync(t.torrent));
    await announcedInDht(seeder, meta.infoHashHex);
    const store = subDir(lab.dir, 'dhtmag-store');
    const data = subDir(lab.dir, 'dhtmag-data');
    const serve = lab.track(
      await startServe('dhtmag', { store, data, extra: ['--no-console', ...boot], env: dhtEnv('serve') }),
    );
    const rpc = new RpcClient(serve.rpcPort);
    expect((await rpc.call('session-get')).arguments['dht-enabled']).toBe(true);
    expect(
      (await rpc.call('torrent-add', { filename: `magnet:?xt=urn:btih:${meta.infoHashHex}` })).result,
    ).toBe('success');
    await serve.event(
      (e) => e.type === 'DownloadCompleted' && e.torrent === meta.infoHashHex,
      'the magnet torrent downloaded',
      60_000,
    );
    expect(sameTree(path.join(data, 'dhtmag.bin'), t.source)).toBe(true);
    expect(serve.events('PeerConnected')).toContainEqual(expect.objectContaining({ source: 'dht' }));
    expect(await serve.stop()).toBe(0);
    await seeder.stop();
  } finally {
    await net.stop();
  }
});
