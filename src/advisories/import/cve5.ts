/**
 * CVE JSON 5 (CVE Record Format 5.x, https://github.com/CVEProject/cve-schema) importer: one record → one
 * advisory `cve-<year>-<n>` holding that CVE.
 *
 * Where the affected versions come from:
 * - `containers.cna.affected[]`: each item is a product (CPE in `cpes[]`, package URL in `packageURL`, a known
 *   registry in `collectionURL` + `packageName`, else vendor + product names) with `versions[]` entries.
 * - `containers.cna.cpeApplicability[]` (5.1+/5.2): CPE match criteria with versionStartIncluding / versionEnd(Ex|In)cluding. An entry
 *   with the same product and bounds as an `affected[]` version entry confirms it (and gives its CPE product id);
 *   one without a twin is imported on its own.
 * - ADP containers (CISA vulnrichment) give CWE ids, CVSS and references only; their `affected` is not used.
 *
 * Version entries:
 * - `status: affected` with `lessThan` / `lessThanOrEqual` → a range (introduced … fixed / last_affected);
 *   `version` "0", "*" or "" means "since the beginning", `lessThan: "*"` means "no upper bound". A `version`
 *   written with operators ("< 2.3.1", ">= 1.0, < 1.5", as some CNAs do) is read as those bounds.
 * - a single `version` without a range → `versions` (affected) or `not_affected_versions` (unaffected).
 * - `changes[]` split a range at each `at` into parts with their own status.
 * - `defaultStatus: affected`: everything not listed as unaffected is affected (the complement of the unaffected
 *   ranges becomes affected ranges). `unaffected`, `unknown` or absent: only the listed entries are used; versions
 *   not listed get no claim from this record (for a product with a catalog, unknown builds stay unknown).
 * - `status: unknown` is an affected-side claim that cannot be represented: warned and treated as lost.
 * - `versionType` semver / rpm / deb|dpkg select that scheme; custom or absent: inferred from the values (numeric
 *   dotted → `exchange` for microsoft:exchange_server, `windows` for microsoft:windows*, else `dotted`; semver
 *   text → `semver`); any other type (git, maven, python, …) is warned and skipped.
 *
 * Products with a catalog (e.g. Exchange): per-release entries such as "Microsoft Exchange Server 2016 Cumulative
 * Update 19" with `version: "15.01.0", lessThan: "15.01.2176.009"` are bounded to that catalog train:
 * [15.1.2176.2, 15.1.2176.9). A bound that does not fit the train (empty, or beyond the next train) is warned;
 * see `AffectedBuilder.finish` for what happens to the product's other ranges then.
 */
import {
  type AdvisoryInput,
  type Catalog,
  isCveId,
  type Reference,
  type SchemeId,
} from '../../core/index.js';
import {
  AffectedBuilder,
  addReference,
  asArray,
  asText,
  type CvssInput,
  canonicalVersion,
  catalogsFor,
  checkedAdvisory,
  compareIn,
  cvssFrom,
  cweFromText,
  describeValue,
  firstLine,
  inferScheme,
  isoDay,
  isRecord,
  makeReference,
  namesReleaseTrain,
  nextTrain,
  normaliseReleaseName,
  parseCpe,
  pickCvss,
  productFromCpe,
  productFromNames,
  productFromPurl,
  productFromReleaseName,
  type RangeInput,
  type ReferenceInput,
  rangeInTrain,
  type TrainMatch,
  trainFromName,
  trainLabel,
  versionProblem,
  wholeTrainRange,
} from './products.js';
import { type ImportContext, ImportError, type ImportResult, type ImportWarning } from './types.js';

type Status = 'affected' | 'unaffected' | 'unknown';
const STATUSES: readonly string[] = ['affected', 'unaffected', 'unknown'];

interface Bound {
  value: string;
  path: string;
}

/** A version interval of one status; an absent bound is open. */
interface Interval {
  status: Status;
  start?: Bound;
  end?: Bound & { inclusive: boolean };
  path: string;
}

/** One `versions[]` entry (or one cpeMatch), before its scheme is known. */
interface Claim {
  path: string;
  status: Status;
  versionType?: string;
  version: Bound;
  lessThan?: Bound;
  lessThanOrEqual?: Bound;
  changes: { at: Bound; status: Status }[];
  /** The cpeApplicability entry with the same bounds, if any. */
  twin?: string;
}

/** One `affected[]` item, or one cpeMatch without a twin. */
interface Group {
  path: string;
  product: string;
  /** Release name used to find the catalog train, e.g. "Microsoft Exchange Server 2016 Cumulative Update 19". */
  name: string;
  /** Whether the product id came from a CPE or package URL (else from names). */
  exactId: boolean;
  defaultStatus?: Status;
  claims: Claim[];
  /** For a CPE match: the CPE's update field, e.g. "cumulative_update_19" (names a train). */
  cpeUpdate?: string;
  /** A CPE match without version bounds: affected at the CPE's own version (or every version). */
  bare?: { version?: string };
}

/**
 * Imports one CVE JSON 5 record. Throws ImportError when the document is not a CVE record at all (wrong type,
 * no CVE id, no CNA container); everything else that cannot be used is a warning with its path.
 */
