/**
 * Small real .torrent files for tracker tests, built with the project's metainfo builder (no tools
 * needed), plus a way to publish them into a local torrent store folder.
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Metainfo, buildMetainfo, parseMetainfo } from '../../src/protocol/metainfo';

export interface TestTorrent {
  bytes: Buffer;
  meta: Metainfo;
}

/** A single-file torrent over `content`, 16 KiB pieces unless told otherwise. */
export function makeTorrent(
  name: string,
  content: Buffer,
  opts: { pieceLength?: number; announce?: string } = {},
): TestTorrent {
  const pieceLength = opts.pieceLength ?? 16 * 1024;
  const hashes: Buffer[] = [];
  for (let o = 0; o < content.length; o += pieceLength) {
    hashes.push(
      createHash('sha1')
        .update(content.subarray(o, o + pieceLength))
        .digest(),
    );
  }
  const bytes = buildMetainfo({
    name,
    pieceLength,
    pieces: Buffer.concat(hashes),
    files: [{ path: [name], length: content.length }],
    multiFile: false,
    announceList: opts.announce ? [[opts.announce]] : [],
  });
  return { bytes, meta: parseMetainfo(bytes) };
}

/** Write `<name>.torrent` into a store folder (what `rxtorrent create` publishes). */
export function publish(storeDir: string, t: TestTorrent): string {
  fs.mkdirSync(storeDir, { recursive: true });
  const file = path.join(storeDir, `${t.meta.name}.torrent`);
  fs.writeFileSync(file, t.bytes);
  return file;
}
