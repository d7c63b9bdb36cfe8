/**
 * Socket fuzz: at least 10,000 random and mutated MSE handshakes (garbage, bad keys, plain handshakes,
 * wrong sync, VC, pads, crypto_provide, truncation, resets, stalls) thrown at an `mseAccept` listener over
 * loopback, with valid handshakes mixed in. The listener must keep serving: every valid handshake
 * succeeds, every failure is a typed MseError, every connection closes within the handshake timeout,
 * and a normal `mseConnect` works afterwards. `npm run fuzz:mse` runs 100,000.
 */
import { once } from 'node:events';
import * as net from 'node:net';
import { MseError } from '../../src/protocol/mse-codec';
import { req2Hash } from '../../src/protocol/mse-crypto';
import { mseAccept, mseConnect } from '../../src/streams/mse-connection';
import { until } from '../support/child-process';
import { FUZZ_INFO_HASH, FuzzCase, FuzzSource } from '../support/mse-fuzz-cases';

const COUNT = Number(process.env.MSE_FUZZ_COUNT ?? 10_000);
const SEED = Number(process.env.MSE_FUZZ_SEED ?? 777);
const CONCURRENCY = 96;
const TIMEOUT_MS = 250;
/** Scheduling slack on a loaded 2-core machine. */
const SLACK_MS = 3_000;

jest.setTimeout(15 * 60_000);

const lookup = (h: Buffer) => (h.equals(req2Hash(FUZZ_INFO_HASH)) ? FUZZ_INFO_HASH : undefined);

interface ServerStats {
  open: number;
  maxOpen: number;
  maxLifeMs: number;
  codes: Map<string, number>;
  foreign: string[];
  succeededIa: Set<string>;
}

async function startServer(stats: ServerStats): Promise<net.Server> {
  const server = net.createServer((socket) => {
    const born = Date.now();
    stats.open++;
    stats.maxOpen = Math.max(stats.maxOpen, stats.open);
    socket.on('close', () => {
      stats.open--;
      stats.maxLifeMs = Math.max(stats.maxLifeMs, Date.now() - born);
    });
    mseAccept(socket, { lookup, policy: 'preferred', timeoutMs: TIMEOUT_MS }).then(
      (ok) => {
        stats.codes.set('done', (stats.codes.get('done') ?? 0) + 1);
        stats.succeededIa.add(ok.initialPayload.toString('hex'));
        ok.transport.stream.on('error', () => undefined);
        ok.transport.stream.destroy();
      },
      (err: unknown) => {
        if (err instanceof MseError) stats.codes.set(err.code, (stats.codes.get(err.code) ?? 0) + 1);
        else stats.foreign.push(String((err as Error)?.stack ?? err));
      },
    );
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return server;
}

/** Plays one case; resolves with whether the server closed the connection in time. */
function attack(port: number, c: FuzzCase): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    let received = Buffer.alloc(0);
    let answered = false;
    const limit = setTimeout(() => {
      s.destroy();
      resolve(false);
    }, TIMEOUT_MS + SLACK_MS);
    s.on('error', () => undefined);
    s.on('close', () => {
      clearTimeout(limit);
      resolve(true);
    });
    const finish = () => {
      if (c.finish === 'end') s.end();
      else if (c.finish === 'destroy') s.destroy();
    };
    s.on('data', (d: Buffer) => {
      if (answered) return;
      received = Buffer.concat([received, d]);
      if (received.length < 96 || !c.after) return;
      answered = true;
      s.write(c.after(received));
      finish();
    });
    s.on('connect', () => {
      s.write(c.first);
      // Cases the server cannot answer (too short to hold a key) finish at once.
      if (!c.after || c.first.length < 96) finish();
    });
  });
}

describe(`MSE listener under fuzz (${COUNT} handshakes, seed ${SEED})`, () => {
  it('keeps serving, fails every bad handshake with a typed error and closes it within the timeout', async () => {
    const stats: ServerStats = {
      open: 0,
      maxOpen: 0,
      maxLifeMs: 0,
      codes: new Map(),
      foreign: [],
      succeededIa: new Set(),
    };
    const server = await startServer(stats);
    const port = (server.address() as net.AddressInfo).port;
    const src = new FuzzSource(SEED);
    const validIa: string[] = [];
    const lateCloses: number[] = [];
    let next = 0;
    const rssBefore = process.memoryUsage().rss;
    const worker = async () => {
      while (next < COUNT) {
        const i = next++;
        const c = src.next(i % 50 === 0);
        if (c.ia) validIa.push(c.ia.toString('hex'));
        if (!(await attack(port, c))) lateCloses.push(i);
      }
    };
    await Promise.all(Array.from({ length: CONCURRENCY }, worker));
    const rssAfter = process.memoryUsage().rss;

    // Still serving: a normal encrypted connection works.
    const socket = net.connect(port, '127.0.0.1');
    await once(socket, 'connect');
    const ok = await mseConnect(socket, { infoHash: FUZZ_INFO_HASH, initialPayload: Buffer.alloc(68, 1) });
    expect(ok.cipher).toBe('rc4');
    ok.transport.stream.destroy();
    server.close();
    await once(server, 'close');
    const settled = () => [...stats.codes.values()].reduce((a, b) => a + b, 0) + stats.foreign.length;
    await until(
      'every server-side handshake to settle',
      () => (stats.open === 0 && settled() === COUNT + 1) || undefined,
      10_000,
    );

    const summary = Object.fromEntries(stats.codes);
    console.log(
      `mse fuzz: ${COUNT} handshakes, outcomes ${JSON.stringify(summary)}, max open ${stats.maxOpen}, ` +
        `longest connection ${stats.maxLifeMs} ms, rss ${Math.round(rssBefore / 2 ** 20)} -> ${Math.round(rssAfter / 2 ** 20)} MiB`,
    );
    expect(stats.foreign).toEqual([]);
    expect(lateCloses).toEqual([]);
    expect(stats.open).toBe(0);
    expect(stats.maxLifeMs).toBeLessThan(TIMEOUT_MS + SLACK_MS);
    expect(stats.maxOpen).toBeLessThanOrEqual(CONCURRENCY + 1);
    expect(validIa.length).toBeGreaterThanOrEqual(Math.floor(COUNT / 50));
    for (const ia of validIa) expect(stats.succeededIa.has(ia)).toBe(true);
    for (const code of ['bad-public-key', 'sync-not-found', 'bad-vc', 'pad-too-long', 'closed', 'timeout'])
      expect(stats.codes.get(code) ?? 0).toBeGreaterThan(0);
  });
});
