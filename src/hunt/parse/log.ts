/**
 * Whole-file convenience: read a log stream, recognise it from its first lines, parse every line or record, and
 * report ParseStats. Use it where every record is wanted (tests, small files, record-level formats); a fast scanner
 * that parses only candidate lines uses the pieces (lines.ts, detect.ts, parsers.ts) directly.
 */
import type { LogRecord, ParseStats } from '../types.js';
import { DETECT_LINES, type Detected, detectLog } from './detect.js';
import { type LineOptions, MAX_SAMPLES, readLines, type TextEncoding } from './lines.js';
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

export async function parseLog(
  stream: AsyncIterable<Uint8Array>,
  file: string,
  onRecord: (record: LogRecord) => void,
  opts: LineOptions & RecordParserOptions = {},
): Promise<ParseLogResult> {
  const stats: ParseStats = { file, bytes: 0, lines: 0, records: 0, malformed: 0, truncated: 0, samples: [] };
  const head: { text: string; no: number }[] = [];
  let parser: RecordParser | undefined;
  let undetected = false;

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
  const feed = (text: string, no: number) => {
    for (const r of parser!.push(text, no)) take(r);
  };
  const start = () => {
    const detected = detectLog(head.map((h) => h.text));
    if (!detected) {
      undetected = true;
      return;
    }
    stats.type = detected.type;
    if (detected.build) stats.build = detected.build;
    parser = createRecordParser(detected, file, opts);
    for (const h of head) feed(h.text, h.no);
  };

  const lineStats = await readLines(
    stream,
    (text, no) => {
      if (parser) feed(text, no);
      else if (!undetected) {
        head.push({ text, no });
        if (head.length >= DETECT_LINES) start();
      }
    },
    opts,
  );
  if (!parser && !undetected) start();
  if (parser) for (const r of parser.end()) take(r);

  stats.bytes = lineStats.bytes;
  stats.lines = lineStats.lines;
  stats.truncated = lineStats.truncated + (parser?.truncated ?? 0);
  // Binary lines with NUL bytes never reach the parser; invalid UTF-8 lines do and are judged there.
  stats.malformed = (parser?.malformed ?? 0) + (lineStats.binary - lineStats.invalidUtf8);
  const samples = [...lineStats.samples, ...(parser?.samples ?? [])].sort((a, b) => a.line - b.line);
  stats.samples = samples.slice(0, MAX_SAMPLES);
  return {
    stats,
    ...(parser ? { detected: parser.detected } : {}),
    encoding: lineStats.encoding,
    recovered: parser?.recovered ?? 0,
  };
}
