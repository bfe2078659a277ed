import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  type DecodeInfo,
  decodeToUtf8Chunks,
  detectEncoding,
  type LineFlag,
  type LineStats,
  readLines,
} from './lines.js';

async function* chunksOf(buf: Buffer, sizes: number[] = []): AsyncGenerator<Buffer> {
  let pos = 0;
  let k = 0;
  while (pos < buf.length) {
    const size = sizes.length ? Math.max(1, sizes[k++ % sizes.length]!) : buf.length;
    yield buf.subarray(pos, pos + size);
    pos += size;
  }
}

interface Collected {
  lines: [string, number, LineFlag | undefined][];
  stats: LineStats;
}

async function collect(buf: Buffer, sizes: number[] = [], maxLineBytes?: number): Promise<Collected> {
  const lines: Collected['lines'] = [];
  const stats = await readLines(chunksOf(buf, sizes), (t, n, f) => lines.push([t, n, f]), { maxLineBytes });
  return { lines, stats };
}

const texts = (c: Collected) => c.lines.map((l) => l[0]);

describe('detectEncoding', () => {
  it('recognises BOMs and BOM-less UTF-16LE text', () => {
    expect(detectEncoding(Buffer.from([0xef, 0xbb, 0xbf, 0x23]))).toEqual({
      encoding: 'utf8-bom',
      bomLength: 3,
    });
    expect(detectEncoding(Buffer.from([0xff, 0xfe, 0x23, 0]))).toEqual({
      encoding: 'utf16le-bom',
      bomLength: 2,
    });
    expect(detectEncoding(Buffer.from([0xfe, 0xff, 0, 0x23]))).toEqual({
      encoding: 'utf16be-bom',
      bomLength: 2,
    });
    expect(detectEncoding(Buffer.from('#Software', 'utf16le'))).toEqual({
      encoding: 'utf16le',
      bomLength: 0,
    });
    expect(detectEncoding(Buffer.from('<Event', 'utf16le'))).toEqual({ encoding: 'utf16le', bomLength: 0 });
    expect(detectEncoding(Buffer.from('#Software'))).toEqual({ encoding: 'utf8', bomLength: 0 });
    expect(detectEncoding(Buffer.from([0, 0, 0, 0]))).toEqual({ encoding: 'utf8', bomLength: 0 });
  });
});

