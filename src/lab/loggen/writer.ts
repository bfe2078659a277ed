/**
 * Buffered writer for many log files at once: each open file owns a 2 MB Buffer that lines are copied into (latin1,
 * no intermediate strings) and that is written with one writeSync when full. Counts lines (for ground-truth line
 * numbers) and bytes. All output is ASCII, so string length = byte length (the tests check that no byte ≥ 0x80 is
 * written).
 */
import { closeSync, mkdirSync, openSync, writeSync } from 'node:fs';
import { dirname, join } from 'node:path';

const CHUNK = 2 * 1024 * 1024;

export interface OpenFile {
  /** Path relative to the output root, with `/` separators. */
  readonly rel: string;
  fd: number;
  buf: Buffer;
  pos: number;
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
    return { rel, fd: openSync(abs, 'w'), buf: this.take(), pos: 0, lines: 0, bytes: 0 };
  }

  /** Appends one line (without its newline); returns its 1-based line number. */
  line(f: OpenFile, text: string): number {
    const n = text.length + 1;
    if (f.pos + n > f.buf.length) {
      this.flush(f);
      if (n > f.buf.length) {
        writeSync(f.fd, `${text}\n`, null, 'latin1');
        f.bytes += n;
        this.bytes += n;
        return ++f.lines;
      }
    }
    f.pos += f.buf.write(text, f.pos, 'latin1');
    f.buf[f.pos++] = 10;
    f.bytes += n;
    this.bytes += n;
    return ++f.lines;
  }

  /** Appends several lines (e.g. a header) at once. */
  lines(f: OpenFile, texts: readonly string[]): void {
    for (const t of texts) this.line(f, t);
  }

  flush(f: OpenFile): void {
    let off = 0;
    while (off < f.pos) off += writeSync(f.fd, f.buf, off, f.pos - off);
    f.pos = 0;
  }

  close(f: OpenFile): void {
    this.flush(f);
    closeSync(f.fd);
    f.fd = -1;
    this.spare.push(f.buf);
  }

  /** Buffers of closed files are reused (hourly files come and go). */
  private readonly spare: Buffer[] = [];

  private take(): Buffer {
    return this.spare.pop() ?? Buffer.allocUnsafe(CHUNK);
  }
}
