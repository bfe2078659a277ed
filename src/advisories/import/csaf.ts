/**
 * CSAF 2.0 (https://docs.oasis-open.org/csaf/csaf/v2.0/) importer: one document (security advisory, VEX,
 * informational) → one advisory whose id is the slug of `document.tracking.id` (RHSA-2024:4546 → rhsa-2024-4546),
 * holding every vulnerability that has a CVE id.
 *
 * Products: `product_tree.branches` are walked recursively (vendor → product_name / product_family →
 * product_version / product_version_range, through architecture, language, … branches), then
 * `full_product_names` and `relationships` (a "component of / installed on" product is its component). The
 * Bulwark product id comes from `product_identification_helper.purl`, else `.cpe`, else vendor + product names;
 * the version from the purl (rpm epoch qualifier included), else the product_version branch, else the CPE.
 *
 * Statuses: known_affected / first_affected / last_affected → affected (`versions`, or ranges from a
 * `vers:` product_version_range); fixed / first_fixed / recommended → `fixed_versions`; known_not_affected →
 * `not_affected_versions`; under_investigation → a warning (no verdict). A product without a version is a
 * warning, except a release name that a product catalog knows ("Microsoft Exchange Server 2016 Cumulative Update
 * 19"): its affected range runs to the build the vendor_fix remediation's KB produces in that train.
 *
 * Remediations: vendor_fix → `fixes` (security_update, or package_update with the fixed package version for
 * package URLs); none_available / no_fix_planned → a note on the affected entry; workaround / mitigation → a
 * warning (Bulwark mitigations are typed actions, not free text).
 *
 * Not representable, each a warning naming its path: vulnerabilities without a CVE id, free-text version
 * ranges, `vers:` ranges with `!=` or an exclusive lower bound, ranges marked fixed / not affected, and
 * versions of ecosystems Bulwark cannot order.
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
  advisoryIdSlug,
  asArray,
  asText,
  type CveInput,
  type CvssInput,
  canonicalVersion,
  catalogsFor,
  checkedAdvisory,
  compareIn,
  cvssFrom,
  cweFromText,
  describeValue,
  type FixInput,
  firstLine,
  inferScheme,
  isHttpUrl,
  isoDay,
  isRecord,
  kbFromText,
  makeReference,
  mergeAffected,
  parseCpe,
  parsePurl,
  pickCvss,
  productFromCpe,
  productFromNames,
  productFromPurl,
  productFromReleaseName,
  purlQualifiers,
  type RangeInput,
  type ReferenceInput,
  schemeFromPurlType,
  type TrainMatch,
  trainFromName,
  trainLabel,
  trainRangeForKb,
  validFixes,
  versionProblem,
  wholeTrainRange,
} from './products.js';
import { type ImportContext, ImportError, type ImportResult, type ImportWarning } from './types.js';

const MAX_BRANCH_DEPTH = 30;

interface CsafProduct {
  /** The CSAF product_id. */
  id: string;
  path: string;
  name: string;
  vendor?: string;
  /** Bulwark product id. */
  product: string;
  version?: string;
  /** product_version_range text. */
  range?: string;
  scheme?: SchemeId;
  /** Package name for package_update fixes (purl products). */
  packageName?: string;
  /** Why the product has no usable version, for warnings. */
  noVersion?: string;
  /** Product and version could not be told apart: no fix is made for it either. */
  unclear?: boolean;
  /** Name of the product without its version, for the affected entry. */
  displayName: string;
}

type Verdict = 'affected' | 'fixed' | 'not_affected';

const STATUS_VERDICT: Record<string, Verdict | 'investigating'> = {
  known_affected: 'affected',
  first_affected: 'affected',
  last_affected: 'affected',
  fixed: 'fixed',
  first_fixed: 'fixed',
  recommended: 'fixed',
  known_not_affected: 'not_affected',
  under_investigation: 'investigating',
};

/**
 * Imports one CSAF 2.0 document. Throws ImportError when it is not a CSAF document at all (no `document`, no
 * csaf_version, title or tracking id/date); everything else that cannot be used is a warning with its path.
 */
