/**
 * Debian's transmission-remote (3.00) as a test client: run it against an RPC port, and parse what it
 * prints (`-l` rows, `Key: value` lines of `-i` / `-si` / `-st`), so a field it cannot read (a float
 * where it wants an integer, a missing tag) shows up as a missing line or column.
 */
import { execFile } from 'node:child_process';

export interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/** Run transmission-remote against the server (asynchronously: the server lives in this process). */
export function remote(port: number, ...args: string[]): Promise<Run> {
  return new Promise((resolve) => {
    execFile(
      'transmission-remote',
      [`127.0.0.1:${port}`, ...args],
      { timeout: 20_000 },
      (err, stdout, stderr) => {
        const code = err ? (typeof err.code === 'number' ? err.code : 1) : 0;
        resolve({ code, stdout, stderr });
      },
    );
  });
}

export interface ListRow {
  id: number;
  error: boolean;
  done: string;
  have: string;
  eta: string;
  up: number;
  down: number;
  ratio: string;
  status: string;
  name: string;
}

/** `    ID   Done       Have  ETA           Up    Down  Ratio  Status       Name` rows. */
export function parseList(stdout: string): ListRow[] {
  const lines = stdout.trimEnd().split('\n');
  expect(lines[0]).toMatch(/^\s+ID\s+Done\s+Have\s+ETA\s+Up\s+Down\s+Ratio\s+Status\s+Name$/);
  expect(lines[lines.length - 1]).toMatch(/^Sum:/);
  return lines.slice(1, -1).map((l) => {
    const m =
      /^\s*(\d+)(\*?)\s+(\S+)\s+(None|[\d.]+ \S+)\s+(Done|Unknown|\d+ \S+)\s+([\d.]+)\s+([\d.]+)\s+(\S+)\s+(Up & Down|\S+)\s+(.+)$/.exec(
        l,
      );
    if (!m) throw new Error(`cannot parse list row: ${JSON.stringify(l)}`);
    return {
      id: Number(m[1]),
      error: m[2] === '*',
      done: m[3],
      have: m[4],
      eta: m[5],
      up: Number(m[6]),
      down: Number(m[7]),
      ratio: m[8],
      status: m[9],
      name: m[10],
    };
  });
}

/** `  Key: value` lines of `-i` / `-si` / `-st` output. */
export function fields(stdout: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const l of stdout.split('\n')) {
    const m = /^ {2}([^:]+):\s*(.*)$/.exec(l);
    if (m && !out.has(m[1])) out.set(m[1], m[2]);
  }
  return out;
}
