/**
 * BEP 9 metadata exchange, as pure logic: fetching a torrent's info dictionary from the peers of a magnet
 * link, and answering other peers' requests for ours.
 *
 * Owns (fetching): which size to assemble when peers disagree, which piece to ask which peer (at most
 * `maxRequestsPerPeer` in flight each, lowest missing piece first, never one piece from two peers at
 * once), timeouts and rejects (the piece goes back to the pool, the peer rests), checking each piece's
 * index and size, assembling and checking the SHA1 against the info-hash, and striking peers that lie.
 * Does not own: sockets, the extended-message envelope, timers or the clock (the runtime stamps `now` and
 * sends `Tick` about once a second), nor bans (a `StrikePeer` effect tells the torrent's peer list, which
 * owns them; here a struck-out peer is simply never asked again).
 *
 * Lies and how they are met:
 *   - `metadata_size` (or `total_size`) of 0 or over `maxSize` (32 MiB): struck out, never asked;
 *   - a `total_size` that differs from the same peer's `metadata_size`, or a second handshake that
 *     changes it: struck out;
 *   - a piece of the wrong size, or past the end: one strike, the piece is asked of another peer;
 *   - metadata that does not hash to the info-hash: when one peer sent every piece it is struck out;
 *     otherwise every peer that sent a piece gets a strike, and from then on all pieces of an attempt come
 *     from one peer, so the next failure names the liar.
 * Peers that claim different sizes are not liars by themselves: the size claimed by most usable peers is
 * assembled first (ties: the earliest claim), and the others are tried when its claimants are used up.
 * Data nobody asked for is ignored. `PeerSupportsMetadata` without a size makes the peer eligible for a
 * first request (piece 0), whose `total_size` tells the size.
 *
 * Serving (`answerMetadataRequest`): data for pieces of metadata we have, a reject otherwise, and a reject
 * once a peer has been served `servedLimit` pieces (BEP 9's flood protection).
 *
 * @example
 *   let s = initialMetadataFetch({ infoHash });
 *   let step = metadataFetchTransition(s, { type: 'PeerSupportsMetadata', peer: '10.0.0.2:6881', metadataSize: 31235, now: 0 });
 *   // effects: RequestMetadataPiece piece 0 and 1 for 10.0.0.2:6881
 *   step = metadataFetchTransition(step.state, { type: 'PeerSentMetadata', peer: '10.0.0.2:6881', message, now: 40 });
 *   // …once every piece is in and hashes right: effects [{ type: 'MetadataVerified', info }]
 */
import { createHash } from 'node:crypto';
import type { Step } from '../actors/actor';
import type { EventInput } from '../events/engine-event';
import {
  MAX_METADATA_SIZE,
  MetadataData,
  MetadataReject,
  UtMetadataMessage,
  metadataPieceCount,
  metadataPieceLength,
  METADATA_PIECE_SIZE,
} from '../protocol/ut-metadata';

export interface MetadataFetchConfig {
  infoHash: Buffer;
  /** Largest metadata accepted (default and ceiling: 32 MiB). */
  maxSize?: number;
  /** Requests in flight per peer (default 2). */
  maxRequestsPerPeer?: number;
  /** A request unanswered this long goes back to the pool (default 8 s). */
  requestTimeoutMs?: number;
  /** A peer that rejects (it lacks the metadata) or times out rests this long (default 60 s / 15 s). */
  rejectBackoffMs?: number;
  timeoutBackoffMs?: number;
  /** Strikes before a peer is never asked again (default 3). */
  maxStrikes?: number;
}

interface FetchPeer {
  /** The size this peer says the metadata has (handshake, or the first data it sent). */
  claim?: number;
  /** Piece → time asked. */
  inflight: ReadonlyMap<number, number>;
  strikes: number;
  /** Not asked before this time (after a reject or a timeout). */
  restUntil: number;
  /** Struck out: never asked again. */
  out: boolean;
}

export interface MetadataFetchState {
  readonly cfg: Required<MetadataFetchConfig>;
  readonly peers: ReadonlyMap<string, FetchPeer>;
  /** The size being assembled, once chosen. */
  readonly size?: number;
  readonly pieces: readonly (Buffer | undefined)[];
  readonly sources: readonly (string | undefined)[];
  /** After a hash failure: every piece of an attempt from this one peer. */
  readonly singleSource: boolean;
  readonly hashFailures: number;
  /** The verified info dictionary, when done. */
  readonly info?: Buffer;
}

