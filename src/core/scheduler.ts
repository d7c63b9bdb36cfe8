/**
 * The request scheduler: which blocks each peer is asked for, with backpressure.
 *
 * Owns: per-peer request bookkeeping (what each peer has, whether it chokes us, which blocks are
 * outstanding to it and since when), each peer's credit (how many requests it may have in flight), the
 * global pause (disk or hash queues above their watermarks), the cap on pieces in progress (each one
 * holds a piece buffer, so this cap is what keeps memory flat), endgame (duplicate the last outstanding
 * blocks, cancel the losers) and request timeouts. Does not own: sockets, timers or bytes — it answers
 * "send these requests / these cancels" and the session performs them.
 *
 * Like the picker it wraps, the scheduler is a mutable object owned by exactly one actor (the torrent
 * session): it runs per block, thousands of times a second, so it does not copy its state per step.
 */
import { BitSet } from '../protocol/wire-codec';
import { BlockSpan, PiecePicker } from './piece-picker';

/** Most duplicate requests an idle peer gets at once in endgame. */
const ENDGAME_BATCH = 4;
/**
 * No endgame duplicate of a request younger than this, and a peer silent this long is stalled. Short
 * enough to finish a download whose last peer stalls, long enough that a busy machine (every process
 * slowed for a second) does not turn the whole tail into duplicates.
 */
const LATE_STALL_MS = 2000;
/** How long a piece a peer rejected is not asked of it again, and how many such pieces are kept. */
const REFUSED_MS = 10_000;
const MAX_REFUSED = 1024;

export interface SchedulerOptions {
  /** Most pieces with buffers at once (in progress or waiting for hash/disk). */
  maxPiecesInProgress: number;
  /** Requests a fresh peer may have in flight before its rate is known. */
  initialDepth?: number;
  /** Hard cap per peer (default 500); `setDepthCap` lowers it for a peer whose BEP 10 `reqq` is smaller. */
  maxDepth?: number;
}

interface Outstanding {
  span: BlockSpan;
  at: number;
}

interface PeerSched {
  has: BitSet;
  seed: boolean;
  chokesUs: boolean;
  /** BEP 6: pieces we may request even while choked. */
  allowedFast: Set<number>;
  outstanding: Map<number, Outstanding>;
  /**
   * Pieces it rejected while unchoking us (index → until when, ms): a seed that found the piece bad on
   * its disk, or whose queue was full. Asked elsewhere meanwhile — asking the same peer again at once
   * would loop request → reject and starve the peers that have the piece.
   */
  refused: Map<number, number>;
  depth: number;
  /** Most requests this peer queues (its BEP 10 `reqq`, at most maxDepth). */
  cap: number;
  /** When its last block arrived (ms; undefined before the first). */
  lastArrival: number | undefined;
  /** Smoothed time between its blocks (ms), while it has requests in flight. */
  interval: number | undefined;
  /** Pieces it has that we lack (not used for seeds, where it is our missing count). */
  wanted: number;
}

export interface Cancel {
  peer: string;
  span: BlockSpan;
}

export type BlockOutcome =
  /** Accepted; `complete` when the piece now has every block; `cancels` for endgame duplicates. */
  | { kind: 'accepted'; complete: boolean; cancels: Cancel[] }
  /** Not asked for (or cancelled), or already received from someone else: drop the bytes. */
  | { kind: 'unexpected'; why?: 'not-requested' | 'duplicate' };

export class Scheduler {
  private readonly peers = new Map<string, PeerSched>();
  /**
   * Who sent blocks of each piece in progress — kept after a peer leaves, so a piece that fails its hash
   * blames everyone who contributed, not only those still connected.
   */
  private readonly contributors = new Map<number, Set<string>>();
  private paused = false;
  private readonly initialDepth: number;
  private readonly maxDepth: number;

  constructor(
    readonly picker: PiecePicker,
    private readonly opts: SchedulerOptions,
  ) {
    this.initialDepth = opts.initialDepth ?? 16;
    this.maxDepth = opts.maxDepth ?? 500;
  }

