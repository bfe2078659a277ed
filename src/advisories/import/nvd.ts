/**
 * NVD CVE API 2.0 importer: one `cve` object (as the API returns inside `vulnerabilities[].cve`, or as the
 * fkie-cad/nvd-json-data-feeds files store it) or a whole API response → one advisory `cve-YYYY-NNNN` per CVE.
 *
 * NVD's `configurations` are the same CPE applicability statements as a CVE JSON 5 record's `cpeApplicability`
 * (nodes of cpeMatch with `vulnerable`, `criteria`, `versionStart/End(In|Ex)cluding`), so each `cve` object is
 * restated as a CVE JSON 5 record without `affected[]` and converted by the CVE JSON 5 importer. That keeps one
 * reading of CPE ranges and one mapping of CPE products to Bulwark product ids and catalog trains (e.g.
 * `cpe:2.3:a:microsoft:exchange_server:2016:cumulative_update_19:…` → every build of Exchange Server 2016 CU19),
 * and the same soundness: versions no configuration covers are `unknown`, never `not_affected`.
 * Warnings name the NVD field (`configurations[0].nodes[0].cpeMatch[3]`), not the restated record.
 */
import { isCveId, type Kev } from '../../core/index.js';
import { importCve5 } from './cve5.js';
import { asArray, asText, describeValue, isoDay, isRecord } from './products.js';
import { type ImportContext, ImportError, type ImportResult, type ImportWarning } from './types.js';

/** Whether a parsed JSON value is an NVD API 2.0 `cve` object or response. */
export function isNvdDocument(doc: unknown): boolean {
  if (!isRecord(doc)) return false;
  if (doc.format === 'NVD_CVE' || (Array.isArray(doc.vulnerabilities) && 'resultsPerPage' in doc))
    return true;
  return (
    typeof doc.id === 'string' &&
    isCveId(doc.id) &&
    typeof doc.sourceIdentifier === 'string' &&
    ('configurations' in doc || 'descriptions' in doc || 'vulnStatus' in doc)
  );
}

export function importNvd(doc: unknown, ctx: ImportContext): ImportResult {
  if (!isRecord(doc))
    throw new ImportError('', `expected an NVD API 2.0 cve object or response, got ${describeValue(doc)}`);
  const result: ImportResult = { format: 'nvd', advisories: [], kev: new Map(), warnings: [] };
  if (!('vulnerabilities' in doc)) {
    importOne(doc, '', ctx, result);
    return result;
  }
  const list = asArray(doc.vulnerabilities);
  if (!list)
    throw new ImportError('vulnerabilities', `expected an array, got ${describeValue(doc.vulnerabilities)}`);
  list.forEach((item, i) => {
    const at = `vulnerabilities[${i}]`;
    if (!isRecord(item) || !isRecord(item.cve)) {
      result.warnings.push({
        path: at,
        message: `expected {cve: {...}}, got ${describeValue(item)}; skipped`,
      });
      return;
    }
    try {
      importOne(item.cve, `${at}.cve.`, ctx, result);
    } catch (err) {
      if (!(err instanceof ImportError)) throw err;
      result.warnings.push({
        // importOne's errors already carry the `vulnerabilities[i].cve.` prefix.
        path: err.path || `${at}.cve`,
        message: `${messageOf(err)}; skipped`,
      });
    }
  });
  return result;
}

function importOne(
  cve: Record<string, unknown>,
  prefix: string,
  ctx: ImportContext,
  into: ImportResult,
): void {
  const id = typeof cve.id === 'string' ? cve.id.trim().toUpperCase() : undefined;
  if (!id || !isCveId(id))
    throw new ImportError(
      `${prefix}id`,
      `expected a CVE id such as CVE-2021-26855, got ${describeValue(cve.id)}`,
    );
  const metricPaths: string[] = [];
  const record = {
    dataType: 'CVE_RECORD',
    dataVersion: '5.1',
    cveMetadata: {
      cveId: id,
      state: cve.vulnStatus === 'Rejected' ? 'REJECTED' : 'PUBLISHED',
      datePublished: cve.published,
      dateUpdated: cve.lastModified,
    },
    containers: {
      cna: {
        descriptions: cve.descriptions,
        metrics: metricsOf(cve.metrics, metricPaths),
        problemTypes: (asArray(cve.weaknesses) ?? []).filter(isRecord).map((w) => ({
          descriptions: (asArray(w.description) ?? [])
            .filter(isRecord)
            .map((d) => ({ lang: d.lang, type: 'CWE', description: d.value })),
        })),
        references: (asArray(cve.references) ?? []).filter(isRecord).map((r) => ({
          url: r.url,
          tags: (asArray(r.tags) ?? []).flatMap((t) => (typeof t === 'string' ? [referenceTag(t)] : [])),
        })),
        affected: [],
        cpeApplicability: cve.configurations ?? [],
      },
    },
  };
  let converted: ImportResult;
  try {
    converted = importCve5(record, ctx);
  } catch (err) {
    if (err instanceof ImportError)
      throw new ImportError(nvdPath(err.path, prefix, metricPaths), messageOf(err));
    throw err;
  }
  for (const w of converted.warnings) into.warnings.push(restate(w, prefix, metricPaths));
  if (cve.configurations === undefined)
    into.warnings.push({
      path: `${prefix}configurations`,
      message: `absent (NVD status ${describeValue(cve.vulnStatus)}): NVD has not analysed which products are affected`,
    });
  const kev = kevOf(cve);
  for (const a of converted.advisories) {
    a.origin = `nvd:${ctx.origin}`;
    if (kev) for (const c of a.cves) c.kev ??= kev;
    into.advisories.push(a);
  }
}

