/**
 * The LSD service: off under RXTORRENT_NO_LSD (as in every other test), and for real between two network
 * namespaces joined by a veth pair — each side finds the other over IPv4 and IPv6 multicast, never
 * itself, only for torrents it registered, and keeps working through a burst of malformed datagrams.
 * The two services run in child processes (`ip netns exec`) on the built dist/, with short intervals.
 */
import * as path from 'node:path';
import { firstValueFrom, toArray } from 'rxjs';
import { LsdService, lsdDisabled } from '../../src/actors/lsd';
import { JsonLines, NetnsPair, createNetnsPair, describeWithNetns } from '../support/netns';
import { ROOT } from '../support/run-cli';

describe('LSD switched off', () => {
  it('reads RXTORRENT_NO_LSD', () => {
    expect(lsdDisabled({ RXTORRENT_NO_LSD: '1' })).toBe(true);
    expect(lsdDisabled({ RXTORRENT_NO_LSD: 'yes' })).toBe(true);
    expect(lsdDisabled({})).toBe(false);
    expect(lsdDisabled({ RXTORRENT_NO_LSD: '' })).toBe(false);
    expect(lsdDisabled({ RXTORRENT_NO_LSD: '0' })).toBe(false);
    expect(lsdDisabled({ RXTORRENT_NO_LSD: 'false' })).toBe(false);
    expect(process.env.RXTORRENT_NO_LSD).toBe('1'); // the jest setup turns it off for every test
  });

  it('opens no socket, says so, and stops cleanly (twice)', async () => {
    const lsd = new LsdService({ env: { RXTORRENT_NO_LSD: '1' } });
    const events = firstValueFrom(lsd.events$.pipe(toArray()));
    await lsd.start();
    await lsd.start();
    lsd.register(Buffer.alloc(20, 1), 6881);
    await lsd.stop();
    await lsd.stop();
    expect((await events).map((e) => e.type)).toEqual(['LsdDisabled']);
    expect(() => lsd.register('xyz', 1)).toThrow(RangeError);
  });
});

describe('LSD without a usable interface', () => {
  it('reports the family it could not set up, then behaves as switched off', async () => {
    // 192.0.2.1 (TEST-NET-1) is no address of this host: joining the group on it fails, nothing is sent.
    const lsd = new LsdService({ env: {}, families: [4], interface4: '192.0.2.1', port: 0 });
    const events = firstValueFrom(lsd.events$.pipe(toArray()));
    await lsd.start();
    lsd.register(Buffer.alloc(20, 1), 6881);
    await lsd.stop();
    expect((await events).map((e) => [e.type, e.family])).toEqual([
      ['LsdFamilyUnavailable', 4],
      ['LsdUnavailable', undefined],
    ]);
  });
});

/** A service in a child process: JSON commands on stdin, JSON lines (found peers, events) on stdout. */
const CHILD = `
const { LsdService } = require(${JSON.stringify(path.join(ROOT, 'dist', 'actors', 'lsd.js'))});
const dgram = require('node:dgram');
const opts = JSON.parse(process.env.LSD_TEST_OPTS);
const lsd = new LsdService(opts);
const out = (o) => process.stdout.write(JSON.stringify(o) + '\\n');
lsd.peers$.subscribe((p) => out({ found: p.infoHash, ip: p.peer.ip, port: p.peer.port }));
lsd.events$.subscribe((e) => out({ event: e.type, family: e.family, reason: e.reason, error: e.error, families: e.families }));
let buf = '';
process.stdin.on('data', (d) => {
  buf += d;
  for (let nl; (nl = buf.indexOf('\\n')) >= 0; buf = buf.slice(nl + 1)) {
    const c = JSON.parse(buf.slice(0, nl));
    if (c.cmd === 'register') lsd.register(c.ih, c.port);
    if (c.cmd === 'junk') {
      // Malformed and hostile datagrams to the group, from another socket of this host.
      const s = dgram.createSocket('udp4');
      s.bind(0, () => {
        s.setMulticastInterface(opts.interface4);
        const ih = 'Infohash: ' + 'ab'.repeat(20) + '\\r\\n';
        const junk = [Buffer.alloc(0), Buffer.from('garbage'), Buffer.alloc(3000, 65),
          Buffer.from('BT-SEARCH * HTTP/1.1\\r\\nPort: 99999\\r\\n' + ih),
          Buffer.from('BT-SEARCH * HTTP/1.1\\r\\n' + 'X: 1\\r\\n'.repeat(200)),
          Buffer.from('BT-SEARCH * HTTP/1.1\\r\\nPort: 1\\r\\n' + ih.repeat(40))];
        let n = 0;
        const next = () => {
          if (n >= 300) { s.close(); out({ junkSent: n }); return; }
          s.send(junk[n % junk.length], 6771, '239.192.152.143', () => { n++; next(); });
        };
        next();
      });
    }
  }
});
lsd.start().then(() => out({ ready: true }));
`;

