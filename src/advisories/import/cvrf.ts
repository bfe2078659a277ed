/**
 * CVRF 1.1/1.2 XML importer, written for Microsoft's Security Update Guide documents (the monthly release
 * `cvrfDocument-2021-Mar.xml` and its siblings): one document → one advisory `msrc-<DocumentTracking ID>`
 * (e.g. `msrc-2021-mar`) holding every `vuln:Vulnerability` that has a CVE id.
 *
 * Products are only free-text names (`prod:FullProductName`), so affected entries are made only where a product
 * catalog knows the name as a release train: "Microsoft Exchange Server 2016 Cumulative Update 19" is the
 * catalog's "Exchange Server 2016 CU19" train, affected from its first build up to the build that the Vendor Fix
 * KB of that product (`vuln:Remediation Type="Vendor Fix"`, Description "5000871") produces in that train, e.g.
 * [15.1.2176.2, 15.1.2176.9). The same KB becomes a `fixes` entry with one target per train.
 *
 * Every other product (Windows, Office, …) gets no affected entry and ONE warning per product name saying how
 * many CVEs of the document affect it. Other statuses than Known/First/Last Affected carry no versions in MSRC
 * documents and are summarised in one warning per status type. Notes are HTML: tags are stripped.
 */
import { XMLParser, XMLValidator } from 'fast-xml-parser';
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
  asText,
  type CveInput,
  type CvssInput,
  checkedAdvisory,
  cvssFrom,
  cweFromText,
  describeValue,
  type FixInput,
  isHttpUrl,
  isoDay,
  isRecord,
  kbFromText,
  makeReference,
  mergeAffected,
  normaliseReleaseName,
  pickCvss,
  type ReferenceInput,
  stripHtml,
  type TrainMatch,
  trainFromName,
  trainLabel,
  trainRangeForKb,
  validFixes,
  wholeTrainRange,
} from './products.js';
import { type ImportContext, ImportError, type ImportResult, type ImportWarning } from './types.js';

/** Bigger than any monthly MSRC document (the March 2021 one is 2 MB) by far; refuses runaway input early. */
export const MAX_CVRF_BYTES = 64 * 1024 * 1024;
const MAX_SUMMARY = 1500;

const ARRAY_TAGS = new Set([
  'Vulnerability',
  'FullProductName',
  'Branch',
  'Relationship',
  'Status',
  'ProductID',
  'Remediation',
  'ScoreSet',
  'Note',
  'Reference',
  'Threat',
  'CWE',
  'Revision',
  'Acknowledgment',
  'Group',
]);

const AFFECTED_STATUS = new Set(['Known Affected', 'First Affected', 'Last Affected']);

const FIX_KIND: Record<string, FixInput['kind']> = {
  'Security Update': 'security_update',
  'Security Only': 'security_update',
  'Monthly Rollup': 'cumulative_update',
  'IE Cumulative': 'cumulative_update',
};

interface ProductName {
  name: string;
  path: string;
}

interface VendorFix {
  kb?: string;
  url?: string;
  subType?: string;
  path: string;
}

/**
 * Imports one CVRF document (the XML text; a leading byte-order mark is ignored). Throws ImportError when the
 * text is not well-formed XML or not a CVRF document (no cvrfdoc root, title, tracking id or release date).
 */
