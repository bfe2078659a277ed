/**
 * A targets file for `bulwark scan --targets-file FILE --push URL`: which tenant (customer) each target belongs
 * to, and optionally the existing asset its observations update. One run scans every customer; each result is
 * pushed to its tenant.
 *
 * CSV (any extension but .yaml/.yml/.json): one row per target, `target,tenant[,asset]`; an optional header row
 * names the columns in any order (`tenant,target,asset`); fields may be quoted ("a,b" and "" for a quote); blank
 * lines and lines starting with `#` are skipped.
 *
 * YAML (.yaml, .yml, .json): a list of `{target, tenant, asset?}` maps, or `{targets: [...]}`.
 *
 * Never throws: every problem is one error naming `file:line: field:`.
 */
import { isMap, isScalar, isSeq, LineCounter, type Node, parseDocument } from 'yaml';
import { ID_PATTERN } from '../api/schemas.js';
import { collectTargets, type ParseOptions, type ParseResult, shown, type TargetEntry } from './targets.js';

/** The server's id rule for tenants and assets: the API contract's ID_PATTERN. */
export const TARGET_MAP_ID_PATTERN = ID_PATTERN;
const ID_RE = new RegExp(TARGET_MAP_ID_PATTERN);
const ID_RULE = 'a letter or digit, then letters, digits, . _ : - (at most 128)';

const COLUMNS = ['target', 'tenant', 'asset'] as const;
type Column = (typeof COLUMNS)[number];

/** A row as read, before the target is parsed. */
interface Row {
  line: number;
  target?: string;
  tenant?: string;
  asset?: string;
}

export type TargetMapFormat = 'csv' | 'yaml';

export function targetMapFormat(file: string): TargetMapFormat {
  return /\.(ya?ml|json)$/i.test(file) ? 'yaml' : 'csv';
}

export function parseTargetMap(
  text: string,
  file: string,
  opts: ParseOptions = {},
  format: TargetMapFormat = targetMapFormat(file),
): ParseResult {
  const read = readTargetMap(text, file, format);
  const parsed = collectTargets(read.entries, opts);
  const errors = [...read.errors, ...parsed.errors].sort(byLine);
  if (!errors.length && !parsed.targets.length)
    errors.push(`${file}: no targets (expected rows of target,tenant[,asset])`);
  return { targets: parsed.targets, errors };
}

/**
 * The file's rows as target entries carrying their tenant and asset (parsed into targets by collectTargets, with
 * other lists, so one endpoint given twice anywhere is caught), and the errors of rows that could not be read.
 */
export function readTargetMap(
  text: string,
  file: string,
  format: TargetMapFormat = targetMapFormat(file),
): { entries: TargetEntry[]; errors: string[] } {
  const errors: string[] = [];
  const rows = format === 'yaml' ? readYaml(String(text), file, errors) : readCsv(String(text), file, errors);
  const entries: TargetEntry[] = [];
  for (const row of rows) {
    const where = `${file}:${row.line}: `;
    const before = errors.length;
    const tenant = row.tenant?.trim() ?? '';
    const asset = row.asset?.trim() ?? '';
    const target = row.target?.trim() ?? '';
    if (target === '') errors.push(`${where}target: missing (a host, address, URL or CIDR range)`);
    if (tenant === '') errors.push(`${where}tenant: missing (the tenant id the results are pushed to)`);
    else if (!ID_RE.test(tenant))
      errors.push(`${where}tenant: "${shown(tenant)}" is not a tenant id (${ID_RULE})`);
    if (asset !== '' && !ID_RE.test(asset))
      errors.push(`${where}asset: "${shown(asset)}" is not an asset id (${ID_RULE})`);
    if (errors.length > before) continue;
    entries.push({
      text: target,
      where,
      field: 'target: ',
      tenant,
      ...(asset !== '' ? { asset } : {}),
      origin: `${file}:${row.line}`,
    });
  }
  return { entries, errors: errors.sort(byLine) };
}

/** Errors in file order (`file:line: …`), so the first one printed is the first one in the file. */
export function byLine(a: string, b: string): number {
  const line = (e: string) => Number(/^[^\n]*?:(\d+): /.exec(e)?.[1] ?? 0);
  return line(a) - line(b);
}

// ---------------------------------------------------------------- CSV

