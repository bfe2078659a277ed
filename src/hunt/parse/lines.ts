/**
 * Streaming line reader for log files.
 *
 * Two layers, both usable on their own:
 * - `decodeToUtf8Chunks` turns a byte stream in any of the encodings logs come in (UTF-8 with or without BOM,
 *   UTF-16LE with BOM or recognised by its `#\0`/`<\0` shape, UTF-16BE with BOM) into UTF-8 chunks without a BOM.
 *   UTF-8 input passes through untouched (zero copies), so a fast byte scanner can sit on top of it.
 * - `splitUtf8Lines` cuts UTF-8 chunks into lines (LF or CRLF, final line without newline), bounds every line,
 *   and flags lines with NUL bytes or invalid UTF-8.
 * `readLines` is the two together.
 *
 * Memory stays bounded by `maxLineBytes` (plus one input chunk): a line longer than the bound is cut to its first
 * `maxLineBytes` bytes (at a character boundary) and the rest of it is skipped, never buffered.
 */
import { isUtf8 } from 'node:buffer';
import { TextDecoder } from 'node:util';

export type TextEncoding = 'utf8' | 'utf8-bom' | 'utf16le' | 'utf16le-bom' | 'utf16be-bom';

export interface LineSample {
  line: number;
  reason: string;
  text: string;
}

export interface LineStats {
  encoding: TextEncoding;
  /** Bytes read from the source stream (before any transcoding). */
  bytes: number;
  /** Lines seen, including empty and binary ones. */
  lines: number;
  /** Lines longer than the bound, cut to it. */
  truncated: number;
  /** Lines that look binary: NUL bytes (not passed on) or invalid UTF-8 (passed on, decoded as latin1). */
  binary: number;
  /** The subset of `binary` that was invalid UTF-8 without NUL bytes. */
  invalidUtf8: number;
  /** Up to `MAX_SAMPLES` truncated or binary lines. */
  samples: LineSample[];
}

/** Why a line passed to `onLine` is suspicious; absent for clean lines. */
export type LineFlag = 'invalid-utf8';

export type OnLine = (text: string, lineNo: number, flag?: LineFlag) => void;

export interface LineOptions {
  /** Longest line kept, in UTF-8 bytes; longer lines are cut. Default 65536. */
  maxLineBytes?: number;
}

export const DEFAULT_MAX_LINE_BYTES = 65_536;
export const MAX_SAMPLES = 5;
export const SAMPLE_CHARS = 200;

/** Encoding of a file from its first bytes (give at least 4 when the file has them). */
export function detectEncoding(head: Uint8Array): { encoding: TextEncoding; bomLength: number } {
  const b0 = head[0];
  const b1 = head[1];
  if (b0 === 0xef && b1 === 0xbb && head[2] === 0xbf) return { encoding: 'utf8-bom', bomLength: 3 };
  if (b0 === 0xff && b1 === 0xfe) return { encoding: 'utf16le-bom', bomLength: 2 };
  if (b0 === 0xfe && b1 === 0xff) return { encoding: 'utf16be-bom', bomLength: 2 };
  // UTF-16LE without BOM: ASCII text such as `#Software`, `<Event`, `"DateTime"` or `Level,` has a zero high byte.
  if (
    head.length >= 4 &&
    b0 !== 0 &&
    b0 !== undefined &&
    b0 < 0x80 &&
    b1 === 0 &&
    head[2] !== 0 &&
    head[3] === 0
  ) {
    const c = String.fromCharCode(b0);
    if (c === '#' || c === '<' || c === '"' || /[A-Za-z0-9]/.test(c))
      return { encoding: 'utf16le', bomLength: 0 };
  }
  return { encoding: 'utf8', bomLength: 0 };
}

export interface DecodeInfo {
  encoding?: TextEncoding;
  /** Source bytes consumed so far. */
  bytes: number;
}

/**
 * UTF-8 chunks (no BOM) from a byte stream in UTF-8 / UTF-16LE / UTF-16BE. Fills `info.encoding` once known and
 * keeps `info.bytes` up to date. UTF-8 chunks are yielded as they came (same Buffer objects, BOM sliced off).
 */
