/**
 * Progress display for long CLI jobs: a redrawn bar on a TTY, nothing until the final line otherwise
 * (so logs and pipes get one plain line, not hundreds of carriage returns). The bar is the terminal's
 * live line (src/cli/live-line.ts), so messages printed meanwhile go above it.
 */
import type { LiveLine } from './live-line';

export interface Progress {
  update(done: number, total: number, label?: string): void;
  finish(line: string): void;
}

export function formatBytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = n;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${i === 0 ? v : v.toFixed(1)} ${units[i]}`;
}

export function progress(live: LiveLine, clock: () => number = () => Date.now()): Progress {
  let last = 0;
  return {
    update(done, total, label = '') {
      if (!live.enabled) return;
      const now = clock();
      if (now - last < 100 && done < total) return; // at most 10 redraws a second
      last = now;
      const width = 30;
      const frac = total > 0 ? done / total : 1;
      const filled = Math.round(frac * width);
      live.show(
        `[${'#'.repeat(filled)}${' '.repeat(width - filled)}] ${(frac * 100).toFixed(1).padStart(5)}% ${label}`,
      );
    },
    finish(line) {
      live.hide();
      live.print(line);
    },
  };
}
