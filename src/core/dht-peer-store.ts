/**
 * The peers other nodes announce to us (BEP 5 announce_peer), answered to get_peers.
 *
 * Owns: per info-hash the announced `<ip><port>`s with their expiry (30 minutes after the last
 * announce), a cap per info-hash (the oldest announce makes room) and a cap in total (new entries are
 * refused while full; expiry frees room), and picking the peers for an answer (most recent first).
 * Does not own: tokens (checked before `add`), the clock (`now` comes in).
 *
 * @example
 *   const store = new PeerStore();
 *   store.add(infoHash, { ip: '10.0.0.2', port: 6881 }, now); // 'added'
 *   store.get(infoHash, 50, now);                              // [{ ip: '10.0.0.2', port: 6881, compact }]
 */
import { PeerAddress, compactPeer, decodeCompactPeers, decodeCompactPeers6 } from '../protocol/compact-peers';

export interface PeerStoreConfig {
  ttlMs: number;
  maxPerHash: number;
  maxTotal: number;
}

export const DEFAULT_PEER_STORE: PeerStoreConfig = { ttlMs: 30 * 60_000, maxPerHash: 200, maxTotal: 20_000 };

export type AddOutcome = 'added' | 'refreshed' | 'full' | 'invalid';

export class PeerStore {
  private readonly cfg: PeerStoreConfig;
  /** info-hash (latin1) → compact peer (latin1) → expiry; Map order is announce order (refresh moves to the end). */
  private readonly swarms = new Map<string, Map<string, number>>();
  private total = 0;

  constructor(config: Partial<PeerStoreConfig> = {}) {
    this.cfg = { ...DEFAULT_PEER_STORE, ...config };
  }

  get size(): number {
    return this.total;
  }

  get infoHashes(): number {
    return this.swarms.size;
  }

  add(infoHash: Buffer, peer: { ip: string; port: number }, now: number): AddOutcome {
    const compact = compactPeer(peer.ip, peer.port);
    if (compact === '' || peer.port <= 0 || peer.port > 0xffff) return 'invalid';
    const key = infoHash.toString('latin1');
    let swarm = this.swarms.get(key);
    if (swarm?.has(compact)) {
      swarm.delete(compact);
      swarm.set(compact, now + this.cfg.ttlMs);
      return 'refreshed';
    }
    if (this.total >= this.cfg.maxTotal) return 'full';
    if (!swarm) this.swarms.set(key, (swarm = new Map()));
    if (swarm.size >= this.cfg.maxPerHash) {
      const oldest = swarm.keys().next().value as string;
      swarm.delete(oldest);
      this.total--;
    }
    swarm.set(compact, now + this.cfg.ttlMs);
    this.total++;
    return 'added';
  }

  /** Up to `max` live peers for `infoHash`, most recently announced first. */
  get(infoHash: Buffer, max: number, now: number): PeerAddress[] {
    const swarm = this.swarms.get(infoHash.toString('latin1'));
    if (!swarm) return [];
    const keys = [...swarm.keys()];
    const out: PeerAddress[] = [];
    for (let i = keys.length - 1; i >= 0 && out.length < max; i--) {
      if ((swarm.get(keys[i]) as number) <= now) continue;
      const b = Buffer.from(keys[i], 'latin1');
      const [p] = b.length === 6 ? decodeCompactPeers(b) : decodeCompactPeers6(b);
      out.push({ ip: p.ip, port: p.port, compact: keys[i] });
    }
    return out;
  }

  /** Drop expired announces; returns how many. */
  sweep(now: number): number {
    let removed = 0;
    for (const [key, swarm] of this.swarms) {
      for (const [peer, expires] of swarm)
        if (expires <= now) {
          swarm.delete(peer);
          removed++;
        }
      if (swarm.size === 0) this.swarms.delete(key);
    }
    this.total -= removed;
    return removed;
  }
}