export async function* decodeToUtf8Chunks(
  stream: AsyncIterable<Uint8Array>,
  info: DecodeInfo = { bytes: 0 },
): AsyncGenerator<Buffer> {
  let head: Buffer | undefined;
  let mode: 'utf8' | 'le' | 'be' | undefined;
  let decoder: TextDecoder | undefined;
  let odd: number | undefined; // UTF-16BE: byte carried to the next chunk

  const swapPairs = (data: Buffer): Buffer => {
    let src = data;
    if (odd !== undefined) {
      src = Buffer.concat([Buffer.of(odd), data]);
      odd = undefined;
    }
    const even = src.length - (src.length % 2);
    if (even !== src.length) odd = src[src.length - 1];
    const out = Buffer.allocUnsafe(even);
    for (let i = 0; i < even; i += 2) {
      out[i] = src[i + 1]!;
      out[i + 1] = src[i]!;
    }
    return out;
  };

  const transcode = (chunk: Buffer, final: boolean): Buffer => {
    let data = mode === 'be' ? swapPairs(chunk) : chunk;
    if (final && odd !== undefined) {
      data = Buffer.concat([data, Buffer.of(odd)]);
      odd = undefined;
    }
    return Buffer.from(decoder!.decode(data, { stream: !final }), 'utf8');
  };

  const start = (first: Buffer): Buffer => {
    const { encoding, bomLength } = detectEncoding(first);
    info.encoding = encoding;
    if (encoding === 'utf8' || encoding === 'utf8-bom') mode = 'utf8';
    else {
      mode = encoding === 'utf16be-bom' ? 'be' : 'le';
      decoder = new TextDecoder('utf-16le', { fatal: false, ignoreBOM: true });
    }
    return bomLength ? first.subarray(bomLength) : first;
  };

  for await (const raw of stream) {
    let chunk = Buffer.isBuffer(raw) ? raw : Buffer.from(raw.buffer, raw.byteOffset, raw.byteLength);
    info.bytes += chunk.length;
    if (mode === undefined) {
      head = head ? Buffer.concat([head, chunk]) : chunk;
      if (head.length < 4) continue;
      chunk = start(head);
      head = undefined;
    }
    if (chunk.length === 0) continue;
    if (mode === 'utf8') yield chunk;
    else {
      const out = transcode(chunk, false);
      if (out.length) yield out;
    }
  }
  if (mode === undefined) {
    // Stream shorter than 4 bytes.
    const rest = start(head ?? Buffer.alloc(0));
    if (mode === 'utf8') {
      if (rest.length) yield rest;
      return;
    }
    const out = transcode(rest, true);
    if (out.length) yield out;
    return;
  }
  if (mode !== 'utf8') {
    const out = transcode(Buffer.alloc(0), true);
    if (out.length) yield out;
  }
}

/** Printable form of a sample line: control characters shown as `.`, cut to SAMPLE_CHARS. */
export function sampleText(text: string): string {
  const cut = text.length > SAMPLE_CHARS ? text.slice(0, SAMPLE_CHARS) : text;
  // biome-ignore lint/suspicious/noControlCharactersInRegex: replacing control characters is the point
  return cut.replace(/[\u0000-\u0008\u000b-\u001f\u007f]/g, '.');
}

/** Largest cut position <= `end` that does not split a UTF-8 character (`buf[end]` must exist). */
function charBoundary(buf: Buffer, start: number, end: number): number {
  let i = end;
  for (let k = 0; k < 3 && i > start && (buf[i]! & 0xc0) === 0x80; k++) i--;
  if (i > start && (buf[i]! & 0xc0) === 0x80) return end; // not UTF-8 anyway: cut where asked
  return i;
}

/**
 * Split UTF-8 chunks into lines (LF or CRLF; a final line without newline counts). Lines longer than the bound are
 * cut to it. Lines with NUL bytes are counted as binary and not passed on; invalid UTF-8 lines are counted as binary
 * and passed on decoded as latin1 with flag `invalid-utf8` (one bad byte must not hide a request from the hunt).
 * `bytes` in the result counts the UTF-8 bytes split.
 */
