/**
 * The user's rxtorrent config file, `$XDG_CONFIG_HOME/rxtorrent/config.json` (default
 * `~/.config/rxtorrent/config.json`), where `rxtorrent dropbox login` keeps the Dropbox refresh token.
 *
 * Owns: reading it, writing it atomically with mode 0600 in a 0700 folder, removing one section, and
 * noticing when someone else can read it. Does not own: what the credentials mean (dropbox-auth.ts).
 * Never prints or logs a value from the file.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

export interface DropboxConfig {
  appKey: string;
  refreshToken: string;
  /** Only for apps that are not PKCE clients; normally absent. */
  appSecret?: string;
  savedAt?: string;
}

export interface RxtorrentConfig {
  dropbox?: DropboxConfig;
  [section: string]: unknown;
}

export function configFilePath(env: NodeJS.ProcessEnv = process.env): string {
  const base = env.XDG_CONFIG_HOME || path.join(env.HOME || os.homedir(), '.config');
  return path.join(base, 'rxtorrent', 'config.json');
}

export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ConfigError';
  }
}

export interface LoadedConfig {
  config: RxtorrentConfig;
  /** Things the user should fix (e.g. the file is readable by others); never contains a secret. */
  warnings: string[];
}

/** The parsed config, or `{}` when there is no file. Throws ConfigError for a file that is not JSON. */
export function readConfig(file: string): LoadedConfig {
  let text: string;
  let mode: number;
  try {
    mode = fs.statSync(file).mode;
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { config: {}, warnings: [] };
    throw new ConfigError(`cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? 'error'}`);
  }
  const warnings: string[] = [];
  if (process.platform !== 'win32' && (mode & 0o077) !== 0) {
    warnings.push(
      `${file} is readable by other users (mode ${(mode & 0o777).toString(8)}); run: chmod 600 ${file}`,
    );
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    // Not the parser's message: it may quote part of the file, and the file holds a token.
    throw new ConfigError(
      `${file} is not valid JSON; fix it or remove it and run \`rxtorrent dropbox login\``,
    );
  }
  if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed)) {
    throw new ConfigError(`${file} must hold a JSON object`);
  }
  const config = parsed as RxtorrentConfig;
  const d = config.dropbox;
  if (
    d !== undefined &&
    (typeof d !== 'object' || typeof d.appKey !== 'string' || typeof d.refreshToken !== 'string')
  ) {
    throw new ConfigError(
      `${file}: the "dropbox" section needs "appKey" and "refreshToken"; run \`rxtorrent dropbox login\``,
    );
  }
  return { config, warnings };
}

/** Write the whole config: a 0700 folder, a 0600 temp file, then rename over the old one. */
export function writeConfig(file: string, config: RxtorrentConfig): void {
  const dir = path.dirname(file);
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  const tmp = `${file}.${process.pid}.${Date.now()}.tmp`;
  try {
    const fd = fs.openSync(tmp, 'wx', 0o600);
    try {
      fs.fchmodSync(fd, 0o600); // the umask cannot widen it, but be explicit
      fs.writeSync(fd, JSON.stringify(config, null, 2) + '\n');
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
    fs.renameSync(tmp, file);
  } catch (err) {
    fs.rmSync(tmp, { force: true });
    throw new ConfigError(`cannot write ${file}: ${(err as NodeJS.ErrnoException).code ?? 'error'}`);
  }
}

/** Drop one section; remove the file when nothing is left. Returns whether the section was there. */
export function removeConfigSection(file: string, section: string): boolean {
  const { config } = readConfig(file);
  if (!(section in config)) return false;
  delete config[section];
  if (Object.keys(config).length === 0) fs.rmSync(file, { force: true });
  else writeConfig(file, config);
  return true;
}