export function importCve5(doc: unknown, ctx: ImportContext): ImportResult {
  if (!isRecord(doc))
    throw new ImportError(
      '',
      `expected a CVE JSON 5 record (an object with dataType "CVE_RECORD"), got ${describeValue(doc)}`,
    );
  if (doc.dataType !== 'CVE_RECORD')
    throw new ImportError(
      'dataType',
      `expected "CVE_RECORD" (a CVE JSON 5 record), got ${describeValue(doc.dataType)}`,
    );
  if (typeof doc.dataVersion !== 'string' || !/^5\.\d+(\.\d+)?$/.test(doc.dataVersion))
    throw new ImportError(
      'dataVersion',
      `expected a CVE JSON 5.x data version such as "5.1", got ${describeValue(doc.dataVersion)}`,
    );
  const meta = doc.cveMetadata;
  if (!isRecord(meta)) throw new ImportError('cveMetadata', `expected an object, got ${describeValue(meta)}`);
  const cveId = typeof meta.cveId === 'string' ? meta.cveId.trim().toUpperCase() : undefined;
  if (!cveId || !isCveId(cveId))
    throw new ImportError(
      'cveMetadata.cveId',
      `expected a CVE id such as CVE-2021-26855, got ${describeValue(meta.cveId)}`,
    );

  const warnings: ImportWarning[] = [];
  const result: ImportResult = { format: 'cve5', advisories: [], kev: new Map(), warnings };
  if (meta.state === 'REJECTED') {
    warnings.push({ path: 'cveMetadata.state', message: `${cveId} is REJECTED; no advisory` });
    return result;
  }
  if (meta.state !== 'PUBLISHED')
    warnings.push({
      path: 'cveMetadata.state',
      message: `expected "PUBLISHED", got ${describeValue(meta.state)}; imported as published`,
    });
  const containers = doc.containers;
  if (!isRecord(containers))
    throw new ImportError('containers', `expected an object, got ${describeValue(containers)}`);
  const cna = containers.cna;
  if (!isRecord(cna))
    throw new ImportError(
      'containers.cna',
      `expected the CNA container (an object), got ${describeValue(cna)}`,
    );
  const adps = (asArray(containers.adp) ?? []).filter(isRecord);
  if (containers.adp !== undefined && !Array.isArray(containers.adp))
    warnings.push({
      path: 'containers.adp',
      message: `expected an array, got ${describeValue(containers.adp)}; ignored`,
    });

  const published =
    isoDay(meta.datePublished) ??
    isoDay(cna.datePublic) ??
    isoDay(meta.dateUpdated) ??
    isoDay(meta.dateReserved);
  if (!published)
    throw new ImportError(
      'cveMetadata.datePublished',
      `expected a date such as 2021-03-02T23:55:27.000Z, got ${describeValue(meta.datePublished)}`,
    );
  if (!isoDay(meta.datePublished))
    warnings.push({
      path: 'cveMetadata.datePublished',
      message: `missing or not a date (${describeValue(meta.datePublished)}); published ${published} taken from another date field`,
    });

  // ---- the CVE itself ----
  const description = englishText(cna.descriptions, 'containers.cna.descriptions', warnings);
  const title = asText(cna.title);
  const cve: AdvisoryInput['cves'][number] = { id: cveId, cwe: [] };
  if (title) cve.title = title;
  if (description) cve.description = description;
  const cvss = collectCvss(cna, adps, warnings);
  if (cvss) cve.cvss = cvss;
  cve.cwe = collectCwe(cna, adps);

  const references: ReferenceInput[] = [];
  collectReferences(cna.references, 'containers.cna.references', references, warnings);
  adps.forEach((adp, i) => {
    collectReferences(adp.references, `containers.adp[${i}].references`, references, warnings);
    if (adp.affected !== undefined)
      warnings.push({
        path: `containers.adp[${i}].affected`,
        message: 'affected products from an ADP container are not imported; only the CNA container is used',
      });
  });

  // ---- affected ----
  const groups = collectGroups(cna, ctx.catalogs, warnings);
  const builders = new Map<string, AffectedBuilder>();
  const lostWithoutBuilder: { product: string; path: string; reason: string }[] = [];
  // Products listed under several release names ("… 2016 Cumulative Update 19", "… 2019"): per-release bounds.
  const names = new Map<string, Set<string>>();
  for (const g of groups)
    names.set(g.product, (names.get(g.product) ?? new Set()).add(normaliseReleaseName(g.name)));
  const perRelease = new Set([...names].filter(([, n]) => n.size > 1).map(([p]) => p));
  for (const g of groups) convertGroup(g, ctx.catalogs, perRelease, builders, lostWithoutBuilder, warnings);
  // A claim lost before its scheme was known still makes the product's other entries unsafe.
  for (const l of lostWithoutBuilder)
    for (const b of builders.values())
      if (b.product === l.product) b.lose({ path: l.path, reason: l.reason });
  const affected = [...builders.values()]
    .map((b) => b.finish([cveId], warnings))
    .filter((e): e is NonNullable<typeof e> => e !== undefined);
  if (groups.length === 0)
    warnings.push({
      path: 'containers.cna.affected',
      message: 'no affected products listed; the advisory has no affected entries',
    });

  const advisory: AdvisoryInput = {
    schema_version: 1,
    id: cveId.toLowerCase(),
    title: title ?? (description ? firstLine(description) : cveId),
    summary: description ?? title ?? cveId,
    published,
    origin: `cve5:${ctx.origin}`,
    cves: [cve],
    affected,
    fixes: [],
    references: references as Reference[],
  };
  result.advisories.push(checkedAdvisory(advisory));
  return result;
}

// ---- CVE fields ------------------------------------------------------------------------------------------------

function englishText(value: unknown, path: string, warnings: ImportWarning[]): string | undefined {
  const items = asArray(value);
  if (!items) {
    warnings.push({ path, message: `expected an array, got ${describeValue(value)}; no description` });
    return undefined;
  }
  const texts = items
    .map((d, i) => ({ d, i }))
    .filter(
      (x): x is { d: Record<string, unknown>; i: number } => isRecord(x.d) && asText(x.d.value) !== undefined,
    );
  const en = texts.find((x) => typeof x.d.lang === 'string' && /^en\b/i.test(x.d.lang)) ?? texts[0];
  return en ? (en.d.value as string).trim() : undefined;
}

