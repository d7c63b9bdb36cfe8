/**
 * The Dropbox torrent store end to end: the built CLI as real processes, the real SDK doing real HTTP
 * to the loopback Dropbox emulator (via the test-only RXTORRENT_DROPBOX_BASE_URL). `create` publishes,
 * a leecher elsewhere fetches by name and completes against a seeder, the tracker console reads the
 * store, 429 and expired tokens recover, a revoked refresh token tells the user what to do, login and
 * logout keep a 0600 config file — and no token appears in any output or event log.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Watched, watch } from '../support/child-process';
import { DropboxEmulator, startDropboxEmulator } from '../support/dropbox-emulator';
import { PeerProcess, readEvents, startPeer } from '../support/peer-process';
import { CliResult, pseudoRandomBytes, runCli, startCli, tempDir } from '../support/run-cli';

let emu: DropboxEmulator;
let tmp: { dir: string; cleanup: () => void };
let refreshToken: string;
const APP_SECRET = `secret-${'s3'.repeat(12)}`;
/** Everything every process printed, and every event log, for the leak check at the end. */
const transcripts: string[] = [];
const eventFiles: string[] = [];
let seq = 0;

/** A clean environment: no inherited Dropbox or store settings, config under tmp. */
function baseEnv(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env };
  for (const k of Object.keys(env)) if (/^(DROPBOX_|RXTORRENT_)/.test(k)) delete env[k];
  return {
    ...env,
    HOME: path.join(tmp.dir, 'home'),
    XDG_CONFIG_HOME: path.join(tmp.dir, 'config'),
    XDG_DATA_HOME: path.join(tmp.dir, 'data'),
    RXTORRENT_DROPBOX_BASE_URL: emu.url,
    ...extra,
  };
}
function dropboxEnv(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  return baseEnv({
    DROPBOX_APP_KEY: emu.appKey,
    DROPBOX_APP_SECRET: APP_SECRET,
    DROPBOX_REFRESH_TOKEN: refreshToken,
    ...extra,
  });
}

async function rx(
  args: string[],
  env: NodeJS.ProcessEnv,
  opts: { cwd?: string; input?: string } = {},
): Promise<CliResult & { events: string }> {
  const events = path.join(tmp.dir, `events-${++seq}.jsonl`);
  eventFiles.push(events);
  const r = await runCli(['--events', events, ...args], {
    env,
    cwd: opts.cwd ?? tmp.dir,
    input: opts.input,
    timeoutMs: 30_000,
  });
  transcripts.push(r.stdout, r.stderr);
  expect(r.stderr).not.toMatch(/at .*\.js:\d+/); // never a stack trace
  return { ...r, events };
}

const DATA = 'data.bin';
const SIZE = 3 * 512 * 1024 + 12_345;
let srcDir: string;
let infoHash = '';

beforeAll(async () => {
  tmp = tempDir('rxt-dropbox-');
  emu = await startDropboxEmulator({ appSecret: APP_SECRET, pageSize: 2 });
  refreshToken = emu.issueRefreshToken();
  srcDir = path.join(tmp.dir, 'src');
  fs.mkdirSync(srcDir, { recursive: true });
  fs.writeFileSync(path.join(srcDir, DATA), pseudoRandomBytes(SIZE, 42));
});
/** Interactive children of the current test, stopped by PID if a test fails mid-way. */
const children: Watched[] = [];
afterEach(async () => {
  await Promise.all(children.splice(0).map((c) => c.kill()));
});
afterAll(async () => {
  await emu.close();
  tmp.cleanup();
});

