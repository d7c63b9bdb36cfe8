/**
 * Where the command word sits in `rxtorrent [global options] <command> …`, found without commander, so
 * that bin/rxtorrent.js and main can decide what to load before loading it. Keep in step with the
 * global options in main.ts (a global option missing here only costs speed: everything then loads).
 */

/** Global options that take a value. */
const GLOBAL_VALUES = new Set(['--events', '--store-dir', '--store', '--remote-dir']);
const GLOBAL_FLAGS = new Set(['-v', '--verbose']);

/** Index in `argv` (node, script, …) of the command word, or -1 when it is not plain to see. */
export function commandIndex(argv: readonly string[]): number {
  for (let i = 2; i < argv.length; i++) {
    const a = argv[i];
    if (GLOBAL_VALUES.has(a)) i++;
    else if (GLOBAL_FLAGS.has(a) || (a.startsWith('--') && GLOBAL_VALUES.has(a.split('=')[0]))) continue;
    else return a.startsWith('-') ? -1 : i;
  }
  return -1;
}
