/**
 * Flags every command that runs an engine shares (seed, leech, serve), in one place: adding a network
 * feature (DHT, LSD…) means adding its flag here, as the encryption policy is, reading it in `engineOptions`,
 * and both kinds of command get it.
 *
 * Owns: the flags' names, help texts and validation, and turning them into `EngineOptions`. Does not
 * own: per-command flags (`-f`, `--exit-on-done`, `--rpc-port`…).
 */
import { Command, Option } from 'commander';
import type { EngineOptions } from '../actors/engine';
import { parseEncryptionPolicy } from '../actors/engine-encryption';
import { ENCRYPTION_POLICIES } from '../protocol/mse-codec';
import { TokenBucket, parseRate } from '../core/token-bucket';
import { CliError } from './context';
import { dhtSettings } from './dht-options';

export interface NetworkFlags {
  port: string;
  bind?: string;
  maxDown?: string;
  maxUp?: string;
  /** False with `--no-lsd`. */
  lsd?: boolean;
  encryption?: string;
  /** False with `--no-dht`. */
  dht?: boolean;
  dhtPort?: string;
  dhtBootstrap?: readonly string[];
}

/** Adds the shared flags, with `defaultPort` for `-p`. */
export function addNetworkOptions(cmd: Command, defaultPort: string): Command {
  return cmd
    .option('-p, --port <port>', 'listen port for peers (TCP)', defaultPort)
    .option('--bind <address>', 'listen address (default: all interfaces)')
    .option('--max-down <rate>', 'download limit in bytes/s for all peers together, e.g. 5M, 500K (0 = none)')
    .option('--max-up <rate>', 'upload limit in bytes/s for all peers together, e.g. 1M (0 = none)')
    .option('--no-lsd', 'no local service discovery (BEP 14; also off with RXTORRENT_NO_LSD=1)')
    .addOption(
      new Option(
        '--encryption <policy>',
        'MSE/PE: preferred (dial encrypted, fall back to plain), required (encrypted only), tolerated (dial plain); all but required accept both',
      )
        .choices(ENCRYPTION_POLICIES)
        .default('preferred'),
    )
    .option('--no-dht', 'no DHT (BEP 5; also off with RXTORRENT_NO_DHT=1; never used for private torrents)')
    .option('--dht-port <port>', 'UDP port of the DHT node (default: the peer port)')
    .option(
      '--dht-bootstrap <host:port>',
      'join the DHT through this node (repeatable; replaces the public routers)',
      (v: string, prev: string[] = []) => [...prev, v],
    );
}

/** The engine's options from the shared flags; throws CliError (exit 2) for a bad value. */
export function engineOptions(f: NetworkFlags, extra: Partial<EngineOptions> = {}): EngineOptions {
  return {
    port: intOption(f.port, '--port', 0, 65535),
    bind: f.bind,
    downBucket: new TokenBucket(rateOption(f.maxDown, '--max-down')),
    upBucket: new TokenBucket(rateOption(f.maxUp, '--max-up')),
    lsd: f.lsd !== false,
    encryption: parseEncryptionPolicy(f.encryption ?? 'preferred'),
    dht: dhtOption(f, process.env),
    ...extra,
  };
}

/** `--no-dht`, `--dht-port`, `--dht-bootstrap` and RXTORRENT_NO_DHT: the engine's `dht` option. */
export function dhtOption(f: NetworkFlags, env: NodeJS.ProcessEnv): EngineOptions['dht'] {
  try {
    const s = dhtSettings(f, env, 0);
    if (!s.enabled) return false;
    // No --dht-port: the engine's listen port, known once it listens.
    return {
      port: f.dhtPort === undefined ? undefined : s.port,
      bootstrap: s.bootstrap,
      stateFile: s.stateFile,
      env,
    };
  } catch (err) {
    throw new CliError(`${(err as Error).message}`, 2);
  }
}

export function rateOption(v: string | undefined, name: string): number {
  if (v === undefined) return 0;
  try {
    return parseRate(v);
  } catch (err) {
    throw new CliError(`${name}: ${(err as Error).message}`, 2);
  }
}

export function intOption(v: string, name: string, min: number, max: number): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < min || n > max)
    throw new CliError(`${name} must be an integer from ${min} to ${max}, not ${JSON.stringify(v)}`, 2);
  return n;
}