/** NVD keeps one list per CVSS version with the primary (scoring) source marked; the primary one of each. */
function metricsOf(metrics: unknown, paths: string[]): Record<string, unknown>[] {
  if (!isRecord(metrics)) return [];
  const out: Record<string, unknown>[] = [];
  const keys: [string, string][] = [
    ['cvssMetricV40', 'cvssV4_0'],
    ['cvssMetricV31', 'cvssV3_1'],
    ['cvssMetricV30', 'cvssV3_0'],
    ['cvssMetricV2', 'cvssV2_0'],
  ];
  for (const [nvdKey, cveKey] of keys) {
    const list = asArray(metrics[nvdKey]) ?? [];
    const i = Math.max(
      0,
      list.findIndex((m) => isRecord(m) && m.type === 'Primary'),
    );
    const m = list[i];
    if (!isRecord(m) || !isRecord(m.cvssData)) continue;
    out.push({ [cveKey]: { vectorString: m.cvssData.vectorString, baseScore: m.cvssData.baseScore } });
    paths.push(`metrics.${nvdKey}[${i}].cvssData`);
  }
  return out;
}

/** NVD's reference tags ("Vendor Advisory") as CVE JSON 5 writes them ("vendor-advisory"). */
function referenceTag(tag: string): string {
  const t = tag.trim().toLowerCase().replace(/\s+/g, '-');
  return t === 'us-government-resource' ? 'government-resource' : t;
}

/** NVD carries the CISA KEV dates; the ransomware field is not there, so it stays "unknown". */
function kevOf(cve: Record<string, unknown>): Kev | undefined {
  const added = isoDay(cve.cisaExploitAdd);
  const due = isoDay(cve.cisaActionDue);
  if (!added || !due) return undefined;
  const kev: Kev = {
    date_added: added,
    due_date: due,
    ransomware: 'unknown',
    source: 'NVD API 2.0 (CISA KEV fields)',
  };
  const action = asText(cve.cisaRequiredAction);
  if (action) kev.required_action = action;
  return kev;
}

const PATHS: [RegExp, string][] = [
  [/^containers\.cna\.cpeApplicability/, 'configurations'],
  [/^containers\.cna\.descriptions/, 'descriptions'],
  [/^containers\.cna\.references/, 'references'],
  [/^containers\.cna\.problemTypes/, 'weaknesses'],
  [/^containers\.cna\.affected/, 'configurations'],
  [/^cveMetadata\.cveId/, 'id'],
  [/^cveMetadata\.datePublished/, 'published'],
  [/^cveMetadata\.state/, 'vulnStatus'],
  [/^cveMetadata/, ''],
];

function nvdPath(path: string, prefix: string, metricPaths: string[]): string {
  const metric = /^containers\.cna\.metrics\[(\d+)\](?:\.\w+)?(.*)$/.exec(path);
  if (metric) return `${prefix}${metricPaths[Number(metric[1])] ?? 'metrics'}${metric[2]}`;
  for (const [re, to] of PATHS)
    if (re.test(path)) return `${prefix}${path.replace(re, to)}`.replace(/\.$/, '');
  return `${prefix}${path}`.replace(/\.$/, '');
}

function messageOf(err: ImportError): string {
  return err.path && err.message.startsWith(`${err.path}: `)
    ? err.message.slice(err.path.length + 2)
    : err.message;
}

function restate(w: ImportWarning, prefix: string, metricPaths: string[]): ImportWarning {
  const message = w.message
    .replaceAll('containers.cna.cpeApplicability', 'configurations')
    .replace(
      /^no affected products listed; the advisory has no affected entries$/,
      'no CPE configurations; the advisory has no affected entries',
    );
  return { path: nvdPath(w.path, prefix, metricPaths), message };
}
