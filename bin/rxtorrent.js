#!/usr/bin/env -S node --max-semi-space-size=2 --openssl-legacy-provider
'use strict';
// Runs the compiled CLI; `npm ci` builds dist/ through the `prepare` script.
// The small young generation makes V8 collect socket chunks promptly: at full LAN speed the default
// (16 MiB semi-spaces) lets ~40 MB of already-consumed network buffers pile up between collections.
// The legacy provider lets Node 20's OpenSSL 3 do RC4 for encrypted peers (MSE/PE): 1 GiB ours -> ours
// with RC4 ran 142 MB/s with it and 121 MB/s with our TypeScript RC4 (BENCHMARKS.md, "Encryption").
// Where OpenSSL has no legacy module, Node says so on stderr and the TypeScript RC4 is used.
// `create` starts hashing before the rest of the CLI loads (src/cli/create-prestart.ts).
const early = process.argv.includes('create') ? require('../dist/cli/create-prestart.js') : undefined;
early?.prestart(process.argv);
require('../dist/cli/main.js')
  .main(process.argv)
  .finally(() => early?.releasePrestart());