export function importCsaf(doc: unknown, ctx: ImportContext): ImportResult {
  if (!isRecord(doc))
    throw new ImportError(
      '',
      `expected a CSAF document (an object with "document"), got ${describeValue(doc)}`,
    );
  const d = doc.document;
  if (!isRecord(d))
    throw new ImportError(
      'document',
      `expected the CSAF document metadata (an object), got ${describeValue(d)}`,
    );
  const warnings: ImportWarning[] = [];
  if (typeof d.csaf_version !== 'string' || !/^2\.\d+$/.test(d.csaf_version))
    throw new ImportError('document.csaf_version', `expected "2.0", got ${describeValue(d.csaf_version)}`);
  if (d.csaf_version !== '2.0')
    warnings.push({
      path: 'document.csaf_version',
      message: `version ${d.csaf_version} read as CSAF 2.0; newer fields are ignored`,
    });
  const title = asText(d.title);
  if (!title)
    throw new ImportError('document.title', `expected the document title, got ${describeValue(d.title)}`);
  const tracking = d.tracking;
  if (!isRecord(tracking))
    throw new ImportError('document.tracking', `expected an object, got ${describeValue(tracking)}`);
  const trackingId = asText(tracking.id);
  const id = trackingId ? advisoryIdSlug(trackingId) : '';
  if (!trackingId || !id)
    throw new ImportError(
      'document.tracking.id',
      `expected the document id such as RHSA-2024:4546, got ${describeValue(tracking.id)}`,
    );
  const published = isoDay(tracking.initial_release_date);
  if (!published)
    throw new ImportError(
      'document.tracking.initial_release_date',
      `expected a date such as 2024-07-16T13:38:03+00:00, got ${describeValue(tracking.initial_release_date)}`,
    );
  const result: ImportResult = { format: 'csaf', advisories: [], kev: new Map(), warnings };

  const products = readProductTree(doc.product_tree, ctx.catalogs, warnings);
  const groups = readProductGroups(doc.product_tree, warnings);

  const references: ReferenceInput[] = [];
  readReferences(d.references, 'document.references', references, warnings);

  const cves: CveInput[] = [];
  const entries: NonNullable<AdvisoryInput['affected']> = [];
  const fixes: FixInput[] = [];
  const vulns = asArray(doc.vulnerabilities);
  if (!vulns)
    warnings.push({
      path: 'vulnerabilities',
      message: `expected an array, got ${describeValue(doc.vulnerabilities)}; ignored`,
    });
  (vulns ?? []).forEach((v, k) => {
    const path = `vulnerabilities[${k}]`;
    if (!isRecord(v)) {
      warnings.push({ path, message: `expected an object, got ${describeValue(v)}; skipped` });
      return;
    }
    const cveId = typeof v.cve === 'string' ? v.cve.trim().toUpperCase() : undefined;
    if (!cveId || !isCveId(cveId)) {
      const ids = (asArray(v.ids) ?? [])
        .filter(isRecord)
        .map((x) => asText(x.text))
        .filter(Boolean);
      warnings.push({
        path: `${path}.cve`,
        message: `no CVE id (${describeValue(v.cve)}${ids.length ? `; ids ${ids.join(', ')}` : ''}); a Bulwark advisory lists CVEs only, so this vulnerability is skipped`,
      });
      return;
    }
    if (cves.some((c) => c.id === cveId)) {
      warnings.push({
        path: `${path}.cve`,
        message: `${cveId} is listed twice; the second entry is skipped`,
      });
      return;
    }
    cves.push(readCve(v, cveId, path, warnings));
    readReferences(v.references, `${path}.references`, references, warnings);
    const remediations = readRemediations(v, path, products, groups, warnings);
    const builders = applyStatuses(v, cveId, path, products, remediations, ctx.catalogs, warnings);
    for (const b of builders.values()) {
      const e = b.finish([cveId], warnings);
      if (e) entries.push(e);
    }
    for (const f of makeFixes(remediations, cveId, products, trackingId, builders)) mergeFix(fixes, f);
  });

  if (cves.length === 0) {
    warnings.push({
      path: 'vulnerabilities',
      message: `no vulnerability with a CVE id (document category ${describeValue(d.category)}); no advisory`,
    });
    return result;
  }
  const summary = noteText(d.notes, ['summary', 'description', 'general']) ?? title;
  const advisory: AdvisoryInput = {
    schema_version: 1,
    id,
    title,
    summary,
    published,
    origin: `csaf:${ctx.origin}`,
    cves,
    affected: mergeAffected(entries),
    fixes: validFixes(fixes, warnings, 'vulnerabilities'),
    references: references as Reference[],
  };
  result.advisories.push(checkedAdvisory(advisory));
  return result;
}

