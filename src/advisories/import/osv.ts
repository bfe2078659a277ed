/**
 * OSV (https://ossf.github.io/osv-schema/) importer: one record, or an array of records, → one Bulwark advisory
 * per record.
 *
 * What OSV can say that Bulwark cannot, and what happens to it (each case is a warning naming the field):
 * - records without any CVE id (MAL-, most PYSEC-only or RHSA-with-`related` records): skipped, because a
 *   Bulwark advisory is about at least one CVE. `related` ids are not used: the OSV spec defines them as
 *   *different* vulnerabilities.
 * - withdrawn records: imported for reference with "(withdrawn <date>)" in the title but **without affected
 *   entries**, so they never produce an exposure verdict (osv.dev does not match withdrawn records either).
 * - GIT ranges (commits are not versions), ECOSYSTEM ranges of ecosystems whose version order Bulwark does not
 *   implement (PyPI, Maven, Alpine, …), and versions that do not parse in the chosen scheme: the range is
 *   skipped. An affected entry left with nothing is skipped.
 * - `limit` events: ignored. They only narrow a range, so ignoring them can widen the affected set but never
 *   hide an affected version.
 * - CVSS v4 (and v2) vectors: not stored, since the model needs a score and Bulwark computes only v3.x scores.
 */
import {
  type AdvisoryInput,
  advisorySchema,
  productId,
  referenceSchema,
  type Reference,
} from '../../core/advisory/model.js';
import { compareVersions, parseVersion } from '../../core/versions/index.js';
import type { SchemeId } from '../../core/versions/scheme.js';
import { isCalendarDate } from './kev.js';
import { parsePurl } from './products.js';
import { ImportError, type ImportContext, type ImportResult, type ImportWarning } from './types.js';

type AffectedInput = NonNullable<AdvisoryInput['affected']>[number];
type RangeInput = NonNullable<AffectedInput['ranges']>[number];
type CveInput = AdvisoryInput['cves'][number];
type Cvss = NonNullable<CveInput['cvss']>;

const CVE_ID = /^CVE-\d{4}-\d{4,}$/i;
const CWE_ID = /^CWE-\d+$/;
const TIMESTAMP_DATE = /^(\d{4}-\d{2}-\d{2})T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/;

const RECORD_FIELDS = new Set([
  'schema_version',
  'id',
  'modified',
  'published',
  'withdrawn',
  'aliases',
  'related',
  'upstream',
  'summary',
  'details',
  'severity',
  'affected',
  'references',
  'credits',
  'database_specific',
]);
const AFFECTED_FIELDS = new Set([
  'package',
  'severity',
  'ranges',
  'versions',
  'ecosystem_specific',
  'database_specific',
]);
const PACKAGE_FIELDS = new Set(['ecosystem', 'name', 'purl']);
const RANGE_FIELDS = new Set(['type', 'repo', 'events', 'database_specific']);
const EVENT_KINDS = ['introduced', 'fixed', 'last_affected', 'limit'] as const;
type EventKind = (typeof EVENT_KINDS)[number];

/**
 * How Bulwark reads each OSV ecosystem: the purl type (and namespace) of its packages, and the version scheme of
 * its ECOSYSTEM ranges. `semver?` = the ecosystem mostly uses SemVer without enforcing it: each version is tried
 * as SemVer and a range with a version that is not is skipped. No scheme = ECOSYSTEM ranges are skipped.
 */