export function importCvrf(xml: string, ctx: ImportContext): ImportResult {
  if (typeof xml !== 'string') throw new ImportError('', `expected CVRF XML text, got ${describeValue(xml)}`);
  if (xml.length > MAX_CVRF_BYTES)
    throw new ImportError('', `the document is larger than ${MAX_CVRF_BYTES} bytes`);
  const text = xml.replace(/^\uFEFF/, '');
  const valid = XMLValidator.validate(text);
  if (valid !== true)
    throw new ImportError(
      `line ${valid.err.line}, column ${valid.err.col}`,
      `not well-formed XML: ${valid.err.msg}`,
    );
  let parsed: unknown;
  try {
    parsed = new XMLParser({
      ignoreAttributes: false,
      attributeNamePrefix: '@_',
      removeNSPrefix: true,
      parseTagValue: false,
      parseAttributeValue: false,
      trimValues: true,
      isArray: (name) => ARRAY_TAGS.has(name),
    }).parse(text);
  } catch (err) {
    throw new ImportError('', `cannot read the XML: ${(err as Error).message}`);
  }
  const doc = isRecord(parsed) ? parsed.cvrfdoc : undefined;
  if (!isRecord(doc))
    throw new ImportError('cvrfdoc', 'not a CVRF document: the root element is not cvrf:cvrfdoc');
  const title = textOf(doc.DocumentTitle);
  if (!title) throw new ImportError('cvrfdoc.DocumentTitle', 'missing; a CVRF document needs a title');
  const tracking = isRecord(doc.DocumentTracking) ? doc.DocumentTracking : undefined;
  const ident = tracking && isRecord(tracking.Identification) ? tracking.Identification : undefined;
  const trackingId = textOf(ident?.ID);
  if (!trackingId || !advisoryIdSlug(trackingId))
    throw new ImportError(
      'cvrfdoc.DocumentTracking.Identification.ID',
      `expected the document id such as 2021-Mar, got ${describeValue(ident?.ID)}`,
    );
  const published = isoDay(textOf(tracking?.InitialReleaseDate));
  if (!published)
    throw new ImportError(
      'cvrfdoc.DocumentTracking.InitialReleaseDate',
      `expected a date such as 2021-03-09T08:00:00Z, got ${describeValue(textOf(tracking?.InitialReleaseDate))}`,
    );

  const warnings: ImportWarning[] = [];
  const result: ImportResult = { format: 'cvrf', advisories: [], kev: new Map(), warnings };
  const products = readProductTree(doc.ProductTree, warnings);
  const references: ReferenceInput[] = [];
  readReferences(doc.DocumentReferences, 'cvrfdoc.DocumentReferences', references, warnings);

  const cves: CveInput[] = [];
  const entries: NonNullable<AdvisoryInput['affected']> = [];
  const fixes = new Map<string, FixInput>();
  /** Product names no catalog maps, with the CVEs that affect them. */
  const unmapped = new Map<string, { product: ProductName; id: string; cves: Set<string>; reason: string }>();
  /** Statuses other than affected, per type: how many product/CVE pairs were not used. */
  const otherStatus = new Map<string, { path: string; count: number }>();

  asList(doc.Vulnerability).forEach((v, i) => {
    const path = `cvrfdoc.Vulnerability[${i}]`;
    if (!isRecord(v)) return;
    const cveId = textOf(v.CVE)?.toUpperCase();
    if (!cveId || !isCveId(cveId)) {
      warnings.push({
        path: `${path}.CVE`,
        message: `not a CVE id (${describeValue(textOf(v.CVE))}); vulnerability skipped`,
      });
      return;
    }
    if (cves.some((c) => c.id === cveId)) {
      warnings.push({
        path: `${path}.CVE`,
        message: `${cveId} is listed twice; the second entry is skipped`,
      });
      return;
    }
    cves.push(readCve(v, cveId, path, warnings));
    readReferences(v.References, `${path}.References`, references, warnings);

    // Vendor fixes per product id.
    const vendorFixes = new Map<string, VendorFix[]>();
    const rems = isRecord(v.Remediations) ? asList(v.Remediations.Remediation) : [];
    rems.forEach((r, j) => {
      if (!isRecord(r) || r['@_Type'] !== 'Vendor Fix') return;
      const rp = `${path}.Remediations.Remediation[${j}]`;
      const desc = textOf(r.Description);
      const url = textOf(r.URL);
      const fix: VendorFix = {
        kb: kbFromText(desc) ?? (url ? kbFromText(url) : undefined),
        url: isHttpUrl(url) ? url : undefined,
        subType: textOf(r.SubType),
        path: rp,
      };
      for (const id of asList(r.ProductID).map(textOf)) {
        if (!id) continue;
        const list = vendorFixes.get(id);
        if (list) list.push(fix);
        else vendorFixes.set(id, [fix]);
      }
    });

    const builders = new Map<string, AffectedBuilder>();
    const statuses = isRecord(v.ProductStatuses) ? asList(v.ProductStatuses.Status) : [];
    statuses.forEach((s, j) => {
      if (!isRecord(s)) return;
      const type = asText(s['@_Type']) ?? '(no type)';
      const spath = `${path}.ProductStatuses.Status[${j}]`;
      const ids = asList(s.ProductID)
        .map(textOf)
        .filter((x): x is string => !!x);
      if (!AFFECTED_STATUS.has(type)) {
        const o = otherStatus.get(type);
        if (o) o.count += ids.length;
        else otherStatus.set(type, { path: spath, count: ids.length });
        return;
      }
      ids.forEach((id, x) => {
        const ipath = `${spath}.ProductID[${x}]`;
        const product = products.get(id);
        if (!product) {
          warnings.push({
            path: ipath,
            message: `unknown ProductID ${JSON.stringify(id)} (not in the product tree); skipped`,
          });
          return;
        }
        const match = trainFromName(product.name, ctx.catalogs);
        if (!match) {
          // A release of a catalogued product line that the catalog does not know: the product's other ranges
          // for this CVE would misjudge it, so they are dropped (AffectedBuilder.finish).
          const line = lineOfCatalog(product.name, ctx.catalogs);
          if (line) {
            const reason = `no train of catalog "${line.id}" matches ${JSON.stringify(product.name)}`;
            warnings.push({ path: ipath, message: `${reason}; skipped` });
            builderFor(builders, line.product, line.scheme as SchemeId, product.name, ipath, line).lose({
              path: ipath,
              reason,
            });
            return;
          }
          const u = unmapped.get(product.name);
          if (u) u.cves.add(cveId);
          else
            unmapped.set(product.name, {
              product,
              id,
              cves: new Set([cveId]),
              reason: 'no product catalog maps this product name to versions',
            });
          return;
        }
        const b = builderFor(
          builders,
          match.catalog.product,
          match.catalog.scheme as SchemeId,
          product.name,
          ipath,
          match.catalog,
        );
        affectedByKb(b, match, id, product, vendorFixes.get(id) ?? [], ipath, cveId, fixes, warnings);
      });
    });
    for (const b of builders.values()) {
      const e = b.finish([cveId], warnings);
      if (e) entries.push(e);
    }
  });

  for (const [name, u] of unmapped) {
    const list = [...u.cves];
    const shown = list.slice(0, 5).join(', ') + (list.length > 5 ? ', …' : '');
    warnings.push({
      path: u.product.path,
      message: `${JSON.stringify(name)} (ProductID ${u.id}): ${u.reason}; affected by ${list.length} CVE${list.length === 1 ? '' : 's'} of this document (${shown}) with no affected entry`,
    });
  }
  for (const [type, o] of otherStatus)
    warnings.push({
      path: o.path,
      message: `status ${JSON.stringify(type)} (${o.count} product/CVE pair${o.count === 1 ? '' : 's'} in the document): CVRF gives no versions for it, so it is not imported`,
    });

  if (cves.length === 0) {
    warnings.push({ path: 'cvrfdoc.Vulnerability', message: 'no vulnerability with a CVE id; no advisory' });
    return result;
  }
  const advisory: AdvisoryInput = {
    schema_version: 1,
    id: `msrc-${advisoryIdSlug(trackingId)}`,
    title,
    summary: summaryOf(doc.DocumentNotes) ?? title,
    published,
    origin: `cvrf:${ctx.origin}`,
    cves,
    affected: mergeAffected(entries),
    fixes: validFixes([...fixes.values()], warnings, 'cvrfdoc.Vulnerability'),
    references: references as Reference[],
  };
  result.advisories.push(checkedAdvisory(advisory));
  return result;
}

