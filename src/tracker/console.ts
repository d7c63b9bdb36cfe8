/**
 * The tracker console: `list`, `details`, `info <torrent>`, `peers <torrent>`, `stats`, `help`, `exit`.
 *
 * Owns: the commands and formatting the answers; reading them (prompt and Tab completion on a terminal,
 * line by line from a pipe, one at a time in order) is the shared shell's (src/cli/command-shell.ts).
 * Reads swarms
 * only through the `TrackerRegistry` queries (in process or on Redis) and metadata only through the
 * catalog; it never touches the servers. Does not own: stopping the tracker (`exit` calls `onExit`).
 * The formatters are pure functions of plain data, exported for tests.
 *
 * @example
 *   const c = runConsole({ input: process.stdin, output: process.stdout, terminal: false, registry, catalog, onExit });
 *   // stdin "list\n" prints:
 *   // TORRENT     INFO-HASH     SEEDERS  LEECHERS  COMPLETED
 *   // movie.mp4   3f1c0a9b2d4e  1        1         0
 */
import { runShell } from '../cli/command-shell';
import type { PeerView, RegistryStats, SwarmSummary } from '../core/swarm-registry';
import { magnetUri } from '../protocol/metainfo';
import type { TrackerRegistry } from './registry';
import { CatalogEntry, TorrentCatalog } from './torrent-catalog';

export const CONSOLE_COMMANDS = ['list', 'details', 'info', 'peers', 'stats', 'help', 'exit'] as const;

const HELP = [
  'commands:',
  '  list              torrents with seeders and leechers',
  '  details           every torrent and every peer',
  '  info <torrent>    metadata from the torrent store (name, size, pieces, files, info-hash)',
  '  peers <torrent>   peers of one torrent (address, client, progress, last seen)',
  '  stats             tracker totals',
  '  help              this text',
  '  exit              stop the tracker',
  '<torrent> is a name, a .torrent name, or an info-hash prefix.',
].join('\n');

export interface ConsoleOptions {
  input: NodeJS.ReadableStream;
  output: NodeJS.WritableStream;
  /** A TTY: prompt and tab completion. Otherwise commands are read line by line without a prompt. */
  terminal: boolean;
  registry: TrackerRegistry;
  catalog: TorrentCatalog;
  /** Called by `exit`; the caller stops the server. */
  onExit: () => void;
  clock?: () => number;
  /** Counters shown under `stats` after the registry's (the servers' HTTP and UDP counts). */
  extraStats?: () => Record<string, number> | Promise<Record<string, number>>;
}

export interface TrackerConsole {
  /** Resolves when input ends or `exit` ran (the tracker itself keeps running on end of input). */
  readonly done: Promise<'eof' | 'exit'>;
  /** Run one command line and return what it prints (also used by tests). */
  run(line: string): Promise<string>;
  /**
   * Draw the prompt and the text typed so far again, after another printer (the `-v` event lines)
   * cleared the line to print above it. Nothing while a command runs or off a terminal.
   */
  redraw(): void;
  close(): void;
}

export function runConsole(opts: ConsoleOptions): TrackerConsole {
  const clock = opts.clock ?? Date.now;
  const registry = opts.registry;
  // Tracked info-hashes as of the last command, for tab completion (which cannot wait for Redis).
  let tracked: string[] = [];
  const swarms = async (): Promise<SwarmSummary[]> => {
    const list = await registry.swarms();
    tracked = list.map((s) => s.infoHash);
    return list;
  };
  let exited = false;

  const refresh = async (): Promise<string> => {
    try {
      await opts.catalog.refresh();
      return '';
    } catch (err) {
      return `warning: cannot read the torrent store: ${(err as Error).message}\n`;
    }
  };

  const run = async (line: string): Promise<string> => {
    const [cmd = '', ...rest] = line.trim().split(/\s+/);
    const arg = rest.join(' ');
    const now = clock();
    switch (cmd.toLowerCase()) {
      case '':
        return '';
      case 'help':
      case '?':
        return HELP + '\n';
      case 'list':
        return (await refresh()) + formatList(await swarms(), opts.catalog);
      case 'details': {
        const warn = await refresh();
        const list = await swarms();
        const peers = await Promise.all(list.map((s) => registry.peers(s.infoHash)));
        return warn + formatDetails(list, peers, opts.catalog, now);
      }
      case 'info':
      case 'peers': {
        if (!arg) return `usage: ${cmd} <torrent>\n`;
        const warn = await refresh();
        const list = await swarms();
        const r = opts.catalog.resolve(arg, tracked);
        if (r.kind === 'none') return `${warn}no torrent matches ${JSON.stringify(arg)}\n`;
        if (r.kind === 'ambiguous')
          return `${warn}${JSON.stringify(arg)} is ambiguous: ${r.candidates.join(', ')}\n`;
        const swarm = list.find((s) => s.infoHash === r.infoHash);
        if (cmd === 'info') return warn + formatInfo(r.infoHash, r.entry, swarm);
        return warn + formatPeers(r.infoHash, r.entry, swarm, (await registry.peers(r.infoHash)) ?? [], now);
      }
      case 'stats':
        return formatStats(await registry.stats(), await opts.extraStats?.());
      case 'exit':
      case 'quit':
        exited = true;
        return 'stopping tracker\n';
      default:
        return `unknown command: ${cmd} (try help)\n`;
    }
  };

  const shell = runShell({
    input: opts.input,
    output: opts.output,
    terminal: opts.terminal,
    prompt: 'tracker> ',
    run: async (line) => ({ text: await run(line), exit: exited }),
    complete: (line) => complete(line, opts.catalog, tracked),
    onExit: opts.onExit,
  });
  return { done: shell.done, run, redraw: shell.redraw, close: shell.close };
}

