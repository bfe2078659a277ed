/**
 * Scanning one log file fast: most bytes are only searched, never parsed.
 *
 * The rules for a log type yield a set of literals such that every line a rule can match contains one of them
 * (case-insensitively). The scanner looks for those literals over whole 1 MB chunks decoded as latin1 (one
 * byte, one character: cheap, and exact for ASCII literals), and only the lines with a hit are decoded as
 * UTF-8, parsed by the log's own columns and given to the rules. Header lines (`#Fields:` after a service
 * restart) are always parsed. When a rule offers no literal, every line is parsed.
 */
import { createLineParser, createRecordParser, type Detected, detectLog } from './parse/index.js';
import type { Finding, LogRecord, LogType, ParseStats } from './types.js';

/** What the scanner needs of a rule, whether it came from Sigma, a pack or an IOC list. */
export interface ScanRule {
  id: string;
  title: string;
  source: string;
  cve: string | null;
  stage: Finding['stage'];
  severity: Finding['severity'];
  match(record: LogRecord): Record<string, string> | undefined;
  /** Every line the rule matches contains one of these (ASCII, case-insensitive); null: no such set. */
  literals: readonly string[] | null;
  author?: string;
}

export interface ScanOptions {
  maxLineBytes: number;
  /** Up to this many malformed/truncated samples per file. */
  maxSamples: number;
}

export const DEFAULT_SCAN_OPTIONS: ScanOptions = { maxLineBytes: 64 * 1024, maxSamples: 5 };

export interface ScanTarget {
  display: string;
  host: string;
  /** UTF-8 content (see parse/decodeToUtf8Chunks); `stats.bytes` counts these decoded bytes. */
  chunks: AsyncIterable<Buffer>;
}

export interface FileScan {
  stats: ParseStats;
  detected?: Detected;
  findings: Finding[];
}

const HEAD_BYTES = 64 * 1024;
/** A prefilter that never hits: a log type without rules is only counted. */
const NEVER = /(?!)/g;
const HEAD_LINES = 30;
const RAW_LIMIT = 2000;

/** Record-level formats (events spanning lines) are parsed in full; they are small. */
const RECORD_LEVEL: ReadonlySet<LogType> = new Set(['windows-event-xml', 'windows-event-csv']);

export async function scanFile(
  target: ScanTarget,
  rulesFor: (type: LogType) => readonly ScanRule[],
  opts: ScanOptions = DEFAULT_SCAN_OPTIONS,
): Promise<FileScan> {
  const stats: ParseStats = {
    file: target.display,
    bytes: 0,
    lines: 0,
    records: 0,
    malformed: 0,
    truncated: 0,
    samples: [],
  };
  const findings: Finding[] = [];
  const iterator = target.chunks[Symbol.asyncIterator]();

  // Gather the head for detection without consuming more than needed.
  let head: Buffer = Buffer.alloc(0);
  let done = false;
  while (!done && head.length < HEAD_BYTES && countNewlines(head) < HEAD_LINES) {
    const next = await iterator.next();
    if (next.done) done = true;
    else head = head.length ? Buffer.concat([head, next.value]) : next.value;
  }
  const headLines = head
    .toString('utf8', 0, Math.min(head.length, HEAD_BYTES))
    .split('\n', HEAD_LINES)
    .map(stripCr);
  const detected = detectLog(headLines);
  if (!detected) {
    // Not a log Bulwark reads: count its bytes and stop (the caller runs file-system checks on it).
    stats.bytes = head.length;
    if (!done)
      for (let n = await iterator.next(); !n.done; n = await iterator.next()) stats.bytes += n.value.length;
    return { stats, findings };
  }
  stats.type = detected.type;
  if (detected.build) stats.build = detected.build;
  const rules = rulesFor(detected.type);
  const rest = async function* () {
    if (head.length) yield head;
    if (done) return;
    for (let n = await iterator.next(); !n.done; n = await iterator.next()) yield n.value;
  };
  const onRecord = (record: LogRecord) => {
    stats.records++;
    if (record.timestamp) {
      if (!stats.first || record.timestamp < stats.first) stats.first = record.timestamp;
      if (!stats.last || record.timestamp > stats.last) stats.last = record.timestamp;
    }
    for (const rule of rules) {
      const matched = rule.match(record);
      if (matched) findings.push(toFinding(rule, record, matched, target.host));
    }
  };
  if (RECORD_LEVEL.has(detected.type)) await scanRecords(rest(), detected, target, stats, opts, onRecord);
  else await scanLines(rest(), detected, target, stats, opts, rules, onRecord);
  return { stats, detected, findings };
}