// ---- reading ----------------------------------------------------------------------------------------------------

function asList(v: unknown): unknown[] {
  if (v === undefined || v === null || v === '') return [];
  return Array.isArray(v) ? v : [v];
}

/** The text of an element, with or without attributes. */
function textOf(v: unknown): string | undefined {
  if (typeof v === 'string') return v.trim() || undefined;
  if (typeof v === 'number') return String(v);
  if (isRecord(v)) return textOf(v['#text']);
  if (Array.isArray(v)) return textOf(v[0]);
  return undefined;
}

function readProductTree(tree: unknown, warnings: ImportWarning[]): Map<string, ProductName> {
  const out = new Map<string, ProductName>();
  if (!isRecord(tree)) {
    warnings.push({ path: 'cvrfdoc.ProductTree', message: 'missing; no product can be mapped' });
    return out;
  }
  const add = (fpn: unknown, path: string) => {
    const id = isRecord(fpn) ? asText(fpn['@_ProductID']) : undefined;
    const name = textOf(fpn);
    if (!id || !name) {
      warnings.push({ path, message: 'a FullProductName without ProductID or name; skipped' });
      return;
    }
    if (!out.has(id)) out.set(id, { name, path });
  };
  const walk = (node: Record<string, unknown>, path: string, depth: number) => {
    if (depth > 30) {
      warnings.push({ path, message: 'branches nested deeper than 30; ignored' });
      return;
    }
    asList(node.FullProductName).forEach((f, i) => {
      add(f, `${path}.FullProductName[${i}]`);
    });
    asList(node.Branch).forEach((b, i) => {
      if (isRecord(b)) walk(b, `${path}.Branch[${i}]`, depth + 1);
    });
    asList(node.Relationship).forEach((r, i) => {
      if (isRecord(r))
        asList(r.FullProductName).forEach((f, j) => {
          add(f, `${path}.Relationship[${i}].FullProductName[${j}]`);
        });
    });
  };
  walk(tree, 'cvrfdoc.ProductTree', 0);
  return out;
}

