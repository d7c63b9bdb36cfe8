#!/usr/bin/env node
'use strict';
/**
 * Adds lockfile entries for platform-specific optional dependencies that this machine's registry
 * mirror does not serve (e.g. @unrs/resolver-binding-darwin-arm64, pulled in by jest 30). npm records
 * them on a full registry; without them `npm ci` stops with "Missing: … from lock file". Each added
 * entry carries the os/cpu(/libc) it is for, so npm skips it on every other platform, as it would
 * with a lockfile made against the full registry.
 *
 * Usage: node tools/complete-lockfile.js   (after any `npm install` that rewrote package-lock.json)
 */
const fs = require('node:fs');
const path = require('node:path');

const file = path.join(__dirname, '..', 'package-lock.json');
const lock = JSON.parse(fs.readFileSync(file, 'utf8'));
const pkgs = lock.packages;

const OS = [
  'android',
  'darwin',
  'freebsd',
  'linux',
  'win32',
  'openharmony',
  'netbsd',
  'openbsd',
  'sunos',
  'aix',
];
const CPU = ['arm64', 'arm', 'x64', 'ia32', 'loong64', 'ppc64', 'riscv64', 's390x', 'wasm32', 'mips64el'];

function platformOf(name) {
  const base = name.split('/').pop();
  const parts = base.split('-');
  const os = OS.find((o) => parts.includes(o));
  const cpu = CPU.find((c) => parts.includes(c) || base.includes(`-${c}-`) || base.endsWith(`-${c}`));
  const libc =
    parts.includes('musl') || base.includes('musl')
      ? 'musl'
      : parts.includes('gnu') || base.includes('gnu')
        ? 'glibc'
        : undefined;
  return { os, cpu, libc };
}

let added = 0;
for (const [where, meta] of Object.entries(pkgs)) {
  for (const [dep, version] of Object.entries(meta.optionalDependencies || {})) {
    const nested = `${where ? `${where}/` : ''}node_modules/${dep}`;
    const top = `node_modules/${dep}`;
    if (pkgs[nested] || pkgs[top]) continue;
    const { os, cpu, libc } = platformOf(dep);
    if (!os && !cpu) {
      console.error(`skipping ${dep}: cannot tell its platform`);
      continue;
    }
    pkgs[top] = {
      version: version.replace(/^[\^~]/, ''),
      cpu: cpu ? [cpu] : undefined,
      dev: meta.dev,
      license: meta.license,
      optional: true,
      os: os ? [os] : undefined,
      libc: libc ? [libc] : undefined,
    };
    if (!meta.dev) delete pkgs[top].dev;
    added++;
  }
}
const sorted = {};
for (const k of Object.keys(pkgs).sort((a, b) => (a === '' ? -1 : b === '' ? 1 : a < b ? -1 : a > b ? 1 : 0)))
  sorted[k] = JSON.parse(JSON.stringify(pkgs[k]));
lock.packages = sorted;
fs.writeFileSync(file, JSON.stringify(lock, null, 2) + '\n');
console.log(`added ${added} optional platform entries`);
