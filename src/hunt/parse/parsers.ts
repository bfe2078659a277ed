/**
 * Parsing log lines and records into LogRecords.
 *
 * Line formats (Exchange CSV logs, reduced excerpts, IIS W3C) parse ONE line with only the header state (columns
 * from `#Fields:` / a bare header line): a fast scanner may hand over candidate lines only, as long as it also
 * hands over every line that starts with `#` (new `#Fields:` after a service restart).
 *
 * Multi-line formats (wevtutil XML, Event Viewer CSV) use `createRecordParser`, which also wraps the line formats,
 * so a caller can use it for everything.
 *
 * Recoveries (each counted in `recovered` / `shortRows`):
 * - IIS line with more space-separated tokens than fields (raw spaces in a value): the surplus is merged into
 *   `cs(User-Agent)` — fields before it are taken from the left, fields after it from the right. Without a
 *   `cs(User-Agent)` field the line is malformed.
 * - Headerless HttpProxy row with fewer values than the 74 known columns (older builds write a prefix): mapped onto
 *   the first N names (N ≥ 20, through HttpStatus); absent columns are absent from `fields`.
 * - Reduced HttpProxy excerpt row with exactly one value more than its header: the last value that looks like an IP
 *   address is taken out and becomes `ClientIpAddress`.
 * - ECP / OAB generator row with more values than columns: the surplus belongs to the last column (EventData /
 *   Message) and is joined back with commas.
 *
 * Values: CSV values unquoted (RFC 4180); W3C `-` becomes '' and `+` stays as written. ECP EventData is kept whole,
 * and each `S:KEY=value` item is also exposed as field `EventData.KEY` (items quoted `'…'` with `''` inside are
 * unquoted). Timestamps become ISO-8601 UTC in `record.timestamp`; the timestamp column keeps the text as written.
 */
import { XMLParser } from 'fast-xml-parser';
import { logTypeOf } from '../logtypes/registry.js';
import type { LogRecord, LogType } from '../types.js';
import { type Detected, directive, fieldsOf } from './detect.js';
import { EVENT_FIELDS, HTTPPROXY_MIN_POSITIONAL, httpProxyName, TIMESTAMP_COLUMNS } from './fields.js';
import { type LineSample, MAX_SAMPLES, sampleText } from './lines.js';
import {
  countQuotes,
  localDateToIso,
  looksLikeIp,
  normaliseBuild,
  splitCsv,
  splitSpaces,
  toIsoUtc,
  w3cTimestamp,
} from './text.js';

export type LineResult = LogRecord | 'header' | 'malformed';

export interface LineParser {
  readonly detected: Detected;
  /** Current columns (changed by a mid-file `#Fields:` or bare header line). */
  readonly columns: readonly string[];
  /** Server build from the latest `#Version:` line, if any. */
  readonly build: string | undefined;
  /** Why the last 'malformed' result was malformed. */
  readonly lastReason: string;
  /** Lines parsed through a documented recovery (surplus tokens merged, extra IP value, surplus joined). */
  readonly recovered: number;
  /** Headerless HttpProxy rows shorter than the known column list, mapped by position. */
  readonly shortRows: number;
  /**
   * One line (without its newline) → a record, 'header' (a `#` line, a bare column header, a blank line, or a line
   * within the detected header) or 'malformed' (reason in `lastReason`). Never throws.
   */
  parse(line: string, lineNo: number, file: string): LineResult;
}

/** Last column of these types takes surplus values (free text that was not quoted). */
const LAST_ABSORBS: ReadonlySet<LogType> = new Set([
  'exchange-ecp-server',
  'exchange-ecp-activity',
  'exchange-oabgen',
]);

const ECP_TYPES: ReadonlySet<LogType> = new Set(['exchange-ecp-server', 'exchange-ecp-activity']);

function timestampIndex(columns: readonly string[]): number {
  for (const name of TIMESTAMP_COLUMNS) {
    const i = columns.findIndex((c) => c.toLowerCase() === name);
    if (i !== -1) return i;
  }
  return -1;
}

function isDigitCode(c: number): boolean {
  return c >= 48 && c <= 57;
}

