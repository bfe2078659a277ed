/**
 * The exposure engine: given an asset's facts and the loaded advisories, a verdict per CVE — affected, fixed,
 * not_affected or unknown — with the provenance that decided it. Pure and synchronous.
 *
 * Advisories are compiled once: every version bound is parsed up front and rules are indexed by product id, so
 * evaluating an asset costs a map look-up per product plus a scan of that product's rules, independent of how
 * many advisories are loaded for other products.
 */
import type { Advisory, Affected, Fix, VersionRange } from '../advisory/model.js';
import type { CatalogIndex } from '../catalog/lookup.js';
import { formatPath } from '../datafile.js';
import { advisoryProductId } from '../products.js';
import { getScheme, type ParseResult, type SchemeId, type VersionScheme } from '../versions/index.js';
import type { AssetFacts, ProductFact } from './facts.js';

export type Verdict = 'affected' | 'fixed' | 'not_affected' | 'unknown';

/** How sure a combined verdict is: when two rules of one advisory disagree, the more cautious one wins. */
const CAUTION: Record<Verdict, number> = { affected: 3, unknown: 2, fixed: 1, not_affected: 0 };

export interface Provenance {
  advisory: string;
  /** Path of the deciding rule inside the advisory, e.g. `affected[0].ranges[15]`. */
  rule: string;
  /** The fact that was judged, e.g. `products[0] microsoft:exchange_server 15.1.2176.2`. */
  fact: string;
  /** The comparison that decided, in words, e.g. `15.1.2176.2 >= 15.1.2176.2 (introduced) and < 15.1.2176.9 (fixed)`. */
  comparison: string;
}

export interface CveVerdict {
  cve: string;
  advisory: string;
  product: string;
  version: string;
  verdict: Verdict;
  provenance: Provenance;
  /** Ids of the advisory's fixes that apply to this version (only for `affected`). */
  fixes: string[];
}

export interface AssetVerdicts {
  asset: string;
  tenant?: string;
  verdicts: CveVerdict[];
}

/** A rule that cannot be compiled (a version its scheme rejects, an empty range); `path` locates it in the advisory. */
export class AdvisoryCompileError extends Error {
  constructor(
    readonly advisory: string,
    readonly path: (string | number)[],
    readonly detail: string,
  ) {
    super(`advisory ${advisory}: ${formatPath(path)}: ${detail}`);
    this.name = 'AdvisoryCompileError';
  }
}

interface Bound {
  text: string;
  parsed: unknown;
}

interface CompiledRange {
  path: string;
  /** The catalog train the range is about (e.g. "Exchange Server 2016 CU19"), as the advisory names it. */
  train?: string;
  introduced?: Bound;
  /** Exclusive upper bound (`fixed`) or inclusive (`last_affected`). */
  upper?: Bound & { inclusive: boolean };
}

interface CompiledFix {
  fix: Fix;
  path: string;
  /** Empty when the fix applies to every affected version. */
  targets: { path: string; range: CompiledRange }[];
}

interface CompiledRule {
  advisory: Advisory;
  path: string;
  affected: Affected;
  scheme: VersionScheme;
  ranges: CompiledRange[];
  versions: Bound[];
  fixedVersions: Bound[];
  notAffectedVersions: Bound[];
  /** Any explicit version list is non-empty (most rules have ranges only). */
  hasExplicit: boolean;
  fixes: CompiledFix[];
  /** Judgements by version string (see judgeCached). */
  memo: Map<string, { outcome: RuleOutcome; applicable: ApplicableFix[] }>;
}

/** Distinct versions remembered per rule before the memo starts over; bounds memory on hostile input. */
const MEMO_LIMIT = 4096;

/** Position of one version relative to one rule, shared by all the rule's CVEs. */
interface RuleOutcome {
  verdict: Verdict;
  rule: string;
  comparison: string;
  /** Set when `affected`: for the KB and fix checks. */
  parsed?: unknown;
}

export class ExposureEngine {
  private readonly rulesByProduct = new Map<string, CompiledRule[]>();

