import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath, pathToFileURL } from 'node:url';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { corpusPath, describeCorpus, itCorpus } from '../../../test/support/corpus.js';
import {
  type AdvisoryInput,
  advisoryValidator,
  type Catalog,
  CatalogIndex,
  catalogValidator,
  ExposureEngine,
} from '../../core/index.js';
import { loadCatalogFile } from '../load.js';
import { importCve5 } from './cve5.js';
import { ImportError, type ImportResult } from './types.js';

const CORPUS = pathToFileURL(`${corpusPath('advisory-formats/cve-json5/cves')}/`);
const SAMPLES = [
  '2021/26xxx/CVE-2021-26855.json',
  '2021/26xxx/CVE-2021-26857.json',
  '2021/26xxx/CVE-2021-26858.json',
  '2021/27xxx/CVE-2021-27065.json',
  '2021/34xxx/CVE-2021-34473.json',
  '2022/41xxx/CVE-2022-41040.json',
  '2022/41xxx/CVE-2022-41082.json',
] as const;

function sample(file: (typeof SAMPLES)[number]): Record<string, unknown> {
  return JSON.parse(readFileSync(new URL(file, CORPUS), 'utf8'));
}

/** Builds from the Exchange build numbers table (Microsoft Learn): [line, train, first build, March 2021 SU build]. */
const PROXYLOGON_BUILDS: [string, string, string, string?][] = [
  ['2010', 'SP3', '14.3.123.4'],
  ['2013', 'SP1', '15.0.847.32', '15.0.847.64'],
  ['2013', 'CU21', '15.0.1395.4', '15.0.1395.12'],
  ['2013', 'CU22', '15.0.1473.3', '15.0.1473.6'],
  ['2013', 'CU23', '15.0.1497.2', '15.0.1497.12'],
  ['2016', 'CU8', '15.1.1415.2', '15.1.1415.10'],
  ['2016', 'CU9', '15.1.1466.3', '15.1.1466.16'],
  ['2016', 'CU10', '15.1.1531.3', '15.1.1531.12'],
  ['2016', 'CU11', '15.1.1591.10', '15.1.1591.18'],
  ['2016', 'CU12', '15.1.1713.5', '15.1.1713.10'],
  ['2016', 'CU13', '15.1.1779.2', '15.1.1779.8'],
  ['2016', 'CU14', '15.1.1847.3', '15.1.1847.12'],
  ['2016', 'CU15', '15.1.1913.5', '15.1.1913.12'],
  ['2016', 'CU16', '15.1.1979.3', '15.1.1979.8'],
  ['2016', 'CU17', '15.1.2044.4', '15.1.2044.13'],
  ['2016', 'CU18', '15.1.2106.2', '15.1.2106.13'],
  ['2016', 'CU19', '15.1.2176.2', '15.1.2176.9'],
  ['2016', 'CU20', '15.1.2242.4'],
  ['2019', 'RTM', '15.2.221.12', '15.2.221.18'],
  ['2019', 'CU1', '15.2.330.5', '15.2.330.11'],
  ['2019', 'CU2', '15.2.397.3', '15.2.397.11'],
  ['2019', 'CU3', '15.2.464.5', '15.2.464.15'],
  ['2019', 'CU4', '15.2.529.5', '15.2.529.13'],
  ['2019', 'CU5', '15.2.595.3', '15.2.595.8'],
  ['2019', 'CU6', '15.2.659.4', '15.2.659.12'],
  ['2019', 'CU7', '15.2.721.2', '15.2.721.13'],
  ['2019', 'CU8', '15.2.792.3', '15.2.792.10'],
  ['2019', 'CU9', '15.2.858.5'],
];

/** The built-in Exchange catalog, or (while it does not exist) a fixture with the ProxyLogon-era trains. */
function exchangeCatalog(): Catalog {
  const path = fileURLToPath(new URL('../catalogs/exchange.yaml', import.meta.url));
  if (existsSync(path)) return loadCatalogFile(path);
  return catalogValidator.parse({
    schema_version: 1,
    id: 'exchange',
    product: 'microsoft:exchange_server',
    name: 'Microsoft Exchange Server',
    scheme: 'exchange',
    sources: [{ title: 'test fixture from the Exchange build numbers table (Microsoft Learn)' }],
    trains: PROXYLOGON_BUILDS.map(([line, name, build, su]) => ({
      id: `exchange-${line}-${name.toLowerCase()}`,
      product_name: `Exchange Server ${line}`,
      name,
      build,
      updates: su ? [{ name: 'Mar21SU', build: su, kb: 'KB5000871' }] : [],
    })),
  });
}

