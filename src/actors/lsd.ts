/**
 * The local service discovery service (BEP 14): one UDP socket per address family on port 6771, joined to
 * 239.192.152.143 and ff15::efc0:988f, running the pure logic of src/core/lsd-state.ts.
 *
 * Owns: the sockets (bind with SO_REUSEADDR so other clients on the host can share the port, join the
 * group, multicast TTL, loopback on so two clients on one host meet), the one timer the logic asks for
 * (on an injectable RxJS scheduler), our random cookie, and `start()` / `stop()` (async, idempotent).
 * A family that cannot be set up (no IPv6, no multicast route) is reported and left out; LSD is a best-
 * effort peer source and never fails the engine. `RXTORRENT_NO_LSD=1` (see `lsdDisabled`) turns it off:
 * `start()` then opens nothing. Does not own: which torrents may use LSD (public ones only, BEP 27: the
 * engine decides what it registers) or dialling the peers found.
 *
 * @example
 *   const lsd = new LsdService();
 *   lsd.peers$.subscribe(({ infoHash, peer }) => engine.addPeers(infoHash, [peer], 'lsd'));
 *   await lsd.start();
 *   lsd.register(meta.infoHash, 6881); // announced now, then every 5 minutes
 *   await lsd.stop();
 */
import { randomBytes } from 'node:crypto';
import * as dgram from 'node:dgram';
import { Observable } from 'rxjs/internal/Observable';
import type { SchedulerLike } from 'rxjs/internal/types';
import { Subject } from 'rxjs/internal/Subject';
import { Subscription } from 'rxjs/internal/Subscription';
import { asyncScheduler } from 'rxjs/internal/scheduler/async';
import { filter } from 'rxjs/internal/operators/filter';
import type { EventInput } from '../events/engine-event';
import {
  LsdEffect,
  LsdIn,
  LsdOut,
  LsdPeerFound,
  LsdState,
  initialLsdState,
  lsdTransition,
} from '../core/lsd-state';
import { LSD_GROUP4, LSD_GROUP6, LSD_PORT, LsdFamily, MAX_LSD_DATAGRAM } from '../protocol/lsd-codec';
import { ActorRef, createActor } from './actor';

/** True when the environment turns LSD off (`RXTORRENT_NO_LSD` set to anything but '', '0' or 'false'). */
export function lsdDisabled(env: NodeJS.ProcessEnv = process.env): boolean {
  const v = env.RXTORRENT_NO_LSD;
  return v !== undefined && v !== '' && v !== '0' && v.toLowerCase() !== 'false';
}

export interface LsdOptions {
  families?: readonly LsdFamily[];
  /** IPv4 address of the interface to join and send on (default: the kernel's choice by route). */
  interface4?: string;
  /** IPv6 interface, as Node's multicast interface string (`::%eth0`); default: the kernel's choice. */
  interface6?: string;
  /** Multicast TTL / hops (BEP 14 suggests above 1 for the org-local group; default 16). */
  ttl?: number;
  /** UDP port (default 6771; the groups are fixed). */
  port?: number;
  intervalMs?: number;
  minGapMs?: number;
  cookie?: string;
  env?: NodeJS.ProcessEnv;
  scheduler?: SchedulerLike;
}

export class LsdService {
  readonly events$: Observable<EventInput>;
  readonly peers$: Observable<LsdPeerFound>;
  private readonly out = new Subject<LsdOut>();
  private readonly sockets = new Map<LsdFamily, dgram.Socket>();
  private readonly scheduler: SchedulerLike;
  private readonly cookie: string;
  private actor?: ActorRef<LsdIn, LsdOut, LsdState>;
  private timer?: Subscription;
  private state: 'idle' | 'starting' | 'running' | 'stopped' = 'idle';
  private starting?: Promise<void>;
  private readonly pending: LsdIn[] = [];

  constructor(private readonly opts: LsdOptions = {}) {
    this.scheduler = opts.scheduler ?? asyncScheduler;
    this.cookie = opts.cookie ?? randomBytes(4).toString('hex');
    // The logic's output mixes found peers with events; events are the ones with a category.
    this.events$ = this.out.pipe(filter((e): e is EventInput => 'category' in e));
    this.peers$ = this.out.pipe(filter((e): e is LsdPeerFound => !('category' in e)));
  }

  /** Opens the sockets that can be opened; resolves in any case (failures are events). */
  start(): Promise<void> {
    if (this.state !== 'idle') return this.starting ?? Promise.resolve();
    if (lsdDisabled(this.opts.env ?? process.env)) {
      this.state = 'stopped';
      this.emit({ category: 'discovery', type: 'LsdDisabled', level: 'info', reason: 'RXTORRENT_NO_LSD' });
      return Promise.resolve();
    }
    this.state = 'starting';
    this.starting = this.open().then(() => {
      if (this.state !== 'starting') return; // stopped meanwhile
      const families = [...this.sockets.keys()];
      if (families.length === 0) {
        // Nothing to send or hear on: behave as if switched off (registrations are dropped, not queued).
        this.state = 'stopped';
        this.pending.length = 0;
        this.emit({ category: 'discovery', type: 'LsdUnavailable', level: 'warn' });
        return;
      }
      this.state = 'running';
      this.emit({ category: 'discovery', type: 'LsdStarted', level: 'info', families });
      this.actor = createActor<LsdState, LsdIn, LsdOut, LsdEffect>({
        name: 'lsd',
        initial: initialLsdState({
          cookie: this.cookie,
          families,
          intervalMs: this.opts.intervalMs,
          minGapMs: this.opts.minGapMs,
        }),
        transition: lsdTransition,
        perform: (e) => this.perform(e),
        onError: (err) => this.emit({ category: 'error', type: 'LsdFailed', level: 'error', error: err }),
      });
      this.actor.events$.subscribe((e) => this.out.next(e));
      for (const m of this.pending.splice(0)) this.actor.send(m);
    });
    return this.starting;
  }

