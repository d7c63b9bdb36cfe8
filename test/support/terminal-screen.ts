/**
 * What a terminal shows after some output: a small model of the screen (scrollback included) that
 * understands what our CLI and readline write — printable text, `\n`, `\r`, and the CSI sequences for
 * erasing (`K`, `J`), cursor moves (`A` `B` `C` `D` `G`) and colours (`m`, ignored). A message that
 * landed on a live progress line stays visible here on the same row as that line, as it does for a user.
 */

/** `ESC [ params final`, matched after the ESC (a literal ESC in a regex is a lint error). */
const CSI = /^\[([?\d;]*)([A-Za-z])/;

/** The rows of the screen, trailing spaces and trailing empty rows removed. */
export function screenLines(output: string): string[] {
  const rows: string[][] = [[]];
  let r = 0;
  let c = 0;
  const row = (): string[] => (rows[r] ??= []);
  for (let i = 0; i < output.length; i++) {
    const ch = output[i];
    if (ch === '\n') {
      // A tty's output processing (onlcr) turns \n into \r\n.
      r++;
      c = 0;
      row();
    } else if (ch === '\r') {
      c = 0;
    } else if (ch === '\b') {
      c = Math.max(0, c - 1);
    } else if (ch === '\x1b') {
      const m = CSI.exec(output.slice(i + 1, i + 16));
      if (!m) continue; // a lone or unknown escape: skip the ESC itself
      i += m[0].length;
      const n = m[1] === '' ? undefined : Number(m[1].replace(/^\?/, '').split(';')[0]);
      switch (m[2]) {
        case 'K': {
          const line = row();
          if (n === undefined || n === 0) line.length = Math.min(line.length, c);
          else if (n === 1) for (let k = 0; k <= c && k < line.length; k++) line[k] = ' ';
          else line.length = 0;
          break;
        }
        case 'J':
          if (n === undefined || n === 0) {
            row().length = Math.min(row().length, c);
            rows.length = r + 1;
          }
          break;
        case 'A':
          r = Math.max(0, r - (n ?? 1));
          break;
        case 'B':
          r += n ?? 1;
          row();
          break;
        case 'C':
          c += n ?? 1;
          break;
        case 'D':
          c = Math.max(0, c - (n ?? 1));
          break;
        case 'G':
          c = Math.max(0, (n ?? 1) - 1);
          break;
        default:
          break; // colours and modes change nothing we read
      }
    } else if (ch >= ' ') {
      const line = row();
      while (line.length < c) line.push(' ');
      line[c++] = ch;
    }
  }
  const text = rows.map((l) => (l ?? []).join('').trimEnd());
  while (text.length > 0 && text[text.length - 1] === '') text.pop();
  return text;
}