function readCsv(text: string, file: string, errors: string[]): Row[] {
  const rows: Row[] = [];
  let columns: Column[] | undefined;
  const lines = text.replace(/^\uFEFF/, '').split(/\r?\n/);
  lines.forEach((raw, i) => {
    const line = i + 1;
    const where = `${file}:${line}: `;
    if (raw.trim() === '' || raw.trimStart().startsWith('#')) return;
    const cells = splitCsvLine(raw);
    if (typeof cells === 'string') {
      errors.push(`${where}${cells}`);
      return;
    }
    const names = cells.map((c) => c.trim().toLowerCase());
    if (columns === undefined && rows.length === 0 && names.includes('target')) {
      const unknown = names.filter((n) => !(COLUMNS as readonly string[]).includes(n));
      const twice = names.filter((n, k) => names.indexOf(n) !== k);
      if (unknown.length)
        errors.push(`${where}header: unknown column "${shown(unknown[0]!)}" (known: ${COLUMNS.join(', ')})`);
      else if (twice.length) errors.push(`${where}header: column "${twice[0]}" appears twice`);
      else if (!names.includes('tenant'))
        errors.push(`${where}header: no tenant column (target,tenant[,asset])`);
      columns = names as Column[];
      return;
    }
    const cols = columns ?? ['target', 'tenant', 'asset'];
    if (cells.length > cols.length || cells.length < 2) {
      errors.push(
        `${where}row: ${cells.length} field(s); expected ${cols.length === 3 && !columns ? 'target,tenant[,asset]' : cols.join(',')}`,
      );
      return;
    }
    const row: Row = { line };
    cells.forEach((cell, k) => {
      row[cols[k]!] = cell;
    });
    rows.push(row);
  });
  return rows;
}

/** RFC 4180 fields of one line; a string is the error (a quote left open, text after a closing quote). */
function splitCsvLine(line: string): string[] | string {
  const out: string[] = [];
  let i = 0;
  for (;;) {
    if (line[i] === '"') {
      let value = '';
      let j = i + 1;
      for (;;) {
        const q = line.indexOf('"', j);
        if (q < 0) return `field ${out.length + 1}: a quoted field is not closed on this line`;
        value += line.slice(j, q);
        if (line[q + 1] === '"') {
          value += '"';
          j = q + 2;
          continue;
        }
        i = q + 1;
        break;
      }
      out.push(value);
      if (i === line.length) return out;
      if (line[i] !== ',') return `field ${out.length}: text after a closing quote (write "" for a quote)`;
      i++;
    } else {
      const c = line.indexOf(',', i);
      const cell = c < 0 ? line.slice(i) : line.slice(i, c);
      if (cell.includes('"'))
        return `field ${out.length + 1}: a quote inside an unquoted field (quote the field)`;
      out.push(cell);
      if (c < 0) return out;
      i = c + 1;
    }
  }
}

// ---------------------------------------------------------------- YAML

function readYaml(text: string, file: string, errors: string[]): Row[] {
  const counter = new LineCounter();
  const doc = parseDocument(text, { lineCounter: counter, prettyErrors: false, uniqueKeys: true });
  const lineOf = (node: Node | null | undefined | unknown, fallback = 1): number => {
    const range = (node as { range?: [number, number, number] } | null)?.range;
    return range ? counter.linePos(range[0]).line : fallback;
  };
  if (doc.errors.length) {
    const e = doc.errors[0]!;
    const line = e.linePos?.[0]?.line ?? counter.linePos(e.pos[0]).line;
    errors.push(`${file}:${line}: yaml: ${e.message.split('\n')[0]}`);
    return [];
  }
  let list: unknown = doc.contents;
  if (isMap(list)) {
    const keys = list.items.map((p) => (isScalar(p.key) ? String(p.key.value) : ''));
    const targets = list.items.find((p) => isScalar(p.key) && p.key.value === 'targets');
    if (!targets || keys.length !== 1) {
      errors.push(
        `${file}:${lineOf(list)}: yaml: expected a list of {target, tenant, asset?} or {targets: [...]}`,
      );
      return [];
    }
    list = targets.value;
  }
  if (!isSeq(list)) {
    errors.push(
      `${file}:${lineOf(list)}: yaml: expected a list of {target, tenant, asset?} or {targets: [...]}`,
    );
    return [];
  }
  const rows: Row[] = [];
  for (const item of list.items) {
    const line = lineOf(item, lineOf(list));
    const where = `${file}:${line}: `;
    if (!isMap(item)) {
      errors.push(`${where}row: expected a map {target, tenant, asset?}`);
      continue;
    }
    const row: Row = { line };
    let bad = false;
    for (const pair of item.items) {
      const key = isScalar(pair.key) ? String(pair.key.value) : '';
      const at = `${file}:${lineOf(pair.key, line)}: `;
      if (!(COLUMNS as readonly string[]).includes(key)) {
        errors.push(`${at}${shown(key) || 'key'}: unknown field (known: ${COLUMNS.join(', ')})`);
        bad = true;
        continue;
      }
      const value = pair.value;
      if (value === null || (isScalar(value) && value.value === null)) continue;
      if (!isScalar(value) || !['string', 'number'].includes(typeof value.value)) {
        errors.push(`${at}${key}: expected text`);
        bad = true;
        continue;
      }
      // Numbers as written (a tenant "007" stays "007").
      row[key as Column] =
        typeof value.value === 'string' ? value.value : (value.source ?? String(value.value));
    }
    if (!bad) rows.push(row);
  }
  return rows;
}