function collectCvss(
  cna: Record<string, unknown>,
  adps: Record<string, unknown>[],
  warnings: ImportWarning[],
): CvssInput | undefined {
  const found: CvssInput[] = [];
  const keys: [string, string][] = [
    ['cvssV3_1', '3.1'],
    ['cvssV4_0', '4.0'],
    ['cvssV3_0', '3.0'],
    ['cvssV2_0', '2.0'],
  ];
  const scan = (metrics: unknown, path: string) => {
    (asArray(metrics) ?? []).forEach((m, i) => {
      if (!isRecord(m)) return;
      for (const [key, version] of keys) {
        const c = m[key];
        if (!isRecord(c)) continue;
        const r = cvssFrom(version, c.vectorString, c.baseScore);
        if (r.ok) found.push(r.value);
        else warnings.push({ path: `${path}[${i}].${key}`, message: `CVSS skipped: ${r.reason}` });
      }
    });
  };
  scan(cna.metrics, 'containers.cna.metrics');
  // The CNA's score is preferred; ADP scores (CISA vulnrichment) only fill in when the CNA has none.
  if (found.length === 0)
    adps.forEach((adp, i) => {
      scan(adp.metrics, `containers.adp[${i}].metrics`);
    });
  return pickCvss(found);
}

function collectCwe(cna: Record<string, unknown>, adps: Record<string, unknown>[]): string[] {
  const out: string[] = [];
  for (const container of [cna, ...adps]) {
    for (const pt of asArray(container.problemTypes) ?? []) {
      if (!isRecord(pt)) continue;
      for (const d of asArray(pt.descriptions) ?? []) {
        if (!isRecord(d)) continue;
        const id =
          cweFromText(d.cweId) ??
          (d.type === 'CWE' || d.cweId !== undefined ? cweFromText(d.description) : undefined);
        if (id && !out.includes(id)) out.push(id);
      }
    }
  }
  return out;
}

const REFERENCE_KIND: Record<string, Reference['kind']> = {
  'vendor-advisory': 'vendor',
  patch: 'vendor',
  'government-resource': 'government',
  exploit: 'research',
  'technical-description': 'research',
  'third-party-advisory': 'article',
  'media-coverage': 'article',
};

function collectReferences(
  value: unknown,
  path: string,
  into: ReferenceInput[],
  warnings: ImportWarning[],
): void {
  const items = asArray(value);
  if (!items) {
    warnings.push({ path, message: `expected an array, got ${describeValue(value)}; ignored` });
    return;
  }
  items.forEach((r, i) => {
    if (!isRecord(r)) {
      warnings.push({
        path: `${path}[${i}]`,
        message: `expected an object, got ${describeValue(r)}; skipped`,
      });
      return;
    }
    const tags = (asArray(r.tags) ?? []).filter((t): t is string => typeof t === 'string');
    const kind = tags.map((t) => REFERENCE_KIND[t]).find((k) => k !== undefined);
    const ref = makeReference(r.url, r.name, kind);
    if (ref) addReference(into, ref);
    else
      warnings.push({
        path: `${path}[${i}].url`,
        message: `not an http(s) URL (${describeValue(r.url)}); skipped`,
      });
  });
}

// ---- affected: collecting ----------------------------------------------------------------------------------------

const REGISTRY_PURL_TYPES: [RegExp, string][] = [
  [/^https?:\/\/registry\.npmjs\.org\/?$/i, 'npm'],
  [/^https?:\/\/(www\.)?npmjs\.com\/?$/i, 'npm'],
  [/^https?:\/\/pypi\.(org|python\.org)(\/simple)?\/?$/i, 'pypi'],
  [/^https?:\/\/crates\.io\/?$/i, 'cargo'],
  [/^https?:\/\/rubygems\.org\/?$/i, 'gem'],
  [/^https?:\/\/(proxy\.golang\.org|pkg\.go\.dev)\/?$/i, 'golang'],
  [/^https?:\/\/(repo\.maven\.apache\.org\/maven2|repo1\.maven\.org\/maven2)\/?$/i, 'maven'],
  [/^https?:\/\/(www\.)?nuget\.org(\/packages)?\/?$/i, 'nuget'],
];

function collectGroups(
  cna: Record<string, unknown>,
  catalogs: readonly Catalog[],
  warnings: ImportWarning[],
): Group[] {
  const groups: Group[] = [];
  const affected = asArray(cna.affected);
  if (!affected)
    warnings.push({
      path: 'containers.cna.affected',
      message: `expected an array, got ${describeValue(cna.affected)}; ignored`,
    });
  (affected ?? []).forEach((item, i) => {
    const path = `containers.cna.affected[${i}]`;
    if (!isRecord(item)) {
      warnings.push({ path, message: `expected an object, got ${describeValue(item)}; skipped` });
      return;
    }
    const ident = identifyProduct(item, path, catalogs, warnings);
    if (!ident) return;
    const defaultStatus = readStatus(item.defaultStatus, `${path}.defaultStatus`, warnings, true);
    const claims: Claim[] = [];
    const versions = asArray(item.versions);
    if (!versions)
      warnings.push({
        path: `${path}.versions`,
        message: `expected an array, got ${describeValue(item.versions)}; ignored`,
      });
    (versions ?? []).forEach((v, j) => {
      const claim = readClaim(v, `${path}.versions[${j}]`, warnings);
      if (claim) claims.push(claim);
      else if (claim === null) lostMarker(claims, `${path}.versions[${j}]`);
    });
    groups.push({ path, ...ident, defaultStatus: defaultStatus ?? undefined, claims });
  });

  // cpeApplicability: pair each match with an affected[] entry of the same product and bounds.
  (asArray(cna.cpeApplicability) ?? []).forEach((config, k) => {
    const cpath = `containers.cna.cpeApplicability[${k}]`;
    if (!isRecord(config)) return;
    (asArray(config.nodes) ?? []).forEach((node, n) => {
      const npath = `${cpath}.nodes[${n}]`;
      if (!isRecord(node)) return;
      if (node.negate === true) {
        warnings.push({
          path: `${npath}.negate`,
          message: 'negated CPE criteria cannot be represented; node skipped',
        });
        return;
      }
      const matches = (asArray(node.cpeMatch) ?? []).map((m, x) => ({ m, path: `${npath}.cpeMatch[${x}]` }));
      const vulnerable = matches.filter((x) => isRecord(x.m) && x.m.vulnerable === true);
      if (node.operator === 'AND' && vulnerable.length < matches.length)
        warnings.push({
          path: `${npath}.operator`,
          message:
            'an AND of CPE criteria (a platform condition) is read as its vulnerable criteria alone; the condition is not kept',
        });
      for (const { m, path } of vulnerable) {
        const g = cpeMatchGroup(m as Record<string, unknown>, path, warnings);
        if (!g) continue;
        const c = g.claims[0];
        const twin = c && c.status === 'affected' ? findTwin(groups, g.product, c) : undefined;
        if (twin) twin.twin = path;
        else groups.push(g);
      }
    });
  });
  return groups;
}

