/**
 * BEP 3 metainfo (.torrent files): parse with validation, build canonically, info-hash, magnet URI,
 * and import of the old program's JSON metainfo.
 *
 * Owns: the meaning of the metainfo dictionary and every check on it (piece length, `pieces` size,
 * safe file names). Does not own: hashing file contents (src/streams/hash-pool.ts) or disk I/O.
 *
 * The info-hash is the SHA1 of the info dictionary's bytes exactly as they appear in the file
 * (taken from the decoder's spans), never of a re-encoding: a torrent with unsorted keys keeps the
 * hash every other client computes for it.
 *
 * @example
 *   const m = parseMetainfo(fs.readFileSync('movie.mp4.torrent'));
 *   m.infoHashHex // '5e2b…'
 *   magnetUri(m)  // 'magnet:?xt=urn:btih:5e2b…&dn=movie.mp4&tr=…'
 */
import { createHash } from 'node:crypto';
import {
  BDict,
  BValue,
  BencodeError,
  decodeDocument,
  dict,
  encode,
  get,
  isBytes,
  isDict,
  isInt,
  isList,
} from './bencode';
import { formatMagnet } from './magnet';

export const DEFAULT_PIECE_LENGTH = 512 * 1024;
export const MIN_PIECE_LENGTH = 16 * 1024;
export const MAX_PIECE_LENGTH = 64 * 1024 * 1024;

export interface FileEntry {
  /** Path components below the torrent's name (for a single-file torrent: `[name]`). */
  path: string[];
  length: number;
  /** Byte offset of the file in the torrent's concatenated content. */
  offset: number;
}

export interface Metainfo {
  infoHash: Buffer;
  infoHashHex: string;
  name: string;
  pieceLength: number;
  pieceCount: number;
  /** Concatenated 20-byte SHA1 hashes. */
  pieces: Buffer;
  /** Total content length in bytes. */
  length: number;
  files: FileEntry[];
  multiFile: boolean;
  announce?: string;
  /** BEP 12 tiers; when absent in the file, `[[announce]]` if there is an announce URL. */
  announceList: string[][];
  private: boolean;
  comment?: string;
  createdBy?: string;
  creationDate?: Date;
  urlList: string[];
  /** The info dictionary's exact bytes (what the info-hash is taken of; BEP 9 metadata). */
  infoBytes: Buffer;
}

export type MetainfoErrorCode =
  'bencode' | 'structure' | 'piece-length' | 'pieces' | 'length' | 'unsafe-path' | 'legacy';

export class MetainfoError extends Error {
  constructor(
    readonly code: MetainfoErrorCode,
    message: string,
  ) {
    super(message);
    this.name = 'MetainfoError';
  }
}

const fail = (code: MetainfoErrorCode, message: string): never => {
  throw new MetainfoError(code, message);
};

