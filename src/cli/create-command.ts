/**
 * `rxtorrent create -f <file-or-folder>`: hash on all cores, write the .torrent (temp name + rename),
 * publish it to the torrent store, print the info-hash and magnet link.
 */
import { Command, Option } from 'commander';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { hashFiles } from '../actors/create-actor';
import {
  DEFAULT_PIECE_LENGTH,
  buildMetainfo,
  importLegacyJson,
  looksLikeLegacyJson,
  magnetUri,
  parseMetainfo,
} from '../protocol/metainfo';
import { normalizeTrackerUrl } from '../protocol/tracker-url';
import { writeFileAtomic } from '../store/local-store';
import { InputError, scanInput } from '../storage/scan-input';
import { HashPool } from '../streams/hash-pool';
import { CliContext, CliError } from './context';
import { createWorkers, takePrestarted } from './create-prestart';
import { isPieceLength, parseSize } from './parse-size';
import { formatBytes, progress } from './progress';

export { parseSize };

interface CreateOptions {
  file: string;
  tracker: string[];
  pieceLength?: string;
  private?: boolean;
  comment?: string;
  output?: string;
  publish: boolean;
  fromLegacy?: boolean;
  webSeed: string[];
}

const collect = (v: string, prev: string[]): string[] => [...prev, v];

export function createCommand(context: () => CliContext): Command {
  return new Command('create')
    .description('make a .torrent from a file or folder and publish it to the torrent store')
    .requiredOption(
      '-f, --file <path>',
      'file or folder to share (or, with --from-legacy, the old JSON metainfo)',
    )
    .option(
      '-t, --tracker <url>',
      'tracker: host, host:port or URL; repeat for backup tiers, comma-separate within a tier',
      collect,
      [],
    )
    .addOption(
      new Option('--piece-length <bytes>', 'piece size: bytes, or 256K, 1M, …').default(undefined, '512K'),
    )
    .option('--private', 'mark the torrent private (BEP 27: no DHT or PEX)')
    .option('--comment <text>', 'free-text comment')
    .option('--web-seed <url>', 'web seed URL (BEP 19 url-list); repeatable', collect, [])
    .option('-o, --output <path>', 'where to write the .torrent (default: <name>.torrent here)')
    .option('--no-publish', 'do not copy the .torrent to the torrent store')
    .option('--from-legacy', "import the old program's JSON metainfo instead of hashing a file")
    .addHelpText('after', '\nExample:\n  rxtorrent create -f movie.mp4 -t 192.168.1.100\n')
    .action(async (opts: CreateOptions) => runCreate(context(), opts));
}

