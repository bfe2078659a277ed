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
 * - ranges Bulwark cannot read (ECOSYSTEM ranges of ecosystems whose version order it does not implement —
 *   PyPI, Maven, Alpine, … —, versions that do not parse, malformed events) and affected versions it cannot
 *   read: the whole affected entry is dropped. Keeping its other ranges would make the exposure engine judge the
 *   lost claim's versions "fixed" or "not affected" (see `AffectedBuilder`).
 * - GIT ranges (commits are not versions): skipped. They do not drop the entry: the spec requires versions or
 *   version ranges beside them, which carry the same claim.
 * - `limit` events: ignored. They only narrow a range, so ignoring them can widen the affected set but never
 *   hide an affected version.
 * - CVSS v4 (and v2) vectors: not stored, since the model needs a score and Bulwark computes only v3.x scores.
 * - the release of an ecosystem (`Debian:11`): kept in the entry's notes; product ids have no release.
 */
import {
  type AdvisoryInput,
  advisoryValidator,
  formatPath,
  getScheme,
  isCveId,
  productIdValidator,
  type SchemeId,
} from '../../core/index.js';
import {
  AffectedBuilder,
  type AffectedInput,
  addReference,
  advisoryIdSlug,
  type CveInput,
  type CvssInput,
  cweFromText,
  describeValue,
  isoDay,
  isRecord,
  makeReference,
  parsePurl,
  type RangeInput,
  type ReferenceInput,
} from './products.js';
import { type ImportContext, ImportError, type ImportResult, type ImportWarning } from './types.js';

type Warn = (path: string, message: string) => void;

/** OSV timestamps are RFC 3339 in UTC; the date part is what the advisory keeps. */
const TIMESTAMP = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/;

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
 * its ECOSYSTEM ranges and versions. `semver?` = the ecosystem mostly uses SemVer without enforcing it: each
 * version is tried as SemVer, and one that is not makes the entry unusable. No scheme = not readable.
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

function join(base: string, path: string): string {
  if (!base) return path;
  if (!path) return base;
  return path.startsWith('[') ? `${base}${path}` : `${base}.${path}`;
}

/** Why a value is not an OSV record (the schema requires string `id` and `modified`), or undefined if it is. */
function notARecord(v: unknown): { path: string; message: string } | undefined {
  if (!isRecord(v))
    return { path: '', message: `expected an OSV record (a JSON object), got ${describeValue(v)}` };
  if (typeof v.id !== 'string' || v.id.trim() === '')
    return {
      path: 'id',
      message: `expected the id of an OSV record such as GHSA-…, got ${describeValue(v.id)}`,
    };
  if (typeof v.modified !== 'string')
    return {
      path: 'modified',
      message: `expected the modification time of an OSV record, got ${describeValue(v.modified)}`,
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
      throw new ImportError(
        '',
        `none of the ${doc.length} array elements is an OSV record (an object with id and modified)`,
      );
  } else {
    const problem = notARecord(doc);
    if (problem) throw new ImportError(problem.path, problem.message);
    const advisory = importRecord(doc as Record<string, unknown>, '', ctx.origin, warnings);
    if (advisory) advisories.push(advisory);
  }
  return { format: 'osv', advisories, kev: new Map(), warnings };
}

/** The list at `obj[key]` (absent and null are empty); anything else is warned about and treated as empty. */
function listField(obj: Record<string, unknown>, key: string, at: string, warn: Warn): unknown[] {
  const v = obj[key];
  if (v === undefined || v === null) return [];
  if (Array.isArray(v)) return v;
  warn(join(at, key), `expected a list, got ${describeValue(v)}; ignored`);
  return [];
}

/** The strings of the list at `obj[key]`; other items are warned about and dropped. */
function stringList(obj: Record<string, unknown>, key: string, warn: Warn): string[] {
  const out: string[] = [];
  listField(obj, key, '', warn).forEach((v, i) => {
    if (typeof v === 'string') out.push(v);
    else warn(`${key}[${i}]`, `expected a string, got ${describeValue(v)}; ignored`);
  });
  return out;
}

