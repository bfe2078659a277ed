/**
 * Turning the many ways feeds name a product (CPE, package URL, free-text vendor/product names) into Bulwark
 * product ids, and free-text release names ("Microsoft Exchange Server 2016 Cumulative Update 19") into a
 * train of a product catalog. Shared by every importer so they agree on ids.
 */
import type { Catalog, CatalogTrain } from '../../core/catalog/model.js';

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