export async function splitUtf8Lines(
  chunks: AsyncIterable<Buffer>,
  onLine: OnLine,
  opts: LineOptions = {},
): Promise<Omit<LineStats, 'encoding'>> {
  const max = Math.max(1, Math.floor(opts.maxLineBytes ?? DEFAULT_MAX_LINE_BYTES));
  const stats: Omit<LineStats, 'encoding'> = {
    bytes: 0,
    lines: 0,
    truncated: 0,
    binary: 0,
    invalidUtf8: 0,
    samples: [],
  };
  // A line that spans chunks is carried here: at most max + 1 bytes are kept (one more than the bound, so a cut
  // never needs bytes that were dropped); `total` counts every byte of the line.
  const carry = Buffer.allocUnsafe(max + 1);
  let carryLen = 0;
  let total = 0;
  let lastByte = -1;
  let pending = false;

  const sample = (lineNo: number, reason: string, text: string) => {
    if (stats.samples.length < MAX_SAMPLES)
      stats.samples.push({ line: lineNo, reason, text: sampleText(text) });
  };

  /** Emit buf[start, end) as one line (CR already removed). `checked`: known to be NUL-free valid UTF-8. */
  const emit = (buf: Buffer, start: number, end: number, cut: boolean, checked: boolean) => {
    const lineNo = ++stats.lines;
    if (cut) stats.truncated++;
    if (!checked) {
      const slice = buf.subarray(start, end);
      if (slice.indexOf(0) !== -1) {
        stats.binary++;
        sample(
          lineNo,
          cut ? 'binary (NUL bytes), cut to the line bound' : 'binary (NUL bytes)',
          slice.toString('latin1'),
        );
        return;
      }
      if (!isUtf8(slice)) {
        stats.binary++;
        stats.invalidUtf8++;
        const text = slice.toString('latin1');
        sample(lineNo, cut ? 'invalid UTF-8, cut to the line bound' : 'invalid UTF-8', text);
        onLine(text, lineNo, 'invalid-utf8');
        return;
      }
    }
    const text = buf.toString('utf8', start, end);
    if (cut) sample(lineNo, `line longer than ${max} bytes, cut`, text);
    onLine(text, lineNo);
  };

  const append = (chunk: Buffer, from: number, to: number) => {
    if (to <= from) return;
    pending = true;
    total += to - from;
    lastByte = chunk[to - 1]!;
    const take = Math.min(carry.length - carryLen, to - from);
    if (take > 0) {
      chunk.copy(carry, carryLen, from, from + take);
      carryLen += take;
    }
  };

  const flushCarry = () => {
    const contentLen = lastByte === 13 ? total - 1 : total;
    if (contentLen > max) emit(carry, 0, charBoundary(carry, 0, max), true, false);
    else emit(carry, 0, contentLen, false, false);
    carryLen = 0;
    total = 0;
    lastByte = -1;
    pending = false;
  };

  for await (const chunk of chunks) {
    const len = chunk.length;
    stats.bytes += len;
    // One native check over all lines lying wholly inside this chunk (between its first and last LF).
    const firstNl = chunk.indexOf(10);
    let regionStart = len;
    let regionClean = false;
    if (firstNl !== -1) {
      const lastNl = chunk.lastIndexOf(10);
      regionStart = firstNl + 1;
      const region = chunk.subarray(regionStart, lastNl);
      regionClean = region.indexOf(0) === -1 && isUtf8(region);
    }
    let pos = 0;
    while (pos < len) {
      const nl = pos === 0 ? firstNl : chunk.indexOf(10, pos);
      if (nl === -1) {
        append(chunk, pos, len);
        break;
      }
      if (pending) {
        append(chunk, pos, nl);
        flushCarry();
      } else {
        const contentEnd = nl > pos && chunk[nl - 1] === 13 ? nl - 1 : nl;
        if (contentEnd - pos > max) emit(chunk, pos, charBoundary(chunk, pos, pos + max), true, false);
        else emit(chunk, pos, contentEnd, false, regionClean && pos >= regionStart);
      }
      pos = nl + 1;
    }
  }
  if (pending) flushCarry();
  return stats;
}

/**
 * Read a log stream line by line: encoding from the BOM (or UTF-16LE shape), CRLF/LF, bounded lines, binary lines
 * counted and sampled. Never holds more than one chunk plus one line.
 */
export async function readLines(
  stream: AsyncIterable<Uint8Array>,
  onLine: OnLine,
  opts: LineOptions = {},
): Promise<LineStats> {
  const info: DecodeInfo = { bytes: 0 };
  const split = await splitUtf8Lines(decodeToUtf8Chunks(stream, info), onLine, opts);
  return { ...split, encoding: info.encoding ?? 'utf8', bytes: info.bytes };
}