/** Commands, then torrent names (and tracked info-hash prefixes) after `info` / `peers`. */
export function complete(
  line: string,
  catalog: TorrentCatalog,
  tracked: readonly string[],
): [string[], string] {
  const m = /^(\s*)(\S*)(\s+)(.*)$/.exec(line);
  if (!m) {
    const word = line.trim();
    const hits = CONSOLE_COMMANDS.filter((c) => c.startsWith(word)).map((c) => c + ' ');
    return [hits, word];
  }
  const [, , cmd, , arg] = m;
  if (cmd !== 'info' && cmd !== 'peers') return [[], arg];
  const names = [...catalog.names(), ...tracked.filter((h) => !catalog.byHash(h)).map((h) => h.slice(0, 12))];
  return [[...new Set(names)].filter((n) => n.startsWith(arg)).sort(), arg];
}

// ---- formatting ----

function table(rows: string[][]): string {
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)));
  return (
    rows
      .map((r) =>
        r
          .map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i])))
          .join('  ')
          .trimEnd(),
      )
      .join('\n') + '\n'
  );
}

export function humanBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  const units = ['KiB', 'MiB', 'GiB', 'TiB'];
  let v = n / 1024;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return `${v < 10 ? v.toFixed(2) : v < 100 ? v.toFixed(1) : v.toFixed(0)} ${units[u]}`;
}

function nameOf(hash: string, catalog: TorrentCatalog): string {
  return catalog.byHash(hash)?.meta.name ?? '(not in store)';
}

/** Every tracked swarm plus every stored torrent, with seeders and leechers. */
export function formatList(swarms: readonly SwarmSummary[], catalog: TorrentCatalog): string {
  const byHash = new Map(swarms.map((s) => [s.infoHash, s]));
  const hashes = new Set<string>([...byHash.keys(), ...catalog.entries().map((e) => e.meta.infoHashHex)]);
  if (hashes.size === 0) return 'no torrents tracked\n';
  const rows = [['TORRENT', 'INFO-HASH', 'SEEDERS', 'LEECHERS', 'COMPLETED']];
  const sorted = [...hashes].sort(
    (a, b) => nameOf(a, catalog).localeCompare(nameOf(b, catalog)) || a.localeCompare(b),
  );
  for (const h of sorted) {
    const s = byHash.get(h);
    rows.push([
      nameOf(h, catalog),
      h.slice(0, 12),
      String(s?.seeders ?? 0),
      String(s?.leechers ?? 0),
      String(s?.completed ?? 0),
    ]);
  }
  return table(rows);
}

/** Every swarm with its peers (`peers[i]` belongs to `swarms[i]`). */
export function formatDetails(
  swarms: readonly SwarmSummary[],
  peers: readonly (PeerView[] | undefined)[],
  catalog: TorrentCatalog,
  now: number,
): string {
  if (swarms.length === 0) return 'no torrents tracked\n';
  return swarms
    .map((s, i) => {
      const entry = catalog.byHash(s.infoHash);
      const head = `${entry?.meta.name ?? '(not in store)'}  ${s.infoHash}  seeders ${s.seeders}  leechers ${s.leechers}  completed ${s.completed}\n`;
      const list = peers[i] ?? [];
      return head + (list.length === 0 ? '  no peers\n' : indent(peerTable(list, entry, now)));
    })
    .join('');
}

function indent(text: string): string {
  return text
    .split('\n')
    .map((l) => (l ? `  ${l}` : l))
    .join('\n');
}

export function formatPeers(
  hash: string,
  entry: CatalogEntry | undefined,
  swarm: SwarmSummary | undefined,
  peers: readonly PeerView[],
  now: number,
): string {
  const title = `${entry?.meta.name ?? '(not in store)'}  ${hash}`;
  if (!swarm || peers.length === 0) return `${title}\nno peers\n`;
  return `${title}  seeders ${swarm.seeders}  leechers ${swarm.leechers}\n${peerTable(peers, entry, now)}`;
}