const ECOSYSTEMS: ReadonlyMap<string, { purl: string; scheme?: SchemeId | 'semver?' }> = new Map([
  ['npm', { purl: 'npm', scheme: 'semver?' }],
  ['crates.io', { purl: 'cargo', scheme: 'semver?' }],
  ['Go', { purl: 'golang', scheme: 'semver?' }],
  ['Hex', { purl: 'hex', scheme: 'semver?' }],
  ['NuGet', { purl: 'nuget', scheme: 'semver?' }],
  ['Packagist', { purl: 'composer', scheme: 'semver?' }],
  ['RubyGems', { purl: 'gem', scheme: 'semver?' }],
  ['Pub', { purl: 'pub', scheme: 'semver?' }],
  ['SwiftURL', { purl: 'swift', scheme: 'semver?' }],
  ['Debian', { purl: 'deb/debian', scheme: 'dpkg' }],
  ['Ubuntu', { purl: 'deb/ubuntu', scheme: 'dpkg' }],
  ['Red Hat', { purl: 'rpm/redhat', scheme: 'rpm' }],
  ['AlmaLinux', { purl: 'rpm/almalinux', scheme: 'rpm' }],
  ['Rocky Linux', { purl: 'rpm/rocky-linux', scheme: 'rpm' }],
  ['openSUSE', { purl: 'rpm/opensuse', scheme: 'rpm' }],
  ['SUSE', { purl: 'rpm/suse', scheme: 'rpm' }],
  ['openEuler', { purl: 'rpm/openeuler', scheme: 'rpm' }],
  ['Mageia', { purl: 'rpm/mageia', scheme: 'rpm' }],
  ['Photon OS', { purl: 'rpm/photon', scheme: 'rpm' }],
  ['Azure Linux', { purl: 'rpm/azure-linux', scheme: 'rpm' }],
  ['PyPI', { purl: 'pypi' }],
  ['Maven', { purl: 'maven' }],
  ['Alpine', { purl: 'apk/alpine' }],
  ['Alpaquita', { purl: 'apk/alpaquita' }],
  ['Wolfi', { purl: 'apk/wolfi' }],
  ['Chainguard', { purl: 'apk/chainguard' }],
  ['Hackage', { purl: 'hackage' }],
  ['CRAN', { purl: 'cran' }],
  ['Bioconductor', { purl: 'bioconductor' }],
  ['ConanCenter', { purl: 'conan' }],
  ['GitHub Actions', { purl: 'github' }],
  ['Bitnami', { purl: 'bitnami' }],
  ['Julia', { purl: 'julia' }],
  ['opam', { purl: 'opam' }],
]);
/** Ecosystems of the OSV schema without a purl type of their own: `pkg:generic/<ecosystem>/<name>`. */
const GENERIC_ECOSYSTEMS = new Set([
  'Android',
  'BellSoft Hardened Containers',
  'CleanStart',
  'Docker Hardened Images',
  'Echo',
  'FreeBSD',
  'GHC',
  'GIT',
  'Kubernetes',
  'Linux',
  'MinimOS',
  'OSS-Fuzz',
  'Root',
  'TuxCare',
  'VSCode',
]);

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function describe(v: unknown): string {
  if (v === undefined) return 'missing';
  if (typeof v === 'string') return JSON.stringify(v.length > 60 ? `${v.slice(0, 60)}…` : v);
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  return typeof v === 'object' ? 'an object' : `${typeof v} ${String(v)}`;
}

function join(base: string, path: string): string {
  if (!base) return path;
  if (!path) return base;
  return path.startsWith('[') ? `${base}${path}` : `${base}.${path}`;
}

/** Why a value is not an OSV record (the schema requires string `id` and `modified`), or undefined if it is. */
function notARecord(v: unknown): { path: string; message: string } | undefined {
  if (!isRecord(v)) return { path: '', message: `expected an OSV record (a JSON object), got ${describe(v)}` };
  if (typeof v.id !== 'string' || v.id.trim() === '')
    return { path: 'id', message: `expected the id of an OSV record such as GHSA-…, got ${describe(v.id)}` };
  if (typeof v.modified !== 'string')
    return {
      path: 'modified',
      message: `expected the modification time of an OSV record, got ${describe(v.modified)}`,
    };
  return undefined;
}

/**
 * Reads one parsed OSV record or an array of them. Throws `ImportError` when the document is not OSV at all;
 * within an array, an element that is not a record is skipped with a warning (unless none is a record).
 */
export function importOsv(doc: unknown, ctx: ImportContext): ImportResult {
  const warnings: ImportWarning[] = [];
  const advisories: AdvisoryInput[] = [];
  if (Array.isArray(doc)) {
    let records = 0;
    for (let i = 0; i < doc.length; i++) {
      const at = `[${i}]`;
      const problem = notARecord(doc[i]);
      if (problem) {
        warnings.push({ path: join(at, problem.path), message: `${problem.message}; skipped` });
        continue;
      }
      records++;
      const advisory = importRecord(doc[i] as Record<string, unknown>, at, `${ctx.origin}${at}`, warnings);
      if (advisory) advisories.push(advisory);
    }
    if (doc.length > 0 && records === 0)
      throw new ImportError('', `none of the ${doc.length} array elements is an OSV record (with id and modified)`);
  } else {
    const problem = notARecord(doc);
    if (problem) throw new ImportError(problem.path, problem.message);
    const advisory = importRecord(doc as Record<string, unknown>, '', ctx.origin, warnings);
    if (advisory) advisories.push(advisory);
  }
  return { format: 'osv', advisories, kev: new Map(), warnings };
}

/** The list at `rec[key]` (absent and null are empty); anything else is warned about and treated as empty. */
function listField(rec: Record<string, unknown>, key: string, warn: (path: string, msg: string) => void): unknown[] {
  const v = rec[key];
  if (v === undefined || v === null) return [];
  if (Array.isArray(v)) return v;
  warn(key, `expected a list, got ${describe(v)}; ignored`);
  return [];
}

