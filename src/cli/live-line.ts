/**
 * The terminal's one live line (a progress line or bar, the tracker console's prompt) and every
 * message printed while it is shown.
 *
 * Owns: keeping messages off the live line. On a terminal a message clears the live line
 * (`\r\x1b[K`), is printed on its own line(s), and the live line is drawn again below it, as aria2c and
 * transmission-cli do. Live text is cut to the terminal's width, since a wrapped line cannot be cleared
 * with `\r`. When stderr is not a terminal there is no live line: `show` does nothing and messages are
 * written as they come. Does not own: what the live line says or when it changes (the commands decide).
 *
 * Every printer of a command that shows a live line goes through here: the command's own messages
 * (`print`), the `-v` event printer and the store's warnings (`writer`).
 *
 * @example
 *   const live = new LiveLine(process.stdout, process.stderr);
 *   live.show('42.0% 31/77 pieces');        // stderr: "\r42.0% 31/77 pieces\x1b[K"
 *   live.print('tracker answers again');    // "\r\x1b[K" "tracker answers again\n" "42.0% 31/77 pieces\x1b[K"
 *   live.hide();                            // "\r\x1b[K"; later messages are plain lines
 */

/** What LiveLine writes to: process.stdout / process.stderr, or a test's fake terminal. */
export interface TextOut {
  write(text: string): unknown;
  isTTY?: boolean;
  columns?: number;
}

const CLEAR = '\r\x1b[K';

export class LiveLine {
  /** Redraws the live line after a message; null while none is shown. */
  private redraw: (() => void) | null = null;
  /** The stream the live line is on. */
  private on: TextOut;

  constructor(
    readonly stdout: TextOut,
    readonly stderr: TextOut,
  ) {
    this.on = stderr;
  }

  /** Whether a live line can be shown: stderr is a terminal. */
  get enabled(): boolean {
    return this.stderr.isTTY === true;
  }

  /** Show `text` as the live line on stderr, replacing what it said; nothing when not a terminal. */
  show(text: string): void {
    if (!this.enabled) return;
    const cols = this.stderr.columns;
    const fitted = cols !== undefined && cols > 1 && text.length >= cols ? text.slice(0, cols - 1) : text;
    this.on = this.stderr;
    this.redraw = () => this.stderr.write(`${fitted}\x1b[K`);
    this.stderr.write('\r');
    this.redraw();
  }

  /**
   * A live line drawn by someone else on `stream` (a readline prompt with the text typed so far):
   * `redraw` is called after each message, until `hide`.
   */
  own(stream: TextOut, redraw: () => void): void {
    if (stream.isTTY !== true) return;
    this.on = stream;
    this.redraw = redraw;
  }

  /** Clear the live line; messages print as plain lines until the next `show` or `own`. */
  hide(): void {
    if (this.redraw === null) return;
    this.redraw = null;
    this.on.write(CLEAR);
  }

  /** Print whole lines (a newline is added when missing) to stdout or stderr, below the live line. */
  print(text: string, to: 'stdout' | 'stderr' = 'stderr'): void {
    const out = this[to];
    const line = text.endsWith('\n') ? text : `${text}\n`;
    // A message to a file or pipe cannot land on the terminal's live line.
    if (this.redraw === null || out.isTTY !== true) {
      out.write(line);
      return;
    }
    this.on.write(CLEAR);
    out.write(line);
    this.redraw();
  }

  /** A stream-like view for printers that take one (the `-v` event printer, store warnings). */
  writer(to: 'stdout' | 'stderr' = 'stderr'): { write(text: string): boolean } {
    return {
      write: (text) => {
        this.print(text, to);
        return true;
      },
    };
  }
}