/**
 * `S:KEY=value` items of an ECP EventData text (`;`-separated; an item may be quoted `'…'` with `''` inside).
 * `undoubleQuotes`: also turn `""` into `"` (reduced excerpts kept the CSV escaping without the outer quotes).
 */
export function eventDataItems(text: string, undoubleQuotes = false): [string, string][] {
  const out: [string, string][] = [];
  const n = text.length;
  let i = 0;
  while (i < n) {
    let item: string;
    if (text.charCodeAt(i) === 39) {
      let value = '';
      let from = i + 1;
      for (;;) {
        const q = text.indexOf("'", from);
        if (q === -1) {
          value += text.slice(from);
          i = n;
          break;
        }
        if (text.charCodeAt(q + 1) === 39) {
          value += `${text.slice(from, q)}'`;
          from = q + 2;
          continue;
        }
        value += text.slice(from, q);
        const semi = text.indexOf(';', q + 1);
        i = semi === -1 ? n : semi + 1;
        break;
      }
      item = value;
    } else {
      const semi = text.indexOf(';', i);
      const end = semi === -1 ? n : semi;
      item = text.slice(i, end);
      i = end + 1;
    }
    if (item.length > 2 && item.charCodeAt(0) === 83 && item.charCodeAt(1) === 58) {
      const eq = item.indexOf('=');
      if (eq > 2) {
        const value = item.slice(eq + 1);
        out.push([item.slice(2, eq), undoubleQuotes ? value.replaceAll('""', '"') : value]);
      }
    }
  }
  return out;
}

class LineParserImpl implements LineParser {
  readonly detected: Detected;
  columns: string[];
  sourceColumns: string[] | undefined;
  build: string | undefined;
  lastReason = '';
  recovered = 0;
  shortRows = 0;
  private format: Detected['format'];
  private tsIdx = -1;
  private dateIdx = -1;
  private timeIdx = -1;
  private uaIdx = -1;
  private readonly isHttpProxy: boolean;
  private readonly isEcp: boolean;
  private readonly lastAbsorbs: boolean;

  constructor(detected: Detected) {
    this.detected = detected;
    this.format = detected.format;
    this.build = detected.build;
    this.isHttpProxy = detected.type === 'exchange-httpproxy';
    this.isEcp = ECP_TYPES.has(detected.type);
    this.lastAbsorbs = LAST_ABSORBS.has(detected.type);
    this.columns = [];
    this.setColumns(detected.columns, detected.sourceColumns);
  }

  private setColumns(columns: readonly string[], source?: readonly string[]) {
    this.columns = [...columns];
    this.sourceColumns = source ? [...source] : undefined;
    this.tsIdx = timestampIndex(this.columns);
    const lower = this.columns.map((c) => c.toLowerCase());
    this.dateIdx = lower.indexOf('date');
    this.timeIdx = lower.indexOf('time');
    this.uaIdx = lower.indexOf('cs(user-agent)');
  }

  private malformed(reason: string): 'malformed' {
    this.lastReason = reason;
    return 'malformed';
  }

  private directive(line: string): 'header' {
    const kv = directive(line);
    if (!kv) return 'header';
    const [key, value] = kv;
    if (key === 'fields') {
      const format = this.format === 'w3c' ? 'w3c' : 'csv';
      const cols = fieldsOf(value, format);
      if (cols.length > 1 || (cols.length === 1 && cols[0])) {
        if (this.format === 'ecp-reduced') this.format = 'csv';
        this.setColumns(cols);
      }
    } else if (key === 'version') {
      const b = normaliseBuild(value);
      if (b && !b.endsWith('.0.0')) this.build = b;
    }
    return 'header';
  }

  parse(line: string, lineNo: number, file: string): LineResult {
    try {
      return this.parseUnsafe(line, lineNo, file);
    } catch (err) {
      // Defensive: a parser bug must cost one line, not the file.
      return this.malformed(`parser error: ${(err as Error).message}`);
    }
  }

