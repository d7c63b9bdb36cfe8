/**
 * How every command finds a torrent from `-f`: a path on disk first, then a name in the torrent store.
 * The bytes are parsed and validated before anyone uses them.
 */
import * as fs from 'node:fs/promises';
import { Metainfo, MetainfoError, looksLikeLegacyJson, parseMetainfo } from '../protocol/metainfo';
import { StoreError } from '../store/torrent-store';
import { CliContext, CliError } from './context';

export interface LoadedTorrent {
  meta: Metainfo;
  bytes: Buffer;
  /** Where it came from: a path, or `<store kind> store`. */
  source: string;
}

export async function loadTorrent(ctx: CliContext, arg: string): Promise<LoadedTorrent> {
  let bytes: Buffer | undefined;
  let source = arg;
  try {
    const st = await fs.stat(arg);
    if (st.isFile()) bytes = await fs.readFile(arg);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code !== 'ENOENT' && code !== 'ENOTDIR')
      throw new CliError(`cannot read ${arg}: ${code ?? (err as Error).message}`);
  }
  if (!bytes) {
    const store = ctx.store();
    try {
      bytes = await store.fetch(arg);
      source = `${store.kind} store (${store.location})`;
    } catch (err) {
      if (err instanceof StoreError && err.code === 'not-found') {
        throw new CliError(`no torrent ${JSON.stringify(arg)}: not a file here, and ${err.message}`);
      }
      if (err instanceof StoreError && err.code === 'bad-name')
        throw new CliError(`no such torrent file: ${arg}`);
      throw new CliError(`cannot fetch ${arg} from the ${store.kind} store: ${(err as Error).message}`);
    }
  }
  try {
    return { meta: parseMetainfo(bytes), bytes, source };
  } catch (err) {
    if (err instanceof MetainfoError) {
      const hint = looksLikeLegacyJson(bytes)
        ? " (this looks like the old program's JSON metainfo: convert it with `rxtorrent create --from-legacy -f FILE`)"
        : '';
      throw new CliError(`${source}: ${err.message}${hint}`);
    }
    throw err;
  }
}