it('create publishes to Dropbox; store list shows name, size, info-hash, modified time', async () => {
  const r = await rx(
    ['create', '-f', path.join(srcDir, DATA), '-o', path.join(srcDir, `${DATA}.torrent`)],
    dropboxEnv(),
  );
  expect(r.code).toBe(0);
  expect(r.stdout).toMatch(/published: dropbox store: \/SharedTorrents\/data\.bin\.torrent/);
  infoHash = /info-hash: ([0-9a-f]{40})/.exec(r.stdout)![1];
  const stored = emu.files.get('/sharedtorrents/data.bin.torrent');
  expect(stored?.bytes.equals(fs.readFileSync(path.join(srcDir, `${DATA}.torrent`)))).toBe(true);
  expect(readEvents(r.events).map((e) => e.type)).toEqual(
    expect.arrayContaining(['DropboxTokenRefreshed', 'DropboxUploaded', 'TorrentPublished']),
  );

  // A few more so the listing needs several pages (the emulator serves 2 per page).
  for (const n of ['b', 'c']) {
    fs.writeFileSync(path.join(srcDir, n), pseudoRandomBytes(1000, n.charCodeAt(0)));
    expect(
      (
        await rx(
          ['create', '-f', path.join(srcDir, n), '-o', path.join(tmp.dir, `${n}.torrent`)],
          dropboxEnv(),
        )
      ).code,
    ).toBe(0);
  }
  emu.put('/SharedTorrents/junk.torrent', Buffer.from('not bencode'));
  const before = emu.count('files/list_folder/continue');
  const list = await rx(['store', 'list'], dropboxEnv());
  expect(list.code).toBe(0);
  expect(emu.count('files/list_folder/continue')).toBeGreaterThan(before);
  expect(list.stdout).toMatch(/^dropbox store \/SharedTorrents: 4 torrents\n/);
  expect(list.stdout).toMatch(
    new RegExp(`data\\.bin\\.torrent\\s+\\S+ \\S+\\s+${infoHash}\\s+\\d{4}-\\d\\d-\\d\\dT`),
  );
  expect(list.stdout).toMatch(/junk\.torrent .*\(invalid, see below\)/);
  expect(list.stdout).toMatch(
    /warning: junk\.torrent in the dropbox store \(\/SharedTorrents\) is not a valid \.torrent/,
  );

  const json = await rx(['store', 'list', '--json'], dropboxEnv());
  const parsed = JSON.parse(json.stdout) as {
    store: string;
    torrents: { name: string; infoHash?: string; size: number }[];
  };
  expect(parsed.store).toBe('dropbox');
  expect(parsed.torrents.find((t) => t.name === 'data.bin.torrent')?.infoHash).toBe(infoHash);

  const rm = await rx(['store', 'rm', 'junk', 'c'], dropboxEnv());
  expect(rm.code).toBe(0);
  expect(emu.files.has('/sharedtorrents/junk.torrent')).toBe(false);
  const again = await rx(['store', 'rm', 'junk'], dropboxEnv());
  expect(again.code).toBe(1);
  expect(again.stderr).toMatch(/no torrent named junk\.torrent in Dropbox \/SharedTorrents/);
});

it('info by name fetches from Dropbox; a near miss lists close matches', async () => {
  const r = await rx(['info', 'data.bin'], dropboxEnv());
  expect(r.code).toBe(0);
  expect(r.stdout).toContain(`info-hash:  ${infoHash}`);
  expect(r.stdout).toContain('source:     dropbox store (/SharedTorrents)');
  const miss = await rx(['info', 'data.bim'], dropboxEnv());
  expect(miss.code).toBe(1);
  expect(miss.stderr).toMatch(
    /no torrent named data\.bim\.torrent in Dropbox \/SharedTorrents; did you mean data\.bin\.torrent\?/,
  );
});

