/**
 * Test helpers for the Sigma tests: log records made by writing a log line and reading it with the hunt's own
 * parsers (detectLog + createLineParser, as `bulwark hunt` reads a file), and rules written inline.
 */
import { IIS_EXCHANGE_FIELDS } from '../../core/index.js';
import { createLineParser, detectLog } from '../parse/index.js';
import type { LogRecord, LogType } from '../types.js';
import { type CompiledSigma, compileRule, loadSigmaRule } from './index.js';

/** Exchange's default IIS W3C field list. */
export const IIS_COLUMNS = IIS_EXCHANGE_FIELDS;

const IIS_DEFAULTS: Record<string, string> = {
  date: '2021-03-03',
  time: '06:49:42',
  's-ip': '10.0.0.5',
  'cs-method': 'GET',
  'cs-uri-stem': '/owa/',
  'cs-uri-query': '',
  's-port': '443',
  'cs-username': '',
  'c-ip': '203.0.113.7',
  'cs(User-Agent)': 'Mozilla/5.0+(Windows+NT+10.0;+Win64;+x64)',
  'cs(Referer)': '',
  'sc-status': '200',
  'sc-substatus': '0',
  'sc-win32-status': '0',
  'time-taken': '15',
};

/** The record the production parser reads from `line` of a file starting with `header`; throws if it is none. */
function parsed(header: readonly string[], line: string, lineNo: number, file: string): LogRecord {
  const detected = detectLog([...header, line]);
  if (!detected) throw new Error(`test log not recognised: ${header.join(' / ')}`);
  const parser = createLineParser(detected);
  for (const [i, h] of header.entries()) parser.parse(h, i + 1, file);
  const r = parser.parse(line, lineNo, file);
  if (typeof r === 'string') throw new Error(`test line ${r}: ${parser.lastReason} (${line})`);
  return r;
}

/** An IIS W3C record: the line is the values space-separated, '' written as `-`. */
export function iisRecord(values: Record<string, string> = {}): LogRecord {
  const tokens = IIS_COLUMNS.map((c) => {
    const v = values[c] ?? IIS_DEFAULTS[c]!;
    return v === '' ? '-' : v;
  });
  const header = [
    '#Software: Microsoft Internet Information Services 10.0',
    '#Version: 1.0',
    '#Date: 2021-03-03 00:00:00',
    `#Fields: ${IIS_COLUMNS.join(' ')}`,
  ];
  return parsed(header, tokens.join(' '), 5, 'u_ex210303.log');
}

export const HTTPPROXY_TEST_COLUMNS = [
  'DateTime',
  'UrlHost',
  'UrlStem',
  'AuthenticatedUser',
  'AnchorMailbox',
  'UserAgent',
  'ClientIpAddress',
  'ServerHostName',
  'HttpStatus',
  'Method',
  'UrlQuery',
] as const;

const PROXY_DEFAULTS: Record<string, string> = {
  DateTime: '2021-03-03T06:49:42.162Z',
  UrlHost: 'mail.example.org',
  UrlStem: '/owa/',
  AuthenticatedUser: '',
  AnchorMailbox: '',
  UserAgent: 'Mozilla/5.0 (Windows NT 10.0; Win64; x64)',
  ClientIpAddress: '203.0.113.7',
  ServerHostName: 'EXCH01',
  HttpStatus: '200',
  Method: 'GET',
  UrlQuery: '',
};

export function csvQuote(v: string): string {
  return /[",\r\n]/.test(v) ? `"${v.replaceAll('"', '""')}"` : v;
}

/** An HttpProxy record (a subset of the columns): the line is RFC 4180 CSV under a `#Fields:` header. */
export function proxyRecord(values: Record<string, string> = {}): LogRecord {
  const cells = HTTPPROXY_TEST_COLUMNS.map((c) => csvQuote(values[c] ?? PROXY_DEFAULTS[c]!));
  const header = [
    '#Software: Microsoft Exchange Server',
    '#Version: 15.01.2106.002',
    '#Log-type: HttpProxy Logs',
    '#Date: 2021-03-03T06:00:00.000Z',
    `#Fields: ${HTTPPROXY_TEST_COLUMNS.join(',')}`,
  ];
  return parsed(header, cells.join(','), 7, 'HttpProxy_2021030306-1.LOG');
}

export function record(type: LogType, fields: Record<string, string>, raw?: string): LogRecord {
  return { type, file: 'x.log', line: 1, fields, raw: raw ?? Object.values(fields).join(',') };
}

/** A rule from its detection lines (indented as under `detection:`). */
export function ruleText(detection: string, logsource = 'category: webserver', extra = ''): string {
  const body = detection
    .split('\n')
    .map((l) => (l.trim() ? `  ${l}` : l))
    .join('\n');
  return `title: test rule\nid: test-rule\nlogsource: {${logsource}}\ndetection:\n${body}\n${extra}`;
}

/** Loads and compiles a rule or throws with the reason it is unsupported. */
export function compiled(detection: string, type: LogType = 'iis-w3c', logsource?: string): CompiledSigma {
  const r = loadSigmaRule(ruleText(detection, logsource), 'test.yml');
  if (r.kind === 'unsupported') throw new Error(`unsupported: ${r.reason}`);
  const c = compileRule(r, type);
  if (c.kind === 'unsupported') throw new Error(`unsupported for ${type}: ${c.reason}`);
  return c;
}

/** ASCII-only lower case: what a case-insensitive search of latin1 bytes sees. */
export function asciiLower(s: string): string {
  return s.replace(/[A-Z]/g, (c) => c.toLowerCase());
}

/** The prefilter contract for one record the rule matched. */
export function prefilterHolds(rule: CompiledSigma, raw: string): boolean {
  if (rule.literals === null) return true;
  const text = asciiLower(raw);
  return (
    rule.literals.some((l) => text.includes(l)) && rule.clauses.every((c) => c.some((l) => text.includes(l)))
  );
}
