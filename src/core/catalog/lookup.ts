/**
 * Fast look-ups over product catalogs: which release a version is, whether it is known at all, and the known
 * releases that follow it. Builds are parsed once and kept sorted so each look-up is a binary search.
 */
import { getScheme, type VersionScheme } from '../versions/index.js';
import type { Catalog, CatalogTrain, CatalogUpdate } from './model.js';

export interface CatalogEntry {
  /** The version string as the catalog writes it. */
  build: string;
  parsed: unknown;
  catalog: Catalog;
  train: CatalogTrain;
  /** Absent for the train's own (RTM) build. */
  update?: CatalogUpdate;
}

export interface BuildInfo {
  build: string;
  known: boolean;
  entry?: CatalogEntry;
  /** For an unknown build: the nearest known builds below and above it. */
  below?: CatalogEntry;
  above?: CatalogEntry;
}

class ProductCatalog {
  readonly entries: CatalogEntry[];

  constructor(
    readonly scheme: VersionScheme,
    catalogs: Catalog[],
  ) {
    const entries: CatalogEntry[] = [];
    for (const catalog of catalogs) {
      for (const train of catalog.trains) {
        entries.push(this.entry(train.build, catalog, train));
        for (const update of train.updates) entries.push(this.entry(update.build, catalog, train, update));
      }
    }
    entries.sort((a, b) => scheme.compareParsed(a.parsed, b.parsed));
    this.entries = entries;
  }

  private entry(build: string, catalog: Catalog, train: CatalogTrain, update?: CatalogUpdate): CatalogEntry {
    const parsed = this.scheme.parse(build);
    if (!parsed.ok) throw new Error(`catalog ${catalog.id}: train ${train.id}: ${parsed.error}`);
    return { build, parsed: parsed.value, catalog, train, update };
  }

  /** Index of the first entry >= parsed. */
  lowerBound(parsed: unknown): number {
    let lo = 0;
    let hi = this.entries.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.scheme.compareParsed(this.entries[mid]!.parsed, parsed) < 0) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }
}

export class CatalogIndex {
  private readonly byProduct = new Map<string, ProductCatalog>();

  constructor(readonly catalogs: readonly Catalog[]) {
    const grouped = new Map<string, Catalog[]>();
    for (const c of catalogs) grouped.set(c.product, [...(grouped.get(c.product) ?? []), c]);
    for (const [product, list] of grouped) {
      const schemes = new Set(list.map((c) => c.scheme));
      if (schemes.size > 1) throw new Error(`catalogs for ${product} use different version schemes`);
      this.byProduct.set(product, new ProductCatalog(getScheme(list[0]!.scheme as never), list));
    }
  }

  has(product: string): boolean {
    return this.byProduct.has(product);
  }

  /** Whether a parsed version (of the catalog's scheme) is a known release. */
  knows(product: string, parsed: unknown): boolean {
    const pc = this.byProduct.get(product);
    if (!pc) return false;
    const i = pc.lowerBound(parsed);
    const e = pc.entries[i];
    return e !== undefined && pc.scheme.compareParsed(e.parsed, parsed) === 0;
  }

  /** Looks a version string up; throws only for a product without a catalog. Unparseable text is unknown. */
  lookup(product: string, build: string): BuildInfo {
    const pc = this.byProduct.get(product);
    if (!pc) throw new Error(`no catalog for ${product}`);
    const parsed = pc.scheme.parse(build);
    if (!parsed.ok) return { build, known: false };
    const i = pc.lowerBound(parsed.value);
    const at = pc.entries[i];
    if (at && pc.scheme.compareParsed(at.parsed, parsed.value) === 0)
      return { build, known: true, entry: at };
    return { build, known: false, below: pc.entries[i - 1], above: at };
  }

  /** Known releases strictly after `parsed`, in ascending order. */
  *after(product: string, parsed: unknown): Generator<CatalogEntry> {
    const pc = this.byProduct.get(product);
    if (!pc) return;
    let i = pc.lowerBound(parsed);
    while (i < pc.entries.length && pc.scheme.compareParsed(pc.entries[i]!.parsed, parsed) === 0) i++;
    for (; i < pc.entries.length; i++) yield pc.entries[i]!;
  }
}

/** "Exchange Server 2016 CU19" or "Exchange Server 2016 CU19 Mar21SU". */
export function describeEntry(entry: CatalogEntry): string {
  const base = `${entry.train.product_name} ${entry.train.name}`;
  return entry.update ? `${base} ${entry.update.name}` : base;
}
