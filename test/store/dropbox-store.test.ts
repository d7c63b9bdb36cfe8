/**
 * The Dropbox store's failure behaviour, through the real SDK against the loopback emulator: 429 with
 * Retry-After, expired access tokens, network errors, revoked refresh tokens, missing scopes,
 * not-found with close matches, content_hash on upload and download. Waits are recorded, not slept.
 */
import { StoreError } from '../../src/store/torrent-store';
import { dropboxContentHash } from '../../src/store/content-hash';
import { closeMatches, normalizeRemoteDir } from '../../src/store/dropbox-store';
import { DropboxEmulator, startDropboxEmulator } from '../support/dropbox-emulator';
import { emulatorStore, torrentBytes } from './store-fixtures';
import type { EventInput } from '../../src/events/engine-event';

let emu: DropboxEmulator;
beforeEach(async () => {
  emu = await startDropboxEmulator();
});
afterEach(async () => emu.close());

function recording(): {
  waits: number[];
  events: EventInput[];
  opts: { sleep: (ms: number) => Promise<void>; onEvent: (e: EventInput) => void };
} {
  const waits: number[] = [];
  const events: EventInput[] = [];
  return {
    waits,
    events,
    opts: { sleep: async (ms) => void waits.push(ms), onEvent: (e) => void events.push(e) },
  };
}

it('sends content_hash and overwrite mode on upload, and refreshes once at start', async () => {
  const store = emulatorStore(emu);
  const bytes = torrentBytes('a.bin');
  await store.publish('a.bin', bytes);
  await store.publish('a.bin', bytes); // re-publishing overwrites instead of conflicting
  expect(emu.files.get('/sharedtorrents/a.bin.torrent')?.bytes.equals(bytes)).toBe(true);
  expect(emu.count('oauth2/token')).toBe(1);
});

it('waits for Retry-After on 429, then succeeds', async () => {
  const r = recording();
  const store = emulatorStore(emu, r.opts);
  await store.publish('a.bin', torrentBytes('a.bin'));
  emu.failNext('files/download', { status: 429, retryAfter: 3 }, { status: 429, retryAfter: 1 });
  expect((await store.fetch('a.bin')).length).toBeGreaterThan(0);
  expect(r.waits).toEqual([3000, 1000]);
  expect(r.events.filter((e) => e.type === 'DropboxRateLimited')).toHaveLength(2);
});

it('gives up with the wait in the message when Retry-After is too long', async () => {
  const store = emulatorStore(emu, { ...recording().opts, retry: { maxRetryAfterMs: 10_000 } });
  emu.failNext('files/list_folder', { status: 429, retryAfter: 600 });
  await expect(store.list()).rejects.toThrow(/rate-limiting .* try again in 600 s/);
});

it('refreshes an expired access token once and retries the call (fresh upload args each time)', async () => {
  const r = recording();
  const store = emulatorStore(emu, r.opts);
  await store.list();
  emu.expireAccessTokens();
  const bytes = torrentBytes('b.bin');
  await store.publish('b.bin', bytes);
  expect(emu.files.get('/sharedtorrents/b.bin.torrent')?.bytes.equals(bytes)).toBe(true);
  expect(emu.count('oauth2/token')).toBe(2);
  expect(r.events.map((e) => e.type)).toContain('DropboxTokenRefreshed');
});

it('does not loop when Dropbox keeps answering expired_access_token', async () => {
  const store = emulatorStore(emu, recording().opts);
  emu.failNext(
    'files/list_folder',
    { status: 401, tag: 'expired_access_token' },
    { status: 401, tag: 'expired_access_token' },
  );
  await expect(store.list()).rejects.toMatchObject({ code: 'auth' });
  expect(emu.count('oauth2/token')).toBe(2);
});

it('tells a user with only an expired access token how to get lasting credentials', async () => {
  const token = emu.issueAccessToken();
  const store = emulatorStore(emu, {
    ...recording().opts,
    credentials: { kind: 'access', accessToken: token, source: 'environment' },
  });
  await store.list();
  emu.expireAccessTokens();
  const err = (await store.list().catch((e: unknown) => e)) as Error;
  expect(err.message).toMatch(/access token has expired .*DROPBOX_REFRESH_TOKEN.*rxtorrent dropbox login/);
  expect(err.message).not.toContain(token);
});

