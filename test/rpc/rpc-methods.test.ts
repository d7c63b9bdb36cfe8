/**
 * Each RPC method over HTTP against the in-memory backend: what it answers, what it asks the engine
 * to do, and the `result` string for every wrong type, unknown id and impossible request (with the
 * engine left untouched).
 */
import { RpcServer, createRpcServer } from '../../src/rpc/rpc-server';
import { TorrentView } from '../../src/rpc/rpc-backend';
import { TORRENT_FIELD_NAMES } from '../../src/rpc/transmission-fields';
import { MemoryBackend, sampleTorrent } from './memory-backend';
import { RpcClient } from './rpc-client';

let backend: MemoryBackend;
let server: RpcServer;
let rpc: RpcClient;
let now: number;
let alpha: TorrentView;
let beta: TorrentView;

beforeEach(async () => {
  backend = new MemoryBackend();
  now = Date.parse('2026-03-01T12:00:00Z');
  alpha = backend.put({
    name: 'alpha.iso',
    state: 'downloading',
    totalSize: 10_000_000,
    haveValid: 2_500_000,
    downloadedEver: 2_600_000,
    uploadedEver: 1_300_000,
    downRate: 250_000.7,
    upRate: 12_345.5,
    addedAt: now - 3_600_000,
    peers: [
      {
        ip: '127.0.0.1',
        port: 51413,
        client: 'Transmission 3.00',
        progress: 1,
        downRate: 250_000.7,
        upRate: 0,
        amChoked: false,
        amInterested: true,
        peerChoked: true,
        peerInterested: false,
        incoming: false,
        source: 'tracker',
      },
      {
        ip: '::1',
        port: 6881,
        client: '',
        progress: 0.5,
        downRate: 0,
        upRate: 12_345.5,
        amChoked: true,
        amInterested: false,
        peerChoked: false,
        peerInterested: true,
        incoming: true,
        encrypted: true,
        source: 'incoming',
      },
    ],
    trackers: [
      {
        tier: 0,
        announce: 'http://tracker.example.org:6969/announce',
        lastAnnounceAt: now - 60_000,
        lastAnnounceOk: true,
        lastAnnounceResult: 'Success',
        lastAnnouncePeers: 7,
        nextAnnounceAt: now + 1_740_000,
        seeders: 3,
        leechers: 4,
      },
      { tier: 1, announce: 'udp://10.0.0.1:1337' },
    ],
  });
  beta = backend.put({
    name: 'beta.bin',
    state: 'stopped',
    totalSize: 5000,
    haveValid: 5000,
    addedAt: now - 7_200_000,
  });
  server = createRpcServer({ backend, port: 0, commandTimeoutMs: 500, now: () => now });
  rpc = new RpcClient((await server.start()).port);
});
afterEach(async () => server.stop());

async function ok(method: string, args?: unknown): Promise<Record<string, unknown>> {
  const r = await rpc.call(method, args);
  if (r.result !== 'success') throw new Error(`${method}: ${r.result}`);
  return r.arguments;
}

async function refused(method: string, args: unknown, result: RegExp): Promise<void> {
  const before = backend.calls.length;
  const r = await rpc.call(method, args);
  expect(r.result).toMatch(result);
  expect(r.arguments).toEqual({});
  expect(backend.calls.slice(before)).toEqual([]); // the engine was not asked to do anything
}

async function get(fields: string[], ids?: unknown): Promise<Record<string, unknown>[]> {
  const a = await ok('torrent-get', { fields, ...(ids !== undefined ? { ids } : {}) });
  return a.torrents as Record<string, unknown>[];
}

