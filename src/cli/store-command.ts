/**
 * `rxtorrent store list` and `rxtorrent store rm <name…>`: the torrent store (Dropbox when configured,
 * else the local folder), listed the same way for both: name, size, info-hash, modified time.
 *
 * Owns: formatting and the per-name messages. Does not own: the stores. Every listed torrent is fetched
 * and parsed (four at a time) to show its info-hash; one that does not parse is listed as invalid.
 *
 * @example
 *   $ rxtorrent store list
 *   dropbox store /SharedTorrents: 1 torrent
 *   NAME               SIZE     INFO-HASH                                 MODIFIED
 *   movie.mp4.torrent  1.2 KiB  3f1c0a9b2d4e…                             2026-01-05T10:00:00.000Z
 */
import { Command } from 'commander';
import { fetchTorrent } from '../store/fetch-torrent';
import { StoreError, StoredTorrentEntry, TorrentStore } from '../store/torrent-store';
import { CliContext, CliError } from './context';
import { formatBytes } from './progress';

export interface ListedTorrent extends StoredTorrentEntry {
  infoHash?: string;
  /** Why the info-hash is missing (not a valid .torrent, or it could not be fetched). */
  problem?: string;
}

export function storeCommand(context: () => CliContext): Command {
  const store = new Command('store').description(
    'list or remove torrents in the torrent store (Dropbox when configured, else the local folder)',
  );
  store
    .command('list')
    .alias('ls')
    .description('list stored torrents: name, size, info-hash, modified time')
    .option('--json', 'print as JSON')
    .action(async (opts: { json?: boolean }) => {
      const ctx = context();
      const s = ctx.store();
      const rows = await listWithHashes(s);
      if (opts.json) {
        ctx.stdout.write(
          JSON.stringify(
            {
              store: s.kind,
              location: s.location,
              torrents: rows.map((r) => ({ ...r, modified: r.modified.toISOString() })),
            },
            null,
            2,
          ) + '\n',
        );
      } else {
        ctx.stdout.write(formatList(s, rows));
      }
    })
    .exitOverride();
  store
    .command('rm')
    .alias('remove')
    .description('remove torrents from the store')
    .argument('<name...>', 'stored names (`movie.mp4` or `movie.mp4.torrent`)')
    .action(async (names: string[]) => {
      const ctx = context();
      const s = ctx.store();
      for (const name of names) {
        await storeCall(s, () => s.remove(name));
        ctx.log.emit({ category: 'store', type: 'TorrentRemoved', store: s.kind, name });
        ctx.stdout.write(`removed ${name} from the ${s.kind} store (${s.location})\n`);
      }
    })
    .exitOverride();
  return store;
}

/** Store errors become CliErrors with the store's own (already clear) message. */
async function storeCall<T>(s: TorrentStore, f: () => Promise<T>): Promise<T> {
  try {
    return await f();
  } catch (err) {
    if (err instanceof StoreError) throw new CliError(`${s.kind} store: ${err.message}`);
    throw err;
  }
}

export async function listWithHashes(s: TorrentStore, concurrency = 4): Promise<ListedTorrent[]> {
  const entries = await storeCall(s, () => s.list());
  const out: ListedTorrent[] = new Array(entries.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < entries.length) {
      const i = next++;
      const e = entries[i];
      try {
        const { meta } = await fetchTorrent(s, e.name);
        out[i] = { ...e, infoHash: meta.infoHashHex };
      } catch (err) {
        if (err instanceof StoreError && err.code === 'auth')
          throw new CliError(`${s.kind} store: ${err.message}`);
        out[i] = { ...e, problem: (err as Error).message };
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, entries.length) }, worker));
  return out;
}

export function formatList(s: TorrentStore, rows: ListedTorrent[]): string {
  const head = `${s.kind} store ${s.location}: ${rows.length} torrent${rows.length === 1 ? '' : 's'}\n`;
  if (rows.length === 0) return head;
  const table = [
    ['NAME', 'SIZE', 'INFO-HASH', 'MODIFIED'],
    ...rows.map((r) => [
      r.name,
      formatBytes(r.size),
      r.infoHash ?? '(invalid, see below)',
      r.modified.toISOString(),
    ]),
  ];
  const widths = table[0].map((_, c) => Math.max(...table.map((row) => row[c].length)));
  const lines = table.map((row) =>
    row.map((cell, c) => (c === row.length - 1 ? cell : cell.padEnd(widths[c]))).join('  '),
  );
  const problems = rows.filter((r) => r.problem).map((r) => `warning: ${r.problem}`);
  return head + [...lines, ...problems].join('\n') + '\n';
}