/** The list of strings at `rec[key]`; non-strings are warned about and dropped. */
function stringList(rec: Record<string, unknown>, key: string, warn: (path: string, msg: string) => void): string[] {
  const out: string[] = [];
  listField(rec, key, warn).forEach((v, i) => {
    if (typeof v === 'string') out.push(v);
    else warn(`${key}[${i}]`, `expected a string, got ${describe(v)}; ignored`);
  });
  return out;
}

function dateOf(timestamp: unknown): string | undefined {
  if (typeof timestamp !== 'string') return undefined;
  const m = TIMESTAMP_DATE.exec(timestamp.trim());
  return m && isCalendarDate(m[1]!) ? m[1] : undefined;
}

/** Lower-case advisory id from an OSV id: `RHSA-2024:4546` → `rhsa-2024-4546`. */
export function advisoryIdFromOsv(id: string): string {
  return id
    .trim()
    .toLowerCase()
    .replace(/[^a-z0-9._-]+/g, '-')
    .replace(/^[^a-z0-9]+/, '')
    .replace(/[-_.]+$/, '');
}

function oneLine(text: string): string {
  return text.replace(/\s+/g, ' ').trim();
}

function firstParagraph(text: string): string {
  for (const para of text.split(/\n\s*\n/)) {
    const line = oneLine(para);
    if (line) return line;
  }
  return '';
}

