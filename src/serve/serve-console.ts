/**
 * serve's console: `list`, `info <t>`, `peers <t>`, `add <file|store name>`, `pause <t>`, `resume <t>`,
 * `remove <t> [--delete-data]`, `rate <down> <up>`, `stats`, `help`, `exit` — in the tracker console's
 * style (src/cli/command-shell.ts: Tab completion on a terminal, line by line from a pipe, end of input
 * keeps serve running). `<t>` is a name, an info-hash prefix or the number `list` shows.
 *
 * Owns: parsing the commands and formatting the answers (pure functions of the daemon's views, exported
 * for tests). Does not own: doing anything (the daemon does).
 */
import { runShell, Shell } from '../cli/command-shell';
import type { Engine } from '../actors/engine';
import { parseRate } from '../core/token-bucket';
import type { TorrentView } from '../rpc/rpc-backend';
import { formatBytes } from '../cli/progress';
import type { ServeDaemon } from './serve-daemon';
import { stateOf, torrentView } from './serve-views';

export const SERVE_COMMANDS = [
  'list',
  'info',
  'peers',
  'add',
  'pause',
  'resume',
  'remove',
  'rate',
  'stats',
  'help',
  'exit',
];

const HELP = `commands:
  list                          torrents: number, name, state, progress, rates, peers, error
  info <t>                      one torrent: size, pieces, files, trackers, state
  peers <t>                     its connected peers
  add <file|store name|magnet>  add a .torrent or a magnet link by hand (kept across restarts)
  pause <t>, resume <t>         stop or restart a torrent (remembered across restarts)
  remove <t> [--delete-data]    stop and forget it (and delete its data)
  rate <down> <up>              limits for everything, e.g. rate 5M 500K (0 = unlimited)
  stats                         engine totals
  help                          this text
  exit                          stop serve
<t> is a name, an info-hash prefix or the number list shows.
`;

export function runServeConsole(o: {
  daemon: ServeDaemon;
  engine: Engine;
  dataDir: string;
  input: NodeJS.ReadableStream;
  output: NodeJS.WritableStream;
  terminal: boolean;
  onExit: () => void;
  clock?: () => number;
}): Shell {
  const clock = o.clock ?? Date.now;
  const run = async (line: string): Promise<{ text: string; exit?: boolean }> => {
    const [cmd = '', ...rest] = line.trim().split(/\s+/);
    const args = rest.filter(Boolean);
    const pick = (): { view?: TorrentView; error?: string; entry?: ReturnType<ServeDaemon['byId']> } => {
      if (args.length === 0) return { error: `usage: ${cmd} <torrent>` };
      const f = o.daemon.find(args.filter((a) => !a.startsWith('--')).join(' '));
      return f.entry
        ? { entry: f.entry, view: torrentView(f.entry, o.dataDir, clock()) }
        : { error: f.error };
    };
    switch (cmd.toLowerCase()) {
      case '':
        return { text: '' };
      case 'help':
      case '?':
        return { text: HELP };
      case 'list':
        return { text: formatList(o.daemon.list().map((e) => torrentView(e, o.dataDir, clock()))) };
      case 'info':
      case 'peers': {
        const p = pick();
        if (!p.view) return { text: `${p.error}\n` };
        return { text: cmd === 'info' ? formatInfo(p.view) : formatPeers(p.view) };
      }
      case 'add': {
        if (args.length === 0) return { text: 'usage: add <file.torrent | name in the torrent store>\n' };
        const { entry, duplicate } = await o.daemon.add({ filename: args.join(' ') });
        return {
          text: duplicate ? `already here: ${entry.id} ${entry.name}\n` : `added ${entry.id} ${entry.name}\n`,
        };
      }
      case 'pause':
      case 'resume':
      case 'remove': {
        const p = pick();
        if (!p.entry) return { text: `${p.error}\n` };
        if (cmd === 'pause') await o.daemon.pause(p.entry);
        else if (cmd === 'resume') await o.daemon.resume(p.entry);
        else await o.daemon.remove(p.entry, { deleteData: args.includes('--delete-data') });
        const done =
          cmd === 'remove' && args.includes('--delete-data') ? 'removed (data deleted)' : `${cmd}d`;
        return { text: `${done}: ${p.entry.id} ${p.entry.name}\n` };
      }
      case 'rate': {
        if (args.length !== 2)
          return { text: 'usage: rate <down> <up> (e.g. rate 5M 500K, 0 = unlimited)\n' };
        const [d, u] = [parseRate(args[0]), parseRate(args[1])];
        await o.daemon.setGlobalLimits({ down: d, up: u });
        const say = (r: number): string => (r ? `${formatBytes(r)}/s` : 'unlimited');
        return { text: `rate limits: down ${say(d)}, up ${say(u)}\n` };
      }
      case 'stats': {
        const s = o.engine.stats();
        const views = o.daemon.list().map((e) => torrentView(e, o.dataDir, clock()));
        const sum = (f: (v: TorrentView) => number): number => views.reduce((n, v) => n + f(v), 0);
        return {
          text:
            `torrents: ${views.length} (${views.filter((v) => v.state === 'seeding').length} seeding, ${views.filter((v) => v.state === 'downloading').length} downloading, ${views.filter((v) => v.error).length} failed)\n` +
            `connections: ${s.connections}; refused: ${s.unknownInfoHash} for unknown torrents, ${s.droppedIncoming} other\n` +
            `down ${formatBytes(sum((v) => v.downRate))}/s up ${formatBytes(sum((v) => v.upRate))}/s; ` +
            `downloaded ${formatBytes(sum((v) => v.downloadedEver))}, uploaded ${formatBytes(sum((v) => v.uploadedEver))}\n`,
        };
      }
      case 'exit':
      case 'quit':
        return { text: 'stopping serve\n', exit: true };
      default:
        return { text: `unknown command: ${cmd} (try help)\n` };
    }
  };
  const complete = (line: string): [string[], string] => {
    const m = /^(\s*)(\S*)(\s+)(.*)$/.exec(line);
    if (!m) {
      const word = line.trim();
      return [SERVE_COMMANDS.filter((c) => c.startsWith(word)).map((c) => `${c} `), word];
    }
    const [, , cmd, , arg] = m;
    if (!['info', 'peers', 'pause', 'resume', 'remove'].includes(cmd)) return [[], arg];
    return [
      o.daemon
        .list()
        .map((e) => e.name)
        .filter((n) => n.startsWith(arg))
        .sort(),
      arg,
    ];
  };
  return runShell({ input: o.input, output: o.output, terminal: o.terminal, prompt: 'serve> ', run, complete, onExit: o.onExit }); // prettier-ignore
}