export type MetadataFetchIn =
  /** The peer's extended handshake offers ut_metadata (its `metadata_size`, if it gave one). */
  | { type: 'PeerSupportsMetadata'; peer: string; metadataSize?: number; now: number }
  /** Disconnected, or turned ut_metadata off. */
  | { type: 'PeerGone'; peer: string; now: number }
  | { type: 'PeerSentMetadata'; peer: string; message: UtMetadataMessage; now: number }
  | { type: 'Tick'; now: number };

export type MetadataFetchEffect =
  | { type: 'RequestMetadataPiece'; peer: string; piece: number }
  | { type: 'StrikePeer'; peer: string; reason: string }
  | { type: 'MetadataVerified'; info: Buffer };

export type MetadataFetchStep = Step<MetadataFetchState, MetadataFetchEffect, EventInput>;

export function initialMetadataFetch(cfg: MetadataFetchConfig): MetadataFetchState {
  if (cfg.infoHash.length !== 20) throw new RangeError('info-hash must be 20 bytes');
  return {
    cfg: {
      infoHash: cfg.infoHash,
      maxSize: Math.min(cfg.maxSize ?? MAX_METADATA_SIZE, MAX_METADATA_SIZE),
      maxRequestsPerPeer: cfg.maxRequestsPerPeer ?? 2,
      requestTimeoutMs: cfg.requestTimeoutMs ?? 8_000,
      rejectBackoffMs: cfg.rejectBackoffMs ?? 60_000,
      timeoutBackoffMs: cfg.timeoutBackoffMs ?? 15_000,
      maxStrikes: cfg.maxStrikes ?? 3,
    },
    peers: new Map(),
    pieces: [],
    sources: [],
    singleSource: false,
    hashFailures: 0,
  };
}

/** A working copy for one transition; the previous state is never mutated. */
class Draft {
  peers: Map<string, FetchPeer>;
  size: number | undefined;
  pieces: (Buffer | undefined)[];
  sources: (string | undefined)[];
  singleSource: boolean;
  hashFailures: number;
  info: Buffer | undefined;
  readonly effects: MetadataFetchEffect[] = [];
  readonly events: EventInput[] = [];
  private readonly torrent: string;

  constructor(readonly s: MetadataFetchState) {
    this.peers = new Map(s.peers);
    this.size = s.size;
    this.pieces = [...s.pieces];
    this.sources = [...s.sources];
    this.singleSource = s.singleSource;
    this.hashFailures = s.hashFailures;
    this.info = s.info;
    this.torrent = s.cfg.infoHash.toString('hex');
  }

  get cfg(): Required<MetadataFetchConfig> {
    return this.s.cfg;
  }

  peer(key: string): FetchPeer | undefined {
    return this.peers.get(key);
  }

  update(key: string, change: Partial<FetchPeer>): FetchPeer {
    const next = { ...(this.peers.get(key) as FetchPeer), ...change };
    this.peers.set(key, next);
    return next;
  }

  event(type: string, level: EventInput['level'], details: Record<string, unknown> = {}): void {
    this.events.push({ category: 'metadata', type, level, torrent: this.torrent, ...details });
  }

  /** One strike; `out` strikes the peer out at once (a proven lie). */
  strike(key: string, reason: string, out = false): void {
    const p = this.peer(key);
    if (!p || p.out) return;
    const strikes = p.strikes + 1;
    const struckOut = out || strikes >= this.cfg.maxStrikes;
    this.update(key, { strikes, out: struckOut, inflight: new Map() });
    this.effects.push({ type: 'StrikePeer', peer: key, reason });
    this.event('MetadataPeerStruck', 'warn', { peer: key, reason, strikes, struckOut });
  }

  finish(): MetadataFetchStep {
    const state: MetadataFetchState = {
      cfg: this.cfg,
      peers: this.peers,
      size: this.size,
      pieces: this.pieces,
      sources: this.sources,
      singleSource: this.singleSource,
      hashFailures: this.hashFailures,
      info: this.info,
    };
    return { state, effects: this.effects, events: this.events };
  }
}

const validClaim = (d: Draft, size: number | undefined): size is number =>
  size !== undefined && Number.isSafeInteger(size) && size >= 1 && size <= d.cfg.maxSize;

function setSize(d: Draft, size: number | undefined): void {
  d.size = size;
  const n = size === undefined ? 0 : metadataPieceCount(size);
  d.pieces = new Array<Buffer | undefined>(n).fill(undefined);
  d.sources = new Array<string | undefined>(n).fill(undefined);
  for (const [key, p] of d.peers) if (p.inflight.size > 0) d.update(key, { inflight: new Map() });
  if (size !== undefined) d.event('MetadataSizeChosen', 'debug', { size, pieces: n });
}

