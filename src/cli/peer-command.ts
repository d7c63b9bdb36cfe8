/**
 * `rxtorrent seed` and `rxtorrent leech`: run a torrent session, show progress, stop cleanly.
 *
 * Printing: on a terminal the progress line is the live line (src/cli/live-line.ts); every message
 * (tracker and swarm notices, `rate` replies, `-v` events, the completion line) goes through it, so it
 * lands on its own line above the progress line instead of on it.
 *
 * Stopping: Enter (a line on stdin), Ctrl-C or SIGTERM send the `stopped` announce, close sockets and
 * flush data. End of input on stdin (`</dev/null`, nohup, a service) does not stop it.
 */
import { Command, Option } from 'commander';
import type { Observable } from 'rxjs/internal/Observable';
import * as path from 'node:path';
import * as readline from 'node:readline';
import { Engine } from '../actors/engine';
import { lsdDisabled } from '../actors/lsd';
import { Torrent, TorrentStats } from '../actors/torrent';
import { parseRate } from '../core/token-bucket';
import { isMagnet } from '../protocol/magnet';
import { normalizeTrackerUrl } from '../protocol/tracker-url';
import { PeerAddress } from '../protocol/tracker-codec';
import { EventInput } from '../events/engine-event';
import { StorageError } from '../storage/piece-storage';
import { CliContext, CliError } from './context';
import { NetworkFlags, addNetworkOptions, engineOptions, intOption } from './network-options';
import { LiveLine } from './live-line';
import { LoadedTorrent, loadTorrent } from './load-torrent';
import { forTorrent, leechMagnet, magnetArgument } from './magnet-leech';
import { formatBytes, progress } from './progress';

interface PeerOptions extends NetworkFlags {
  file: string;
  tracker: string[];
  dir: string;
  peer: string[];
  exitOnDone?: boolean;
  maxPeers: string;
  uploadSlots: string;
  progressInterval: string;
  minAnnounceInterval: string;
  verify?: boolean;
  /** False with `--no-publish` (leech of a magnet link). */
  publish?: boolean;
}

const collect = (v: string, prev: string[]): string[] => [...prev, v];

export function seedCommand(context: () => CliContext): Command {
  return peerCommand('seed', 'share a complete file or folder with peers', context);
}

export function leechCommand(context: () => CliContext): Command {
  return peerCommand('leech', 'download from peers, verify every piece, then keep seeding', context)
    .option('--exit-on-done', 'quit once the download is complete instead of seeding')
    .option('--no-publish', 'with a magnet link: do not save the fetched .torrent to the torrent store');
}

function peerCommand(mode: 'seed' | 'leech', description: string, context: () => CliContext): Command {
  const cmd = new Command(mode)
    .description(description)
    .requiredOption(
      '-f, --file <torrent>',
      mode === 'leech'
        ? ".torrent path, name in the torrent store, or 'magnet:?xt=urn:btih:…'"
        : '.torrent path or name in the torrent store',
    );
  return addNetworkOptions(cmd, '6881')
    .option(
      '-t, --tracker <addr>',
      "tracker: host, host:port or URL (repeatable; added before the torrent's own)",
      collect,
      [],
    )
    .option('-o, --dir <folder>', "data folder (the torrent's file or folder lives inside it)", '.')
    .option('--peer <host:port>', 'also connect to this peer directly (repeatable)', collect, [])
    .option('--max-peers <n>', 'most connections', '60')
    .option('--upload-slots <n>', 'peers unchoked at once', '8')
    .option('--verify', 'hash every piece before starting, whatever the resume data says')
    .addOption(
      new Option(
        '--progress-interval <seconds>',
        'seconds between plain progress lines when not on a terminal',
      ).default('5'),
    )
    .addOption(
      new Option(
        '--min-announce-interval <seconds>',
        'lowest announce interval taken from the tracker; tracker retries back off from half of it (for testing / LANs)',
      ).default('30'),
    )
    .addHelpText(
      'after',
      `\nExample:\n  rxtorrent ${mode} -f movie.mp4.torrent -p ${mode === 'seed' ? 6000 : 6001} -t 192.168.1.100\n` +
        (mode === 'leech'
          ? "  rxtorrent leech -f 'magnet:?xt=urn:btih:<info-hash>&dn=movie.mp4&tr=http://192.168.1.100:5000/announce'\n"
          : ''),
    )
    .action(async (opts: PeerOptions) => runPeer(context(), mode, opts));
}