/** Parse and validate a .torrent file. Throws MetainfoError with a message fit for a user. */
export function parseMetainfo(bytes: Buffer): Metainfo {
  let doc;
  try {
    doc = decodeDocument(bytes, { maxBytes: 64 * 1024 * 1024 });
  } catch (err) {
    if (err instanceof BencodeError) fail('bencode', `not a valid .torrent file (${err.message})`);
    throw err;
  }
  const root = doc.value;
  if (!isDict(root)) return fail('structure', 'not a valid .torrent file: top level is not a dictionary');
  const info = get(root, 'info');
  if (!isDict(info)) return fail('structure', 'not a valid .torrent file: missing "info" dictionary');
  const span = doc.spans.get(info);
  if (!span) return fail('structure', 'internal: no span for info dictionary');
  const infoBytes = Buffer.from(bytes.subarray(span[0], span[1]));
  const infoHash = createHash('sha1').update(infoBytes).digest();

  const name = text(info, 'name.utf-8') ?? text(info, 'name');
  if (name === undefined) return fail('structure', 'info dictionary has no "name"');
  checkComponent(name, 'name');

  const pieceLength = int(info, 'piece length');
  if (pieceLength === undefined) return fail('structure', 'info dictionary has no "piece length"');
  checkPieceLength(pieceLength);

  const pieces = get(info, 'pieces');
  if (!isBytes(pieces)) return fail('structure', 'info dictionary has no "pieces" string');
  if (pieces.length === 0 || pieces.length % 20 !== 0) {
    fail('pieces', `"pieces" is ${pieces.length} bytes, not a non-zero multiple of 20`);
  }

  const files: FileEntry[] = [];
  let length = 0;
  const single = get(info, 'length');
  const list = get(info, 'files');
  if (single !== undefined && list !== undefined)
    fail('structure', 'info dictionary has both "length" and "files"');
  if (single !== undefined) {
    length = checkLength(single, name);
    files.push({ path: [name], length, offset: 0 });
  } else if (isList(list)) {
    if (list.length === 0) fail('structure', '"files" is empty');
    const seen = new Set<string>();
    for (const [i, f] of list.entries()) {
      if (!isDict(f)) return fail('structure', `files[${i}] is not a dictionary`);
      const p = get(f, 'path.utf-8') ?? get(f, 'path');
      if (!isList(p) || p.length === 0) return fail('structure', `files[${i}] has no "path"`);
      const components = p.map((c, j) => {
        if (!isBytes(c)) return fail('structure', `files[${i}].path[${j}] is not a string`);
        const s = c.toString('utf8');
        checkComponent(s, `files[${i}].path`);
        return s;
      });
      const key = components.join('/');
      if (seen.has(key)) fail('unsafe-path', `file ${JSON.stringify(key)} appears twice`);
      seen.add(key);
      const len = checkLength(get(f, 'length'), key);
      files.push({ path: components, length: len, offset: length });
      length += len;
      if (length > Number.MAX_SAFE_INTEGER) fail('length', 'total length too large');
    }
  } else {
    fail('structure', 'info dictionary has neither "length" nor "files"');
  }
  if (length === 0) fail('length', 'the torrent holds no data (total length 0)');
  const pieceCount = pieces.length / 20;
  const expected = Math.ceil(length / pieceLength);
  if (pieceCount !== expected) {
    fail(
      'pieces',
      `"pieces" holds ${pieceCount} hashes but ${length} bytes in ${pieceLength}-byte pieces need ${expected}`,
    );
  }

  const announce = text(root, 'announce');
  let announceList: string[][] = [];
  const al = get(root, 'announce-list');
  if (isList(al)) {
    announceList = al
      .filter(isList)
      .map((tier) => tier.filter(isBytes).map((u) => u.toString('utf8')))
      .filter((tier) => tier.length > 0);
  }
  if (announceList.length === 0 && announce) announceList = [[announce]];
  const priv = get(info, 'private');
  const date = int(root, 'creation date');
  const ul = get(root, 'url-list');
  const urlList = isBytes(ul)
    ? [ul.toString('utf8')]
    : isList(ul)
      ? ul.filter(isBytes).map((u) => u.toString('utf8'))
      : [];

  return {
    infoHash,
    infoHashHex: infoHash.toString('hex'),
    name,
    pieceLength,
    pieceCount,
    pieces: Buffer.from(pieces),
    length,
    files,
    multiFile: single === undefined,
    announce,
    announceList,
    private: priv === 1,
    comment: text(root, 'comment.utf-8') ?? text(root, 'comment'),
    createdBy: text(root, 'created by'),
    creationDate: date !== undefined ? new Date(date * 1000) : undefined,
    urlList: urlList.filter((u) => u.length > 0),
    infoBytes,
  };
}

/** SHA1 of piece `index` as stored in the metainfo. */
export function pieceHash(m: Pick<Metainfo, 'pieces'>, index: number): Buffer {
  return m.pieces.subarray(index * 20, index * 20 + 20);
}

/** Length of piece `index` (the last piece may be shorter). */
export function pieceSize(m: Pick<Metainfo, 'pieceLength' | 'length' | 'pieceCount'>, index: number): number {
  return index === m.pieceCount - 1 ? m.length - m.pieceLength * (m.pieceCount - 1) : m.pieceLength;
}

export interface BuildOptions {
  name: string;
  pieceLength: number;
  pieces: Buffer;
  /** One entry with `path: [name]` for a single file; otherwise paths relative to the folder. */
  files: { path: string[]; length: number }[];
  multiFile: boolean;
  announceList?: string[][];
  private?: boolean;
  comment?: string;
  createdBy?: string;
  creationDate?: Date;
  urlList?: string[];
}

/**
 * Build a canonical .torrent. The info dictionary holds only what BEP 3 needs (plus `private`), so the
 * info-hash matches other tools' (mktorrent, libtorrent) for the same content, name and piece length.
 */
export function buildMetainfo(o: BuildOptions): Buffer {
  checkComponent(o.name, 'name');
  checkPieceLength(o.pieceLength);
  const info: Record<string, BValue | undefined> = {
    name: Buffer.from(o.name, 'utf8'),
    'piece length': o.pieceLength,
    pieces: o.pieces,
    private: o.private ? 1 : undefined,
  };
  if (o.multiFile) {
    info.files = o.files.map((f) => {
      f.path.forEach((c) => checkComponent(c, 'path'));
      return dict({ length: f.length, path: f.path.map((c) => Buffer.from(c, 'utf8')) });
    });
  } else {
    info.length = o.files[0].length;
  }
  const tiers = (o.announceList ?? []).filter((t) => t.length > 0);
  const root: Record<string, BValue | undefined> = {
    announce: tiers.length > 0 ? Buffer.from(tiers[0][0], 'utf8') : undefined,
    'announce-list':
      tiers.length > 1 || (tiers[0]?.length ?? 0) > 1
        ? tiers.map((t) => t.map((u) => Buffer.from(u)))
        : undefined,
    comment: o.comment ? Buffer.from(o.comment, 'utf8') : undefined,
    'created by': o.createdBy ? Buffer.from(o.createdBy, 'utf8') : undefined,
    'creation date': o.creationDate ? Math.floor(o.creationDate.getTime() / 1000) : undefined,
    'url-list': o.urlList && o.urlList.length > 0 ? o.urlList.map((u) => Buffer.from(u, 'utf8')) : undefined,
    info: dict(info),
  };
  const bytes = encode(dict(root));
  parseMetainfo(bytes); // never hand out a torrent we would refuse to read
  return bytes;
}

