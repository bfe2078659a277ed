/**
 * Scanning one log file fast: most bytes are only searched, never parsed.
 *
 * The rules for a log type yield a set of literals such that every line a rule can match contains one of them
 * (case-insensitively), plus more such sets that a matching line satisfies all of. The scanner searches blocks of
 * whole lines (about 64 KB, decoded as latin1: one byte, one character, exact for ASCII literals) with one regular
 * expression for the first sets; on a line with a hit it checks the other sets, and only a line some rule can
 * still match is decoded as UTF-8, parsed by the log's own columns and given to those rules. Header lines
 * (`#Fields:` after a service restart) are always parsed. When a rule offers no literal, every line is parsed.
 *
 * Plain files are read by `scanPlainFile` into one reused buffer; other sources (gzip, zip members, UTF-16) come
 * through `scanFile` as a stream of chunks. Both feed the same LineScanner.
 */
import { closeSync, openSync, readSync } from 'node:fs';
import { logTypeOf } from './logtypes/registry.js';
import {
  createLineParser,
  createRecordParser,
  type Detected,
  detectEncoding,
  detectLog,
} from './parse/index.js';
import type { HuntFinding, LogRecord, LogType, ParseStats } from './types.js';

/** What the scanner needs of a rule, whether it came from Sigma, a pack or an IOC list. */
export interface ScanRule {
  id: string;
  title: string;
  source: string;
  cve: string | null;
  stage: HuntFinding['stage'];
  severity: HuntFinding['severity'];
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
  findings: HuntFinding[];
}

const HEAD_BYTES = 64 * 1024;
const HEAD_LINES = 30;
const RAW_LIMIT = 2000;

interface FileState {
  stats: ParseStats;
  findings: HuntFinding[];
}

function newFileState(display: string): FileState {
  return {
    stats: { file: display, bytes: 0, lines: 0, records: 0, malformed: 0, truncated: 0, samples: [] },
    findings: [],
  };
}

/** The first lines of a file for detection: at most HEAD_LINES lines of the first HEAD_BYTES bytes from `from`. */
function headLinesOf(head: Buffer, from: number, to: number): string[] {
  return head
    .toString('utf8', from, Math.min(to, from + HEAD_BYTES))
    .split('\n', HEAD_LINES)
    .map(stripCr);
}

/** Once the log type is known: its rules, the record handler and the line scanner. */
function begin(
  state: FileState,
  detected: Detected,
  host: string,
  rulesFor: (type: LogType) => readonly ScanRule[],
  opts: ScanOptions,
) {
  const { stats, findings } = state;
  stats.type = detected.type;
  if (detected.build) stats.build = detected.build;
  const rules = rulesFor(detected.type);
  const onRecord = (record: LogRecord, candidates: readonly ScanRule[] = rules) => {
    stats.records++;
    if (record.timestamp) {
      if (!stats.first || record.timestamp < stats.first) stats.first = record.timestamp;
      if (!stats.last || record.timestamp > stats.last) stats.last = record.timestamp;
    }
    for (const rule of candidates) {
      const matched = rule.match(record);
      if (matched) findings.push(toFinding(rule, record, matched, host));
    }
  };
  const lineScanner = () => new LineScanner(detected, stats.file, stats, opts, rules, onRecord);
  return { onRecord, lineScanner };
}