const EXCHANGE = exchangeCatalog();
const CTX = { origin: 'test', catalogs: [EXCHANGE] };

/** The checks a saved import goes through: the advisory schema, then the engine's compile (versions, ranges). */
function expectUsable(result: ImportResult): void {
  for (const a of result.advisories) {
    const parsed = advisoryValidator.parse(a);
    expect(() => new ExposureEngine([parsed])).not.toThrow();
  }
}

function ranges(a: AdvisoryInput): string[] {
  return (a.affected ?? []).flatMap((e) =>
    (e.ranges ?? []).map((r) => `${r.train}: [${r.introduced ?? ''}, ${r.fixed ?? `${r.last_affected}]`})`),
  );
}

function verdict(a: AdvisoryInput, cve: string, version: string): string | undefined {
  const engine = new ExposureEngine([advisoryValidator.parse(a)], new CatalogIndex([EXCHANGE]));
  const out = engine.evaluate({
    id: 'host',
    products: [{ product: 'microsoft:exchange_server', version }],
    installed_kbs: [],
    endpoints: [],
    tags: [],
  });
  return out.verdicts.find((v) => v.cve === cve)?.verdict;
}

describeCorpus('importCve5 on the corpus', () => {
  it.each(SAMPLES)('%s imports into a valid advisory', (file) => {
    const r = importCve5(sample(file), { origin: file, catalogs: [EXCHANGE] });
    expect(r.format).toBe('cve5');
    expect(r.advisories).toHaveLength(1);
    const a = r.advisories[0]!;
    expect(a.id).toMatch(/^cve-20\d\d-\d+$/);
    expect(a.origin).toBe(`cve5:${file}`);
    expect(a.cves[0]!.cvss?.version).toBe('3.1');
    expectUsable(r);
    // Without catalogs it still imports (Exchange per-release ranges are then skipped with warnings).
    expectUsable(importCve5(sample(file), { origin: file, catalogs: [] }));
  });

  it('CVE-2021-26858: per-CU ranges bounded to the catalog train', () => {
    const r = importCve5(sample('2021/26xxx/CVE-2021-26858.json'), CTX);
    const a = r.advisories[0]!;
    expect(a.id).toBe('cve-2021-26858');
    expect(a.published).toBe('2021-03-02');
    expect(a.cves[0]).toMatchObject({ id: 'CVE-2021-26858', cwe: ['NVD-CWE-noinfo'] });
    expect(a.cves[0]!.cvss).toEqual({
      version: '3.1',
      vector: 'CVSS:3.1/AV:L/AC:L/PR:N/UI:R/S:U/C:H/I:H/A:H/E:F/RL:O/RC:C',
      score: 7.8,
    });
    expect(a.affected).toHaveLength(1);
    expect(a.affected![0]).toMatchObject({
      product: 'microsoft:exchange_server',
      scheme: 'exchange',
      catalog: 'exchange',
    });
    const rs = ranges(a);
    expect(rs).toContain('Exchange Server 2016 CU19: [15.1.2176.2, 15.1.2176.9)');
    expect(rs).toContain('Exchange Server 2013 CU23: [15.0.1497.2, 15.0.1497.12)');
    expect(rs).toContain('Exchange Server 2019 RTM: [15.2.221.12, 15.2.221.18)');
    // cpeApplicability repeats the affected[] bounds: no duplicate ranges.
    expect(new Set(rs).size).toBe(rs.length);
  });

  it('CVE-2021-26858: the 2019 CU1 bound below its version is warned with its path, not imported as a range', () => {
    const r = importCve5(sample('2021/26xxx/CVE-2021-26858.json'), CTX);
    const w = r.warnings.find((x) => x.path === 'containers.cna.affected[16].versions[0].lessThan');
    expect(w?.message).toMatch(/empty range.*15\.01\.1979\.006.*15\.02\.0/);
    // The CU4/CU6 labels are swapped in the record: CU4's bound lies in CU6, CU6's below CU6.
    expect(
      r.warnings.find((x) => x.path === 'containers.cna.affected[19].versions[0].lessThan')?.message,
    ).toMatch(/Exchange Server 2019 CU4: fixed 15.2.659.12 is beyond this train/);
    expect(
      r.warnings.find((x) => x.path === 'containers.cna.affected[21].versions[0].lessThan')?.message,
    ).toMatch(/empty range/);
    // Those trains are kept wholly affected (no fix known) so their builds are never judged fixed.
    const a = r.advisories[0]!;
    expect(ranges(a)).toContain('Exchange Server 2019 CU1: [15.2.330.5, 15.2.397.3)');
    expect(r.warnings.some((x) => /every build of Exchange Server 2019 CU1/.test(x.message))).toBe(true);
    expect(verdict(a, 'CVE-2021-26858', '15.2.330.5')).toBe('affected');
    expect(verdict(a, 'CVE-2021-26858', '15.1.2176.2')).toBe('affected');
    expect(verdict(a, 'CVE-2021-26858', '15.1.2176.9')).toBe('fixed');
    // 2019 CU9 shipped with the fix, but the record lists no range for it and no defaultStatus: not judged safe.
    expect(verdict(a, 'CVE-2021-26858', '15.2.858.5')).toBe('unknown');
  });

  it('CVE-2021-26855: lessThan "publication" is warned as not a version, and no range is made', () => {
    const r = importCve5(sample('2021/26xxx/CVE-2021-26855.json'), CTX);
    const a = r.advisories[0]!;
    expect(a.affected).toEqual([]);
    const w = r.warnings.filter((x) => /"publication" is not a version/.test(x.message));
    expect(w).toHaveLength(24);
    expect(w[3]!.path).toBe('containers.cna.affected[3].versions[0].lessThan');
    expect(a.cves[0]!.cwe).toEqual(['CWE-918']); // from the CISA ADP container
    expect(a.references?.every((ref) => /^https?:/.test(ref.url))).toBe(true);
    expect(a.references?.length).toBeGreaterThanOrEqual(5);
  });

  it('CVE-2022-41082: an integer baseScore and top-level keys in another order', () => {
    const r = importCve5(sample('2022/41xxx/CVE-2022-41082.json'), CTX);
    const a = r.advisories[0]!;
    expect(a.cves[0]!.cvss?.score).toBe(8);
    expect(a.cves[0]!.cwe).toEqual(['CWE-502']);
    expect(a.published).toBe('2022-10-03');
    // "2016 CU22" has version "15.0.0" (below the 2016 line); the train's first build bounds it.
    expect(ranges(a)).toContain('Exchange Server 2016 CU22: [15.1.2375.7, 15.1.2375.37)');
  });

  it('CVE-2021-34473 (5.2, cpeApplicability): five trains, no duplicates, verdicts', () => {
    const a = importCve5(sample('2021/34xxx/CVE-2021-34473.json'), CTX).advisories[0]!;
    expect(ranges(a)).toHaveLength(5);
    expect(ranges(a)).toContain('Exchange Server 2016 CU20: [15.1.2242.4, 15.1.2242.8)');
    expect(verdict(a, 'CVE-2021-34473', '15.1.2242.4')).toBe('affected');
    expect(verdict(a, 'CVE-2021-34473', '15.1.2242.8')).toBe('fixed');
  });

  it('without a catalog, per-release Exchange bounds are skipped with a warning naming the product', () => {
    const r = importCve5(sample('2021/34xxx/CVE-2021-34473.json'), { origin: 't', catalogs: [] });
    expect(r.advisories[0]!.affected).toEqual([]);
    const w = r.warnings.find((x) => x.path === 'containers.cna.affected[1].product');
    expect(w?.message).toMatch(
      /Microsoft Exchange Server 2016 Cumulative Update 19.*microsoft:exchange_server.*no catalog/,
    );
  });
});