  private parseUnsafe(line: string, lineNo: number, file: string): LineResult {
    if (line.length === 0) return 'header';
    const c0 = line.charCodeAt(0);
    if (c0 === 35) return this.directive(line);
    if (lineNo <= this.detected.headerLines) return 'header';
    if (c0 === 32 || c0 === 9) {
      if (line.trim().length === 0) return 'header';
    }
    switch (this.format) {
      case 'csv':
        return this.parseCsv(line, lineNo, file);
      case 'w3c':
        return this.parseW3c(line, lineNo, file);
      case 'ecp-reduced':
        return this.parseEcpReduced(line, lineNo, file);
      default:
        return this.malformed(`${this.format} records span lines: use createRecordParser`);
    }
  }

  /** A bare header line (the column names again, or new ones) mid-file. */
  private headerLine(values: string[]): boolean {
    const cols = this.columns;
    const src = this.sourceColumns;
    const v0 = values[0]!.trim().toLowerCase();
    const v1 = values[1]?.trim().toLowerCase();
    const matches = (names: readonly string[] | undefined) =>
      names !== undefined &&
      names[0]?.toLowerCase() === v0 &&
      (v1 === undefined || names[1]?.toLowerCase() === v1);
    if (!matches(cols) && !matches(src)) return false;
    if (values.length !== cols.length) {
      // A new column set: keep the real names (aliases for HttpProxy excerpts).
      const names = values.map((v) => v.trim());
      if (this.isHttpProxy)
        this.setColumns(
          names.map((n) => httpProxyName(n)?.name ?? n),
          names,
        );
      else this.setColumns(names);
    }
    return true;
  }

  private record(
    fields: Record<string, string>,
    lineNo: number,
    file: string,
    raw: string,
    tsText: string | undefined,
  ): LogRecord {
    const rec: LogRecord = { type: this.detected.type, file, line: lineNo, fields, raw };
    if (tsText) {
      const ts = toIsoUtc(tsText);
      if (ts) rec.timestamp = ts;
    }
    return rec;
  }

  private parseCsv(line: string, lineNo: number, file: string): LineResult {
    let values = splitCsv(line);
    if (!values) return this.malformed('unterminated quoted value');
    const cols = this.columns;
    const n = cols.length;
    let extraIp: string | undefined;
    if (values.length !== n) {
      if (!isDigitCode(line.charCodeAt(0)) && this.headerLine(values)) return 'header';
      if (values.length < n && this.detected.headerless && this.isHttpProxy) {
        if (values.length < HTTPPROXY_MIN_POSITIONAL) {
          return this.malformed(`expected ${HTTPPROXY_MIN_POSITIONAL} to ${n} values, got ${values.length}`);
        }
        this.shortRows++;
      } else if (values.length === n + 1 && this.detected.reduced && this.isHttpProxy) {
        let ip = -1;
        for (let i = values.length - 1; i > 0; i--) {
          if (looksLikeIp(values[i]!)) {
            ip = i;
            break;
          }
        }
        if (ip === -1)
          return this.malformed(`expected ${n} values, got ${values.length} (no client IP among them)`);
        extraIp = values[ip]!;
        values = values.slice(0, ip).concat(values.slice(ip + 1));
        this.recovered++;
      } else if (values.length > n && this.lastAbsorbs && n > 0) {
        values = values.slice(0, n - 1).concat(values.slice(n - 1).join(','));
        this.recovered++;
      } else {
        return this.malformed(`expected ${n} values, got ${values.length}`);
      }
    } else if (n > 1 && !isDigitCode(line.charCodeAt(0)) && this.headerLine(values)) {
      return 'header';
    }
    // Positional modes must look like data: the timestamp has to parse.
    const tsText = this.tsIdx >= 0 ? values[this.tsIdx] : undefined;
    if ((this.detected.headerless || this.detected.reduced) && (!tsText || !toIsoUtc(tsText))) {
      return this.malformed('no timestamp where the columns put one');
    }
    const fields: Record<string, string> = {};
    const m = Math.min(values.length, n);
    for (let i = 0; i < m; i++) {
      const name = cols[i]!;
      if (name !== '__proto__') fields[name] = values[i]!;
    }
    if (extraIp !== undefined && fields.ClientIpAddress === undefined) fields.ClientIpAddress = extraIp;
    if (this.isEcp && fields.EventData) {
      for (const [k, v] of eventDataItems(fields.EventData)) {
        const key = `EventData.${k}`;
        if (fields[key] === undefined) fields[key] = v;
      }
    }
    return this.record(fields, lineNo, file, line, tsText);
  }