// ---- product tree ------------------------------------------------------------------------------------------------

interface BranchContext {
  vendor?: string;
  productName?: string;
  family?: string;
  version?: string;
  range?: string;
}

function readProductTree(
  tree: unknown,
  catalogs: readonly Catalog[],
  warnings: ImportWarning[],
): Map<string, CsafProduct> {
  const products = new Map<string, CsafProduct>();
  if (tree === undefined) return products;
  if (!isRecord(tree)) {
    warnings.push({
      path: 'product_tree',
      message: `expected an object, got ${describeValue(tree)}; no products`,
    });
    return products;
  }
  const register = (fpn: unknown, path: string, bc: BranchContext) => {
    if (!isRecord(fpn)) {
      warnings.push({ path, message: `expected a product (an object), got ${describeValue(fpn)}; skipped` });
      return;
    }
    const pid = asText(fpn.product_id);
    if (!pid) {
      warnings.push({
        path: `${path}.product_id`,
        message: `expected a product id, got ${describeValue(fpn.product_id)}; skipped`,
      });
      return;
    }
    if (products.has(pid)) {
      warnings.push({
        path: `${path}.product_id`,
        message: `product id ${JSON.stringify(pid)} is defined twice; the first is used`,
      });
      return;
    }
    products.set(pid, describeProduct(pid, fpn, path, bc, catalogs, warnings));
  };

  const walk = (branches: unknown, path: string, bc: BranchContext, depth: number) => {
    const items = asArray(branches);
    if (!items) {
      warnings.push({ path, message: `expected an array, got ${describeValue(branches)}; ignored` });
      return;
    }
    if (depth > MAX_BRANCH_DEPTH) {
      warnings.push({ path, message: `branches nested deeper than ${MAX_BRANCH_DEPTH}; ignored` });
      return;
    }
    items.forEach((b, i) => {
      const p = `${path}[${i}]`;
      if (!isRecord(b)) {
        warnings.push({
          path: p,
          message: `expected a branch (an object), got ${describeValue(b)}; skipped`,
        });
        return;
      }
      const name = asText(b.name);
      const next: BranchContext = { ...bc };
      switch (b.category) {
        case 'vendor':
          next.vendor = name;
          break;
        case 'product_name':
          next.productName = name;
          break;
        case 'product_family':
          next.family = name;
          break;
        case 'product_version':
          next.version = name;
          break;
        case 'product_version_range':
          next.range = name;
          break;
        default:
          break; // architecture, language, platform, …: they do not change product or version
      }
      if (b.product !== undefined) register(b.product, `${p}.product`, next);
      if (b.branches !== undefined) walk(b.branches, `${p}.branches`, next, depth + 1);
    });
  };
  if (tree.branches !== undefined) walk(tree.branches, 'product_tree.branches', {}, 0);
  (asArray(tree.full_product_names) ?? []).forEach((fpn, i) => {
    register(fpn, `product_tree.full_product_names[${i}]`, {});
  });
  (asArray(tree.relationships) ?? []).forEach((rel, i) => {
    const path = `product_tree.relationships[${i}]`;
    if (!isRecord(rel) || !isRecord(rel.full_product_name)) {
      warnings.push({ path, message: 'expected a relationship with full_product_name; skipped' });
      return;
    }
    const pid = asText(rel.full_product_name.product_id);
    const ref = asText(rel.product_reference);
    const component = ref ? products.get(ref) : undefined;
    if (!pid || !component) {
      warnings.push({
        path: `${path}.product_reference`,
        message: `refers to unknown product ${describeValue(rel.product_reference)}; skipped`,
      });
      return;
    }
    if (products.has(pid)) {
      warnings.push({
        path: `${path}.full_product_name.product_id`,
        message: `product id ${JSON.stringify(pid)} is defined twice; the first is used`,
      });
      return;
    }
    // "<component> as a component of <platform>": the component is what is (not) affected.
    products.set(pid, {
      ...component,
      id: pid,
      path: `${path}.full_product_name`,
      name: asText(rel.full_product_name.name) ?? component.name,
    });
  });
  return products;
}