describe('torrent-get', () => {
  it('answers the fields transmission-remote -l reads, as integers where it wants integers', async () => {
    const [a, b] = await get([
      'id', 'name', 'status', 'eta', 'error', 'errorString', 'isFinished', 'leftUntilDone', 'peersGettingFromUs',
      'peersSendingToUs', 'rateDownload', 'rateUpload', 'sizeWhenDone', 'uploadRatio',
    ]); // prettier-ignore
    expect(a).toEqual({
      id: alpha.id,
      name: 'alpha.iso',
      status: 4,
      eta: 30, // ceil(7.5 MB / 250 kB/s)
      error: 0,
      errorString: '',
      isFinished: false,
      leftUntilDone: 7_500_000,
      peersGettingFromUs: 1,
      peersSendingToUs: 1,
      rateDownload: 250_000,
      rateUpload: 12_345,
      sizeWhenDone: 10_000_000,
      uploadRatio: 0.5,
    });
    expect(b).toMatchObject({ id: beta.id, status: 0, eta: -1, leftUntilDone: 0, uploadRatio: 0 }); // 0 up of 5000 had
  });

  it('maps every engine state to Transmission status 0–6', async () => {
    const states = [
      'stopped',
      'check-queued',
      'checking',
      'download-queued',
      'downloading',
      'seed-queued',
      'seeding',
    ] as const;
    backend.views.clear();
    states.forEach((state, i) => backend.put({ id: i + 1, name: `s${i}`, state }));
    expect((await get(['status'])).map((t) => t.status)).toEqual([0, 1, 2, 3, 4, 5, 6]);
  });

  it('never answers a fraction, NaN or Infinity for an integer field', async () => {
    backend.put({
      name: 'weird',
      downRate: NaN,
      upRate: Infinity,
      totalSize: 1e6 + 0.5,
      haveValid: 3.7,
      state: 'downloading',
    });
    const rows = await get([...TORRENT_FIELD_NAMES]);
    const text = JSON.stringify(rows);
    expect(text).not.toMatch(/null|NaN|Infinity/);
    const ints = ['id', 'status', 'eta', 'rateDownload', 'rateUpload', 'sizeWhenDone', 'leftUntilDone', 'haveValid', 'totalSize',
      'addedDate', 'peersConnected', 'pieceCount', 'pieceSize', 'downloadLimit', 'uploadLimit', 'error']; // prettier-ignore
    for (const row of rows) for (const f of ints) expect(Number.isInteger(row[f])).toBe(true);
  });

  it('answers the details, peers, files and trackers that -i, -ip, -if, -it read', async () => {
    const [a] = await get(['peers', 'files', 'fileStats', 'priorities', 'wanted', 'trackerStats', 'trackers', 'magnetLink', 'pieces', 'hashString', 'peersFrom'], [alpha.id]); // prettier-ignore
    expect(a.peers).toEqual([
      expect.objectContaining({ address: '127.0.0.1', port: 51413, flagStr: 'D', progress: 1, rateToClient: 250_000, rateToPeer: 0, isDownloadingFrom: true, isUploadingTo: false }), // prettier-ignore
      expect.objectContaining({ address: '::1', flagStr: 'UEI', clientName: '', isEncrypted: true, isIncoming: true, rateToPeer: 12_345 }), // prettier-ignore
    ]);
    expect(a.files).toEqual([{ name: 'alpha.iso', length: 10_000_000, bytesCompleted: 2_500_000 }]);
    expect(a.fileStats).toEqual([{ bytesCompleted: 2_500_000, priority: 0, wanted: true }]);
    expect(a.priorities).toEqual([0]);
    expect(a.wanted).toEqual([1]);
    expect(a.trackers).toEqual([
      { announce: 'http://tracker.example.org:6969/announce', id: 0, scrape: 'http://tracker.example.org:6969/scrape', sitename: 'example', tier: 0 }, // prettier-ignore
      { announce: 'udp://10.0.0.1:1337', id: 1, scrape: '', sitename: '10.0.0.1', tier: 1 },
    ]);
    expect((a.trackerStats as Record<string, unknown>[])[0]).toMatchObject({
      host: 'http://tracker.example.org:6969',
      lastAnnounceSucceeded: true,
      lastAnnounceResult: 'Success',
      lastAnnouncePeerCount: 7,
      lastAnnounceTime: Math.floor((now - 60_000) / 1000),
      seederCount: 3,
      leecherCount: 4,
      downloadCount: -1,
      announceState: 1,
    });
    expect(a.magnetLink).toMatch(new RegExp(`^magnet:\\?xt=urn:btih:${alpha.infoHash}&dn=alpha\\.iso&tr=`));
    expect(a.peersFrom).toMatchObject({ fromTracker: 1, fromIncoming: 1, fromDht: 0 });
    expect(a.hashString).toBe(alpha.infoHash);
    // no bitfield from the engine and not complete: zeros, one bit per piece
    expect(Buffer.from(String(a.pieces), 'base64')).toHaveLength(Math.ceil(alpha.pieceCount / 8));
    const [b] = await get(['pieces', 'pieceCount'], [beta.id]);
    expect(b.pieceCount).toBe(1);
    expect(Buffer.from(String(b.pieces), 'base64')).toEqual(Buffer.from([0b10000000])); // complete, spare bits clear
  });

  it('selects by id, by hash in either case, by list, and leaves unknown ids out (as Transmission)', async () => {
    expect(await get(['id'], alpha.id)).toEqual([{ id: alpha.id }]);
    expect(await get(['id'], beta.infoHash.toUpperCase())).toEqual([{ id: beta.id }]);
    expect(await get(['id'], [beta.id, alpha.infoHash, 99, 'f'.repeat(40)])).toEqual([
      { id: beta.id },
      { id: alpha.id },
    ]);
    expect(await get(['id'], [])).toEqual([]);
    expect(await get(['id', 'nonsense', 'id'], alpha.id)).toEqual([{ id: alpha.id }]); // unknown fields ignored
  });

  it('answers recently-active with changed torrents and the ids removed within a minute', async () => {
    await get(['id']); // the server learns the current set
    now += 120_000;
    expect(await ok('torrent-get', { fields: ['id'], ids: 'recently-active' })).toEqual({
      torrents: [],
      removed: [],
    });
    beta.state = 'seeding';
    backend.views.delete(alpha.id);
    expect(await ok('torrent-get', { fields: ['id'], ids: 'recently-active' })).toEqual({
      torrents: [{ id: beta.id }],
      removed: [alpha.id],
    });
  });

  it('answers the table format with a header row', async () => {
    const a = await ok('torrent-get', { fields: ['id', 'name'], format: 'table' });
    expect(a.torrents).toEqual([
      ['id', 'name'],
      [alpha.id, 'alpha.iso'],
      [beta.id, 'beta.bin'],
    ]);
  });

  it.each([
    [{}, /^no fields specified$/],
    [{ fields: 'id' }, /^invalid argument 'fields': expected an array of strings, got "id"$/],
    [{ fields: ['id', 7] }, /^invalid argument 'fields': item 1 is 7/],
    [{ fields: ['id'], format: 'xml' }, /^invalid argument 'format': expected one of objects, table/],
    [{ fields: ['id'], ids: true }, /^invalid argument 'ids': true is neither/],
    [{ fields: ['id'], ids: 1.5 }, /^invalid argument 'ids': 1\.5 is neither/],
    [{ fields: ['id'], ids: 'abc' }, /^invalid argument 'ids': "abc" is neither/],
    [{ fields: ['id'], ids: [[1]] }, /^invalid argument 'ids': an array is neither/],
    [{ fields: ['id'], ids: { a: 1 } }, /^invalid argument 'ids': an object is neither/],
    [{ fields: ['id'], ids: null }, /^invalid argument 'ids': null is neither/],
  ])('refuses %j', async (args, result) => refused('torrent-get', args, result));
});