async function runCreate(ctx: CliContext, o: CreateOptions): Promise<void> {
  let tiers: string[][];
  let pieceLength = DEFAULT_PIECE_LENGTH;
  try {
    tiers = o.tracker.map((t) =>
      t
        .split(',')
        .filter((x) => x.trim())
        .map(normalizeTrackerUrl),
    );
    if (o.pieceLength !== undefined) pieceLength = parseSize(o.pieceLength);
    if (!isPieceLength(pieceLength)) {
      throw new Error(`--piece-length ${o.pieceLength} must be a power of two between 16K and 64M`);
    }
  } catch (err) {
    throw new CliError((err as Error).message, 2);
  }

  let bytes: Buffer;
  if (o.fromLegacy) {
    const raw = await fs.readFile(o.file).catch((err: NodeJS.ErrnoException) => {
      throw new CliError(`cannot read ${o.file}: ${err.code === 'ENOENT' ? 'no such file' : err.message}`);
    });
    if (!looksLikeLegacyJson(raw)) throw new CliError(`${o.file} is not the old program's JSON metainfo`);
    bytes = wrap(() => importLegacyJson(raw.toString('utf8'), tiers));
  } else {
    bytes = await hashInput(ctx, o.file, pieceLength, tiers, o);
  }
  const meta = parseMetainfo(bytes);
  const output = path.resolve(o.output ?? `${meta.name}.torrent`);
  try {
    await writeFileAtomic(output, bytes);
  } catch (err) {
    throw new CliError(
      `cannot write ${output}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`,
    );
  }
  ctx.log.emit({
    category: 'create',
    type: 'TorrentWritten',
    torrent: meta.infoHashHex,
    path: output,
    bytes: bytes.length,
  });

  let published = '';
  if (o.publish) {
    const store = ctx.store();
    try {
      const entry = await store.publish(`${meta.name}.torrent`, bytes);
      published = `${store.kind} store: ${store.location}/${entry.name}`;
      if (entry.takenAway)
        published += ' (at once taken from the folder by another program, e.g. a watch folder)';
      ctx.log.emit({
        category: 'store',
        type: 'TorrentPublished',
        torrent: meta.infoHashHex,
        store: store.kind,
        name: entry.name,
        ...(entry.takenAway ? { takenAway: true } : {}),
      });
    } catch (err) {
      throw new CliError(
        `wrote ${output}, but publishing to the ${store.kind} store failed: ${(err as Error).message}`,
      );
    }
  }
  const lines = [
    `torrent:   ${output}`,
    `name:      ${meta.name}`,
    `size:      ${formatBytes(meta.length)} (${meta.length} bytes) in ${meta.pieceCount} pieces of ${formatBytes(meta.pieceLength)}`,
    `info-hash: ${meta.infoHashHex}`,
    `magnet:    ${magnetUri(meta)}`,
  ];
  if (published) lines.push(`published: ${published}`);
  ctx.stdout.write(lines.join('\n') + '\n');
}

async function hashInput(
  ctx: CliContext,
  file: string,
  pieceLength: number,
  tiers: string[][],
  o: CreateOptions,
): Promise<Buffer> {
  let input;
  try {
    input = await scanInput(file);
  } catch (err) {
    if (err instanceof InputError) throw new CliError(err.message);
    throw err;
  }
  // The pool bin/rxtorrent.js started before the CLI loaded, hashing this very input if it guessed right.
  // This thread hashes too (it has nothing else to do), so the pool holds one worker fewer than cores.
  const early = takePrestarted();
  const pool = early?.pool ?? new HashPool(createWorkers());
  const bar = progress(ctx.live);
  const started = early?.since ?? Date.now();
  try {
    const pieces = await hashFiles({
      layout: input.layout,
      total: input.total,
      pieceLength,
      pool,
      helpHere: true,
      onEvent: (e) => {
        ctx.log.emit(e);
        if (e.type === 'PiecesHashed')
          bar.update(e.bytes, input.total, `${formatBytes(e.bytes)} / ${formatBytes(input.total)}`);
      },
    }).catch((err: Error & { path?: string }) => {
      throw new CliError(`hashing failed${err.path ? ` on ${err.path}` : ''}: ${err.message}`);
    });
    const secs = Math.max(0.001, (Date.now() - started) / 1000);
    bar.finish(
      `hashed ${formatBytes(input.total)} in ${secs.toFixed(2)} s (${formatBytes(input.total / secs)}/s) on ${pool.size + 1} threads`,
    );
    return wrap(() =>
      buildMetainfo({
        name: input.name,
        pieceLength,
        pieces,
        files: input.files,
        multiFile: input.multiFile,
        announceList: tiers,
        private: o.private,
        comment: o.comment,
        createdBy: `rxtorrent ${version()}`,
        creationDate: new Date(),
        urlList: o.webSeed,
      }),
    );
  } finally {
    // Not awaited: the workers tear their heaps down (~15 ms here) while this thread writes the torrent.
    void pool.close();
  }
}

function wrap<T>(f: () => T): T {
  try {
    return f();
  } catch (err) {
    throw new CliError((err as Error).message);
  }
}

function version(): string {
  try {
    return (require('../../package.json') as { version: string }).version;
  } catch {
    return '0';
  }
}