export async function scanFile(
  target: ScanTarget,
  rulesFor: (type: LogType) => readonly ScanRule[],
  opts: ScanOptions = DEFAULT_SCAN_OPTIONS,
): Promise<FileScan> {
  const state = newFileState(target.display);
  const { stats, findings } = state;
  const iterator = target.chunks[Symbol.asyncIterator]();

  // Gather the head for detection without consuming more than needed.
  let head: Buffer = Buffer.alloc(0);
  let done = false;
  while (!done && head.length < HEAD_BYTES && countNewlines(head) < HEAD_LINES) {
    const next = await iterator.next();
    if (next.done) done = true;
    else head = head.length ? Buffer.concat([head, next.value]) : next.value;
  }
  const detected = detectLog(headLinesOf(head, 0, head.length));
  if (!detected) {
    // Not a log Bulwark reads: count its bytes and stop (the caller runs file-system checks on it).
    stats.bytes = head.length;
    if (!done)
      for (let n = await iterator.next(); !n.done; n = await iterator.next()) stats.bytes += n.value.length;
    return { stats, findings };
  }
  const { onRecord, lineScanner } = begin(state, detected, target.host, rulesFor, opts);
  const rest = async function* () {
    if (head.length) yield head;
    if (done) return;
    for (let n = await iterator.next(); !n.done; n = await iterator.next()) yield n.value;
  };
  // Record-level types (events spanning lines) are parsed in full; they are small.
  if (logTypeOf(detected.type)?.parse.recordLevel)
    await scanRecords(rest(), detected, target, stats, opts, onRecord);
  else await scanLines(rest(), lineScanner(), stats);
  return { stats, detected, findings };
}