/** The size claimed by the most usable peers (ties: the earliest claim). */
function chooseSize(d: Draft): number | undefined {
  const votes = new Map<number, number>();
  for (const p of d.peers.values())
    if (!p.out && p.claim !== undefined) votes.set(p.claim, (votes.get(p.claim) ?? 0) + 1);
  let best: number | undefined;
  for (const [size, n] of votes) if (best === undefined || n > (votes.get(best) as number)) best = size;
  return best;
}

function missingPieces(d: Draft): number[] {
  const asked = new Set<number>();
  for (const p of d.peers.values()) for (const piece of p.inflight.keys()) asked.add(piece);
  const out: number[] = [];
  for (let i = 0; i < d.pieces.length; i++) if (!d.pieces[i] && !asked.has(i)) out.push(i);
  return out;
}

/** Hands out requests to peers that may be asked now. */
function dispatch(d: Draft, now: number): void {
  if (d.info) return;
  const canServe = (p: FetchPeer): boolean => !p.out && (p.claim === undefined || p.claim === d.size);
  if (d.size === undefined || ![...d.peers.values()].some(canServe)) {
    // No size yet, or nobody left who could finish this one: go with what the usable peers claim.
    const size = chooseSize(d);
    if (size !== undefined && size !== d.size) setSize(d, size);
  }
  const usable = [...d.peers.entries()].filter(
    ([, p]) => !p.out && p.restUntil <= now && (p.claim === undefined || p.claim === d.size),
  );
  if (d.size === undefined) {
    // Nobody said how big it is: ask one peer for piece 0 and learn the size from its total_size.
    if ([...d.peers.values()].some((p) => p.inflight.size > 0)) return;
    const probe = usable.find(([, p]) => p.claim === undefined);
    if (probe) ask(d, probe[0], 0, now);
    return;
  }
  // Fewest strikes first, then least busy; in single-source mode only the first of them is asked.
  usable.sort(([, a], [, b]) => a.strikes - b.strikes || a.inflight.size - b.inflight.size);
  let candidates = usable;
  if (d.singleSource) {
    const busy = usable.find(([, p]) => p.inflight.size > 0);
    const anyBusyElsewhere = [...d.peers.values()].some((p) => p.inflight.size > 0);
    candidates = busy ? [busy] : anyBusyElsewhere ? [] : usable.slice(0, 1);
  }
  const missing = missingPieces(d);
  for (const [key] of candidates) {
    while (missing.length > 0 && (d.peer(key) as FetchPeer).inflight.size < d.cfg.maxRequestsPerPeer) {
      ask(d, key, missing.shift() as number, now);
    }
  }
}

function ask(d: Draft, key: string, piece: number, now: number): void {
  const p = d.peer(key) as FetchPeer;
  d.update(key, { inflight: new Map(p.inflight).set(piece, now) });
  d.effects.push({ type: 'RequestMetadataPiece', peer: key, piece });
}

function release(d: Draft, key: string, piece: number): boolean {
  const p = d.peer(key);
  if (!p || !p.inflight.has(piece)) return false;
  const inflight = new Map(p.inflight);
  inflight.delete(piece);
  d.update(key, { inflight });
  return true;
}

function onData(d: Draft, key: string, m: MetadataData): void {
  if (!release(d, key, m.piece)) {
    d.event('MetadataPieceIgnored', 'debug', { peer: key, piece: m.piece, reason: 'not requested' });
    return;
  }
  const p = d.peer(key) as FetchPeer;
  if (p.claim !== undefined && m.totalSize !== p.claim) {
    return d.strike(key, `total_size ${m.totalSize} differs from its metadata_size ${p.claim}`, true);
  }
  if (p.claim === undefined) {
    if (!validClaim(d, m.totalSize)) return d.strike(key, `total_size ${m.totalSize} over the limit`, true);
    d.update(key, { claim: m.totalSize });
    if (d.size === undefined) setSize(d, m.totalSize);
  }
  if (m.totalSize !== d.size) return; // a size other than the one being assembled: kept for later
  const expected = metadataPieceLength(d.size, m.piece);
  if (expected === 0 || m.data.length !== expected) {
    return d.strike(key, `metadata piece ${m.piece} has ${m.data.length} bytes, expected ${expected}`);
  }
  d.pieces[m.piece] = Buffer.from(m.data);
  d.sources[m.piece] = key;
  d.event('MetadataPieceReceived', 'debug', { peer: key, piece: m.piece });
  if (d.pieces.every((x) => x !== undefined)) verify(d);
}

