/**
 * serve's start queue: torrents waiting to start, started `concurrentChecks` at a time (default 2)
 * because each start checks its data (reads and hashes it); the rest wait in `queued`.
 *
 * Owns: the queue, the count of starts under way and starting one torrent on the engine (its tracker
 * tiers, limits, `verify`). Does not own: the list (serve-daemon.ts keeps it and says through
 * `isListed` whether an entry is still in it) or the engine's work.
 */
import type { Engine } from '../actors/engine';
import type { Torrent } from '../actors/torrent';
import type { EventInput } from '../events/engine-event';
import { ServeEntry, attachTorrent } from './serve-entries';

/** How serve starts a torrent on the engine (also the daemon's options for these). */
export interface TorrentStartOptions {
  engine: Engine;
  /** Where every torrent's data lives (`DATA/<name>`). */
  dataDir: string;
  maxPeersPerTorrent?: number;
  uploadSlots?: number;
  minAnnounceIntervalMs?: number;
  /** Torrents checking their data at once (default 2). */
  concurrentChecks?: number;
}

export interface StartQueueOptions extends TorrentStartOptions {
  /** False once the entry was removed from the list or replaced: then it is not started. */
  isListed: (e: ServeEntry) => boolean;
  emit: (e: EventInput) => void;
}

export class StartQueue {
  private readonly queue: ServeEntry[] = [];
  private checking = 0;
  private stopped = false;

  constructor(private readonly o: StartQueueOptions) {}

  enqueue(e: ServeEntry, verify: boolean): void {
    e.state = 'queued';
    e.verifyNext = verify;
    this.queue.push(e);
    this.pump();
  }

  /** Takes it out of the queue (paused or removed before its turn). */
  drop(e: ServeEntry): void {
    const i = this.queue.indexOf(e);
    if (i >= 0) this.queue.splice(i, 1);
  }

  /** Starts nothing more. */
  stop(): void {
    this.stopped = true;
  }

  /** Starts queued torrents, `concurrentChecks` at a time (their start-up checks read and hash data). */
  private pump(): void {
    const max = this.o.concurrentChecks ?? 2;
    while (!this.stopped && this.checking < max && this.queue.length > 0) {
      const e = this.queue.shift() as ServeEntry;
      this.checking++;
      void this.startOne(e).finally(() => {
        this.checking--;
        this.pump();
      });
    }
  }

  private async startOne(e: ServeEntry): Promise<void> {
    if (!e.meta || !this.o.isListed(e)) return;
    e.state = 'checking';
    let t: Torrent;
    try {
      t = this.o.engine.add({
        meta: e.meta,
        dir: this.o.dataDir,
        mode: 'leech', // complete data is found by the check and seeded; missing data is downloaded
        trackers: e.meta.announceList.filter((tier) => tier.some((u) => /^(https?|udp):/i.test(u))),
        maxPeers: this.o.maxPeersPerTorrent,
        uploadSlots: this.o.uploadSlots,
        verify: e.verifyNext === true,
        minAnnounceIntervalMs: this.o.minAnnounceIntervalMs,
      });
    } catch (err) {
      e.state = 'error';
      e.error = (err as Error).message;
      return;
    }
    attachTorrent(e, t);
    try {
      await t.start();
      if (!this.o.isListed(e) || e.torrent !== t) return; // removed or restarted meanwhile
      if (e.state === 'checking') e.state = 'running';
      else if (e.state === 'paused') await t.pause();
    } catch (err) {
      e.state = 'error';
      e.error = (err as Error).message;
      this.o.emit({
        category: 'error',
        type: 'TorrentFailed',
        level: 'error',
        torrent: e.key,
        message: e.error,
      });
    }
  }
}
