/**
 * `rxtorrent info <magnet>` as a user runs it: a real child process prints what the link holds (text
 * and --json), skipped parts as warnings, and a clear error (exit 1, no stack) for a broken link.
 */
import { runCli } from '../support/run-cli';

const HEX = 'c12fe1c06bba254a9dc9f519b335aa7c1367a88a';
const LINK =
  `magnet:?xt=urn:btih:${HEX}&dn=Big+Buck+Bunny&xl=276134947&tr=udp%3A%2F%2Ftracker.example%3A80` +
  '&tr=http%3A%2F%2Ft2.example%2Fannounce&x.pe=192.0.2.1:6881&x.pe=[2001:db8::1]:51413&tr=wss%3A%2F%2Fws.example';

describe('rxtorrent info <magnet>', () => {
  it('prints the info-hash, name, size, trackers, peers and what was skipped', async () => {
    const r = await runCli(['info', LINK]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('name:       Big Buck Bunny');
    expect(r.stdout).toContain(`info-hash:  ${HEX}`);
    expect(r.stdout).toContain('(276134947 bytes)');
    expect(r.stdout).toContain('trackers:   udp://tracker.example:80 | http://t2.example/announce');
    expect(r.stdout).toContain('peers:      192.0.2.1:6881, [2001:db8::1]:51413');
    expect(r.stdout).toMatch(/warning: +ignored tracker "wss:\/\/ws.example"/);
  });

  it('prints JSON with --json, base32 links included', async () => {
    const r = await runCli([
      'info',
      '--json',
      'magnet:?xt=urn:btih:YEX6DQDLXISUVHOJ6UM3GNNKPQJWPKEK&tr=http://a/announce',
    ]);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual({
      magnet: `magnet:?xt=urn:btih:${HEX}&tr=http%3A%2F%2Fa%2Fannounce`,
      infoHash: HEX,
      trackers: ['http://a/announce'],
      peers: [],
      warnings: [],
    });
  });

  it('says clearly what is wrong with a broken link', async () => {
    const r = await runCli(['info', `magnet:?xt=urn:btih:${HEX.slice(2)}`]);
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(
      /info-hash "2fe1c06b[0-9a-f]{30}" is neither 40 hex digits nor 32 base32 characters/,
    );
    expect(r.stderr).not.toMatch(/\n\s+at /); // no stack
    const none = await runCli(['info', 'magnet:?dn=nothing']);
    expect(none.code).toBe(1);
    expect(none.stderr).toMatch(/no info-hash/);
  });
});
