/**
 * The choker's runtime: one `chokeRound` (src/core/choker.ts) per message, carrying the optimistic
 * unchoke from round to round, and a fast path that gives a newly interested peer a free slot at once
 * instead of at the next 10 s round.
 *
 * Owns: the optimistic state and the decisions as events. Does not own: timers (the torrent sends
 * `Round` every CHOKE_INTERVAL_MS), peers' rates (passed in each round) or CHOKE/UNCHOKE frames (the
 * torrent sends them where a decision changes a peer's state).
 *
 * @example
 *   const choker = createChokerActor({ slots: 8, random: Math.random });
 *   choker.events$.subscribe((d) => apply(d.unchoke, d.choke));
 *   choker.send({ type: 'Round', now, seeding: false, peers });
 */
import { ActorRef, createActor } from './actor';
import { ChokerPeer, OptimisticState, chokeRound } from '../core/choker';

export type ChokerIn =
  | { type: 'Round'; now: number; seeding: boolean; peers: ChokerPeer[] }
  /** A peer became interested: unchoke it now when fewer than `slots` peers are unchoked. */
  | { type: 'Interested'; id: string; unchoked: number };

export type ChokerOut = { type: 'ChokeDecision'; unchoke: string[]; choke: string[] };

export interface ChokerState {
  optimistic: OptimisticState | undefined;
}

export function createChokerActor(o: {
  slots: number;
  random: () => number;
  onError?: (err: unknown) => void;
}): ActorRef<ChokerIn, ChokerOut, ChokerState> {
  return createActor<ChokerState, ChokerIn, ChokerOut>({
    name: 'choker',
    initial: { optimistic: undefined },
    transition: (s, m) => {
      if (m.type === 'Interested') {
        if (m.unchoked >= o.slots) return { state: s };
        return { state: s, events: [{ type: 'ChokeDecision', unchoke: [m.id], choke: [] }] };
      }
      const d = chokeRound(m.peers, {
        seeding: m.seeding,
        slots: o.slots,
        now: m.now,
        optimistic: s.optimistic,
        random: o.random,
      });
      return {
        state: { optimistic: d.optimistic },
        events: [{ type: 'ChokeDecision', unchoke: d.unchoke, choke: d.choke }],
      };
    },
    onError: o.onError ? (err) => o.onError?.(err) : undefined,
  });
}