/** Marks a version entry that could not even be read (bad status, missing version): lost for its product. */
function lostMarker(claims: Claim[], path: string): void {
  claims.push({ path, status: 'unknown', version: { value: '', path }, changes: [] });
}

function identifyProduct(
  item: Record<string, unknown>,
  path: string,
  catalogs: readonly Catalog[],
  warnings: ImportWarning[],
): { product: string; name: string; exactId: boolean } | undefined {
  const vendor = asText(item.vendor);
  const productName = asText(item.product);
  const packageName = asText(item.packageName);
  const name = productName ?? packageName;
  const purl = asText(item.packageURL);
  if (purl) {
    const id = productFromPurl(purl);
    if (id) return { product: id, name: name ?? id, exactId: true };
    warnings.push({
      path: `${path}.packageURL`,
      message: `not a package URL (${describeValue(purl)}); ignored`,
    });
  }
  for (const [x, cpe] of (asArray(item.cpes) ?? []).entries()) {
    if (typeof cpe !== 'string') continue;
    const id = productFromCpe(cpe);
    if (id) return { product: id, name: name ?? id, exactId: true };
    warnings.push({ path: `${path}.cpes[${x}]`, message: `not a CPE name (${describeValue(cpe)}); ignored` });
  }
  const collection = asText(item.collectionURL);
  if (collection && packageName) {
    const type = REGISTRY_PURL_TYPES.find(([re]) => re.test(collection))?.[1];
    if (type) {
      const id = productFromPurl(`pkg:${type}/${packageName.split('/').map(encodeURIComponent).join('/')}`);
      if (id) return { product: id, name: packageName, exactId: true };
    }
  }
  if (!name) {
    warnings.push({
      path,
      message: 'names no product (no vendor/product, packageName, CPE or package URL); skipped',
    });
    return undefined;
  }
  // A release name of a product with a catalog ("… Exchange Server 2016 Cumulative Update 19") is that product.
  const match = trainFromName(name, catalogs);
  if (match) return { product: match.catalog.product, name, exactId: false };
  return {
    product: vendor ? productFromReleaseName(vendor, name) : productFromNames('unknown', name),
    name,
    exactId: false,
  };
}

/** undefined when absent, null when present but unusable (warned). */
function readStatus(
  value: unknown,
  path: string,
  warnings: ImportWarning[],
  optional: boolean,
): Status | undefined | null {
  if (value === undefined && optional) return undefined;
  if (typeof value === 'string' && STATUSES.includes(value)) return value as Status;
  warnings.push({ path, message: `expected one of ${STATUSES.join(', ')}, got ${describeValue(value)}` });
  return null;
}

function readBound(
  obj: Record<string, unknown>,
  key: string,
  path: string,
  warnings: ImportWarning[],
): Bound | undefined | null {
  const v = obj[key];
  if (v === undefined) return undefined;
  if (typeof v === 'string' && v.trim() !== '') return { value: v.trim(), path: `${path}.${key}` };
  warnings.push({ path: `${path}.${key}`, message: `expected a version, got ${describeValue(v)}` });
  return null;
}

/** A version entry, undefined for one that makes no claim, null for an unreadable one (already warned). */
function readClaim(v: unknown, path: string, warnings: ImportWarning[]): Claim | undefined | null {
  if (!isRecord(v)) {
    warnings.push({ path, message: `expected an object, got ${describeValue(v)}; skipped` });
    return null;
  }
  const status = readStatus(v.status, `${path}.status`, warnings, false);
  if (!status) return null;
  // An unreadable "unaffected" entry only loses a not-affected claim: nothing is misjudged without it.
  const unusable = () => (status === 'unaffected' ? undefined : null);
  const version = readBound(v, 'version', path, warnings);
  if (!version) {
    if (version === undefined) warnings.push({ path: `${path}.version`, message: 'missing; entry skipped' });
    return unusable();
  }
  const lessThan = readBound(v, 'lessThan', path, warnings);
  const lessThanOrEqual = readBound(v, 'lessThanOrEqual', path, warnings);
  if (lessThan === null || lessThanOrEqual === null) return unusable();
  if (lessThan && lessThanOrEqual) {
    warnings.push({ path, message: 'gives both lessThan and lessThanOrEqual; entry skipped' });
    return unusable();
  }
  const changes: Claim['changes'] = [];
  const rawChanges = asArray(v.changes);
  if (!rawChanges) {
    warnings.push({
      path: `${path}.changes`,
      message: `expected an array, got ${describeValue(v.changes)}; entry skipped`,
    });
    return unusable();
  }
  for (const [x, ch] of rawChanges.entries()) {
    const cp = `${path}.changes[${x}]`;
    if (!isRecord(ch)) {
      warnings.push({ path: cp, message: `expected an object, got ${describeValue(ch)}; entry skipped` });
      return unusable();
    }
    const at = readBound(ch, 'at', cp, warnings);
    const st = readStatus(ch.status, `${cp}.status`, warnings, false);
    if (!at || !st) {
      if (at === undefined) warnings.push({ path: `${cp}.at`, message: 'missing; entry skipped' });
      return unusable();
    }
    changes.push({ at, status: st });
  }
  if (changes.length && !lessThan && !lessThanOrEqual) {
    warnings.push({
      path: `${path}.changes`,
      message: 'changes need a range (lessThan or lessThanOrEqual); entry skipped',
    });
    return unusable();
  }
  const versionType = typeof v.versionType === 'string' ? v.versionType.trim() : undefined;
  return {
    path,
    status,
    versionType,
    version,
    lessThan: lessThan ?? undefined,
    lessThanOrEqual: lessThanOrEqual ?? undefined,
    changes,
  };
}

