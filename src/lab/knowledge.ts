/** What the lab's emulators need from the knowledge base: the catalog's Exchange builds and which are vulnerable. */
import type { KnowledgeBase } from '../advisories/index.js';
import { CHECK_CVE, exchangeCatalogBuilds, scanKnowledge } from '../scan/index.js';

/** The emulated x.js behaviour follows the CVE the active check proves, as the knowledge base judges the build. */
export function labIsVulnerable(kb: KnowledgeBase): (build: string) => boolean {
  const { judge } = scanKnowledge(kb);
  return (build) => judge(build).vulnerable.includes(CHECK_CVE);
}

/** What a farm needs from the knowledge base: the catalog's Exchange builds with names, and who is vulnerable. */
export function farmKnowledge(kb: KnowledgeBase): {
  catalogBuilds: { build: string; name: string }[];
  isVulnerable: (build: string) => boolean;
} {
  return { catalogBuilds: exchangeCatalogBuilds(kb), isVulnerable: labIsVulnerable(kb) };
}
