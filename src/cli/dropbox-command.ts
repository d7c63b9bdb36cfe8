/**
 * `rxtorrent dropbox login` and `rxtorrent dropbox logout`.
 *
 * login: OAuth 2 with PKCE and `token_access_type=offline` (no app secret, no redirect server): print
 * the authorise URL, read the code the user pastes, trade it for a refresh token and save it with the
 * app key in the config file (mode 0600). logout: remove it from the config file and ask Dropbox to
 * revoke it (best effort). Neither ever prints a token.
 */
import { Command } from 'commander';
import * as readline from 'node:readline';
import {
  ConfigError,
  configFilePath,
  readConfig,
  removeConfigSection,
  writeConfig,
} from '../store/config-file';
import {
  DROPBOX_SCOPES,
  DropboxAuthError,
  emulatorBaseUrl,
  finishPkceLogin,
  makeDropboxClient,
  makeDropboxFetch,
  startPkceLogin,
} from '../store/dropbox-auth';
import { CliContext, CliError } from './context';

const APP_HELP =
  'create a "Scoped access" app at https://www.dropbox.com/developers/apps, enable ' +
  `${DROPBOX_SCOPES.join(', ')} on its Permissions tab, and pass its app key with --app-key (or DROPBOX_APP_KEY)`;

export function dropboxCommand(context: () => CliContext): Command {
  const cmd = new Command('dropbox').description('connect the torrent store to Dropbox');
  cmd
    .command('login')
    .description('authorise rxtorrent with Dropbox (OAuth 2 PKCE) and save a refresh token')
    .option('--app-key <key>', 'the Dropbox app key (default: DROPBOX_APP_KEY, or the saved one)')
    .action(async (opts: { appKey?: string }) => runLogin(context(), opts))
    .exitOverride();
  cmd
    .command('logout')
    .description('forget the saved refresh token (and revoke it at Dropbox)')
    .action(async () => runLogout(context()))
    .exitOverride();
  return cmd;
}

function wrap<T>(f: () => T): T {
  try {
    return f();
  } catch (err) {
    if (err instanceof ConfigError || err instanceof DropboxAuthError) throw new CliError(err.message);
    throw err;
  }
}

async function runLogin(ctx: CliContext, opts: { appKey?: string }): Promise<void> {
  const file = configFilePath(ctx.env);
  const { config, warnings } = wrap(() => readConfig(file));
  warnings.forEach((w) => ctx.stderr.write(`warning: ${w}\n`));
  const appKey = opts.appKey?.trim() || ctx.env.DROPBOX_APP_KEY?.trim() || config.dropbox?.appKey;
  if (!appKey) throw new CliError(`dropbox login needs an app key: ${APP_HELP}`, 2);
  const fetchImpl = makeDropboxFetch({ baseUrl: wrap(() => emulatorBaseUrl(ctx.env)) });
  const { url, auth } = await startPkceLogin(appKey, fetchImpl);
  ctx.stdout.write(
    `1. Open this URL in a browser, sign in to Dropbox and allow access:\n\n   ${url}\n\n` +
      `2. Paste the code Dropbox shows you here: `,
  );
  const code = await readLine(process.stdin);
  if (!code) throw new CliError('no code entered; login cancelled');
  const result = await finishPkceLogin(auth, code).catch((err: unknown) => {
    throw new CliError(`${(err as Error).message}; run \`rxtorrent dropbox login\` again for a fresh code`);
  });
  wrap(() =>
    writeConfig(file, {
      ...config,
      dropbox: { appKey, refreshToken: result.refreshToken, savedAt: new Date().toISOString() },
    }),
  );
  ctx.log.emit({ category: 'store', type: 'DropboxLoggedIn', configFile: file });
  ctx.stdout.write(`\nlogged in to Dropbox; the refresh token is saved in ${file} (readable only by you)\n`);
  const missing = result.scopes.length ? DROPBOX_SCOPES.filter((s) => !result.scopes.includes(s)) : [];
  if (missing.length) {
    ctx.stderr.write(
      `warning: the app lacks ${missing.join(', ')}: enable them on its Permissions tab in the App Console, then log in again\n`,
    );
  }
  if (ctx.env.DROPBOX_REFRESH_TOKEN || ctx.env.DROPBOX_ACCESS_TOKEN) {
    ctx.stderr.write(
      'note: DROPBOX_REFRESH_TOKEN / DROPBOX_ACCESS_TOKEN in the environment take precedence over the saved login\n',
    );
  }
}

async function runLogout(ctx: CliContext): Promise<void> {
  const file = configFilePath(ctx.env);
  const { config } = wrap(() => readConfig(file));
  const saved = config.dropbox;
  if (!saved) {
    ctx.stdout.write(`not logged in (no Dropbox section in ${file})\n`);
    return;
  }
  // Revoke first, while we still have the token; forget it locally whatever Dropbox says.
  let revoked = false;
  try {
    const client = makeDropboxClient(
      {
        kind: 'refresh',
        appKey: saved.appKey,
        appSecret: saved.appSecret,
        refreshToken: saved.refreshToken,
        source: file,
      },
      makeDropboxFetch({ baseUrl: emulatorBaseUrl(ctx.env), timeoutMs: 15_000 }),
    );
    await client.dbx.authTokenRevoke();
    revoked = true;
  } catch {
    revoked = false;
  }
  wrap(() => removeConfigSection(file, 'dropbox'));
  ctx.log.emit({ category: 'store', type: 'DropboxLoggedOut', revoked });
  ctx.stdout.write(
    `logged out: removed the Dropbox refresh token from ${file}` +
      (revoked
        ? ' and revoked it at Dropbox\n'
        : ' (Dropbox could not be reached to revoke it; remove the app under Settings → Connected apps)\n'),
  );
}

/** One line from stdin (the pasted code), or '' when input ends first. */
function readLine(input: NodeJS.ReadableStream): Promise<string> {
  return new Promise((resolve) => {
    const rl = readline.createInterface({ input, terminal: false });
    let done = false;
    rl.once('line', (line) => {
      done = true;
      rl.close();
      resolve(line.trim());
    });
    rl.once('close', () => {
      if (!done) resolve('');
    });
  });
}