function describeProduct(
  pid: string,
  fpn: Record<string, unknown>,
  path: string,
  bc: BranchContext,
  catalogs: readonly Catalog[],
  warnings: ImportWarning[],
): CsafProduct {
  const name = asText(fpn.name) ?? pid;
  const helper = isRecord(fpn.product_identification_helper) ? fpn.product_identification_helper : {};
  const out: CsafProduct = { id: pid, path, name, vendor: bc.vendor, product: '', displayName: name };
  const line = bc.productName ?? bc.family;
  if (line) out.displayName = bc.vendor && !line.startsWith(bc.vendor) ? `${bc.vendor} ${line}` : line;
  const purl = asText(helper.purl);
  if (purl) {
    const parsed = parsePurl(purl);
    const product = productFromPurl(purl);
    if (parsed && product) {
      out.product = product;
      out.packageName = parsed.name;
      out.displayName = parsed.name;
      out.scheme = schemeFromPurlType(parsed.type);
      if (parsed.version) {
        const epoch = purlQualifiers(purl).get('epoch');
        out.version =
          parsed.type === 'rpm' && epoch && epoch !== '0' ? `${epoch}:${parsed.version}` : parsed.version;
      }
      if (!out.scheme) out.noVersion = `versions of ${parsed.type} packages cannot be compared by Bulwark`;
    } else
      warnings.push({
        path: `${path}.product_identification_helper.purl`,
        message: `not a package URL (${describeValue(purl)}); ignored`,
      });
  }
  const cpe = asText(helper.cpe);
  if (!out.product && cpe) {
    const product = productFromCpe(cpe);
    if (product) out.product = product;
    else
      warnings.push({
        path: `${path}.product_identification_helper.cpe`,
        message: `not a CPE name (${describeValue(cpe)}); ignored`,
      });
  }
  if (!out.version && bc.version) {
    if (bc.productName || bc.family || out.product) out.version = bc.version;
    else {
      out.noVersion = `product_version ${JSON.stringify(bc.version)} has no product_name above it, so product and version cannot be told apart`;
      out.unclear = true;
    }
  }
  if (!out.version && !bc.range && cpe) {
    const v = parseCpe(cpe)?.version;
    if (v && out.product && !catalogs.some((c) => c.product === out.product)) out.version = v;
  }
  if (bc.range && !out.version) out.range = bc.range;
  if (!out.product) {
    const match = trainFromName(name, catalogs);
    if (match) {
      out.product = match.catalog.product;
      out.displayName = match.catalog.name;
    } else if (bc.productName || bc.family)
      out.product = productFromNames(bc.vendor ?? 'unknown', (bc.productName ?? bc.family)!);
    else out.product = productFromReleaseName(bc.vendor ?? '', bc.vendor ? name : `unknown ${name}`);
  }
  return out;
}

function readProductGroups(tree: unknown, warnings: ImportWarning[]): Map<string, string[]> {
  const groups = new Map<string, string[]>();
  if (!isRecord(tree)) return groups;
  (asArray(tree.product_groups) ?? []).forEach((g, i) => {
    if (!isRecord(g) || !asText(g.group_id)) {
      warnings.push({
        path: `product_tree.product_groups[${i}]`,
        message: 'expected a group with group_id; skipped',
      });
      return;
    }
    groups.set(
      asText(g.group_id)!,
      (asArray(g.product_ids) ?? []).filter((x): x is string => typeof x === 'string'),
    );
  });
  return groups;
}

// ---- vulnerabilities ---------------------------------------------------------------------------------------------

function noteText(notes: unknown, categories: string[]): string | undefined {
  const items = (asArray(notes) ?? []).filter(isRecord);
  for (const cat of categories) {
    const n = items.find((x) => x.category === cat && asText(x.text));
    if (n) return (n.text as string).trim();
  }
  return undefined;
}

function readCve(
  v: Record<string, unknown>,
  cveId: string,
  path: string,
  warnings: ImportWarning[],
): CveInput {
  const cve: CveInput = { id: cveId, cwe: [] };
  const title = asText(v.title);
  if (title) cve.title = title;
  const description = noteText(v.notes, ['description', 'summary', 'general']);
  if (description) cve.description = description;
  if (isRecord(v.cwe)) {
    const cwe = cweFromText(v.cwe.id);
    if (cwe) cve.cwe = [cwe];
    else
      warnings.push({
        path: `${path}.cwe.id`,
        message: `not a CWE id (${describeValue(v.cwe.id)}); ignored`,
      });
  }
  const found: CvssInput[] = [];
  (asArray(v.scores) ?? []).forEach((s, i) => {
    if (!isRecord(s)) return;
    for (const key of ['cvss_v3', 'cvss_v2'] as const) {
      const c = s[key];
      if (!isRecord(c)) continue;
      const r = cvssFrom(key === 'cvss_v2' ? '2.0' : c.version, c.vectorString, c.baseScore);
      if (r.ok) found.push(r.value);
      else warnings.push({ path: `${path}.scores[${i}].${key}`, message: `CVSS skipped: ${r.reason}` });
    }
  });
  const cvss = pickCvss(found);
  if (cvss) cve.cvss = cvss;
  return cve;
}

