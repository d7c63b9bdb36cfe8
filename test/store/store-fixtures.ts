/** Small valid .torrent files for store tests, and a Dropbox store wired to an emulator. */
import { createHash } from 'node:crypto';
import { buildMetainfo } from '../../src/protocol/metainfo';
import { DropboxCredentials, makeDropboxClient, makeDropboxFetch } from '../../src/store/dropbox-auth';
import { DropboxStoreOptions, DropboxTorrentStore } from '../../src/store/dropbox-store';
import { DropboxEmulator } from '../support/dropbox-emulator';

/** A valid single-file .torrent named `name` (content derived from `seed`). */
export function torrentBytes(name: string, seed = 1): Buffer {
  const length = 20_000 + seed;
  return buildMetainfo({
    name,
    pieceLength: 16384,
    pieces: Buffer.concat([0, 1].map((i) => createHash('sha1').update(`${name}:${seed}:${i}`).digest())),
    files: [{ path: [name], length }],
    multiFile: false,
  });
}

export function emulatorStore(
  emu: DropboxEmulator,
  opts: Partial<DropboxStoreOptions> & { credentials?: DropboxCredentials } = {},
): DropboxTorrentStore {
  const credentials: DropboxCredentials = opts.credentials ?? {
    kind: 'refresh',
    appKey: emu.appKey,
    refreshToken: emu.issueRefreshToken(),
    source: 'environment',
  };
  return new DropboxTorrentStore({
    retry: { baseDelayMs: 5, maxDelayMs: 20 },
    ...opts,
    client: makeDropboxClient(credentials, makeDropboxFetch({ baseUrl: emu.url })),
  });
}
