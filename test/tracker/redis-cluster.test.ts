/**
 * Several tracker processes over one real Redis: two `rxtorrent tracker` processes on two ports, and
 * one with `--workers 2`. A peer announced to one process is returned by another (HTTP and UDP); a
 * killed process or worker loses nothing; a Redis restart is survived without restarting trackers.
 */
import { encodeAnnounceRequest } from '../../src/protocol/udp-tracker-codec';
import { runCli, tempDir } from '../support/run-cli';
import { until } from '../support/child-process';
import { describeWithTools } from '../support/real-clients';
import { startRedis, TestRedis } from '../support/redis-server';
import { announce, announceOk, httpGet, id20 } from '../support/tracker-http';
import { startTracker, TrackerProcess } from '../support/tracker-process';
import { udpProbe } from '../support/udp-probe';

const T = Buffer.alloc(20, 0x3c);
const peer = (n: number, over: Record<string, unknown> = {}) => ({
  infoHash: T,
  peerId: id20('-XX0001-', n),
  port: 7000 + n,
  left: 1000,
  event: 'started' as const,
  ...over,
});

describeWithTools(['redis'], 'tracker processes sharing one Redis', () => {
  let redis: TestRedis;
  let tmp: { dir: string; cleanup: () => void };
  const procs: TrackerProcess[] = [];
  const tracker = async (...extra: string[]): Promise<TrackerProcess> => {
    // Forking workers on a busy 2-core machine can take a while: give start-up 30 s.
    const p = await startTracker(
      ['--store-dir', tmp.dir, 'tracker', '--no-console', '-p', '0', '--host', '127.0.0.1', ...extra],
      {},
      { startTimeoutMs: 30_000 },
    );
    procs.push(p);
    return p;
  };
  const at = (p: TrackerProcess) => ({ host: '127.0.0.1', port: p.port });

  beforeAll(async () => {
    redis = await startRedis();
    tmp = tempDir('rxt-redis-cluster-');
  });
  afterAll(async () => {
    await Promise.all(procs.map((p) => p.stop()));
    await redis?.cleanup();
    tmp?.cleanup();
  });

  it('--workers without --registry redis:// is refused with a clear message', async () => {
    const r = await runCli(['--store-dir', tmp.dir, 'tracker', '--workers', '2', '--no-console']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/--workers needs --registry redis:\/\/HOST:PORT/);
  });

  it('two processes serve one set of swarms; one killed, the other serves everything; Redis restarts are survived', async () => {
    const url = `${redis.url}/1`;
    const a = await tracker('--registry', url);
    const b = await tracker('--registry', url);
    await announceOk(at(a), peer(1));
    // UDP to B returns the peer announced over HTTP to A.
    const probe = await udpProbe('127.0.0.1', b.port);
    try {
      const cid = await probe.connect();
      const udpReply = probe.decode(
        await probe.ask(
          encodeAnnounceRequest({
            connectionId: cid,
            transactionId: 9,
            infoHash: T,
            peerId: id20('-XX0001-', 2),
            downloaded: 0,
            left: 5,
            uploaded: 0,
            event: 'started',
            key: 2,
            numWant: -1,
            port: 7002,
          }),
        ),
      );
      expect(udpReply).toMatchObject({
        action: 'announce',
        leechers: 2,
        peers: [{ ip: '127.0.0.1', port: 7001 }],
      });
    } finally {
      probe.close();
    }
    a.child.kill('SIGKILL');
    await a.exited;
    const r = await announceOk(at(b), peer(3));
    expect(r.peers.map((p) => p.port).sort()).toEqual([7001, 7002]);

    await redis.stop();
    expect(await announce(at(b), peer(4))).toEqual({
      ok: false,
      failureReason: 'tracker storage unavailable, retry later',
    });
    await b.waitFor(/warning: Redis unavailable/, { stream: 'stderr' });
    await redis.start();
    const back = await until(
      'announces through B to recover',
      async () => {
        const o = await announce(at(b), peer(4));
        return o.ok ? o : undefined;
      },
      15_000,
      200,
    );
    expect(back).toMatchObject({ ok: true, incomplete: 1 }); // a fresh Redis (no persistence): only itself
    await b.waitFor(/Redis is back/, { stream: 'stderr' });
  }, 90_000);

  it('--workers 2: both workers answer HTTP and UDP; /stats adds up both; a killed worker is replaced', async () => {
    const p = await tracker('--registry', `${redis.url}/2`, '--workers', '2');
    const pids = (await p.waitFor(/workers: (\d+) (\d+)/)).slice(1).map(Number);
    expect(new Set(pids).size).toBe(2);
    // Fresh connections are spread over the workers by the kernel; 40 announces reach both.
    for (let n = 1; n <= 40; n++) await announceOk({ host: '127.0.0.1', port: p.port }, peer(n));
    const probe = await udpProbe('127.0.0.1', p.port);
    try {
      await probe.connect();
    } finally {
      probe.close();
    }
    const stats = await until(
      'counters of both workers in /stats',
      async () => {
        const s = JSON.parse((await httpGet('127.0.0.1', p.port, '/stats')).body.toString());
        return s.http.announces >= 40 && s.udp.connects >= 1 ? s : undefined;
      },
      20_000,
      200,
    );
    expect(stats).toMatchObject({ torrents: 1, peers: 40, leechers: 40 });

    process.kill(pids[0], 'SIGKILL');
    await p.waitFor(new RegExp(`tracker worker ${pids[0]} died`), { stream: 'stderr', timeoutMs: 20_000 });
    // Nothing lost: every announce still succeeds and sees all 40 peers (+ itself).
    for (let n = 41; n <= 50; n++) {
      const r = await announceOk({ host: '127.0.0.1', port: p.port }, peer(n));
      expect(r.incomplete).toBe(n);
    }
    await p.waitFor(/tracker worker \d+ listening/, { stream: 'stderr', timeoutMs: 30_000 });
  }, 90_000);
});