function toFinding(
  rule: ScanRule,
  record: LogRecord,
  matched: Record<string, string>,
  host: string,
): HuntFinding {
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

/** Per rule list: the compiled block prefilter and the literal tables of the per-line check. */
interface RulePlan {
  /** The block searches (one pass each); [] never hits (no rules), null: every line is a candidate. */
  prefilter: RegExp[] | null;
  /** Every distinct literal the rules name (primary sets and clauses), lower-case. */
  literals: string[];
  /** Literal text → id. */
  ids: Map<string, number>;
  /**
   * Per literal: undefined when the prefilter does not find it; else the ids of the prefilter's literals it
   * contains (just itself when the prefilter searches for it). A literal the prefilter searches for is on a line
   * exactly when the search found it there; one that merely contains such literals can only be on a line where
   * one of them was found.
   */
  via: (Int32Array | undefined)[];
  /** Per rule: ids of its primary literals (null: none) and of each clause's literals. */
  primary: (Int32Array | null)[];
  clauses: Int32Array[][];
}

const plans = new WeakMap<readonly ScanRule[], RulePlan>();

/** Compiling the prefilter per file would cost milliseconds (building and JIT-compiling the regular expression). */
function planFor(rules: readonly ScanRule[]): RulePlan {
  let plan = plans.get(rules);
  if (!plan) {
    const ids = new Map<string, number>();
    const id = (l: string) => {
      const key = l.toLowerCase();
      let n = ids.get(key);
      if (n === undefined) {
        n = ids.size;
        ids.set(key, n);
      }
      return n;
    };
    const primary = rules.map((r) => (r.literals ? Int32Array.from(r.literals, id) : null));
    const clauses = rules.map((r) => r.clauses.map((c) => Int32Array.from(c, id)));
    const searched = rules.length ? prefilterLiterals(rules) : [];
    for (const l of searched ?? []) id(l);
    const all = [...ids.keys()];
    const via = all.map((l) => {
      if (!searched) return undefined;
      const inside = searched.filter((n) => l.includes(n)).map((n) => ids.get(n)!);
      return inside.length ? Int32Array.from(inside) : undefined;
    });
    plan = {
      prefilter: rules.length ? (searched ? searchesFor(searched) : null) : [],
      literals: all,
      ids,
      via,
      primary,
      clauses,
    };
    plans.set(rules, plan);
  }
  return plan;
}

/**
 * The literals the prefilter searches for: every rule's primary literals, lower-cased and cut to their lead tail
 * (see leadTail), minus those that contain another (finding the shorter one is enough); null when a rule offers none, or one is not printable ASCII (the
 * block is searched as latin1; a non-ASCII literal would need UTF-8 aware folding).
 */
function prefilterLiterals(rules: readonly ScanRule[]): string[] | null {
  const literals = new Set<string>();
  for (const rule of rules) {
    if (!rule.literals) return null; // a rule that can match any line: every line must be parsed
    for (const l of rule.literals) {
      if (!l || /[^\x20-\x7e]/.test(l)) return null;
      literals.add(l.toLowerCase());
    }
  }
  if (!literals.size) return null;
  const all = [...new Set([...literals].map(leadTail))];
  return all.filter((l) => !all.some((o) => o !== l && l.includes(o))).sort();
}

/** Shortest tail worth searching for instead of a whole literal. */
const MIN_TAIL = 6;

/**
 * What the prefilter searches for in place of a literal: its tail from the first `/` or `.` when that tail has
 * at least MIN_TAIL characters (`.77.192.219` for `103.77.192.219`, `/0.0.0.0` for
 * `exchangeservicesclient/0.0.0.0`), else the literal (also when it starts with one already). Every line holding the literal holds its tail, so the
 * search stays sound; the line check then looks for the whole literal. The point is speed: V8's regular
 * expression engine tries the alternatives at every position, so an alternation whose branches start with few
 * distinct characters is much cheaper (measured on the ProxyLogon set over Exchange logs: twice the throughput,
 * mostly because IP addresses no longer start with five different digits).
 */
function leadTail(literal: string): string {
  if (literal[0] === '/' || literal[0] === '.') return literal;
  for (let i = 1; i <= literal.length - MIN_TAIL; i++) {
    const c = literal.charCodeAt(i);
    if (c === 47 || c === 46) return literal.slice(i); // '/' or '.'
  }
  return literal;
}

/**
 * Builds the prefilter: a case-insensitive regular expression that finds any rule's primary literal (null when a
 * rule has none). Literals that contain another literal are dropped (finding the shorter one is enough), and the
 * rest are written as a trie (`/(?:ecp/|owa/auth/)|serverinfo~`): V8's regular expression engine tries the
 * alternatives one after the other at each position, so sharing prefixes makes the pass faster. (Splitting the
 * literals over several expressions, e.g. the IP addresses without the case-insensitive flag, was measured: faster
 * on HttpProxy logs, slower on IIS logs, no gain overall.) The scanner takes a list, for the same reason.
 */
export function prefilterFor(rules: readonly ScanRule[]): RegExp[] | null {
  const literals = prefilterLiterals(rules);
  return literals ? searchesFor(literals) : null;
}

function searchesFor(literals: readonly string[]): RegExp[] {
  return [new RegExp(trieSource(literals), 'gi')];
}

const escapeRe = (s: string) => s.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');

/** Regular expression source matching exactly the given (sorted, non-empty, prefix-free) strings. */
function trieSource(words: readonly string[]): string {
  const groups = new Map<string, string[]>();
  for (const w of words) {
    const c = w[0]!;
    const g = groups.get(c);
    if (g) g.push(w.slice(1));
    else groups.set(c, [w.slice(1)]);
  }
  const alternatives: string[] = [];
  for (const [c, rest] of groups) {
    if (rest.length === 1) alternatives.push(escapeRe(c + rest[0]));
    else {
      // Longest common prefix of the group, then a group for the tails (prefix-free, so no tail is empty).
      let n = 0;
      while (rest.every((r) => r.length > n + 1 && r[n] === rest[0]![n])) n++;
      const head = escapeRe(c + rest[0]!.slice(0, n));
      alternatives.push(`${head}(?:${trieSource(rest.map((r) => r.slice(n)))})`);
    }
  }
  return alternatives.join('|');
}

/**
 * Rules whose primary literals and every prefilter clause have a literal in the line: only these can match it.
 * `found` holds the ids of the prefilter literals the search found on the line (all of them; null when the line
 * was not searched); other literals are looked up in the lower-cased line, each at most once.
 */
function candidatesFor(
  rules: readonly ScanRule[],
  plan: RulePlan,
  line: string,
  found: readonly number[] | null,
): ScanRule[] {
  const seen = new Int8Array(plan.literals.length); // 0 unknown, 1 present, 2 absent
  let lower: string | undefined;
  if (found) for (const id of found) seen[id] = 1;
  const present = (id: number): boolean => {
    let v = seen[id]!;
    if (v === 0) {
      const via = found ? plan.via[id] : undefined;
      if (via && via.length === 1 && via[0] === id)
        v = 2; // searched for and not found
      else if (via && !via.some((n) => seen[n] === 1))
        v = 2; // none of the searched literals inside it found
      else {
        lower ??= line.toLowerCase();
        v = lower.includes(plan.literals[id]!) ? 1 : 2;
      }
      seen[id] = v;
    }
    return v === 1;
  };
  const any = (ids: Int32Array): boolean => {
    for (let i = 0; i < ids.length; i++) if (present(ids[i]!)) return true;
    return false;
  };
  const out: ScanRule[] = [];
  for (let r = 0; r < rules.length; r++) {
    const primary = plan.primary[r];
    if (primary && !any(primary)) continue;
    let ok = true;
    for (const clause of plan.clauses[r]!) {
      if (!any(clause)) {
        ok = false;
        break;
      }
    }
    if (ok) out.push(rules[r]!);
  }
  return out;
}

/**
 * The line scanner of one file: `block` takes bytes holding whole lines (and maybe the start of the next one),
 * searches them for the rules' literals, parses the lines that hold one (and header lines), and returns the
 * unconsumed tail (a view into the block; copy it before the block's memory is reused).
 */
class LineScanner {
  private readonly parser: ReturnType<typeof createLineParser>;
  private readonly plan: RulePlan;
  private lineNo = 0;
  private skipping = false; // inside a line longer than the bound: drop bytes up to the next newline
  private firstDataSeen = false;
  /** The last data line not parsed yet: parsed at the end for the log's coverage (its last timestamp). */
  private lastData: { text: string; no: number } | undefined;

  constructor(
    detected: Detected,
    private readonly display: string,
    private readonly stats: ParseStats,
    private readonly opts: ScanOptions,
    private readonly rules: readonly ScanRule[],
    private readonly onRecord: (r: LogRecord, candidates: readonly ScanRule[]) => void,
  ) {
    this.parser = createLineParser(detected);
    this.plan = planFor(rules);
  }

  private handleLine(line: string, no: number, candidates: readonly ScanRule[]) {
    const result = this.parser.parse(line, no, this.display);
    if (result === 'header') return;
    if (result === 'malformed') {
      this.stats.malformed++;
      sample(this.stats, this.opts, no, 'malformed', line);
      return;
    }
    this.onRecord(result, candidates);
  }

  block(buf: Buffer, final: boolean): Buffer {
    const { stats, opts, rules, plan } = this;
    const prefilter = plan.prefilter;
    const text = buf.toString('latin1');
    const end = final ? text.length : text.lastIndexOf('\n') + 1; // complete lines only
    if (end === 0 && !final) {
      if (buf.length <= opts.maxLineBytes) return buf;
      // No newline within the bound: keep the head of the line, drop the rest up to the next newline.
      stats.truncated++;
      const no = ++this.lineNo;
      const cut = buf.toString('utf8', 0, opts.maxLineBytes);
      sample(stats, opts, no, 'line over the length bound', cut);
      this.handleLine(cut, no, candidatesFor(rules, plan, cut, null));
      this.skipping = true;
      return buf.subarray(buf.length);
    }
    let pos = 0;
    if (this.skipping) {
      pos = text.indexOf('\n') + 1;
      this.skipping = false;
    }
    // Per search: the index of its next hit at or after where it last looked (-1: none left in this block) and
    // the id of the literal found there. `nextHit` is the nearest of them.
    const searches = prefilter ?? [];
    const at = new Int32Array(searches.length);
    const atId = new Int32Array(searches.length);
    const seek = (r: number, from: number) => {
      const re = searches[r]!;
      re.lastIndex = from;
      const m = re.exec(text);
      if (m && m.index < end) {
        at[r] = m.index;
        atId[r] = plan.ids.get(m[0].toLowerCase()) ?? -1;
      } else at[r] = -1;
    };
    const nearest = (): number => {
      let h = -1;
      for (let r = 0; r < at.length; r++) if (at[r]! >= 0 && (h < 0 || at[r]! < h)) h = at[r]!;
      return h;
    };
    let nextHit = -1;
    if (pos < end) {
      if (!prefilter)
        nextHit = pos; // no prefilter: every line is a candidate
      else {
        for (let r = 0; r < searches.length; r++) seek(r, pos);
        nextHit = nearest();
      }
    }
    let nextNul = text.indexOf('\0', pos);
    let lastUnparsed = -1;
    let lastUnparsedEnd = -1;
    let lastUnparsedNo = 0;
    let lineNo = this.lineNo;
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
      if (hit || header || !this.firstDataSeen) {
        // Every prefilter literal on the line (overlapping ones too: each search resumes one past its hit).
        let found: number[] | null = null;
        if (hit) {
          if (prefilter) {
            found = [];
            for (let r = 0; r < searches.length; r++) {
              while (at[r]! >= 0 && at[r]! < lineEnd) {
                found.push(atId[r]!);
                seek(r, at[r]! + 1);
              }
              if (at[r]! >= 0 && at[r]! <= nl) seek(r, nl + 1); // hits past the cut of an over-long line
            }
            nextHit = nearest();
          } else nextHit = nl + 1;
        }
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
          const candidates = hit ? candidatesFor(rules, plan, text.slice(pos, lineEnd), found) : [];
          if (candidates.length || header || !this.firstDataSeen) {
            if (!header) this.firstDataSeen = true;
            this.handleLine(buf.toString('utf8', pos, lineEnd), lineNo, candidates);
          } else {
            lastUnparsed = pos;
            lastUnparsedEnd = lineEnd;
            lastUnparsedNo = lineNo;
          }
        }
      } else if (lineEnd > pos) {
        lastUnparsed = pos;
        lastUnparsedEnd = lineEnd;
        lastUnparsedNo = lineNo;
      }
      pos = nl + 1;
    }
    this.lineNo = lineNo;
    if (lastUnparsed >= 0)
      this.lastData = { text: buf.toString('utf8', lastUnparsed, lastUnparsedEnd), no: lastUnparsedNo };
    return final ? buf.subarray(buf.length) : buf.subarray(end);
  }

  /** After the last block: line count, and the last unparsed line's timestamp for the log's time span. */
  finish() {
    const { stats } = this;
    stats.lines = this.lineNo;
    if (this.lastData) {
      const r = this.parser.parse(this.lastData.text, this.lastData.no, this.display);
      if (r !== 'header' && r !== 'malformed' && r.timestamp) {
        if (!stats.last || r.timestamp > stats.last) stats.last = r.timestamp;
        if (!stats.first || r.timestamp < stats.first) stats.first = r.timestamp;
      }
    }
  }
}