function cpeMatchGroup(
  m: Record<string, unknown>,
  path: string,
  warnings: ImportWarning[],
): Group | undefined {
  const criteria = asText(m.criteria);
  const cpe = criteria ? parseCpe(criteria) : undefined;
  const product = criteria ? productFromCpe(criteria) : undefined;
  if (!cpe || !product) {
    warnings.push({
      path: `${path}.criteria`,
      message: `not a CPE name (${describeValue(m.criteria)}); skipped`,
    });
    return undefined;
  }
  const base = { path, product, name: cpeName(cpe), exactId: true, cpeUpdate: cpe.update };
  if (m.versionStartExcluding !== undefined) {
    warnings.push({
      path: `${path}.versionStartExcluding`,
      message: 'an exclusive lower bound cannot be represented; CPE match skipped',
    });
    return { ...base, claims: [lostClaimAt(path)] };
  }
  const start = readBound(m, 'versionStartIncluding', path, warnings);
  const endEx = readBound(m, 'versionEndExcluding', path, warnings);
  const endIn = readBound(m, 'versionEndIncluding', path, warnings);
  if (start === null || endEx === null || endIn === null) return { ...base, claims: [lostClaimAt(path)] };
  if (endEx && endIn) {
    warnings.push({
      path,
      message: 'gives both versionEndExcluding and versionEndIncluding; CPE match skipped',
    });
    return { ...base, claims: [lostClaimAt(path)] };
  }
  // No bounds: the CPE's own version (for a product with a catalog, its fields only name a train).
  if (!start && !endEx && !endIn) return { ...base, claims: [], bare: { version: cpe.version } };
  const claim: Claim = {
    path,
    status: 'affected',
    version: start ?? { value: '0', path },
    lessThan: endEx ?? (endIn ? undefined : { value: '*', path }),
    lessThanOrEqual: endIn ?? undefined,
    changes: [],
  };
  return { ...base, claims: [claim] };
}

function lostClaimAt(path: string): Claim {
  return { path, status: 'unknown', version: { value: '', path }, changes: [] };
}

function cpeName(cpe: { vendor: string; product: string; version?: string; update?: string }): string {
  return [cpe.vendor, cpe.product, cpe.version, cpe.update]
    .filter((p): p is string => !!p)
    .join(' ')
    .replace(/_/g, ' ');
}

function findTwin(groups: Group[], product: string, c: Claim): Claim | undefined {
  const key = (x: Claim) => `${x.version.value}|${x.lessThan?.value ?? ''}|${x.lessThanOrEqual?.value ?? ''}`;
  const want = key(c);
  for (const g of groups) {
    if (g.product !== product) continue;
    const twin = g.claims.find((x) => x.status === 'affected' && !x.twin && key(x) === want);
    if (twin) return twin;
  }
  return undefined;
}

// ---- affected: converting -----------------------------------------------------------------------------------------

const SCHEME_OF_TYPE: Record<string, SchemeId> = {
  semver: 'semver',
  npm: 'semver',
  rpm: 'rpm',
  deb: 'dpkg',
  dpkg: 'dpkg',
  debian: 'dpkg',
};