async function runPeer(ctx: CliContext, mode: 'seed' | 'leech', o: PeerOptions): Promise<void> {
  const maxPeers = intOption(o.maxPeers, '--max-peers', 1, 10_000);
  const uploadSlots = intOption(o.uploadSlots, '--upload-slots', 1, 1000);
  const interval = intOption(o.progressInterval, '--progress-interval', 1, 3600);
  const minAnnounce = intOption(o.minAnnounceInterval, '--min-announce-interval', 1, 3600);
  let extraTiers: string[][];
  let peers: PeerAddress[];
  try {
    extraTiers = o.tracker.map((t) => [normalizeTrackerUrl(t)]);
    peers = o.peer.map(parsePeer);
  } catch (err) {
    throw new CliError((err as Error).message, 2);
  }
  // One engine with one torrent: the same engine `serve` runs with many (flags checked before any reading).
  const engineOpts = engineOptions(o, { maxConnections: maxPeers + 10 });
  const link = isMagnet(o.file) ? magnetArgument(o.file, mode) : undefined;
  const loaded = link ? undefined : await loadTorrent(ctx, o.file);
  const trackers = [...extraTiers, ...(loaded?.meta.announceList ?? [])].filter((t) =>
    t.some((u) => /^(https?|udp):/i.test(u)),
  );
  const lsd = engineOpts.lsd !== false && !lsdDisabled(ctx.env);
  const dht = engineOpts.dht !== false && !loaded?.meta.private;
  if (
    trackers.length + peers.length + (link ? link.trackers.length + link.peers.length : 0) === 0 &&
    !lsd &&
    !dht
  ) {
    throw new CliError(
      'no tracker: give -t HOST (or --peer HOST:PORT), create the torrent with -t, or leave local discovery and the DHT on (--no-lsd / RXTORRENT_NO_LSD, --no-dht / RXTORRENT_NO_DHT turn them off; private torrents use neither)',
      2,
    );
  }
  const { port } = engineOpts;
  const engine = new Engine(engineOpts);
  const { downBucket, upBucket } = engine;
  const live = ctx.live;
  const detach = ctx.log.attach(engine.events$);
  // State changes worth a line even without -v (each is said once per change, never per retry).
  engine.events$.subscribe((e) => {
    const text = notice(e);
    if (text) live.print(text);
  });
  const started = Date.now();
  const torrentOpts = {
    dir: path.resolve(o.dir),
    trackers,
    peers,
    maxPeers,
    uploadSlots,
    verify: o.verify === true,
    minAnnounceIntervalMs: minAnnounce * 1000,
  };
  const controls = watchInput(ctx, downBucket, upBucket);
  let session: Torrent | undefined;
  try {
    await engine.start();
    if (link) {
      session = await leechMagnet(ctx, engine, link, torrentOpts, {
        publish: o.publish !== false,
        intervalMs: interval * 1000,
        stopped: controls.stopped,
        onMetadata: (hex, pieces) => showCheck(engine.events$.pipe(forTorrent(hex)), pieces, live),
      });
    } else {
      const meta = (loaded as LoadedTorrent).meta;
      session = engine.add({ ...torrentOpts, meta, mode, trackers });
      showCheck(session.events$, meta.pieceCount, live);
      await session.start();
    }
  } catch (err) {
    controls.close();
    detach();
    await engine.stop().catch(() => undefined);
    if (err instanceof StorageError) throw new CliError(err.message);
    if ((err as NodeJS.ErrnoException).code === 'EADDRINUSE')
      throw new CliError(`port ${port} is already in use: choose another with -p`);
    throw err;
  }
  if (!session) {
    controls.close();
    await engine.stop();
    detach();
    live.print('stopped before the metadata arrived', 'stdout');
    process.stdin.destroy();
    return;
  }
  const meta = session.meta;
  const tty = live.enabled;
  const s0 = session.stats();
  live.print(
    `${mode === 'seed' ? 'seeding' : 'leeching'} ${meta.name} (${formatBytes(meta.length)}, ${meta.pieceCount} pieces) on port ${engine.port}` +
      `${s0.have > 0 && mode === 'leech' ? `, ${s0.have} pieces already here` : ''}; press Enter or Ctrl-C to stop`,
    'stdout',
  );

  const torrent = session;
  const line = (): string => {
    const s = torrent.stats();
    const pct = ((s.bytesHave / meta.length) * 100).toFixed(1);
    const eta = s.complete
      ? ''
      : s.downRate > 0
        ? ` ETA ${formatEta((meta.length - s.bytesHave) / s.downRate)}`
        : '';
    return `${pct}% ${s.have}/${s.pieces} pieces, down ${formatBytes(s.downRate)}/s up ${formatBytes(s.upRate)}/s, ${s.peers} peers${eta}`;
  };
  if (tty) live.show(line());
  const render = setInterval(
    () => {
      if (tty) live.show(line());
      else live.print(`progress ${line()}`);
    },
    tty ? 500 : interval * 1000,
  );
  render.unref();

  let fatal: Error | null = null;
  torrent.onFatal((err) => {
    fatal = err;
    controls.stop();
  });
  void torrent.whenComplete().then(() => {
    if (mode !== 'leech') return;
    live.print(
      `${completionLine(meta.name, torrent.stats(), started, Date.now())}${o.exitOnDone ? '' : '; seeding, press Enter or Ctrl-C to stop'}`,
      'stdout',
    );
    if (o.exitOnDone) return controls.stop();
    if (tty) live.show(line());
  });
  await controls.stopped;
  controls.close();
  clearInterval(render);
  live.hide();
  await engine.stop();
  detach();
  const s = torrent.stats();
  live.print(
    `stopped: ${s.have}/${s.pieces} pieces, downloaded ${formatBytes(s.downloaded)}, uploaded ${formatBytes(s.uploaded)}`,
    'stdout',
  );
  process.stdin.destroy();
  if (fatal) throw new CliError((fatal as Error).message);
}

