/**
 * Buffered writer for many log files at once: each open file keeps a string buffer flushed with one writeSync when
 * it passes FLUSH_AT bytes. Counts lines (for ground-truth line numbers) and bytes (all output is ASCII, so string
 * length = byte length; `append` checks this in debug builds of the tests).
 */
import { closeSync, mkdirSync, openSync, writeSync } from 'node:fs';
import { dirname, join } from 'node:path';

const FLUSH_AT = 2 * 1024 * 1024;

export interface OpenFile {
  /** Path relative to the output root, with `/` separators. */
  readonly rel: string;
  fd: number;
  buf: string;
  /** Lines written so far (headers included); the next line gets number `lines + 1`. */
  lines: number;
  bytes: number;
}

export class TreeWriter {
  /** Total bytes appended to all files. */
  bytes = 0;
  files = 0;
  private readonly madeDirs = new Set<string>();

  constructor(private readonly root: string) {}

  open(rel: string): OpenFile {
    const abs = join(this.root, rel);
    const dir = dirname(abs);
    if (!this.madeDirs.has(dir)) {
      mkdirSync(dir, { recursive: true });
      this.madeDirs.add(dir);
    }
    this.files++;
    return { rel, fd: openSync(abs, 'w'), buf: '', lines: 0, bytes: 0 };
  }

  /** Appends one line (without its newline); returns its 1-based line number. */
  line(f: OpenFile, text: string): number {
    f.buf += `${text}\n`;
    const n = text.length + 1;
    f.bytes += n;
    this.bytes += n;
    if (f.buf.length >= FLUSH_AT) this.flush(f);
    return ++f.lines;
  }

  /** Appends several lines (e.g. a header) at once. */
  lines(f: OpenFile, texts: readonly string[]): void {
    for (const t of texts) this.line(f, t);
  }

  flush(f: OpenFile): void {
    if (f.buf.length) {
      writeSync(f.fd, f.buf, null, 'latin1');
      f.buf = '';
    }
  }

  close(f: OpenFile): void {
    this.flush(f);
    closeSync(f.fd);
    f.fd = -1;
  }
}
