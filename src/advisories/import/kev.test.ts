import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { corpusPath, describeCorpus, itCorpus } from '../../../test/support/corpus.js';
import { type AdvisoryInput, advisoryValidator, type Kev, kevValidator } from '../../core/index.js';
import { applyKev, importKev } from './kev.js';
import { type ImportContext, ImportError } from './types.js';

const corpus = (path: string) => corpusPath('advisory-formats', path);
// Read on first use, so a clone without the corpus still runs the tests that do not need it.
let catalogText: string | undefined;
function catalog(): { count: number; vulnerabilities: Record<string, unknown>[] } {
  catalogText ??= readFileSync(corpus('cisa-kev/known_exploited_vulnerabilities.json'), 'utf8');
  return JSON.parse(catalogText);
}
const ctx: ImportContext = { origin: 'known_exploited_vulnerabilities.json', catalogs: [] };

function thrown(fn: () => unknown): ImportError {
  try {
    fn();
  } catch (e) {
    if (e instanceof ImportError) return e;
    throw e;
  }
  throw new Error('expected an ImportError');
}

/** A minimal well-formed catalog around the given entries. */
function miniCatalog(entries: unknown[], extra: Record<string, unknown> = {}) {
  return {
    title: 'test',
    catalogVersion: '2025.01.01',
    dateReleased: '2025-01-01T00:00:00.000Z',
    count: entries.length,
    vulnerabilities: entries,
    ...extra,
  };
}
const entry = (over: Record<string, unknown> = {}) => ({
  cveID: 'CVE-2021-26855',
  vendorProject: 'Microsoft',
  product: 'Exchange Server',
  vulnerabilityName: 'x',
  dateAdded: '2021-11-03',
  shortDescription: 'x',
  requiredAction: 'Apply updates per vendor instructions.',
  dueDate: '2021-04-16',
  knownRansomwareCampaignUse: 'Known',
  notes: '',
  cwes: ['CWE-918'],
  ...over,
});

describeCorpus('importKev on the real CISA catalog (2025.08.25)', () => {
  it('imports every one of its `count` entries without warnings', () => {
    const doc = catalog();
    const result = importKev(doc, ctx);
    expect(result.format).toBe('kev');
    expect(result.advisories).toEqual([]);
    expect(doc.count).toBe(1404);
    expect(result.warnings).toEqual([]);
    expect(result.kev.size).toBe(1404);
    for (const kev of result.kev.values()) kevValidator.parse(kev);
  });

  it('has the ProxyLogon, ProxyShell and ProxyNotShell facts as published', () => {
    const { kev } = importKev(catalog(), ctx);
    expect(kev.get('CVE-2021-26855')).toEqual({
      date_added: '2021-11-03',
      due_date: '2021-04-16',
      ransomware: 'known',
      required_action: 'Apply updates per vendor instructions.',
      source: 'CISA KEV catalog 2025.08.25',
    });
    for (const id of ['CVE-2021-26857', 'CVE-2021-26858', 'CVE-2021-27065']) {
      expect(kev.get(id)).toMatchObject({ date_added: '2021-11-03', due_date: '2021-04-16' });
    }
    expect(kev.get('CVE-2021-34473')?.due_date).toBe('2021-11-17');
    expect(kev.get('CVE-2022-41040')?.date_added).toBe('2022-09-30');
    expect(kev.get('CVE-2022-41082')?.date_added).toBe('2022-09-30');
    // Both values of the ransomware flag occur in the real catalog.
    const flags = new Set([...kev.values()].map((k) => k.ransomware));
    expect(flags).toEqual(new Set(['known', 'unknown']));
  });

  it('is fast: about as long as JSON.parse of the file', () => {
    const times: number[] = [];
    for (let i = 0; i < 15; i++) {
      const doc = catalog();
      const t0 = performance.now();
      importKev(doc, ctx);
      times.push(performance.now() - t0);
    }
    times.sort((a, b) => a - b);
    const median = times[7]!;
    const t0 = performance.now();
    catalog();
    const parse = performance.now() - t0;
    console.log(
      `importKev, 1404 entries: median ${median.toFixed(2)} ms (JSON.parse of the file: ${parse.toFixed(2)} ms)`,
    );
    expect(median).toBeLessThan(50); // generous for shared CI machines; ~1-2 ms on a developer machine
  });
});