/**
 * Stop requests and commands from the user while a torrent runs: Enter (an empty line), `stop`, Ctrl-C or
 * SIGTERM settle `stopped`; `rate <down> <up>` changes the limits. End of input is not a stop request (a
 * service or nohup has no stdin): only a line is.
 */
function watchInput(
  ctx: CliContext,
  downBucket: Engine['downBucket'],
  upBucket: Engine['upBucket'],
): { stopped: Promise<void>; stop: () => void; close: () => void } {
  const live = ctx.live;
  let stop: () => void = () => undefined;
  const stopped = new Promise<void>((resolve) => (stop = resolve));
  const rl = readline.createInterface({ input: process.stdin, terminal: false });
  rl.on('line', (text) => {
    const words = text.trim().split(/\s+/).filter(Boolean);
    if (words.length === 0 || ['stop', 'quit', 'exit'].includes(words[0])) return stop();
    if (words[0] === 'rate' && words.length === 3) {
      try {
        const [d, u] = [parseRate(words[1]), parseRate(words[2])];
        downBucket.setRate(d, Date.now());
        upBucket.setRate(u, Date.now());
        ctx.log.emit({ category: 'engine', type: 'RateLimitsChanged', maxDown: d, maxUp: u });
        live.print(
          `rate limits: down ${d ? `${formatBytes(d)}/s` : 'unlimited'}, up ${u ? `${formatBytes(u)}/s` : 'unlimited'}`,
          'stdout',
        );
      } catch (err) {
        live.print((err as Error).message);
      }
      return;
    }
    live.print('commands: rate <down> <up> (e.g. rate 5M 500K, 0 = unlimited); an empty line (Enter) stops');
  });
  const onSignal = (): void => stop();
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  return {
    stopped,
    stop: () => stop(),
    close: () => {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
      rl.close();
    },
  };
}