it('leech -f NAME in another folder fetches from Dropbox (through a 429) and completes against a seeder', async () => {
  let seeder: PeerProcess | undefined;
  let leecher: Watched | undefined;
  try {
    seeder = await startPeer('seed', 'seeder', {
      torrent: path.join(srcDir, `${DATA}.torrent`),
      dir: srcDir,
      peers: ['127.0.0.1:1'],
      eventsFile: path.join(tmp.dir, 'seeder.jsonl'),
    });
    const elsewhere = path.join(tmp.dir, 'elsewhere');
    fs.mkdirSync(elsewhere);
    emu.failNext('files/download', { status: 429, retryAfter: 1 });
    const events = path.join(tmp.dir, 'leecher.jsonl');
    eventFiles.push(events);
    const started = Date.now();
    leecher = watch(
      startCli(
        [
          '--events',
          events,
          'leech',
          '-f',
          DATA,
          '-o',
          'dl',
          '-p',
          '0',
          '--bind',
          '127.0.0.1',
          '--peer',
          `127.0.0.1:${seeder.port}`,
          '--exit-on-done',
        ],
        { env: dropboxEnv(), cwd: elsewhere },
      ),
      'leecher',
    );
    await leecher.waitFor(/download complete/, { timeoutMs: 30_000 });
    expect(await leecher.exited).toBe(0);
    transcripts.push(leecher.stdout(), leecher.stderr());
    expect(Date.now() - started).toBeGreaterThanOrEqual(1000); // it waited for Retry-After
    expect(
      fs.readFileSync(path.join(elsewhere, 'dl', DATA)).equals(fs.readFileSync(path.join(srcDir, DATA))),
    ).toBe(true);
    const rateLimited = readEvents(events).filter((e) => e.type === 'DropboxRateLimited');
    expect(rateLimited).toHaveLength(1);
    expect(rateLimited[0].waitMs).toBe(1000);
  } finally {
    if (leecher && !leecher.hasExited()) await leecher.kill();
    if (seeder) {
      await seeder.stop();
      transcripts.push(seeder.stdout(), seeder.stderr());
    }
  }
});

it("the tracker console's info reads the Dropbox store, and recovers from an expired access token", async () => {
  const events = path.join(tmp.dir, 'tracker.jsonl');
  eventFiles.push(events);
  const tracker = watch(
    startCli(['--events', events, 'tracker', '-p', '0', '--host', '127.0.0.1'], {
      env: dropboxEnv(),
      cwd: tmp.dir,
    }),
    'tracker',
  );
  try {
    await tracker.waitFor(/tracker listening on/);
    tracker.child.stdin!.write('info data.bin\n');
    await tracker.waitFor(new RegExp(`info-hash:  ${infoHash}`));
    const tokenCalls = emu.count('oauth2/token');
    emu.expireAccessTokens();
    tracker.child.stdin!.write('info b\n');
    await tracker.waitFor(/name:\s+b\n/);
    expect(emu.count('oauth2/token')).toBe(tokenCalls + 1);
    expect(emu.requests.some((r) => r.status === 401)).toBe(true);
    tracker.child.stdin!.write('exit\n');
    expect(await tracker.exited).toBe(0);
    expect(
      readEvents(events)
        .filter((e) => e.type === 'DropboxTokenRefreshed')
        .map((e) => e.reason),
    ).toEqual(['startup', 'expired']);
  } finally {
    if (!tracker.hasExited()) await tracker.kill();
    transcripts.push(tracker.stdout(), tracker.stderr());
  }
});

it('a revoked refresh token gives a clear message to run `rxtorrent dropbox login`', async () => {
  const revoked = emu.issueRefreshToken();
  emu.revokeRefreshToken(revoked);
  const r = await rx(['info', 'data.bin'], dropboxEnv({ DROPBOX_REFRESH_TOKEN: revoked }));
  expect(r.code).toBe(1);
  expect(r.stderr).toMatch(
    /Dropbox refused DROPBOX_REFRESH_TOKEN \(invalid_grant.*\).*run `rxtorrent dropbox login`/,
  );
  expect(r.stderr).not.toContain(revoked);
  const half = await rx(['store', 'list'], baseEnv({ DROPBOX_REFRESH_TOKEN: revoked }));
  expect(half.code).toBe(1);
  expect(half.stderr).toMatch(/DROPBOX_REFRESH_TOKEN is set but DROPBOX_APP_KEY is not/);
});

