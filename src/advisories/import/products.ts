/**
 * Turning the many ways feeds name a product (CPE, package URL, free-text vendor/product names) into Bulwark
 * product ids, and free-text release names ("Microsoft Exchange Server 2016 Cumulative Update 19") into a
 * train of a product catalog. Shared by every importer so they agree on ids.
 */

import type { Catalog, CatalogTrain, SchemeId } from '../../core/index.js';
import {
  type AdvisoryInput,
  advisoryValidator,
  affectedValidator,
  compareVersions,
  EXCHANGE_PRODUCT,
  fixValidator,
  parseVersion,
  referenceValidator,
} from '../../core/index.js';
import { ImportError, type ImportWarning } from './types.js';

/** Lower-cases and turns runs of anything but [a-z0-9._+-] into `_`, as CPE product names are written. */
export function slug(text: string): string {
  return text
    .trim()
    .toLowerCase()
    .replace(/[^a-z0-9._+-]+/g, '_')
    .replace(/^_+|_+$/g, '');
}

export interface CpeParts {
  part: string;
  vendor: string;
  product: string;
  version?: string;
  update?: string;
}

/** Parses a CPE 2.3 formatted string (`cpe:2.3:a:microsoft:exchange_server:2016:cumulative_update_19:*:…`) or a 2.2 URI (`cpe:/a:…`). */
export function parseCpe(cpe: string): CpeParts | undefined {
  let fields: string[];
  if (cpe.startsWith('cpe:2.3:')) fields = splitCpe23(cpe.slice(8));
  else if (cpe.startsWith('cpe:/')) fields = cpe.slice(5).split(':').map(decodeURIComponent);
  else return undefined;
  const [part, vendor, product, version, update] = fields;
  if (!part || !vendor || !product || vendor === '*' || product === '*') return undefined;
  const meaningful = (v: string | undefined) =>
    v && v !== '*' && v !== '-' ? v.replace(/\\(.)/g, '$1') : undefined;
  return {
    part,
    vendor: vendor.replace(/\\(.)/g, '$1'),
    product: product.replace(/\\(.)/g, '$1'),
    version: meaningful(version),
    update: meaningful(update),
  };
}

/** CPE 2.3 fields are colon-separated with `\:` escaping a literal colon. */
function splitCpe23(rest: string): string[] {
  const out: string[] = [];
  let cur = '';
  for (let i = 0; i < rest.length; i++) {
    const ch = rest[i];
    if (ch === '\\' && i + 1 < rest.length) {
      cur += ch + rest[i + 1];
      i++;
    } else if (ch === ':') {
      out.push(cur);
      cur = '';
    } else cur += ch;
  }
  out.push(cur);
  return out;
}

export function productFromCpe(cpe: string): string | undefined {
  const p = parseCpe(cpe);
  return p ? `${slug(p.vendor)}:${slug(p.product)}` : undefined;
}

export interface PurlParts {
  type: string;
  namespace?: string;
  name: string;
  version?: string;
}