describe('importKev refuses documents that are not a KEV catalog', () => {
  it.each([
    ['an array', [], ''],
    ['null', null, ''],
    ['a string', 'catalog', ''],
    ['no vulnerabilities', { catalogVersion: '1', count: 0 }, 'vulnerabilities'],
    ['vulnerabilities not a list', { catalogVersion: '1', vulnerabilities: {} }, 'vulnerabilities'],
    ['no catalogVersion', { vulnerabilities: [] }, 'catalogVersion'],
    ['numeric catalogVersion', { catalogVersion: 2025, vulnerabilities: [] }, 'catalogVersion'],
  ])('%s → ImportError at "%s"', (_name, doc, path) => {
    const e = thrown(() => importKev(doc, ctx));
    expect(e.path).toBe(path);
    expect(e.message).toMatch(/KEV catalog|catalog version/);
  });

  itCorpus('refuses an OSV record and a CVE record', () => {
    const osv = JSON.parse(
      readFileSync(corpus('osv/tools/osv-linter/testdata/GHSA-9v2f-6vcg-3hgv.json'), 'utf8'),
    );
    expect(thrown(() => importKev(osv, ctx)).path).toBe('vulnerabilities');
    const cve = JSON.parse(readFileSync(corpus('cve-json5/cves/2021/26xxx/CVE-2021-26855.json'), 'utf8'));
    expect(thrown(() => importKev(cve, ctx)).path).toBe('vulnerabilities');
  });
});

describe('importKev warns about and skips entries it cannot use', () => {
  it('names the field of each skipped entry and keeps the good ones', () => {
    const doc = miniCatalog([
      entry({ cveID: 'CVE-2021-0001' }),
      entry({ cveID: 'cve 2021 1' }),
      entry({ cveID: 'CVE-2021-0003', dateAdded: '2021/11/03' }),
      entry({ cveID: 'CVE-2021-0004', dueDate: '2021-02-30' }),
      entry({ cveID: 'CVE-2021-0005', knownRansomwareCampaignUse: 'Maybe' }),
      entry({ cveID: 'CVE-2021-0001', dueDate: '2030-01-01' }),
      'not an entry',
      entry({ cveID: 'CVE-2021-0008', knownRansomwareCampaignUse: 'Unknown' }),
    ]);
    const { kev, warnings } = importKev(doc, ctx);
    expect([...kev.keys()]).toEqual(['CVE-2021-0001', 'CVE-2021-0008']);
    expect(kev.get('CVE-2021-0001')?.due_date).toBe('2021-04-16'); // first of the duplicates kept
    expect(kev.get('CVE-2021-0008')?.ransomware).toBe('unknown');
    expect(warnings.map((w) => w.path)).toEqual([
      'vulnerabilities[1].cveID',
      'vulnerabilities[2].dateAdded',
      'vulnerabilities[3].dueDate',
      'vulnerabilities[4].knownRansomwareCampaignUse',
      'vulnerabilities[5].cveID',
      'vulnerabilities[6]',
    ]);
    for (const w of warnings) expect(w.message).toMatch(/skipped/);
    expect(warnings[3]!.message).toContain('"Maybe"');
  });

  it('defaults a missing ransomware flag to "unknown" and reports repeated notes once', () => {
    const entries = [1, 2, 3].map((n) => {
      const e: Record<string, unknown> = entry({ cveID: `CVE-2020-000${n}`, addedByCisa: true });
      delete e.knownRansomwareCampaignUse;
      return e;
    });
    const { kev, warnings } = importKev(miniCatalog(entries), ctx);
    expect(kev.size).toBe(3);
    expect([...kev.values()].every((k) => k.ransomware === 'unknown')).toBe(true);
    expect(warnings).toEqual([
      {
        path: 'vulnerabilities[0].knownRansomwareCampaignUse',
        message: expect.stringMatching(/recorded as "unknown".*and in 2 more entries/),
      },
      {
        path: 'vulnerabilities[0].addedByCisa',
        message: expect.stringMatching(/unknown field.*2 more entries/),
      },
    ]);
  });

  it('warns when the count does not match, or about unknown top-level fields', () => {
    const doc = miniCatalog([entry()], { count: 5, extra: 1 });
    const { kev, warnings } = importKev(doc, ctx);
    expect(kev.size).toBe(1);
    expect(warnings.map((w) => w.path).sort()).toEqual(['count', 'extra']);
    expect(warnings.find((w) => w.path === 'count')?.message).toMatch(/says 5 entries but lists 1/);
  });

  it('keeps an entry without requiredAction, saying so', () => {
    const e: Record<string, unknown> = entry();
    delete e.requiredAction;
    const { kev, warnings } = importKev(miniCatalog([e]), ctx);
    expect(kev.get('CVE-2021-26855')).not.toHaveProperty('required_action');
    expect(warnings).toEqual([{ path: 'vulnerabilities[0].requiredAction', message: expect.any(String) }]);
  });

  it('checks calendar dates, not just their shape', () => {
    const doc = miniCatalog(
      ['2024-02-29', '2023-02-29', '2021-13-01', '2021-1-01', '2021-11-03T00:00:00Z'].map((d, i) =>
        entry({ cveID: `CVE-2021-000${i}`, dateAdded: d }),
      ),
    );
    const { kev, warnings } = importKev(doc, ctx);
    expect([...kev.keys()]).toEqual(['CVE-2021-0000']);
    expect(warnings.map((w) => w.path)).toEqual([1, 2, 3, 4].map((i) => `vulnerabilities[${i}].dateAdded`));
  });
});