function readReferences(
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
    if (!isRecord(r)) return;
    const summary = asText(r.summary);
    const ref = makeReference(r.url, summary, r.category === 'self' ? 'vendor' : undefined);
    if (ref) addReference(into, ref);
    else
      warnings.push({
        path: `${path}[${i}].url`,
        message: `not an http(s) URL (${describeValue(r.url)}); skipped`,
      });
  });
}

interface Remediation {
  path: string;
  category: string;
  productIds: string[];
  kb?: string;
  url?: string;
  details?: string;
  date?: string;
}

function readRemediations(
  v: Record<string, unknown>,
  path: string,
  products: Map<string, CsafProduct>,
  groups: Map<string, string[]>,
  warnings: ImportWarning[],
): Remediation[] {
  const out: Remediation[] = [];
  (asArray(v.remediations) ?? []).forEach((r, i) => {
    const p = `${path}.remediations[${i}]`;
    if (!isRecord(r) || typeof r.category !== 'string') {
      warnings.push({ path: p, message: 'expected a remediation with a category; skipped' });
      return;
    }
    const ids = new Set<string>();
    for (const x of asArray(r.product_ids) ?? []) if (typeof x === 'string') ids.add(x);
    for (const g of asArray(r.group_ids) ?? []) {
      const members = typeof g === 'string' ? groups.get(g) : undefined;
      if (members) for (const x of members) ids.add(x);
      else
        warnings.push({
          path: `${p}.group_ids`,
          message: `unknown product group ${describeValue(g)}; ignored`,
        });
    }
    for (const x of ids)
      if (!products.has(x))
        warnings.push({ path: `${p}.product_ids`, message: `unknown product ${JSON.stringify(x)}; ignored` });
    const details = asText(r.details);
    const url = asText(r.url);
    const rem: Remediation = {
      path: p,
      category: r.category,
      productIds: [...ids].filter((x) => products.has(x)),
      kb: kbFromText(details) ?? (url ? kbFromText(url) : undefined),
      url: isHttpUrl(url) ? url : undefined,
      details,
      date: isoDay(r.date),
    };
    if (url && !rem.url)
      warnings.push({ path: `${p}.url`, message: `not an http(s) URL (${describeValue(url)}); not kept` });
    if (r.category === 'workaround' || r.category === 'mitigation')
      warnings.push({
        path: `${p}.category`,
        message: `${r.category} not imported (Bulwark mitigations are typed actions): ${firstLine(details ?? '(no details)', 120)}`,
      });
    else if (!['vendor_fix', 'none_available', 'no_fix_planned'].includes(r.category))
      warnings.push({
        path: `${p}.category`,
        message: `unknown remediation category ${describeValue(r.category)}; ignored`,
      });
    out.push(rem);
  });
  return out;
}

