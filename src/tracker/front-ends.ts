/**
 * The tracker's network face: the HTTP server and (unless turned off) the UDP server on the same
 * port number, over one registry, one whitelist and one set of counters. Used by `rxtorrent tracker`
 * in a single process and by each of its `--workers`.
 *
 * Owns: starting both servers on one port (with port 0, a port free for TCP and UDP alike), and
 * stopping both. Does not own: the registry, the console or process roles (src/cli/tracker-*.ts).
 */
import { merge } from 'rxjs/internal/observable/merge';
import { Observable } from 'rxjs/internal/Observable';
import type { EventInput } from '../events/engine-event';
import { createTrackerServer, TrackerServer } from './http-server';
import type { TrackerRegistry } from './registry';
import { Traffic, TrafficCounts } from './traffic';
import { createUdpTrackerServer, UdpTrackerServer } from './udp-server';

export interface FrontEndOptions {
  registry: TrackerRegistry;
  host: string;
  port: number;
  udp: boolean;
  /** Connection-id secret for UDP (hex), shared by every process serving these swarms. */
  secret: string;
  allow?: (infoHashHex: string) => boolean | Promise<boolean>;
  trustIpParam?: boolean;
  maxNumwant?: number;
  traffic: Traffic;
  trafficTotals?: () => Promise<TrafficCounts>;
}

export interface FrontEnds {
  host: string;
  port: number;
  http: TrackerServer;
  udp: UdpTrackerServer | null;
  readonly events$: Observable<EventInput>;
  close(): Promise<void>;
}

/** Attempts at finding a port free for both TCP and UDP when port 0 is asked for. */
const PORT_TRIES = 8;

export async function startFrontEnds(o: FrontEndOptions): Promise<FrontEnds> {
  for (let attempt = 1; ; attempt++) {
    const http = createTrackerServer({
      registry: o.registry,
      host: o.host,
      port: o.port,
      trustIpParam: o.trustIpParam,
      maxNumwant: o.maxNumwant,
      allow: o.allow,
      traffic: o.traffic,
      trafficTotals: o.trafficTotals,
    });
    const bound = await http.listen(); // errors (EADDRINUSE...) go to the caller
    let udp: UdpTrackerServer | null = null;
    if (o.udp) {
      udp = createUdpTrackerServer({
        registry: o.registry,
        host: o.host,
        port: bound.port,
        secret: o.secret,
        allow: o.allow,
        trustIpParam: o.trustIpParam,
        maxNumwant: o.maxNumwant,
        traffic: o.traffic,
      });
      try {
        await udp.listen();
      } catch (err) {
        await udp.close();
        await http.close();
        // A random TCP port whose UDP twin is taken: pick another; a chosen port is the user's to fix.
        if (o.port === 0 && attempt < PORT_TRIES) continue;
        throw err;
      }
    }
    const u = udp;
    return {
      host: bound.host,
      port: bound.port,
      http,
      udp,
      events$: u ? merge(http.events$, u.events$) : http.events$,
      close: async () => {
        await Promise.all([http.close(), u?.close()]);
      },
    };
  }
}
