/**
 * Recognising a log from its first lines — never from its file name.
 *
 * Order of evidence (the Microsoft logs; registered types with their own `detect` come after):
 * 1. Windows event XML (`<Event xmlns=…>`, optionally inside `<Events>` / after `<?xml …?>`).
 * 2. W3C-style directives: `#Software: Microsoft Exchange Server` + `#Log-type:` (HttpProxy Logs, ECP Server Log,
 *    ECP Activity Context Log, OAB Generator Log) with columns from `#Fields:`; `#Software: Microsoft Internet
 *    Information Services` or a `#Fields:` / `# Fields:` line of W3C names for IIS.
 * 3. A bare CSV header line (after an optional `#TYPE …` line of PowerShell's Export-Csv): Event Viewer CSV,
 *    PowerShell event exports, ECP columns, HttpProxy columns (full names or the reduced-excerpt aliases).
 * 4. Headerless data by shape: an IIS line (`YYYY-MM-DD HH:MM:SS <s-ip> <METHOD> /…`, 15+ tokens) or an HttpProxy
 *    row (ISO timestamp, GUID, four numbers = Major/Minor/Build/Revision).
 */
import { exchangeLogType, logTypes } from '../logtypes/registry.js';
import type { LogType } from '../types.js';
import {
  ECP_FIELDS,
  ECP_REDUCED_FIELDS,
  EVENT_FIELDS,
  HTTPPROXY_FIELDS,
  HTTPPROXY_MIN_POSITIONAL,
  httpProxyName,
  IIS_DEFAULT_FIELDS,
  OABGEN_FIELDS,
} from './fields.js';
import { normaliseBuild, splitCsv, splitSpaces, toIsoUtc } from './text.js';

/** How lines are cut into values. */
export type LineFormat =
  | 'csv' // one CSV record per line (Exchange logs, Test-ProxyLogon output, reduced excerpts)
  | 'ecp-reduced' // `timestamp,<EventData text as written>`: split at the first comma only
  | 'w3c' // space-separated IIS W3C
  | 'event-xml' // wevtutil XML: records span lines, use createRecordParser
  | 'event-csv'; // Event Viewer / Export-Csv: quoted messages span lines, use createRecordParser

export interface Detected {
  type: LogType;
  format: LineFormat;
  /** Column names as the parsers emit them (reduced-excerpt aliases already mapped to the real names). */
  columns: string[];
  /** Column names as written in the file, when they differ from `columns`. */
  sourceColumns?: string[];
  /** Leading lines that are header (`#` lines, blank lines, a bare column header line). */
  headerLines: number;
  /** Server build from `#Version:` (`15.01.2375.007` → `15.1.2375.7`); the ECP/IIS schema versions are ignored. */
  build?: string;
  /** An excerpt with columns removed or renamed by whoever published it (not the product's own layout). */
  reduced?: boolean;
  /** No header in the file: columns are the product defaults, and HttpProxy rows may be shorter (older builds). */
  headerless?: boolean;
  /** The `#Log-type:` (or `#Software:`) text that decided the type. */
  logType?: string;
  /** Timestamps were written in the exporting machine's local time with no zone; they are read as UTC. */
  localTime?: boolean;
}

/** How many of the first lines detection looks at. */
export const DETECT_LINES = 30;

interface Directives {
  software?: string;
  version?: string;
  logType?: string;
  fields?: string;
  psType?: string;
}

function clean(line: string, first: boolean): string {
  let s = line;
  if (first && s.charCodeAt(0) === 0xfeff) s = s.slice(1);
  if (s.endsWith('\r')) s = s.slice(0, -1);
  return s;
}

/** `#Key: value` (also `# Key: value`) → [lower-case key, value]. */
export function directive(line: string): [string, string] | undefined {
  let i = 1;
  while (i < line.length && line.charCodeAt(i) === 32) i++;
  const colon = line.indexOf(':', i);
  const space = line.indexOf(' ', i);
  if (line.startsWith('TYPE ', i)) return ['type', line.slice(i + 5).trim()];
  if (colon === -1 || (space !== -1 && space < colon)) return undefined;
  return [line.slice(i, colon).toLowerCase(), line.slice(colon + 1).trim()];
}