function applyStatuses(
  v: Record<string, unknown>,
  cveId: string,
  path: string,
  products: Map<string, CsafProduct>,
  remediations: Remediation[],
  catalogs: readonly Catalog[],
  warnings: ImportWarning[],
): Map<string, AffectedBuilder> {
  const builders = new Map<string, AffectedBuilder>();
  const builder = (p: CsafProduct, scheme: SchemeId, catalog?: Catalog) => {
    const key = `${p.product}\u0000${scheme}`;
    let b = builders.get(key);
    if (!b) {
      b = new AffectedBuilder(p.product, scheme, p.path, catalog?.name ?? p.displayName, catalog);
      builders.set(key, b);
    }
    return b;
  };
  const status = v.product_status;
  if (status === undefined) {
    warnings.push({
      path: `${path}.product_status`,
      message: 'no product status; no affected entries for this CVE',
    });
    return builders;
  }
  if (!isRecord(status)) {
    warnings.push({
      path: `${path}.product_status`,
      message: `expected an object, got ${describeValue(status)}; ignored`,
    });
    return builders;
  }
  // The versions of each product in this document decide its scheme together ("1.0" and "1.0.1-rc1" → semver).
  const versionsOf = new Map<string, string[]>();
  for (const p of products.values())
    if (p.version) versionsOf.set(p.product, [...(versionsOf.get(p.product) ?? []), p.version]);
  const lost: { product: string; path: string; reason: string }[] = [];
  const sc: StatusContext = { cveId, remediations, catalogs, versionsOf, builder, lost, warnings };

  for (const [key, ids] of Object.entries(status)) {
    const spath = `${path}.product_status.${key}`;
    const verdict = Object.hasOwn(STATUS_VERDICT, key) ? STATUS_VERDICT[key] : undefined;
    if (!verdict) {
      warnings.push({ path: spath, message: `unknown product status ${JSON.stringify(key)}; ignored` });
      continue;
    }
    const list = asArray(ids);
    if (!list) {
      warnings.push({
        path: spath,
        message: `expected an array of product ids, got ${describeValue(ids)}; ignored`,
      });
      continue;
    }
    list.forEach((pid, i) => {
      const ip = `${spath}[${i}]`;
      const p = typeof pid === 'string' ? products.get(pid) : undefined;
      if (!p) {
        warnings.push({ path: ip, message: `unknown product ${describeValue(pid)}; skipped` });
        return;
      }
      if (verdict === 'investigating') {
        warnings.push({ path: ip, message: `${p.name}: under investigation for ${cveId}; no verdict` });
        return;
      }
      applyOne(p, key, verdict, ip, sc);
    });
  }
  // An affected claim that could not be used makes every entry of its product unsafe (see AffectedBuilder.finish).
  for (const l of lost)
    for (const b of builders.values())
      if (b.product === l.product) b.lose({ path: l.path, reason: l.reason });
  // none_available / no_fix_planned remediations become notes on the entries they concern.
  for (const r of remediations) {
    if (r.category !== 'none_available' && r.category !== 'no_fix_planned') continue;
    const note = `${r.category === 'none_available' ? 'No fix available' : 'No fix planned'}${r.details ? `: ${firstLine(r.details, 300)}` : ''}`;
    for (const pid of r.productIds) {
      const p = products.get(pid)!;
      for (const b of builders.values()) if (b.product === p.product) b.notes.push(note);
    }
  }
  return builders;
}

interface StatusContext {
  cveId: string;
  remediations: Remediation[];
  catalogs: readonly Catalog[];
  versionsOf: Map<string, string[]>;
  builder: (p: CsafProduct, scheme: SchemeId, catalog?: Catalog) => AffectedBuilder;
  lost: { product: string; path: string; reason: string }[];
  warnings: ImportWarning[];
}

function applyOne(p: CsafProduct, status: string, verdict: Verdict, path: string, sc: StatusContext): void {
  const { warnings } = sc;
  const what = verdict === 'affected' ? 'affected' : verdict === 'fixed' ? 'fixed' : 'not affected';
  const skip = (reason: string) => {
    warnings.push({ path, message: `${p.name}: ${reason}; ${what} status skipped` });
    if (verdict === 'affected') sc.lost.push({ product: p.product, path, reason });
  };
  if (!p.version && !p.range) {
    const own = catalogsFor(p.product, sc.catalogs);
    const match = own.length ? trainFromName(p.name, own) : undefined;
    if (match && verdict === 'affected') {
      affectedByKb(p, match, path, sc);
      return;
    }
    skip(
      `${p.noVersion ?? 'no product_version, version range or versioned identifier'}, so it cannot tell which versions`,
    );
    return;
  }
  if (p.noVersion && !p.scheme) {
    skip(p.noVersion);
    return;
  }
  if (p.range) {
    const vers = parseVers(p.range, p.scheme, p.product);
    if (!vers.ok) {
      skip(`version range ${JSON.stringify(p.range)}: ${vers.reason}`);
      return;
    }
    const b = sc.builder(p, vers.scheme);
    if (verdict !== 'affected') {
      if (vers.points.length && vers.ranges.length === 0)
        for (const x of vers.points) (verdict === 'fixed' ? b.fixedVersions : b.notAffectedVersions).add(x);
      else
        warnings.push({
          path,
          message: `${p.name}: the range ${JSON.stringify(p.range)} cannot be marked ${what} in the Bulwark model (only single versions can); skipped`,
        });
      return;
    }
    for (const r of vers.ranges) b.addRange(r);
    for (const x of vers.points) b.versions.add(x);
    return;
  }
  const version = p.version!;
  const scheme =
    p.scheme ??
    inferScheme(p.product, sc.versionsOf.get(p.product) ?? [version]) ??
    inferScheme(p.product, [version]);
  if (!scheme) {
    skip(`cannot tell the version scheme of ${JSON.stringify(version)} (not numeric dotted, not semver)`);
    return;
  }
  const v = canonicalVersion(scheme, version);
  const problem = versionProblem(scheme, v);
  if (problem) {
    skip(problem);
    return;
  }
  const b = sc.builder(p, scheme);
  (verdict === 'affected' ? b.versions : verdict === 'fixed' ? b.fixedVersions : b.notAffectedVersions).add(
    v,
  );
  // A first fix, or a fixed version that the vendor_fix update installs, means the versions below it needed
  // the fix: they are taken as affected (as Red Hat's own CSAF → OSV conversion does).
  const firstFix = status === 'first_fixed';
  const installed = sc.remediations.some((r) => r.category === 'vendor_fix' && r.productIds.includes(p.id));
  if (verdict === 'fixed' && status !== 'recommended' && (firstFix || installed)) {
    b.addRange({ fixed: v });
    b.notes.push(
      firstFix
        ? 'Versions below a first_fixed version are taken as affected.'
        : 'Versions below a fixed version that the vendor fix installs are taken as affected.',
    );
  }
}