  get peerCount(): number {
    return this.peers.size;
  }

  addPeer(id: string): void {
    this.peers.set(id, {
      has: BitSet.empty(this.picker.pieceCount),
      seed: false,
      chokesUs: true,
      allowedFast: new Set(),
      outstanding: new Map(),
      refused: new Map(),
      depth: Math.min(this.initialDepth, this.maxDepth),
      cap: this.maxDepth,
      lastArrival: undefined,
      interval: undefined,
      wanted: 0,
    });
  }

  /** Forget a peer: its availability leaves the picker and its outstanding blocks become free again. */
  removePeer(id: string): void {
    const p = this.peers.get(id);
    if (!p) return;
    this.dropOutstanding(p);
    if (p.seed) this.picker.peerLost('all');
    else this.picker.peerLost(p.has);
    this.peers.delete(id);
  }

  /** The peer's pieces (its first message, or a later full update: aria2 sends those). */
  peerBitfield(id: string, bits: BitSet): void {
    const p = this.peers.get(id);
    if (!p || p.seed) return;
    this.picker.peerLost(p.has);
    p.has = bits;
    this.picker.peerBitfield(bits);
    p.wanted = 0;
    for (let i = 0; i < this.picker.pieceCount; i++) if (bits.get(i) && !this.picker.hasPiece(i)) p.wanted++;
  }

  peerHave(id: string, index: number): void {
    const p = this.peers.get(id);
    if (!p || p.seed || p.has.get(index)) return;
    p.has.set(index);
    this.picker.peerHave(index);
    if (!this.picker.hasPiece(index)) p.wanted++;
  }

  peerHaveAll(id: string): void {
    const p = this.peers.get(id);
    if (!p || p.seed) return;
    this.picker.peerLost(p.has);
    p.seed = true;
    p.has = BitSet.full(this.picker.pieceCount);
    this.picker.peerHaveAll();
  }

  peerAllowedFast(id: string, index: number): void {
    this.peers.get(id)?.allowedFast.add(index);
  }

  /** Without BEP 6 a choke cancels everything we asked for; with it, the peer rejects explicitly. */
  peerChoked(id: string, fast: boolean): void {
    const p = this.peers.get(id);
    if (!p) return;
    p.chokesUs = true;
    if (!fast) this.dropOutstanding(p);
  }

  peerUnchoked(id: string): void {
    const p = this.peers.get(id);
    if (p) p.chokesUs = false;
  }

  /**
   * The peer said it will not send this block (BEP 6 reject). Returns false when no request of ours to
   * this peer has exactly this (index, begin, length): BEP 6 makes that a protocol violation, and the
   * picker is never touched with a span it did not hand out.
   */
  rejected(id: string, span: BlockSpan, now = 0): boolean {
    const p = this.peers.get(id);
    if (!p) return false;
    const key = this.matchKey(p, span);
    if (key < 0) return false;
    const o = p.outstanding.get(key) as Outstanding;
    p.outstanding.delete(key);
    this.picker.cancelled(o.span);
    // A choking peer rejects what it had queued (BEP 6); an unchoking one will not send this piece.
    if (!p.chokesUs) {
      if (p.refused.size >= MAX_REFUSED)
        for (const [i, until] of p.refused) if (until <= now) p.refused.delete(i);
      if (p.refused.size < MAX_REFUSED) p.refused.set(span.index, now + REFUSED_MS);
    }
    return true;
  }

  /** Set how many requests a peer may have in flight (from its measured rate), within its cap. */
  setDepth(id: string, depth: number): void {
    const p = this.peers.get(id);
    if (p) p.depth = Math.max(1, Math.min(p.cap, Math.floor(depth)));
  }

  /** The peer queues at most `cap` requests (its BEP 10 `reqq`): its depth never goes above it. */
  setDepthCap(id: string, cap: number): void {
    const p = this.peers.get(id);
    if (!p) return;
    p.cap = Math.max(1, Math.min(this.maxDepth, Math.floor(cap)));
    p.depth = Math.min(p.depth, p.cap);
  }

