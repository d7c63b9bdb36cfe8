/**
 * The choker: which peers may download from us this round (BEP 3's tit-for-tat).
 *
 * Owns: one decision per 10 s round — the `slots - 1` interested peers with the best rate keep regular
 * slots (download rate from them while leeching; upload rate to them while seeding), and one more peer
 * gets an optimistic unchoke, chosen by the injected `random` among choked interested peers and kept for
 * 30 s (every third round) so a newcomer can prove itself.
 *
 * Does not own: timers (the caller runs `chokeRound` every CHOKE_INTERVAL_MS and on peer join/leave),
 * measuring rates (src/core/rate-meter.ts), deciding that a peer is snubbed (the torrent's logic: we
 * want data from it and it sent no block in 60 s), or sending CHOKE/UNCHOKE frames — the caller diffs
 * the answer against what it last sent.
 *
 * @example
 *   let optimistic: OptimisticState | undefined;
 *   const d = chokeRound(peers, { seeding: false, now, optimistic, random: Math.random });
 *   optimistic = d.optimistic;   // keep for the next round
 *   d.unchoke; d.choke;          // peer ids; send UNCHOKE/CHOKE where that changes the peer's state
 */

/** How often the caller should run a round. */
export const CHOKE_INTERVAL_MS = 10_000;
/** How long an optimistic unchoke lasts (three rounds). */
export const OPTIMISTIC_INTERVAL_MS = 30_000;

export interface ChokerPeer {
  id: string;
  /** The peer is interested in us (it wants to download). */
  interested: boolean;
  /** Bytes/s we receive from it. */
  downloadRate: number;
  /** Bytes/s we send to it. */
  uploadRate: number;
  /** It has choked us or sent nothing for a long time while we wanted data: no regular slot while leeching. */
  snubbed?: boolean;
}

/** The optimistic unchoke carried between rounds: which peer, and since when (ms). */
export interface OptimisticState {
  peer: string | null;
  since: number;
}

export interface ChokeOptions {
  /** We have everything: rank by what we upload to them instead of what they give us. */
  seeding: boolean;
  /** Upload slots including the optimistic one; default 4. */
  slots?: number;
  now: number;
  /** The previous round's `optimistic`; undefined on the first round. */
  optimistic?: OptimisticState;
  /** Uniform in [0, 1); injected so rounds are reproducible in tests. */
  random: () => number;
  /** Default OPTIMISTIC_INTERVAL_MS. */
  optimisticIntervalMs?: number;
}

export interface ChokeDecision {
  /** Regular slots best first, then the optimistic peer if any. */
  unchoke: string[];
  /** Every other peer, in input order. */
  choke: string[];
  optimistic: OptimisticState;
}

/**
 * One choke round; pure (the only randomness is `opts.random`).
 *
 * @example
 *   chokeRound(
 *     [{ id: 'a', interested: true, downloadRate: 10, uploadRate: 0 },
 *      { id: 'b', interested: false, downloadRate: 99, uploadRate: 0 }],
 *     { seeding: false, now: 0, random: () => 0 },
 *   ); // { unchoke: ['a'], choke: ['b'], optimistic: { peer: null, since: 0 } }
 */
export function chokeRound(peers: readonly ChokerPeer[], opts: ChokeOptions): ChokeDecision {
  const slots = Math.max(1, opts.slots ?? 4);
  const interval = opts.optimisticIntervalMs ?? OPTIMISTIC_INTERVAL_MS;
  const rateOf = (p: ChokerPeer) => (opts.seeding ? p.uploadRate : p.downloadRate);

  // Uninterested peers would not use a slot. While leeching, a snubbed peer gives nothing back, so it can
  // only get the optimistic slot; while seeding nobody gives anything back and snubbing does not apply.
  const ranked = peers
    .filter((p) => p.interested && (opts.seeding || !p.snubbed))
    .sort((a, b) => rateOf(b) - rateOf(a)); // stable: equal rates keep input order
  const regular = new Set(ranked.slice(0, slots - 1).map((p) => p.id));

  const candidates = peers.filter((p) => p.interested && !regular.has(p.id));
  const prev = opts.optimistic;
  let optimistic: OptimisticState;
  if (
    prev &&
    prev.peer !== null &&
    opts.now - prev.since < interval &&
    candidates.some((p) => p.id === prev.peer)
  ) {
    optimistic = prev; // still its turn
  } else if (candidates.length > 0) {
    const pick = Math.min(candidates.length - 1, Math.floor(opts.random() * candidates.length));
    optimistic = { peer: candidates[pick].id, since: opts.now };
  } else {
    optimistic = { peer: null, since: opts.now };
  }

  const unchoke = [...regular];
  if (optimistic.peer !== null) unchoke.push(optimistic.peer);
  const open = new Set(unchoke);
  return { unchoke, choke: peers.filter((p) => !open.has(p.id)).map((p) => p.id), optimistic };
}
