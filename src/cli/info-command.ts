/**
 * `rxtorrent info <torrent>`: print a torrent's metadata (a path, or a name in the torrent store), or what
 * a magnet link holds (its info-hash, name, trackers and peers; the rest needs the metadata from peers).
 */
import { Command } from 'commander';
import { MagnetError, MagnetLink, formatMagnet, formatPeer, isMagnet, parseMagnet } from '../protocol/magnet';
import { Metainfo, magnetUri } from '../protocol/metainfo';
import { CliContext, CliError } from './context';
import { loadTorrent } from './load-torrent';
import { formatBytes } from './progress';

export function infoCommand(context: () => CliContext): Command {
  return new Command('info')
    .description("print a torrent's metadata, or what a magnet link holds")
    .argument('<torrent>', ".torrent path, name in the torrent store, or 'magnet:?xt=urn:btih:…'")
    .option('--json', 'print as JSON')
    .action(async (arg: string, opts: { json?: boolean }) => {
      const ctx = context();
      if (isMagnet(arg)) {
        let m: MagnetLink;
        try {
          m = parseMagnet(arg);
        } catch (err) {
          if (err instanceof MagnetError) throw new CliError(err.message);
          throw err;
        }
        ctx.stdout.write(opts.json ? JSON.stringify(magnetJson(m), null, 2) + '\n' : describeMagnet(m));
        return;
      }
      const { meta, source } = await loadTorrent(ctx, arg);
      ctx.stdout.write(
        opts.json ? JSON.stringify(infoJson(meta, source), null, 2) + '\n' : describeTorrent(meta, source),
      );
    });
}

export function infoJson(m: Metainfo, source: string): Record<string, unknown> {
  return {
    name: m.name,
    source,
    infoHash: m.infoHashHex,
    length: m.length,
    pieceLength: m.pieceLength,
    pieces: m.pieceCount,
    private: m.private,
    files: m.files.map((f) => ({ path: f.path.join('/'), length: f.length })),
    trackers: m.announceList,
    comment: m.comment,
    createdBy: m.createdBy,
    creationDate: m.creationDate?.toISOString(),
    urlList: m.urlList,
    magnet: magnetUri(m),
  };
}

/** Human-readable metadata, shared with the tracker console's `info`. */
export function describeTorrent(m: Metainfo, source?: string): string {
  const lines = [
    `name:       ${m.name}`,
    ...(source ? [`source:     ${source}`] : []),
    `info-hash:  ${m.infoHashHex}`,
    `size:       ${formatBytes(m.length)} (${m.length} bytes)`,
    `pieces:     ${m.pieceCount} × ${formatBytes(m.pieceLength)}`,
    `private:    ${m.private ? 'yes' : 'no'}`,
  ];
  if (m.comment) lines.push(`comment:    ${m.comment}`);
  if (m.createdBy) lines.push(`created by: ${m.createdBy}`);
  if (m.creationDate) lines.push(`created:    ${m.creationDate.toISOString()}`);
  lines.push(
    `trackers:   ${m.announceList.length === 0 ? '(none)' : m.announceList.map((t) => t.join(', ')).join(' | ')}`,
  );
  lines.push(`files:      ${m.files.length}`);
  const shown = m.files.slice(0, 50);
  for (const f of shown)
    lines.push(
      `  ${formatBytes(f.length).padStart(10)}  ${m.multiFile ? `${m.name}/` : ''}${m.multiFile ? f.path.join('/') : ''}`.replace(
        /\/$/,
        m.multiFile ? '' : m.name,
      ),
    );
  if (m.files.length > shown.length) lines.push(`  … and ${m.files.length - shown.length} more`);
  lines.push(`magnet:     ${magnetUri(m)}`);
  return lines.join('\n') + '\n';
}

export function magnetJson(m: MagnetLink): Record<string, unknown> {
  return {
    magnet: formatMagnet(m),
    infoHash: m.infoHashHex,
    name: m.name,
    length: m.length,
    trackers: m.trackers,
    peers: m.peers.map(formatPeer),
    warnings: m.warnings,
  };
}

/** What a magnet link holds; files, pieces and the rest come with the metadata. */
export function describeMagnet(m: MagnetLink): string {
  const lines = [
    `name:       ${m.name ?? '(not given)'}`,
    `info-hash:  ${m.infoHashHex}`,
    ...(m.length !== undefined ? [`size:       ${formatBytes(m.length)} (${m.length} bytes)`] : []),
    `trackers:   ${m.trackers.length === 0 ? '(none)' : m.trackers.join(' | ')}`,
    `peers:      ${m.peers.length === 0 ? '(none)' : m.peers.map(formatPeer).join(', ')}`,
    ...m.warnings.map((w) => `warning:    ${w}`),
    'metadata:   not in the link: files and pieces come from peers that have the torrent',
  ];
  return lines.join('\n') + '\n';
}