function truncate(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, max - 1).trimEnd()}…`;
}

function importRecord(
  rec: Record<string, unknown>,
  at: string,
  origin: string,
  warnings: ImportWarning[],
): AdvisoryInput | undefined {
  const warn = (path: string, message: string) => warnings.push({ path: join(at, path), message });
  const osvId = (rec.id as string).trim();
  const skip = (path: string, why: string): undefined => {
    warn(path, `${osvId}: ${why}; record skipped`);
    return undefined;
  };

  for (const key of Object.keys(rec))
    if (!RECORD_FIELDS.has(key)) warn(key, 'unknown field of an OSV record, ignored');
  const sv = rec.schema_version;
  if (sv !== undefined && (typeof sv !== 'string' || !/^1(\.|$)/.test(sv)))
    warn('schema_version', `expected an OSV 1.x schema version, got ${describe(sv)}; read as OSV 1.x`);

  const id = advisoryIdFromOsv(osvId);
  if (!id) return skip('id', 'cannot make a Bulwark advisory id from it');

  // CVEs: the record's own id, its aliases (the same vulnerability) and its upstream ids (what a distribution
  // advisory fixes). `sameVuln` are the ones the record's severity and CWEs describe.
  const cveIds: string[] = [];
  const sameVuln = new Set<string>();
  const addCve = (text: string, same: boolean) => {
    const t = text.trim();
    if (!CVE_ID.test(t)) return;
    const cve = t.toUpperCase();
    if (!cveIds.includes(cve)) cveIds.push(cve);
    if (same) sameVuln.add(cve);
  };
  addCve(osvId, true);
  for (const a of stringList(rec, 'aliases', warn)) addCve(a, true);
  for (const u of stringList(rec, 'upstream', warn)) addCve(u, false);
  if (cveIds.length === 0) {
    const related = stringList(rec, 'related', warn).filter((r) => CVE_ID.test(r.trim()));
    const note = related.length
      ? ` (related lists ${related.slice(0, 3).join(', ')}${related.length > 3 ? ', …' : ''}, which the OSV spec defines as different vulnerabilities)`
      : '';
    return skip('aliases', `no CVE id in id, aliases or upstream${note}; a Bulwark advisory needs at least one CVE`);
  }
  // A distribution advisory about a single upstream CVE scores that CVE; with several, it is unclear which.
  if (sameVuln.size === 0 && cveIds.length === 1) sameVuln.add(cveIds[0]!);

  // Texts.
  const summaryText = typeof rec.summary === 'string' ? oneLine(rec.summary) : '';
  if (rec.summary !== undefined && typeof rec.summary !== 'string')
    warn('summary', `expected text, got ${describe(rec.summary)}; ignored`);
  const detailsText = typeof rec.details === 'string' ? firstParagraph(rec.details) : '';
  if (rec.details !== undefined && typeof rec.details !== 'string')
    warn('details', `expected text, got ${describe(rec.details)}; ignored`);
  let title = summaryText || truncate(detailsText, 120);
  const summary = summaryText || detailsText || title;
  if (!title) {
    warn('summary', `${osvId}: neither summary nor details given; the id is used as title and summary`);
    title = osvId;
  }

  // Dates.
  let published = dateOf(rec.published);
  if (!published) {
    published = dateOf(rec.modified);
    if (!published) return skip('published', `no valid published or modified timestamp (got ${describe(rec.published)})`);
    warn('published', `${osvId}: expected an RFC 3339 timestamp, got ${describe(rec.published)}; the modified date is used`);
  }
  let withdrawn: string | undefined;
  if (rec.withdrawn !== undefined) {
    withdrawn = dateOf(rec.withdrawn);
    if (!withdrawn) {
      warn('withdrawn', `expected an RFC 3339 timestamp, got ${describe(rec.withdrawn)}; treated as withdrawn`);
      withdrawn = 'date unknown';
    }
    title = `${title} (withdrawn ${withdrawn})`;
  }

  // Severity and weaknesses, for the CVEs the record is about.
  const cvss = severityOf(rec, warn);
  const cwes = cwesOf(rec, warn);
  const cves: CveInput[] = cveIds.map((cveId) => {
    const cve: CveInput = { id: cveId, cwe: [] };
    if (sameVuln.has(cveId)) {
      if (cvss) cve.cvss = { ...cvss };
      cve.cwe = [...cwes];
    }
    return cve;
  });

  const references = referencesOf(rec, warn);

  let affected: AffectedInput[] = [];
  const rawAffected = listField(rec, 'affected', warn);
  if (withdrawn) {
    if (rawAffected.length)
      warn(
        'withdrawn',
        `${osvId} was withdrawn on ${withdrawn}: imported for reference without its ${rawAffected.length} affected entries, so it yields no exposure verdicts`,
      );
    else warn('withdrawn', `${osvId} was withdrawn on ${withdrawn}: imported for reference only`);
  } else {
    affected = rawAffected.flatMap((entry, i) => affectedOf(entry, `affected[${i}]`, cveIds, warn));
  }

  const advisory: AdvisoryInput = {
    schema_version: 1,
    id,
    title,
    summary,
    published,
    origin: `OSV ${origin}`,
    cves,
    affected,
    references,
  };
  // Last line of defence: whatever the input, never hand out an advisory the rest of Bulwark would reject.
  const checked = advisorySchema.safeParse(advisory);
  if (!checked.success) {
    const issue = checked.error.issues[0]!;
    return skip('', `the advisory made from it is invalid at ${issue.path.join('.')} (${issue.message})`);
  }
  return checked.data;
}

// ---------------------------------------------------------------------------------------------------------
// Severity

const CVSS3_VALUES: Readonly<Record<string, RegExp>> = {
  AV: /^[NALP]$/,
  AC: /^[LH]$/,
  PR: /^[NLH]$/,
  UI: /^[NR]$/,
  S: /^[UC]$/,
  C: /^[HLN]$/,
  I: /^[HLN]$/,
  A: /^[HLN]$/,
  E: /^[XUPFH]$/,
  RL: /^[XOTWU]$/,
  RC: /^[XURC]$/,
  CR: /^[XLMH]$/,
  IR: /^[XLMH]$/,
  AR: /^[XLMH]$/,
  MAV: /^[XNALP]$/,
  MAC: /^[XLH]$/,
  MPR: /^[XNLH]$/,
  MUI: /^[XNR]$/,
  MS: /^[XUC]$/,
  MC: /^[XNLH]$/,
  MI: /^[XNLH]$/,
  MA: /^[XNLH]$/,
};
const CVSS3_BASE = ['AV', 'AC', 'PR', 'UI', 'S', 'C', 'I', 'A'] as const;
const W_AV: Record<string, number> = { N: 0.85, A: 0.62, L: 0.55, P: 0.2 };
const W_AC: Record<string, number> = { L: 0.77, H: 0.44 };
const W_UI: Record<string, number> = { N: 0.85, R: 0.62 };
const W_CIA: Record<string, number> = { H: 0.56, L: 0.22, N: 0 };

/** CVSS v3.1 specification, Appendix A: round up to one decimal, free of floating-point artefacts. */
function roundup(x: number): number {
  const i = Math.round(x * 100000);
  return i % 10000 === 0 ? i / 100000 : (Math.floor(i / 10000) + 1) / 10;
}

/**
 * Base score of a CVSS v3.0/v3.1 vector (`CVSS:3.1/AV:N/AC:L/…`), by the formula of the FIRST CVSS v3.1
 * specification, section 7.1 (v3.0 has the same base formula; its looser roundup is the same function without
 * the floating-point fix). Temporal and environmental metrics are validated but do not change the base score.
 */
export function cvss3BaseScore(
  vector: string,
): { ok: true; version: '3.0' | '3.1'; score: number } | { ok: false; error: string } {
  const m = /^CVSS:3\.([01])\/(.+)$/.exec(vector);
  if (!m) return { ok: false, error: 'expected a vector starting with CVSS:3.0/ or CVSS:3.1/' };
  const metrics = new Map<string, string>();
  for (const part of m[2]!.split('/')) {
    const [key, value, extra] = part.split(':');
    const allowed = key === undefined ? undefined : CVSS3_VALUES[key];
    if (!allowed || !Object.hasOwn(CVSS3_VALUES, key!) || value === undefined || extra !== undefined)
      return { ok: false, error: `unknown metric ${JSON.stringify(part)}` };
    if (!allowed.test(value)) return { ok: false, error: `invalid value in ${JSON.stringify(part)}` };
    if (metrics.has(key!)) return { ok: false, error: `metric ${key} given twice` };
    metrics.set(key!, value);
  }
  const missing = CVSS3_BASE.filter((k) => !metrics.has(k));
  if (missing.length) return { ok: false, error: `base metric${missing.length > 1 ? 's' : ''} ${missing.join(', ')} missing` };
  const get = (k: (typeof CVSS3_BASE)[number]) => metrics.get(k)!;
  const changed = get('S') === 'C';
  const pr = { N: 0.85, L: changed ? 0.68 : 0.62, H: changed ? 0.5 : 0.27 }[get('PR') as 'N' | 'L' | 'H'];
  const iss = 1 - (1 - W_CIA[get('C')]!) * (1 - W_CIA[get('I')]!) * (1 - W_CIA[get('A')]!);
  const impact = changed ? 7.52 * (iss - 0.029) - 3.25 * (iss - 0.02) ** 15 : 6.42 * iss;
  const exploitability = 8.22 * W_AV[get('AV')]! * W_AC[get('AC')]! * pr * W_UI[get('UI')]!;
  const version = m[1] === '0' ? '3.0' : '3.1';
  if (impact <= 0) return { ok: true, version, score: 0 };
  const raw = changed ? 1.08 * (impact + exploitability) : impact + exploitability;
  return { ok: true, version, score: roundup(Math.min(raw, 10)) };
}

function severityOf(rec: Record<string, unknown>, warn: (path: string, msg: string) => void): Cvss | undefined {
  let chosen: Cvss | undefined;
  listField(rec, 'severity', warn).forEach((s, i) => {
    const at = `severity[${i}]`;
    if (!isRecord(s) || typeof s.type !== 'string' || typeof s.score !== 'string') {
      warn(at, 'expected {type, score} strings; ignored');
      return;
    }
    const vector = s.score.trim();
    switch (s.type) {
      case 'CVSS_V3': {
        const r = cvss3BaseScore(vector);
        if (!r.ok) warn(`${at}.score`, `not a valid CVSS v3 vector (${r.error}); ignored`);
        else if (chosen) warn(at, 'a second CVSS v3 vector; the first one is kept');
        else chosen = { version: r.version, vector, score: r.score };
        break;
      }
      case 'CVSS_V4':
        warn(at, 'CVSS v4 vector not stored: Bulwark does not compute v4 scores and a CVSS entry needs a score');
        break;
      case 'CVSS_V2':
        warn(at, 'CVSS v2 vector not stored: Bulwark computes scores for CVSS v3 only');
        break;
      default:
        warn(`${at}.type`, `severity type ${describe(s.type)} is not a CVSS vector; ignored`);
    }
  });
  return chosen;
}

function cwesOf(rec: Record<string, unknown>, warn: (path: string, msg: string) => void): string[] {
  const out: string[] = [];
  const add = (v: unknown, path: string) => {
    if (typeof v === 'string' && CWE_ID.test(v.trim())) {
      if (!out.includes(v.trim())) out.push(v.trim());
    } else warn(path, `expected a CWE id such as CWE-79, got ${describe(v)}; ignored`);
  };
  const db = rec.database_specific;
  if (isRecord(db) && db.cwe_ids !== undefined) {
    if (Array.isArray(db.cwe_ids)) db.cwe_ids.forEach((c, i) => add(c, `database_specific.cwe_ids[${i}]`));
    else warn('database_specific.cwe_ids', `expected a list, got ${describe(db.cwe_ids)}; ignored`);
  }
  // GitHub's converter puts them per affected entry: database_specific.cwes[{cweId, …}].
  const affected = rec.affected;
  if (Array.isArray(affected))
    affected.forEach((a, i) => {
      const cwes = isRecord(a) && isRecord(a.database_specific) ? a.database_specific.cwes : undefined;
      if (Array.isArray(cwes))
        cwes.forEach((c, j) => {
          add(isRecord(c) ? c.cweId : c, `affected[${i}].database_specific.cwes[${j}].cweId`);
        });
    });
  return out;
}

// ---------------------------------------------------------------------------------------------------------
// References

const REFERENCE_TYPES = new Set([
  'ADVISORY',
  'ARTICLE',
  'DETECTION',
  'DISCUSSION',
  'REPORT',
  'FIX',
  'INTRODUCED',
  'GIT',
  'PACKAGE',
  'EVIDENCE',
  'WEB',
]);

function referenceKind(type: string, url: string): Reference['kind'] {
  if (/^https?:\/\/(www\.)?cisa\.gov\/known-exploited-vulnerabilities/i.test(url)) return 'kev';
  if (/^https?:\/\/(nvd\.nist\.gov|(www\.)?cve\.org|cve\.mitre\.org)\//i.test(url)) return 'cve';
  switch (type) {
    case 'ADVISORY':
      return 'vendor';
    case 'ARTICLE':
    case 'DISCUSSION':
      return 'article';
    case 'EVIDENCE':
      return 'research';
    case 'DETECTION':
      return 'tool';
    default:
      return undefined;
  }
}

function referencesOf(rec: Record<string, unknown>, warn: (path: string, msg: string) => void): Reference[] {
  const out: Reference[] = [];
  const seen = new Set<string>();
  listField(rec, 'references', warn).forEach((r, i) => {
    const at = `references[${i}]`;
    if (!isRecord(r) || typeof r.url !== 'string') {
      warn(at, 'expected {type, url}; ignored');
      return;
    }
    const url = r.url.trim();
    if (seen.has(url)) return; // the same link under several types (ADVISORY and WEB, …): kept once
    let type = typeof r.type === 'string' ? r.type : '';
    if (!REFERENCE_TYPES.has(type)) {
      warn(`${at}.type`, `unknown reference type ${describe(r.type)}; kept as a plain link`);
      type = '';
    }
    const ref: Reference = { url };
    const kind = referenceKind(type, url);
    if (kind) ref.kind = kind;
    if (type && type !== 'WEB') ref.title = `${type[0]}${type.slice(1).toLowerCase().replace('_', ' ')}`;
    const checked = referenceSchema.safeParse(ref);
    if (!checked.success) {
      warn(`${at}.url`, `not an http(s) URL: ${describe(r.url)}; ignored`);
      return;
    }
    seen.add(url);
    out.push(checked.data);
  });
  return out;
}

// ---------------------------------------------------------------------------------------------------------
// Affected packages

/** Characters a Bulwark product id cannot hold (`productId`), percent-encoded; everything else kept as is. */
function encodeSegment(s: string): string {
  return s.replace(/[\s@?#%/]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase().padStart(2, '0')}`);
}