  private parseEcpReduced(line: string, lineNo: number, file: string): LineResult {
    const c = line.indexOf(',');
    if (c === -1) return this.malformed('expected `timestamp,EventData`');
    const tsText = line.slice(0, c);
    if (!toIsoUtc(tsText)) return this.malformed('no timestamp before the first comma');
    const fields: Record<string, string> = { TimeStamp: tsText, EventData: line.slice(c + 1) };
    for (const [k, v] of eventDataItems(fields.EventData!, true)) {
      const key = `EventData.${k}`;
      if (fields[key] === undefined) fields[key] = v;
    }
    return this.record(fields, lineNo, file, line, tsText);
  }

  private parseW3c(line: string, lineNo: number, file: string): LineResult {
    let tokens = splitSpaces(line);
    const cols = this.columns;
    const n = cols.length;
    if (tokens.length < n)
      return this.malformed(`expected ${n} space-separated values, got ${tokens.length}`);
    if (tokens.length > n) {
      if (this.uaIdx < 0) return this.malformed(`expected ${n} space-separated values, got ${tokens.length}`);
      const surplus = tokens.length - n;
      const ua = tokens.slice(this.uaIdx, this.uaIdx + surplus + 1).join(' ');
      tokens = tokens
        .slice(0, this.uaIdx)
        .concat(ua)
        .concat(tokens.slice(this.uaIdx + surplus + 1));
      this.recovered++;
    }
    const fields: Record<string, string> = {};
    for (let i = 0; i < n; i++) {
      const name = cols[i]!;
      const v = tokens[i]!;
      if (name !== '__proto__') fields[name] = v === '-' ? '' : v;
    }
    const rec: LogRecord = { type: this.detected.type, file, line: lineNo, fields, raw: line };
    if (this.dateIdx >= 0 && this.timeIdx >= 0) {
      const ts = w3cTimestamp(tokens[this.dateIdx]!, tokens[this.timeIdx]!);
      if (ts) rec.timestamp = ts;
      else if (this.detected.headerless) return this.malformed('no date and time where the columns put them');
    }
    return rec;
  }
}

export function createLineParser(detected: Detected): LineParser {
  const own = logTypeOf(detected.type)?.parse.lineParser;
  return own ? own(detected) : new LineParserImpl(detected);
}

// ---------------------------------------------------------------------------------------------------------------
// Record parsers

export interface RecordParserOptions {
  /** Largest record kept, in characters (multi-line formats); a longer one is dropped and reported. Default 1 MiB. */
  maxRecordChars?: number;
}

export interface RecordParser {
  readonly detected: Detected;
  /** Records that could not be parsed (including records over the bound and unfinished ones at the end). */
  readonly malformed: number;
  /** Records over the size bound (also counted in `malformed`). */
  readonly truncated: number;
  /** Records parsed through a documented recovery. */
  readonly recovered: number;
  /** Up to MAX_SAMPLES malformed records: first line number, reason, first 200 characters. */
  readonly samples: LineSample[];
  /** Feed the next line (without its newline); returns the records it completed. Never throws. */
  push(line: string, lineNo: number): LogRecord[];
  /**
   * Raw text in order, cut anywhere (event-xml only: its records are found in the text stream, so a file written
   * as one huge line — Event Viewer's XML export — needs no line bound). Line numbers come from the newlines.
   */
  pushText?(text: string): LogRecord[];
  /** End of input: returns what is left (an unfinished record is reported as malformed). */
  end(): LogRecord[];
}

export const DEFAULT_MAX_RECORD_CHARS = 1 << 20;

abstract class RecordParserBase implements RecordParser {
  malformed = 0;
  truncated = 0;
  recovered = 0;
  samples: LineSample[] = [];
  constructor(
    readonly detected: Detected,
    protected readonly file: string,
  ) {}
  protected bad(line: number, reason: string, text: string) {
    this.malformed++;
    if (this.samples.length < MAX_SAMPLES) this.samples.push({ line, reason, text: sampleText(text) });
  }
  abstract push(line: string, lineNo: number): LogRecord[];
  abstract end(): LogRecord[];
}

