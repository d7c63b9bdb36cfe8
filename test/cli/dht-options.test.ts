import {
  DEFAULT_DHT_BOOTSTRAP,
  dhtDisabledByEnv,
  dhtSettings,
  parseHostPort,
} from '../../src/cli/dht-options';
import { CliError } from '../../src/cli/context';
import { dhtOption } from '../../src/cli/network-options';
import { runCli } from '../support/run-cli';

const ENV = { XDG_STATE_HOME: '/state' };

describe('DHT settings', () => {
  test('on by default: the peer port, the public routers, the state file under XDG_STATE_HOME', () => {
    expect(dhtSettings({}, ENV, 6881)).toEqual({
      enabled: true,
      port: 6881,
      bootstrap: DEFAULT_DHT_BOOTSTRAP,
      stateFile: '/state/rxtorrent/dht.json',
    });
    expect(DEFAULT_DHT_BOOTSTRAP.map((h) => h.host)).toEqual([
      'router.bittorrent.com',
      'dht.transmissionbt.com',
      'router.utorrent.com',
    ]);
  });

  test('RXTORRENT_NO_DHT, --no-dht and private torrents turn it off, each saying why', () => {
    expect(dhtSettings({}, { ...ENV, RXTORRENT_NO_DHT: '1' }, 1)).toEqual({
      enabled: false,
      reason: 'RXTORRENT_NO_DHT is set',
    });
    expect(dhtSettings({ dht: false }, ENV, 1)).toEqual({ enabled: false, reason: '--no-dht' });
    expect(dhtSettings({}, ENV, 1, { private: true })).toMatchObject({
      enabled: false,
      reason: expect.stringMatching(/BEP 27/),
    });
    expect(['1', 'yes', 'true', ' 1 '].every((v) => dhtDisabledByEnv({ RXTORRENT_NO_DHT: v }))).toBe(true);
    expect(['', '0', 'false'].some((v) => dhtDisabledByEnv({ RXTORRENT_NO_DHT: v }))).toBe(false);
  });

  test('--dht-port and --dht-bootstrap (which replaces the defaults)', () => {
    expect(
      dhtSettings({ dhtPort: '7000', dhtBootstrap: ['127.0.0.1:6000', '[::1]:6001'] }, ENV, 1),
    ).toMatchObject({
      port: 7000,
      bootstrap: [
        { host: '127.0.0.1', port: 6000 },
        { host: '::1', port: 6001 },
      ],
    });
    expect(() => dhtSettings({ dhtPort: 'x' }, ENV, 1)).toThrow(/--dht-port/);
    expect(() => dhtSettings({ dhtPort: 70000 }, ENV, 1)).toThrow(/--dht-port/);
  });

  test('host:port parsing refuses what it cannot use', () => {
    expect(parseHostPort('router.example:6881')).toEqual({ host: 'router.example', port: 6881 });
    for (const bad of ['router', 'a:0', 'a:65536', '::1:5', 'a b:1', ':1', '[zz]:1'])
      expect(() => parseHostPort(bad)).toThrow(/host:port/);
  });
});

describe("the shared flags' engine option", () => {
  test('no --dht-port leaves the port to the engine (its listen port); the env goes along', () => {
    expect(dhtOption({ port: '6881' }, ENV)).toEqual({
      port: undefined,
      bootstrap: DEFAULT_DHT_BOOTSTRAP,
      stateFile: '/state/rxtorrent/dht.json',
      env: ENV,
    });
    expect(dhtOption({ port: '0', dhtPort: '7000', dhtBootstrap: ['127.0.0.1:6000'] }, ENV)).toMatchObject({
      port: 7000,
      bootstrap: [{ host: '127.0.0.1', port: 6000 }],
    });
  });

  test('--no-dht and RXTORRENT_NO_DHT give false', () => {
    expect(dhtOption({ port: '0', dht: false }, ENV)).toBe(false);
    expect(dhtOption({ port: '0' }, { ...ENV, RXTORRENT_NO_DHT: '1' })).toBe(false);
  });

  test('bad values are usage errors (exit 2) naming the flag', () => {
    for (const [flags, re] of [
      [{ dhtPort: '70000' }, /--dht-port/],
      [{ dhtPort: 'x' }, /--dht-port/],
      [{ dhtBootstrap: ['nope'] }, /host:port/],
      [{ dhtBootstrap: ['[::1]:0'] }, /host:port/],
    ] as const) {
      let err: unknown;
      try {
        dhtOption({ port: '0', ...flags }, ENV);
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(CliError);
      expect((err as CliError).exitCode).toBe(2);
      expect((err as Error).message).toMatch(re);
    }
  });
});

test('the CLI refuses a bad --dht-port or --dht-bootstrap before it starts anything', async () => {
  const env = { RXTORRENT_NO_DHT: '0' }; // (with it off, the DHT flags are not looked at)
  const r = await runCli(['seed', '-f', 'nothing.torrent', '-p', '0', '--dht-port', '70000'], { env });
  expect(r.code).toBe(2);
  expect(r.stderr).toMatch(/--dht-port must be an integer/);
  const b = await runCli(['leech', '-f', 'nothing.torrent', '-p', '0', '--dht-bootstrap', 'router'], {
    env,
  });
  expect(b.code).toBe(2);
  expect(b.stderr).toMatch(/want host:port/);
});