/** A release name a catalog knows, affected until the build its vendor_fix KB produces in that train. */
function affectedByKb(p: CsafProduct, match: TrainMatch, path: string, sc: StatusContext): void {
  const { cveId, remediations, warnings } = sc;
  const b = sc.builder(p, match.catalog.scheme as SchemeId, match.catalog);
  const label = trainLabel(match.train);
  const kbs = [
    ...new Set(
      remediations
        .filter((r) => r.category === 'vendor_fix' && r.kb && r.productIds.includes(p.id))
        .map((r) => r.kb!),
    ),
  ];
  const fallback = wholeTrainRange(match);
  if (kbs.length === 0) {
    const reason = `${label}: no vendor_fix remediation with a KB for it, so the fixed build is unknown`;
    warnings.push({ path, message: `${reason}; skipped` });
    b.lose({ path, reason, fallback });
    return;
  }
  for (const kb of kbs) {
    const r = trainRangeForKb(match, kb);
    if (r.ok) {
      b.addRange(r.range);
      return;
    }
    warnings.push({ path, message: `${r.reason} (${cveId}); skipped` });
  }
  b.lose({
    path,
    reason: `${label}: the catalog does not know the build ${kbs.join(', ')} produces`,
    fallback,
  });
}

// ---- vers: ranges ------------------------------------------------------------------------------------------------

const VERS_SCHEMES: Record<string, SchemeId | 'infer'> = {
  generic: 'infer',
  deb: 'dpkg',
  debian: 'dpkg',
  rpm: 'rpm',
  semver: 'semver',
  npm: 'semver',
  cargo: 'semver',
};

/**
 * A `vers:` range (https://github.com/package-url/vers-spec): `vers:<scheme>/<constraint>|<constraint>…` with
 * constraints `=v`, `<v`, `<=v`, `>=v` (and `*`). Consecutive lower/upper constraints form one range.
 */
