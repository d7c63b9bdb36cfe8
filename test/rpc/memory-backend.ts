/**
 * An in-memory `RpcBackend` for the RPC tests: torrents are plain views the test edits, commands
 * change them and are recorded, and a test can make a command hang or fail. It stands in for the
 * engine so that the server can be tested on every input without peers or disks.
 */
import { createHash } from 'node:crypto';
import { parseMetainfo } from '../../src/protocol/metainfo';
import { buildMetainfo } from '../../src/protocol/metainfo';
import {
  AddRequest,
  AddResult,
  RpcBackend,
  RpcCommandError,
  SessionPatch,
  SessionStatsView,
  SessionView,
  TorrentPatch,
  TorrentView,
} from '../../src/rpc/rpc-backend';

type Command = 'add' | 'start' | 'stop' | 'verify' | 'remove' | 'setTorrent' | 'setSession';

/** A valid single-file .torrent (content derived from `name`). */
export function sampleTorrent(
  name: string,
  length = 3 * 16384 + 100,
  announce = 'http://127.0.0.1:6969/announce',
): Buffer {
  const pieceLength = 16384;
  const count = Math.ceil(length / pieceLength);
  return buildMetainfo({
    name,
    pieceLength,
    pieces: Buffer.concat(
      Array.from({ length: count }, (_, i) => createHash('sha1').update(`${name}:${i}`).digest()),
    ),
    files: [{ path: [name], length }],
    multiFile: false,
    announceList: [[announce]],
  });
}

export class MemoryBackend implements RpcBackend {
  readonly views = new Map<number, TorrentView>();
  readonly calls: Array<{ command: Command; id?: number; arg?: unknown }> = [];
  /** Torrent files the `filename` form of torrent-add can name (as a path or store name would). */
  readonly files = new Map<string, Buffer>();
  /** Commands that never settle / that fail with this message. */
  readonly hang = new Set<Command>();
  readonly fail = new Map<Command, string>();
  /** Throw from `torrents()` (an engine bug the server must survive). */
  brokenGetter = false;
  sessionView: SessionView = {
    version: 'rxtorrent 0.1.0-test',
    peerPort: 6881,
    downloadDir: '/srv/data',
    peerLimitGlobal: 200,
    peerLimitPerTorrent: 50,
    encryption: 'preferred',
    dhtEnabled: false,
    pexEnabled: true,
    lpdEnabled: false,
    utpEnabled: false,
    startAddedTorrents: true,
  };
  /** Session keys the engine refuses (as an engine without MSE would refuse `encryption`). */
  readonly refusedSessionKeys = new Set<keyof SessionPatch>();
  private nextId = 1;

  /** Add a torrent view directly (state and numbers as the test wants them). */
  put(partial: Partial<TorrentView> & { name: string }): TorrentView {
    const id = partial.id ?? this.nextId++;
    this.nextId = Math.max(this.nextId, id + 1);
    const totalSize = partial.totalSize ?? 1_000_000;
    const view: TorrentView = {
      id,
      infoHash: createHash('sha1').update(partial.name).digest('hex'),
      state: 'seeding',
      downloadDir: '/srv/data',
      totalSize,
      pieceSize: 16384,
      pieceCount: Math.ceil(totalSize / 16384),
      haveValid: totalSize,
      downloadedEver: 0,
      uploadedEver: 0,
      downRate: 0,
      upRate: 0,
      peers: [],
      trackers: [{ tier: 0, announce: 'http://127.0.0.1:6969/announce' }],
      files: [{ path: partial.name, length: totalSize, bytesCompleted: partial.haveValid ?? totalSize }],
      peerLimit: 50,
      isPrivate: false,
      addedAt: Date.parse('2026-01-02T03:04:05Z'),
      ...partial,
    };
    this.views.set(id, view);
    return view;
  }

  torrents(): readonly TorrentView[] {
    if (this.brokenGetter) throw new Error('engine exploded');
    return [...this.views.values()];
  }

  session(): SessionView {
    return this.sessionView;
  }

  stats(): SessionStatsView {
    const current = {
      uploadedBytes: [...this.views.values()].reduce((n, t) => n + t.uploadedEver, 0),
      downloadedBytes: [...this.views.values()].reduce((n, t) => n + t.downloadedEver, 0),
      filesAdded: this.views.size,
      secondsActive: 3725,
      sessionCount: 1,
    };
    return { current, cumulative: { ...current, sessionCount: 3, secondsActive: 90_000 } };
  }