describe('torrent-add', () => {
  const b64 = (b: Buffer): string => b.toString('base64');

  it('adds base64 metainfo, then reports the same torrent as a duplicate', async () => {
    const bytes = sampleTorrent('gamma.img');
    const added = await ok('torrent-add', { metainfo: b64(bytes) });
    const t = added['torrent-added'] as Record<string, unknown>;
    expect(t).toEqual({
      id: expect.any(Number),
      name: 'gamma.img',
      hashString: expect.stringMatching(/^[0-9a-f]{40}$/),
    });
    expect(backend.views.get(t.id as number)?.state).toBe('downloading');
    const again = await ok('torrent-add', { metainfo: b64(bytes).replace(/(.{60})/g, '$1\n') }); // wrapped base64
    expect(again).toEqual({ 'torrent-duplicate': t });
  });

  it('passes paused and download-dir to the engine', async () => {
    const a = await ok('torrent-add', {
      metainfo: b64(sampleTorrent('d.img')),
      paused: true,
      'download-dir': '/mnt/x',
    });
    const t = backend.views.get((a['torrent-added'] as { id: number }).id);
    expect(t).toMatchObject({ state: 'stopped', downloadDir: '/mnt/x' });
  });

  it('hands a filename to the engine to resolve (path or store name), and shows its refusal', async () => {
    backend.files.set('delta.iso', sampleTorrent('delta.iso'));
    const a = await ok('torrent-add', { filename: 'delta.iso' });
    expect(a['torrent-added']).toMatchObject({ name: 'delta.iso' });
    expect(backend.commands('add')[0].arg).toMatchObject({
      source: { kind: 'filename', filename: 'delta.iso' },
    });
    const r = await rpc.call('torrent-add', { filename: '/nope/x.torrent' });
    expect(r.result).toBe('no torrent "/nope/x.torrent": not a file here, and not in the store');
  });

  it.each([
    [{}, /^no filename or metainfo specified$/],
    [{ metainfo: '' }, /^no filename or metainfo specified$/],
    [{ metainfo: '%%%not base64%%%' }, /^invalid argument 'metainfo': not base64$/],
    [
      { metainfo: Buffer.from('d4:infod6:lengthi-5eee').toString('base64') },
      /^invalid or corrupt torrent file: /,
    ],
    [{ metainfo: 'AAAA' }, /^invalid or corrupt torrent file: /],
    [{ metainfo: 42 }, /^invalid argument 'metainfo': expected a string, got 42$/],
    [{ filename: ['a'] }, /^invalid argument 'filename': expected a string/],
    [{ filename: 'x.torrent', paused: 'yes' }, /^invalid argument 'paused': expected a boolean, got "yes"$/],
    [{ filename: 'x.torrent', 'download-dir': 'relative/dir' }, /^download directory path is not absolute$/],
  ])('refuses %j without asking the engine', async (args, result) => refused('torrent-add', args, result));

  it('refuses a torrent with a path-traversal file name before the engine sees it', async () => {
    const evil = Buffer.from(
      'd4:infod5:filesld6:lengthi1e4:pathl2:..6:passwdeee4:name1:x12:piece lengthi16384e6:pieces20:aaaaaaaaaaaaaaaaaaaaee',
    );
    await refused(
      'torrent-add',
      { metainfo: evil.toString('base64') },
      /^invalid or corrupt torrent file: .*(unsafe|\.\.)/,
    );
  });
});

