/**
 * A torrent's open connections: creating the PeerConnection actor for each dialled or accepted
 * transport, forwarding its events to the torrent's inbox, and counting it against the engine's cap.
 *
 * Owns: the map from address key to connection and the order of the first messages — the torrent hears
 * `Attached` before any event of the connection, because the connection starts only after both
 * subscriptions exist. Does not own: which peers to dial or accept (the torrent's logic decides) or the
 * protocol (the connection's own actor).
 */
import { PeerConnection, PeerConnectionOptions, PeerTransport } from './peer-connection';
import type { PeerDhtHooks } from './torrent-options';
import { ipOfKey } from '../core/peer-list';
import { RateLimiter, TokenBucket, chainLimiters } from '../core/token-bucket';
import type { TorrentIn } from '../core/torrent-transition';
import type { BitSet, Handshake, PieceGeometry } from '../protocol/wire-codec';

export class TorrentConnections {
  private readonly conns = new Map<string, PeerConnection>();
  /** This torrent's own limits (serve's torrent-set); the process-wide ones apply as well. */
  private readonly down = new TokenBucket(0);
  private readonly up = new TokenBucket(0);
  private readonly downLimiter: RateLimiter;
  private readonly upLimiter: RateLimiter;

  constructor(
    private readonly o: {
      infoHash: Buffer;
      peerId: Buffer;
      /** Null for a magnet's connections (metadata only). */
      geometry: PieceGeometry | null;
      ourBitfield: () => BitSet;
      clock: () => number;
      downBucket?: RateLimiter;
      upBucket?: RateLimiter;
      /** BEP 10 for the connection to `key` (its bit, our extensions and handshake). */
      extensions?: (key: string) => PeerConnectionOptions['extensions'];
      /** BEP 5: our DHT port in the handshake and PORT; peers' PORT messages. */
      dht?: PeerDhtHooks;
      inbox: (m: Extract<TorrentIn, { type: 'Peer' | 'Attached' }>) => void;
      counted: (delta: 1 | -1) => void;
    },
  ) {
    this.downLimiter = o.downBucket ? chainLimiters(this.down, o.downBucket) : this.down;
    this.upLimiter = o.upBucket ? chainLimiters(this.up, o.upBucket) : this.up;
  }

  /** Bytes/s; 0 = no limit of the torrent's own. */
  setLimits(l: { down?: number; up?: number }, now: number): void {
    if (l.down !== undefined) this.down.setRate(l.down, now);
    if (l.up !== undefined) this.up.setRate(l.up, now);
  }

  get(key: string): PeerConnection | undefined {
    return this.conns.get(key);
  }

  open(key: string, transport: PeerTransport, outgoing: boolean, handshake?: Handshake): void {
    transport.stream.on('error', () => undefined); // reported through the connection's events
    const conn = new PeerConnection({
      ...this.identity(key),
      transport,
      address: key,
      outgoing,
      remoteHandshake: handshake,
      geometry: this.o.geometry,
      ourBitfield: this.o.ourBitfield,
      clock: this.o.clock,
      downBucket: this.downLimiter,
      upBucket: this.upLimiter,
      autoStart: false,
    });
    this.conns.get(key)?.close('replaced by a new connection', false);
    this.conns.set(key, conn);
    this.o.counted(1);
    let portHeard = false;
    conn.events$.subscribe((event) => {
      // One PORT per connection reaches the DHT: repeats cost the peer nothing and us a ping each.
      if (event.type === 'PeerSentPort' && !portHeard) {
        portHeard = true;
        this.o.dht?.portMessage(ipOfKey(key), event.port);
      }
      if (event.type === 'PeerClosed') {
        if (this.conns.get(key) === conn) this.conns.delete(key);
        this.o.counted(-1);
      }
      this.o.inbox({ type: 'Peer', key, conn, event });
    });
    this.o.inbox({ type: 'Attached', key, conn, outgoing });
    conn.start();
  }

  /** The handshake our connection to `key` sends; a dialler passes it as the MSE initial payload (IA). */
  ourHandshake(key: string): Buffer {
    return PeerConnection.ourHandshake(this.identity(key));
  }

  /** What our handshake to `key` says: its connection, and `ourHandshake`, take it from here. */
  private identity(
    key: string,
  ): Pick<PeerConnectionOptions, 'infoHash' | 'peerId' | 'extensions' | 'dhtPort'> {
    const { infoHash, peerId } = this.o;
    return { infoHash, peerId, extensions: this.o.extensions?.(key), dhtPort: this.o.dht?.port() };
  }

  closeAll(reason: string): void {
    for (const c of [...this.conns.values()]) c.close(reason, false);
  }
}
