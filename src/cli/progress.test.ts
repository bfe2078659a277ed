/**
 * The progress bar on a terminal: a fake TTY records every write into a small screen model (carriage return,
 * newline, erase-line), the way a terminal shows standard output and standard error together.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Io } from './io.js';
import { main } from './main.js';
import { progressBar } from './progress.js';

/** What a terminal shows after a sequence of writes: enough of VT100 for a progress bar. */
class Screen {
  lines: string[] = [''];
  private row = 0;
  private col = 0;
  readonly isTTY = true;
  write = (chunk: string | Uint8Array): boolean => {
    const text = String(chunk);
    for (let i = 0; i < text.length; i++) {
      const c = text[i]!;
      if (text.startsWith('\x1b[2K', i)) {
        this.lines[this.row] = '';
        i += 3;
      } else if (c === '\r') this.col = 0;
      else if (c === '\n') {
        this.row++;
        this.col = 0;
        this.lines[this.row] ??= '';
      } else {
        const line = (this.lines[this.row] ?? '').padEnd(this.col, ' ');
        this.lines[this.row] = line.slice(0, this.col) + c + line.slice(this.col + 1);
        this.col++;
      }
    }
    return true;
  };
}

const ioOn = (screen: Screen): Io => ({
  out: (t) => {
    screen.write(t);
  },
  err: (t) => {
    screen.write(t);
  },
  color: false,
  env: {},
  cwd: process.cwd(),
});

describe('progressBar', () => {
  it('counts hosts as hosts, not MB', () => {
    const screen = new Screen();
    const bar = progressBar(ioOn(screen), 'scanning', { unit: 'hosts', stream: screen });
    bar.update(3, 10);
    expect(screen.lines[0]).toMatch(/^scanning \[#{9}\.{21}\] 3\/10 hosts {2}[\d.]+ hosts\/s $/);
    expect(screen.lines[0]).not.toContain('MB');
  });

  it('keeps bytes as MB for the hunt', () => {
    const screen = new Screen();
    const bar = progressBar(ioOn(screen), 'hunting', { stream: screen });
    bar.update(5_000_000, 10_000_000);
    expect(screen.lines[0]).toMatch(/ 5\/10 MB /);
  });

  it('clears its line before a printed line and redraws after it, and leaves nothing when done', () => {
    const screen = new Screen();
    const io = ioOn(screen);
    const bar = progressBar(io, 'scanning', { unit: 'hosts', stream: screen });
    for (let i = 1; i <= 3; i++) {
      bar.update(i, 3);
      bar.print(() => io.out(`RESULT ${i}\n`));
    }
    expect(screen.lines.slice(0, 3)).toEqual(['RESULT 1', 'RESULT 2', 'RESULT 3']);
    expect(screen.lines[3]).toMatch(/^scanning .* 3\/3 hosts/);
    bar.done();
    expect(screen.lines.join('\n').trim()).toBe('RESULT 1\nRESULT 2\nRESULT 3');
  });

  it('draws nothing when standard error is not a terminal or in CI', () => {
    const screen = new Screen();
    const pipe = { isTTY: false, write: screen.write };
    const io = ioOn(screen);
    const bar = progressBar(io, 'scanning', { unit: 'hosts', stream: pipe });
    bar.update(1, 2);
    bar.print(() => io.out('RESULT\n'));
    const ci = progressBar({ ...io, env: { CI: 'true' } }, 'scanning', { unit: 'hosts', stream: screen });
    ci.update(1, 2);
    expect(screen.lines).toEqual(['RESULT', '']);
  });
});

describe('bulwark scan on a terminal', () => {
  const servers: Server[] = [];
  const urls: string[] = [];
  beforeAll(async () => {
    for (let i = 0; i < 6; i++) {
      const s = createServer((_req, res) => {
        // Results arrive over more than the bar's redraw interval, so it is drawn between them.
        setTimeout(() => res.end('not exchange'), 40 * i);
      });
      await new Promise<void>((ok) => s.listen(0, '127.0.0.1', ok));
      servers.push(s);
      urls.push(`http://127.0.0.1:${(s.address() as AddressInfo).port}/`);
    }
  });
  afterAll(async () => {
    await Promise.all(servers.map((s) => new Promise((ok) => s.close(ok))));
  });

  it('never puts a result line and the bar on one line, and counts hosts', async () => {
    const screen = new Screen();
    const stderr = process.stderr;
    const saved = { write: stderr.write, isTTY: stderr.isTTY };
    const bars: string[] = [];
    // The scan command draws on the real standard error: make it this fake terminal for the run.
    Object.defineProperty(stderr, 'isTTY', { value: true, configurable: true });
    stderr.write = ((chunk: string) => {
      if (String(chunk).includes('scanning [')) bars.push(String(chunk));
      return screen.write(chunk);
    }) as typeof stderr.write;
    let code: number;
    try {
      code = await main(['scan', ...urls, '--passive', '--timeout', '5000'], ioOn(screen));
    } finally {
      stderr.write = saved.write;
      Object.defineProperty(stderr, 'isTTY', { value: saved.isTTY, configurable: true });
    }
    expect(code).toBe(0);
    expect(bars.length, 'the bar was drawn').toBeGreaterThan(0);
    for (const b of bars) expect(b).toMatch(/\d+\/6 hosts/);
    const resultLines = screen.lines.filter((l) => l.includes('NOT_EXCHANGE'));
    expect(resultLines).toHaveLength(6);
    for (const line of screen.lines)
      expect(line, line).not.toMatch(/scanning \[.*NOT_EXCHANGE|NOT_EXCHANGE.*scanning \[/);
    for (const line of resultLines) expect(line).toMatch(/^NOT_EXCHANGE +http:\/\/127\.0\.0\.1:\d+\//);
  });
});