  constructor(
    readonly advisories: readonly Advisory[],
    private readonly catalogs?: CatalogIndex,
  ) {
    for (const advisory of advisories) {
      advisory.affected.forEach((affected, i) => {
        const rule = compileRule(advisory, affected, i);
        const list = this.rulesByProduct.get(affected.product);
        if (list) list.push(rule);
        else this.rulesByProduct.set(affected.product, [rule]);
      });
    }
  }

  /** Product ids that at least one loaded advisory has rules for. */
  products(): string[] {
    return [...this.rulesByProduct.keys()];
  }

  evaluate(asset: AssetFacts): AssetVerdicts {
    // One verdict per (advisory, cve, product fact); rules of the same advisory are combined cautiously.
    const byKey = new Map<string, CveVerdict>();
    const kbs = asset.installed_kbs.length
      ? new Set(asset.installed_kbs.map((k) => k.toUpperCase()))
      : undefined;
    const n = asset.products.length + (asset.os ? 1 : 0);
    for (let i = 0; i < n; i++) {
      const fact = i < asset.products.length ? asset.products[i]! : asset.os!;
      const rules = this.rulesByProduct.get(advisoryProductId(fact.product));
      if (!rules) continue;
      const factPath = i < asset.products.length ? `products[${i}]` : 'os';
      const factText = `${factPath} ${fact.product} ${fact.version}`;
      for (const rule of rules) {
        const { outcome, applicable } = this.judgeCached(rule, fact);
        for (const cve of rule.affected.cves) {
          let verdict = outcome.verdict;
          let ruleText = outcome.rule;
          let comparison = outcome.comparison;
          const fixes: string[] = [];
          if (verdict === 'affected') {
            const byKb = kbs && installedFix(applicable, cve, kbs);
            if (byKb) {
              verdict = 'fixed';
              ruleText = byKb.path;
              comparison = `${byKb.fix.kb} is installed and fixes ${cve} on ${fact.version} (${comparison})`;
            } else {
              for (const f of applicable) if (f.fix.cves.includes(cve)) fixes.push(f.fix.id);
            }
          }
          const key = `${rule.advisory.id}\u0000${cve}\u0000${factPath}`;
          const previous = byKey.get(key);
          if (previous && CAUTION[previous.verdict] >= CAUTION[verdict]) continue;
          byKey.set(key, {
            cve,
            advisory: rule.advisory.id,
            product: fact.product,
            version: fact.version,
            verdict,
            provenance: { advisory: rule.advisory.id, rule: ruleText, fact: factText, comparison },
            fixes,
          });
        }
      }
    }
    return { asset: asset.id, tenant: asset.tenant, verdicts: [...byKey.values()] };
  }

  /**
   * A fleet has few distinct versions of a product (hundreds of builds across 100,000 servers), so a rule's
   * judgement, and the fixes that apply, are remembered per version string.
   */
  private judgeCached(
    rule: CompiledRule,
    fact: ProductFact,
  ): { outcome: RuleOutcome; applicable: ApplicableFix[] } {
    const hit = rule.memo.get(fact.version);
    if (hit) return hit;
    const outcome = this.judge(rule, fact, rule.scheme.parse(fact.version));
    // Fixes whose targets apply to this version, found once for all the rule's CVEs.
    const applicable = outcome.verdict === 'affected' ? applicableFixes(rule, outcome.parsed) : EMPTY_FIXES;
    if (rule.memo.size >= MEMO_LIMIT) rule.memo.clear();
    const entry = { outcome, applicable };
    rule.memo.set(fact.version, entry);
    return entry;
  }

  /** The label ("Exchange Server 2016 CU19") of the catalog train a build belongs to, when a catalog knows it. */
  private trainOf(rule: CompiledRule, version: string): string | undefined {
    const product = rule.affected.product;
    if (!rule.affected.catalog || !this.catalogs?.has(product)) return undefined;
    const entry = this.catalogs.lookup(product, version).entry;
    return entry ? `${entry.train.product_name} ${entry.train.name}` : undefined;
  }

