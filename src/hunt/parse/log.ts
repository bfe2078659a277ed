/**
 * Whole-file convenience: read a log stream, recognise it from its first lines, parse every line or record, and
 * report ParseStats. Use it where every record is wanted (tests, small files, record-level formats); a fast scanner
 * that parses only candidate lines uses the pieces (lines.ts, detect.ts, parsers.ts) directly.
 */
import { TextDecoder } from 'node:util';
import type { LogRecord, ParseStats } from '../types.js';
import { DETECT_LINES, type Detected, detectLog } from './detect.js';
import {
  type DecodeInfo,
  decodeToUtf8Chunks,
  type LineOptions,
  MAX_SAMPLES,
  splitUtf8Lines,
  type TextEncoding,
} from './lines.js';
import {
  createRecordParser,
  type RecordParser,
  type RecordParserOptions,
  recordBuild,
  recordHost,
} from './parsers.js';

export interface ParseLogResult {
  stats: ParseStats;
  detected?: Detected;
  encoding: TextEncoding;
  /** Lines passed through a documented recovery (see parsers.ts). */
  recovered: number;
}

/** Bytes of the file's start that detection looks at (at most DETECT_LINES lines of them). */
export const HEAD_BYTES = 64 * 1024;

/** The first lines of UTF-8 chunks for detectLog, and the chunks read to get them (to be replayed). */
export async function readHead(
  iterator: AsyncIterator<Buffer>,
): Promise<{ lines: string[]; chunks: Buffer[]; done: boolean }> {
  const chunks: Buffer[] = [];
  let size = 0;
  let newlines = 0;
  let done = false;
  while (size < HEAD_BYTES && newlines < DETECT_LINES) {
    const next = await iterator.next();
    if (next.done) {
      done = true;
      break;
    }
    chunks.push(next.value);
    size += next.value.length;
    for (
      let i = next.value.indexOf(10);
      i !== -1 && newlines < DETECT_LINES;
      i = next.value.indexOf(10, i + 1)
    )
      newlines++;
  }
  const head = chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks);
  const lines = head
    .toString('utf8', 0, Math.min(head.length, HEAD_BYTES))
    .split('\n', DETECT_LINES)
    .map((l) => (l.endsWith('\r') ? l.slice(0, -1) : l));
  return { lines, chunks, done };
}

export async function parseLog(
  stream: AsyncIterable<Uint8Array>,
  file: string,
  onRecord: (record: LogRecord) => void,
  opts: LineOptions & RecordParserOptions = {},
): Promise<ParseLogResult> {
  const stats: ParseStats = { file, bytes: 0, lines: 0, records: 0, malformed: 0, truncated: 0, samples: [] };
  const info: DecodeInfo = { bytes: 0 };
  const iterator = decodeToUtf8Chunks(stream, info)[Symbol.asyncIterator]();
  const head = await readHead(iterator);
  const detected = detectLog(head.lines);
  const replay = async function* () {
    yield* head.chunks;
    if (head.done) return;
    for (let n = await iterator.next(); !n.done; n = await iterator.next()) yield n.value;
  };

  const take = (rec: LogRecord) => {
    stats.records++;
    if (rec.timestamp) {
      if (!stats.first || rec.timestamp < stats.first) stats.first = rec.timestamp;
      if (!stats.last || rec.timestamp > stats.last) stats.last = rec.timestamp;
    }
    if (!stats.host) {
      const h = recordHost(rec);
      if (h) stats.host = h;
    }
    if (!stats.build) {
      const b = recordBuild(rec);
      if (b) stats.build = b;
    }
    onRecord(rec);
  };

  let parser: RecordParser | undefined;
  if (detected) {
    stats.type = detected.type;
    if (detected.build) stats.build = detected.build;
    parser = createRecordParser(detected, file, opts);
  }

  let binaryDropped = 0;
  let lineSamples: ParseStats['samples'] = [];
  if (parser?.pushText) {
    // Records found in the text stream: no line bound, lines counted from newlines.
    const decoder = new TextDecoder('utf-8');
    let last = -1;
    for await (const chunk of replay()) {
      let nl = 0;
      for (let i = chunk.indexOf(10); i !== -1; i = chunk.indexOf(10, i + 1)) nl++;
      stats.lines += nl;
      if (chunk.length) last = chunk[chunk.length - 1]!;
      for (const r of parser.pushText(decoder.decode(chunk, { stream: true }))) take(r);
    }
    const tail = decoder.decode();
    if (tail) for (const r of parser.pushText(tail)) take(r);
    if (last !== -1 && last !== 10) stats.lines++;
  } else {
    const p = parser;
    const split = await splitUtf8Lines(
      replay(),
      p
        ? (text, no) => {
            for (const r of p.push(text, no)) take(r);
          }
        : () => {},
      opts,
    );
    stats.lines = split.lines;
    stats.truncated = split.truncated;
    // Lines with NUL bytes never reach the parser; invalid UTF-8 lines do and are judged there.
    binaryDropped = split.binary - split.invalidUtf8;
    lineSamples = split.samples;
  }
  if (parser) for (const r of parser.end()) take(r);

  stats.bytes = info.bytes;
  stats.truncated += parser?.truncated ?? 0;
  stats.malformed = (parser?.malformed ?? 0) + (parser ? binaryDropped : 0);
  const samples = [...lineSamples, ...(parser?.samples ?? [])].sort((a, b) => a.line - b.line);
  stats.samples = parser ? samples.slice(0, MAX_SAMPLES) : [];
  return {
    stats,
    ...(detected ? { detected } : {}),
    encoding: info.encoding ?? 'utf8',
    recovered: parser?.recovered ?? 0,
  };
}