export function parseVers(
  text: string,
  purlScheme: SchemeId | undefined,
  product: string,
): { ok: true; scheme: SchemeId; ranges: RangeInput[]; points: string[] } | { ok: false; reason: string } {
  const m = /^vers:([a-z0-9.+-]+)\/(.*)$/i.exec(text.trim());
  if (!m) return { ok: false, reason: 'free text, not a vers: range such as "vers:generic/>=1.0|<2.0"' };
  const kind = VERS_SCHEMES[m[1]!.toLowerCase()];
  if (!kind)
    return {
      ok: false,
      reason: `versions of vers scheme ${JSON.stringify(m[1])} cannot be compared by Bulwark`,
    };
  const body = m[2]!.replace(/\s+/g, '');
  if (body === '*') {
    const scheme = kind === 'infer' ? (purlScheme ?? 'dotted') : kind;
    return { ok: true, scheme, ranges: [{}], points: [] };
  }
  const terms: { op: string; v: string }[] = [];
  for (const c of body.split('|')) {
    const t = /^(>=|<=|!=|<|>|=)?(.+)$/.exec(c);
    if (!t) return { ok: false, reason: `empty constraint in ${JSON.stringify(text)}` };
    let v: string;
    try {
      v = decodeURIComponent(t[2]!);
    } catch {
      return { ok: false, reason: `bad escape in ${JSON.stringify(t[2])}` };
    }
    terms.push({ op: t[1] ?? '=', v });
  }
  const scheme =
    kind === 'infer'
      ? (purlScheme ??
        inferScheme(
          product,
          terms.map((t) => t.v),
        ))
      : kind;
  if (!scheme) return { ok: false, reason: 'cannot tell the version scheme of its versions' };
  const ranges: RangeInput[] = [];
  const points: string[] = [];
  let lower: string | undefined;
  let open = false;
  for (const t of terms) {
    const v = canonicalVersion(scheme, t.v);
    const problem = versionProblem(scheme, v);
    if (problem) return { ok: false, reason: problem };
    switch (t.op) {
      case '=':
        points.push(v);
        break;
      case '!=':
        return { ok: false, reason: '"!=" (an excluded version) cannot be represented' };
      case '>':
        return { ok: false, reason: '">" (an exclusive lower bound) cannot be represented' };
      case '>=':
        if (open) return { ok: false, reason: 'two lower bounds in a row' };
        lower = v;
        open = true;
        break;
      default: {
        const r: RangeInput = {};
        if (open && lower !== undefined) r.introduced = lower;
        else if (ranges.length)
          return { ok: false, reason: 'an upper bound without a lower bound after another range' };
        if (r.introduced !== undefined) {
          const c = compareIn(scheme, r.introduced, v)!;
          if (t.op === '<' ? c >= 0 : c > 0)
            return { ok: false, reason: `empty range ${r.introduced} … ${t.op}${t.v}` };
        }
        r[t.op === '<' ? 'fixed' : 'last_affected'] = v;
        ranges.push(r);
        open = false;
        lower = undefined;
      }
    }
  }
  if (open && lower !== undefined) ranges.push({ introduced: lower });
  return { ok: true, scheme, ranges, points };
}

// ---- fixes -------------------------------------------------------------------------------------------------------

function makeFixes(
  remediations: Remediation[],
  cveId: string,
  products: Map<string, CsafProduct>,
  trackingId: string,
  builders: Map<string, AffectedBuilder>,
): FixInput[] {
  const out: FixInput[] = [];
  for (const r of remediations) {
    if (r.category !== 'vendor_fix') continue;
    // One fix per Bulwark product the remediation names.
    const byProduct = new Map<string, CsafProduct[]>();
    for (const pid of r.productIds) {
      const p = products.get(pid)!;
      if (p.unclear) continue;
      byProduct.set(p.product, [...(byProduct.get(p.product) ?? []), p]);
    }
    for (const [product, ps] of byProduct) {
      const fix: FixInput = {
        id: r.kb ?? trackingId,
        title: `${r.kb ?? trackingId}: vendor fix for ${ps[0]!.displayName}`,
        kind: product.startsWith('pkg:') ? 'package_update' : 'security_update',
        product,
        cves: [cveId],
      };
      if (r.kb) fix.kb = r.kb;
      if (r.url) fix.url = r.url;
      if (r.date) fix.released = r.date;
      if (r.details) fix.notes = r.details.length > 2000 ? `${r.details.slice(0, 1999)}…` : r.details;
      // The package version this update installs: the remediation's products that this CVE lists as fixed.
      const fixed = new Set<string>();
      for (const b of builders.values())
        if (b.product === product) for (const v of b.fixedVersions) fixed.add(v);
      const pkgVersions = new Set(ps.filter((p) => p.version && p.packageName).map((p) => p.version!));
      const installs = [...pkgVersions].filter((v) =>
        [...fixed].some((f) => f === v || f.endsWith(`:${v}`) || v.endsWith(`:${f}`)),
      );
      if (fix.kind === 'package_update' && installs.length === 1 && ps[0]!.packageName)
        fix.package = { name: ps[0]!.packageName, version: installs[0]! };
      out.push(fix);
    }
  }
  return out;
}

function mergeFix(fixes: FixInput[], f: FixInput): void {
  const same = fixes.find(
    (x) =>
      x.id === f.id &&
      x.product === f.product &&
      x.url === f.url &&
      JSON.stringify(x.package) === JSON.stringify(f.package),
  );
  if (same) {
    for (const c of f.cves) if (!same.cves.includes(c)) same.cves.push(c);
  } else fixes.push(f);
}
