/**
 * The Transmission RPC methods (legacy format, rpc-version 17) on an `RpcBackend`.
 *
 * Owns: what each method reads, checks and answers — `session-get`, `session-set`, `session-stats`,
 * `torrent-get`, `torrent-add`, `torrent-start`(`-now`), `torrent-stop`, `torrent-verify`,
 * `torrent-remove`, `torrent-set`, `group-get` — and the `result` string for every refusal. Does not own:
 * HTTP (rpc-server.ts), field names and units (transmission-fields.ts), or doing anything (the backend).
 *
 * Never blocks: getters are the backend's in-memory views; commands are awaited with a timeout. A
 * command naming a torrent we do not have does nothing and says which id is unknown; `torrent-get`
 * leaves unknown ids out, as Transmission does, so a UI polling a just-removed torrent keeps working.
 *
 * @example
 *   await runMethod(ctx, 'torrent-stop', new ArgReader({ ids: [1] }))  // → { result: 'success', arguments: {} }
 */
import { MetainfoError, parseMetainfo } from '../protocol/metainfo';
import { ArgReader, IdSelector, JsonObject, RpcArgError, readIds } from './rpc-args';
import { RpcBackend, RpcCommandError, SessionPatch, TorrentPatch, TorrentView } from './rpc-backend';
import { RpcMemory } from './rpc-memory';
import { SPEED_K, knownTorrentFields, torrentObject, torrentRow } from './transmission-fields';
import { sessionObject } from './transmission-session';

export interface MethodContext {
  backend: RpcBackend;
  memory: RpcMemory;
  sessionId: string;
  /** How long to wait for a start/stop/verify/remove/set command. */
  commandTimeoutMs: number;
  /** How long to wait for `torrent-add` (it may fetch from a remote store). */
  addTimeoutMs: number;
  now(): number;
}

export interface MethodResult {
  result: string;
  arguments: JsonObject;
}

type Handler = (ctx: MethodContext, args: ArgReader) => Promise<JsonObject> | JsonObject;

const MAX_KBPS = 10_000_000; // 10 GB/s: any larger "limit" is a typo.

/** Run one method. Never throws: every failure is a `result` string. */
export async function runMethod(
  ctx: MethodContext,
  method: string,
  args: ArgReader,
  onInternalError?: (err: unknown) => void,
): Promise<MethodResult> {
  const handler = METHODS.get(method);
  if (!handler) {
    const result = UNSUPPORTED.has(method)
      ? `method not supported by rxtorrent: ${method}`
      : 'method name not recognized';
    return { result, arguments: {} };
  }
  try {
    return { result: 'success', arguments: await handler(ctx, args) };
  } catch (err) {
    if (err instanceof RpcArgError || err instanceof RpcCommandError)
      return { result: err.message, arguments: {} };
    onInternalError?.(err);
    return { result: `internal error: ${(err as Error)?.message ?? String(err)}`, arguments: {} };
  }
}

/** Resolve with `p`, or reject with a message saying the engine did not answer in time. */
export function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () =>
        reject(
          new RpcCommandError(
            `${what}: the engine did not answer within ${ms < 1000 ? `${ms} ms` : `${Math.round(ms / 1000)} s`} (it may still finish)`,
          ),
        ),
      ms,
    );
  });
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
}

function snapshot(ctx: MethodContext): readonly TorrentView[] {
  const torrents = ctx.backend.torrents();
  ctx.memory.observe(torrents, ctx.now());
  return torrents;
}

/** The torrents `sel` names; `unknown` lists the ids and hashes that match nothing. */
function select(
  ctx: MethodContext,
  sel: IdSelector,
): { torrents: TorrentView[]; unknown: Array<number | string> } {
  const all = [...snapshot(ctx)].sort((a, b) => a.id - b.id);
  if (sel.kind === 'all') return { torrents: all, unknown: [] };
  const now = ctx.now();
  if (sel.kind === 'recently-active') {
    return { torrents: all.filter((t) => ctx.memory.isRecentlyActive(t, now)), unknown: [] };
  }
  const byId = new Map(all.map((t) => [t.id, t]));
  const byHash = new Map(all.map((t) => [t.infoHash.toLowerCase(), t]));
  const found = new Map<number, TorrentView>();
  const unknown: Array<number | string> = [];
  for (const id of sel.ids) {
    const t = typeof id === 'number' ? byId.get(id) : byHash.get(id);
    if (t) found.set(t.id, t);
    else unknown.push(id);
  }
  return { torrents: [...found.values()], unknown };
}

