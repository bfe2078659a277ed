/**
 * CISA Known Exploited Vulnerabilities (KEV) catalog importer.
 *
 * The catalog (https://www.cisa.gov/known-exploited-vulnerabilities-catalog, schema
 * `known_exploited_vulnerabilities_schema.json`) does not describe products or versions well enough to be an
 * advisory on its own; it enriches CVEs of other advisories: "exploited in the wild since <dateAdded>, fix by
 * <dueDate>, used by ransomware?". So this importer fills `ImportResult.kev` only, and `applyKev` copies those
 * facts onto advisories.
 *
 * Hand-written checks rather than a schema validator per entry: the real catalog has ~1,400 entries and is re-read
 * on every feed refresh, and a per-entry problem must become a warning naming the entry, not an exception.
 */
import { type AdvisoryInput, isCveId, type Kev } from '../../core/index.js';
import { describeValue as describe, isoDay, isRecord } from './products.js';
import { type ImportContext, ImportError, type ImportResult, type ImportWarning } from './types.js';

const TOP_LEVEL_FIELDS = new Set(['title', 'catalogVersion', 'dateReleased', 'count', 'vulnerabilities']);
const ENTRY_FIELDS = new Set([
  'cveID',
  'vendorProject',
  'product',
  'vulnerabilityName',
  'dateAdded',
  'shortDescription',
  'requiredAction',
  'dueDate',
  'knownRansomwareCampaignUse',
  'notes',
  'cwes',
]);

/** A real calendar date written exactly YYYY-MM-DD (the model's regex alone would accept 2021-02-30). */
function isDate(v: unknown): v is string {
  return typeof v === 'string' && isoDay(v) === v;
}

/**
 * Warnings that would repeat for every entry (a field CISA added, a field older catalogs lack) are reported
 * once with the number of entries, so a real problem is not buried under 1,400 copies of the same note.
 */
class GroupedWarnings {
  private readonly groups = new Map<string, { path: string; message: string; count: number }>();
  add(key: string, path: string, message: string): void {
    const g = this.groups.get(key);
    if (g) g.count++;
    else this.groups.set(key, { path, message, count: 1 });
  }
  flush(into: ImportWarning[]): void {
    for (const g of this.groups.values()) {
      const more = g.count > 1 ? ` (and in ${g.count - 1} more entr${g.count === 2 ? 'y' : 'ies'})` : '';
      into.push({ path: g.path, message: `${g.message}${more}` });
    }
  }
}

/**
 * Reads a parsed CISA KEV catalog. Throws `ImportError` when the document is not a KEV catalog at all; an entry
 * that cannot be used (bad CVE id, date or ransomware flag) is skipped with a warning naming its field.
 */