/** Line formats behind the record interface. */
class LineRecordParser extends RecordParserBase {
  private readonly parser: LineParser;
  constructor(detected: Detected, file: string) {
    super(detected, file);
    this.parser = createLineParser(detected);
  }
  push(line: string, lineNo: number): LogRecord[] {
    const r = this.parser.parse(line, lineNo, this.file);
    this.recovered = this.parser.recovered + this.parser.shortRows;
    if (r === 'header') return [];
    if (r === 'malformed') {
      this.bad(lineNo, this.parser.lastReason, line);
      return [];
    }
    return [r];
  }
  end(): LogRecord[] {
    return [];
  }
}

// --- Windows event XML --------------------------------------------------------------------------------------

const xml = new XMLParser({
  ignoreAttributes: false,
  attributeNamePrefix: '@_',
  removeNSPrefix: true,
  parseTagValue: false,
  parseAttributeValue: false,
  trimValues: true,
  isArray: (name) => name === 'Data',
});

type XmlNode = Record<string, unknown>;

function textOf(v: unknown): string | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v === 'string') return v;
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  if (Array.isArray(v)) return textOf(v[0]);
  if (typeof v === 'object') {
    const t = (v as XmlNode)['#text'];
    return t === undefined ? '' : textOf(t);
  }
  return undefined;
}

function attr(v: unknown, name: string): string | undefined {
  if (v && typeof v === 'object' && !Array.isArray(v)) return textOf((v as XmlNode)[`@_${name}`]);
  return undefined;
}

/**
 * First index of an `<Event` start tag (not `<Events`, `<EventData`, …) at or after `from`, or -1. A `<Event` at
 * the very end is not taken: the next character decides (the caller keeps a tail).
 */
function eventStart(s: string, from: number): number {
  for (let i = s.indexOf('<Event', from); i !== -1; i = s.indexOf('<Event', i + 6)) {
    const c = s.charCodeAt(i + 6);
    if (c === 32 || c === 62 || c === 9 || c === 13 || c === 10 || c === 47) return i;
  }
  return -1;
}

/** Names a named <Data Name=…> value may not take: the event's own fields. */
const RESERVED = new Set([...EVENT_FIELDS, 'Data', 'UserID', 'LevelName', 'Qualifiers', '__proto__']);

/** One `<Event>…</Event>` text → fields, or a reason it is not one. */
export function eventFields(text: string): Record<string, string> | string {
  let doc: XmlNode;
  try {
    doc = xml.parse(text) as XmlNode;
  } catch (err) {
    return `not XML: ${(err as Error).message.split('\n')[0]}`;
  }
  if (!('Event' in doc)) return 'no <Event> element';
  const ev = doc.Event as XmlNode | string;
  if (typeof ev !== 'object' || ev === null) return 'no <System> element';
  const sys = ev.System as XmlNode | undefined;
  if (!sys || typeof sys !== 'object') return 'no <System> element';
  const fields: Record<string, string> = {};
  const set = (k: string, v: string | undefined) => {
    if (v !== undefined) fields[k] = v;
  };
  const provider = attr(sys.Provider, 'Name');
  set('Provider', provider);
  set('Source', attr(sys.Provider, 'EventSourceName') ?? provider);
  set('EventID', textOf(sys.EventID));
  set('Qualifiers', attr(sys.EventID, 'Qualifiers'));
  set('Level', textOf(sys.Level));
  set('TimeCreated', attr(sys.TimeCreated, 'SystemTime'));
  set('Computer', textOf(sys.Computer));
  set('Channel', textOf(sys.Channel));
  set('EventRecordID', textOf(sys.EventRecordID));
  set('Task', textOf(sys.Task));
  set('Keywords', textOf(sys.Keywords));
  set('UserID', attr(sys.Security, 'UserID'));

  const values: string[] = [];
  const data = (ev.EventData as XmlNode | undefined)?.Data;
  if (Array.isArray(data)) {
    for (const d of data) {
      const v = textOf(d) ?? '';
      values.push(v);
      const name = attr(d, 'Name');
      if (name && !RESERVED.has(name) && fields[name] === undefined) fields[name] = v;
    }
  }
  if (values.length) fields.Data = values.join('\n');
  const rendering = ev.RenderingInfo as XmlNode | undefined;
  const rendered = rendering && typeof rendering === 'object' ? textOf(rendering.Message) : undefined;
  if (rendering && typeof rendering === 'object') set('LevelName', textOf(rendering.Level));
  fields.Message = rendered ?? values.join('\n');
  return fields;
}