it('says to run `rxtorrent dropbox login` when the refresh token was revoked, without echoing it', async () => {
  const rt = emu.issueRefreshToken();
  const store = emulatorStore(emu, {
    credentials: { kind: 'refresh', appKey: emu.appKey, refreshToken: rt, source: 'environment' },
  });
  emu.revokeRefreshToken(rt);
  const err = (await store.fetch('x').catch((e: unknown) => e)) as StoreError;
  expect(err).toMatchObject({ code: 'auth' });
  expect(err.message).toMatch(/refused DROPBOX_REFRESH_TOKEN \(invalid_grant.*rxtorrent dropbox login/);
  expect(err.message).not.toContain(rt);
});

it('retries network errors with bounded backoff, then fails clearly', async () => {
  const r = recording();
  const store = emulatorStore(emu, {
    ...r.opts,
    retry: { networkRetries: 3, baseDelayMs: 100, maxDelayMs: 250 },
  });
  await store.publish('n.bin', torrentBytes('n.bin'));
  emu.failNext('files/download', { destroy: true }, { status: 503 });
  expect((await store.fetch('n.bin')).length).toBeGreaterThan(0);
  expect(r.waits).toHaveLength(2);
  r.waits.length = 0;
  emu.failNext('files/download', ...Array.from({ length: 4 }, () => ({ destroy: true as const })));
  const err = (await store.fetch('n.bin').catch((e: unknown) => e)) as StoreError;
  expect(err).toMatchObject({ code: 'io' });
  expect(err.message).toMatch(/cannot reach Dropbox \(127\.0\.0\.1:\d+\): .* after 4 attempts/);
  expect(r.waits).toHaveLength(3);
  for (const w of r.waits) expect(w).toBeLessThanOrEqual(250 * 1.25);
});

it('reports an unreachable server without the URL or token', async () => {
  const url = emu.url;
  await emu.close();
  const store = emulatorStore(emu, { ...recording().opts, retry: { networkRetries: 1 } });
  const err = (await store.list().catch((e: unknown) => e)) as Error;
  expect(err.message).toMatch(/cannot reach Dropbox .*ECONNREFUSED/);
  expect(err.message).not.toContain('refresh_token');
  emu = await startDropboxEmulator(); // for afterEach
  void url;
});

it('names the missing torrent and lists close matches', async () => {
  const store = emulatorStore(emu);
  for (const n of ['movie.mp4', 'movie.mkv', 'music.flac', 'other.iso'])
    await store.publish(n, torrentBytes(n));
  const err = (await store.fetch('movie.mp3').catch((e: unknown) => e)) as Error;
  expect(err).toMatchObject({ code: 'not-found' });
  expect(err.message).toBe(
    'no torrent named movie.mp3.torrent in Dropbox /SharedTorrents; did you mean movie.mp4.torrent, movie.mkv.torrent?',
  );
  await expect(store.remove('nothing-like-it')).rejects.toThrow(
    /^no torrent named nothing-like-it\.torrent in Dropbox \/SharedTorrents$/,
  );
});

it('names the scope to enable on missing_scope', async () => {
  const store = emulatorStore(emu);
  emu.scopes.delete('files.content.write');
  await expect(store.publish('s.bin', torrentBytes('s.bin'))).rejects.toThrow(
    /lacks the files\.content\.write permission: enable files\.content\.write in the App Console/,
  );
  emu.scopes.delete('files.metadata.read');
  await expect(store.list()).rejects.toThrow(/files\.metadata\.read/);
});

it('refuses a download whose bytes do not match its content_hash', async () => {
  const store = emulatorStore(emu);
  await store.publish('c.bin', torrentBytes('c.bin'));
  emu.failNext('files/download', { corruptBody: Buffer.from('garbage') });
  await expect(store.fetch('c.bin')).rejects.toMatchObject({
    code: 'corrupt',
    message: expect.stringMatching(/content hash mismatch/),
  });
});

it('uses --remote-dir folders and refuses unusable ones', async () => {
  const store = emulatorStore(emu, { folder: 'team/torrents/' });
  expect(store.location).toBe('/team/torrents');
  await store.publish('t.bin', torrentBytes('t.bin'));
  expect(emu.files.has('/team/torrents/t.bin.torrent')).toBe(true);
  expect(() => normalizeRemoteDir('/')).toThrow(StoreError);
  expect(() => normalizeRemoteDir('/a/../b')).toThrow(StoreError);
});

describe('content hash', () => {
  const { createHash } = jest.requireActual<typeof import('node:crypto')>('node:crypto');
  const sha = (b: Buffer): Buffer => createHash('sha256').update(b).digest();
  it('is SHA-256 of the concatenated SHA-256 of each 4 MiB block', () => {
    expect(dropboxContentHash(Buffer.alloc(0))).toBe(
      createHash('sha256').update(Buffer.alloc(0)).digest('hex'),
    );
    const small = Buffer.from('hello');
    expect(dropboxContentHash(small)).toBe(sha(sha(small)).toString('hex'));
    const big = Buffer.alloc(4 * 1024 * 1024 * 2 + 10, 7);
    const blocks = [big.subarray(0, 4194304), big.subarray(4194304, 8388608), big.subarray(8388608)];
    expect(dropboxContentHash(big)).toBe(sha(Buffer.concat(blocks.map((b) => sha(b)))).toString('hex'));
  });
});

describe('closeMatches', () => {
  it('finds near names, case-insensitively, best first', () => {
    expect(closeMatches('Movie.MP4', ['movie.mp4.torrent', 'zzz.torrent'])).toEqual(['movie.mp4.torrent']);
    expect(closeMatches('ubuntu', ['ubuntu-24.04.iso.torrent', 'debian.iso.torrent'])).toEqual([
      'ubuntu-24.04.iso.torrent',
    ]);
    expect(closeMatches('abc', ['xyz.torrent'])).toEqual([]);
  });
});