function readCve(
  v: Record<string, unknown>,
  cveId: string,
  path: string,
  warnings: ImportWarning[],
): CveInput {
  const cve: CveInput = { id: cveId, cwe: [] };
  const title = textOf(v.Title);
  if (title) cve.title = title;
  const notes = isRecord(v.Notes) ? asList(v.Notes.Note).filter(isRecord) : [];
  const desc = notes.find((n) => n['@_Type'] === 'Description' && textOf(n));
  if (desc) {
    const d = stripHtml(textOf(desc)!);
    if (d) cve.description = d;
  }
  for (const c of asList(v.CWE)) {
    const id = cweFromText(isRecord(c) ? (asText(c['@_ID']) ?? textOf(c)) : textOf(c));
    if (id && !cve.cwe!.includes(id)) cve.cwe!.push(id);
  }
  const sets = isRecord(v.CVSSScoreSets) ? asList(v.CVSSScoreSets.ScoreSet) : [];
  const found: CvssInput[] = [];
  let firstProblem: { path: string; reason: string } | undefined;
  sets.forEach((s, i) => {
    if (!isRecord(s)) return;
    const r = cvssFrom(undefined, textOf(s.Vector), textOf(s.BaseScore));
    if (r.ok) found.push(r.value);
    else firstProblem ??= { path: `${path}.CVSSScoreSets.ScoreSet[${i}]`, reason: r.reason };
  });
  const cvss = pickCvss(found);
  if (cvss) {
    // Score sets are per product; they rarely differ, and the highest is the one to act on.
    const best = found.filter((f) => f.version === cvss.version).sort((a, b) => b.score - a.score)[0]!;
    cve.cvss = best;
  } else if (firstProblem)
    warnings.push({ path: firstProblem.path, message: `CVSS skipped: ${firstProblem.reason}` });
  return cve;
}

function readReferences(
  value: unknown,
  path: string,
  into: ReferenceInput[],
  warnings: ImportWarning[],
): void {
  const refs = isRecord(value) ? asList(value.Reference) : [];
  refs.forEach((r, i) => {
    if (!isRecord(r)) return;
    const url = textOf(r.URL);
    const ref = makeReference(url, textOf(r.Description), 'vendor');
    if (ref) addReference(into, ref);
    else
      warnings.push({
        path: `${path}.Reference[${i}].URL`,
        message: `not an http(s) URL (${describeValue(url)}); skipped`,
      });
  });
}

