#!/usr/bin/env -S node --max-semi-space-size=2
'use strict';
// Runs the compiled CLI; `npm ci` builds dist/ through the `prepare` script.
// The small young generation makes V8 collect socket chunks promptly: at full LAN speed the default
// (16 MiB semi-spaces) lets ~40 MB of already-consumed network buffers pile up between collections.
// `create` starts hashing before the rest of the CLI loads (src/cli/create-prestart.ts).
const early = process.argv.includes('create') ? require('../dist/cli/create-prestart.js') : undefined;
early?.prestart(process.argv);
require('../dist/cli/main.js')
  .main(process.argv)
  .finally(() => early?.releasePrestart());