// ---- hand-written records ---------------------------------------------------------------------------------------

function record(affected: unknown[], extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    dataType: 'CVE_RECORD',
    dataVersion: '5.1',
    cveMetadata: { cveId: 'CVE-2024-0001', state: 'PUBLISHED', datePublished: '2024-01-02T03:04:05Z' },
    containers: {
      cna: {
        providerMetadata: { orgId: 'x' },
        descriptions: [
          { lang: 'de', value: 'Deutsch' },
          { lang: 'en', value: 'A flaw.' },
        ],
        affected,
        references: [{ url: 'https://example.com/a' }, { url: 'ftp://example.com/b' }],
        ...extra,
      },
    },
  };
}

describe('importCve5 on hand-written records', () => {
  it('semver ranges, single versions and unaffected versions', () => {
    const r = importCve5(
      record([
        {
          vendor: 'Acme',
          product: 'Widget',
          versions: [
            { version: '1.0.0', lessThan: '1.2.3', status: 'affected', versionType: 'semver' },
            { version: '2.0.0', lessThanOrEqual: '2.0.4', status: 'affected', versionType: 'semver' },
            { version: '3.0.0', status: 'affected', versionType: 'semver' },
            { version: '1.2.3', status: 'unaffected', versionType: 'semver' },
          ],
        },
      ]),
      CTX,
    );
    expectUsable(r);
    const a = r.advisories[0]!;
    expect(a.id).toBe('cve-2024-0001');
    expect(a.summary).toBe('A flaw.');
    expect(a.affected).toEqual([
      {
        product: 'acme:widget',
        name: 'Widget',
        scheme: 'semver',
        cves: ['CVE-2024-0001'],
        ranges: [
          { introduced: '1.0.0', fixed: '1.2.3' },
          { introduced: '2.0.0', last_affected: '2.0.4' },
        ],
        versions: ['3.0.0'],
        fixed_versions: [],
        not_affected_versions: ['1.2.3'],
        default_status: 'unknown',
      },
    ]);
    expect(r.warnings).toContainEqual({
      path: 'containers.cna.references[1].url',
      message: expect.stringMatching(/not an http\(s\) URL/),
    });
  });

  it('defaultStatus affected: the complement of the unaffected ranges is affected', () => {
    const r = importCve5(
      record([
        {
          packageName: 'left-pad',
          collectionURL: 'https://registry.npmjs.org',
          defaultStatus: 'affected',
          versions: [
            { version: '0', lessThan: '1.0.0', status: 'unaffected', versionType: 'semver' },
            { version: '1.3.0', lessThan: '*', status: 'unaffected', versionType: 'semver' },
          ],
        },
      ]),
      CTX,
    );
    expectUsable(r);
    expect(r.advisories[0]!.affected![0]).toMatchObject({
      product: 'pkg:npm/left-pad',
      ranges: [{ introduced: '1.0.0', fixed: '1.3.0' }],
    });
  });

  it('changes[] split a range; operator versions are read as bounds; custom numeric versions are dotted', () => {
    const r = importCve5(
      record([
        {
          vendor: 'Acme',
          product: 'Server',
          versions: [
            {
              version: '1.0',
              lessThan: '2.0',
              status: 'affected',
              versionType: 'custom',
              changes: [
                { at: '1.7', status: 'affected' },
                { at: '1.5', status: 'unaffected' },
              ],
            },
          ],
        },
        { vendor: 'Acme', product: 'Client', versions: [{ version: '>= 2.1, < 2.3.1', status: 'affected' }] },
      ]),
      CTX,
    );
    expectUsable(r);
    const [server, client] = r.advisories[0]!.affected!;
    expect(server).toMatchObject({
      product: 'acme:server',
      scheme: 'dotted',
      ranges: [
        { introduced: '1.0', fixed: '1.5' },
        { introduced: '1.7', fixed: '2.0' },
      ],
    });
    expect(client).toMatchObject({ product: 'acme:client', ranges: [{ introduced: '2.1', fixed: '2.3.1' }] });
  });

  it('an unusable affected entry drops the product entry rather than let other ranges judge its versions', () => {
    const r = importCve5(
      record([
        {
          vendor: 'Acme',
          product: 'Tool',
          versions: [
            { version: '1.0.0', lessThan: '1.0.5', status: 'affected', versionType: 'semver' },
            { version: 'abc123', lessThan: 'def456', status: 'affected', versionType: 'git' },
          ],
        },
      ]),
      CTX,
    );
    expectUsable(r);
    expect(r.advisories[0]!.affected).toEqual([]);
    expect(r.warnings.map((w) => w.path)).toContain('containers.cna.affected[0].versions[1].versionType');
    expect(r.warnings.some((w) => /no affected entry for CVE-2024-0001/.test(w.message))).toBe(true);
  });

  it('unknown status values and unknown statuses are warned with their path', () => {
    const r = importCve5(
      record([
        {
          vendor: 'Acme',
          product: 'Thing',
          versions: [
            { version: '1.0.0', status: 'maybe', versionType: 'semver' },
            { version: '2.0.0', status: 'unknown', versionType: 'semver' },
          ],
        },
      ]),
      CTX,
    );
    expect(r.warnings.map((w) => w.path)).toEqual(
      expect.arrayContaining([
        'containers.cna.affected[0].versions[0].status',
        'containers.cna.affected[0].versions[1]',
      ]),
    );
    expect(r.advisories[0]!.affected).toEqual([]);
  });

  it('a cpeApplicability match without an affected[] twin finds its train by CPE update and bound', () => {
    const r = importCve5(
      record([], {
        cpeApplicability: [
          {
            nodes: [
              {
                operator: 'OR',
                negate: false,
                cpeMatch: [
                  {
                    vulnerable: true,
                    criteria: 'cpe:2.3:a:microsoft:exchange_server:*:cumulative_update_19:*:*:*:*:*:*',
                    versionStartIncluding: '15.01.0',
                    versionEndExcluding: '15.01.2176.009',
                  },
                ],
              },
            ],
          },
        ],
      }),
      CTX,
    );
    expectUsable(r);
    expect(ranges(r.advisories[0]!)).toEqual(['Exchange Server 2016 CU19: [15.1.2176.2, 15.1.2176.9)']);
  });

  it('a REJECTED record gives no advisory', () => {
    const doc = record([]);
    (doc.cveMetadata as Record<string, unknown>).state = 'REJECTED';
    const r = importCve5(doc, CTX);
    expect(r.advisories).toEqual([]);
    expect(r.warnings[0]!.path).toBe('cveMetadata.state');
  });
});

