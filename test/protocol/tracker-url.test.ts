import { normalizeTrackerUrl } from '../../src/protocol/tracker-url';

describe('normalizeTrackerUrl', () => {
  it.each([
    ['192.168.1.100', 'http://192.168.1.100:5000/announce'],
    ['localhost', 'http://localhost:5000/announce'],
    ['tracker.lan:6969', 'http://tracker.lan:6969/announce'],
    ['[::1]:7000', 'http://[::1]:7000/announce'],
    ['[::1]', 'http://[::1]:5000/announce'],
    ['::1', 'http://[::1]:5000/announce'],
    ['http://t.example/announce', 'http://t.example/announce'],
    ['udp://t.example:80', 'udp://t.example:80'],
    ['udp://[::1]:6969/announce', 'udp://[::1]:6969/announce'],
  ])('%s → %s', (input, url) => expect(normalizeTrackerUrl(input)).toBe(url));

  it.each(['', 'host:99999', 'host:0', 'ftp://x', 'a b', 'http://', 'udp://t.example/announce'])(
    'refuses %j',
    (input) => {
      expect(() => normalizeTrackerUrl(input)).toThrow(/tracker/);
    },
  );
});