describe('readLines', () => {
  it('splits LF and CRLF lines and keeps a final line without newline', async () => {
    const c = await collect(Buffer.from('a\r\nb\n\nc\r\nlast'));
    expect(c.lines).toEqual([
      ['a', 1, undefined],
      ['b', 2, undefined],
      ['', 3, undefined],
      ['c', 4, undefined],
      ['last', 5, undefined],
    ]);
    expect(c.stats).toMatchObject({ encoding: 'utf8', bytes: 13, lines: 5, truncated: 0, binary: 0 });
  });

  it('does not add a line for a final newline, and keeps a lone CR inside a line', async () => {
    expect(texts(await collect(Buffer.from('a\rb\n')))).toEqual(['a\rb']);
    expect(texts(await collect(Buffer.from('')))).toEqual([]);
    expect(texts(await collect(Buffer.from('\n')))).toEqual(['']);
    expect(texts(await collect(Buffer.from('x\r')))).toEqual(['x']);
  });

  it('strips a UTF-8 BOM', async () => {
    const c = await collect(
      Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from('#Software: x\r\nü\r\n')]),
    );
    expect(texts(c)).toEqual(['#Software: x', 'ü']);
    expect(c.stats.encoding).toBe('utf8-bom');
  });

  it('transcodes UTF-16LE with BOM (CRLF), including characters outside the BMP, split at odd bytes', async () => {
    const text =
      '#Software: Microsoft Exchange Server\r\nDateTime,UserAgent\r\n2021-03-03T06:49:42.162Z,Ünïcødé 😀\r\n';
    const buf = Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from(text, 'utf16le')]);
    const want = [
      '#Software: Microsoft Exchange Server',
      'DateTime,UserAgent',
      '2021-03-03T06:49:42.162Z,Ünïcødé 😀',
    ];
    for (const sizes of [[], [1], [3], [7, 1, 2]]) {
      const c = await collect(buf, sizes);
      expect(texts(c)).toEqual(want);
      expect(c.stats.encoding).toBe('utf16le-bom');
      expect(c.stats.bytes).toBe(buf.length);
    }
  });

  it('recognises UTF-16LE without BOM from `#\\0S\\0`, and UTF-16BE with BOM', async () => {
    const le = await collect(Buffer.from('#Software: IIS\nx\n', 'utf16le'), [5]);
    expect(texts(le)).toEqual(['#Software: IIS', 'x']);
    expect(le.stats.encoding).toBe('utf16le');
    const be = Buffer.from('#Fields: a\r\nb', 'utf16le').swap16();
    const c = await collect(Buffer.concat([Buffer.from([0xfe, 0xff]), be]), [3]);
    expect(texts(c)).toEqual(['#Fields: a', 'b']);
    expect(c.stats.encoding).toBe('utf16be-bom');
  });

  it('cuts lines over the bound, keeps their head, counts and samples them', async () => {
    const long = 'x'.repeat(50);
    const c = await collect(Buffer.from(`short\n${long}\nok\n${long}`), [7], 10);
    expect(texts(c)).toEqual(['short', 'x'.repeat(10), 'ok', 'x'.repeat(10)]);
    expect(c.stats.truncated).toBe(2);
    expect(c.stats.samples.map((s) => [s.line, s.reason])).toEqual([
      [2, 'line longer than 10 bytes, cut'],
      [4, 'line longer than 10 bytes, cut'],
    ]);
  });

  it('never cuts inside a UTF-8 character, and a CR beyond the bound does not count', async () => {
    const c = await collect(Buffer.from('aaaaaaaaaé\r\nbbbbbbbbbb\r\n'), [], 10);
    expect(texts(c)).toEqual(['aaaaaaaaa', 'bbbbbbbbbb']);
    expect(c.stats.truncated).toBe(1);
  });

  it('counts binary lines (NUL bytes) without passing them on', async () => {
    const buf = Buffer.concat([
      Buffer.from('good\n'),
      Buffer.from([0x41, 0, 0, 0x42, 0x0a]),
      Buffer.from('after\n'),
    ]);
    const c = await collect(buf);
    expect(c.lines).toEqual([
      ['good', 1, undefined],
      ['after', 3, undefined],
    ]);
    expect(c.stats).toMatchObject({ lines: 3, binary: 1, invalidUtf8: 0 });
    expect(c.stats.samples).toEqual([{ line: 2, reason: 'binary (NUL bytes)', text: 'A..B' }]);
  });

  it('passes invalid UTF-8 lines on as latin1, flagged, so a bad byte cannot hide a request', async () => {
    const buf = Buffer.concat([
      Buffer.from('GET /owa/auth/x.aspx Syst'),
      Buffer.from([0xe8]),
      Buffer.from('me\nok\n'),
    ]);
    const c = await collect(buf);
    expect(c.lines).toEqual([
      ['GET /owa/auth/x.aspx Système', 1, 'invalid-utf8'],
      ['ok', 2, undefined],
    ]);
    expect(c.stats).toMatchObject({ binary: 1, invalidUtf8: 1 });
  });

  it('keeps at most five samples', async () => {
    const c = await collect(Buffer.from(Array.from({ length: 9 }, () => 'a\0').join('\n')));
    expect(c.stats.binary).toBe(9);
    expect(c.stats.samples).toHaveLength(5);
  });

  it('bounds memory: a 20 MB line without newline is cut, not buffered', async () => {
    async function* huge() {
      const block = Buffer.alloc(1 << 20, 0x61);
      for (let i = 0; i < 20; i++) yield block;
      yield Buffer.from('\nend');
    }
    const lines: string[] = [];
    const stats = await readLines(huge(), (t) => lines.push(t), { maxLineBytes: 1000 });
    expect(lines.map((l) => l.length)).toEqual([1000, 3]);
    expect(stats).toMatchObject({ lines: 2, truncated: 1, bytes: 20 * (1 << 20) + 4 });
  });
});