interface Line {
  ready?: boolean;
  found?: string;
  ip?: string;
  port?: number;
  event?: string;
  families?: number[];
  reason?: string;
  junkSent?: number;
}

describeWithNetns('LSD between two network namespaces', () => {
  let pair: NetnsPair;
  const IH1 = Buffer.alloc(20, 0x11).toString('hex');
  const IH2 = Buffer.alloc(20, 0x22).toString('hex');
  const IH3 = Buffer.alloc(20, 0x33).toString('hex');

  beforeAll(() => {
    pair = createNetnsPair();
  });
  afterAll(() => pair?.cleanup());

  it('each side finds the other over IPv4 and IPv6, never itself, only for torrents it registered', async () => {
    const start = (host: typeof pair.a): { lines: JsonLines<Line>; send: (o: object) => void } => {
      const opts = { interface4: host.ip4, interface6: `::%${host.iface}`, intervalMs: 1500, minGapMs: 500 };
      const child = pair.node(host, CHILD, { RXTORRENT_NO_LSD: '', LSD_TEST_OPTS: JSON.stringify(opts) });
      let stderr = '';
      child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
      child.on('exit', (code) => code && process.stderr.write(`lsd child exited ${code}: ${stderr}\n`));
      return { lines: new JsonLines<Line>(child), send: (o) => child.stdin?.write(JSON.stringify(o) + '\n') };
    };
    const a = start(pair.a);
    const b = start(pair.b);
    for (const side of [a, b]) {
      await side.lines.waitFor((l) => l.ready === true, 10_000, 'ready');
      expect(side.lines.seen.find((l) => l.event === 'LsdStarted')?.families).toEqual([4, 6]);
    }
    a.send({ cmd: 'register', ih: IH1, port: 7001 });
    a.send({ cmd: 'register', ih: IH2, port: 7001 });
    b.send({ cmd: 'register', ih: IH1, port: 7002 });

    const found = (side: typeof a, ih: string, ip: string, port: number): Promise<Line> =>
      side.lines.waitFor(
        (l) => l.found === ih && l.ip === ip && l.port === port,
        15_000,
        `${ih} at ${ip}:${port}`,
      );
    await Promise.all([
      found(a, IH1, pair.b.ip4, 7002),
      found(a, IH1, pair.b.ip6, 7002),
      found(b, IH1, pair.a.ip4, 7001),
      found(b, IH1, pair.a.ip6, 7001),
    ]);
    for (const [side, own] of [
      [a, pair.a],
      [b, pair.b],
    ] as const) {
      const reported = side.lines.seen.filter((l) => l.found);
      expect(reported.filter((l) => l.ip === own.ip4 || l.ip === own.ip6)).toEqual([]); // our cookie
    }
    expect(b.lines.seen.filter((l) => l.found === IH2)).toEqual([]); // B never registered IH2

    // A burst of malformed datagrams on B's segment: B reports some, keeps going, and still finds A.
    a.send({ cmd: 'junk' });
    await a.lines.waitFor((l) => l.junkSent === 300, 15_000, 'junk sent');
    await b.lines.waitFor((l) => l.event === 'LsdDatagramIgnored', 5_000, 'junk reported');
    expect(b.lines.seen.filter((l) => l.event === 'LsdDatagramIgnored').length).toBeLessThanOrEqual(10);
    a.send({ cmd: 'register', ih: IH3, port: 7001 });
    b.send({ cmd: 'register', ih: IH3, port: 7002 });
    await Promise.all([found(a, IH3, pair.b.ip4, 7002), found(b, IH3, pair.a.ip4, 7001)]);
  }, 60_000);
});