/** Fields of a `#Fields:` value: comma-separated (Exchange) or space-separated (W3C). */
export function fieldsOf(value: string, format: 'csv' | 'w3c'): string[] {
  if (format === 'w3c') return value.split(/\s+/).filter((f) => f.length > 0);
  return (splitCsv(value) ?? value.split(',')).map((f) => f.trim());
}

/** The Exchange log type a `#Log-type:` names (the descriptors' `exchangeLogTypes`). */
function exchangeType(logType: string): LogType | undefined {
  return exchangeLogType(logType);
}

function buildFrom(version: string | undefined): string | undefined {
  if (!version) return undefined;
  const b = normaliseBuild(version);
  if (!b) return undefined;
  const [, , build, rev] = b.split('.');
  // `15.0.0.0` (ECP, transport) is the log schema's assembly version, not the installed build.
  if (build === '0' && rev === '0') return undefined;
  return b;
}

const W3C_HINTS = new Set(['cs-method', 'cs-uri-stem', 'c-ip', 's-ip', 'sc-status', 'cs(user-agent)']);

function looksW3cFields(fields: string[]): boolean {
  let hints = 0;
  for (const f of fields) if (W3C_HINTS.has(f.toLowerCase())) hints++;
  return hints >= 2;
}

const NAME_RE = /^[\p{L}_][\p{L}\p{N} _()\-.'/]*$/u;

/** Event Viewer CSV headers in English, German and French, mapped to EVENT_FIELDS names. */
const EVENT_CSV_NAMES: ReadonlyMap<string, string> = new Map([
  ['level', 'Level'],
  ['date and time', 'TimeCreated'],
  ['source', 'Source'],
  ['event id', 'EventID'],
  ['task category', 'Task'],
  ['computer', 'Computer'],
  ['user', 'User'],
  ['keywords', 'Keywords'],
  ['message', 'Message'],
  ['description', 'Message'],
  ['ebene', 'Level'],
  ['datum und uhrzeit', 'TimeCreated'],
  ['quelle', 'Source'],
  ['ereignis-id', 'EventID'],
  ['aufgabenkategorie', 'Task'],
  ['niveau', 'Level'],
  ['date et heure', 'TimeCreated'],
  ["id de l'événement", 'EventID'],
  ['catégorie de la tâche', 'Task'],
]);

/** PowerShell `Get-WinEvent | Export-Csv` / Test-ProxyLogon's `-Cve-2021-26857.csv` columns. */
const PS_EVENT_NAMES: ReadonlyMap<string, string> = new Map([
  ['timecreated', 'TimeCreated'],
  ['providername', 'Provider'],
  ['id', 'EventID'],
  ['level', 'Level'],
  ['leveldisplayname', 'LevelName'],
  ['machinename', 'Computer'],
  ['message', 'Message'],
  ['logname', 'Channel'],
  ['recordid', 'EventRecordID'],
  ['taskdisplayname', 'Task'],
  ['keywordsdisplaynames', 'Keywords'],
  ['userid', 'User'],
]);

/** Classify a bare CSV header line. */
export function classifyCsvHeader(line: string): Omit<Detected, 'headerLines'> | undefined {
  const names = splitCsv(line)?.map((n) => n.trim());
  if (!names || names.length < 2) return undefined;
  for (const n of names) if (n.length === 0 || n.length > 64 || !NAME_RE.test(n)) return undefined;
  const lower = names.map((n) => n.toLowerCase());

  const ev = lower.map((n) => EVENT_CSV_NAMES.get(n));
  const evSet = new Set(ev);
  if (evSet.has('Level') && evSet.has('TimeCreated') && evSet.has('Source') && evSet.has('EventID')) {
    const columns = names.map((n, i) => ev[i] ?? n);
    // Event Viewer writes the description as an unnamed last column.
    if (!columns.includes('Message')) columns.push('Message');
    return { type: 'windows-event-csv', format: 'event-csv', columns, sourceColumns: names, localTime: true };
  }
  if (lower.includes('timecreated') && (lower.includes('message') || lower.includes('id'))) {
    const columns = names.map((n, i) => PS_EVENT_NAMES.get(lower[i]!) ?? n);
    return { type: 'windows-event-csv', format: 'event-csv', columns, sourceColumns: names, localTime: true };
  }
  if (lower.length === 4 && lower.every((n, i) => n === ECP_FIELDS[i]!.toLowerCase())) {
    return { type: 'exchange-ecp-server', format: 'csv', columns: [...ECP_FIELDS] };
  }
  let mapped = 0;
  let alias = false;
  let strong = false;
  const columns = names.map((n) => {
    const m = httpProxyName(n);
    if (!m) return n;
    mapped++;
    if (m.alias) alias = true;
    if (m.name === 'UrlStem' || m.name === 'AnchorMailbox') strong = true;
    return m.name;
  });
  if (strong && mapped >= 3 && mapped * 5 >= names.length * 3) {
    const det: Omit<Detected, 'headerLines'> = { type: 'exchange-httpproxy', format: 'csv', columns };
    if (alias) {
      det.reduced = true;
      det.sourceColumns = names;
    } else if (columns.some((c, i) => c !== names[i])) det.sourceColumns = names;
    return det;
  }
  return undefined;
}

const GUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const DATE_RE = /^\d{4}-\d{2}-\d{2}$/;
const TIME_RE = /^\d{2}:\d{2}:\d{2}(\.\d+)?$/;
const METHOD_RE = /^[A-Z][A-Z_-]{1,31}$/;
const DIGITS_RE = /^\d{1,6}$/;

/** A headerless IIS line in Exchange's default field order. */
export function looksIisLine(line: string): boolean {
  const t = splitSpaces(line);
  return (
    t.length >= IIS_DEFAULT_FIELDS.length &&
    DATE_RE.test(t[0]!) &&
    TIME_RE.test(t[1]!) &&
    METHOD_RE.test(t[3]!) &&
    (t[4]!.startsWith('/') || t[4] === '*')
  );
}

/** A headerless HttpProxy row: DateTime, RequestId (GUID), Major/Minor/Build/Revision. */
export function looksHttpProxyRow(line: string): boolean {
  const v = splitCsv(line);
  return (
    v !== undefined &&
    v.length >= HTTPPROXY_MIN_POSITIONAL &&
    v.length <= HTTPPROXY_FIELDS.length &&
    toIsoUtc(v[0]!) !== undefined &&
    GUID_RE.test(v[1]!) &&
    DIGITS_RE.test(v[2]!) &&
    DIGITS_RE.test(v[3]!) &&
    DIGITS_RE.test(v[4]!) &&
    DIGITS_RE.test(v[5]!)
  );
}

/** An ECP data line of the reduced excerpt form: `<ISO timestamp>,S:…` or `<ISO timestamp>,'S:…`. */
function looksEcpReduced(line: string): boolean {
  const c = line.indexOf(',');
  if (c < 16 || toIsoUtc(line.slice(0, c)) === undefined) return false;
  const rest = line.slice(c + 1);
  return /^'?[A-Za-z0-9]{1,4}:[A-Za-z]/.test(rest);
}

const XML_EVENT_RE = /<(?:[A-Za-z_][\w.-]*:)?Events?[\s>/]/;

/**
 * The log type of a file from its first lines: the Microsoft logs' shared evidence first, then the `detect` of
 * every registered descriptor that has one (logtypes/registry.ts), in registry order.
 */
export function detectLog(firstLines: readonly string[]): Detected | undefined {
  const builtin = detectMicrosoft(firstLines);
  if (builtin) return builtin;
  for (const d of logTypes()) {
    if (!d.detect) continue;
    const found = d.detect(firstLines.slice(0, DETECT_LINES));
    if (found) return found;
  }
  return undefined;
}

function detectMicrosoft(firstLines: readonly string[]): Detected | undefined {
  const lines = firstLines.slice(0, DETECT_LINES).map((l, i) => clean(l, i === 0));

  // 1. Windows event XML.
  const firstText = lines.find((l) => l.trim().length > 0)?.trim();
  if (firstText?.startsWith('<')) {
    if (lines.some((l) => XML_EVENT_RE.test(l))) {
      return { type: 'windows-event-xml', format: 'event-xml', columns: [...EVENT_FIELDS], headerLines: 0 };
    }
    return undefined;
  }

  // 2. Directives at the top.
  const d: Directives = {};
  let headerLines = 0;
  let firstData = -1;
  const dataLines: number[] = [];
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    if (line.trim().length === 0) {
      if (firstData === -1) headerLines = i + 1;
      continue;
    }
    if (line.charCodeAt(0) === 35) {
      const kv = directive(line);
      if (firstData === -1) headerLines = i + 1;
      if (!kv) continue;
      const [key, value] = kv;
      if (key === 'software' && d.software === undefined) d.software = value;
      else if (key === 'version' && d.version === undefined) d.version = value;
      else if (key === 'log-type' && d.logType === undefined) d.logType = value;
      else if (key === 'fields' && d.fields === undefined) d.fields = value;
      else if (key === 'type' && d.psType === undefined) d.psType = value;
      continue;
    }
    if (firstData === -1) firstData = i;
    dataLines.push(i);
  }

  const software = d.software?.toLowerCase() ?? '';
  const build = buildFrom(d.version);
  const withBuild = (det: Detected): Detected => (build ? { ...det, build } : det);

  if (software.startsWith('microsoft exchange') && d.logType) {
    const type = exchangeType(d.logType);
    if (!type) return undefined; // another Exchange log (EWS, transport, …): not one the hunt reads
    const base = { type, format: 'csv' as const, logType: d.logType };
    if (d.fields) {
      const columns = fieldsOf(d.fields, 'csv');
      // Import-Csv-style files repeat the column list as a bare header line.
      if (firstData !== -1 && sameNames(lines[firstData]!, columns)) headerLines = firstData + 1;
      return withBuild({ ...base, columns, headerLines });
    }
    if (firstData !== -1) {
      const bare = classifyCsvHeader(lines[firstData]!);
      if (
        bare &&
        (bare.type === type || (type === 'exchange-ecp-activity' && bare.type === 'exchange-ecp-server'))
      ) {
        return withBuild({ ...base, ...bare, type, logType: d.logType, headerLines: firstData + 1 });
      }
    }
    if (type === 'exchange-httpproxy') {
      return withBuild({ ...base, columns: [...HTTPPROXY_FIELDS], headerLines, headerless: true });
    }
    if (type === 'exchange-oabgen') return withBuild({ ...base, columns: [...OABGEN_FIELDS], headerLines });
    // ECP without `#Fields:`: the full four columns, or the reduced `timestamp,EventData` excerpt form.
    const sample = dataLines
      .map((i) => lines[i]!)
      .find((l) => toIsoUtc(l.slice(0, Math.max(0, l.indexOf(',')))));
    if (sample && looksEcpReduced(sample)) {
      return withBuild({
        ...base,
        format: 'ecp-reduced',
        columns: [...ECP_REDUCED_FIELDS],
        headerLines,
        reduced: true,
      });
    }
    return withBuild({ ...base, columns: [...ECP_FIELDS], headerLines });
  }

  const w3cFields = d.fields ? fieldsOf(d.fields, 'w3c') : undefined;
  if (software.includes('internet information services') || (w3cFields && looksW3cFields(w3cFields))) {
    const columns = w3cFields && w3cFields.length > 1 ? w3cFields : [...IIS_DEFAULT_FIELDS];
    const det: Detected = { type: 'iis-w3c', format: 'w3c', columns, headerLines };
    if (d.software) det.logType = d.software;
    return det;
  }
  if (d.fields && !d.software) {
    // A lone comma-separated `#Fields:` line: judge it as a header.
    const bare = classifyCsvHeader(d.fields);
    if (bare) return { ...bare, headerLines };
  }
  if (d.software) return undefined; // some other W3C-style product

  if (firstData === -1) return undefined;

  // 3. A bare CSV header line.
  const header = classifyCsvHeader(lines[firstData]!);
  if (header) return { ...header, headerLines: firstData + 1 };

  // 4. Headerless shapes: the first data line that has one decides (separator lines such as `-----` are skipped).
  for (const i of dataLines.slice(0, 10)) {
    const line = lines[i]!;
    if (looksIisLine(line)) {
      return {
        type: 'iis-w3c',
        format: 'w3c',
        columns: [...IIS_DEFAULT_FIELDS],
        headerLines,
        headerless: true,
      };
    }
    if (looksHttpProxyRow(line)) {
      return {
        type: 'exchange-httpproxy',
        format: 'csv',
        columns: [...HTTPPROXY_FIELDS],
        headerLines,
        headerless: true,
      };
    }
  }
  return undefined;
}

/** Whether a data line is the column list again (as a bare CSV header). */
function sameNames(line: string, columns: readonly string[]): boolean {
  const v = splitCsv(line);
  if (!v || v.length !== columns.length) return false;
  for (let i = 0; i < v.length; i++)
    if (v[i]!.trim().toLowerCase() !== columns[i]!.toLowerCase()) return false;
  return true;
}