function verify(d: Draft): void {
  const info = Buffer.concat(d.pieces as Buffer[]);
  const digest = createHash('sha1').update(info).digest();
  if (digest.equals(d.cfg.infoHash)) {
    d.info = info;
    for (const key of d.peers.keys()) d.update(key, { inflight: new Map() });
    d.effects.push({ type: 'MetadataVerified', info });
    d.event('MetadataComplete', 'info', { size: info.length, from: [...new Set(d.sources)] });
    return;
  }
  const contributors = [...new Set(d.sources as string[])];
  d.hashFailures++;
  d.event('MetadataHashFailed', 'warn', { size: info.length, from: contributors });
  const reason = 'metadata does not hash to the info-hash';
  if (contributors.length === 1) d.strike(contributors[0], reason, true);
  else for (const key of contributors) d.strike(key, reason);
  d.singleSource = true;
  setSize(d, undefined); // choose again: the claims of struck-out peers no longer count
}

function onTick(d: Draft, now: number): void {
  for (const [key, p] of d.peers) {
    for (const [piece, at] of p.inflight) {
      if (now - at < d.cfg.requestTimeoutMs) continue;
      release(d, key, piece);
      d.update(key, { restUntil: now + d.cfg.timeoutBackoffMs });
      d.event('MetadataRequestTimedOut', 'debug', { peer: key, piece });
    }
  }
}

export function metadataFetchTransition(s: MetadataFetchState, msg: MetadataFetchIn): MetadataFetchStep {
  if (s.info) return { state: s }; // done: late answers are ignored
  const d = new Draft(s);
  switch (msg.type) {
    case 'PeerSupportsMetadata': {
      const known = d.peer(msg.peer);
      if (!known) d.peers.set(msg.peer, { inflight: new Map(), strikes: 0, restUntil: 0, out: false });
      if (msg.metadataSize !== undefined) {
        if (!validClaim(d, msg.metadataSize)) {
          d.strike(msg.peer, `metadata_size ${msg.metadataSize} out of range (1..${d.cfg.maxSize})`, true);
        } else if (known?.claim !== undefined && known.claim !== msg.metadataSize) {
          d.strike(msg.peer, `metadata_size changed from ${known.claim} to ${msg.metadataSize}`, true);
        } else {
          d.update(msg.peer, { claim: msg.metadataSize });
          if (d.size !== undefined && d.size !== msg.metadataSize) {
            d.event('MetadataSizeDisagreement', 'debug', {
              peer: msg.peer,
              claim: msg.metadataSize,
              size: d.size,
            });
          }
        }
      }
      break;
    }
    case 'PeerGone':
      d.peers.delete(msg.peer);
      break;
    case 'PeerSentMetadata': {
      const m = msg.message;
      if (!d.peer(msg.peer)) break;
      if (m.type === 'MetadataData') onData(d, msg.peer, m);
      else if (m.type === 'MetadataReject' && release(d, msg.peer, m.piece)) {
        d.update(msg.peer, { restUntil: msg.now + d.cfg.rejectBackoffMs });
        d.event('MetadataRequestRejected', 'debug', { peer: msg.peer, piece: m.piece });
      }
      // A request is for the serving side; an unknown msg_type is ignored (BEP 9).
      break;
    }
    case 'Tick':
      onTick(d, msg.now);
      break;
  }
  dispatch(d, msg.now);
  return d.finish();
}

/** Progress for display: pieces received of the size being assembled. */
export function metadataProgress(s: MetadataFetchState): { size?: number; have: number; pieces: number } {
  return { size: s.size, have: s.pieces.filter((x) => x !== undefined).length, pieces: s.pieces.length };
}

// ------------------------------------------------------------------------------------------------ serving

/** Pieces one peer may be served per piece of metadata before we reject (BEP 9 flood protection). */
export const SERVE_FACTOR = 4;

/**
 * The answer to a peer's request for metadata piece `piece`: data when we have the metadata and the piece
 * exists, a reject otherwise, or once this peer has been served `servedLimit` pieces (default:
 * SERVE_FACTOR × pieces + 2). `served` is what to remember for this peer.
 */
export function answerMetadataRequest(
  info: Buffer | undefined,
  piece: number,
  servedSoFar: number,
  servedLimit?: number,
): { reply: MetadataData | MetadataReject; served: number } {
  const reject = { reply: { type: 'MetadataReject', piece } as MetadataReject, served: servedSoFar };
  if (!info || info.length === 0 || info.length > MAX_METADATA_SIZE) return reject;
  const count = metadataPieceCount(info.length);
  if (!Number.isInteger(piece) || piece < 0 || piece >= count) return reject;
  if (servedSoFar >= (servedLimit ?? SERVE_FACTOR * count + 2)) return reject;
  const start = piece * METADATA_PIECE_SIZE;
  const data = info.subarray(start, start + metadataPieceLength(info.length, piece));
  return { reply: { type: 'MetadataData', piece, totalSize: info.length, data }, served: servedSoFar + 1 };
}