describe('decodeToUtf8Chunks', () => {
  it('passes UTF-8 chunks through unchanged (same buffers) after the BOM', async () => {
    const a = Buffer.from('\ufeffhello ');
    const b = Buffer.from('world');
    const out: Buffer[] = [];
    const info: DecodeInfo = { bytes: 0 };
    for await (const c of decodeToUtf8Chunks(
      (async function* () {
        yield a;
        yield b;
      })(),
      info,
    )) {
      out.push(c);
    }
    expect(Buffer.concat(out).toString()).toBe('hello world');
    expect(out[1]).toBe(b);
    expect(info).toEqual({ bytes: a.length + b.length, encoding: 'utf8-bom' });
  });
});

describe('readLines fuzz', () => {
  const splits = fc.array(fc.integer({ min: 1, max: 64 }), { minLength: 1, maxLength: 8 });

  it('random bytes, randomly chunked: same result as one chunk, never throws', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.uint8Array({ maxLength: 600 }),
        splits,
        fc.integer({ min: 1, max: 80 }),
        async (u, sizes, max) => {
          const buf = Buffer.from(u);
          const whole = await collect(buf, [], max);
          const parts = await collect(buf, sizes, max);
          expect(parts).toEqual(whole);
          for (const [t] of whole.lines) expect(Buffer.byteLength(t, 'utf8')).toBeLessThanOrEqual(max * 2);
        },
      ),
      { numRuns: 300 },
    );
  });

  it('text with biased bytes (newlines, CR, NUL, multibyte) is split identically under any chunking', async () => {
    const piece = fc.oneof(
      fc.constantFrom('\n', '\r\n', '\r', '\0', 'é', '😀', '#Fields: a,b', ','),
      fc.string({ maxLength: 12 }),
    );
    await fc.assert(
      fc.asyncProperty(fc.array(piece, { maxLength: 40 }), splits, async (ps, sizes) => {
        const buf = Buffer.from(ps.join(''));
        expect(await collect(buf, sizes, 16)).toEqual(await collect(buf, [], 16));
      }),
      { numRuns: 300 },
    );
  });

  it('a valid file (lines without CR/LF/NUL) round-trips in UTF-8, UTF-8 BOM and UTF-16LE BOM', async () => {
    const line = fc.string({ unit: 'grapheme', maxLength: 30 }).map((s) => s.replace(/[\r\n\0]/g, ' '));
    await fc.assert(
      fc.asyncProperty(
        fc.array(line, { minLength: 1, maxLength: 12 }),
        fc.constantFrom('\n', '\r\n'),
        fc.boolean(),
        fc.constantFrom('utf8', 'utf8-bom', 'utf16le-bom'),
        splits,
        async (ls, eol, finalEol, enc, sizes) => {
          const text = ls.join(eol) + (finalEol ? eol : '');
          const body = enc === 'utf16le-bom' ? Buffer.from(text, 'utf16le') : Buffer.from(text, 'utf8');
          const bom = enc === 'utf8-bom' ? [0xef, 0xbb, 0xbf] : enc === 'utf16le-bom' ? [0xff, 0xfe] : [];
          const buf = Buffer.concat([Buffer.from(bom), body]);
          const c = await collect(buf, sizes);
          const want = finalEol || ls[ls.length - 1] !== '' ? ls : ls.slice(0, -1);
          // A UTF-16 lone surrogate becomes U+FFFD after transcoding; compare on well-formed strings only.
          if (ls.every((l) => Buffer.from(l, 'utf8').toString('utf8') === l)) expect(texts(c)).toEqual(want);
          expect(c.stats.binary).toBe(0);
        },
      ),
      { numRuns: 300 },
    );
  });
});
