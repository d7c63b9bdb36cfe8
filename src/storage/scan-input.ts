/**
 * Turns the path given to `create` into the torrent's file list: one file, or every regular file below
 * a folder in a stable byte-wise order of their relative paths (the order mktorrent uses, so both
 * tools produce the same info-hash for the same folder).
 */
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { LayoutFile } from './file-layout';

export interface ScannedInput {
  name: string;
  multiFile: boolean;
  /** Paths relative to the folder, as components (single file: `[name]`). */
  files: { path: string[]; length: number }[];
  /** The same files on disk, with offsets in the concatenated content. */
  layout: LayoutFile[];
  total: number;
}

export class InputError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'InputError';
  }
}

const MAX_FILES = 100_000;

export async function scanInput(target: string): Promise<ScannedInput> {
  const abs = path.resolve(target);
  const st = await fs.stat(abs).catch((err: NodeJS.ErrnoException) => {
    throw new InputError(
      err.code === 'ENOENT' ? `no such file or folder: ${target}` : `cannot read ${target}: ${err.message}`,
    );
  });
  const name = path.basename(abs);
  if (st.isFile()) {
    if (st.size === 0) throw new InputError(`${target} is empty: a torrent needs at least one byte`);
    await checkReadable(abs, target);
    return {
      name,
      multiFile: false,
      files: [{ path: [name], length: st.size }],
      layout: [{ path: abs, length: st.size, offset: 0 }],
      total: st.size,
    };
  }
  if (!st.isDirectory()) throw new InputError(`${target} is neither a file nor a folder`);
  const found: { rel: string[]; abs: string; length: number }[] = [];
  await walk(abs, [], found, target);
  found.sort((a, b) => Buffer.compare(Buffer.from(a.rel.join('/')), Buffer.from(b.rel.join('/'))));
  const total = found.reduce((n, f) => n + f.length, 0);
  if (found.length === 0 || total === 0)
    throw new InputError(`${target} holds no data: a torrent needs at least one byte`);
  let offset = 0;
  const layout = found.map((f) => {
    const l = { path: f.abs, length: f.length, offset };
    offset += f.length;
    return l;
  });
  return {
    name,
    multiFile: true,
    files: found.map((f) => ({ path: f.rel, length: f.length })),
    layout,
    total,
  };
}

async function walk(
  dir: string,
  rel: string[],
  out: { rel: string[]; abs: string; length: number }[],
  shown: string,
): Promise<void> {
  const entries = await fs.readdir(dir, { withFileTypes: true }).catch((err: NodeJS.ErrnoException) => {
    throw new InputError(`cannot read folder ${path.join(shown, ...rel)}: ${err.code ?? err.message}`);
  });
  for (const e of entries) {
    const abs = path.join(dir, e.name);
    const r = [...rel, e.name];
    let isDir = e.isDirectory();
    let isFile = e.isFile();
    if (e.isSymbolicLink()) {
      // Follow links to files; skip links to folders (loops) and dangling links.
      const t = await fs.stat(abs).catch(() => null);
      isFile = !!t?.isFile();
      isDir = false;
    }
    if (isDir) await walk(abs, r, out, shown);
    else if (isFile) {
      const st = await fs.stat(abs);
      await checkReadable(abs, path.join(shown, ...r));
      out.push({ rel: r, abs, length: st.size });
      if (out.length > MAX_FILES) throw new InputError(`${shown} holds more than ${MAX_FILES} files`);
    }
  }
}

async function checkReadable(abs: string, shown: string): Promise<void> {
  await fs.access(abs, fs.constants.R_OK).catch(() => {
    throw new InputError(`cannot read ${shown}: permission denied`);
  });
}
