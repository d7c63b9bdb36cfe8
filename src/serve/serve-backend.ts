/**
 * The RPC backend for `serve`: the Transmission-compatible remote control's seam (src/rpc/rpc-backend.ts)
 * implemented on the serve daemon and its engine.
 *
 * Owns: answering views from memory (never the disk: the daemon and the engine keep everything the views
 * need) and turning commands into daemon calls, with refusals a user can act on. Does not own: HTTP,
 * JSON or Transmission's field names (src/rpc) or what the commands do (src/serve/serve-daemon.ts).
 */
import type { Engine } from '../actors/engine';
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
} from '../rpc/rpc-backend';
import type { ServeDaemon, ServeEntry } from './serve-daemon';
import { torrentView } from './serve-views';

export interface ServeBackendOptions {
  daemon: ServeDaemon;
  engine: Engine;
  dataDir: string;
  configDir: string;
  version: string;
  peerLimitGlobal: number;
  peerLimitPerTorrent: number;
  clock?: () => number;
}

/** Features a later change turns on; until then `session-get` says so and `session-set` refuses them. */
export interface SessionFeatures {
  encryption: () => 'required' | 'preferred' | 'tolerated';
  setEncryption?: (policy: 'required' | 'preferred' | 'tolerated') => void;
  dhtEnabled: () => boolean;
  pexEnabled: () => boolean;
  lpdEnabled: () => boolean;
}

export function createServeBackend(o: ServeBackendOptions, features: SessionFeatures): RpcBackend {
  const clock = o.clock ?? Date.now;
  const startedAt = clock();
  const entry = (id: number): ServeEntry => {
    const e = o.daemon.byId(id);
    if (!e) throw new RpcCommandError(`no torrent with id ${id}`);
    return e;
  };
  const refuse = (what: string): never => {
    throw new RpcCommandError(`${what} cannot be changed in rxtorrent serve (see rxtorrent serve --help)`);
  };
  const limit = (b: { limited: boolean; bytesPerSecond: number }): number | undefined =>
    b.limited ? b.bytesPerSecond : undefined;

  return {
    torrents(): TorrentView[] {
      const now = clock();
      return o.daemon.list().map((e) => torrentView(e, o.dataDir, now));
    },
    session(): SessionView {
      return {
        version: o.version,
        peerPort: o.engine.port,
        downloadDir: o.dataDir,
        downloadLimit: limit(o.engine.downBucket),
        uploadLimit: limit(o.engine.upBucket),
        peerLimitGlobal: o.peerLimitGlobal,
        peerLimitPerTorrent: o.peerLimitPerTorrent,
        encryption: features.encryption(),
        dhtEnabled: features.dhtEnabled(),
        pexEnabled: features.pexEnabled(),
        lpdEnabled: features.lpdEnabled(),
        utpEnabled: false,
        startAddedTorrents: true,
        configDir: o.configDir,
      };
    },
    stats(): SessionStatsView {
      let up = 0;
      let down = 0;
      for (const e of o.daemon.list()) {
        const s = e.torrent?.stats();
        up += s?.uploaded ?? 0;
        down += s?.downloaded ?? 0;
      }
      const totals = {
        uploadedBytes: up,
        downloadedBytes: down,
        filesAdded: o.daemon.list().length,
        secondsActive: Math.floor((clock() - startedAt) / 1000),
        sessionCount: 1,
      };
      return { current: totals, cumulative: totals };
    },
    async add(request: AddRequest): Promise<AddResult> {
      const input =
        request.source.kind === 'metainfo'
          ? { bytes: request.source.bytes }
          : { filename: request.source.filename };
      if (request.downloadDir !== undefined && request.downloadDir !== o.dataDir)
        throw new RpcCommandError(
          `download-dir must be ${o.dataDir} (serve keeps every torrent's data in one folder)`,
        );
      try {
        const { entry: e, duplicate } = await o.daemon.add(input, { paused: request.paused });
        return { duplicate, torrent: { id: e.id, name: e.name, infoHash: e.key } };
      } catch (err) {
        throw new RpcCommandError(
          `cannot add ${'filename' in input ? input.filename : 'the torrent'}: ${(err as Error).message}`,
        );
      }
    },
    start: async (id) => o.daemon.resume(entry(id)),
    stop: async (id) => o.daemon.pause(entry(id)),
    verify: async (id) => o.daemon.verify(entry(id)),
    remove: async (id, opts) => o.daemon.remove(entry(id), { deleteData: opts.deleteData }),
    async setTorrent(id: number, patch: TorrentPatch): Promise<void> {
      const e = entry(id);
      if (patch.peerLimit !== undefined) refuse('peer-limit');
      await o.daemon.setLimits(e, { down: patch.downloadLimit, up: patch.uploadLimit });
    },
    async setSession(patch: SessionPatch): Promise<void> {
      if (patch.encryption !== undefined) {
        if (!features.setEncryption) refuse('encryption');
        else features.setEncryption(patch.encryption);
      }
      if (patch.peerLimitGlobal !== undefined) refuse('peer-limit-global');
      if (patch.peerLimitPerTorrent !== undefined) refuse('peer-limit-per-torrent');
      if (patch.dhtEnabled !== undefined && patch.dhtEnabled !== features.dhtEnabled()) refuse('dht-enabled');
      if (patch.pexEnabled !== undefined && patch.pexEnabled !== features.pexEnabled()) refuse('pex-enabled');
      if (patch.lpdEnabled !== undefined && patch.lpdEnabled !== features.lpdEnabled()) refuse('lpd-enabled');
      if (patch.startAddedTorrents === false) refuse('start-added-torrents');
      if (patch.downloadLimit !== undefined || patch.uploadLimit !== undefined)
        await o.daemon.setGlobalLimits({ down: patch.downloadLimit, up: patch.uploadLimit });
    },
  };
}
