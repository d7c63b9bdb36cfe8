/**
 * Test helpers for talking to a tracker over real HTTP: raw GETs from a chosen local address, and
 * announce/scrape wrappers that build queries with the codec's client side.
 */
import * as http from 'node:http';
import {
  AnnounceQuery,
  buildAnnounceQuery,
  buildScrapeQuery,
  decodeAnnounceReply,
  decodeScrapeReply,
} from '../../src/protocol/tracker-codec';

export interface HttpReply {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
}

/** GET `http://host:port<pathAndQuery>` on a fresh connection, optionally from `localAddress`. */
export function httpGet(
  host: string,
  port: number,
  pathAndQuery: string,
  opts: { localAddress?: string; timeoutMs?: number } = {},
): Promise<HttpReply> {
  return new Promise((resolve, reject) => {
    const req = http.get(
      {
        host,
        port,
        path: pathAndQuery,
        agent: false,
        localAddress: opts.localAddress,
        timeout: opts.timeoutMs ?? 5000,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () =>
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }),
        );
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error(`GET ${pathAndQuery.slice(0, 60)} timed out`)));
    req.on('error', reject);
  });
}

export interface TrackerTarget {
  host: string;
  port: number;
}

export async function announce(t: TrackerTarget, q: AnnounceQuery, opts: { localAddress?: string } = {}) {
  const r = await httpGet(t.host, t.port, `/announce?${buildAnnounceQuery(q)}`, opts);
  if (r.status !== 200) throw new Error(`announce: HTTP ${r.status}`);
  return decodeAnnounceReply(r.body);
}

export async function announceOk(t: TrackerTarget, q: AnnounceQuery, opts: { localAddress?: string } = {}) {
  const r = await announce(t, q, opts);
  if (!r.ok) throw new Error(`announce failed: ${r.failureReason}`);
  return r;
}

export async function scrape(t: TrackerTarget, hashes: Buffer[]) {
  const q = buildScrapeQuery(hashes);
  const r = await httpGet(t.host, t.port, `/scrape${q ? `?${q}` : ''}`);
  if (r.status !== 200) throw new Error(`scrape: HTTP ${r.status}`);
  return decodeScrapeReply(r.body);
}

/** A 20-byte id: a readable prefix, then filler bytes derived from `n` (including non-ASCII ones). */
export function id20(prefix: string, n: number): Buffer {
  const b = Buffer.alloc(20, 0);
  b.write(prefix, 'latin1');
  for (let i = prefix.length; i < 20; i++) b[i] = (n * 31 + i * 97 + 0x80) & 0xff;
  b.writeUInt32BE(n >>> 0, 16);
  return b;
}