/** Newlines in s[from, to). */
function countNewlines(s: string, from: number, to: number): number {
  let n = 0;
  for (let i = s.indexOf('\n', from); i !== -1 && i < to; i = s.indexOf('\n', i + 1)) n++;
  return n;
}

const END_TAG = '</Event>';

/**
 * Events are found in the text stream itself, not per line: wevtutil writes one event per line, Event Viewer's
 * XML export may write everything on one line, and pretty-printed events span lines. `pushText` takes raw text
 * chunks (no line bound needed); `push` takes lines.
 */
class XmlEventParser extends RecordParserBase {
  private buf = '';
  private pos = 0; // start of unconsumed text in buf
  private line = 1; // line number at buf[pos]
  private inEvent = false;
  private skipping = false; // the current event went past the bound: drop text up to its end tag
  private eventLine = 0;
  private scanFrom = 0; // where to look for the end tag next
  private readonly max: number;

  constructor(detected: Detected, file: string, opts: RecordParserOptions) {
    super(detected, file);
    this.max = opts.maxRecordChars ?? DEFAULT_MAX_RECORD_CHARS;
  }

  private emit(text: string, line: number, out: LogRecord[]) {
    const fields = eventFields(text);
    if (typeof fields === 'string') {
      this.bad(line, fields, text);
      return;
    }
    const rec: LogRecord = { type: this.detected.type, file: this.file, line, fields, raw: text };
    const ts = fields.TimeCreated ? toIsoUtc(fields.TimeCreated) : undefined;
    if (ts) rec.timestamp = ts;
    out.push(rec);
  }

  private advance(to: number) {
    this.line += countNewlines(this.buf, this.pos, to);
    this.pos = to;
  }

  private feed(text: string, out: LogRecord[]) {
    // Re-base: keep only unconsumed text (an event in progress, bounded, or a short tail).
    if (this.pos > 0) {
      this.scanFrom = Math.max(0, this.scanFrom - this.pos);
      this.buf = this.buf.slice(this.pos);
      this.pos = 0;
    }
    this.buf += text;
    const buf = this.buf;
    for (;;) {
      if (!this.inEvent) {
        const s = eventStart(buf, this.pos);
        if (s === -1) {
          // Keep a tail that may hold the beginning of `<Event`, but nothing before a newline.
          let keep = Math.max(this.pos, buf.length - 6);
          const nl = buf.lastIndexOf('\n');
          if (nl >= keep) keep = nl + 1;
          this.advance(keep);
          return;
        }
        this.advance(s);
        this.inEvent = true;
        this.eventLine = this.line;
        this.scanFrom = s;
      }
      const e = buf.indexOf(END_TAG, this.scanFrom);
      if (e === -1) {
        const keepFrom = Math.max(this.pos, buf.length - (END_TAG.length - 1));
        if (!this.skipping && buf.length - this.pos > this.max) {
          this.truncated++;
          this.bad(
            this.eventLine,
            `event longer than ${this.max} characters`,
            buf.slice(this.pos, this.pos + 400),
          );
          this.skipping = true;
        }
        if (this.skipping) this.advance(keepFrom);
        this.scanFrom = keepFrom;
        return;
      }
      const end = e + END_TAG.length;
      if (this.skipping) this.skipping = false;
      else if (end - this.pos > this.max) {
        this.truncated++;
        this.bad(
          this.eventLine,
          `event longer than ${this.max} characters`,
          buf.slice(this.pos, this.pos + 400),
        );
      } else this.emit(buf.slice(this.pos, end), this.eventLine, out);
      this.advance(end);
      this.inEvent = false;
    }
  }

