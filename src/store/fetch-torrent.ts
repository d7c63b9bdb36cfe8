/**
 * Fetch a torrent from a store and validate it before anyone uses it.
 *
 * Owns: turning "bytes from the store" into a checked `Metainfo`, and a `corrupt` StoreError that
 * names the file and the store when the bytes are not a valid .torrent. Does not own: the store.
 *
 * @example
 *   const { meta } = await fetchTorrent(store, 'movie.mp4'); // throws StoreError('corrupt') for garbage
 */
import { Metainfo, MetainfoError, parseMetainfo } from '../protocol/metainfo';
import { StoreError, TorrentStore, storeFileName } from './torrent-store';

export async function fetchTorrent(
  store: TorrentStore,
  name: string,
): Promise<{ meta: Metainfo; bytes: Buffer }> {
  const bytes = await store.fetch(name);
  try {
    return { meta: parseMetainfo(bytes), bytes };
  } catch (err) {
    if (err instanceof MetainfoError) {
      throw new StoreError(
        'corrupt',
        `${storeFileName(name)} in the ${store.kind} store (${store.location}) is not a valid .torrent: ${err.message}`,
      );
    }
    throw err;
  }
}