  async add(req: AddRequest): Promise<AddResult> {
    await this.gate('add', undefined, req);
    let bytes: Buffer;
    if (req.source.kind === 'metainfo') bytes = req.source.bytes;
    else {
      const found = this.files.get(req.source.filename);
      if (!found)
        throw new RpcCommandError(
          `no torrent ${JSON.stringify(req.source.filename)}: not a file here, and not in the store`,
        );
      bytes = found;
    }
    const meta = parseMetainfo(bytes);
    const existing = [...this.views.values()].find((t) => t.infoHash === meta.infoHashHex);
    if (existing)
      return {
        duplicate: true,
        torrent: { id: existing.id, name: existing.name, infoHash: existing.infoHash },
      };
    const paused = req.paused ?? !this.sessionView.startAddedTorrents;
    const t = this.put({
      name: meta.name,
      infoHash: meta.infoHashHex,
      totalSize: meta.length,
      pieceCount: meta.pieceCount,
      pieceSize: meta.pieceLength,
      haveValid: 0,
      state: paused ? 'stopped' : 'downloading',
      downloadDir: req.downloadDir ?? this.sessionView.downloadDir,
      files: meta.files.map((f) => ({
        path: [meta.name, ...f.path].join('/'),
        length: f.length,
        bytesCompleted: 0,
      })),
      addedAt: Date.now(),
      origin: 'manual',
    });
    return { duplicate: false, torrent: { id: t.id, name: t.name, infoHash: t.infoHash } };
  }

  async start(id: number): Promise<void> {
    await this.gate('start', id);
    const t = this.must(id);
    if (t.state === 'stopped') t.state = t.haveValid >= t.totalSize ? 'seeding' : 'downloading';
  }

  async stop(id: number): Promise<void> {
    await this.gate('stop', id);
    const t = this.must(id);
    t.state = 'stopped';
    t.peers = [];
    t.downRate = 0;
    t.upRate = 0;
  }

  async verify(id: number): Promise<void> {
    await this.gate('verify', id);
    const t = this.must(id);
    t.state = 'check-queued';
  }

  async remove(id: number, opts: { deleteData: boolean }): Promise<void> {
    await this.gate('remove', id, opts);
    this.must(id);
    this.views.delete(id);
  }

  async setTorrent(id: number, patch: TorrentPatch): Promise<void> {
    await this.gate('setTorrent', id, patch);
    const t = this.must(id);
    if (patch.downloadLimit !== undefined) t.downloadLimit = patch.downloadLimit ?? undefined;
    if (patch.uploadLimit !== undefined) t.uploadLimit = patch.uploadLimit ?? undefined;
    if (patch.peerLimit !== undefined) t.peerLimit = patch.peerLimit;
  }

  async setSession(patch: SessionPatch): Promise<void> {
    await this.gate('setSession', undefined, patch);
    const refused = Object.keys(patch).find((k) => this.refusedSessionKeys.has(k as keyof SessionPatch));
    if (refused) throw new RpcCommandError(`${refused} cannot be changed yet`);
    const s = { ...this.sessionView };
    if (patch.downloadLimit !== undefined) s.downloadLimit = patch.downloadLimit ?? undefined;
    if (patch.uploadLimit !== undefined) s.uploadLimit = patch.uploadLimit ?? undefined;
    if (patch.peerLimitGlobal !== undefined) s.peerLimitGlobal = patch.peerLimitGlobal;
    if (patch.peerLimitPerTorrent !== undefined) s.peerLimitPerTorrent = patch.peerLimitPerTorrent;
    if (patch.encryption !== undefined) s.encryption = patch.encryption;
    if (patch.dhtEnabled !== undefined) s.dhtEnabled = patch.dhtEnabled;
    if (patch.pexEnabled !== undefined) s.pexEnabled = patch.pexEnabled;
    if (patch.lpdEnabled !== undefined) s.lpdEnabled = patch.lpdEnabled;
    if (patch.startAddedTorrents !== undefined) s.startAddedTorrents = patch.startAddedTorrents;
    this.sessionView = s;
  }

  commands(command?: Command): Array<{ command: Command; id?: number; arg?: unknown }> {
    return this.calls.filter((c) => !command || c.command === command);
  }

  private async gate(command: Command, id?: number, arg?: unknown): Promise<void> {
    this.calls.push({ command, id, arg });
    if (this.hang.has(command)) await new Promise(() => undefined);
    const message = this.fail.get(command);
    if (message) throw new RpcCommandError(message);
  }

  private must(id: number): TorrentView {
    const t = this.views.get(id);
    if (!t) throw new RpcCommandError(`no torrent ${id}`);
    return t;
  }
}