  private judge(rule: CompiledRule, fact: ProductFact, parsedResult: ParseResult<unknown>): RuleOutcome {
    const { scheme } = rule;
    if (!parsedResult.ok) {
      return { verdict: 'unknown', rule: rule.path, comparison: `cannot compare: ${parsedResult.error}` };
    }
    const v = parsedResult.value;
    const cmp = (b: Bound) => scheme.compareParsed(v, b.parsed);
    if (rule.hasExplicit) {
      const explicit = (list: Bound[], key: string, verdict: Verdict): RuleOutcome | undefined => {
        const i = list.findIndex((b) => cmp(b) === 0);
        return i < 0
          ? undefined
          : {
              verdict,
              rule: `${rule.path}.${key}[${i}]`,
              comparison: `${fact.version} is listed`,
              parsed: v,
            };
      };
      const listed =
        explicit(rule.versions, 'versions', 'affected') ??
        explicit(rule.fixedVersions, 'fixed_versions', 'fixed') ??
        explicit(rule.notAffectedVersions, 'not_affected_versions', 'not_affected');
      if (listed) return listed;
    }

    for (const range of rule.ranges) {
      if (inRange(scheme, v, range)) {
        return {
          verdict: 'affected',
          rule: range.path,
          comparison: describeInRange(fact.version, range),
          parsed: v,
        };
      }
    }
    const catalog = rule.affected.catalog;
    if (
      catalog &&
      this.catalogs?.has(rule.affected.product) &&
      !this.catalogs.knows(rule.affected.product, v)
    ) {
      return {
        verdict: 'unknown',
        rule: `${rule.path}.catalog`,
        comparison: `${fact.version} is outside every affected range but is not a build the ${catalog} catalog knows, so it is not judged safe`,
      };
    }
    // When the source is not known to cover the whole product, a fixed bound of a train's range speaks only for
    // builds of that train: 15.1.2106.2 (2016 CU18) is not "fixed" because it is above 2013 CU23's fix.
    const partial = rule.affected.default_status === 'unknown';
    const ownTrain = partial ? this.trainOf(rule, fact.version) : undefined;
    // The highest fixed bound at or below v decides "fixed"; otherwise v is outside every range.
    let best: CompiledRange | undefined;
    for (const range of rule.ranges) {
      const up = range.upper;
      if (!up || up.inclusive || cmp(up) < 0) continue;
      // Without a catalog to place the build (or a train the catalog does not know, such as "Debian:11"), a train's
      // fixed bound proves nothing.
      if (partial && range.train !== undefined && range.train !== ownTrain) continue;
      if (!best || scheme.compareParsed(up.parsed, best.upper!.parsed) > 0) best = range;
    }
    if (best) {
      return {
        verdict: 'fixed',
        rule: best.path,
        comparison: `${fact.version} >= ${best.upper!.text} (fixed${best.train && partial ? ` in ${best.train}` : ''})`,
      };
    }
    if (partial) {
      const trains = [...new Set(rule.ranges.flatMap((r) => (r.train ? [r.train] : [])))];
      const what = ownTrain ? `${fact.version} (${ownTrain})` : fact.version;
      const covered = trains.length ? ` (its ranges are for ${trains.join(', ')})` : '';
      return {
        verdict: 'unknown',
        rule: `${rule.path}.default_status`,
        comparison: `${what} is in none of the source's ranges${covered} and the source does not say that other versions are unaffected, so it is not judged safe`,
      };
    }
    return {
      verdict: 'not_affected',
      rule: rule.path,
      comparison: rule.ranges.length
        ? `${fact.version} is outside every affected range`
        : `${fact.version} is not a listed version`,
    };
  }
}

function inRange(scheme: VersionScheme, v: unknown, r: CompiledRange): boolean {
  if (r.introduced && scheme.compareParsed(v, r.introduced.parsed) < 0) return false;
  if (r.upper) {
    const c = scheme.compareParsed(v, r.upper.parsed);
    if (r.upper.inclusive ? c > 0 : c >= 0) return false;
  }
  return true;
}