export function importKev(doc: unknown, _ctx: ImportContext): ImportResult {
  if (!isRecord(doc))
    throw new ImportError(
      '',
      `expected a CISA KEV catalog (a JSON object with catalogVersion and vulnerabilities), got ${describe(doc)}`,
    );
  const { catalogVersion, vulnerabilities, count } = doc;
  if (!Array.isArray(vulnerabilities))
    throw new ImportError(
      'vulnerabilities',
      `expected the array of catalog entries of a CISA KEV catalog, got ${describe(vulnerabilities)}`,
    );
  if (typeof catalogVersion !== 'string' || catalogVersion.trim() === '')
    throw new ImportError(
      'catalogVersion',
      `expected the catalog version of a CISA KEV catalog such as "2025.08.25", got ${describe(catalogVersion)}`,
    );

  const warnings: ImportWarning[] = [];
  for (const key of Object.keys(doc))
    if (!TOP_LEVEL_FIELDS.has(key))
      warnings.push({ path: key, message: 'unknown field of the KEV catalog, ignored' });
  if (count === undefined)
    warnings.push({ path: 'count', message: 'missing; cannot check that the catalog is complete' });
  else if (typeof count !== 'number' || !Number.isInteger(count) || count < 0)
    warnings.push({ path: 'count', message: `expected an entry count, got ${describe(count)}; not checked` });
  else if (count !== vulnerabilities.length)
    warnings.push({
      path: 'count',
      message: `the catalog says ${count} entries but lists ${vulnerabilities.length}; it may be truncated`,
    });

  const source = `CISA KEV catalog ${catalogVersion.trim()}`;
  const kev = new Map<string, Kev>();
  const grouped = new GroupedWarnings();

  for (let i = 0; i < vulnerabilities.length; i++) {
    const entry: unknown = vulnerabilities[i];
    const at = `vulnerabilities[${i}]`;
    if (!isRecord(entry)) {
      warnings.push({
        path: at,
        message: `expected a catalog entry object, got ${describe(entry)}; skipped`,
      });
      continue;
    }
    const { cveID, dateAdded, dueDate, knownRansomwareCampaignUse: ransom, requiredAction } = entry;
    if (typeof cveID !== 'string' || !isCveId(cveID)) {
      warnings.push({
        path: `${at}.cveID`,
        message: `expected a CVE id such as CVE-2021-26855, got ${describe(cveID)}; entry skipped`,
      });
      continue;
    }
    if (!isDate(dateAdded)) {
      warnings.push({
        path: `${at}.dateAdded`,
        message: `${cveID}: expected a date as YYYY-MM-DD, got ${describe(dateAdded)}; entry skipped`,
      });
      continue;
    }
    if (!isDate(dueDate)) {
      warnings.push({
        path: `${at}.dueDate`,
        message: `${cveID}: expected a date as YYYY-MM-DD, got ${describe(dueDate)}; entry skipped`,
      });
      continue;
    }
    let ransomware: Kev['ransomware'];
    if (ransom === undefined) {
      // Catalogs before late 2023 had no such field; CISA's own meaning of "Unknown" is "not confirmed".
      ransomware = 'unknown';
      grouped.add(
        'ransom-missing',
        `${at}.knownRansomwareCampaignUse`,
        `${cveID}: missing; recorded as "unknown" (not confirmed)`,
      );
    } else if (typeof ransom === 'string' && /^(known|unknown)$/i.test(ransom.trim())) {
      ransomware = ransom.trim().toLowerCase() as Kev['ransomware'];
    } else {
      warnings.push({
        path: `${at}.knownRansomwareCampaignUse`,
        message: `${cveID}: expected "Known" or "Unknown", got ${describe(ransom)}; entry skipped`,
      });
      continue;
    }
    if (kev.has(cveID)) {
      warnings.push({
        path: `${at}.cveID`,
        message: `${cveID} is listed twice; the first entry is kept, this one skipped`,
      });
      continue;
    }

    const item: Kev = { date_added: dateAdded, due_date: dueDate, ransomware, source };
    if (typeof requiredAction === 'string' && requiredAction.trim() !== '')
      item.required_action = requiredAction.trim();
    else
      grouped.add(
        'action-missing',
        `${at}.requiredAction`,
        `${cveID}: expected the required action text, got ${describe(requiredAction)}; kept without it`,
      );
    for (const key of Object.keys(entry))
      if (!ENTRY_FIELDS.has(key))
        grouped.add(`unknown:${key}`, `${at}.${key}`, 'unknown field of a KEV entry, ignored');
    kev.set(cveID, item);
  }
  grouped.flush(warnings);

  return { format: 'kev', advisories: [], kev, warnings };
}

/**
 * Returns copies of the advisories with `cves[].kev` set from the catalog, and the CVE ids that were enriched
 * (each once, in order of first appearance). The inputs are not modified; advisories without a catalogued
 * CVE are returned as they are.
 *
 * The catalog wins over KEV data an advisory already carries: the catalog is CISA's current word (due dates
 * and the ransomware flag change after publication), while a pack or older import holds a snapshot.
 */
export function applyKev<A extends AdvisoryInput>(
  advisories: readonly A[],
  kev: ReadonlyMap<string, Kev>,
): { advisories: A[]; enriched: string[] } {
  const enriched = new Set<string>();
  const out = advisories.map((advisory) => {
    if (!advisory.cves.some((c) => kev.has(c.id))) return advisory;
    const cves = advisory.cves.map((cve) => {
      const entry = kev.get(cve.id);
      if (!entry) return cve;
      enriched.add(cve.id);
      return { ...cve, kev: { ...entry } };
    });
    return { ...advisory, cves };
  });
  return { advisories: out, enriched: [...enriched] };
}