function peerTable(peers: readonly PeerView[], entry: CatalogEntry | undefined, now: number): string {
  const rows = [['ADDRESS', 'CLIENT', 'PROGRESS', 'UPLOADED', 'DOWNLOADED', 'LAST SEEN']];
  for (const p of peers) {
    rows.push([
      p.ip.includes(':') ? `[${p.ip}]:${p.port}` : `${p.ip}:${p.port}`,
      describeClient(p.id),
      progress(p.left, entry?.meta.length),
      humanBytes(p.uploaded),
      humanBytes(p.downloaded),
      `${Math.max(0, Math.round((now - p.lastSeen) / 1000))}s ago`,
    ]);
  }
  return table(rows);
}

function progress(left: number | undefined, total: number | undefined): string {
  if (left === undefined) return '?';
  if (left === 0) return '100% (seed)';
  if (total && total > 0 && left <= total)
    return `${(Math.floor(((total - left) / total) * 1000) / 10).toFixed(1)}%`;
  return `${humanBytes(left)} left`;
}

export function formatInfo(
  hash: string,
  entry: CatalogEntry | undefined,
  swarm: SwarmSummary | undefined,
): string {
  const tracked = `tracker:    ${swarm?.seeders ?? 0} seeders, ${swarm?.leechers ?? 0} leechers, ${swarm?.completed ?? 0} completed\n`;
  if (!entry) return `info-hash:  ${hash}\nnot in the torrent store: no metadata\n${tracked}`;
  const m = entry.meta;
  const lines = [
    `name:       ${m.name}`,
    `file:       ${entry.fileName}`,
    `info-hash:  ${m.infoHashHex}`,
    `size:       ${humanBytes(m.length)} (${m.length} bytes)`,
    `pieces:     ${m.pieceCount} × ${humanBytes(m.pieceLength)}`,
  ];
  if (m.announceList.length > 0) lines.push(`trackers:   ${m.announceList.flat().join(', ')}`);
  if (m.private) lines.push('private:    yes (BEP 27)');
  if (m.comment) lines.push(`comment:    ${m.comment}`);
  if (m.createdBy) lines.push(`created by: ${m.createdBy}`);
  if (m.creationDate) lines.push(`created:    ${m.creationDate.toISOString()}`);
  lines.push(`files:      ${m.files.length}`);
  for (const f of m.files) lines.push(`  ${f.path.join('/')}  ${humanBytes(f.length)}`);
  lines.push(`magnet:     ${magnetUri(m)}`);
  return lines.join('\n') + '\n' + tracked;
}

/** Registry totals, then the front ends' own counters (`http announces`, `udp connects`, ...). */
export function formatStats(s: RegistryStats, extra: Record<string, number> = {}): string {
  return table([
    ['torrents', String(s.torrents)],
    ['peers', String(s.peers)],
    ['seeders', String(s.seeders)],
    ['leechers', String(s.leechers)],
    ['completed', String(s.completed)],
    ['announces', String(s.announces)],
    ...Object.entries(extra).map(([k, v]) => [k, String(v)]),
    ['uptime', `${s.uptime}s`],
  ]);
}

const AZUREUS: Record<string, string> = {
  LT: 'libtorrent',
  lt: 'rTorrent/libtorrent',
  qB: 'qBittorrent',
  TR: 'Transmission',
  UT: 'µTorrent',
  UM: 'µTorrent Mac',
  DE: 'Deluge',
  AZ: 'Vuze',
  BT: 'BitTorrent',
  WW: 'WebTorrent',
  WD: 'WebTorrent Desktop',
  KT: 'KTorrent',
  BC: 'BitComet',
  RX: 'rxtorrent',
  FD: 'Free Download Manager',
};

/** A readable client name from a peer id (`-LT2080-…` → `libtorrent 2.0.8`, `A2-1-36-0-…` → `aria2 1.36.0`). */
export function describeClient(id: string): string {
  const az = /^-([A-Za-z~]{2})([0-9A-Za-z]{4})-/.exec(id);
  if (az) {
    const name = AZUREUS[az[1]] ?? az[1];
    const digits = [...az[2]].map((c) => parseInt(c, 36));
    while (digits.length > 2 && digits[digits.length - 1] === 0) digits.pop();
    return `${name} ${digits.join('.')}`;
  }
  const a2 = /^A2-(\d+)-(\d+)-(\d+)-/.exec(id);
  if (a2) return `aria2 ${a2[1]}.${a2[2]}.${a2[3]}`;
  let printable = '';
  for (const c of id.slice(0, 8)) {
    if (c < '!' || c > '~') break;
    printable += c;
  }
  return printable || 'unknown';
}