  /** Raw text chunks in order (any size, any cut); line numbers are counted from the newlines. */
  pushText(text: string): LogRecord[] {
    const out: LogRecord[] = [];
    try {
      this.feed(text, out);
    } catch (err) {
      this.bad(this.line, `parser error: ${(err as Error).message}`, text);
      this.resetState();
    }
    return out;
  }

  push(line: string, lineNo: number): LogRecord[] {
    // Between events nothing is kept across lines, so the caller's numbering applies.
    if (!this.inEvent && this.pos === this.buf.length) this.line = lineNo;
    return this.pushText(`${line}\n`);
  }

  private resetState() {
    this.buf = '';
    this.pos = 0;
    this.inEvent = false;
    this.skipping = false;
    this.scanFrom = 0;
  }

  end(): LogRecord[] {
    if (this.inEvent && !this.skipping) {
      this.bad(this.eventLine, 'event not closed at end of file', this.buf.slice(this.pos, this.pos + 400));
    }
    this.resetState();
    return [];
  }
}

// --- Event Viewer / Export-Csv CSV -----------------------------------------------------------------------------

const LEVELS: ReadonlyMap<string, string> = new Map([
  ['critical', '1'],
  ['error', '2'],
  ['warning', '3'],
  ['information', '4'],
  ['verbose', '5'],
  ['audit success', '0'],
  ['audit failure', '0'],
  ['kritisch', '1'],
  ['fehler', '2'],
  ['warnung', '3'],
  ['informationen', '4'],
  ['ausführlich', '5'],
  ['überwachung erfolgreich', '0'],
  ['überwachung gescheitert', '0'],
  ['critique', '1'],
  ['erreur', '2'],
  ['avertissement', '3'],
  ['commentaires', '5'],
]);

/** Numeric event level (1 Critical, 2 Error, 3 Warning, 4 Information, 5 Verbose, 0 audit) of a level name. */
export function levelNumber(name: string): string | undefined {
  const t = name.trim();
  if (/^\d{1,3}$/.test(t)) return t;
  return LEVELS.get(t.toLowerCase());
}

class CsvEventParser extends RecordParserBase {
  private parts: string[] = [];
  private chars = 0;
  private quotes = 0;
  private startLine = 0;
  private resync = false;
  private readonly max: number;
  private readonly columns: readonly string[];
  private readonly source: readonly string[];

  constructor(detected: Detected, file: string, opts: RecordParserOptions) {
    super(detected, file);
    this.max = opts.maxRecordChars ?? DEFAULT_MAX_RECORD_CHARS;
    this.columns = detected.columns;
    this.source = detected.sourceColumns ?? detected.columns;
  }

  /** A line that can start a record: its first value is a level name or number. */
  private startsRecord(line: string): boolean {
    const c = line.indexOf(',');
    if (c <= 0) return false;
    let first = line.slice(0, c);
    if (first.startsWith('"') && first.endsWith('"') && first.length >= 2) first = first.slice(1, -1);
    return (
      levelNumber(first) !== undefined || toIsoUtc(first) !== undefined || localDateToIso(first) !== undefined
    );
  }

  private isHeader(values: string[]): boolean {
    if (values.length < 2) return false;
    const src = this.source;
    return values[0]!.trim() === src[0] && values[1]!.trim() === src[1];
  }

  private finish(text: string, out: LogRecord[]) {
    const values = splitCsv(text);
    if (!values) {
      this.bad(this.startLine, 'unterminated quoted value', text);
      return;
    }
    if (this.isHeader(values)) return;
    const cols = this.columns;
    const n = cols.length;
    let vals = values;
    const messageLast = cols[n - 1] === 'Message';
    if (vals.length !== n) {
      if (messageLast && vals.length === n - 1) vals = vals.concat('');
      else if (messageLast && vals.length > n) {
        vals = vals.slice(0, n - 1).concat(vals.slice(n - 1).join(','));
        this.recovered++;
      } else {
        this.bad(this.startLine, `expected ${n} values, got ${vals.length}`, text);
        return;
      }
    }
    const fields: Record<string, string> = {};
    for (let i = 0; i < n; i++) {
      const name = cols[i]!;
      if (name !== '__proto__') fields[name] = vals[i]!;
    }
    if (fields.Level !== undefined) {
      const num = levelNumber(fields.Level);
      if (!/^\d+$/.test(fields.Level.trim())) fields.LevelName = fields.Level;
      if (num !== undefined) fields.Level = num;
    } else if (fields.LevelName !== undefined) {
      const num = levelNumber(fields.LevelName);
      if (num !== undefined) fields.Level = num;
    }
    if (fields.Source === undefined && fields.Provider !== undefined) fields.Source = fields.Provider;
    if (fields.Provider === undefined && fields.Source !== undefined) fields.Provider = fields.Source;
    if (fields.Message === undefined) fields.Message = '';
    const rec: LogRecord = {
      type: this.detected.type,
      file: this.file,
      line: this.startLine,
      fields,
      raw: text,
    };
    const ts = fields.TimeCreated ? localDateToIso(fields.TimeCreated) : undefined;
    if (ts) rec.timestamp = ts;
    out.push(rec);
  }

