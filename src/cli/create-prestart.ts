/**
 * `create`'s early start. bin/rxtorrent.js calls `prestart(argv)` before it loads the rest of the CLI, so
 * for `create -f <one regular file>` the hash workers boot and hash while the main thread is still
 * loading commander, rxjs and the command's modules (on this machine that start-up was most of what
 * `create` lost to mktorrent on files of a few hundred MiB).
 *
 * It only guesses. The create command takes the pool over (`takePrestarted`), and the pool hands
 * it the running job only if the command's own parse of the arguments and scan of the input ask for
 * exactly the same work; anything else cancels the job and hashes as usual. Keep this module lean:
 * Node built-ins and the hash pool, nothing that loads rxjs or commander.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { batchPiecesFor, planBatches } from '../core/create-torrent';
import { HashPool } from '../streams/hash-pool';
import { commandIndex } from './command-word';
import { isPieceLength, parseSize } from './parse-size';

let early: { pool: HashPool; since: number } | undefined;

/** `create` options that take a value (skipped, so that a value is never read as `-f`). */
const VALUE_OPTIONS = new Set(['-t', '--tracker', '--comment', '--web-seed', '-o', '--output']);

/** Start hashing `create`'s input now, if `argv` plainly asks to hash one regular file. */
export function prestart(argv: readonly string[]): void {
  const guess = guessCreate(argv);
  if (!guess) return;
  let pool: HashPool | undefined;
  try {
    const file = path.resolve(guess.file);
    const st = fs.statSync(file);
    if (!st.isFile() || st.size === 0) return;
    // First thing: a worker boots on another core (~0.1 G instructions) while this thread goes on.
    pool = new HashPool(createWorkers());
    // Loaded only now, after the spawn: metainfo brings node:crypto and node:net along.
    const { DEFAULT_PIECE_LENGTH } = require('../protocol/metainfo') as typeof import('../protocol/metainfo');
    const pieceLength = guess.pieceLength === undefined ? DEFAULT_PIECE_LENGTH : parseSize(guess.pieceLength);
    if (!isPieceLength(pieceLength)) throw new Error('bad piece length');
    pool.prestart({
      files: [{ path: file, length: st.size, offset: 0 }],
      pieceLength,
      total: st.size,
      batches: planBatches(Math.ceil(st.size / pieceLength), batchPiecesFor(pieceLength)),
    });
    early = { pool, since: Date.now() };
  } catch {
    // Only a guess: the command reports whatever is wrong with its input.
    void pool?.close();
  }
}

/** Hash workers for `create`: one per core but one, for the main thread hashes too once it is idle. */
export function createWorkers(): number {
  return Math.max(1, os.availableParallelism() - 1);
}

/**
 * The pool started by `prestart` and when it started hashing, once (the caller then owns the pool and
 * closes it).
 */
export function takePrestarted(): { pool: HashPool; since: number } | undefined {
  const taken = early;
  early = undefined;
  return taken;
}

/** Stop a prestarted pool nobody took (the command failed before hashing), so the process can end. */
export function releasePrestart(): Promise<void> {
  return takePrestarted()?.pool.close() ?? Promise.resolve();
}

/** `-f` and `--piece-length` of a plain `rxtorrent [global options] create …`, else undefined. */
export function guessCreate(argv: readonly string[]): { file: string; pieceLength?: string } | undefined {
  let i = commandIndex(argv);
  if (i < 0 || argv[i] !== 'create') return undefined;
  let file: string | undefined;
  let pieceLength: string | undefined;
  for (i++; i < argv.length; i++) {
    const a = argv[i];
    const eq = a.indexOf('=');
    const [name, inline] = a.startsWith('--') && eq > 0 ? [a.slice(0, eq), a.slice(eq + 1)] : [a, undefined];
    const value = (): string | undefined => inline ?? argv[++i];
    if (name === '-f' || name === '--file') file = value();
    else if (name === '--piece-length') pieceLength = value();
    else if (VALUE_OPTIONS.has(name)) value();
    else if (name === '--from-legacy' || name === '-h' || name === '--help' || name === '--')
      return undefined;
  }
  return file === undefined ? undefined : { file, pieceLength };
}