function dateOf(timestamp: unknown): string | undefined {
  return typeof timestamp === 'string' && TIMESTAMP.test(timestamp.trim()) ? isoDay(timestamp) : undefined;
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
  const warn: Warn = (path, message) => warnings.push({ path: join(at, path), message });
  const osvId = (rec.id as string).trim();
  const skip = (path: string, why: string): undefined => {
    warn(path, `${osvId}: ${why}; record skipped`);
    return undefined;
  };

  for (const key of Object.keys(rec))
    if (!RECORD_FIELDS.has(key)) warn(key, 'unknown field of an OSV record, ignored');
  const sv = rec.schema_version;
  if (sv !== undefined && (typeof sv !== 'string' || !/^1(\.|$)/.test(sv)))
    warn('schema_version', `expected an OSV 1.x schema version, got ${describeValue(sv)}; read as OSV 1.x`);

  const id = advisoryIdSlug(osvId);
  if (!id) return skip('id', 'cannot make a Bulwark advisory id from it');

  // CVEs: the record's own id, its aliases (the same vulnerability) and its upstream ids (what a distribution
  // advisory fixes). `sameVuln` are the ones the record's severity and CWEs describe.
  const cveIds: string[] = [];
  const sameVuln = new Set<string>();
  const addCve = (text: string, same: boolean) => {
    const t = text.trim();
    if (!isCveId(t, true)) return;
    const cve = t.toUpperCase();
    if (!cveIds.includes(cve)) cveIds.push(cve);
    if (same) sameVuln.add(cve);
  };
  addCve(osvId, true);
  for (const a of stringList(rec, 'aliases', warn)) addCve(a, true);
  for (const u of stringList(rec, 'upstream', warn)) addCve(u, false);
  if (cveIds.length === 0) {
    const related = stringList(rec, 'related', () => {}).filter((r) => isCveId(r.trim(), true));
    const note = related.length
      ? ` (related lists ${related.slice(0, 3).join(', ')}${related.length > 3 ? ', …' : ''}, which the OSV spec defines as different vulnerabilities)`
      : '';
    return skip(
      'aliases',
      `no CVE id in id, aliases or upstream${note}; a Bulwark advisory needs at least one CVE`,
    );
  }
  // A distribution advisory about a single upstream CVE scores that CVE; with several, it is unclear which.
  if (sameVuln.size === 0 && cveIds.length === 1) sameVuln.add(cveIds[0]!);

  // Texts.
  const summaryText = typeof rec.summary === 'string' ? oneLine(rec.summary) : '';
  if (rec.summary !== undefined && typeof rec.summary !== 'string')
    warn('summary', `expected text, got ${describeValue(rec.summary)}; ignored`);
  const detailsText = typeof rec.details === 'string' ? firstParagraph(rec.details) : '';
  if (rec.details !== undefined && typeof rec.details !== 'string')
    warn('details', `expected text, got ${describeValue(rec.details)}; ignored`);
  let title = summaryText || truncate(detailsText, 120);
  let summary = summaryText || detailsText;
  if (!title) {
    warn('summary', `${osvId}: neither summary nor details given; the id is used as title and summary`);
    title = osvId;
    summary = osvId;
  }

  // Dates.
  let published = dateOf(rec.published);
  if (!published) {
    published = dateOf(rec.modified);
    if (!published)
      return skip(
        'published',
        `no valid published or modified timestamp (got ${describeValue(rec.published)})`,
      );
    warn(
      'published',
      `${osvId}: expected an RFC 3339 timestamp, got ${describeValue(rec.published)}; the modified date is used`,
    );
  }
  let withdrawn: string | undefined;
  if (rec.withdrawn !== undefined) {
    withdrawn = dateOf(rec.withdrawn);
    if (!withdrawn) {
      warn(
        'withdrawn',
        `expected an RFC 3339 timestamp, got ${describeValue(rec.withdrawn)}; treated as withdrawn`,
      );
      withdrawn = 'date unknown';
    }
    title = `${title} (withdrawn ${withdrawn})`;
  }

  // Severity and weaknesses, for the CVEs the record is about.
  const cvss = severityOf(rec, warn);
  const cwes = cwesOf(rec, warn);
  if ((cvss || cwes.length) && sameVuln.size === 0)
    warn(
      cvss ? 'severity' : 'database_specific',
      `${osvId} covers ${cveIds.length} upstream CVEs and does not say which one its severity and CWEs describe; not stored`,
    );
  const cves: CveInput[] = cveIds.map((cveId) => {
    const cve: CveInput = { id: cveId, cwe: [] };
    if (sameVuln.has(cveId)) {
      if (cvss) cve.cvss = { ...cvss };
      cve.cwe = [...cwes];
    }
    return cve;
  });

  let affected: AffectedInput[] = [];
  const rawAffected = listField(rec, 'affected', '', warn);
  if (withdrawn) {
    warn(
      'withdrawn',
      rawAffected.length
        ? `${osvId} was withdrawn on ${withdrawn}: imported for reference without its ${rawAffected.length} affected entries, so it yields no exposure verdicts`
        : `${osvId} was withdrawn on ${withdrawn}: imported for reference only`,
    );
  } else {
    affected = rawAffected.flatMap((entry, i) =>
      affectedOf(entry, join(at, `affected[${i}]`), cveIds, warnings),
    );
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
    references: referencesOf(rec, warn),
  };
  // Last line of defence: whatever the input, never hand out an advisory the rest of Bulwark would reject.
  const checked = advisoryValidator.safeParse(advisory);
  if (!checked.success) {
    const issue = checked.issues[0]!;
    return skip('', `the advisory made from it is invalid at ${formatPath(issue.path)} (${issue.message})`);
  }
  return checked.data;
}