/**
 * Bulwark product id from a package URL. Same id as `productFromPurl` (products.ts) for ordinary names, but
 * re-encodes what `productId` forbids (`@` of npm scopes, spaces), which productFromPurl leaves decoded.
 */
function productFromPackageUrl(purl: string): string | undefined {
  const p = parsePurl(purl);
  if (!p) return undefined;
  const segments = [...(p.namespace ? p.namespace.split('/') : []), p.name].map(encodeSegment);
  return `pkg:${p.type}/${segments.join('/')}`.toLowerCase();
}

function productFromEcosystem(ecosystem: string, name: string): string | undefined {
  const eco = ECOSYSTEMS.get(ecosystem);
  let type: string;
  let path = name.trim();
  if (eco) type = eco.purl;
  else if (GENERIC_ECOSYSTEMS.has(ecosystem)) type = `generic/${ecosystem.toLowerCase().replace(/\s+/g, '-')}`;
  else return undefined;
  if (type === 'maven') path = path.replace(':', '/');
  else if (type === 'pypi') path = path.toLowerCase().replace(/[-_.]+/g, '-');
  const segments = path.split('/').filter(Boolean);
  if (segments.length === 0) return undefined;
  return `pkg:${type}/${segments.map(encodeSegment).join('/')}`.toLowerCase();
}