it('chooses the store by configuration: --store local forces local, --store dropbox needs credentials', async () => {
  const local = await rx(['--store', 'local', 'store', 'list'], dropboxEnv());
  expect(local.stdout).toMatch(/^local store .*: 0 torrents/);
  const none = await rx(['store', 'list'], baseEnv());
  expect(none.stdout).toMatch(/^local store /);
  const forced = await rx(['--store', 'dropbox', 'store', 'list'], baseEnv());
  expect(forced.code).toBe(2);
  expect(forced.stderr).toMatch(/--store dropbox needs Dropbox credentials: run `rxtorrent dropbox login`/);
  const remote = await rx(['--remote-dir', '/Other', 'store', 'list'], dropboxEnv());
  expect(remote.stdout).toMatch(/^dropbox store \/Other: 0 torrents/);
});

it('dropbox login (PKCE, offline) saves a 0600 refresh token that the store then uses; logout removes and revokes it', async () => {
  const env = baseEnv({ XDG_CONFIG_HOME: path.join(tmp.dir, 'login-config') });
  const events = path.join(tmp.dir, 'login.jsonl');
  eventFiles.push(events);
  const login = watch(
    startCli(['--events', events, 'dropbox', 'login', '--app-key', emu.appKey], { env, cwd: tmp.dir }),
    'login',
  );
  children.push(login);
  const m = await login.waitFor(/(https:\/\/(?:www\.)?dropbox\.com\/oauth2\/authorize\S+)/);
  const url = new URL(m[1]);
  expect(url.searchParams.get('response_type')).toBe('code');
  expect(url.searchParams.get('token_access_type')).toBe('offline');
  expect(url.searchParams.get('code_challenge_method')).toBe('S256');
  login.child.stdin!.end(`${emu.authorize(m[1])}\n`);
  expect(await login.exited).toBe(0);
  transcripts.push(login.stdout(), login.stderr());
  const file = path.join(tmp.dir, 'login-config', 'rxtorrent', 'config.json');
  expect(fs.statSync(file).mode & 0o777).toBe(0o600);
  const saved = JSON.parse(fs.readFileSync(file, 'utf8')) as {
    dropbox: { appKey: string; refreshToken: string };
  };
  expect(saved.dropbox.appKey).toBe(emu.appKey);
  expect(emu.isRefreshTokenValid(saved.dropbox.refreshToken)).toBe(true);
  expect(login.stdout()).toContain(`saved in ${file}`);

  const list = await rx(['store', 'list'], env); // no DROPBOX_* variables: the saved login is used
  expect(list.code).toBe(0);
  expect(list.stdout).toMatch(/^dropbox store \/SharedTorrents: 2 torrents/);

  fs.chmodSync(file, 0o644);
  const loose = await rx(['store', 'list'], env);
  expect(loose.stderr).toMatch(/config\.json is readable by other users .* chmod 600/);
  fs.chmodSync(file, 0o600);

  const bad = watch(
    startCli(['dropbox', 'login', '--app-key', emu.appKey], { env, cwd: tmp.dir }),
    'bad-login',
  );
  children.push(bad);
  await bad.waitFor(/oauth2\/authorize/);
  bad.child.stdin!.end('not-a-code\n');
  expect(await bad.exited).toBe(1);
  expect(bad.stderr()).toMatch(/Dropbox did not accept the code: invalid_grant/);
  transcripts.push(bad.stdout(), bad.stderr());

  const out = await rx(['dropbox', 'logout'], env);
  expect(out.code).toBe(0);
  expect(out.stdout).toMatch(/removed the Dropbox refresh token .* and revoked it at Dropbox/);
  expect(fs.existsSync(file)).toBe(false);
  expect(emu.isRefreshTokenValid(saved.dropbox.refreshToken)).toBe(false);
  const after = await rx(['store', 'list'], env);
  expect(after.stdout).toMatch(/^local store /);
});

it('no token or secret appears in any output or event log of these runs', () => {
  const secrets = [...emu.issuedTokens, APP_SECRET];
  expect(secrets.length).toBeGreaterThan(5);
  const haystacks = [
    ...transcripts,
    ...eventFiles.filter((f) => fs.existsSync(f)).map((f) => fs.readFileSync(f, 'utf8')),
  ];
  expect(eventFiles.filter((f) => fs.existsSync(f)).length).toBeGreaterThan(10);
  for (const text of haystacks) for (const s of secrets) expect(text.includes(s)).toBe(false);
});
