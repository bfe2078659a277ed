/**
 * One entry for every feed importer: tell the format from the content, run the importer, and check what it
 * produced against the advisory schema and version schemes so a bad conversion is a warning, never a verdict.
 */
import { type Advisory, advisoryValidator, type Catalog, formatPath } from '../../core/index.js';
import { parseAdvisory } from '../load.js';
import { importCsaf } from './csaf.js';
import { importCve5 } from './cve5.js';
import { importCvrf } from './cvrf.js';
import { importKev } from './kev.js';
import { importNvd, isNvdDocument } from './nvd.js';
import { importOsv } from './osv.js';
import { ImportError, type ImportFormat, type ImportResult } from './types.js';

export const IMPORT_FORMATS: readonly ImportFormat[] = ['kev', 'cve5', 'nvd', 'csaf', 'osv', 'cvrf'];

export interface ImportedFile extends Omit<ImportResult, 'advisories'> {
  advisories: Advisory[];
}

/** Tells the format from the content (never from the file name). */
export function detectFormat(text: string): ImportFormat | undefined {
  const head = text.replace(/^\uFEFF/, '').trimStart();
  if (head.startsWith('<')) return /<(\w+:)?cvrfdoc\b/.test(head.slice(0, 4096)) ? 'cvrf' : undefined;
  let doc: unknown;
  try {
    doc = JSON.parse(head);
  } catch {
    return undefined;
  }
  const first = Array.isArray(doc) ? doc[0] : doc;
  if (!first || typeof first !== 'object') return undefined;
  const o = first as Record<string, unknown>;
  if (!Array.isArray(doc) && Array.isArray(o.vulnerabilities) && 'catalogVersion' in o) return 'kev';
  if (o.dataType === 'CVE_RECORD') return 'cve5';
  // Before OSV: an NVD cve object also has a string id (but `lastModified`, not `modified`).
  if (!Array.isArray(doc) && isNvdDocument(o)) return 'nvd';
  if (o.document && typeof o.document === 'object' && 'csaf_version' in (o.document as object)) return 'csaf';
  if (typeof o.id === 'string' && typeof o.modified === 'string') return 'osv';
  return undefined;
}

export function importDocument(
  text: string,
  options: { origin: string; catalogs: readonly Catalog[]; format?: ImportFormat },
): ImportedFile {
  const format = options.format ?? detectFormat(text);
  if (!format) {
    throw new ImportError(
      '',
      `cannot tell the format; pass --format with one of ${IMPORT_FORMATS.join(', ')}`,
    );
  }
  const ctx = { origin: options.origin, catalogs: options.catalogs };
  let result: ImportResult;
  if (format === 'cvrf') {
    result = importCvrf(text.replace(/^\uFEFF/, ''), ctx);
  } else {
    let doc: unknown;
    try {
      doc = JSON.parse(text.replace(/^\uFEFF/, ''));
    } catch (err) {
      throw new ImportError('', `not valid JSON: ${(err as Error).message}`);
    }
    const importer = { kev: importKev, cve5: importCve5, nvd: importNvd, csaf: importCsaf, osv: importOsv }[
      format
    ];
    result = importer(doc, ctx);
  }
  const advisories: Advisory[] = [];
  const warnings = [...result.warnings];
  for (const input of result.advisories) {
    const parsed = advisoryValidator.safeParse(input);
    if (!parsed.success) {
      const issue = parsed.issues[0]!;
      warnings.push({
        path: formatPath(issue.path),
        message: `converted advisory rejected: ${issue.message}`,
      });
      continue;
    }
    try {
      // Same checks as a hand-written file: every version parses under its scheme, no empty range.
      advisories.push(parseAdvisory(JSON.stringify(parsed.data), parsed.data.id));
    } catch (err) {
      warnings.push({
        path: parsed.data.id,
        message: `converted advisory rejected: ${(err as Error).message}`,
      });
    }
  }
  return { ...result, advisories, warnings };
}
