/** `rxtorrent info <torrent>`: print a torrent's metadata (a path, or a name in the torrent store). */
import { Command } from 'commander';
import { Metainfo, magnetUri } from '../protocol/metainfo';
import { CliContext } from './context';
import { loadTorrent } from './load-torrent';
import { formatBytes } from './progress';

export function infoCommand(context: () => CliContext): Command {
  return new Command('info')
    .description("print a torrent's metadata")
    .argument('<torrent>', '.torrent path or name in the torrent store')
    .option('--json', 'print as JSON')
    .action(async (arg: string, opts: { json?: boolean }) => {
      const ctx = context();
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
