/**
 * `rxtorrent leech -f 'magnet:?xt=urn:btih:…'`: the part of leech that comes before there is a torrent —
 * parsing the link, fetching the metadata from peers (with a progress line), saving the .torrent to the
 * torrent store (`--no-publish` skips it), then handing the started torrent to the usual leech loop.
 *
 * Owns: what the user sees while the metadata is fetched and where the .torrent goes. Does not own: the
 * fetching (the engine's `addMagnet`, src/actors/magnet.ts) or the download afterwards (peer-command).
 */
import type { MonoTypeOperatorFunction } from 'rxjs/internal/types';
import { filter } from 'rxjs/internal/operators/filter';
import type { Engine } from '../actors/engine';
import type { MagnetOptions } from '../actors/magnet';
import type { Torrent } from '../actors/torrent';
import type { EventInput } from '../events/engine-event';
import { MagnetError, MagnetLink, parseMagnet } from '../protocol/magnet';
import { CliContext, CliError } from './context';
import { formatBytes } from './progress';

/** The link from `-f`, or a usage error (a seed needs the .torrent and its data, which a link has not). */
export function magnetArgument(arg: string, mode: 'seed' | 'leech'): MagnetLink {
  if (mode === 'seed')
    throw new CliError(
      'seed needs the .torrent file: a magnet link has no metadata to check the data against',
      2,
    );
  try {
    return parseMagnet(arg);
  } catch (err) {
    if (err instanceof MagnetError) throw new CliError(err.message, 2);
    throw err;
  }
}

/**
 * Fetches the metadata, publishes the .torrent (unless `publish` is false) and resolves with the started
 * torrent; with undefined if `stopped` settles first (the user pressed Enter or Ctrl-C).
 */
export async function leechMagnet(
  ctx: CliContext,
  engine: Engine,
  link: MagnetLink,
  opts: MagnetOptions,
  o: {
    publish: boolean;
    intervalMs: number;
    stopped: Promise<void>;
    onMetadata: (torrent: string, pieces: number) => void;
  },
): Promise<Torrent | undefined> {
  const live = ctx.live;
  for (const w of link.warnings) live.print(`magnet link: ${w}`);
  const m = engine.addMagnet(link, opts);
  m.start();
  const label = link.name ?? link.infoHashHex;
  live.print(
    `fetching metadata for ${label} (${link.infoHashHex}) on port ${engine.port}; press Enter or Ctrl-C to stop`,
    'stdout',
  );
  const line = (): string => {
    const s = m.stats();
    const got = s.size !== undefined ? `, ${s.have}/${s.pieces} pieces of ${formatBytes(s.size)}` : '';
    return `fetching metadata: ${s.peers} peers connected, ${s.known} known${got}`;
  };
  const tty = live.enabled;
  if (tty) live.show(line());
  const render = setInterval(() => (tty ? live.show(line()) : live.print(line())), tty ? 500 : o.intervalMs);
  render.unref();
  const stop = o.stopped.then(() => undefined);
  try {
    const got = await Promise.race([m.whenMetadata(), stop]);
    if (!got) {
      await engine.remove(link.infoHashHex);
      return undefined;
    }
    clearInterval(render);
    live.hide();
    const { meta, torrentFile, elapsedMs } = got;
    o.onMetadata(meta.infoHashHex, meta.pieceCount);
    live.print(
      `metadata: ${meta.name}, ${formatBytes(meta.length)} in ${meta.pieceCount} pieces, ${meta.files.length} file(s), fetched in ${(elapsedMs / 1000).toFixed(1)} s`,
      'stdout',
    );
    if (o.publish) await publish(ctx, meta.name, torrentFile);
    return (await Promise.race([m.whenTorrent(), stop])) ?? undefined;
  } catch (err) {
    throw new CliError((err as Error).message);
  } finally {
    clearInterval(render);
  }
}

/** Saves the .torrent to the store; a failure is said, not fatal (the download goes on). */
async function publish(ctx: CliContext, name: string, bytes: Buffer): Promise<void> {
  let where = 'the torrent store';
  try {
    const store = ctx.store();
    where = `the ${store.kind} store (${store.location})`;
    const entry = await store.publish(`${name}.torrent`, bytes);
    ctx.live.print(`saved ${entry.name} to ${where}`, 'stdout');
  } catch (err) {
    ctx.live.print(
      `could not save ${name}.torrent to ${where}: ${(err as Error).message}; downloading anyway`,
    );
  }
}

/** The engine's events for one torrent (the magnet's, once it has become a torrent). */
export const forTorrent = (hex: string): MonoTypeOperatorFunction<EventInput> =>
  filter((e) => e.torrent === hex);
