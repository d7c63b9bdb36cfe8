/**
 * The torrent actor's transition: every message a torrent receives, folded through `TorrentLogic`.
 *
 * Owns: the message set (`TorrentIn`) — facts from peers, the verifier, the disk, the uploader, the
 * dialer and the timers — and which logic each one runs. Returns the logic's effects and events; the
 * runtime (src/actors/torrent.ts) performs them. Nothing here does I/O.
 */
import type { PeerEvent } from './peer-protocol';
import type { PeerSource } from './peer-list';
import type { ReadCacheOut } from './read-cache';
import type { Step } from './step';
import { PeerView, TorrentEffect, TorrentLogic } from './torrent-logic';
import type { EventInput } from '../events/engine-event';
import type { PeerAddress } from '../protocol/tracker-codec';

export type TorrentIn =
  | { type: 'Peer'; key: string; conn: PeerView; event: PeerEvent }
  | { type: 'Attached'; key: string; conn: PeerView; outgoing: boolean }
  | { type: 'DialFailed'; key: string; reason: string }
  | { type: 'PeersFound'; peers: readonly PeerAddress[]; source: PeerSource }
  /** The start-up check's result. */
  | { type: 'Checked'; have: readonly number[]; unchecked: readonly number[] }
  /** Start or stop talking to peers (start, pause, resume). */
  | { type: 'SetActive'; active: boolean }
  | { type: 'Tick' }
  | { type: 'ChokeDecision'; unchoke: readonly string[]; choke: readonly string[] }
  | { type: 'Hashed'; index: number; ok: boolean; data: Buffer; error?: string }
  | { type: 'Written'; index: number }
  | { type: 'WriteFailed'; index: number; message: string; code?: string; path?: string }
  | { type: 'DiskPressure'; on: boolean }
  | { type: 'HashPressure'; on: boolean }
  | { type: 'Upload'; out: ReadCacheOut };

export type TorrentStep = Step<TorrentLogic, TorrentEffect, EventInput>;

export function torrentTransition(t: TorrentLogic, m: TorrentIn): TorrentStep {
  switch (m.type) {
    case 'Peer':
      if (t.peers.get(m.key) === m.conn) t.peerEvent(m.key, m.event);
      break;
    case 'Attached':
      t.attached(m.key, m.conn, m.outgoing);
      break;
    case 'DialFailed':
      t.dialFailed(m.key, m.reason);
      break;
    case 'PeersFound':
      t.learn(m.peers, m.source);
      break;
    case 'Checked':
      for (const i of m.have) {
        t.pieces.markHave(i);
        t.haveIt(i);
      }
      for (const i of m.unchecked) {
        t.pieces.markUnchecked(i);
        t.scheduler.pieceDone(i); // on disk: never requested from peers
      }
      t.completed = t.picker.isComplete();
      break;
    case 'SetActive':
      t.active = m.active;
      if (m.active) t.connectMore();
      else for (const key of t.peers.keys()) t.toPeer(key, { type: 'Close', reason: 'paused' });
      break;
    case 'Tick':
      if (t.active) t.tick();
      break;
    case 'ChokeDecision':
      for (const id of m.unchoke) t.setChoke(id, false);
      for (const id of m.choke) t.setChoke(id, true);
      break;
    case 'Hashed':
      t.hashed(m.index, m.ok, m.data, m.error);
      break;
    case 'Written':
      t.pieceWritten(m.index);
      break;
    case 'WriteFailed':
      t.writeFailed(m.index, m);
      break;
    case 'DiskPressure':
      t.diskPressure = m.on;
      t.emit({
        category: 'storage',
        type: m.on ? 'DiskBusy' : 'DiskReady',
        level: 'debug',
        torrent: t.infoHash,
      });
      t.updatePause();
      if (!m.on) t.fillAll();
      break;
    case 'HashPressure':
      t.hashPressure = m.on;
      t.updatePause();
      if (!m.on) t.fillAll();
      break;
    case 'Upload':
      onUpload(t, m.out);
      break;
  }
  const { effects, events } = t.drain();
  return { state: t, effects, events };
}

function onUpload(t: TorrentLogic, e: ReadCacheOut): void {
  switch (e.type) {
    case 'BlockRead': {
      const c = t.peers.get(e.peer);
      if (!c || c.closed) return;
      t.toPeer(e.peer, { type: 'SendBlock', span: e.span, data: e.data });
      const now = t.o.clock();
      t.stats.uploaded += e.span.length;
      t.upRate.add(e.span.length, now);
      return;
    }
    case 'BlockUnavailable':
      if (t.peers.has(e.peer)) t.toPeer(e.peer, { type: 'BlockUnavailable', span: e.span });
      return;
    case 'PieceChecked':
      t.pieces.checked(e.index, e.ok);
      if (e.ok) t.effect({ type: 'ResumeVerified', index: e.index });
      else
        t.emit({
          category: 'error',
          type: 'PieceCorrupt',
          level: 'error',
          torrent: t.infoHash,
          index: e.index,
          message: `piece ${e.index} on disk does not match the torrent (file changed?); not sending it — run with --verify to check every piece`,
        });
      return;
    case 'ReadFailed': {
      // Once per piece: a read that fails keeps failing until the file is fixed.
      const seen = t.readFailuresReported;
      if (seen.has(e.index) || seen.size > 1000) return;
      seen.add(e.index);
      t.emit({
        category: 'error',
        type: 'ReadFailed',
        level: 'error',
        torrent: t.infoHash,
        index: e.index,
        code: e.code,
        message: e.message,
      });
      return;
    }
  }
}
