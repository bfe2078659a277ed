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
  /** Every line the rule matches contains one of these (lower-case ASCII, compared case-insensitively); null: no such set. */
  literals: readonly string[] | null;
  /** More such sets, all of which a matching line satisfies (checked on hit lines only, to skip parsing). */
  clauses: readonly (readonly string[])[];
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
  const onRecord = (record: LogRecord, candidates: readonly ScanRule[] = rules) => {
    stats.records++;
    if (record.timestamp) {
      if (!stats.first || record.timestamp < stats.first) stats.first = record.timestamp;
      if (!stats.last || record.timestamp > stats.last) stats.last = record.timestamp;
    }
    for (const rule of candidates) {
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

/** Compiled prefilters per rule list: building and JIT-compiling the regular expression per file costs milliseconds. */
const prefilters = new WeakMap<readonly ScanRule[], RegExp | null>();

function cachedPrefilter(rules: readonly ScanRule[]): RegExp | null {
  if (!rules.length) return NEVER;
  if (!prefilters.has(rules)) prefilters.set(rules, prefilterFor(rules));
  return prefilters.get(rules)!;
}

/** Builds the prefilter: one case-insensitive alternation of every literal, or null when a rule has none. */
export function prefilterFor(rules: readonly ScanRule[]): RegExp | null {
  const literals = new Set<string>();
  for (const rule of rules) {
    if (!rule.literals) return null; // a rule that can match any line: every line must be parsed
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

/** Rules whose every prefilter clause has a literal in the (lower-cased) line: only these can match it. */
function candidatesFor(rules: readonly ScanRule[], lower: string): ScanRule[] {
  const out: ScanRule[] = [];
  for (const rule of rules) {
    if (rule.literals && !rule.literals.some((l) => lower.includes(l))) continue;
    if (rule.clauses.every((clause) => clause.some((l) => lower.includes(l)))) out.push(rule);
  }
  return out;
}

async function scanLines(
  chunks: AsyncIterable<Buffer>,
  detected: Detected,
  target: ScanTarget,
  stats: ParseStats,
  opts: ScanOptions,
  rules: readonly ScanRule[],
  onRecord: (r: LogRecord, candidates: readonly ScanRule[]) => void,
): Promise<void> {
  const parser = createLineParser(detected);
  const prefilter = cachedPrefilter(rules);
  let lineNo = 0;
  let carry: Buffer | undefined;
  let skipping = false; // inside a line longer than the bound: drop bytes up to the next newline
  let firstDataSeen = false;
  // The last data line not parsed yet: parsed at the end for the log's coverage (its last timestamp).
  let lastData: { text: string; no: number } | undefined;

  const handleLine = (line: string, no: number, candidates: readonly ScanRule[]) => {
    const result = parser.parse(line, no, target.display);
    if (result === 'header') return;
    if (result === 'malformed') {
      stats.malformed++;
      sample(stats, opts, no, 'malformed', line);
      return;
    }
    onRecord(result, candidates);
  };

  const processBuffer = (buf: Buffer, final: boolean): Buffer => {
    const text = buf.toString('latin1');
    const end = final ? text.length : text.lastIndexOf('\n') + 1; // complete lines only
    if (end === 0 && !final) {
      if (buf.length <= opts.maxLineBytes) return buf;
      // No newline within the bound: keep the head of the line, drop the rest up to the next newline.
      stats.truncated++;
      lineNo++;
      const cut = buf.toString('utf8', 0, opts.maxLineBytes);
      sample(stats, opts, lineNo, 'line over the length bound', cut);
      handleLine(cut, lineNo, candidatesFor(rules, cut.toLowerCase()));
      skipping = true;
      return Buffer.alloc(0);
    }
    let pos = 0;
    if (skipping) {
      pos = text.indexOf('\n') + 1;
      skipping = false;
    }
    const findHit = (from: number): number => {
      if (!prefilter) return from;
      prefilter.lastIndex = from;
      const m = prefilter.exec(text);
      return m && m.index < end ? m.index : -1;
    };
    let nextHit = pos < end ? findHit(pos) : -1;
    let nextNul = text.indexOf('\0', pos);
    let lastUnparsed = -1;
    let lastUnparsedEnd = -1;
    let lastUnparsedNo = 0;
    while (pos < end) {
      let nl = text.indexOf('\n', pos);
      if (nl < 0 || nl >= end) nl = end;
      lineNo++;
      let lineEnd = nl > pos && text.charCodeAt(nl - 1) === 13 ? nl - 1 : nl;
      if (lineEnd - pos > opts.maxLineBytes) {
        stats.truncated++;
        lineEnd = pos + opts.maxLineBytes;
        sample(stats, opts, lineNo, 'line over the length bound', buf.toString('utf8', pos, pos + 200));
      }
      const header = text.charCodeAt(pos) === 35; // '#'
      const hit = nextHit >= 0 && nextHit <= nl;
      if (hit || header || !firstDataSeen) {
        if (nextNul >= 0 && nextNul < pos) nextNul = text.indexOf('\0', pos);
        if (nextNul >= pos && nextNul < lineEnd) {
          stats.malformed++;
          sample(
            stats,
            opts,
            lineNo,
            'binary content',
            buf.toString('latin1', pos, Math.min(lineEnd, pos + 200)),
          );
        } else if (lineEnd > pos) {
          const candidates = hit ? candidatesFor(rules, text.slice(pos, lineEnd).toLowerCase()) : [];
          if (candidates.length || header || !firstDataSeen) {
            if (!header) firstDataSeen = true;
            handleLine(buf.toString('utf8', pos, lineEnd), lineNo, candidates);
          }
        }
        if (hit) nextHit = findHit(nl);
      } else if (lineEnd > pos) {
        lastUnparsed = pos;
        lastUnparsedEnd = lineEnd;
        lastUnparsedNo = lineNo;
      }
      pos = nl + 1;
    }
    if (lastUnparsed >= 0)
      lastData = { text: buf.toString('utf8', lastUnparsed, lastUnparsedEnd), no: lastUnparsedNo };
    return final ? Buffer.alloc(0) : buf.subarray(end);
  };

  for await (const chunk of chunks) {
    stats.bytes += chunk.length;
    carry = processBuffer(carry?.length ? Buffer.concat([carry, chunk]) : chunk, false);
  }
  if (carry?.length) processBuffer(carry, true);
  stats.lines = lineNo;
  if (lastData) {
    const r = parser.parse(lastData.text, lastData.no, target.display);
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