describe('torrent actions', () => {
  it('starts, stops, verifies and removes the torrents named, in the engine', async () => {
    await ok('torrent-start', { ids: [beta.id] });
    expect(beta.state).toBe('seeding');
    await ok('torrent-stop', { ids: alpha.infoHash });
    expect(alpha.state).toBe('stopped');
    await ok('torrent-verify', { ids: alpha.id });
    expect(alpha.state).toBe('check-queued');
    await ok('torrent-remove', { ids: [alpha.id], 'delete-local-data': true });
    expect(backend.commands('remove')).toEqual([
      { command: 'remove', id: alpha.id, arg: { deleteData: true } },
    ]);
    expect(backend.views.has(alpha.id)).toBe(false);
  });

  it('applies to every torrent when ids is absent', async () => {
    await ok('torrent-stop');
    expect(backend.commands('stop').map((c) => c.id)).toEqual([alpha.id, beta.id]);
  });

  it.each(['torrent-start', 'torrent-stop', 'torrent-verify', 'torrent-remove', 'torrent-set'])(
    '%s refuses unknown ids and does nothing, even to the known ones listed with them',
    async (method) => {
      await refused(method, { ids: [alpha.id, 99] }, /^no torrent with id 99 /);
      await refused(method, { ids: 'f'.repeat(40) }, new RegExp(`^no torrent with id ${'f'.repeat(40)}`));
      expect(alpha.state).toBe('downloading');
    },
  );

  it('refuses a wrong delete-local-data type before removing anything', async () => {
    await refused(
      'torrent-remove',
      { ids: [alpha.id], 'delete-local-data': 'yes' },
      /^invalid argument 'delete-local-data'/,
    );
    expect(backend.views.has(alpha.id)).toBe(true);
  });

  it('names the torrent when the engine refuses', async () => {
    backend.fail.set('verify', 'data folder is missing');
    const r = await rpc.call('torrent-verify', { ids: [alpha.id] });
    expect(r.result).toBe('alpha.iso: data folder is missing');
  });
});