function convertGroup(
  g: Group,
  catalogs: readonly Catalog[],
  perRelease: ReadonlySet<string>,
  builders: Map<string, AffectedBuilder>,
  lostWithoutBuilder: { product: string; path: string; reason: string }[],
  warnings: ImportWarning[],
): void {
  const own = catalogsFor(g.product, catalogs);
  if (own.length) {
    convertWithCatalog(g, own, builders, warnings);
    return;
  }
  if (perRelease.has(g.product) && namesReleaseTrain(g.name) && !g.cpeUpdate) {
    // "Exchange Server 2016 Cumulative Update 19: 15.01.0 – 15.01.2176.009" beside other releases of the same
    // product: bounds per release train, which only a catalog of that product's trains can tell apart.
    if (g.defaultStatus === 'affected' || g.claims.some((c) => c.status !== 'unaffected')) {
      const reason = `${JSON.stringify(g.name)} names one release train of ${g.product} and no catalog of its builds is loaded`;
      warnings.push({ path: `${g.path}.product`, message: `${reason}; its versions are skipped` });
      lostWithoutBuilder.push({ product: g.product, path: `${g.path}.product`, reason });
    }
    return;
  }
  if (g.bare) {
    const version = g.bare.version ?? '*';
    g.claims.push({
      path: g.path,
      status: 'affected',
      version: { value: version, path: `${g.path}.criteria` },
      changes: [],
    });
  }
  const builderFor = (scheme: SchemeId) => {
    const key = `${g.product}\u0000${scheme}`;
    let b = builders.get(key);
    if (!b) {
      b = new AffectedBuilder(g.product, scheme, g.path, g.name);
      builders.set(key, b);
    }
    // Versions the record does not list have the entry's defaultStatus, "unknown" when absent (CVE 5 schema).
    b.markCoverage(g.defaultStatus === 'unaffected' || g.defaultStatus === 'affected');
    return b;
  };
  // The scheme of entries without a typed versionType is inferred from all their values together.
  const untyped = g.claims.filter((c) => c.version.value !== '' && !c.versionType?.replace(/^custom$/i, ''));
  const inferred = inferScheme(g.product, untyped.flatMap(claimValues));
  const loseUnknown = (path: string, reason: string) =>
    lostWithoutBuilder.push({ product: g.product, path, reason });

  const unaffected = new Map<SchemeId, Interval[]>();
  const affectedEnds = new Map<SchemeId, string[]>();
  const usedSchemes = new Set<SchemeId>();
  for (const c of g.claims) {
    if (c.version.value === '') {
      if (c.status !== 'unaffected') loseUnknown(c.path, 'the version entry could not be read');
      continue;
    }
    let scheme: SchemeId | undefined;
    const type = c.versionType && !/^custom$/i.test(c.versionType) ? c.versionType.toLowerCase() : undefined;
    if (type) {
      scheme = SCHEME_OF_TYPE[type];
      if (!scheme) {
        warnings.push({
          path: `${c.path}.versionType`,
          message: `versions of type ${JSON.stringify(c.versionType)} cannot be compared by Bulwark; entry skipped`,
        });
        if (c.status !== 'unaffected')
          loseUnknown(c.path, `versionType ${JSON.stringify(c.versionType)} is not supported`);
        continue;
      }
    } else scheme = inferred;
    if (!scheme) {
      warnings.push({
        path: c.version.path,
        message: `cannot tell the version scheme of ${describeValue(c.version.value)} (versionType ${c.versionType ?? 'absent'}): not numeric dotted and not semver; entry skipped`,
      });
      if (c.status !== 'unaffected') loseUnknown(c.path, 'unknown version scheme');
      continue;
    }
    usedSchemes.add(scheme);
    const b = builderFor(scheme);
    const parts = toIntervals(c, scheme, warnings);
    if (!parts) {
      if (c.status !== 'unaffected') b.lose({ path: c.path, reason: 'an unusable version entry' });
      continue;
    }
    for (const p of parts) {
      if (p.kind === 'point') {
        if (p.status === 'affected') b.versions.add(p.version);
        else if (p.status === 'unaffected') b.notAffectedVersions.add(p.version);
        else {
          warnings.push({
            path: p.path,
            message: `status unknown for ${p.version} cannot be represented; entry skipped`,
          });
          b.lose({ path: p.path, reason: 'status unknown' });
        }
        continue;
      }
      const iv = p.interval;
      if (iv.status === 'affected') {
        b.addRange(rangeOf(iv));
        if (iv.end && !iv.end.inclusive) pushTo(affectedEnds, scheme, iv.end.value);
      } else if (iv.status === 'unaffected') pushTo(unaffected, scheme, iv);
      else {
        warnings.push({ path: iv.path, message: 'status unknown cannot be represented; range skipped' });
        b.lose({ path: iv.path, reason: 'status unknown' });
      }
    }
  }
  if (g.defaultStatus === 'affected') {
    const schemes = usedSchemes.size ? [...usedSchemes] : inferred ? [inferred] : [];
    if (schemes.length === 0) {
      warnings.push({
        path: `${g.path}.defaultStatus`,
        message: 'defaultStatus affected without any version to tell the scheme; not applied',
      });
      loseUnknown(`${g.path}.defaultStatus`, 'defaultStatus affected could not be applied');
    }
    for (const scheme of schemes) {
      const b = builderFor(scheme);
      const gaps = complement(unaffected.get(scheme) ?? [], scheme, undefined, `${g.path}.defaultStatus`);
      if (!gaps.ok) {
        warnings.push({
          path: gaps.path,
          message: `defaultStatus affected cannot be applied: ${gaps.reason}`,
        });
        b.lose({ path: `${g.path}.defaultStatus`, reason: gaps.reason });
      } else for (const iv of gaps.intervals) b.addRange(rangeOf(iv));
    }
  } else {
    for (const [scheme, ivs] of unaffected)
      for (const iv of ivs) {
        const confirmsFix = iv.start && (affectedEnds.get(scheme) ?? []).includes(iv.start.value);
        if (g.defaultStatus !== 'unaffected' && !confirmsFix)
          warnings.push({
            path: iv.path,
            message:
              'an unaffected range cannot be represented (only unaffected versions can); versions in it get no claim from this entry',
          });
      }
  }
}

function convertWithCatalog(
  g: Group,
  own: Catalog[],
  builders: Map<string, AffectedBuilder>,
  warnings: ImportWarning[],
): void {
  const match = trainFromName(g.name, own) ?? (g.cpeUpdate ? trainByUpdate(g, own) : undefined);
  const catalog = match?.catalog ?? own[0]!;
  const scheme = catalog.scheme as SchemeId;
  const key = `${g.product}\u0000${scheme}`;
  let b = builders.get(key);
  if (!b) {
    b = new AffectedBuilder(g.product, scheme, g.path, catalog.name, catalog);
    builders.set(key, b);
  }
  const claimsAffected = g.defaultStatus === 'affected' || g.claims.some((c) => c.status !== 'unaffected');
  if (!match) {
    if (claimsAffected) {
      const reason = `no train of catalog "${catalog.id}" matches ${JSON.stringify(g.name)}`;
      warnings.push({
        path: g.cpeUpdate ? g.path : `${g.path}.product`,
        message: `${reason}; its versions are skipped`,
      });
      b.lose({ path: g.path, reason });
    }
    return;
  }
  const label = trainLabel(match.train);
  const fallback = wholeTrainRange(match);
  const lose = (path: string, reason: string) =>
    b.lose({ path, reason: reason.startsWith(label) ? reason : `${label}: ${reason}`, fallback });
  const unaffected: Interval[] = [];
  for (const c of g.claims) {
    if (c.version.value === '') {
      if (c.status !== 'unaffected') lose(c.path, 'the version entry could not be read');
      continue;
    }
    const parts = toIntervals(c, scheme, warnings);
    if (!parts) {
      if (c.status !== 'unaffected') lose(c.path, 'an unusable version entry');
      continue;
    }
    for (const p of parts) {
      if (p.kind === 'point') {
        if (p.status === 'affected') b.versions.add(p.version);
        else if (p.status === 'unaffected') b.notAffectedVersions.add(p.version);
        else {
          warnings.push({
            path: p.path,
            message: `status unknown for ${p.version} cannot be represented; skipped`,
          });
          lose(p.path, 'status unknown');
        }
        continue;
      }
      const iv = p.interval;
      if (iv.status === 'unaffected') {
        unaffected.push(iv);
        continue;
      }
      if (iv.status === 'unknown') {
        warnings.push({ path: iv.path, message: 'status unknown cannot be represented; range skipped' });
        lose(iv.path, 'status unknown');
        continue;
      }
      addTrainRange(b, match, iv, c.twin, warnings, lose);
    }
  }
  if (g.defaultStatus === 'affected' || g.bare) {
    const at = g.bare ? g.path : `${g.path}.defaultStatus`;
    const gaps = complement(unaffected, scheme, { lo: match.train.build, hi: nextTrain(match)?.build }, at);
    if (!gaps.ok) {
      warnings.push({ path: gaps.path, message: `defaultStatus affected cannot be applied: ${gaps.reason}` });
      lose(at, gaps.reason);
    } else for (const iv of gaps.intervals) addTrainRange(b, match, iv, undefined, warnings, lose);
  } else if (unaffected.length && g.defaultStatus !== 'unaffected')
    for (const iv of unaffected)
      warnings.push({
        path: iv.path,
        message:
          'an unaffected range cannot be represented (only unaffected versions can); versions in it get no claim from this entry',
      });
}