/** Parses a package URL (`pkg:deb/debian/openssl@1.1.1n-0+deb11u4?arch=amd64`), ignoring qualifiers and subpath. */
export function parsePurl(purl: string): PurlParts | undefined {
  const m = /^pkg:([a-zA-Z][a-zA-Z0-9.+-]*)\/([^?#]+?)(?:@([^?#]+))?(?:[?#].*)?$/.exec(purl);
  if (!m) return undefined;
  const segments = m[2]!.split('/').filter(Boolean).map(safeDecode);
  const name = segments.pop();
  if (!name) return undefined;
  return {
    type: m[1]!.toLowerCase(),
    namespace: segments.length ? segments.join('/') : undefined,
    name,
    version: m[3] === undefined ? undefined : safeDecode(m[3]),
  };
}

function safeDecode(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}

/** The qualifiers of a package URL (`arch`, `epoch`, …), keys lower-cased; empty when there are none. */
export function purlQualifiers(purl: string): Map<string, string> {
  const out = new Map<string, string>();
  const q = /^[^?#]*\?([^#]*)/.exec(purl)?.[1];
  if (!q) return out;
  for (const pair of q.split('&')) {
    const eq = pair.indexOf('=');
    if (eq > 0) out.set(pair.slice(0, eq).toLowerCase(), safeDecode(pair.slice(eq + 1)));
  }
  return out;
}

/** Bulwark's id for a package: the purl without version, qualifiers or subpath, lower-cased. */
export function productFromPurl(purl: string): string | undefined {
  const p = parsePurl(purl);
  if (!p) return undefined;
  return `pkg:${p.type}/${p.namespace ? `${p.namespace}/` : ''}${p.name}`.toLowerCase();
}

/** Fallback when a feed gives only names: `vendor:product` slugs, e.g. `microsoft:exchange_server`. */
export function productFromNames(vendor: string, product: string): string {
  return `${slug(vendor) || 'unknown'}:${slug(product) || 'unknown'}`;
}

/** Normalises release names so "Microsoft Exchange Server 2016 Cumulative Update 19" equals "Exchange Server 2016 CU19". */
export function normaliseReleaseName(name: string): string {
  return name
    .toLowerCase()
    .replace(/\bmicrosoft\b/g, ' ')
    .replace(/\bcumulative update\s*(\d+)/g, 'cu$1')
    .replace(/\bservice pack\s*(\d+)/g, 'sp$1')
    .replace(/\bupdate rollup\s*(\d+)/g, 'ru$1')
    .replace(/\bcu\s+(\d+)/g, 'cu$1')
    .replace(/\b(rtm|release to manufacturing)\b/g, ' ')
    .replace(/[^a-z0-9]+/g, ' ')
    .trim();
}

export interface TrainMatch {
  catalog: Catalog;
  train: CatalogTrain;
}

/**
 * Finds the catalog train a free-text release name means. A bare product line ("Exchange Server 2019") means its
 * RTM train; "Exchange Server 2013 Service Pack 1" matches a train named "SP1" or "SP1 (CU4)".
 */
export function trainFromName(name: string, catalogs: readonly Catalog[]): TrainMatch | undefined {
  const wanted = normaliseReleaseName(name);
  for (const catalog of catalogs) {
    for (const train of catalog.trains) {
      const line = normaliseReleaseName(train.product_name);
      const full = normaliseReleaseName(`${train.product_name} ${train.name}`);
      if (full === wanted) return { catalog, train };
      // "SP1 (CU4)" style names: match on the leading token too.
      const lead = normaliseReleaseName(`${train.product_name} ${train.name.split(/[\s(]/)[0] ?? ''}`);
      if (lead === wanted) return { catalog, train };
      if (wanted === line && /^rtm$/i.test(train.name)) return { catalog, train };
    }
  }
  return undefined;
}

// ---------------------------------------------------------------------------------------------------------------
// Helpers shared by the CVE JSON 5, CSAF and CVRF importers: release names, version schemes, catalog trains.
// ---------------------------------------------------------------------------------------------------------------

/** Release designators that name one train of a product line ("Cumulative Update 19", "SP3", "RU31"). */
const TRAIN_DESIGNATOR =
  /\b(cumulative update|service pack|update rollup|feature pack|cu\s?\d+|sp\s?\d+|ru\s?\d+)\b|\b(19|20)\d{2}\b/i;

/**
 * True when a free-text product name names a release train rather than a product ("Exchange Server 2016
 * Cumulative Update 19", "Exchange Server 2019"), so its version bounds are per train and unusable without a
 * catalog that tells the trains apart.
 */
export function namesReleaseTrain(name: string): boolean {
  return TRAIN_DESIGNATOR.test(name);
}

/**
 * The product a release name belongs to, as `vendor:product`: the vendor's name, the release designators
 * (cumulative update, service pack, update rollup, a year) and platform suffixes are dropped, so
 * "Microsoft Exchange Server 2016 Cumulative Update 19" from vendor "Microsoft" is `microsoft:exchange_server`.
 */
export function productFromReleaseName(vendor: string, name: string): string {
  let rest = ` ${name} `;
  const v = vendor.trim();
  if (v) rest = rest.replace(new RegExp(`\\s${escapeRegExp(v)}\\s`, 'i'), ' ');
  rest = rest
    .replace(/\((?:[^()]*)\)/g, ' ')
    .replace(/\bfor\s+(x64|x86|32-bit|64-bit|arm64|itanium)[\w\s-]*$/i, ' ')
    .replace(/\b(cumulative update|service pack|update rollup|feature pack)\s*\d+\b/gi, ' ')
    .replace(/\b(cu|sp|ru)\s?\d+\b/gi, ' ')
    .replace(/\b(rtm)\b/gi, ' ')
    .replace(/\b(19|20)\d{2}\b(\s+r2\b)?/gi, ' ');
  return productFromNames(vendor, rest.trim() || name);
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** A Bulwark advisory id from a source id: lower case, runs of anything but [a-z0-9._-] become `-`. */
export function advisoryIdSlug(text: string): string {
  return text
    .trim()
    .toLowerCase()
    .replace(/[^a-z0-9._-]+/g, '-')
    .replace(/^[^a-z0-9]+|-+$/g, '');
}

const DATE_PREFIX = /^(\d{4})-(\d{2})-(\d{2})(?:$|[T ])/;

/** The calendar day (YYYY-MM-DD) of an ISO 8601 date or timestamp, or undefined when it is not one. */
export function isoDay(value: unknown): string | undefined {
  if (typeof value !== 'string') return undefined;
  const m = DATE_PREFIX.exec(value.trim());
  if (!m) return undefined;
  const [y, mo, d] = [Number(m[1]), Number(m[2]), Number(m[3])];
  const t = new Date(Date.UTC(y, mo - 1, d));
  if (t.getUTCFullYear() !== y || t.getUTCMonth() !== mo - 1 || t.getUTCDate() !== d) return undefined;
  return `${m[1]}-${m[2]}-${m[3]}`;
}

/** True for an absolute http(s) URL that the advisory schema accepts. */
export function isHttpUrl(value: unknown): value is string {
  if (typeof value !== 'string' || value.length > 2048) return false;
  let u: URL;
  try {
    u = new URL(value);
  } catch {
    return false;
  }
  return (u.protocol === 'http:' || u.protocol === 'https:') && u.hostname !== '';
}

/** Plain text from an HTML fragment: tags dropped, common entities decoded, whitespace collapsed. */
export function stripHtml(html: string): string {
  return html
    .replace(/<(script|style)\b[^>]*>[\s\S]*?<\/\1\s*>/gi, ' ')
    .replace(/<br\s*\/?>|<\/(p|div|li|tr|h[1-6])\s*>/gi, '\n')
    .replace(/<[^>]*>/g, ' ')
    .replace(/&nbsp;/g, ' ')
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&quot;/g, '"')
    .replace(/&#39;|&apos;/g, "'")
    .replace(/&#(\d{1,6});/g, (_, n: string) => safeCodePoint(Number(n)))
    .replace(/&amp;/g, '&')
    .replace(/[ \t\r\f\v]+/g, ' ')
    .replace(/ *\n[\n ]*/g, '\n')
    .trim();
}

function safeCodePoint(n: number): string {
  return n > 0 && n <= 0x10ffff ? String.fromCodePoint(n) : ' ';
}

const KB_IN_TEXT = /\bKB\s?(\d{6,8})\b/i;
const BARE_KB = /^\s*(?:KB)?(\d{6,8})\s*$/i;

/** A Microsoft KB id (`KB5000871`) named in a text, or a bare KB number as MSRC writes it ("5000871"). */
export function kbFromText(text: unknown): string | undefined {
  if (typeof text === 'number' && Number.isInteger(text)) text = String(text);
  if (typeof text !== 'string') return undefined;
  const m = BARE_KB.exec(text) ?? KB_IN_TEXT.exec(text);
  return m ? `KB${m[1]}` : undefined;
}

// ---- versions ------------------------------------------------------------------------------------------------

const NUMERIC_DOTTED = /^\d{1,15}(\.\d{1,15}){0,7}$/;

/** True when every part of the version is a number (`15.01.2176.009`). */
export function isNumericDotted(text: string): boolean {
  return NUMERIC_DOTTED.test(text.trim());
}

/**
 * Canonical text of a numeric dotted version: leading zeros dropped (`15.01.2176.009` → `15.1.2176.9`) and, for
 * Exchange builds, missing trailing parts written as 0 (`15.01.0` → `15.1.0.0`) since those schemes need a fixed
 * number of parts. Other schemes' versions are returned trimmed and unchanged.
 */
export function canonicalVersion(scheme: SchemeId, text: string): string {
  const t = text.trim();
  if (!['exchange', 'windows', 'dotted'].includes(scheme) || !isNumericDotted(t)) return t;
  const parts = t.split('.').map((p) => String(Number(p)));
  const want = scheme === 'exchange' ? 4 : scheme === 'windows' ? 3 : 0;
  while (parts.length < want) parts.push('0');
  return parts.join('.');
}

/** Why the text is not a version of the scheme, or undefined when it is one. */
export function versionProblem(scheme: SchemeId, text: string): string | undefined {
  const r = parseVersion(scheme, text);
  return r.ok ? undefined : r.error;
}

/** Compares two versions of one scheme; undefined when either does not parse. */
export function compareIn(scheme: SchemeId, a: string, b: string): number | undefined {
  if (!parseVersion(scheme, a).ok || !parseVersion(scheme, b).ok) return undefined;
  try {
    return compareVersions(scheme, a, b);
  } catch {
    return undefined;
  }
}

/**
 * The scheme of versions whose source does not say (CVE `versionType: custom`, a CSAF product version, a
 * `vers:generic` range): numeric dotted versions are Exchange builds for `microsoft:exchange_server`, Windows
 * builds for Microsoft Windows products and plain dotted numbers otherwise; other text is semver when it parses
 * as semver. Undefined when no scheme fits every value.
 */
export function inferScheme(product: string, values: readonly string[]): SchemeId | undefined {
  const vs = values.map((v) => v.trim()).filter((v) => v !== '' && v !== '0' && v !== '*');
  if (vs.length === 0) return product === EXCHANGE_PRODUCT ? 'exchange' : undefined;
  if (vs.every(isNumericDotted)) {
    if (product === EXCHANGE_PRODUCT) return 'exchange';
    if (/^microsoft:windows/.test(product)) return 'windows';
    return 'dotted';
  }
  if (vs.every((v) => parseVersion('semver', v).ok)) return 'semver';
  return undefined;
}

/** The scheme of a package URL type, when Bulwark implements that ecosystem's version order. */
export function schemeFromPurlType(type: string): SchemeId | undefined {
  switch (type.toLowerCase()) {
    case 'rpm':
      return 'rpm';
    case 'deb':
      return 'dpkg';
    case 'npm':
    case 'cargo':
      return 'semver';
    default:
      return undefined;
  }
}

// ---- catalog trains ------------------------------------------------------------------------------------------

/** The catalogs that list versions of a product. */
export function catalogsFor(product: string, catalogs: readonly Catalog[]): Catalog[] {
  return catalogs.filter((c) => c.product === product);
}

/** How ranges name a train: "Exchange Server 2016 CU19", as the built-in packs write it. */
export function trainLabel(train: CatalogTrain): string {
  return `${train.product_name} ${train.name}`;
}

/**
 * Where a train's builds end: the train of the same product line that starts next after it (by build), or, for
 * the last train of a line, the first train of any line above its builds (Exchange 2013 CU23 ends where 2016
 * RTM starts), so an open-ended range of a line's last train never covers the builds of later lines.
 */
export function nextTrain(match: TrainMatch): CatalogTrain | undefined {
  const { catalog, train } = match;
  const scheme = catalog.scheme as SchemeId;
  const first = (accept: (t: CatalogTrain) => boolean, above: string): CatalogTrain | undefined => {
    let best: CatalogTrain | undefined;
    for (const t of catalog.trains) {
      if (t === train || !accept(t)) continue;
      const c = compareIn(scheme, t.build, above);
      if (c === undefined || c <= 0) continue;
      if (!best || (compareIn(scheme, t.build, best.build) ?? 0) < 0) best = t;
    }
    return best;
  };
  const sameLine = first((t) => t.product_name === train.product_name, train.build);
  if (sameLine) return sameLine;
  let last = train.build;
  for (const u of train.updates) if ((compareIn(scheme, u.build, last) ?? 0) > 0) last = u.build;
  return first(() => true, last);
}

/** The build of a train (its own or one of its updates) that installing a KB produces, if the catalog says. */
export function buildForKb(match: TrainMatch, kb: string): string | undefined {
  const want = kb.toUpperCase();
  const { train } = match;
  const update = train.updates.find((u) => u.kb?.toUpperCase() === want);
  if (update) return update.build;
  if (train.kb?.toUpperCase() === want) return train.build;
  return undefined;
}

export interface SourceBounds {
  introduced?: string;
  fixed?: string;
  last_affected?: string;
}

export type TrainRangeResult =
  | { ok: true; range: { train: string; introduced: string; fixed?: string; last_affected?: string } }
  | { ok: false; reason: string; field: 'introduced' | 'fixed' | 'last_affected' };

/**
 * Bounds a source's range to one catalog train: the range starts no earlier than the train's first build (a
 * source's "15.01.0" for "2016 CU19" means "any build of CU19"), an open upper end stops at the next train of
 * the same line, and an upper bound that is below the train's start or beyond the next train's start is
 * refused with the reason, since ranges are unioned and such a bound would judge other trains.
 */
export function rangeInTrain(match: TrainMatch, bounds: SourceBounds): TrainRangeResult {
  const scheme = match.catalog.scheme as SchemeId;
  const { train } = match;
  const label = trainLabel(train);
  const canon = (v: string) => canonicalVersion(scheme, v);
  const start = train.build;
  let introduced = start;
  if (bounds.introduced !== undefined && !isOpenStart(bounds.introduced)) {
    const intro = canon(bounds.introduced);
    const c = compareIn(scheme, intro, start);
    if (c === undefined)
      return {
        ok: false,
        field: 'introduced',
        reason: `${label}: "${bounds.introduced}" is not a version: ${versionProblem(scheme, intro) ?? 'cannot compare'}`,
      };
    if (c > 0) introduced = intro;
  }
  const next = nextTrain(match);
  const upperField =
    bounds.fixed !== undefined ? 'fixed' : bounds.last_affected !== undefined ? 'last_affected' : undefined;
  if (!upperField) {
    // Open-ended in the source: the whole rest of this train, up to the next train of the line.
    if (next) return { ok: true, range: { train: label, introduced, fixed: next.build } };
    return { ok: true, range: { train: label, introduced } };
  }
  const raw = bounds[upperField]!;
  const upper = canon(raw);
  const problem = versionProblem(scheme, upper);
  if (problem)
    return { ok: false, field: upperField, reason: `${label}: "${raw}" is not a version: ${problem}` };
  const vsStart = compareIn(scheme, upper, introduced)!;
  if (upperField === 'fixed' ? vsStart <= 0 : vsStart < 0)
    return {
      ok: false,
      field: upperField,
      reason: `${label}: empty range: ${upperField} ${raw} is not above ${introduced === start ? 'the first build of the train' : 'introduced'} (${introduced})`,
    };
  if (next) {
    const vsNext = compareIn(scheme, upper, next.build)!;
    if (upperField === 'fixed' ? vsNext > 0 : vsNext >= 0)
      return {
        ok: false,
        field: upperField,
        reason: `${label}: ${upperField} ${raw} is beyond this train: the next train ${trainLabel(next)} starts at ${next.build}`,
      };
  }
  return { ok: true, range: { train: label, introduced, [upperField]: upper } };
}

/**
 * The cautious stand-in for a train whose source range could not be used: every build of the train is affected
 * (no fix known). Undefined when the catalog has no next train to bound it with, since an open range would
 * also cover every later train.
 */
export function wholeTrainRange(
  match: TrainMatch,
): { train: string; introduced: string; fixed: string } | undefined {
  const next = nextTrain(match);
  return next
    ? { train: trainLabel(match.train), introduced: match.train.build, fixed: next.build }
    : undefined;
}

function isOpenStart(v: string): boolean {
  const t = v.trim();
  return t === '' || t === '0' || t === '*';
}

// ---- building affected entries -------------------------------------------------------------------------------

export type AffectedInput = NonNullable<AdvisoryInput['affected']>[number];
export type RangeInput = NonNullable<AffectedInput['ranges']>[number];
export type FixInput = NonNullable<AdvisoryInput['fixes']>[number];
export type CveInput = AdvisoryInput['cves'][number];
export type CvssInput = NonNullable<CveInput['cvss']>;
export type ReferenceInput = NonNullable<AdvisoryInput['references']>[number];

/** A claim of the source that said "affected" (or "unknown") but could not be converted. */
export interface LostClaim {
  path: string;
  reason: string;
  /** A cautious range that covers every version the claim could have meant (a whole catalog train), if any. */
  fallback?: RangeInput;
}

/**
 * What one source says about one product (in one version scheme) for one set of CVEs. Importers add ranges and
 * version lists as they convert the source, and record with `lose` each affected claim they could not convert
 * (after warning about it with its path); `finish` then decides whether the entry can be kept.
 */
export class AffectedBuilder {
  readonly ranges: RangeInput[] = [];
  readonly versions = new Set<string>();
  readonly fixedVersions = new Set<string>();
  readonly notAffectedVersions = new Set<string>();
  readonly notes: string[] = [];
  readonly lost: LostClaim[] = [];
  /**
   * Whether the source says what every version outside the entry's ranges and lists is (OSV's ranges are the
   * complete list; a CVE record's `defaultStatus: unaffected`). Unset or false: such versions are `unknown`.
   */
  private complete: boolean | undefined;

  constructor(
    readonly product: string,
    readonly scheme: SchemeId,
    /** Where the source describes this product, for warnings about the whole entry. */
    readonly path: string,
    public name?: string,
    readonly catalog?: Catalog,
  ) {}

  addRange(range: RangeInput): void {
    const key = JSON.stringify(range);
    if (!this.ranges.some((r) => JSON.stringify(r) === key)) this.ranges.push(range);
  }

  /** Ranges in version order of their lower bound (open first), so equal entries of different CVEs compare equal. */
  private sortedRanges(): RangeInput[] {
    const key = (r: RangeInput) => r.introduced;
    return this.ranges
      .map((r) => ({ ...r }))
      .sort((a, b) => {
        const ka = key(a);
        const kb = key(b);
        if (ka === undefined || kb === undefined) return ka === kb ? 0 : ka === undefined ? -1 : 1;
        return compareIn(this.scheme, ka, kb) ?? ka.localeCompare(kb);
      });
  }

  /** Records what one part of the source says about unlisted versions; one partial part makes the entry partial. */
  markCoverage(complete: boolean): void {
    this.complete = (this.complete ?? true) && complete;
  }

  lose(claim: LostClaim): void {
    this.lost.push(claim);
  }

  isEmpty(): boolean {
    return (
      this.ranges.length + this.versions.size + this.fixedVersions.size + this.notAffectedVersions.size === 0
    );
  }

  /**
   * The affected entry, or undefined. The exposure engine unions an entry's ranges and reads a version at or
   * above a fixed bound (or outside every range) as fixed / not affected, so an entry that lost an affected
   * claim would misjudge the versions that claim covered. Such an entry is therefore kept only when every lost
   * claim has a cautious fallback (a whole catalog train, taken as affected with no fix known); otherwise it is
   * dropped with a warning. An entry whose every claim was lost is simply absent (each claim was warned about).
   */
  finish(cves: readonly string[], warnings: ImportWarning[]): AffectedInput | undefined {
    if (this.isEmpty()) return undefined;
    const label = `${this.product}${this.name ? ` (${this.name})` : ''}`;
    if (this.lost.length) {
      const unbounded = this.lost.find((l) => !l.fallback);
      if (unbounded) {
        warnings.push({
          path: unbounded.path,
          message:
            `${label}: no affected entry for ${cves.join(', ')}: ${this.lost.length} affected claim(s) could not be ` +
            `used (${unbounded.reason}) and nothing bounds the versions they cover; keeping the other ranges ` +
            'would judge those versions fixed or not affected',
        });
        return undefined;
      }
      const trains: string[] = [];
      for (const l of this.lost) {
        this.addRange(l.fallback!);
        if (l.fallback!.train && !trains.includes(l.fallback!.train)) trains.push(l.fallback!.train);
      }
      warnings.push({
        path: this.path,
        message:
          `${label}: for ${cves.join(', ')} every build of ${trains.join(', ')} is taken as affected (no fix known), ` +
          'because the source range for it could not be used (see the warnings with its path) and the other ' +
          'ranges would otherwise judge those builds fixed',
      });
    }
    const entry: AffectedInput = {
      product: this.product,
      scheme: this.scheme,
      cves: [...cves],
      ranges: this.sortedRanges(),
      versions: [...this.versions],
      fixed_versions: [...this.fixedVersions],
      not_affected_versions: [...this.notAffectedVersions],
      default_status: this.complete ? 'not_affected' : 'unknown',
    };
    if (this.name) entry.name = this.name;
    if (this.catalog) entry.catalog = this.catalog.id;
    if (this.notes.length) entry.notes = [...new Set(this.notes)].join(' ');
    const checked = affectedValidator.safeParse(entry);
    if (!checked.success) {
      const issue = checked.issues[0]!;
      warnings.push({
        path: this.path,
        message: `${label}: entry dropped, it does not fit the advisory model (${issue.path.join('.')}: ${issue.message})`,
      });
      return undefined;
    }
    return entry;
  }
}

/**
 * The range of one catalog train that a KB fixes: from the train's first build to the build installing the KB
 * produces. A LostClaim-style reason when the catalog does not know the KB for that train.
 */
export function trainRangeForKb(
  match: TrainMatch,
  kb: string,
): { ok: true; range: RangeInput; produces: string } | { ok: false; reason: string } {
  const build = buildForKb(match, kb);
  if (!build)
    return {
      ok: false,
      reason: `catalog "${match.catalog.id}" has no build of ${trainLabel(match.train)} for ${kb}`,
    };
  const r = rangeInTrain(match, { fixed: build });
  return r.ok ? { ok: true, range: r.range, produces: build } : { ok: false, reason: r.reason };
}

/** Entries that say the same about the same product for different CVEs become one entry naming all the CVEs. */
export function mergeAffected(entries: readonly AffectedInput[]): AffectedInput[] {
  const out = new Map<string, AffectedInput>();
  for (const e of entries) {
    const { cves, ...rest } = e;
    const key = JSON.stringify(rest);
    const prev = out.get(key);
    if (prev) {
      for (const c of cves) if (!prev.cves.includes(c)) prev.cves.push(c);
    } else out.set(key, { ...e, cves: [...cves] });
  }
  return [...out.values()];
}

const CVSS_PREFERENCE: readonly CvssInput['version'][] = ['3.1', '4.0', '3.0', '2.0'];

/** The preferred CVSS of several (v3.1 first, then 4.0, 3.0, 2.0); undefined for none. */
export function pickCvss(candidates: readonly CvssInput[]): CvssInput | undefined {
  for (const v of CVSS_PREFERENCE) {
    const found = candidates.find((c) => c.version === v);
    if (found) return found;
  }
  return undefined;
}

/**
 * A CVSS entry from loosely typed source fields, or the reason it is unusable. The version comes from the
 * source's field or else the vector's `CVSS:3.1/` prefix (v2 vectors have none).
 */
export function cvssFrom(
  version: unknown,
  vector: unknown,
  score: unknown,
): { ok: true; value: CvssInput } | { ok: false; reason: string } {
  if (typeof vector !== 'string' || vector.trim() === '') return { ok: false, reason: 'no vector string' };
  const prefix = /^CVSS:(\d\.\d)\//.exec(vector.trim())?.[1];
  const v = typeof version === 'string' ? version : typeof version === 'number' ? version.toFixed(1) : prefix;
  if (!v || !(CVSS_PREFERENCE as readonly string[]).includes(v))
    return { ok: false, reason: `unknown CVSS version ${JSON.stringify(v ?? null)}` };
  const s = typeof score === 'string' && score.trim() !== '' ? Number(score) : score;
  if (typeof s !== 'number' || !Number.isFinite(s) || s < 0 || s > 10)
    return { ok: false, reason: `base score ${JSON.stringify(score ?? null)} is not a number from 0 to 10` };
  return { ok: true, value: { version: v as CvssInput['version'], vector: vector.trim(), score: s } };
}

/** A CWE id in the model's form from a source's id or description ("CWE-918 Server-Side…", "CWE-noinfo"). */
export function cweFromText(text: unknown): string | undefined {
  if (typeof text !== 'string') return undefined;
  const t = text.trim();
  const m = /^(?:CWE-(\d{1,6})|(NVD-CWE-noinfo|NVD-CWE-Other)|CWE-(noinfo|Other))\b/i.exec(t);
  if (!m) return undefined;
  if (m[1]) return `CWE-${Number(m[1])}`;
  if (m[2]) return /noinfo/i.test(m[2]) ? 'NVD-CWE-noinfo' : 'NVD-CWE-Other';
  return /noinfo/i.test(m[3]!) ? 'NVD-CWE-noinfo' : 'NVD-CWE-Other';
}

/** A reference the model accepts, or undefined when the URL is not http(s). */
export function makeReference(
  url: unknown,
  title?: unknown,
  kind?: ReferenceInput['kind'],
): ReferenceInput | undefined {
  if (!isHttpUrl(url)) return undefined;
  const ref: ReferenceInput = { url };
  if (typeof title === 'string' && title.trim() && title.trim() !== url)
    ref.title = title.trim().slice(0, 300);
  if (kind) ref.kind = kind;
  return referenceValidator.safeParse(ref).success ? ref : undefined;
}

/** Adds references once per URL. */
export function addReference(list: ReferenceInput[], ref: ReferenceInput | undefined): void {
  if (ref && !list.some((r) => r.url === ref.url)) list.push(ref);
}

/** A short one-line title from longer text. */
export function firstLine(text: string, max = 160): string {
  const line =
    text
      .split('\n')
      .find((l) => l.trim())
      ?.trim() ?? '';
  return line.length > max ? `${line.slice(0, max - 1).trimEnd()}…` : line;
}

/** Describes a source value in a warning: its JSON for short scalars, else its type. */
export function describeValue(v: unknown): string {
  if (v === undefined) return 'missing';
  if (v === null) return 'null';
  if (typeof v === 'string') return JSON.stringify(v.length > 60 ? `${v.slice(0, 60)}…` : v);
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  return Array.isArray(v) ? 'an array' : 'an object';
}

export function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** The value as a non-empty trimmed string, else undefined. */
export function asText(v: unknown): string | undefined {
  return typeof v === 'string' && v.trim() !== '' ? v.trim() : undefined;
}

/** The value as an array (a missing value is an empty array; any other non-array is undefined). */
export function asArray(v: unknown): unknown[] | undefined {
  if (v === undefined || v === null) return [];
  return Array.isArray(v) ? v : undefined;
}

/** Fixes that fit the model; each one that does not is dropped with a warning at `path`. */
export function validFixes(fixes: readonly FixInput[], warnings: ImportWarning[], path: string): FixInput[] {
  return fixes.filter((f) => {
    const ok = fixValidator.safeParse(f);
    if (!ok.success)
      warnings.push({
        path,
        message: `fix ${f.id} for ${f.product} dropped: ${ok.issues[0]?.message}`,
      });
    return ok.success;
  });
}

/** The last check of an importer: a converted advisory that does not fit the model is an error, never output. */
export function checkedAdvisory(advisory: AdvisoryInput): AdvisoryInput {
  const checked = advisoryValidator.safeParse(advisory);
  if (!checked.success) {
    const issue = checked.issues[0]!;
    throw new ImportError(
      issue.path.join('.'),
      `converted advisory does not fit the model: ${issue.message}`,
    );
  }
  return advisory;
}
