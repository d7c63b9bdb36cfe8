/**
 * What a torrent does with each fact one of its peer connections reports (PeerEvent). Part of
 * `TorrentLogic` (src/core/torrent-logic.ts), kept apart so each file stays readable.
 *
 * Every span a peer names was already checked by the connection against the torrent's geometry; the
 * scheduler then matches REJECT and PIECE to our own requests by exact (index, begin, length) before the
 * picker is touched, so nothing a peer sends can make the picker throw.
 */
import type { PeerEvent } from './peer-protocol';
import type { BlockSpan } from './piece-picker';
import type { TorrentLogic } from './torrent-logic';

/** Blocks a peer may send that we never asked for (or had cancelled) before it counts as a violation. */
export const MAX_UNREQUESTED_BLOCKS = 256;

export function handlePeerEvent(t: TorrentLogic, key: string, e: PeerEvent): void {
  const conn = t.peers.get(key);
  if (!conn) return;
  const sched = t.scheduler;
  switch (e.type) {
    case 'PeerHandshaked': {
      for (const [other, c] of t.peers) {
        if (c === conn || !c.peerId?.equals(e.peerId)) continue;
        const keepNew = keepNewDuplicate(t.o.peerId, e.peerId, conn.outgoing, c.outgoing);
        const [drop, kept] = keepNew ? [other, key] : [key, other];
        t.toPeer(drop, { type: 'Close', reason: `duplicate connection (already connected as ${kept})` });
        if (!keepNew) return;
      }
      t.emit({
        category: 'peer',
        type: 'PeerConnected',
        torrent: t.infoHash,
        peer: key,
        client: clientName(e.peerId),
        fast: e.fast,
        extensions: e.extensions,
        outgoing: conn.outgoing,
        encryption: conn.encryption,
        source: t.peerList.get(key)?.source,
      });
      if (t.peersLost) {
        t.peersLost = false;
        t.emit({ category: 'peer', type: 'PeersReturned', torrent: t.infoHash, peer: key });
      }
      return t.ext.connected(key);
    }
    case 'PeerGotBitfield':
      sched.peerBitfield(key, e.bits);
      t.ext.maybeSeed(key);
      return t.updateInterest(key);
    case 'PeerGotHaveAll':
      sched.peerHaveAll(key);
      t.ext.maybeSeed(key);
      return t.updateInterest(key);
    case 'PeerGotHave':
      sched.peerHave(key, e.index);
      return t.updateInterest(key);
    case 'PeerGotAllowedFast':
      sched.peerAllowedFast(key, e.index);
      return t.fill(key);
    case 'PeerChokedUs':
      sched.peerChoked(key, conn.fast);
      t.emit({ category: 'peer', type: 'PeerChokedUs', torrent: t.infoHash, peer: key, level: 'debug' });
      return;
    case 'PeerUnchokedUs':
      sched.peerUnchoked(key);
      t.emit({ category: 'peer', type: 'PeerUnchokedUs', torrent: t.infoHash, peer: key, level: 'debug' });
      return t.fill(key);
    case 'PeerInterested':
      // Give a newly interested peer a free slot now rather than at the next 10 s round.
      if (conn.amChoking) t.effect({ type: 'Choke', round: false, id: key });
      return;
    case 'PeerSentExtensionHandshake':
      return t.ext.handshake(key, e.handshake);
    case 'PeerSentExtended':
      return t.ext.message(key, e.message);
    case 'PeerNotInterested':
    case 'PeerSentPort':
      return;
    case 'PeerSentBlock':
      return onBlock(t, key, e.span, e.data);
    case 'PeerRejected':
      // BEP 6: a reject must name a request we sent, exactly; anything else ends the connection.
      if (!sched.rejected(key, e.span, t.o.clock())) {
        const { index, begin, length } = e.span;
        const reason = `protocol error: reject for a block we did not request (${index}:${begin}+${length})`;
        t.toPeer(key, { type: 'Close', reason });
        t.strike(key, reason, 0.5);
        return;
      }
      // The block is free again: whoever has room (not only this peer) may take it now.
      return t.fillAll();
    case 'PeerWantsBlock':
      if (!t.pieces.servable(e.span.index)) return t.toPeer(key, { type: 'BlockUnavailable', span: e.span });
      t.effect({
        type: 'Read',
        peer: key,
        span: e.span,
        check: t.pieces.statusOf(e.span.index) === 'unchecked',
      });
      return;
    case 'PeerClosed': {
      const seed = sched.peerPieces(key) === t.o.meta.pieceCount;
      t.ext.closed(key);
      t.peers.delete(key);
      t.lastBlockAt.delete(key);
      sched.removePeer(key);
      const useless = conn.outgoing && conn.downloaded === 0 && conn.uploaded === 0;
      t.peerList.disconnected(key, seed, useless ? t.o.clock() : undefined);
      t.emit({
        category: 'peer',
        type: 'PeerDisconnected',
        torrent: t.infoHash,
        peer: key,
        reason: e.reason,
        level: e.violation ? 'warn' : 'info',
        downloaded: conn.downloaded,
        uploaded: conn.uploaded,
      });
      if (e.violation) t.strike(key, e.reason);
      if (!t.completed && conn.handshaked) t.peerLeft();
      t.fillAll();
      t.connectMore();
      return;
    }
  }
}