describe('torrent-set', () => {
  it('sets and clears per-torrent limits in bytes/s from kB/s, as transmission-remote -t N -d/-u sends them', async () => {
    await ok('torrent-set', {
      ids: [alpha.id],
      downloadLimit: 100,
      downloadLimited: true,
      uploadLimit: 20,
      uploadLimited: true,
    });
    expect(alpha).toMatchObject({ downloadLimit: 100_000, uploadLimit: 20_000 });
    await ok('torrent-set', { ids: [alpha.id], downloadLimited: false });
    expect(alpha.downloadLimit).toBeUndefined();
    const [t] = await get(['downloadLimit', 'downloadLimited', 'uploadLimit', 'uploadLimited'], alpha.id);
    expect(t).toEqual({ downloadLimit: 100, downloadLimited: false, uploadLimit: 20, uploadLimited: true });
  });

  it('remembers a limit value set while the limit is off, and applies it when switched on', async () => {
    await ok('torrent-set', { ids: [beta.id], uploadLimit: 75 });
    expect(backend.commands('setTorrent')).toEqual([]);
    expect((await get(['uploadLimit', 'uploadLimited'], beta.id))[0]).toEqual({
      uploadLimit: 75,
      uploadLimited: false,
    });
    await ok('torrent-set', { ids: [beta.id], uploadLimited: true });
    expect(beta.uploadLimit).toBe(75_000);
  });

  it('sets the peer limit', async () => {
    await ok('torrent-set', { ids: [alpha.id], 'peer-limit': 12 });
    expect(alpha.peerLimit).toBe(12);
  });

  it.each([
    [{ downloadLimit: -1 }, /^invalid argument 'downloadLimit': -1 is not in 0\.\.10000000$/],
    [{ downloadLimit: '100' }, /^invalid argument 'downloadLimit': expected an integer, got "100"$/],
    [{ uploadLimit: 1.5 }, /^invalid argument 'uploadLimit': expected an integer, got 1\.5$/],
    [{ downloadLimited: 'true' }, /^invalid argument 'downloadLimited': expected a boolean/],
    [{ 'peer-limit': 0 }, /^invalid argument 'peer-limit': 0 is not in 1\.\.65535$/],
    [{ location: '/elsewhere' }, /^torrent-set: moving data is not supported/],
    [{ 'files-unwanted': [0] }, /^torrent-set: skipping files is not supported yet$/],
    [{ trackerList: 'http://x/announce' }, /^torrent-set: editing trackers is not supported yet$/],
  ])('refuses %j and changes nothing', async (args, result) => {
    await refused('torrent-set', { ids: [alpha.id], ...args }, result);
    expect(alpha.downloadLimit).toBeUndefined();
  });

  it('accepts and ignores settings rxtorrent has no use for (as Transmission ignores unknown keys)', async () => {
    await ok('torrent-set', {
      ids: [alpha.id],
      bandwidthPriority: 1,
      seedRatioMode: 2,
      'files-unwanted': [],
      labels: ['x'],
    });
  });
});