  push(line: string, lineNo: number): LogRecord[] {
    const out: LogRecord[] = [];
    try {
      if (this.parts.length === 0) {
        if (lineNo <= this.detected.headerLines || line.trim().length === 0) return out;
        if (line.charCodeAt(0) === 35 && directiveLike(line)) return out; // `#TYPE …` of a concatenated export
        if (this.resync) {
          if (!this.startsRecord(line)) return out;
          this.resync = false;
        }
        this.startLine = lineNo;
      }
      this.parts.push(line);
      this.chars += line.length + 1;
      this.quotes += countQuotes(line);
      if (this.quotes % 2 === 1) {
        if (this.chars > this.max) {
          this.truncated++;
          this.bad(this.startLine, `record longer than ${this.max} characters`, this.parts[0]!);
          this.reset();
          this.resync = true;
        }
        return out;
      }
      const text = this.parts.length === 1 ? this.parts[0]! : this.parts.join('\n');
      this.reset();
      if (text.length > this.max) {
        this.truncated++;
        this.bad(this.startLine, `record longer than ${this.max} characters`, text);
        return out;
      }
      this.finish(text, out);
    } catch (err) {
      this.bad(lineNo, `parser error: ${(err as Error).message}`, line);
      this.reset();
    }
    return out;
  }

  private reset() {
    this.parts = [];
    this.chars = 0;
    this.quotes = 0;
  }

  end(): LogRecord[] {
    if (this.parts.length)
      this.bad(this.startLine, 'quoted value not closed at end of file', this.parts.join('\n'));
    this.reset();
    return [];
  }
}

function directiveLike(line: string): boolean {
  return line.startsWith('#TYPE ') || /^#\s*[A-Za-z-]+:/.test(line);
}

/**
 * A parser that takes every line of the file in order and returns whole records: multi-line Windows events, or
 * any line format (then it is `createLineParser` with counting).
 */
export function createRecordParser(
  detected: Detected,
  file: string,
  opts: RecordParserOptions = {},
): RecordParser {
  const own = logTypeOf(detected.type)?.parse.recordParser;
  if (own) return own(detected, file, opts);
  if (detected.format === 'event-xml') return new XmlEventParser(detected, file, opts);
  if (detected.format === 'event-csv') return new CsvEventParser(detected, file, opts);
  return new LineRecordParser(detected, file);
}

// --- Helpers for ParseStats ------------------------------------------------------------------------------------

/** Server host a record names (ServerHostName, ServerName, s-computername, Computer), if any. */
export function recordHost(rec: LogRecord): string | undefined {
  const f = rec.fields;
  const h = f.ServerHostName || f.ServerName || f['s-computername'] || f.Computer;
  return h ? h : undefined;
}

/** Server build a record carries (Major/Minor/Build/Revision columns, ECP `S:BLD`), normalised, if any. */
export function recordBuild(rec: LogRecord): string | undefined {
  const f = rec.fields;
  if (f.MajorVersion && f.MinorVersion && f.BuildVersion && f.RevisionVersion) {
    return normaliseBuild(`${f.MajorVersion}.${f.MinorVersion}.${f.BuildVersion}.${f.RevisionVersion}`);
  }
  const bld = f['EventData.BLD'] ?? f['EventData.Bld'];
  return bld ? normaliseBuild(bld) : undefined;
}
