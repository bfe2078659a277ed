/**
 * Observations merged into an asset's stored facts (`POST …/assets?merge=observed`, used by `bulwark scan --push`):
 * a remote scan sees one endpoint of a server that an agent or a facts file may already have registered in full
 * (OS, installed updates, other products). Replacing those facts with what the scan saw would throw them away, so
 * the observation contributes only what it observed:
 *
 * - each observed product replaces the stored version of the same product id (added when absent) — except when
 *   the observation saw only the CU (tag `<source>:cu-level`) and the stored build is in that CU: the stored
 *   build is more exact and stays;
 * - its endpoints are added to the stored ones;
 * - its tags replace the stored tags of its own namespace (`<source>`, `<source>:…`), so `scan:vulnerable` from
 *   last week does not linger beside today's `scan:patched`; other tags stay;
 * - everything else (name, OS, installed KBs, other products) stays as stored.
 */
import type { AssetFacts } from '../../core/index.js';

/** The first three parts of a build (`15.1.2176.2` → `15.1.2176`): the CU for Exchange. */
function cuOf(version: string): string {
  return version.split('.').slice(0, 3).join('.');
}

const unique = <T>(xs: readonly T[]): T[] => [...new Set(xs)];

export function mergeObserved(stored: AssetFacts, observed: AssetFacts, source: string): AssetFacts {
  const cuLevel = observed.tags.includes(`${source}:cu-level`);
  const products = stored.products.map((p) => ({ ...p }));
  for (const seen of observed.products) {
    const same = products.filter((p) => p.product === seen.product);
    if (!same.length) {
      products.push({ ...seen });
      continue;
    }
    for (const p of same) {
      if (cuLevel && cuOf(p.version) === cuOf(seen.version)) continue;
      p.version = seen.version;
    }
  }
  const ownTag = (t: string) => t === source || t.startsWith(`${source}:`);
  return {
    ...stored,
    ...(stored.name === undefined && observed.name !== undefined ? { name: observed.name } : {}),
    products,
    endpoints: unique([...stored.endpoints, ...observed.endpoints]),
    // Tags the observation repeats move to its part, so merging the same observation twice changes nothing.
    tags: unique([...stored.tags.filter((t) => !ownTag(t) && !observed.tags.includes(t)), ...observed.tags]),
  };
}