function unknownIds(unknown: Array<number | string>): RpcCommandError {
  const shown = unknown.slice(0, 5).join(', ') + (unknown.length > 5 ? `, … (${unknown.length} in all)` : '');
  return new RpcCommandError(`no torrent with id ${shown} (torrent-get lists the ids)`);
}

/** Run `command` on each torrent, in parallel, each with the command timeout; failures name the torrent. */
async function forEach(
  ctx: MethodContext,
  torrents: readonly TorrentView[],
  what: string,
  command: (id: number) => Promise<void>,
): Promise<JsonObject> {
  const outcomes = await Promise.allSettled(
    torrents.map((t) =>
      withTimeout(
        Promise.resolve().then(() => command(t.id)),
        ctx.commandTimeoutMs,
        `${what} ${t.id}`,
      ),
    ),
  );
  const now = ctx.now();
  torrents.forEach((t) => ctx.memory.touch(t.id, now));
  const failures = outcomes.flatMap((o, i) =>
    o.status === 'rejected'
      ? [`${torrents[i].name}: ${(o.reason as Error)?.message ?? String(o.reason)}`]
      : [],
  );
  if (failures.length) throw new RpcCommandError(failures.join('; '));
  return {};
}

/** The torrents `ids` names, all of them known (else nothing is done and the unknown ids are named). */
function selectKnown(ctx: MethodContext, args: ArgReader): TorrentView[] {
  const { torrents, unknown } = select(ctx, readIds(args));
  if (unknown.length) throw unknownIds(unknown);
  return torrents;
}

function action(
  what: string,
  command: (ctx: MethodContext, id: number, args: ArgReader) => Promise<void>,
): Handler {
  return (ctx, args) => forEach(ctx, selectKnown(ctx, args), what, (id) => command(ctx, id, args));
}

function torrentGet(ctx: MethodContext, args: ArgReader): JsonObject {
  const requested = args.stringList('fields', 1000);
  if (!requested) throw new RpcArgError('no fields specified');
  const format = args.choice('format', ['objects', 'table'] as const) ?? 'objects';
  const sel = readIds(args);
  const { torrents } = select(ctx, sel);
  const fields = knownTorrentFields(requested);
  const out: JsonObject = {
    torrents:
      format === 'table'
        ? [fields, ...torrents.map((t) => torrentRow(t, fields, ctx.memory))]
        : torrents.map((t) => torrentObject(t, fields, ctx.memory)),
  };
  if (sel.kind === 'recently-active') out.removed = ctx.memory.removedSince(ctx.now());
  return out;
}

const BASE64 = /^[A-Za-z0-9+/_=\s-]*$/;

async function torrentAdd(ctx: MethodContext, args: ArgReader): Promise<JsonObject> {
  const filename = args.string('filename', 16 * 1024) ?? '';
  const metainfo = args.string('metainfo', 16 * 1024 * 1024) ?? '';
  const paused = args.bool('paused');
  const downloadDir = args.string('download-dir', 4096);
  if (downloadDir !== undefined && !downloadDir.startsWith('/')) {
    throw new RpcArgError('download directory path is not absolute');
  }
  let source: Parameters<RpcBackend['add']>[0]['source'];
  if (filename) {
    source = { kind: 'filename', filename };
  } else if (metainfo) {
    if (!BASE64.test(metainfo)) throw new RpcArgError("invalid argument 'metainfo': not base64");
    const bytes = Buffer.from(metainfo, 'base64');
    try {
      const meta = parseMetainfo(bytes);
      source = { kind: 'metainfo', bytes, infoHash: meta.infoHashHex, name: meta.name };
    } catch (err) {
      if (err instanceof MetainfoError)
        throw new RpcCommandError(`invalid or corrupt torrent file: ${err.message}`);
      throw err;
    }
  } else {
    throw new RpcArgError('no filename or metainfo specified');
  }
  const res = await withTimeout(
    Promise.resolve().then(() => ctx.backend.add({ source, paused, downloadDir })),
    ctx.addTimeoutMs,
    'torrent-add',
  );
  ctx.memory.touch(res.torrent.id, ctx.now());
  const t = { hashString: res.torrent.infoHash, id: res.torrent.id, name: res.torrent.name };
  return res.duplicate ? { 'torrent-duplicate': t } : { 'torrent-added': t };
}