function onBlock(t: TorrentLogic, key: string, span: BlockSpan, data: Buffer): void {
  const now = t.o.clock();
  const outcome = t.scheduler.blockReceived(key, span, now);
  const conn = t.peers.get(key);
  if (outcome.kind === 'unexpected') {
    // Late blocks after a cancel or a choke are normal (BEP 3); a stream of blocks nobody asked for is not.
    t.stats.wasted += data.length;
    t.emit({
      category: 'block',
      type: 'BlockWasted',
      level: 'debug',
      torrent: t.infoHash,
      peer: key,
      index: span.index,
      begin: span.begin,
      why: outcome.why,
    });
    if (conn && conn.unrequestedBlock() > MAX_UNREQUESTED_BLOCKS)
      return t.toPeer(key, { type: 'Close', reason: 'protocol error: too many blocks we did not request' });
    return t.fill(key);
  }
  t.pieces.blockArrived(span.index, span.begin, data);
  t.stats.downloaded += data.length;
  if (t.firstByteAt === undefined) {
    t.firstByteAt = now;
    t.emit({ category: 'piece', type: 'FirstBlockReceived', level: 'debug', torrent: t.infoHash, peer: key });
  }
  t.lastBlockAt.set(key, now);
  t.downRate.add(data.length, now);
  for (const c of outcome.cancels) t.toPeer(c.peer, { type: 'CancelBlock', span: c.span });
  if (outcome.complete) {
    t.effect({ type: 'Verify', index: span.index, data: t.pieces.startHash(span.index) });
  }
  // In endgame a block that arrives may make another peer's duplicate unnecessary, or let an idle peer
  // take a block that has become late elsewhere: look at every peer (there are few).
  if (t.picker.unrequestedBlocks() === 0) t.fillAll();
  else t.fill(key);
}

/**
 * Two connections to one peer: keep the new one? When each side dialled the other at once, both keep
 * the one dialled by the smaller peer id (each closing its newer one would close both); otherwise the
 * older one stays.
 */
export function keepNewDuplicate(
  ours: Buffer,
  theirs: Buffer,
  newOutgoing: boolean,
  oldOutgoing: boolean,
): boolean {
  return newOutgoing !== oldOutgoing && newOutgoing === Buffer.compare(ours, theirs) < 0;
}

/** `-qB4650-…` → `qB 4.6.5.0`; anything else shown as hex prefix. */
export function clientName(peerId: Buffer): string {
  const s = peerId.toString('latin1', 0, 8);
  const m = /^-([A-Za-z~]{2})([0-9A-Za-z]{4})-$/.exec(s);
  return m ? `${m[1]} ${m[2].split('').join('.')}` : peerId.toString('hex', 0, 4);
}
