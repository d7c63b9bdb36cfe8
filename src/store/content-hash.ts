/**
 * Dropbox's `content_hash`: split the bytes into 4 MiB blocks, SHA-256 each block, concatenate the
 * block digests and SHA-256 that. The SDK exports nothing for it, so it lives here.
 *
 * Owns: the hash. Does not own: when it is sent (the Dropbox store sends it with every upload, so the
 * server refuses a body damaged in transit) or checked (the store checks every download against it).
 *
 * @example
 *   dropboxContentHash(Buffer.alloc(0)); // 'e3b0c442…b855' (SHA-256 of no block digests)
 * @see https://www.dropbox.com/developers/reference/content-hash
 */
import { createHash } from 'node:crypto';

export const CONTENT_HASH_BLOCK = 4 * 1024 * 1024;

export function dropboxContentHash(bytes: Uint8Array): string {
  const overall = createHash('sha256');
  for (let off = 0; off < bytes.length; off += CONTENT_HASH_BLOCK) {
    overall.update(
      createHash('sha256')
        .update(bytes.subarray(off, off + CONTENT_HASH_BLOCK))
        .digest(),
    );
  }
  return overall.digest('hex');
}