interface OsvEvent {
  kind: EventKind;
  version: string;
  index: number;
}

/** One OSV range → Bulwark ranges, or undefined (with warnings) when it cannot be used. */
function rangesOf(
  range: unknown,
  at: string,
  ecosystem: string,
  warn: (path: string, msg: string) => void,
): { scheme: SchemeId; ranges: RangeInput[] } | undefined {
  if (!isRecord(range)) {
    warn(at, `expected a range object, got ${describe(range)}; skipped`);
    return undefined;
  }
  for (const key of Object.keys(range))
    if (!RANGE_FIELDS.has(key)) warn(`${at}.${key}`, 'unknown field of an OSV range, ignored');
  if (!Array.isArray(range.events) || range.events.length === 0) {
    warn(`${at}.events`, `expected a non-empty list of events, got ${describe(range.events)}; range skipped`);
    return undefined;
  }
  const events: OsvEvent[] = [];
  for (let k = 0; k < range.events.length; k++) {
    const e: unknown = range.events[k];
    const kinds = isRecord(e) ? EVENT_KINDS.filter((kind) => Object.hasOwn(e, kind)) : [];
    const version = isRecord(e) && kinds.length === 1 ? e[kinds[0]!] : undefined;
    if (kinds.length !== 1 || typeof version !== 'string' || version.trim() === '') {
      warn(
        `${at}.events[${k}]`,
        'expected exactly one of introduced, fixed, last_affected or limit with a version string; range skipped',
      );
      return undefined;
    }
    events.push({ kind: kinds[0]!, version: version.trim(), index: k });
  }
  if (!events.some((e) => e.kind === 'introduced')) {
    warn(`${at}.events`, 'no introduced event (the OSV schema requires one); range skipped');
    return undefined;
  }

  const type = range.type;
  let scheme: SchemeId;
  let guessed = false;
  if (type === 'GIT') {
    warn(at, 'GIT range skipped: commits are not versions Bulwark can compare');
    return undefined;
  } else if (type === 'SEMVER') scheme = 'semver';
  else if (type === 'ECOSYSTEM') {
    const s = ECOSYSTEMS.get(ecosystem)?.scheme;
    if (!s) {
      warn(at, `ECOSYSTEM range skipped: Bulwark has no version order for ${ecosystem} versions`);
      return undefined;
    }
    guessed = s === 'semver?';
    scheme = s === 'semver?' ? 'semver' : s;
  } else {
    warn(`${at}.type`, `unknown range type ${describe(type)}; range skipped`);
    return undefined;
  }

  let usable = true;
  for (const e of events) {
    if (e.kind === 'introduced' && e.version === '0') continue;
    const parsed = parseVersion(scheme, e.version);
    if (!parsed.ok) {
      usable = false;
      const why = guessed ? `${ecosystem} versions are read as SemVer, and this one is not` : parsed.error;
      warn(`${at}.events[${e.index}].${e.kind}`, `"${e.version}" is not a ${scheme} version (${why})`);
    }
  }
  if (!usable) {
    warn(at, 'range skipped: not all its versions could be read');
    return undefined;
  }
  if (events.some((e) => e.kind === 'limit'))
    warn(
      at,
      'limit events ignored: Bulwark ranges have no upper limit; ignoring one can only widen the affected set',
    );
  if (events.some((e) => e.kind === 'fixed') && events.some((e) => e.kind === 'last_affected'))
    warn(at, 'fixed and last_affected in one range (the OSV schema forbids this); both are used');

  // OSV evaluates events in version order, not list order (osv-schema "Evaluation"); equal versions keep
  // their list order. "introduced: 0" sorts before everything.
  const ordered = events
    .filter((e) => e.kind !== 'limit')
    .sort((a, b) => {
      const a0 = a.kind === 'introduced' && a.version === '0';
      const b0 = b.kind === 'introduced' && b.version === '0';
      if (a0 || b0) return a0 && b0 ? a.index - b.index : a0 ? -1 : 1;
      return compareVersions(scheme, a.version, b.version) || a.index - b.index;
    });
  const ranges: RangeInput[] = [];
  let open: RangeInput | undefined;
  for (const e of ordered) {
    if (e.kind === 'introduced') {
      if (!open) open = e.version === '0' ? {} : { introduced: e.version };
    } else if (open) {
      // A fixed / last_affected outside an affected stretch changes nothing (e.g. the same fix on two branches).
      ranges.push(e.kind === 'fixed' ? { ...open, fixed: e.version } : { ...open, last_affected: e.version });
      open = undefined;
    }
  }
  if (open) ranges.push(open);
  return { scheme, ranges };
}