function describeInRange(version: string, r: CompiledRange): string {
  const parts: string[] = [];
  if (r.introduced) parts.push(`>= ${r.introduced.text} (introduced)`);
  if (r.upper)
    parts.push(r.upper.inclusive ? `<= ${r.upper.text} (last affected)` : `< ${r.upper.text} (fixed)`);
  return parts.length ? `${version} ${parts.join(' and ')}` : `${version}: every version is affected`;
}

/** A fix with the target that applies to the judged version (the fix itself when it has no targets). */
interface ApplicableFix {
  fix: Fix;
  path: string;
}

const EMPTY_FIXES: ApplicableFix[] = [];

function applicableFixes(rule: CompiledRule, v: unknown): ApplicableFix[] {
  if (!rule.fixes.length) return EMPTY_FIXES;
  const out: ApplicableFix[] = [];
  for (const f of rule.fixes) {
    if (!f.targets.length) out.push({ fix: f.fix, path: f.path });
    else {
      const target = f.targets.find((t) => inRange(rule.scheme, v, t.range));
      if (target) out.push({ fix: f.fix, path: target.path });
    }
  }
  return out;
}

/** An installed KB among the applicable fixes that names the CVE. */
function installedFix(applicable: ApplicableFix[], cve: string, kbs: Set<string>): ApplicableFix | undefined {
  return applicable.find((f) => f.fix.kb && kbs.has(f.fix.kb.toUpperCase()) && f.fix.cves.includes(cve));
}

function compileRule(advisory: Advisory, affected: Affected, index: number): CompiledRule {
  const scheme = getScheme(affected.scheme as SchemeId);
  type Path = (string | number)[];
  const bound = (text: string, field: Path): Bound => {
    const r = scheme.parse(text);
    if (!r.ok) throw new AdvisoryCompileError(advisory.id, field, r.error);
    return { text, parsed: r.value };
  };
  const range = (r: VersionRange, at: Path): CompiledRange => {
    const out: CompiledRange = { path: formatPath(at), train: r.train };
    if (r.introduced && r.introduced !== '0') out.introduced = bound(r.introduced, [...at, 'introduced']);
    if (r.fixed) out.upper = { ...bound(r.fixed, [...at, 'fixed']), inclusive: false };
    else if (r.last_affected)
      out.upper = { ...bound(r.last_affected, [...at, 'last_affected']), inclusive: true };
    if (out.introduced && out.upper) {
      const c = scheme.compareParsed(out.introduced.parsed, out.upper.parsed);
      if (out.upper.inclusive ? c > 0 : c >= 0) {
        throw new AdvisoryCompileError(
          advisory.id,
          at,
          `the range is empty: ${r.introduced} is not below ${out.upper.text}`,
        );
      }
    }
    return out;
  };
  const at: Path = ['affected', index];
  const list = (texts: string[], key: string) => texts.map((t, i) => bound(t, [...at, key, i]));
  const fixes: CompiledFix[] = [];
  advisory.fixes.forEach((fix, i) => {
    if (fix.product !== affected.product) return;
    fixes.push({
      fix,
      path: `fixes[${i}]`,
      targets: fix.targets.map((t, j) => {
        if (t.produces) bound(t.produces, ['fixes', i, 'targets', j, 'produces']);
        return {
          path: `fixes[${i}].targets[${j}]`,
          range: range(t.applies_to, ['fixes', i, 'targets', j, 'applies_to']),
        };
      }),
    });
  });
  return {
    advisory,
    path: formatPath(at),
    affected,
    scheme,
    ranges: affected.ranges.map((r, i) => range(r, [...at, 'ranges', i])),
    versions: list(affected.versions, 'versions'),
    fixedVersions: list(affected.fixed_versions, 'fixed_versions'),
    notAffectedVersions: list(affected.not_affected_versions, 'not_affected_versions'),
    hasExplicit:
      affected.versions.length + affected.fixed_versions.length + affected.not_affected_versions.length > 0,
    fixes,
    memo: new Map(),
  };
}