function table(rows: string[][]): string {
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)));
  return rows.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]))).join('  ').trimEnd()).join('\n') + '\n'; // prettier-ignore
}

const STATE_WORDS: Record<TorrentView['state'], string> = {
  stopped: 'paused',
  'check-queued': 'queued',
  checking: 'checking',
  'download-queued': 'queued',
  downloading: 'downloading',
  'seed-queued': 'queued',
  seeding: 'seeding',
};

function stateWord(v: TorrentView): string {
  if (v.error) return 'error';
  if ((v.metadataPercentComplete ?? 1) < 1) return 'metadata';
  return STATE_WORDS[v.state];
}

function percent(v: TorrentView): string {
  return v.totalSize > 0 ? `${((v.haveValid / v.totalSize) * 100).toFixed(1)}%` : '-';
}

export function formatList(views: TorrentView[]): string {
  if (views.length === 0) return 'no torrents (publish one to the torrent store, or: add <file.torrent>)\n';
  const rows = [['ID', 'NAME', 'STATE', 'DONE', 'DOWN', 'UP', 'PEERS', 'ERROR']];
  for (const v of views)
    rows.push([
      String(v.id),
      v.name,
      stateWord(v),
      percent(v),
      `${formatBytes(v.downRate)}/s`,
      `${formatBytes(v.upRate)}/s`,
      String(v.peers.length),
      v.error?.message ?? '',
    ]);
  return table(rows);
}

export function formatInfo(v: TorrentView): string {
  const lines = [
    `id:         ${v.id}`,
    `name:       ${v.name}`,
    `info-hash:  ${v.infoHash}`,
    `state:      ${stateWord(v)}${v.error ? ` (${v.error.message})` : ''}`,
    `size:       ${formatBytes(v.totalSize)} in ${v.pieceCount} pieces of ${formatBytes(v.pieceSize)}`,
    `have:       ${percent(v)}; downloaded ${formatBytes(v.downloadedEver)}, uploaded ${formatBytes(v.uploadedEver)}`,
    `data:       ${v.downloadDir}`,
    `origin:     ${v.origin === 'manual' ? 'added by hand' : 'torrent store'}`,
  ];
  if (v.downloadLimit || v.uploadLimit)
    lines.push(`limits:     down ${v.downloadLimit ? `${formatBytes(v.downloadLimit)}/s` : '-'}, up ${v.uploadLimit ? `${formatBytes(v.uploadLimit)}/s` : '-'}`); // prettier-ignore
  for (const t of v.trackers)
    lines.push(`tracker:    ${t.announce}${t.lastAnnounceResult ? ` (${t.lastAnnounceResult})` : ''}`);
  for (const f of v.files)
    lines.push(`file:       ${f.path} (${formatBytes(f.length)}, ${formatBytes(f.bytesCompleted)} here)`);
  return lines.join('\n') + '\n';
}

export function formatPeers(v: TorrentView): string {
  if (v.peers.length === 0) return `${v.name}: no peers connected\n`;
  const rows = [['ADDRESS', 'CLIENT', 'HAS', 'DOWN', 'UP', 'FROM']];
  for (const p of v.peers)
    rows.push([
      p.ip.includes(':') ? `[${p.ip}]:${p.port}` : `${p.ip}:${p.port}`,
      p.client,
      `${(p.progress * 100).toFixed(0)}%`,
      `${formatBytes(p.downRate)}/s`,
      `${formatBytes(p.upRate)}/s`,
      `${p.source ?? ''}${p.incoming ? ' (in)' : ''}`,
    ]);
  return table(rows);
}

export { stateOf };