// ---- severity ------------------------------------------------------------------------------------------------

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
 * specification, section 7.1 (v3.0 has the same base formula; its roundup is the same function without the
 * floating-point fix). Temporal and environmental metrics are checked but do not change the base score.
 */
export function cvss3BaseScore(
  vector: string,
): { ok: true; version: '3.0' | '3.1'; score: number } | { ok: false; error: string } {
  const m = /^CVSS:3\.([01])\/(.+)$/.exec(vector);
  if (!m) return { ok: false, error: 'expected a vector starting with CVSS:3.0/ or CVSS:3.1/' };
  const metrics = new Map<string, string>();
  for (const part of m[2]!.split('/')) {
    const [key = '', value, extra] = part.split(':');
    if (!Object.hasOwn(CVSS3_VALUES, key) || value === undefined || extra !== undefined)
      return { ok: false, error: `unknown metric ${JSON.stringify(part)}` };
    if (!CVSS3_VALUES[key]!.test(value))
      return { ok: false, error: `invalid value in ${JSON.stringify(part)}` };
    if (metrics.has(key)) return { ok: false, error: `metric ${key} given twice` };
    metrics.set(key, value);
  }
  const missing = CVSS3_BASE.filter((k) => !metrics.has(k));
  if (missing.length)
    return { ok: false, error: `base metric${missing.length > 1 ? 's' : ''} ${missing.join(', ')} missing` };
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

function severityOf(rec: Record<string, unknown>, warn: Warn): CvssInput | undefined {
  let chosen: CvssInput | undefined;
  listField(rec, 'severity', '', warn).forEach((s, i) => {
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
        warn(
          at,
          'CVSS v4 vector not stored: Bulwark does not compute v4 scores and a CVSS entry needs a score',
        );
        break;
      case 'CVSS_V2':
        warn(at, 'CVSS v2 vector not stored: Bulwark computes scores for CVSS v3 only');
        break;
      default:
        warn(`${at}.type`, `severity type ${describeValue(s.type)} is not a CVSS vector; ignored`);
    }
  });
  return chosen;
}

