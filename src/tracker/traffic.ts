/**
 * What the tracker's front ends counted since start, by protocol: HTTP and UDP separately, as the
 * console's `stats` and `/stats` show them. One instance per tracker process; with `--workers` or
 * several processes on one Redis, the Redis registry adds every process's counts together.
 *
 * Owns: the counters and their plain-data snapshot. Does not own: registry totals (the registry).
 */

export interface HttpCounts {
  announces: number;
  scrapes: number;
  /** Requests refused with a failure reason, or malformed. */
  rejected: number;
}

export interface UdpCounts {
  connects: number;
  announces: number;
  scrapes: number;
  /** Datagrams answered with an error or dropped (bad length, action, connection id...). */
  rejected: number;
}

export interface TrafficCounts {
  http: HttpCounts;
  udp: UdpCounts;
}

export class Traffic {
  readonly http: HttpCounts = { announces: 0, scrapes: 0, rejected: 0 };
  readonly udp: UdpCounts = { connects: 0, announces: 0, scrapes: 0, rejected: 0 };

  snapshot(): TrafficCounts {
    return { http: { ...this.http }, udp: { ...this.udp } };
  }

  /** Flat `protocol field → count` pairs (`http.announces`), the form Redis keeps them in. */
  flat(): Record<string, number> {
    return flatten(this.snapshot());
  }
}

export function flatten(t: TrafficCounts): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [proto, counts] of Object.entries(t) as [string, Record<string, number>][])
    for (const [k, v] of Object.entries(counts)) out[`${proto}.${k}`] = v;
  return out;
}

export function unflatten(flat: Record<string, number>): TrafficCounts {
  const t = new Traffic().snapshot();
  for (const [key, v] of Object.entries(flat)) {
    const [proto, field] = key.split('.');
    const group = (t as unknown as Record<string, Record<string, number>>)[proto];
    if (group && field in group) group[field] = v;
  }
  return t;
}

/** Console rows: `http announces` … `udp rejected`. */
export function trafficRows(t: TrafficCounts): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [key, v] of Object.entries(flatten(t))) out[key.replace('.', ' ')] = v;
  return out;
}
