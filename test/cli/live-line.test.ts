/**
 * The live line on a fake terminal: what reaches each stream, byte for byte, and what the screen then
 * shows (rendered by the same small terminal model the pty tests use).
 */
import { LiveLine, TextOut } from '../../src/cli/live-line';
import { screenLines } from '../support/terminal-screen';

/** stdout and stderr of one terminal (or a pipe, with `tty` false), recording writes in order. */
function terminal(tty: { stdout: boolean; stderr: boolean } = { stdout: true, stderr: true }, columns = 80) {
  const all: string[] = [];
  const out = (isTTY: boolean, name: string): TextOut & { text: string } => {
    const s = {
      isTTY,
      columns,
      text: '',
      write(t: string) {
        s.text += t;
        all.push(isTTY ? t : `<${name}:${t}>`);
        return true;
      },
    };
    return s;
  };
  const stdout = out(tty.stdout, 'stdout');
  const stderr = out(tty.stderr, 'stderr');
  return { stdout, stderr, screen: () => screenLines(all.join('')), raw: () => all.join('') };
}

describe('LiveLine', () => {
  it('prints a message on its own line above the live line and draws the live line again', () => {
    const t = terminal();
    const live = new LiveLine(t.stdout, t.stderr);
    live.show('100.0% 77/77 pieces, down 0 B/s up 0 B/s, 0 peers');
    live.print('tracker http://127.0.0.1:47100/announce answers again');
    live.print('rate limits: down unlimited, up unlimited', 'stdout');
    live.show('100.0% 77/77 pieces, down 0 B/s up 0 B/s, 1 peers');
    expect(t.raw()).toBe(
      '\r100.0% 77/77 pieces, down 0 B/s up 0 B/s, 0 peers\x1b[K' +
        '\r\x1b[K' +
        'tracker http://127.0.0.1:47100/announce answers again\n' +
        '100.0% 77/77 pieces, down 0 B/s up 0 B/s, 0 peers\x1b[K' +
        '\r\x1b[K' +
        'rate limits: down unlimited, up unlimited\n' +
        '100.0% 77/77 pieces, down 0 B/s up 0 B/s, 0 peers\x1b[K' +
        '\r100.0% 77/77 pieces, down 0 B/s up 0 B/s, 1 peers\x1b[K',
    );
    expect(t.screen()).toEqual([
      'tracker http://127.0.0.1:47100/announce answers again',
      'rate limits: down unlimited, up unlimited',
      '100.0% 77/77 pieces, down 0 B/s up 0 B/s, 1 peers',
    ]);
  });

  it('hide clears the line; later messages are plain lines', () => {
    const t = terminal();
    const live = new LiveLine(t.stdout, t.stderr);
    live.show('42.0% 31/77 pieces');
    live.hide();
    live.hide();
    live.print('stopped: 31/77 pieces', 'stdout');
    expect(t.raw()).toBe('\r42.0% 31/77 pieces\x1b[K\r\x1b[Kstopped: 31/77 pieces\n');
    expect(t.screen()).toEqual(['stopped: 31/77 pieces']);
  });

  it('cuts the live line to the terminal width, so that \\r can clear it', () => {
    const t = terminal(undefined, 10);
    const live = new LiveLine(t.stdout, t.stderr);
    live.show('0123456789abcdef');
    expect(t.stderr.text).toBe('\r012345678\x1b[K');
  });

  it('off a terminal: no live line, messages written as they come', () => {
    const t = terminal({ stdout: false, stderr: false });
    const live = new LiveLine(t.stdout, t.stderr);
    expect(live.enabled).toBe(false);
    live.show('12.0% 1/8 pieces');
    live.print('no peers left');
    live.writer('stdout').write('rate limits: down 1.0 MiB/s, up unlimited\n');
    live.hide();
    expect(t.raw()).toBe('<stderr:no peers left\n><stdout:rate limits: down 1.0 MiB/s, up unlimited\n>');
  });

  it('a message to a redirected stdout leaves the terminal live line alone', () => {
    const t = terminal({ stdout: false, stderr: true });
    const live = new LiveLine(t.stdout, t.stderr);
    live.show('50.0%');
    live.print('download complete', 'stdout');
    expect(t.stdout.text).toBe('download complete\n');
    expect(t.stderr.text).toBe('\r50.0%\x1b[K');
  });

  it('a live line owned by someone else (a readline prompt) is redrawn by its owner', () => {
    const t = terminal();
    const live = new LiveLine(t.stdout, t.stderr);
    let typed = 'pee';
    const redraw = (): void => void t.stdout.write(`tracker> ${typed}`);
    redraw();
    live.own(t.stdout, redraw);
    live.writer('stderr').write('2026-01-02T03:04:05.000Z tracker Announce peer=127.0.0.1:6881\n');
    typed = 'peers';
    live.print('one more');
    expect(t.screen()).toEqual([
      '2026-01-02T03:04:05.000Z tracker Announce peer=127.0.0.1:6881',
      'one more',
      'tracker> peers',
    ]);
    live.hide();
    live.print('console input ended');
    expect(t.screen()).toEqual([
      '2026-01-02T03:04:05.000Z tracker Announce peer=127.0.0.1:6881',
      'one more',
      'console input ended',
    ]);
  });

  it('ignores own() on a stream that is not a terminal', () => {
    const t = terminal({ stdout: false, stderr: true });
    const live = new LiveLine(t.stdout, t.stderr);
    live.own(t.stdout, () => void t.stdout.write('tracker> '));
    live.print('event');
    expect(t.stderr.text).toBe('event\n');
  });
});