describe('session-get, session-set, session-stats', () => {
  it('answers every key transmission-remote -si prints, and only the fields asked for', async () => {
    const all = await ok('session-get');
    for (const k of [
      'version',
      'rpc-version',
      'rpc-version-minimum',
      'download-dir',
      'peer-port',
      'encryption',
      'alt-speed-down',
      'alt-speed-enabled',
      'alt-speed-time-begin',
      'alt-speed-time-enabled',
      'alt-speed-time-end',
      'alt-speed-time-day',
      'alt-speed-up',
      'peer-limit-global',
      'speed-limit-down',
      'speed-limit-down-enabled',
      'speed-limit-up',
      'speed-limit-up-enabled',
      'seedRatioLimit',
      'seedRatioLimited',
      'units',
      'session-id',
    ]) {
      // prettier-ignore
      expect(all).toHaveProperty([k]);
    }
    expect(all).toMatchObject({
      'rpc-version': 17,
      version: 'rxtorrent 0.1.0-test',
      'peer-port': 6881,
      'speed-limit-down-enabled': false,
    });
    expect(await ok('session-get', { fields: ['rpc-version', 'nope', '__proto__'] })).toEqual({
      'rpc-version': 17,
    });
  });

  it('sets global limits in bytes/s, clears them, and shows the last value while off', async () => {
    await ok('session-set', { 'speed-limit-down': 300, 'speed-limit-down-enabled': true, 'speed-limit-up': 40, 'speed-limit-up-enabled': true }); // prettier-ignore
    expect(backend.sessionView).toMatchObject({ downloadLimit: 300_000, uploadLimit: 40_000 });
    await ok('session-set', { 'speed-limit-down-enabled': false });
    expect(backend.sessionView.downloadLimit).toBeUndefined();
    expect(await ok('session-get', { fields: ['speed-limit-down', 'speed-limit-down-enabled'] })).toEqual({
      'speed-limit-down': 300,
      'speed-limit-down-enabled': false,
    });
  });

  it('passes encryption and dht-enabled to the engine, and shows its refusal', async () => {
    await ok('session-set', { encryption: 'required', 'dht-enabled': true, 'peer-limit-global': 300 });
    expect(backend.sessionView).toMatchObject({
      encryption: 'required',
      dhtEnabled: true,
      peerLimitGlobal: 300,
    });
    backend.refusedSessionKeys.add('encryption');
    expect((await rpc.call('session-set', { encryption: 'tolerated' })).result).toBe(
      'encryption cannot be changed yet',
    );
  });

  it.each([
    [
      { encryption: 'sometimes' },
      /^invalid argument 'encryption': expected one of required, preferred, tolerated/,
    ],
    [{ 'speed-limit-down': 'fast' }, /^invalid argument 'speed-limit-down': expected an integer/],
    [
      { 'speed-limit-up-enabled': 2 },
      /^invalid argument 'speed-limit-up-enabled': expected a boolean, got 2$/,
    ],
    [{ 'dht-enabled': null }, /^invalid argument 'dht-enabled': expected a boolean, got null$/],
    [{ 'download-dir': '/tmp' }, /^session-set: 'download-dir' cannot be changed while rxtorrent runs/],
    [{ 'peer-port': 7000 }, /^session-set: 'peer-port' cannot be changed/],
  ])('refuses %j', async (args, result) => refused('session-set', args, result));

  it('answers session-stats from the engine totals and the torrents', async () => {
    const s = await ok('session-stats');
    expect(s).toEqual({
      activeTorrentCount: 1,
      pausedTorrentCount: 1,
      torrentCount: 2,
      downloadSpeed: 250_000,
      uploadSpeed: 12_345,
      'current-stats': { uploadedBytes: 1_300_000, downloadedBytes: 2_600_000, filesAdded: 2, secondsActive: 3725, sessionCount: 1 },
      'cumulative-stats': { uploadedBytes: 1_300_000, downloadedBytes: 2_600_000, filesAdded: 2, secondsActive: 90_000, sessionCount: 3 },
    }); // prettier-ignore
  });

  it('answers group-get with no groups', async () => {
    expect(await ok('group-get')).toEqual({ group: [] });
  });
});