/**
 * The streaming path: chunks of any size. Only the line that straddles two chunks is copied (carry + the head of
 * the next chunk); the rest of each chunk is searched where it lies.
 */
async function scanLines(
  chunks: AsyncIterable<Buffer>,
  scanner: LineScanner,
  stats: ParseStats,
): Promise<void> {
  let carry = EMPTY;
  for await (const chunk of chunks) {
    stats.bytes += chunk.length;
    let rest = chunk;
    if (carry.length) {
      const nl = chunk.indexOf(10);
      if (nl < 0) {
        carry = Buffer.from(scanner.block(Buffer.concat([carry, chunk]), false));
        continue;
      }
      scanner.block(Buffer.concat([carry, chunk.subarray(0, nl + 1)]), false);
      rest = chunk.subarray(nl + 1);
    }
    const tail = scanner.block(rest, false);
    carry = tail.length ? Buffer.from(tail) : EMPTY;
  }
  if (carry.length) scanner.block(carry, true);
  scanner.finish();
}

const EMPTY = Buffer.alloc(0);

/** Block size of the plain-file path; one buffer per thread, reused for every file. */
const BLOCK_BYTES = 4 << 20;
/** Bytes searched as one latin1 string. */
const WINDOW_BYTES = 64 << 10;
let threadBlock: Buffer | undefined;