/**
 * A limit pair as Transmission sends it: `value` (kB/s) and `enabled`, either or both. Returns the
 * engine's new limit (bytes/s, `null` = none) or `undefined` for "no change"; remembers the value.
 */
function limitPatch(
  ctx: MethodContext,
  key: string,
  current: number | undefined,
  value: number | undefined,
  enabled: boolean | undefined,
): number | null | undefined {
  if (value !== undefined) ctx.memory.remember(key, value);
  if (enabled === false) return null;
  const kBps = value ?? ctx.memory.get(key) ?? (current !== undefined ? Math.round(current / SPEED_K) : 100);
  if (enabled === true || (enabled === undefined && value !== undefined && current !== undefined))
    return kBps * SPEED_K;
  return undefined;
}

/** Keys we check and refuse rather than ignore: ignoring them would mislead the user. */
const REFUSED_TORRENT_KEYS: Record<string, string> = {
  location: 'moving data is not supported (rxtorrent keeps data in its data folder)',
  'files-unwanted': 'skipping files is not supported yet',
  trackerList: 'editing trackers is not supported yet',
  trackerAdd: 'editing trackers is not supported yet',
  trackerRemove: 'editing trackers is not supported yet',
  trackerReplace: 'editing trackers is not supported yet',
};

async function torrentSet(ctx: MethodContext, args: ArgReader): Promise<JsonObject> {
  for (const [key, why] of Object.entries(REFUSED_TORRENT_KEYS)) {
    const v = args.value(key);
    if (v !== undefined && !(Array.isArray(v) && v.length === 0))
      throw new RpcCommandError(`torrent-set: ${why}`);
  }
  const down = args.int('downloadLimit', 0, MAX_KBPS);
  const downOn = args.bool('downloadLimited');
  const up = args.int('uploadLimit', 0, MAX_KBPS);
  const upOn = args.bool('uploadLimited');
  const peerLimit = args.int('peer-limit', 1, 65535);
  const torrents = selectKnown(ctx, args);
  const patches = torrents.map((t) => {
    const patch: TorrentPatch = {};
    const d = limitPatch(ctx, `${t.infoHash}:down`, t.downloadLimit, down, downOn);
    const u = limitPatch(ctx, `${t.infoHash}:up`, t.uploadLimit, up, upOn);
    if (d !== undefined) patch.downloadLimit = d;
    if (u !== undefined) patch.uploadLimit = u;
    if (peerLimit !== undefined) patch.peerLimit = peerLimit;
    return [t.id, patch] as const;
  });
  const byId = new Map(patches);
  return forEach(ctx, torrents, 'torrent-set', async (id) => {
    const patch = byId.get(id);
    if (patch && Object.keys(patch).length) await ctx.backend.setTorrent(id, patch);
  });
}

function removeTorrents(ctx: MethodContext, args: ArgReader): Promise<JsonObject> {
  const deleteData = args.bool('delete-local-data') ?? false; // checked before anything is removed
  return forEach(ctx, selectKnown(ctx, args), 'torrent-remove', (id) =>
    ctx.backend.remove(id, { deleteData }),
  );
}

