/**
 * A one-line progress bar on standard error, only when it is a terminal and not in CI: done of total in the
 * command's unit (bytes shown as MB, or hosts) and the rate. Redrawn at most ten times a second so it never costs
 * measurable time.
 *
 * Lines the command prints while the bar is up go through `print`: the bar's line is cleared first and the bar
 * redrawn after, so on a terminal (where standard output and standard error share the screen) a result line never
 * lands in the middle of the bar.
 */
import type { Io } from './io.js';

export interface Progress {
  update(done: number, total: number): void;
  /** Runs `write` (which prints whole lines) with the bar out of the way. */
  print(write: () => void): void;
  done(): void;
}

export interface ProgressOptions {
  /** `bytes` (default): shown as MB and MB/s; `hosts` and `assets`: counted as they are. */
  unit?: 'bytes' | 'hosts' | 'assets';
  stream?: Pick<NodeJS.WriteStream, 'isTTY' | 'write'>;
}

const CLEAR_LINE = '\r\x1b[2K';

export function progressBar(io: Io, label: string, options: ProgressOptions = {}): Progress {
  const stream = options.stream ?? process.stderr;
  if (!stream.isTTY || io.env.CI) return { update() {}, print: (write) => write(), done() {} };
  const unit = options.unit ?? 'bytes';
  const started = Date.now();
  let last = 0;
  let drawn = false;
  let state = { done: 0, total: 0 };
  const draw = (now: number) => {
    const { done, total } = state;
    const width = 30;
    const frac = total ? Math.min(1, done / total) : 0;
    const bar = '#'.repeat(Math.round(frac * width)).padEnd(width, '.');
    const seconds = Math.max(0.001, (now - started) / 1000);
    const counts =
      unit !== 'bytes'
        ? `${done}/${total} ${unit}  ${(done / seconds).toFixed(1)} ${unit}/s`
        : `${(done / 1e6).toFixed(0)}/${(total / 1e6).toFixed(0)} MB  ${(done / 1e6 / seconds).toFixed(0)} MB/s`;
    stream.write(`\r${label} [${bar}] ${counts} `);
    drawn = true;
  };
  return {
    update(done, total) {
      state = { done, total };
      const now = Date.now();
      if (now - last < 100 && done < total) return;
      last = now;
      draw(now);
    },
    print(write) {
      const was = drawn;
      if (was) {
        stream.write(CLEAR_LINE);
        drawn = false;
      }
      write();
      if (was) draw(Date.now());
    },
    done() {
      if (drawn) stream.write(CLEAR_LINE);
      drawn = false;
    },
  };
}