function toFinding(
  rule: ScanRule,
  record: LogRecord,
  matched: Record<string, string>,
  host: string,
): Finding {
  const client = record.fields.ClientIpAddress || record.fields['c-ip'] || undefined;
  return {
    rule: rule.id,
    title: rule.title,
    source: rule.source,
    cve: rule.cve,
    severity: rule.severity,
    stage: rule.stage,
    host,
    file: record.file,
    line: record.line,
    timestamp: record.timestamp ?? null,
    raw: record.raw.length > RAW_LIMIT ? record.raw.slice(0, RAW_LIMIT) : record.raw,
    matched,
    ...(client && client !== '-' ? { client } : {}),
    ...(rule.author ? { author: rule.author } : {}),
  };
}

/** Builds the prefilter: one case-insensitive alternation of every literal, or null when a rule has none. */
export function prefilterFor(rules: readonly ScanRule[]): RegExp | null {
  const literals = new Set<string>();
  for (const rule of rules) {
    if (!rule.literals) return null;
    for (const l of rule.literals) {
      // The chunk is searched as latin1; a non-ASCII literal would need UTF-8 aware folding.
      if (!l || /[^\x20-\x7e]/.test(l)) return null;
      literals.add(l);
    }
  }
  if (!literals.size) return null;
  const escaped = [...literals].map((l) => l.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'));
  return new RegExp(escaped.join('|'), 'gi');
}

async function scanLines(
  chunks: AsyncIterable<Buffer>,
  detected: Detected,
  target: ScanTarget,
  stats: ParseStats,
  opts: ScanOptions,
  rules: readonly ScanRule[],
  onRecord: (r: LogRecord) => void,
): Promise<void> {
  const parser = createLineParser(detected);
  const prefilter = rules.length ? prefilterFor(rules) : NEVER;
  let lineNo = 0; // lines completed before the current buffer
  let carry: Buffer | undefined;
  let skipping = false; // inside a line longer than the bound: drop bytes up to the next newline
  let lastDataLine: { text: string; no: number } | undefined;
  // Start and end of the last unparsed data line of the current buffer, kept as text when the buffer is done.
  let lastDataPos: [number, number, number] | undefined;
  let firstDataSeen = false;

  const handleLine = (text: string, no: number) => {
    const result = parser.parse(text, no, target.display);
    if (result === 'header') return;
    if (result === 'malformed') {
      stats.malformed++;
      sample(stats, opts, no, 'malformed', text);
      return;
    }
    onRecord(result);
  };

  const processBuffer = (buf: Buffer, final: boolean) => {
    const text = buf.toString('latin1');
    const end = final ? text.length : text.lastIndexOf('\n') + 1; // bytes of complete lines
    if (end === 0 && !final) {
      // No newline in a buffer larger than the bound: cut the line, search its head, skip the rest.
      if (buf.length > opts.maxLineBytes) {
        stats.truncated++;
        lineNo++;
        const cut = buf.toString('utf8', 0, opts.maxLineBytes);
        sample(stats, opts, lineNo, 'line over the length bound', cut);
        // The kept head of an over-long line is always parsed: cheap, and a cut line may still match.
        handleLine(cut, lineNo);
        skipping = true;
        return Buffer.alloc(0);
      }
      return buf;
    }
    let pos = 0;
    if (skipping) {
      const nl = text.indexOf('\n');
      if (nl < 0) return Buffer.alloc(0);
      pos = nl + 1;
      skipping = false;
    }
    // Walk line boundaries once for counts, long lines and binary content; parse only hit lines.
    let nextHit = -1;
    const findHit = (from: number) => {
      if (!prefilter) return from;
      prefilter.lastIndex = from;
      const m = prefilter.exec(text);
      if (!m || m.index >= end) return -1;
      return m.index;
    };
    nextHit = pos < end ? findHit(pos) : -1;
    while (pos < end) {
      let nl = text.indexOf('\n', pos);
      if (nl < 0 || nl >= end) nl = end;
      lineNo++;
      let lineEnd = nl > pos && text.charCodeAt(nl - 1) === 13 ? nl - 1 : nl;
      if (lineEnd - pos > opts.maxLineBytes) {
        stats.truncated++;
        lineEnd = pos + opts.maxLineBytes;
        sample(
          stats,
          opts,
          lineNo,
          'line over the length bound',
          buf.toString('utf8', pos, Math.min(lineEnd, pos + 200)),
        );
      }
      const isHit = !prefilter || (nextHit >= pos && nextHit <= nl) || text.charCodeAt(pos) === 35;
      if (isHit || !firstDataSeen) {
        if (text.indexOf('\0', pos) >= 0 && text.indexOf('\0', pos) < lineEnd) {
          stats.malformed++;
          sample(
            stats,
            opts,
            lineNo,
            'binary content',
            buf.toString('latin1', pos, Math.min(lineEnd, pos + 200)),
          );
        } else if (lineEnd > pos) {
          const line = buf.toString('utf8', pos, lineEnd);
          if (line.charCodeAt(0) !== 35) firstDataSeen = true;
          handleLine(line, lineNo);
        }
        if (prefilter && nextHit >= 0 && nextHit <= nl) nextHit = findHit(nl);
      } else if (lineEnd > pos) {
        lastDataPos = [pos, lineEnd, lineNo];
      }
      pos = nl + 1;
    }
    if (lastDataPos) {
      const [s, e, n] = lastDataPos;
      lastDataLine = { text: buf.toString('utf8', s, e), no: n };
      lastDataPos = undefined;
    }
    return final ? Buffer.alloc(0) : buf.subarray(end);
  };

  for await (const chunk of chunks) {
    stats.bytes += chunk.length;
    const buf = carry?.length ? Buffer.concat([carry, chunk]) : chunk;
    carry = processBuffer(buf, false);
  }
  if (carry?.length) processBuffer(carry, true);
  stats.lines = lineNo;
  // The last line of the file gives the log's coverage even when no rule looked at it.
  if (lastDataLine) {
    const r = parser.parse(lastDataLine.text, lastDataLine.no, target.display);
    if (r !== 'header' && r !== 'malformed' && r.timestamp) {
      if (!stats.last || r.timestamp > stats.last) stats.last = r.timestamp;
      if (!stats.first || r.timestamp < stats.first) stats.first = r.timestamp;
    }
  }
}

async function scanRecords(
  chunks: AsyncIterable<Buffer>,
  detected: Detected,
  target: ScanTarget,
  stats: ParseStats,
  opts: ScanOptions,
  onRecord: (r: LogRecord) => void,
): Promise<void> {
  const parser = createRecordParser(detected, target.display);
  const decoder = new TextDecoder('utf-8');
  let lines = 0;
  // XML exports may be one huge line: the parser finds events in the raw text, with no line bound.
  if (parser.pushText) {
    for await (const chunk of chunks) {
      stats.bytes += chunk.length;
      for (let i = chunk.indexOf(10); i >= 0; i = chunk.indexOf(10, i + 1)) lines++;
      for (const r of parser.pushText(decoder.decode(chunk, { stream: true }))) onRecord(r);
    }
    for (const r of parser.pushText(decoder.decode())) onRecord(r);
  } else {
    let carry = '';
    const feed = (line: string) => {
      lines++;
      if (line.length > opts.maxLineBytes) {
        stats.truncated++;
        sample(stats, opts, lines, 'line over the length bound', line);
        line = line.slice(0, opts.maxLineBytes);
      }
      for (const r of parser.push(stripCr(line), lines)) onRecord(r);
    };
    for await (const chunk of chunks) {
      stats.bytes += chunk.length;
      const parts = (carry + decoder.decode(chunk, { stream: true })).split('\n');
      carry = parts.pop() ?? '';
      for (const line of parts) feed(line);
      // A "line" without an end in sight: cut it rather than hold it.
      if (carry.length > opts.maxLineBytes * 2) {
        feed(carry);
        carry = '';
      }
    }
    carry += decoder.decode();
    if (carry) feed(carry);
  }
  for (const r of parser.end()) onRecord(r);
  stats.lines = lines;
  stats.malformed += parser.malformed;
  stats.truncated += parser.truncated;
  for (const s of parser.samples) if (stats.samples.length < opts.maxSamples) stats.samples.push(s);
}

function sample(stats: ParseStats, opts: ScanOptions, line: number, reason: string, text: string) {
  if (stats.samples.length < opts.maxSamples) stats.samples.push({ line, reason, text: text.slice(0, 200) });
}

function stripCr(s: string): string {
  return s.endsWith('\r') ? s.slice(0, -1) : s;
}

function countNewlines(buf: Buffer): number {
  let n = 0;
  for (let i = buf.indexOf(10); i >= 0 && n < HEAD_LINES; i = buf.indexOf(10, i + 1)) n++;
  return n;
}