  /** Announce `infoHash` (20 bytes or 40 hex) as served on `port`: now, then every interval. */
  register(infoHash: Buffer | string, port: number): void {
    const hex = typeof infoHash === 'string' ? infoHash.toLowerCase() : infoHash.toString('hex');
    if (!/^[0-9a-f]{40}$/.test(hex)) throw new RangeError('info-hash must be 20 bytes or 40 hex digits');
    if (!Number.isInteger(port) || port < 1 || port > 0xffff) throw new RangeError(`port ${port}`);
    this.send({ type: 'Register', infoHash: hex, port, now: this.scheduler.now() });
  }

  unregister(infoHash: Buffer | string): void {
    const hex = typeof infoHash === 'string' ? infoHash.toLowerCase() : infoHash.toString('hex');
    this.send({ type: 'Unregister', infoHash: hex, now: this.scheduler.now() });
  }

  async stop(): Promise<void> {
    if (this.state === 'stopped' && this.sockets.size === 0) return this.finish();
    this.state = 'stopped';
    await this.starting?.catch(() => undefined);
    this.timer?.unsubscribe();
    this.actor?.stop();
    await Promise.all([...this.sockets.values()].map((s) => new Promise<void>((r) => s.close(() => r()))));
    this.sockets.clear();
    this.finish();
  }

  private finish(): void {
    if (!this.out.closed) this.out.complete();
  }

  private send(m: LsdIn): void {
    if (this.state === 'stopped') return;
    if (this.actor) this.actor.send(m);
    else this.pending.push(m);
  }

  private emit(e: EventInput): void {
    if (!this.out.closed) this.out.next(e);
  }

  private async open(): Promise<void> {
    for (const family of this.opts.families ?? ([4, 6] as const)) {
      try {
        this.sockets.set(family, await this.openSocket(family));
      } catch (err) {
        this.emit({
          category: 'discovery',
          type: 'LsdFamilyUnavailable',
          level: 'warn',
          family,
          error: (err as Error).message,
        });
      }
    }
  }

  private openSocket(family: LsdFamily): Promise<dgram.Socket> {
    const socket = dgram.createSocket({
      type: family === 4 ? 'udp4' : 'udp6',
      reuseAddr: true,
      ipv6Only: family === 6,
    });
    return new Promise((resolve, reject) => {
      const fail = (err: Error): void => {
        try {
          socket.close();
        } catch {
          // already closed by the failure
        }
        reject(err);
      };
      socket.once('error', fail);
      socket.bind({ port: this.opts.port ?? LSD_PORT, address: family === 4 ? '0.0.0.0' : '::' }, () => {
        try {
          const iface = family === 4 ? this.opts.interface4 : this.opts.interface6;
          socket.addMembership(family === 4 ? LSD_GROUP4 : LSD_GROUP6, iface);
          if (iface) socket.setMulticastInterface(iface);
          socket.setMulticastTTL(this.opts.ttl ?? 16);
          socket.setMulticastLoopback(true);
        } catch (err) {
          return fail(err as Error);
        }
        socket.off('error', fail);
        socket.on('error', (err) =>
          this.emit({
            category: 'discovery',
            type: 'LsdSocketError',
            level: 'warn',
            family,
            error: err.message,
          }),
        );
        socket.on('message', (data, rinfo) => {
          // Oversized datagrams are refused by the codec before any parsing; this only saves a copy.
          const bounded = data.length > MAX_LSD_DATAGRAM ? data.subarray(0, MAX_LSD_DATAGRAM + 1) : data;
          this.send({
            type: 'GotDatagram',
            family,
            from: rinfo.address,
            data: bounded,
            now: this.scheduler.now(),
          });
        });
        resolve(socket);
      });
    });
  }

  private perform(e: LsdEffect): void {
    if (e.type === 'WakeAt') {
      this.timer?.unsubscribe();
      const delay = Math.max(0, e.at - this.scheduler.now());
      this.timer = this.scheduler.schedule(
        () => this.send({ type: 'Tick', now: this.scheduler.now() }),
        delay,
      );
      return;
    }
    const socket = this.sockets.get(e.family);
    if (!socket) return;
    socket.send(e.datagram, this.opts.port ?? LSD_PORT, e.family === 4 ? LSD_GROUP4 : LSD_GROUP6, (err) => {
      if (err)
        this.emit({
          category: 'discovery',
          type: 'LsdSendFailed',
          level: 'warn',
          family: e.family,
          error: err.message,
        });
    });
  }
}