  /** Disk or hash queue above its watermark: hand out no new requests until resumed. */
  setPaused(paused: boolean): void {
    this.paused = paused;
  }

  isPaused(): boolean {
    return this.paused;
  }

  /** Whether we want anything this peer has (O(1): counts are kept up to date). */
  isInteresting(id: string): boolean {
    const p = this.peers.get(id);
    if (!p || this.picker.isComplete()) return false;
    return p.seed || p.wanted > 0;
  }

  /** Pieces the peer has (for progress in logs). */
  peerPieces(id: string): number {
    const p = this.peers.get(id);
    return !p ? 0 : p.seed ? this.picker.pieceCount : p.has.count();
  }

  peerIds(): IterableIterator<string> {
    return this.peers.keys();
  }

  outstandingCount(id: string): number {
    return this.peers.get(id)?.outstanding.size ?? 0;
  }

  /**
   * The requests to send to this peer now: as many as its free credit, none while paused, none while it
   * chokes us (except allowed-fast pieces). In endgame, blocks outstanding elsewhere are duplicated.
   */
  fill(id: string, now: number): BlockSpan[] {
    const p = this.peers.get(id);
    if (!p || this.paused || this.picker.isComplete()) return [];
    const room = p.depth - p.outstanding.size;
    if (room <= 0) return [];
    // Refill in batches (a quarter of the pipeline, at most 16) rather than one request per block
    // received: each batch is one socket write instead of one per request. An idle peer always fills.
    if (p.outstanding.size > 0 && room < Math.min(16, Math.max(1, Math.floor(p.depth / 4)))) return [];
    // Pieces stay "in progress" in the picker until verified, so this also counts pieces being hashed or
    // written; the picker starts new pieces only into the room left under the cap.
    const roomForPieces = Math.max(0, this.opts.maxPiecesInProgress - this.picker.piecesInProgressCount());
    const refused = p.refused;
    const has = (i: number): boolean =>
      (p.seed || p.has.get(i)) &&
      (!p.chokesUs || p.allowedFast.has(i)) &&
      (refused.size === 0 || !((refused.get(i) ?? 0) > now));
    if (p.chokesUs && p.allowedFast.size === 0) return [];
    const endgame = this.picker.unrequestedBlocks() === 0;
    // Endgame duplicates only go to a peer with nothing else in flight, a few at a time (as libtorrent
    // does): duplicating every outstanding block to every peer with room re-downloads most of the tail
    // when the pipelines are deep, because the cancels arrive after the blocks were sent.
    if (endgame && p.outstanding.size > 0) return [];
    const n = endgame ? Math.min(room, ENDGAME_BATCH) : room;
    // In endgame, only blocks that are late where they were asked for are duplicated: one still on its
    // way from a peer that is delivering would arrive anyway, and its duplicate would be waste.
    const exclude = endgame
      ? { has: (k: number) => p.outstanding.has(k) || !this.isLate(k, now) }
      : { has: (k: number) => p.outstanding.has(k) };
    const spans = this.picker.pick(has, n, { endgame, exclude, maxNewPieces: roomForPieces });
    for (const span of spans) {
      this.picker.requested(span);
      p.outstanding.set(this.picker.blockKey(span), { span, at: now });
    }
    return spans;
  }

