/**
 * Our BEP 15 client against Debian's opentracker (IPv4, whitelist mode, UDP on `-P`): two peers
 * announce, the second gets the first; scrape counts both; an unlisted torrent gets no answer.
 */
import { ChildProcess, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { UdpTrackerClient, UdpAnnounceParams } from '../../src/actors/udp-announce';
import { describeWithTools } from '../support/real-clients';
import { freePort, until } from '../support/child-process';
import { tempDir } from '../support/run-cli';

const LISTED = Buffer.from('5eed00000000000000000000000000000000beef', 'hex');
const UNLISTED = Buffer.alloc(20, 0x77);
const params = (n: number, over: Partial<UdpAnnounceParams> = {}): UdpAnnounceParams => ({
  infoHash: LISTED,
  peerId: Buffer.from(`-RX0100-${String(n).padStart(12, '0')}`),
  port: 6100 + n,
  uploaded: 0,
  downloaded: 0,
  left: n === 1 ? 0 : 500,
  event: 'started',
  key: n,
  numWant: 50,
  ...over,
});

describeWithTools(['opentracker'], 'UDP tracker client against opentracker', () => {
  let tmp: { dir: string; cleanup: () => void };
  let child: ChildProcess;
  let port: number;
  const client = new UdpTrackerClient();

  beforeAll(async () => {
    tmp = tempDir('rxt-ot-');
    fs.chmodSync(tmp.dir, 0o755); // opentracker drops to `nobody` and chroots here
    fs.writeFileSync(path.join(tmp.dir, 'whitelist'), LISTED.toString('hex') + '\n');
    port = await freePort();
    child = spawn(
      'opentracker',
      ['-i', '127.0.0.1', '-p', String(port), '-P', String(port), '-d', tmp.dir, '-w', 'whitelist'],
      {
        stdio: 'ignore',
      },
    );
    // Up once it answers a scrape (bounded: 10 s).
    await until(
      'opentracker to answer on UDP',
      () =>
        client
          .scrape(`udp://127.0.0.1:${port}`, [LISTED], { timeoutMs: 200, retransmitBaseMs: 100 })
          .result.then(
            (r) => r,
            () => undefined,
          ),
      10_000,
    );
  });
  afterAll(() => {
    client.close();
    if (child?.pid !== undefined && child.exitCode === null) process.kill(child.pid, 'SIGTERM');
    tmp?.cleanup();
  });

  it('announces, gets the other peer back, and scrapes', async () => {
    const url = `udp://127.0.0.1:${port}/announce`;
    const first = await client.announce(url, params(1), { timeoutMs: 5000 }).result;
    expect(first.reply).toMatchObject({ ok: true, complete: 1, incomplete: 0 });
    const second = await client.announce(url, params(2), { timeoutMs: 5000 }).result;
    // opentracker lists the asker too.
    expect(second.reply).toMatchObject({ ok: true, complete: 1, incomplete: 1 });
    expect(second.reply.ok && second.reply.peers).toContainEqual({ ip: '127.0.0.1', port: 6101 });
    const [entry] = await client.scrape(url, [LISTED], { timeoutMs: 5000 }).result;
    expect(entry).toMatchObject({ seeders: 1, leechers: 1 });
  });

  it('a torrent outside the whitelist gets no answer (opentracker drops it): the request times out', async () => {
    const r = client.announce(`udp://127.0.0.1:${port}`, params(3, { infoHash: UNLISTED }), {
      timeoutMs: 500,
      retransmitBaseMs: 200,
    });
    await expect(r.result).rejects.toThrow(/timed out after 500 ms/);
  });
});