describe('applyKev', () => {
  const advisory = (): AdvisoryInput => ({
    schema_version: 1,
    id: 'proxylogon-test',
    title: 'ProxyLogon',
    summary: 'test',
    published: '2021-03-02',
    cves: [
      {
        id: 'CVE-2021-26855',
        kev: { date_added: '2021-03-03', due_date: '2021-03-05', ransomware: 'unknown', source: 'old pack' },
      },
      { id: 'CVE-1999-0001' },
    ],
  });

  itCorpus('sets cves[].kev from the catalog (catalog wins), copying, never mutating', () => {
    const { kev } = importKev(catalog(), ctx);
    const input = [advisory(), { ...advisory(), id: 'other', cves: [{ id: 'CVE-2021-26855' }] }];
    const before = structuredClone(input);
    const { advisories, enriched } = applyKev(input, kev);
    expect(input).toEqual(before);
    expect(enriched).toEqual(['CVE-2021-26855']);
    expect(advisories[0]!.cves[0]!.kev).toEqual(kev.get('CVE-2021-26855'));
    expect(advisories[0]!.cves[1]).toBe(input[0]!.cves[1]); // untouched CVE shared, not copied
    expect(advisories[1]!.cves[0]!.kev?.ransomware).toBe('known');
    expect(advisories[0]!.cves[0]!.kev).not.toBe(kev.get('CVE-2021-26855'));
    for (const a of advisories) advisoryValidator.parse(a);
  });

  it('returns advisories without catalogued CVEs as they are', () => {
    const a = { ...advisory(), cves: [{ id: 'CVE-1999-0001' }] };
    const { advisories, enriched } = applyKev([a], new Map<string, Kev>());
    expect(advisories[0]).toBe(a);
    expect(enriched).toEqual([]);
  });
});

describe('importKev fuzzing', () => {
  const onlyImportErrors = (doc: unknown) => {
    try {
      const { kev } = importKev(doc, ctx);
      for (const k of kev.values()) kevValidator.parse(k);
    } catch (e) {
      if (!(e instanceof ImportError)) throw e;
    }
  };

  it('random JSON never throws anything but ImportError', () => {
    fc.assert(fc.property(fc.jsonValue(), onlyImportErrors), { numRuns: 500 });
    fc.assert(
      fc.property(fc.jsonValue(), fc.jsonValue(), (cv, vulns) =>
        onlyImportErrors({ catalogVersion: cv, vulnerabilities: vulns }),
      ),
      { numRuns: 500 },
    );
  });

  itCorpus('mutated real entries yield only schema-valid KEV data', () => {
    const real = catalog().vulnerabilities.slice(0, 50);
    const keys = Object.keys(real[0]!);
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.nat(real.length - 1), fc.constantFrom(...keys), fc.option(fc.jsonValue())), {
          maxLength: 20,
        }),
        (mutations) => {
          const entries = structuredClone(real);
          for (const [i, key, value] of mutations) {
            if (value === null) delete entries[i]![key];
            else entries[i]![key] = value;
          }
          onlyImportErrors(miniCatalog(entries));
        },
      ),
      { numRuns: 300 },
    );
  });
});