describe('importCve5 on malformed documents', () => {
  const cases: [string, unknown, string][] = [
    ['not an object', [1, 2], ''],
    ['another format', { document: { csaf_version: '2.0' } }, 'dataType'],
    ['a CVE 4 record', { ...record([]), dataVersion: '4.0' }, 'dataVersion'],
    ['no CVE id', { ...record([]), cveMetadata: { state: 'PUBLISHED' } }, 'cveMetadata.cveId'],
    ['no CNA container', { ...record([]), containers: { adp: [] } }, 'containers.cna'],
    [
      'no date at all',
      { ...record([]), cveMetadata: { cveId: 'CVE-2024-0001', state: 'PUBLISHED' } },
      'cveMetadata.datePublished',
    ],
  ];
  it.each(cases)('%s → ImportError at its path', (_, doc, path) => {
    try {
      importCve5(doc, CTX);
      expect.unreachable('should throw');
    } catch (err) {
      expect(err).toBeInstanceOf(ImportError);
      expect((err as ImportError).path).toBe(path);
    }
  });
});

// ---- fuzzing ------------------------------------------------------------------------------------------------------

/** Runs the importer; anything but ImportError fails, and whatever it returns must be usable. */
function survives(doc: unknown): void {
  let r: ImportResult;
  try {
    r = importCve5(doc, CTX);
  } catch (err) {
    if (err instanceof ImportError) return;
    throw err;
  }
  expectUsable(r);
}

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };

/** Applies one mutation at the n-th node (in document order) of a JSON value. */
function mutate(doc: Json, n: number, action: number, value: Json): Json {
  let i = 0;
  const visit = (node: Json): Json => {
    if (i++ === n) {
      switch (action % 4) {
        case 0:
          return value;
        case 1:
          return null;
        case 2:
          return typeof node === 'string' ? `${node}x` : Array.isArray(node) ? [...node, ...node] : value;
        default:
          return Array.isArray(node) ? node.slice(1) : typeof node === 'number' ? -node : String(node);
      }
    }
    if (Array.isArray(node)) return node.map(visit);
    if (node && typeof node === 'object') {
      const out: { [k: string]: Json } = {};
      for (const [k, v] of Object.entries(node)) {
        if (action % 7 === 6 && i === n) {
          i++;
          continue; // drop the key
        }
        out[k] = visit(v);
      }
      return out;
    }
    return node;
  };
  return visit(doc);
}

describe('importCve5 fuzzing', () => {
  it('random JSON values never throw anything but ImportError', () => {
    fc.assert(
      fc.property(fc.jsonValue(), (doc) => survives(doc)),
      { numRuns: 300 },
    );
    fc.assert(
      fc.property(
        fc.record({
          dataType: fc.constantFrom('CVE_RECORD', 'x'),
          dataVersion: fc.constantFrom('5.0', '5.1', '5.2', 5),
          cveMetadata: fc.record({
            cveId: fc.constantFrom('CVE-2021-1234', 'nope'),
            datePublished: fc.string(),
          }),
          containers: fc.record({
            cna: fc.dictionary(
              fc.constantFrom(
                'affected',
                'metrics',
                'descriptions',
                'references',
                'problemTypes',
                'cpeApplicability',
              ),
              fc.jsonValue(),
            ),
          }),
        }),
        (doc) => survives(doc),
      ),
      { numRuns: 300 },
    );
  });

  itCorpus(
    'mutated corpus records never throw anything but ImportError and never give an unusable advisory',
    () => {
      const docs = SAMPLES.map((f) => sample(f) as Json);
      fc.assert(
        fc.property(
          fc.nat(docs.length - 1),
          fc.array(fc.record({ n: fc.nat(3000), action: fc.nat(13), value: fc.jsonValue({ maxDepth: 2 }) }), {
            minLength: 1,
            maxLength: 6,
          }),
          (which, mutations) => {
            let doc: Json = docs[which] as Json;
            for (const m of mutations) doc = mutate(doc, m.n, m.action, m.value as Json);
            survives(doc);
          },
        ),
        { numRuns: 250 },
      );
    },
  );
});