function summaryOf(notes: unknown): string | undefined {
  const list = isRecord(notes) ? asList(notes.Note).filter(isRecord) : [];
  const pick =
    list.find((n) => n['@_Type'] === 'Summary') ??
    list.find((n) => n['@_Type'] === 'General') ??
    list.find((n) => textOf(n));
  const raw = pick ? textOf(pick) : undefined;
  if (!raw) return undefined;
  const plain = stripHtml(raw);
  if (plain.length <= MAX_SUMMARY) return plain || undefined;
  const cut = plain.slice(0, MAX_SUMMARY);
  const at = cut.lastIndexOf('\n');
  return `${(at > MAX_SUMMARY / 2 ? cut.slice(0, at) : cut).trimEnd()} …`;
}

// ---- affected and fixes ------------------------------------------------------------------------------------------

function builderFor(
  builders: Map<string, AffectedBuilder>,
  product: string,
  scheme: SchemeId,
  name: string,
  path: string,
  catalog: Catalog,
): AffectedBuilder {
  const key = `${product}\u0000${scheme}`;
  let b = builders.get(key);
  if (!b) {
    b = new AffectedBuilder(product, scheme, path, catalog.name ?? name, catalog);
    builders.set(key, b);
  }
  return b;
}

/** The catalog whose product line the name belongs to ("Microsoft Exchange Server 2013 …"), if any. */
function lineOfCatalog(name: string, catalogs: readonly Catalog[]) {
  const wanted = normaliseReleaseName(name);
  return catalogs.find((c) =>
    c.trains.some((t) => {
      const line = normaliseReleaseName(t.product_name);
      return wanted === line || wanted.startsWith(`${line} `);
    }),
  );
}

function affectedByKb(
  b: AffectedBuilder,
  match: TrainMatch,
  productId: string,
  product: ProductName,
  vendorFixes: VendorFix[],
  path: string,
  cveId: string,
  fixes: Map<string, FixInput>,
  warnings: ImportWarning[],
): void {
  const label = trainLabel(match.train);
  const fallback = wholeTrainRange(match);
  const withKb = vendorFixes.filter((f) => f.kb);
  if (withKb.length === 0) {
    const reason = `${label}: no Vendor Fix with a KB number for ProductID ${productId}, so the fixed build is unknown`;
    warnings.push({ path, message: `${reason}; skipped` });
    b.lose({ path, reason, fallback });
    return;
  }
  for (const f of withKb) {
    const r = trainRangeForKb(match, f.kb!);
    if (!r.ok) {
      warnings.push({
        path: `${f.path}.Description`,
        message: `${r.reason} (${product.name}, ${cveId}); skipped`,
      });
      continue;
    }
    b.addRange(r.range);
    addFix(fixes, match, f, r.range, r.produces, cveId);
    return;
  }
  b.lose({
    path,
    reason: `${label}: the catalog has no build for ${withKb.map((f) => f.kb).join(', ')}`,
    fallback,
  });
}

function addFix(
  fixes: Map<string, FixInput>,
  match: TrainMatch,
  f: VendorFix,
  range: NonNullable<FixInput['targets']>[number]['applies_to'],
  produces: string,
  cveId: string,
): void {
  const product = match.catalog.product;
  const key = `${f.kb}\u0000${product}`;
  let fix = fixes.get(key);
  if (!fix) {
    fix = {
      id: f.kb!,
      title: `${f.kb} ${f.subType ?? 'update'} for ${match.catalog.name}`,
      kind: (f.subType && FIX_KIND[f.subType]) || 'security_update',
      product,
      cves: [],
      kb: f.kb,
      targets: [],
    };
    if (f.url) fix.url = f.url;
    fixes.set(key, fix);
  }
  if (!fix.cves.includes(cveId)) fix.cves.push(cveId);
  const targets = fix.targets!;
  if (!targets.some((t) => t.applies_to.train === range.train))
    targets.push({ applies_to: { ...range }, produces });
}
