/**
 * A one-line progress bar on standard error, only when it is a terminal: bytes done, total and throughput.
 * Redrawn at most ten times a second so it never costs measurable time.
 */
import type { Io } from './io.js';

export interface Progress {
  update(done: number, total: number): void;
  done(): void;
}

export function progressBar(io: Io, label: string, stream: NodeJS.WriteStream = process.stderr): Progress {
  if (!stream.isTTY || io.env.CI) return { update() {}, done() {} };
  const started = Date.now();
  let last = 0;
  let drawn = false;
  return {
    update(done, total) {
      const now = Date.now();
      if (now - last < 100 && done < total) return;
      last = now;
      const width = 30;
      const frac = total ? Math.min(1, done / total) : 0;
      const bar = '#'.repeat(Math.round(frac * width)).padEnd(width, '.');
      const rate = done / 1e6 / Math.max(0.001, (now - started) / 1000);
      stream.write(
        `\r${label} [${bar}] ${(done / 1e6).toFixed(0)}/${(total / 1e6).toFixed(0)} MB  ${rate.toFixed(0)} MB/s `,
      );
      drawn = true;
    },
    done() {
      if (drawn) stream.write('\r\x1b[2K');
    },
  };
}