/** BEP 9 magnet link: `magnet:?xt=urn:btih:<hex>&dn=<name>&tr=<tracker>…`. */
export function magnetUri(m: Pick<Metainfo, 'infoHashHex' | 'name' | 'announceList'>): string {
  return formatMagnet({
    infoHashHex: m.infoHashHex,
    name: m.name,
    trackers: m.announceList.flat(),
    peers: [],
  });
}

/** The old program's JSON metainfo, for users migrating. */
export interface LegacyMetainfo {
  filename: string;
  size: number;
  piece_size: number;
  pieces: string[];
}

/** Turn the old program's JSON metainfo into a real BEP 3 torrent (same pieces, so no re-hash is needed). */
export function importLegacyJson(json: string, announceList: string[][] = []): Buffer {
  let raw: unknown;
  try {
    raw = JSON.parse(json);
  } catch (err) {
    return fail('legacy', `not valid JSON: ${(err as Error).message}`);
  }
  const o = raw as Partial<LegacyMetainfo>;
  if (!o || typeof o !== 'object') return fail('legacy', 'legacy metainfo is not a JSON object');
  if (typeof o.filename !== 'string' || o.filename.length === 0)
    fail('legacy', 'legacy metainfo has no "filename"');
  if (!Number.isSafeInteger(o.size) || (o.size as number) <= 0)
    fail('legacy', 'legacy metainfo "size" must be a positive integer');
  if (!Number.isSafeInteger(o.piece_size)) fail('legacy', 'legacy metainfo "piece_size" must be an integer');
  if (
    !Array.isArray(o.pieces) ||
    !o.pieces.every((p) => typeof p === 'string' && /^[0-9a-fA-F]{40}$/.test(p))
  ) {
    fail('legacy', 'legacy metainfo "pieces" must be a list of 40-digit hex SHA1 strings');
  }
  const name = (o.filename as string).split(/[\\/]/).pop() as string;
  return buildMetainfo({
    name,
    pieceLength: o.piece_size as number,
    pieces: Buffer.concat((o.pieces as string[]).map((h) => Buffer.from(h, 'hex'))),
    files: [{ path: [name], length: o.size as number }],
    multiFile: false,
    announceList,
    createdBy: 'rxtorrent (imported from legacy JSON)',
  });
}

/** Whether bytes look like the old program's JSON metainfo rather than bencode. */
export function looksLikeLegacyJson(bytes: Buffer): boolean {
  const head = bytes.subarray(0, 64).toString('utf8').trimStart();
  return head.startsWith('{');
}

function checkPieceLength(n: number): void {
  if (!Number.isSafeInteger(n) || n < MIN_PIECE_LENGTH || n > MAX_PIECE_LENGTH || (n & (n - 1)) !== 0) {
    fail('piece-length', `piece length ${n} is not a power of two between 16 KiB and 64 MiB`);
  }
}

function checkLength(v: BValue | undefined, what: string): number {
  if (!isInt(v) || typeof v === 'bigint' || v < 0)
    return fail('length', `length of ${JSON.stringify(what)} is not a valid size`);
  return v;
}

/** A path component that is safe to join below the download folder on any OS we run on. */
function checkComponent(c: string, where: string): void {
  const bad =
    c.length === 0
      ? 'is empty'
      : c === '.' || c === '..'
        ? `is ${JSON.stringify(c)}`
        : /[/\\]/.test(c)
          ? 'contains a path separator'
          : c.includes('\0')
            ? 'contains a NUL byte'
            : c.includes('\uFFFD')
              ? 'is not valid UTF-8'
              : /^[A-Za-z]:/.test(c)
                ? 'looks like a drive path'
                : null;
  if (bad) fail('unsafe-path', `unsafe file name in ${where}: ${JSON.stringify(c)} ${bad}`);
}

function text(d: BDict, key: string): string | undefined {
  const v = get(d, key);
  return isBytes(v) ? v.toString('utf8') : undefined;
}

function int(d: BDict, key: string): number | undefined {
  const v = get(d, key);
  return typeof v === 'number' ? v : undefined;
}
