/**
 * "What is this build, what is it exposed to, and what is the least I must install?" for one version of a
 * product that has a catalog (e.g. an Exchange build). Built on the exposure engine, so it knows nothing about
 * any particular advisory.
 */
import type { Advisory } from '../advisory/model.js';
import { type CatalogEntry, type CatalogIndex, describeEntry } from '../catalog/lookup.js';
import type { CveVerdict, ExposureEngine } from './engine.js';

export interface FixSuggestion {
  kind: 'security_update' | 'cumulative_update';
  /** The build after installing. */
  build: string;
  kb?: string;
  /** e.g. "March 2021 Security Update" or "CU20". */
  title: string;
  /** The release train the fix belongs to, e.g. "Exchange Server 2016 CU19". */
  train: string;
  /** When the fix is an update of another train: the train to move to first. */
  requires?: { train: string; build: string; kb?: string };
}

export interface VersionReport {
  product: string;
  build: string;
  known: boolean;
  /** Product line, e.g. "Exchange Server 2016" (from the nearest known build when unknown). */
  productName?: string;
  /** Release train, e.g. "CU19". */
  train?: string;
  update?: { name: string; title?: string; kb?: string };
  /** Human summary of the update level, e.g. "no security update installed since the CU". */
  level: string;
  nearest: { below?: NearestBuild; above?: NearestBuild };
  vulnerable: string[];
  unknown: string[];
  fixed: string[];
  notAffected: string[];
  /** CVEs among `vulnerable` that are in CISA's KEV catalog. */
  kev: string[];
  advisories: string[];
  verdicts: CveVerdict[];
  fixes: FixSuggestion[];
}

export interface NearestBuild {
  build: string;
  name: string;
}

export function reportVersion(
  engine: ExposureEngine,
  catalogs: CatalogIndex,
  product: string,
  build: string,
): VersionReport {
  const info = catalogs.lookup(product, build);
  const { verdicts } = engine.evaluate({
    id: build,
    products: [{ product, version: build }],
    installed_kbs: [],
    endpoints: [],
    tags: [],
  });
  const by = (v: string) => unique(verdicts.filter((x) => x.verdict === v).map((x) => x.cve));
  const vulnerable = by('affected');
  const unknown = by('unknown').filter((c) => !vulnerable.includes(c));
  const fixed = by('fixed').filter((c) => !vulnerable.includes(c) && !unknown.includes(c));
  const notAffected = by('not_affected').filter(
    (c) => !vulnerable.includes(c) && !unknown.includes(c) && !fixed.includes(c),
  );
  const advisoryOf = new Map(engine.advisories.map((a) => [a.id, a] as const));
  const kev = vulnerable.filter((cve) =>
    verdicts.some((v) => v.cve === cve && cveOf(advisoryOf.get(v.advisory), cve)?.kev),
  );

  const entry = info.entry;
  const reference = entry ?? info.below ?? info.above;
  const report: VersionReport = {
    product,
    build,
    known: info.known,
    productName: reference?.train.product_name,
    train: entry?.train.name,
    update: entry?.update
      ? { name: entry.update.name, title: entry.update.title, kb: entry.update.kb }
      : undefined,
    level: entry ? levelOf(entry) : 'not a build the catalog knows',
    nearest: { below: nearest(info.below), above: nearest(info.above) },
    vulnerable,
    unknown,
    fixed,
    notAffected,
    kev,
    advisories: unique(
      verdicts.filter((v) => v.verdict === 'affected' || v.verdict === 'unknown').map((v) => v.advisory),
    ),
    verdicts,
    fixes: [],
  };
  const open = [...vulnerable, ...unknown];
  if (open.length && reference) report.fixes = suggestFixes(engine, catalogs, product, reference, open);
  return report;
}

function levelOf(entry: CatalogEntry): string {
  if (entry.update)
    return `${entry.update.title ?? entry.update.name}${entry.update.kb ? ` (${entry.update.kb})` : ''}`;
  return `no security update installed since ${/^CU\d/.test(entry.train.name) ? 'the CU' : entry.train.name}`;
}

function nearest(e: CatalogEntry | undefined): NearestBuild | undefined {
  return e ? { build: e.build, name: describeEntry(e) } : undefined;
}

/**
 * The smallest step that closes every open CVE: the first later known build of the same product line for which
 * none of them is affected or unknown (usually the security update for the current train), and separately the
 * first later train whose own release build is already fixed (upgrade to a newer CU).
 */
function suggestFixes(
  engine: ExposureEngine,
  catalogs: CatalogIndex,
  product: string,
  reference: CatalogEntry,
  open: string[],
): FixSuggestion[] {
  const line = reference.train.product_name;
  const currentTrain = reference.train.id;
  const closes = (e: CatalogEntry) => {
    const { verdicts } = engine.evaluate({
      id: e.build,
      products: [{ product, version: e.build }],
      installed_kbs: [],
      endpoints: [],
      tags: [],
    });
    return !verdicts.some(
      (v) => open.includes(v.cve) && (v.verdict === 'affected' || v.verdict === 'unknown'),
    );
  };
  const out: FixSuggestion[] = [];
  let update: CatalogEntry | undefined;
  let upgrade: CatalogEntry | undefined;
  for (const e of catalogs.after(product, reference.parsed)) {
    if (e.train.product_name !== line) continue;
    if (!update && e.update && closes(e)) update = e;
    if (!upgrade && !e.update && closes(e)) upgrade = e;
    if (upgrade) break;
  }
  // The loop stops at the first fixed release build, so an update found at all comes before it.
  if (update) {
    const u = update.update!;
    out.push({
      kind: 'security_update',
      build: update.build,
      kb: u.kb,
      title: u.title ?? u.name,
      train: `${update.train.product_name} ${update.train.name}`,
      requires:
        update.train.id === currentTrain
          ? undefined
          : { train: update.train.name, build: update.train.build, kb: update.train.kb },
    });
  }
  if (upgrade) {
    out.push({
      kind: 'cumulative_update',
      build: upgrade.build,
      kb: upgrade.train.kb,
      title: upgrade.train.name,
      train: `${upgrade.train.product_name} ${upgrade.train.name}`,
    });
  }
  return out;
}

function cveOf(advisory: Advisory | undefined, cve: string) {
  return advisory?.cves.find((c) => c.id === cve);
}

function unique<T>(xs: T[]): T[] {
  return [...new Set(xs)];
}
