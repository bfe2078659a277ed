import { readFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { corpusPath, describeCorpus, itCorpus } from '../../../test/support/corpus.js';
import {
  type AdvisoryInput,
  advisoryValidator,
  type Catalog,
  catalogValidator,
  ExposureEngine,
} from '../../core/index.js';
import { importCsaf, parseVers } from './csaf.js';
import { ImportError, type ImportResult } from './types.js';

const CORPUS = pathToFileURL(`${corpusPath('advisory-formats')}/`);
const EXAMPLES = 'csaf/oasis-tcs-csaf/csaf_2.0/examples/csaf/';
const SAMPLES = [
  `${EXAMPLES}bsi-2022-0001.json`,
  `${EXAMPLES}rhsa-2019_1862.json`,
  `${EXAMPLES}rhsa-2021_5186.json`,
  `${EXAMPLES}rhsa-2021_5217.json`,
  `${EXAMPLES}csaf_vex/2022-evd-uc-01-a-001.json`,
  `${EXAMPLES}csaf_vex/2022-evd-uc-01-f-001.json`,
  `${EXAMPLES}csaf_vex/2022-evd-uc-01-na-001.json`,
  `${EXAMPLES}csaf_vex/2022-evd-uc-01-ui-001.json`,
  `${EXAMPLES}csaf_vex/2022-evd-uc-03-ms-001.json`,
  `${EXAMPLES}csaf_vex/sec-vex-2022-0001.json`,
  'osv/tools/redhat/testdata/CSAF/rhsa-2024_4546.json',
];

function sample(file: string): Record<string, unknown> {
  return JSON.parse(readFileSync(new URL(file, CORPUS), 'utf8'));
}

/** A two-train Exchange catalog (builds from the Exchange build numbers table (Microsoft Learn)) for the KB mapping. */
const EXCHANGE: Catalog = catalogValidator.parse({
  schema_version: 1,
  id: 'exchange',
  product: 'microsoft:exchange_server',
  name: 'Microsoft Exchange Server',
  scheme: 'exchange',
  sources: [{ title: 'test fixture' }],
  trains: [
    {
      id: 'exchange-2016-cu19',
      product_name: 'Exchange Server 2016',
      name: 'CU19',
      build: '15.1.2176.2',
      updates: [{ name: 'Mar21SU', build: '15.1.2176.9', kb: 'KB5000871' }],
    },
    { id: 'exchange-2016-cu20', product_name: 'Exchange Server 2016', name: 'CU20', build: '15.1.2242.4' },
  ],
});
const CTX = { origin: 'test', catalogs: [EXCHANGE] };

function expectUsable(result: ImportResult): void {
  for (const a of result.advisories) {
    const parsed = advisoryValidator.parse(a);
    expect(() => new ExposureEngine([parsed])).not.toThrow();
  }
}

function only(r: ImportResult): AdvisoryInput {
  expect(r.advisories).toHaveLength(1);
  return r.advisories[0]!;
}

describeCorpus('importCsaf on the corpus', () => {
  it.each(SAMPLES)('%s imports without throwing and passes the advisory schema', (file) => {
    const r = importCsaf(sample(file), { origin: file, catalogs: [EXCHANGE] });
    expect(r.format).toBe('csaf');
    expectUsable(r);
    for (const a of r.advisories) expect(a.origin).toBe(`csaf:${file}`);
  });

  it('RHSA-2024:4546: rpm packages with fixed versions, ranges below them and package updates', () => {
    const r = importCsaf(sample('osv/tools/redhat/testdata/CSAF/rhsa-2024_4546.json'), CTX);
    const a = only(r);
    expect(a.id).toBe('rhsa-2024-4546');
    expect(a.title).toBe('Red Hat Security Advisory: git-lfs security update');
    expect(a.cves[0]).toMatchObject({
      id: 'CVE-2023-45288',
      cwe: ['CWE-400'],
      cvss: { version: '3.1', score: 7.5 },
    });
    const gitLfs = a.affected!.find((e) => e.product === 'pkg:rpm/redhat/git-lfs')!;
    expect(gitLfs).toMatchObject({
      scheme: 'rpm',
      name: 'git-lfs',
      fixed_versions: ['2.13.3-3.el8_6.1'],
      ranges: [{ fixed: '2.13.3-3.el8_6.1' }],
    });
    expect(a.affected!.map((e) => e.product).sort()).toEqual([
      'pkg:rpm/redhat/git-lfs',
      'pkg:rpm/redhat/git-lfs-debuginfo',
      'pkg:rpm/redhat/git-lfs-debugsource',
    ]);
    expect(a.fixes).toContainEqual(
      expect.objectContaining({
        id: 'RHSA-2024:4546',
        kind: 'package_update',
        product: 'pkg:rpm/redhat/git-lfs',
        package: { name: 'git-lfs', version: '2.13.3-3.el8_6.1' },
        url: 'https://access.redhat.com/errata/RHSA-2024:4546',
      }),
    );
    // The workaround remediation is named, not silently dropped.
    expect(r.warnings.map((w) => w.path)).toContain('vulnerabilities[0].remediations[1].category');
    const engine = new ExposureEngine([advisoryValidator.parse(a)]);
    const judged = (version: string) =>
      engine.evaluate({
        id: 'h',
        products: [{ product: 'pkg:rpm/redhat/git-lfs', version }],
        installed_kbs: [],
        endpoints: [],
        tags: [],
      }).verdicts[0]?.verdict;
    expect(judged('2.13.3-2.el8')).toBe('affected');
    expect(judged('2.13.3-3.el8_6.1')).toBe('fixed');
  });

  it('VEX not affected: known_not_affected gives not_affected_versions', () => {
    const a = only(importCsaf(sample(`${EXAMPLES}csaf_vex/2022-evd-uc-01-na-001.json`), CTX));
    expect(a.id).toBe('2022-evd-uc-01-na-001');
    expect(a.affected).toEqual([
      {
        product: 'example_company:abc',
        name: 'Example Company ABC',
        scheme: 'dotted',
        cves: ['CVE-2021-44228'],
        ranges: [],
        versions: [],
        fixed_versions: [],
        not_affected_versions: ['4.2'],
        default_status: 'unknown',
      },
    ]);
  });

  it('VEX affected / fixed / under investigation', () => {
    const affected = only(importCsaf(sample(`${EXAMPLES}csaf_vex/2022-evd-uc-01-a-001.json`), CTX));
    expect(affected.affected![0]).toMatchObject({ product: 'example_company:def', versions: ['1.0'] });
    expect(affected.fixes![0]).toMatchObject({
      kind: 'security_update',
      product: 'example_company:def',
      cves: ['CVE-2021-44228'],
    });
    const fixed = only(importCsaf(sample(`${EXAMPLES}csaf_vex/2022-evd-uc-01-f-001.json`), CTX));
    expect(fixed.affected![0]).toMatchObject({ fixed_versions: ['1.1'], ranges: [] });
    const ui = importCsaf(sample(`${EXAMPLES}csaf_vex/2022-evd-uc-01-ui-001.json`), CTX);
    expect(only(ui).affected).toEqual([]);
    expect(ui.warnings).toEqual([
      {
        path: 'vulnerabilities[0].product_status.under_investigation[0]',
        message: expect.stringMatching(/no verdict/),
      },
    ]);
  });

  it('VEX with many statuses: entries merged per status, a "no fix" note kept', () => {
    const r = importCsaf(sample(`${EXAMPLES}csaf_vex/2022-evd-uc-03-ms-001.json`), CTX);
    const a = only(r);
    expect(a.cves).toHaveLength(19);
    expect(a.affected).toHaveLength(3);
    const notAffected = a.affected!.find((e) => e.not_affected_versions?.length)!;
    expect(notAffected.cves).toHaveLength(6);
    const affected = a.affected!.find((e) => e.versions?.length)!;
    expect(affected.notes).toMatch(/No fix available/);
    expect(r.warnings.filter((w) => /under investigation/.test(w.message))).toHaveLength(5);
  });

  it('a free-text product_version_range is a warning, not a verdict', () => {
    const r = importCsaf(sample(`${EXAMPLES}csaf_vex/sec-vex-2022-0001.json`), CTX);
    expect(only(r).affected).toEqual([]);
    expect(r.warnings[0]!.message).toMatch(/"<=1\.14\.0": free text, not a vers: range/);
  });

  it('BSI: first_fixed gives a range below it, product_versions and CPE ids', () => {
    const a = only(importCsaf(sample(`${EXAMPLES}bsi-2022-0001.json`), CTX));
    expect(a.affected![0]).toMatchObject({
      product: 'csaf-tools:cvrf-csaf-converter',
      scheme: 'semver',
      versions: ['1.0.0-alpha', '1.0.0-dev1', '1.0.0-dev2', '1.0.0-dev3', '1.0.0-rc1'],
      fixed_versions: ['1.0.0-rc2'],
      ranges: [{ fixed: '1.0.0-rc2' }],
    });
    expect(a.cves[0]!.cvss).toMatchObject({ version: '3.1', score: 6.1 });
  });

  it('an informational advisory without CVEs gives no advisory and says why', () => {
    const r = importCsaf(sample(`${EXAMPLES}rhsa-2019_1862.json`), CTX);
    expect(r.advisories).toEqual([]);
    expect(r.warnings[0]!.message).toMatch(/no vulnerability with a CVE id/);
  });

  it('container images whose product and version cannot be told apart are warned, and get no fix', () => {
    const r = importCsaf(sample(`${EXAMPLES}rhsa-2021_5186.json`), CTX);
    const a = only(r);
    expect(a.affected).toEqual([]);
    expect(a.fixes).toEqual([]);
    expect(r.warnings.filter((w) => /cannot be told apart/.test(w.message))).toHaveLength(6);
  });
});

// ---- hand-written documents -------------------------------------------------------------------------------------

function csaf(productTree: unknown, vulnerabilities: unknown[]): Record<string, unknown> {
  return {
    document: {
      category: 'csaf_security_advisory',
      csaf_version: '2.0',
      title: 'Test advisory',
      publisher: { category: 'vendor', name: 'Test', namespace: 'https://example.com' },
      tracking: {
        id: 'TEST:2024/001',
        initial_release_date: '2024-05-06T00:00:00Z',
        status: 'final',
        version: '1',
      },
    },
    product_tree: productTree,
    vulnerabilities,
  };
}

describe('importCsaf on hand-written documents', () => {
  it('vers: ranges become ranges; deb purls use dpkg', () => {
    const r = importCsaf(
      csaf(
        {
          branches: [
            {
              category: 'vendor',
              name: 'Debian',
              branches: [
                {
                  category: 'product_name',
                  name: 'openssl',
                  branches: [
                    {
                      category: 'product_version_range',
                      name: 'vers:deb/>=1.1.1|<1.1.1n-0+deb11u4',
                      product: {
                        name: 'openssl before 1.1.1n-0+deb11u4',
                        product_id: 'P1',
                        product_identification_helper: { purl: 'pkg:deb/debian/openssl' },
                      },
                    },
                  ],
                },
              ],
            },
          ],
        },
        [{ cve: 'CVE-2022-0778', product_status: { known_affected: ['P1'] } }],
      ),
      CTX,
    );
    expectUsable(r);
    const a = only(r);
    expect(a.id).toBe('test-2024-001');
    expect(a.affected![0]).toMatchObject({
      product: 'pkg:deb/debian/openssl',
      scheme: 'dpkg',
      ranges: [{ introduced: '1.1.1', fixed: '1.1.1n-0+deb11u4' }],
    });
  });

  it('parseVers reads generic, semver and rpm ranges and refuses what it cannot represent', () => {
    expect(parseVers('vers:generic/>=1.0|<2.0|>=3.0', undefined, 'a:b')).toEqual({
      ok: true,
      scheme: 'dotted',
      ranges: [{ introduced: '1.0', fixed: '2.0' }, { introduced: '3.0' }],
      points: [],
    });
    expect(parseVers('vers:npm/<=1.2.3|=2.0.0', undefined, 'a:b')).toMatchObject({
      ok: true,
      scheme: 'semver',
      ranges: [{ last_affected: '1.2.3' }],
      points: ['2.0.0'],
    });
    expect(parseVers('vers:generic/!=1.0', undefined, 'a:b')).toMatchObject({ ok: false });
    expect(parseVers('vers:pypi/<1.0', undefined, 'a:b')).toMatchObject({ ok: false });
    expect(parseVers('<=1.14.0', undefined, 'a:b')).toMatchObject({
      ok: false,
      reason: expect.stringMatching(/free text/),
    });
  });

  it('a catalogued Microsoft release name is bounded by the build its vendor_fix KB produces', () => {
    const r = importCsaf(
      csaf(
        {
          full_product_names: [
            { name: 'Microsoft Exchange Server 2016 Cumulative Update 19', product_id: '11856' },
          ],
        },
        [
          {
            cve: 'CVE-2021-26855',
            product_status: { known_affected: ['11856'] },
            remediations: [
              {
                category: 'vendor_fix',
                details: '5000871',
                product_ids: ['11856'],
                url: 'https://support.microsoft.com/help/5000871',
              },
            ],
          },
        ],
      ),
      CTX,
    );
    expectUsable(r);
    const a = only(r);
    expect(a.affected![0]).toMatchObject({
      product: 'microsoft:exchange_server',
      catalog: 'exchange',
      ranges: [{ train: 'Exchange Server 2016 CU19', introduced: '15.1.2176.2', fixed: '15.1.2176.9' }],
    });
    expect(a.fixes![0]).toMatchObject({
      id: 'KB5000871',
      kb: 'KB5000871',
      product: 'microsoft:exchange_server',
    });
  });

  it('relationships and product groups resolve; vulnerabilities without a CVE are warned', () => {
    const r = importCsaf(
      csaf(
        {
          branches: [
            {
              category: 'vendor',
              name: 'Acme',
              branches: [
                {
                  category: 'product_name',
                  name: 'Lib',
                  branches: [
                    {
                      category: 'product_version',
                      name: '2.4.1',
                      product: { name: 'Acme Lib 2.4.1', product_id: 'LIB' },
                    },
                  ],
                },
              ],
            },
          ],
          full_product_names: [{ name: 'Acme OS', product_id: 'OS' }],
          relationships: [
            {
              category: 'installed_on',
              product_reference: 'LIB',
              relates_to_product_reference: 'OS',
              full_product_name: { name: 'Acme Lib 2.4.1 on Acme OS', product_id: 'LIB-ON-OS' },
            },
          ],
          product_groups: [{ group_id: 'G', product_ids: ['LIB-ON-OS'] }],
        },
        [
          {
            cve: 'CVE-2024-1111',
            product_status: { known_affected: ['LIB-ON-OS'], bogus_status: ['OS'] },
            remediations: [
              {
                category: 'vendor_fix',
                details: 'Update to 2.4.2',
                group_ids: ['G'],
                url: 'https://example.com/fix',
              },
            ],
          },
          { ids: [{ system_name: 'GHSA', text: 'GHSA-xxxx' }], product_status: { known_affected: ['LIB'] } },
        ],
      ),
      CTX,
    );
    expectUsable(r);
    const a = only(r);
    expect(a.affected![0]).toMatchObject({ product: 'acme:lib', versions: ['2.4.1'] });
    expect(a.fixes![0]).toMatchObject({ product: 'acme:lib', url: 'https://example.com/fix' });
    expect(r.warnings.map((w) => w.path)).toEqual(
      expect.arrayContaining(['vulnerabilities[0].product_status.bogus_status', 'vulnerabilities[1].cve']),
    );
  });
});

describe('importCsaf on malformed documents', () => {
  const good = csaf({}, []);
  const doc = good.document as Record<string, unknown>;
  const cases: [string, unknown, string][] = [
    ['not an object', 'csaf', ''],
    ['no document', { product_tree: {} }, 'document'],
    ['no csaf_version', { ...good, document: { ...doc, csaf_version: undefined } }, 'document.csaf_version'],
    ['CSAF 1.x', { ...good, document: { ...doc, csaf_version: '1.2' } }, 'document.csaf_version'],
    ['no title', { ...good, document: { ...doc, title: '' } }, 'document.title'],
    [
      'no tracking id',
      { ...good, document: { ...doc, tracking: { initial_release_date: '2024-01-01' } } },
      'document.tracking.id',
    ],
    [
      'no release date',
      { ...good, document: { ...doc, tracking: { id: 'X-1' } } },
      'document.tracking.initial_release_date',
    ],
  ];
  it.each(cases)('%s → ImportError at its path', (_, d, path) => {
    try {
      importCsaf(d, CTX);
      expect.unreachable('should throw');
    } catch (err) {
      expect(err).toBeInstanceOf(ImportError);
      expect((err as ImportError).path).toBe(path);
    }
  });
});

// ---- fuzzing ------------------------------------------------------------------------------------------------------

function survives(doc: unknown): void {
  let r: ImportResult;
  try {
    r = importCsaf(doc, CTX);
  } catch (err) {
    if (err instanceof ImportError) return;
    throw err;
  }
  expectUsable(r);
}

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };

/** Replaces, nulls, duplicates or drops the n-th node (document order) of a JSON value. */
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
          return typeof node === 'string' ? `${node}|<1` : Array.isArray(node) ? [...node, ...node] : value;
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
          continue;
        }
        out[k] = visit(v);
      }
      return out;
    }
    return node;
  };
  return visit(doc);
}

describe('importCsaf fuzzing', () => {
  it('random JSON values never throw anything but ImportError', () => {
    fc.assert(
      fc.property(fc.jsonValue(), (doc) => survives(doc)),
      { numRuns: 300 },
    );
    fc.assert(
      fc.property(fc.jsonValue({ maxDepth: 4 }), fc.jsonValue({ maxDepth: 4 }), (tree, vulns) =>
        survives({ ...csaf(tree, []), vulnerabilities: vulns }),
      ),
      { numRuns: 300 },
    );
  });

  itCorpus(
    'mutated corpus documents never throw anything but ImportError and never give an unusable advisory',
    () => {
      const docs = SAMPLES.map((f) => sample(f) as Json);
      fc.assert(
        fc.property(
          fc.nat(docs.length - 1),
          fc.array(fc.record({ n: fc.nat(600), action: fc.nat(13), value: fc.jsonValue({ maxDepth: 2 }) }), {
            minLength: 1,
            maxLength: 6,
          }),
          (which, mutations) => {
            let doc: Json = docs[which] as Json;
            for (const m of mutations) doc = mutate(doc, m.n, m.action, m.value as Json);
            survives(doc);
          },
        ),
        { numRuns: 300 },
      );
    },
  );
});
