/**
 * What the scanner needs from the knowledge base: a judgement of each Exchange build it reveals (the exposure
 * engine's verdicts), the known builds of a CU (to probe the newest update first), and the catalog's builds
 * with names.
 */
import type { KnowledgeBase } from '../advisories/index.js';
import { compareVersions, EXCHANGE_PRODUCT } from '../core/index.js';
import type { Judgement } from './scan.js';

export interface ScanKnowledge {
  judge: (build: string) => Judgement;
  candidates: (cu: string) => string[];
}

/** Every Exchange build of the catalogs (each CU and each security update), with its full name. */
export function exchangeCatalogBuilds(kb: KnowledgeBase): { build: string; name: string }[] {
  return kb.catalogs
    .filter((c) => c.product === EXCHANGE_PRODUCT)
    .flatMap((c) =>
      c.trains.flatMap((t) => [
        { build: t.build, name: `${t.product_name} ${t.name}` },
        ...t.updates.map((u) => ({ build: u.build, name: `${t.product_name} ${t.name} ${u.name}` })),
      ]),
    );
}

export function scanKnowledge(kb: KnowledgeBase): ScanKnowledge {
  const byCu = new Map<string, string[]>();
  for (const { build } of exchangeCatalogBuilds(kb)) {
    const cu = build.split('.').slice(0, 3).join('.');
    byCu.set(cu, [...(byCu.get(cu) ?? []), build]);
  }
  // Highest first: the scanner probes the newest update of a CU before older ones.
  for (const list of byCu.values()) list.sort((a, b) => compareVersions('exchange', b, a));
  return {
    judge: (build) => {
      const { verdicts } = kb.engine.evaluate({
        id: build,
        products: [{ product: EXCHANGE_PRODUCT, version: build }],
        installed_kbs: [],
        endpoints: [],
        tags: [],
      });
      return {
        vulnerable: [...new Set(verdicts.filter((v) => v.verdict === 'affected').map((v) => v.cve))],
        verdicts,
      };
    },
    candidates: (cu) => byCu.get(cu) ?? [],
  };
}