function addTrainRange(
  b: AffectedBuilder,
  match: TrainMatch,
  iv: Interval,
  twin: string | undefined,
  warnings: ImportWarning[],
  lose: (path: string, reason: string) => void,
): void {
  const r = rangeInTrain(match, {
    introduced: iv.start?.value,
    ...(iv.end ? { [iv.end.inclusive ? 'last_affected' : 'fixed']: iv.end.value } : {}),
  });
  if (r.ok) {
    b.addRange(r.range);
    return;
  }
  const path = r.field === 'introduced' ? (iv.start?.path ?? iv.path) : (iv.end?.path ?? iv.path);
  const also = twin ? ` (the same bounds are in ${twin})` : '';
  warnings.push({ path, message: `${r.reason}; range skipped${also}` });
  lose(path, r.reason);
}

/** For a CPE match without its own release name: the catalog train named like the CPE's update that holds the bound. */
function trainByUpdate(g: Group, own: Catalog[]): TrainMatch | undefined {
  const want = normaliseReleaseName(g.cpeUpdate!.replace(/_/g, ' '));
  const c = g.claims[0];
  const bound = c?.lessThan?.value ?? c?.lessThanOrEqual?.value;
  const found: TrainMatch[] = [];
  for (const catalog of own)
    for (const train of catalog.trains) {
      if (normaliseReleaseName(train.name.split(/[\s(]/)[0] ?? '') !== want) continue;
      const match = { catalog, train };
      if (!bound) {
        found.push(match);
        continue;
      }
      if (rangeInTrain(match, { fixed: bound }).ok || rangeInTrain(match, { last_affected: bound }).ok)
        found.push(match);
    }
  return found.length === 1 ? found[0] : undefined;
}

type Part =
  | { kind: 'point'; status: Status; version: string; path: string }
  | { kind: 'interval'; interval: Interval };

function claimValues(c: Claim): string[] {
  const out = [
    c.version.value,
    c.lessThan?.value,
    c.lessThanOrEqual?.value,
    ...c.changes.map((x) => x.at.value),
  ];
  return out
    .filter((v): v is string => v !== undefined && v !== '*')
    .flatMap((v) => (OPERATORS.test(v) ? [...v.matchAll(OPERATOR_TERM)].map((m) => m[2]!) : [v]));
}

const OPERATORS = /^\s*(<=|>=|<|>|=)/;
const OPERATOR_TERM = /(<=|>=|<|>|=)\s*([^\s,<>=|]+)/g;

function isOpen(v: string): boolean {
  return v === '0' || v === '*' || v === '';
}

/** Checks a bound under the scheme; the canonical text, or undefined (warned). */
function checked(b: Bound, scheme: SchemeId, warnings: ImportWarning[]): Bound | undefined {
  const value = canonicalVersion(scheme, b.value);
  const problem = versionProblem(scheme, value);
  if (!problem) return { value, path: b.path };
  warnings.push({
    path: b.path,
    message: `${JSON.stringify(b.value)} is not a version: ${problem}; entry skipped`,
  });
  return undefined;
}

/** The intervals and single versions one claim stands for under a scheme; undefined when unusable (warned). */
function toIntervals(c: Claim, scheme: SchemeId, warnings: ImportWarning[]): Part[] | undefined {
  const v = c.version.value;
  if (!c.lessThan && !c.lessThanOrEqual) {
    if (v === '*') return [{ kind: 'interval', interval: { status: c.status, path: c.path } }];
    if (OPERATORS.test(v)) return operatorIntervals(c, scheme, warnings);
    const b = checked(c.version, scheme, warnings);
    return b ? [{ kind: 'point', status: c.status, version: b.value, path: c.path }] : undefined;
  }
  let start: Bound | undefined;
  if (!isOpen(v)) {
    start = checked(c.version, scheme, warnings);
    if (!start) return undefined;
  }
  let end: (Bound & { inclusive: boolean }) | undefined;
  const upper = c.lessThan ?? c.lessThanOrEqual!;
  if (upper.value !== '*') {
    const e = checked(upper, scheme, warnings);
    if (!e) return undefined;
    end = { ...e, inclusive: !c.lessThan };
  }
  if (start && end) {
    const cmp = compareIn(scheme, start.value, end.value)!;
    if (end.inclusive ? cmp > 0 : cmp >= 0) {
      warnings.push({
        path: upper.path,
        message: `empty range: ${c.lessThan ? 'lessThan' : 'lessThanOrEqual'} ${JSON.stringify(upper.value)} is not above version ${JSON.stringify(v)}; entry skipped`,
      });
      return undefined;
    }
  }
  const whole: Interval = { status: c.status, start, end, path: c.path };
  if (!c.changes.length) return [{ kind: 'interval', interval: whole }];
  // changes[]: the status changes at each `at`, in version order.
  const changes: { at: Bound; status: Status }[] = [];
  for (const ch of c.changes) {
    const at = checked(ch.at, scheme, warnings);
    if (!at) return undefined;
    const aboveStart = !start || compareIn(scheme, at.value, start.value)! >= 0;
    const belowEnd = !end || compareIn(scheme, at.value, end.value)! < 0;
    if (!aboveStart || !belowEnd) {
      warnings.push({
        path: ch.at.path,
        message: `change at ${JSON.stringify(ch.at.value)} is outside its range; entry skipped`,
      });
      return undefined;
    }
    changes.push({ at, status: ch.status });
  }
  changes.sort((a, b) => compareIn(scheme, a.at.value, b.at.value)!);
  const parts: Part[] = [];
  let from = start;
  let status = c.status;
  for (const ch of changes) {
    if (!from || compareIn(scheme, from.value, ch.at.value)! < 0)
      parts.push({
        kind: 'interval',
        interval: { status, start: from, end: { ...ch.at, inclusive: false }, path: c.path },
      });
    from = ch.at;
    status = ch.status;
  }
  parts.push({ kind: 'interval', interval: { status, start: from, end, path: c.path } });
  return parts;
}

/** `version` written as comparisons: "< 2.3.1", "<= 2.0", ">= 1.0, < 1.5", "= 1.2". */
function operatorIntervals(c: Claim, scheme: SchemeId, warnings: ImportWarning[]): Part[] | undefined {
  const v = c.version.value;
  const terms = [...v.matchAll(OPERATOR_TERM)];
  const rest = v.replace(OPERATOR_TERM, '').replace(/[\s,]/g, '');
  const bad = (why: string) => {
    warnings.push({
      path: c.version.path,
      message: `cannot read ${JSON.stringify(v)} as version bounds: ${why}; entry skipped`,
    });
    return undefined;
  };
  if (rest !== '' || terms.length === 0 || terms.length > 2)
    return bad('expected one or two comparisons such as ">= 1.0, < 1.5"');
  let start: Bound | undefined;
  let end: (Bound & { inclusive: boolean }) | undefined;
  for (const t of terms) {
    const op = t[1]!;
    const b = checked({ value: t[2]!, path: c.version.path }, scheme, warnings);
    if (!b) return undefined;
    if (op === '=') {
      if (terms.length !== 1) return bad('"=" cannot be combined');
      return [{ kind: 'point', status: c.status, version: b.value, path: c.path }];
    }
    if (op === '>') return bad('an exclusive lower bound cannot be represented');
    if (op === '>=') {
      if (start) return bad('two lower bounds');
      start = b;
    } else {
      if (end) return bad('two upper bounds');
      end = { ...b, inclusive: op === '<=' };
    }
  }
  if (start && end) {
    const cmp = compareIn(scheme, start.value, end.value)!;
    if (end.inclusive ? cmp > 0 : cmp >= 0) return bad('the range is empty');
  }
  return [{ kind: 'interval', interval: { status: c.status, start, end, path: c.path } }];
}

function rangeOf(iv: Interval): RangeInput {
  const r: RangeInput = {};
  if (iv.start) r.introduced = iv.start.value;
  if (iv.end) r[iv.end.inclusive ? 'last_affected' : 'fixed'] = iv.end.value;
  return r;
}

/**
 * The parts of [lo, hi) (open when absent) not covered by the unaffected intervals, as affected intervals.
 * An unaffected interval with an inclusive end cannot be complemented (the next part would need an exclusive
 * lower bound).
 */
function complement(
  unaffected: Interval[],
  scheme: SchemeId,
  span: { lo?: string; hi?: string } | undefined,
  path: string,
): { ok: true; intervals: Interval[] } | { ok: false; reason: string; path: string } {
  const cmp = (a: string, b: string) => compareIn(scheme, a, b)!;
  const sorted = [...unaffected].sort((a, b) =>
    !a.start ? -1 : !b.start ? 1 : cmp(a.start.value, b.start.value),
  );
  const out: Interval[] = [];
  let cursor: string | undefined = span?.lo; // undefined: -infinity
  let done = false;
  for (const u of sorted) {
    if (u.end?.inclusive)
      return {
        ok: false,
        reason: 'an unaffected range ending with lessThanOrEqual leaves a gap Bulwark cannot express',
        path: u.end.path,
      };
    if (u.start && (cursor === undefined || cmp(u.start.value, cursor) > 0)) {
      const end = span?.hi !== undefined && cmp(u.start.value, span.hi) > 0 ? span.hi : u.start.value;
      out.push({
        status: 'affected',
        start: cursor === undefined ? undefined : { value: cursor, path: u.path },
        end: { value: end, path: u.start.path, inclusive: false },
        path: u.path,
      });
    }
    if (!u.end) {
      done = true;
      break;
    }
    if (cursor === undefined || cmp(u.end.value, cursor) > 0) cursor = u.end.value;
  }
  if (!done && (span?.hi === undefined || cursor === undefined || cmp(cursor, span.hi) < 0))
    out.push({
      status: 'affected',
      start: cursor === undefined ? undefined : { value: cursor, path },
      end: span?.hi === undefined ? undefined : { value: span.hi, path, inclusive: false },
      path,
    });
  return {
    ok: true,
    intervals: out.filter((iv) => !iv.start || !iv.end || cmp(iv.start.value, iv.end.value) < 0),
  };
}

function pushTo<K, V>(map: Map<K, V[]>, key: K, value: V): void {
  const l = map.get(key);
  if (l) l.push(value);
  else map.set(key, [value]);
}