/** The start-up check: a redrawn line on a TTY, one final line otherwise (only when something was hashed). */
function showCheck(events$: Observable<EventInput>, pieces: number, live: LiveLine): void {
  const bar = progress(live);
  let total = 0;
  const sub = events$.subscribe((e) => {
    if (e.type === 'CheckProgress') {
      total = Number(e.pieces);
      bar.update(Number(e.done), total, `checking ${Number(e.done)}/${total} pieces`);
    } else if (e.type === 'PiecesChecked') {
      bar.finish(
        `checked ${String(e.checked)} pieces in ${(Number(e.ms) / 1000).toFixed(1)} s: ${String(e.have)}/${pieces} pieces here`,
      );
    } else if (e.type === 'CheckFinished') sub.unsubscribe();
  });
}

/**
 * The leecher's completion line: time and rate from the first byte received (waiting for a seeder or
 * the tracker is not transfer time), and the total time since start apart.
 *
 * @example
 *   completionLine('movie.mp4', { downloaded: 40 * 2 ** 20, firstByteAt: 10_800, ... }, 0, 15_800)
 *   // 'download complete: movie.mp4, 40.0 MiB in 5.0 s at 8.0 MiB/s from the first byte (15.8 s in all)'
 */
export function completionLine(
  name: string,
  s: Pick<TorrentStats, 'downloaded' | 'firstByteAt'>,
  started: number,
  now: number,
): string {
  const all = `${((now - started) / 1000).toFixed(1)} s in all`;
  if (s.firstByteAt === undefined || s.downloaded === 0)
    return `download complete: ${name} (nothing to download, ${all})`;
  const secs = Math.max(0.001, (now - s.firstByteAt) / 1000);
  return `download complete: ${name}, ${formatBytes(s.downloaded)} in ${secs.toFixed(1)} s at ${formatBytes(s.downloaded / secs)}/s from the first byte (${all})`;
}

/** A line for the user when the tracker or the swarm changes state; undefined for everything else. */
function notice(e: EventInput): string | undefined {
  switch (e.type) {
    case 'TrackerFailed':
      return `tracker unreachable (${String(e.message)}); retrying in ${Math.ceil(Number(e.retryInMs) / 1000)} s, connected peers carry on`;
    case 'TrackerRecovered':
      return `tracker ${String(e.url)} answers again`;
    case 'PeersLost':
      return `no peers left (${String(e.have)}/${String(e.pieces)} pieces kept); waiting for peers`;
    case 'PeersReturned':
      return `peer ${String(e.peer)} connected; downloading again`;
    case 'DhtBootstrapFailed':
    case 'DhtUnavailable':
      return String(e.message);
    default:
      return undefined;
  }
}

function parsePeer(s: string): PeerAddress {
  const m = /^\[([0-9a-fA-F:.]+)\]:(\d+)$/.exec(s) ?? /^([^:]+):(\d+)$/.exec(s);
  const port = m ? Number(m[2]) : NaN;
  if (!m || !(port >= 1 && port <= 65535))
    throw new Error(`--peer wants host:port, not ${JSON.stringify(s)}`);
  return { ip: m[1] === 'localhost' ? '127.0.0.1' : m[1], port };
}

function formatEta(seconds: number): string {
  if (!Number.isFinite(seconds)) return '?';
  const s = Math.round(seconds);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  return `${h > 0 ? `${h}:` : ''}${String(m).padStart(h > 0 ? 2 : 1, '0')}:${String(s % 60).padStart(2, '0')}`;
}