async function sessionSet(ctx: MethodContext, args: ArgReader): Promise<JsonObject> {
  for (const key of ['download-dir', 'peer-port', 'incomplete-dir']) {
    if (args.has(key)) {
      throw new RpcCommandError(
        `session-set: '${key}' cannot be changed while rxtorrent runs (use serve's options)`,
      );
    }
  }
  const s = ctx.backend.session();
  const patch: SessionPatch = {};
  const down = limitPatch(
    ctx,
    'session:down',
    s.downloadLimit,
    args.int('speed-limit-down', 0, MAX_KBPS),
    args.bool('speed-limit-down-enabled'),
  );
  const up = limitPatch(
    ctx,
    'session:up',
    s.uploadLimit,
    args.int('speed-limit-up', 0, MAX_KBPS),
    args.bool('speed-limit-up-enabled'),
  );
  if (down !== undefined) patch.downloadLimit = down;
  if (up !== undefined) patch.uploadLimit = up;
  const peerGlobal = args.int('peer-limit-global', 1, 1_000_000);
  const peerPer = args.int('peer-limit-per-torrent', 1, 65535);
  const encryption = args.choice('encryption', ['required', 'preferred', 'tolerated'] as const);
  const flags = {
    dhtEnabled: args.bool('dht-enabled'),
    pexEnabled: args.bool('pex-enabled'),
    lpdEnabled: args.bool('lpd-enabled'),
    startAddedTorrents: args.bool('start-added-torrents'),
  };
  if (peerGlobal !== undefined) patch.peerLimitGlobal = peerGlobal;
  if (peerPer !== undefined) patch.peerLimitPerTorrent = peerPer;
  if (encryption !== undefined) patch.encryption = encryption;
  for (const [k, v] of Object.entries(flags)) if (v !== undefined) patch[k as keyof typeof flags] = v;
  if (Object.keys(patch).length) {
    await withTimeout(
      Promise.resolve().then(() => ctx.backend.setSession(patch)),
      ctx.commandTimeoutMs,
      'session-set',
    );
  }
  return {};
}

function sessionGet(ctx: MethodContext, args: ArgReader): JsonObject {
  const fields = args.stringList('fields', 1000);
  const all = sessionObject(ctx.backend.session(), ctx.sessionId, ctx.memory);
  if (!fields) return all;
  const out: JsonObject = {};
  for (const f of fields) if (Object.hasOwn(all, f)) out[f] = all[f];
  return out;
}

function sessionStats(ctx: MethodContext): JsonObject {
  const torrents = snapshot(ctx);
  const { current, cumulative } = ctx.backend.stats();
  const totals = (x: typeof current): JsonObject => ({
    downloadedBytes: Math.trunc(x.downloadedBytes) || 0,
    filesAdded: Math.trunc(x.filesAdded) || 0,
    secondsActive: Math.trunc(x.secondsActive) || 0,
    sessionCount: Math.trunc(x.sessionCount) || 0,
    uploadedBytes: Math.trunc(x.uploadedBytes) || 0,
  });
  const sum = (f: (t: TorrentView) => number): number =>
    Math.trunc(torrents.reduce((n, t) => n + (f(t) || 0), 0));
  return {
    activeTorrentCount: torrents.filter((t) => t.state !== 'stopped').length,
    'cumulative-stats': totals(cumulative),
    'current-stats': totals(current),
    downloadSpeed: sum((t) => t.downRate),
    pausedTorrentCount: torrents.filter((t) => t.state === 'stopped').length,
    torrentCount: torrents.length,
    uploadSpeed: sum((t) => t.upRate),
  };
}

const METHODS = new Map<string, Handler>([
  ['session-get', sessionGet],
  ['session-set', sessionSet],
  ['session-stats', sessionStats],
  ['torrent-get', torrentGet],
  ['torrent-add', torrentAdd],
  ['torrent-start', action('torrent-start', (ctx, id) => ctx.backend.start(id))],
  ['torrent-start-now', action('torrent-start', (ctx, id) => ctx.backend.start(id))],
  ['torrent-stop', action('torrent-stop', (ctx, id) => ctx.backend.stop(id))],
  ['torrent-verify', action('torrent-verify', (ctx, id) => ctx.backend.verify(id))],
  ['torrent-remove', removeTorrents],
  ['torrent-set', torrentSet],
  ['group-get', () => ({ group: [] })],
]);

/** Transmission methods we know but do not offer (a clearer answer than "not recognized"). */
const UNSUPPORTED = new Set([
  'blocklist-update',
  'free-space',
  'group-set',
  'port-test',
  'queue-move-bottom',
  'queue-move-down',
  'queue-move-top',
  'queue-move-up',
  'session-close',
  'torrent-reannounce',
  'torrent-rename-path',
  'torrent-set-location',
]);

/** Names of the methods we answer (for docs and tests). */
export const METHOD_NAMES: readonly string[] = [...METHODS.keys()];
