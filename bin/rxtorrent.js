#!/usr/bin/env -S node --max-semi-space-size=2
'use strict';
// Runs the compiled CLI; `npm ci` builds dist/ through the `prepare` script.
// The small young generation makes V8 collect socket chunks promptly: at full LAN speed the default
// (16 MiB semi-spaces) lets ~40 MB of already-consumed network buffers pile up between collections.
require('../dist/cli/main.js').main(process.argv);
