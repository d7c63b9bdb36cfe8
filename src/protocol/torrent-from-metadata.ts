/**
 * A .torrent file around an info dictionary fetched from peers (BEP 9), so a magnet download can be kept
 * in the torrent store and resumed like any other.
 *
 * Owns: wrapping the info dictionary's bytes — exactly as received, never re-encoded, so the file's
 * info-hash is the magnet's — with the magnet's trackers as `announce` / `announce-list`. Does not own:
 * checking the bytes against the info-hash (src/core/metadata-exchange.ts did) or validating them as a
 * torrent (`parseMetainfo` does, on the result).
 *
 * @example
 *   const bytes = torrentFromMetadata(info, [['http://tracker.example/announce']]);
 *   parseMetainfo(bytes).infoHashHex; // the magnet's info-hash
 */
import { BValue, encode } from './bencode';

export function torrentFromMetadata(info: Buffer, tiers: readonly (readonly string[])[]): Buffer {
  const used = tiers.filter((t) => t.length > 0);
  const root = new Map<string, BValue>();
  if (used.length > 0) root.set('announce', Buffer.from(used[0][0], 'utf8'));
  if (used.length > 1 || used[0]?.length > 1)
    root.set(
      'announce-list',
      used.map((t) => t.map((u) => Buffer.from(u, 'utf8'))),
    );
  // Every key above sorts before "info": the dictionary stays canonical with the raw bytes appended.
  const head = encode(root);
  return Buffer.concat([head.subarray(0, head.length - 1), Buffer.from('4:info'), info, Buffer.from('e')]);
}