function affectedOf(
  entry: unknown,
  at: string,
  cves: string[],
  warn: (path: string, msg: string) => void,
): AffectedInput[] {
  if (!isRecord(entry)) {
    warn(at, `expected an affected object, got ${describe(entry)}; skipped`);
    return [];
  }
  for (const key of Object.keys(entry))
    if (!AFFECTED_FIELDS.has(key)) warn(`${at}.${key}`, 'unknown field of an OSV affected entry, ignored');
  const pkg = entry.package;
  if (!isRecord(pkg) || typeof pkg.ecosystem !== 'string' || typeof pkg.name !== 'string' || !pkg.name.trim()) {
    const onlyGit =
      Array.isArray(entry.ranges) && entry.ranges.length > 0 && entry.ranges.every((r) => isRecord(r) && r.type === 'GIT');
    warn(
      `${at}.package`,
      `expected {ecosystem, name}, got ${describe(pkg)}; entry skipped${onlyGit ? ' (its GIT ranges are commits, not versions)' : ''}`,
    );
    return [];
  }
  for (const key of Object.keys(pkg))
    if (!PACKAGE_FIELDS.has(key)) warn(`${at}.package.${key}`, 'unknown field of an OSV package, ignored');
  if (entry.severity !== undefined && entry.severity !== null)
    warn(`${at}.severity`, 'per-package severity is not stored (Bulwark keeps severity per CVE); ignored');

  const fullEcosystem = pkg.ecosystem.trim();
  const colon = fullEcosystem.indexOf(':');
  const ecosystem = colon < 0 ? fullEcosystem : fullEcosystem.slice(0, colon);
  const release = colon < 0 ? '' : fullEcosystem.slice(colon + 1);
  const name = pkg.name.trim();
  if (!ECOSYSTEMS.has(ecosystem) && !GENERIC_ECOSYSTEMS.has(ecosystem)) {
    warn(`${at}.package.ecosystem`, `unknown OSV ecosystem ${describe(pkg.ecosystem)}; entry skipped`);
    return [];
  }

  let product: string | undefined;
  if (pkg.purl !== undefined) {
    product = typeof pkg.purl === 'string' ? productFromPackageUrl(pkg.purl.trim()) : undefined;
    if (!product || !productId.safeParse(product).success) {
      warn(`${at}.package.purl`, `not a usable package URL: ${describe(pkg.purl)}; the ecosystem and name are used`);
      product = undefined;
    }
  }
  product ??= productFromEcosystem(ecosystem, name);
  if (!product || !productId.safeParse(product).success) {
    warn(`${at}.package.name`, `cannot make a product id from ${describe(pkg.name)}; entry skipped`);
    return [];
  }

  // Ranges, grouped by the scheme their versions are read in (one affected entry per scheme).
  const groups = new Map<SchemeId, { ranges: RangeInput[]; versions: string[] }>();
  const group = (scheme: SchemeId) => {
    let g = groups.get(scheme);
    if (!g) groups.set(scheme, (g = { ranges: [], versions: [] }));
    return g;
  };
  const rawRanges = listField(entry, 'ranges', (p, m) => warn(`${at}.${p}`, m));
  rawRanges.forEach((r, j) => {
    const got = rangesOf(r, `${at}.ranges[${j}]`, ecosystem, warn);
    if (got) group(got.scheme).ranges.push(...got.ranges);
  });

  const rawVersions = listField(entry, 'versions', (p, m) => warn(`${at}.${p}`, m));
  if (rawVersions.length) {
    const s = ECOSYSTEMS.get(ecosystem)?.scheme;
    if (!s)
      warn(
        `${at}.versions`,
        `${rawVersions.length} listed version${rawVersions.length > 1 ? 's' : ''} skipped: Bulwark has no version order for ${ecosystem} versions`,
      );
    else {
      const scheme: SchemeId = s === 'semver?' ? 'semver' : s;
      const kept: string[] = [];
      rawVersions.forEach((v, k) => {
        const text = typeof v === 'string' ? v.trim() : '';
        const parsed = text ? parseVersion(scheme, text) : undefined;
        if (parsed?.ok) {
          if (!kept.includes(text)) kept.push(text);
        } else
          warn(
            `${at}.versions[${k}]`,
            `${describe(v)} is not a ${scheme} version${parsed && !parsed.ok ? ` (${parsed.error})` : ''}; skipped`,
          );
      });
      if (kept.length) group(scheme).versions.push(...kept);
    }
  }

  if (groups.size === 0) {
    warn(
      at,
      rawRanges.length || rawVersions.length
        ? `${fullEcosystem} ${name}: no usable range or version; entry skipped`
        : `${fullEcosystem} ${name}: lists no ranges or versions; entry skipped`,
    );
    return [];
  }
  const notes = release ? `OSV ecosystem "${fullEcosystem}": ${ecosystem} release ${release} only` : undefined;
  return [...groups].map(([scheme, g]) => {
    const a: AffectedInput = { product: product!, name, scheme, cves: [...cves], ranges: g.ranges, versions: g.versions };
    if (notes) a.notes = notes;
    return a;
  });
}