/** Reads until `buf` is full from `at` or the file ends; returns the bytes read. */
function readFull(fd: number, buf: Buffer, at: number): number {
  let n = 0;
  while (at + n < buf.length) {
    const got = readSync(fd, buf, at + n, buf.length - at - n, null);
    if (got === 0) break;
    n += got;
  }
  return n;
}

/**
 * Scans a plain file with blocking reads into one reused buffer: no allocation per block, and the partial line
 * at the end of a block is moved to the front of the buffer rather than concatenated. Everything from the first
 * read to the last record runs without yielding, so the buffer is never shared. Returns undefined when the file
 * needs the streaming path (UTF-16, or a multi-line record format); the caller then reopens it with `scanFile`.
 */
export function scanPlainFile(
  target: { display: string; host: string; path: string },
  rulesFor: (type: LogType) => readonly ScanRule[],
  opts: ScanOptions = DEFAULT_SCAN_OPTIONS,
  onBytes: (n: number) => void = () => {},
): FileScan | undefined {
  const size = Math.max(BLOCK_BYTES, opts.maxLineBytes * 2);
  if (!threadBlock || threadBlock.length !== size) threadBlock = Buffer.allocUnsafe(size);
  const buf = threadBlock;
  const fd = openSync(target.path, 'r');
  try {
    let len = readFull(fd, buf, 0);
    let eof = len < buf.length;
    const { encoding, bomLength } = detectEncoding(buf.subarray(0, Math.min(len, 4)));
    if (encoding !== 'utf8' && encoding !== 'utf8-bom') return undefined;
    const state = newFileState(target.display);
    const { stats } = state;
    stats.bytes = len;
    const detected = detectLog(headLinesOf(buf, bomLength, len));
    if (detected && logTypeOf(detected.type)?.parse.recordLevel) return undefined;
    onBytes(len);
    if (!detected) {
      // Not a log Bulwark reads: count its bytes and stop (the caller runs file-system checks on it).
      while (!eof) {
        const n = readFull(fd, buf, 0);
        stats.bytes += n;
        onBytes(n);
        eof = n < buf.length;
      }
      return { stats, findings: state.findings };
    }
    const scanner = begin(state, detected, target.host, rulesFor, opts).lineScanner();
    if (bomLength) {
      buf.copyWithin(0, bomLength, len);
      len -= bomLength;
    }
    for (;;) {
      // Searched in windows of whole lines: a short string is cheap to make (a 4 MB one costs a fresh
      // large-object allocation and its page faults every time).
      let from = 0;
      while (len - from > WINDOW_BYTES) {
        let cut = buf.lastIndexOf(10, from + WINDOW_BYTES - 1);
        if (cut < from) {
          cut = buf.indexOf(10, from + WINDOW_BYTES); // a line longer than the window
          if (cut < 0 || cut >= len) break;
        }
        scanner.block(buf.subarray(from, cut + 1), false);
        from = cut + 1;
      }
      const tail = scanner.block(buf.subarray(from, len), eof);
      if (eof) break;
      const carry = tail.length;
      if (carry) buf.copyWithin(0, len - carry, len);
      const n = readFull(fd, buf, carry);
      stats.bytes += n;
      onBytes(n);
      eof = n < buf.length - carry;
      len = carry + n;
    }
    scanner.finish();
    return { stats, detected, findings: state.findings };
  } finally {
    closeSync(fd);
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
