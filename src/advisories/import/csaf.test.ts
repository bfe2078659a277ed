import { readFileSync } from 'node:fs';
import { describe, it } from 'vitest';
import { loadCatalogFile } from '../load.js';
import { importCsaf } from './csaf.js';

const corpus = new URL('../../../../shared/corpus/advisory-formats/', import.meta.url);
const files = ['csaf/oasis-tcs-csaf/csaf_2.0/examples/csaf/bsi-2022-0001.json','csaf/oasis-tcs-csaf/csaf_2.0/examples/csaf/rhsa-2019_1862.json','csaf/oasis-tcs-csaf/csaf_2.0/examples/csaf/rhsa-2021_5186.json','csaf/oasis-tcs-csaf/csaf_2.0/examples/csaf/rhsa-2021_5217.json','csaf/oasis-tcs-csaf/csaf_2.0/examples/csaf/csaf_vex/2022-evd-uc-01-a-001.json','csaf/oasis-tcs-csaf/csaf_2.0/examples/csaf/csaf_vex/2022-evd-uc-01-f-001.json','csaf/oasis-tcs-csaf/csaf_2.0/examples/csaf/csaf_vex/2022-evd-uc-01-na-001.json','csaf/oasis-tcs-csaf/csaf_2.0/examples/csaf/csaf_vex/2022-evd-uc-01-ui-001.json','csaf/oasis-tcs-csaf/csaf_2.0/examples/csaf/csaf_vex/2022-evd-uc-03-ms-001.json','csaf/oasis-tcs-csaf/csaf_2.0/examples/csaf/csaf_vex/sec-vex-2022-0001.json','osv/tools/redhat/testdata/CSAF/rhsa-2024_4546.json'];
describe('scratch', () => {
  it('prints', () => {
    const exchange = loadCatalogFile(new URL('../catalogs/exchange.yaml', import.meta.url).pathname);
    for (const f of files) {
      const doc = JSON.parse(readFileSync(new URL(f, corpus), 'utf8'));
      const r = importCsaf(doc, { origin: f, catalogs: [exchange] });
      console.log('=====', f, JSON.stringify(r.advisories.map(a => ({id: a.id, title: a.title, published: a.published, summary: a.summary.slice(0,80), cves: a.cves.map(c => `${c.id} ${c.cvss?.score ?? ''} ${c.cwe}`), affected: a.affected, fixes: a.fixes?.map(f => ({...f, notes: undefined}))})), null, 1));
      for (const w of r.warnings) console.log('  W', w.path, '—', w.message);
    }
  });
});
