import { readFileSync } from 'node:fs';
import { describe, it } from 'vitest';
import { loadCatalogFile } from '../load.js';
import { importCvrf } from './cvrf.js';

const corpus = new URL('../../../../shared/corpus/advisory-formats/msrc-cvrf/2021/xml-cvrf-document/cvrfDocument-2021-Mar.xml', import.meta.url);
describe('scratch', () => {
  it('prints', () => {
    const exchange = loadCatalogFile(new URL('../catalogs/exchange.yaml', import.meta.url).pathname);
    const t0 = Date.now();
    const r = importCvrf(readFileSync(corpus, 'utf8'), { origin: 'x', catalogs: [exchange] });
    console.log('ms', Date.now() - t0);
    const a = r.advisories[0]!;
    console.log(a.id, a.title, a.published, a.cves.length, a.summary.slice(0, 300));
    console.log(JSON.stringify(a.cves.filter(c => c.id.startsWith('CVE-2021-268')), null, 1));
    for (const e of a.affected ?? []) console.log(e.product, e.cves.join(','), e.name, e.catalog, JSON.stringify(e.ranges?.map(r => `${r.train}: [${r.introduced}, ${r.fixed})`)));
    for (const f of a.fixes ?? []) console.log(JSON.stringify({...f, targets: f.targets?.length}));
    console.log("WARNINGS", r.warnings.length, r.warnings.filter(w => !w.message.includes("no product catalog")).length);
    for (const w of r.warnings.filter(w => !w.message.includes('no product catalog'))) console.log('  W', w.path, '—', w.message);
    for (const w of r.warnings.filter(w => w.message.includes('no product catalog')).slice(0, 5)) console.log('  W', w.path, '—', w.message);
  });
});