  /** A block arrived from `id` at `now` (ms). */
  blockReceived(id: string, span: BlockSpan, now = 0): BlockOutcome {
    const p = this.peers.get(id);
    if (!p) return { kind: 'unexpected' };
    if (p.lastArrival !== undefined && p.outstanding.size > 0) {
      const gap = now - p.lastArrival;
      p.interval = p.interval === undefined ? gap : 0.8 * p.interval + 0.2 * gap;
    }
    p.lastArrival = now;
    const key = this.matchKey(p, span);
    if (key < 0) return { kind: 'unexpected', why: 'not-requested' };
    // From here on `span` is one we requested, so it is a valid block of the torrent.
    p.outstanding.delete(key);
    const state = this.picker.blockState(span);
    if (state === 'received' || state === 'written') {
      this.picker.cancelled(span);
      return { kind: 'unexpected', why: 'duplicate' };
    }
    const complete = this.picker.received(span);
    let who = this.contributors.get(span.index);
    if (!who) this.contributors.set(span.index, (who = new Set()));
    who.add(id);
    const cancels: Cancel[] = [];
    // Keys, then get: no entry array per peer per block (see PiecePicker.pick).
    for (const other of this.peers.keys()) {
      if (other !== id && (this.peers.get(other) as PeerSched).outstanding.delete(key)) {
        this.picker.cancelled(span);
        cancels.push({ peer: other, span });
      }
    }
    return { kind: 'accepted', complete, cancels };
  }

  /** The piece passed its hash and is on disk. */
  pieceDone(index: number): void {
    if (this.picker.hasPiece(index)) return;
    this.picker.pieceVerified(index);
    this.contributors.delete(index);
    for (const p of this.peers.values()) {
      if (!p.seed && p.has.get(index)) p.wanted--;
    }
  }

  /** The piece failed its hash: its blocks are free again; returns the peers that sent parts of it. */
  pieceFailed(index: number): string[] {
    this.picker.pieceFailed(index);
    const blamed = [...(this.contributors.get(index) ?? [])];
    this.contributors.delete(index);
    return blamed;
  }

  /** A write failed: the piece goes back to free without blaming anyone. */
  pieceAbandoned(index: number): void {
    this.contributors.delete(index);
    this.picker.pieceFailed(index);
  }

  /** Requests older than `timeoutMs`: freed for others; returns them per peer (to cancel and snub). */
  expire(now: number, timeoutMs: number): Cancel[] {
    const out: Cancel[] = [];
    for (const [id, p] of this.peers) {
      for (const [key, o] of p.outstanding) {
        if (now - o.at < timeoutMs) continue;
        p.outstanding.delete(key);
        this.picker.peerTimedOut(o.span);
        out.push({ peer: id, span: o.span });
      }
    }
    return out;
  }

  /**
   * The key of the request to `p` that is exactly `span`, or -1. Peer-supplied spans are checked here,
   * before the picker sees them: `blockKey` rounds `begin` down, so a key match alone is not enough.
   */
  private matchKey(p: PeerSched, span: BlockSpan): number {
    const { index, begin, length } = span;
    if (!Number.isInteger(index) || index < 0 || index >= this.picker.pieceCount) return -1;
    if (!Number.isInteger(begin) || begin < 0) return -1;
    const key = this.picker.blockKey(span);
    const mine = p.outstanding.get(key);
    if (!mine || mine.span.index !== index || mine.span.begin !== begin || mine.span.length !== length)
      return -1;
    return key;
  }

  /**
   * Whether block `key` is overdue at every peer it was requested from. A peer that is delivering gets
   * 1.5× the time its whole queue takes at its pace between blocks, plus 250 ms, and at least
   * LATE_STALL_MS; a stalled one none.
   */
  private isLate(key: number, now: number): boolean {
    for (const q of this.peers.values()) {
      const o = q.outstanding.get(key);
      if (!o) continue;
      // Stalled: silent for LATE_STALL_MS, or for eight of its usual gaps when it is slower than that.
      const stallMs = Math.max(LATE_STALL_MS, 8 * (q.interval ?? 0));
      if (q.lastArrival !== undefined && now - q.lastArrival > stallMs) continue;
      const expectedMs =
        q.interval === undefined
          ? LATE_STALL_MS
          : Math.max(LATE_STALL_MS, 1.5 * q.outstanding.size * q.interval + 250);
      if (now - o.at < expectedMs) return false;
    }
    return true;
  }

  private dropOutstanding(p: PeerSched): void {
    for (const o of p.outstanding.values()) this.picker.cancelled(o.span);
    p.outstanding.clear();
  }
}
