/**
 * What users type after `-t`: a host (port 5000 and /announce assumed, like the old program), a
 * `host:port`, an `[ipv6]:port`, or a full announce URL. Pure; no lookups.
 *
 * @example
 *   normalizeTrackerUrl('192.168.1.100')      // 'http://192.168.1.100:5000/announce'
 *   normalizeTrackerUrl('tracker.lan:6969')   // 'http://tracker.lan:6969/announce'
 *   normalizeTrackerUrl('udp://t.example:80') // 'udp://t.example:80'
 */
export const DEFAULT_TRACKER_PORT = 5000;

export class TrackerUrlError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'TrackerUrlError';
  }
}

export function normalizeTrackerUrl(input: string): string {
  const s = input.trim();
  if (s.length === 0) throw new TrackerUrlError('empty tracker address');
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(s)) {
    let u: URL;
    try {
      u = new URL(s);
    } catch {
      throw new TrackerUrlError(`not a valid tracker URL: ${input}`);
    }
    if (!['http:', 'https:', 'udp:'].includes(u.protocol))
      throw new TrackerUrlError(`unsupported tracker scheme ${u.protocol} in ${input}`);
    // BEP 15 has no default port.
    if (u.protocol === 'udp:' && u.port === '')
      throw new TrackerUrlError(`UDP tracker URL without a port: ${input}`);
    return s;
  }
  let host = s;
  let port = DEFAULT_TRACKER_PORT;
  const v6 = /^\[([0-9a-fA-F:.]+)\](?::(\d+))?$/.exec(s);
  if (v6) {
    host = `[${v6[1]}]`;
    if (v6[2]) port = parsePort(v6[2], input);
  } else if (/^[0-9a-fA-F:]+$/.test(s) && s.split(':').length > 2) {
    host = `[${s}]`; // bare IPv6 address
  } else {
    const m = /^([^:/\s]+)(?::(\d+))?$/.exec(s);
    if (!m) throw new TrackerUrlError(`not a tracker address: ${input} (use host, host:port or a URL)`);
    host = m[1];
    if (m[2]) port = parsePort(m[2], input);
  }
  return `http://${host}:${port}/announce`;
}

function parsePort(p: string, input: string): number {
  const n = Number(p);
  if (!Number.isInteger(n) || n < 1 || n > 65535)
    throw new TrackerUrlError(`bad port in tracker address ${input}`);
  return n;
}
