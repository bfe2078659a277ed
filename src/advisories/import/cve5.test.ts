import { readFileSync } from 'node:fs';
import { describe, it } from 'vitest';
import { loadCatalogFile } from '../load.js';
import { importCve5 } from './cve5.js';

const corpus = new URL('../../../../shared/corpus/advisory-formats/cve-json5/cves/', import.meta.url);
const files = ['2021/26xxx/CVE-2021-26855.json','2021/26xxx/CVE-2021-26857.json','2021/26xxx/CVE-2021-26858.json','2021/27xxx/CVE-2021-27065.json','2021/34xxx/CVE-2021-34473.json','2022/41xxx/CVE-2022-41040.json','2022/41xxx/CVE-2022-41082.json'];
describe('scratch', () => {
  it('prints', () => {
    const exchange = loadCatalogFile(new URL('../catalogs/exchange.yaml', import.meta.url).pathname);
    for (const f of files) {
      const doc = JSON.parse(readFileSync(new URL(f, corpus), 'utf8'));
      const r = importCve5(doc, { origin: f, catalogs: [exchange] });
      console.log('=====', f, JSON.stringify(r.advisories.map(a => ({...a, references: undefined, affected: a.affected?.map(x => ({...x, ranges: x.ranges?.map(r => `${r.train}: [${r.introduced}, ${r.fixed ?? r.last_affected})`)}))})), null, 1));
      for (const w of r.warnings) console.log('  W', w.path, '—', w.message);
    }
  });
});