/** CWEs from `database_specific.cwe_ids` (GitHub) and GitHub's per-package `database_specific.cwes[].cweId`. */
function cwesOf(rec: Record<string, unknown>, warn: Warn): string[] {
  const out: string[] = [];
  const add = (v: unknown, path: string) => {
    const cwe = cweFromText(v);
    if (!cwe) warn(path, `expected a CWE id such as CWE-79, got ${describeValue(v)}; ignored`);
    else if (!out.includes(cwe)) out.push(cwe);
  };
  const db = rec.database_specific;
  if (isRecord(db) && db.cwe_ids !== undefined) {
    if (Array.isArray(db.cwe_ids))
      db.cwe_ids.forEach((c, i) => {
        add(c, `database_specific.cwe_ids[${i}]`);
      });
    else warn('database_specific.cwe_ids', `expected a list, got ${describeValue(db.cwe_ids)}; ignored`);
  }
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

// ---- references ----------------------------------------------------------------------------------------------

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

function referenceKind(type: string, url: string): ReferenceInput['kind'] {
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

/** References once per URL (OSV often lists one link under several types); the OSV type becomes the title. */
function referencesOf(rec: Record<string, unknown>, warn: Warn): ReferenceInput[] {
  const out: ReferenceInput[] = [];
  listField(rec, 'references', '', warn).forEach((r, i) => {
    const at = `references[${i}]`;
    if (!isRecord(r) || typeof r.url !== 'string') {
      warn(at, 'expected {type, url}; ignored');
      return;
    }
    let type = typeof r.type === 'string' ? r.type : '';
    if (!REFERENCE_TYPES.has(type)) {
      warn(`${at}.type`, `unknown reference type ${describeValue(r.type)}; kept as a plain link`);
      type = '';
    }
    const url = r.url.trim();
    const title = type && type !== 'WEB' ? `${type[0]}${type.slice(1).toLowerCase()}` : undefined;
    const ref = makeReference(url, title, referenceKind(type, url));
    if (ref) addReference(out, ref);
    else warn(`${at}.url`, `not an http(s) URL: ${describeValue(r.url)}; ignored`);
  });
  return out;
}

// ---- affected packages ---------------------------------------------------------------------------------------

/** Characters a Bulwark product id cannot hold (see `productId`), percent-encoded; everything else kept. */
function encodeSegment(s: string): string {
  return s.replace(/[\s@?#%/]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase().padStart(2, '0')}`);
}

/**
 * Bulwark product id from a package URL. The same id as `productFromPurl` for ordinary names, but it re-encodes
 * what `productId` forbids (the `@` of npm scopes, spaces), which productFromPurl leaves decoded.
 */
function productFromPackageUrl(purl: string): string | undefined {
  const p = parsePurl(purl);
  if (!p) return undefined;
  const segments = [...(p.namespace ? p.namespace.split('/') : []), p.name].map(encodeSegment);
  return `pkg:${p.type}/${segments.join('/')}`.toLowerCase();
}

/** Product id from an OSV ecosystem and package name, as the package URL of that ecosystem would be. */
function productFromEcosystem(ecosystem: string, name: string): string | undefined {
  const eco = ECOSYSTEMS.get(ecosystem);
  const type = eco
    ? eco.purl
    : GENERIC_ECOSYSTEMS.has(ecosystem)
      ? `generic/${ecosystem.toLowerCase().replace(/\s+/g, '-')}`
      : undefined;
  if (!type) return undefined;
  let path = name;
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
  /** The scheme's parsed form; undefined for `introduced: "0"`, which sorts before everything. */
  parsed?: unknown;
}

/** The events of a range if it is well-formed by the OSV schema, else undefined (with a warning). */
function eventsOf(range: Record<string, unknown>, at: string, warn: Warn): OsvEvent[] | undefined {
  if (!Array.isArray(range.events) || range.events.length === 0) {
    warn(`${at}.events`, `expected a non-empty list of events, got ${describeValue(range.events)}`);
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
        'expected exactly one of introduced, fixed, last_affected or limit with a version string',
      );
      return undefined;
    }
    events.push({ kind: kinds[0]!, version: version.trim(), index: k });
  }
  if (!events.some((e) => e.kind === 'introduced')) {
    warn(`${at}.events`, 'no introduced event (the OSV schema requires one)');
    return undefined;
  }
  return events;
}

type RangeOutcome =
  | { ok: true; scheme: SchemeId; ranges: RangeInput[] }
  /** `harmless`: losing it cannot misjudge a version (a GIT range beside version ranges or lists). */
  | { ok: false; harmless: boolean; reason: string };

/** One OSV range → Bulwark ranges in one scheme, or why it cannot be used (after warnings naming the field). */
function rangesOf(range: unknown, at: string, ecosystem: string, warn: Warn): RangeOutcome {
  if (!isRecord(range)) {
    warn(at, `expected a range object, got ${describeValue(range)}`);
    return { ok: false, harmless: false, reason: 'a malformed range' };
  }
  for (const key of Object.keys(range))
    if (!RANGE_FIELDS.has(key)) warn(`${at}.${key}`, 'unknown field of an OSV range, ignored');
  const events = eventsOf(range, at, warn);
  if (!events) return { ok: false, harmless: false, reason: 'a range that breaks the OSV schema' };

  let scheme: SchemeId;
  let guessed = false;
  if (range.type === 'GIT') {
    warn(at, 'GIT range skipped: commits are not versions Bulwark can compare');
    return { ok: false, harmless: true, reason: 'a GIT range' };
  } else if (range.type === 'SEMVER') scheme = 'semver';
  else if (range.type === 'ECOSYSTEM') {
    const s = ECOSYSTEMS.get(ecosystem)?.scheme;
    if (!s) {
      warn(at, `ECOSYSTEM range skipped: Bulwark has no version order for ${ecosystem} versions`);
      return { ok: false, harmless: false, reason: `${ecosystem} versions have no version order in Bulwark` };
    }
    guessed = s === 'semver?';
    scheme = s === 'semver?' ? 'semver' : s;
  } else {
    warn(`${at}.type`, `unknown range type ${describeValue(range.type)}`);
    return { ok: false, harmless: false, reason: 'a range of unknown type' };
  }

  const order = getScheme(scheme);
  let unreadable = 0;
  for (const e of events) {
    if (e.kind === 'introduced' && e.version === '0') continue;
    const parsed = order.parse(e.version);
    if (parsed.ok) e.parsed = parsed.value;
    else {
      unreadable++;
      const why = guessed ? `${ecosystem} versions are read as SemVer, and this one is not` : parsed.error;
      warn(`${at}.events[${e.index}].${e.kind}`, `"${e.version}" is not a ${scheme} version (${why})`);
    }
  }
  if (unreadable)
    return { ok: false, harmless: false, reason: `a range with a version that is not ${scheme}` };
  if (events.some((e) => e.kind === 'limit'))
    warn(
      at,
      'limit events ignored: Bulwark ranges have no upper limit; ignoring one can only widen the affected set',
    );
  if (events.some((e) => e.kind === 'fixed') && events.some((e) => e.kind === 'last_affected'))
    warn(at, 'fixed and last_affected in one range (the OSV schema forbids this); both are used');

  // OSV evaluates events in version order, not list order (osv-schema "Evaluation"); equal versions keep their
  // list order. Walking them: an introduced opens an affected stretch, the next fixed / last_affected closes it;
  // a fixed outside a stretch changes nothing (e.g. the same fix on two branches of a GIT-derived list).
  const ordered = events
    .filter((e) => e.kind !== 'limit')
    .sort((a, b) => {
      if (a.parsed === undefined || b.parsed === undefined)
        return a.parsed === b.parsed ? a.index - b.index : a.parsed === undefined ? -1 : 1;
      return order.compareParsed(a.parsed, b.parsed) || a.index - b.index;
    });
  const ranges: RangeInput[] = [];
  let open: OsvEvent | undefined;
  for (const e of ordered) {
    if (e.kind === 'introduced') {
      open ??= e;
      continue;
    }
    if (!open) continue;
    const from: RangeInput = open.parsed === undefined ? {} : { introduced: open.version };
    const empty =
      e.kind === 'fixed' && open.parsed !== undefined && order.compareParsed(open.parsed, e.parsed) === 0;
    if (!empty)
      ranges.push(e.kind === 'fixed' ? { ...from, fixed: e.version } : { ...from, last_affected: e.version });
    open = undefined;
  }
  if (open) ranges.push(open.parsed === undefined ? {} : { introduced: open.version });
  return { ok: true, scheme, ranges };
}

/** One OSV affected entry → Bulwark affected entries (one per version scheme; none when unusable). */
function affectedOf(entry: unknown, at: string, cves: string[], warnings: ImportWarning[]): AffectedInput[] {
  const warn: Warn = (path, message) => warnings.push({ path, message });
  if (!isRecord(entry)) {
    warn(at, `expected an affected object, got ${describeValue(entry)}; skipped`);
    return [];
  }
  for (const key of Object.keys(entry))
    if (!AFFECTED_FIELDS.has(key)) warn(`${at}.${key}`, 'unknown field of an OSV affected entry, ignored');
  const pkg = entry.package;
  const rawRanges = listField(entry, 'ranges', at, warn);
  const rawVersions = listField(entry, 'versions', at, warn);

  if (
    !isRecord(pkg) ||
    typeof pkg.ecosystem !== 'string' ||
    typeof pkg.name !== 'string' ||
    !pkg.name.trim()
  ) {
    // Still check the ranges, so a schema violation in them is named too.
    rawRanges.forEach((r, j) => {
      if (isRecord(r)) eventsOf(r, `${at}.ranges[${j}]`, warn);
    });
    const onlyGit = rawRanges.length > 0 && rawRanges.every((r) => isRecord(r) && r.type === 'GIT');
    warn(
      `${at}.package`,
      `expected {ecosystem, name}, got ${describeValue(pkg)}; entry skipped${onlyGit ? ' (its GIT ranges are commits, not versions)' : ''}`,
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
    warn(`${at}.package.ecosystem`, `unknown OSV ecosystem ${describeValue(pkg.ecosystem)}; entry skipped`);
    return [];
  }

  let product: string | undefined;
  if (pkg.purl !== undefined) {
    product = typeof pkg.purl === 'string' ? productFromPackageUrl(pkg.purl.trim()) : undefined;
    if (!product || !productIdValidator.is(product)) {
      warn(
        `${at}.package.purl`,
        `not a usable package URL: ${describeValue(pkg.purl)}; the ecosystem and name are used`,
      );
      product = undefined;
    }
  }
  product ??= productFromEcosystem(ecosystem, name);
  if (!product || !productIdValidator.is(product)) {
    warn(`${at}.package.name`, `cannot make a product id from ${describeValue(pkg.name)}; entry skipped`);
    return [];
  }

  // One builder per version scheme (SEMVER and ECOSYSTEM ranges of one package may differ). A lost claim drops
  // them all: they describe one package.
  const builders = new Map<SchemeId, AffectedBuilder>();
  const builder = (scheme: SchemeId) => {
    let b = builders.get(scheme);
    if (!b) {
      b = new AffectedBuilder(product!, scheme, at, name);
      // OSV lists every affected version of the package, so the rest are not affected, but a release-qualified
      // ecosystem ("Debian:11") speaks only for that release while the product id covers every release.
      b.markCoverage(release === '');
      if (release) b.notes.push(`OSV ecosystem "${fullEcosystem}": ${ecosystem} release ${release} only.`);
      builders.set(scheme, b);
    }
    return b;
  };
  let lost: { path: string; reason: string } | undefined;
  rawRanges.forEach((r, j) => {
    const path = `${at}.ranges[${j}]`;
    const got = rangesOf(r, path, ecosystem, warn);
    if (got.ok) {
      const b = builder(got.scheme);
      // A release-qualified range ("Debian:11") names its release as the train: its fixed bound then proves
      // nothing for a version of another release (Debian 12's 3.0.x is above Debian 11's 1.1.1n fix).
      for (const range of got.ranges) b.addRange(release ? { ...range, train: fullEcosystem } : range);
    } else if (!got.harmless) lost ??= { path, reason: got.reason };
  });

  if (rawVersions.length) {
    const s = ECOSYSTEMS.get(ecosystem)?.scheme;
    const scheme: SchemeId | undefined = s === 'semver?' ? 'semver' : s;
    if (!scheme) {
      warn(
        `${at}.versions`,
        `${rawVersions.length} listed version${rawVersions.length > 1 ? 's' : ''} skipped: Bulwark has no version order for ${ecosystem} versions`,
      );
      lost ??= { path: `${at}.versions`, reason: `${ecosystem} versions have no version order in Bulwark` };
    } else {
      const order = getScheme(scheme);
      rawVersions.forEach((v, k) => {
        const text = typeof v === 'string' ? v.trim() : '';
        const parsed = text ? order.parse(text) : undefined;
        if (parsed?.ok) builder(scheme).versions.add(text);
        else {
          warn(
            `${at}.versions[${k}]`,
            `${describeValue(v)} is not a ${scheme} version${parsed && !parsed.ok ? ` (${parsed.error})` : ''}`,
          );
          lost ??= { path: `${at}.versions[${k}]`, reason: `an affected version that is not ${scheme}` };
        }
      });
    }
  }

  const usable = [...builders.values()].filter((b) => !b.isEmpty());
  if (usable.length === 0) {
    warn(
      at,
      rawRanges.length || rawVersions.length
        ? `${fullEcosystem} ${name}: no usable range or version; entry skipped`
        : `${fullEcosystem} ${name}: lists no ranges or versions; entry skipped`,
    );
    return [];
  }
  if (lost) {
    // One warning for the package, not one per scheme: the claims of one package stand or fall together.
    usable[0]!.lose(lost);
    usable[0]!.finish(cves, warnings);
    return [];
  }
  return usable.flatMap((b) => b.finish(cves, warnings) ?? []);
}
