import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { corpusPath, describeCorpus, itCorpus } from '../../../test/support/corpus.js';
import { assetFactsValidator, CatalogIndex, ExposureEngine } from '../../core/index.js';
import { loadCatalogFile } from '../load.js';
import { detectFormat, importDocument } from './index.js';
import { importNvd } from './nvd.js';
import { ImportError } from './types.js';

const catalog = loadCatalogFile(new URL('../catalogs/exchange.yaml', import.meta.url).pathname);
const CTX = { origin: 'test', catalogs: [catalog] };
const nvdFile = (...p: string[]) => corpusPath('advisory-formats', 'nvd-api2', ...p);

function listJson(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? listJson(join(dir, e.name)) : e.name.endsWith('.json') ? [join(dir, e.name)] : [],
  );
}

/** A minimal NVD cve object with the given CPE matches. */
function cve(matches: object[], extra: object = {}): Record<string, unknown> {
  return {
    id: 'CVE-2030-0001',
    sourceIdentifier: 'secure@example.com',
    published: '2030-01-02T03:04:05.000',
    lastModified: '2030-01-03T03:04:05.000',
    vulnStatus: 'Analyzed',
    descriptions: [{ lang: 'en', value: 'A flaw.' }],
    metrics: {},
    configurations: [{ nodes: [{ operator: 'OR', negate: false, cpeMatch: matches }] }],
    references: [],
    ...extra,
  };
}

describeCorpus('NVD API 2.0 on the corpus', () => {
  itCorpus('every sample is detected as nvd and imports without losing an Exchange train', () => {
    const files = listJson(nvdFile()).filter((f) => !f.includes('_scripts'));
    expect(files).toHaveLength(7);
    for (const file of files) {
      const text = readFileSync(file, 'utf8');
      expect(detectFormat(text), file).toBe('nvd');
      const r = importDocument(text, { origin: file, catalogs: [catalog] });
      expect(r.format).toBe('nvd');
      expect(r.advisories, file).toHaveLength(1);
      const a = r.advisories[0]!;
      expect(a.origin).toBe(`nvd:${file}`);
      expect(a.affected.map((e) => [e.product, e.catalog, e.default_status])).toEqual([
        ['microsoft:exchange_server', 'exchange', 'unknown'],
      ]);
      expect(r.warnings, file).toEqual([]);
    }
  });

  itCorpus(
    'CVE-2021-34473: CVSS, CWE and KEV from the NVD fields; listed trains affected, others unknown',
    () => {
      const file = nvdFile('CVE-2021', 'CVE-2021-344xx', 'CVE-2021-34473.json');
      const r = importDocument(readFileSync(file, 'utf8'), { origin: file, catalogs: [catalog] });
      const a = r.advisories[0]!;
      expect(a.id).toBe('cve-2021-34473');
      expect(a.published).toBe('2021-07-14');
      expect(a.cves[0]).toMatchObject({
        id: 'CVE-2021-34473',
        // The primary (Microsoft) score, not NVD's secondary one.
        cvss: { version: '3.1', score: 9.1, vector: 'CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:N' },
        cwe: ['CWE-918'],
        kev: { date_added: '2021-11-03', due_date: '2021-11-17', ransomware: 'unknown' },
      });
      expect(a.affected[0]!.ranges.map((x) => x.train)).toEqual([
        'Exchange Server 2013 CU23',
        'Exchange Server 2016 CU19',
        'Exchange Server 2016 CU20',
        'Exchange Server 2019 CU8',
        'Exchange Server 2019 CU9',
      ]);
      const engine = new ExposureEngine(r.advisories, new CatalogIndex([catalog]));
      const judge = (build: string) =>
        engine.evaluate(
          assetFactsValidator.parse({
            id: 'x',
            products: [{ product: 'microsoft:exchange_server', version: build }],
          }),
        ).verdicts[0]!.verdict;
      // NVD names the trains but no fixed build: every build of a listed train is affected.
      expect(judge('15.0.1497.2')).toBe('affected');
      expect(judge('15.0.1497.15')).toBe('affected');
      expect(judge('15.1.2242.8')).toBe('affected');
      // Not listed: unknown, never safe (issue 11's builds)…
      for (const b of ['15.1.2106.2', '15.0.1473.3', '15.2.721.2', '15.1.1979.3'])
        expect(judge(b)).toBe('unknown');
      // …and the open range of 2013 CU23, the last 2013 train, ends where 2016 begins.
      expect(judge('15.2.1118.7')).toBe('unknown');
      expect(judge('15.1.2507.6')).toBe('unknown');
    },
  );
});

describe('NVD API 2.0 documents', () => {
  it('detects a bare cve object and an API response, and never mistakes them for OSV or CVE 5', () => {
    const one = cve([]);
    expect(detectFormat(JSON.stringify(one))).toBe('nvd');
    const response = {
      resultsPerPage: 1,
      startIndex: 0,
      totalResults: 1,
      format: 'NVD_CVE',
      version: '2.0',
      timestamp: '2030-01-01T00:00:00.000',
      vulnerabilities: [{ cve: one }],
    };
    expect(detectFormat(JSON.stringify(response))).toBe('nvd');
    expect(detectFormat(JSON.stringify({ id: 'GHSA-x', modified: '2030-01-01T00:00:00Z' }))).toBe('osv');
    expect(detectFormat(JSON.stringify({ dataType: 'CVE_RECORD' }))).toBe('cve5');
  });

  it('reads CPE ranges (start/end, inclusive/exclusive) and names NVD fields in warnings', () => {
    const r = importDocument(
      JSON.stringify(
        cve([
          {
            vulnerable: true,
            criteria: 'cpe:2.3:a:acme:widget:*:*:*:*:*:*:*:*',
            versionStartIncluding: '1.0',
            versionEndExcluding: '1.4',
          },
          {
            vulnerable: true,
            criteria: 'cpe:2.3:a:acme:widget:*:*:*:*:*:*:*:*',
            versionStartIncluding: '2.0',
            versionEndIncluding: '2.3',
          },
          { vulnerable: false, criteria: 'cpe:2.3:o:acme:os:*:*:*:*:*:*:*:*' },
        ]),
      ),
      CTX,
    );
    expect(r.warnings).toEqual([]);
    expect(r.advisories[0]!.affected).toEqual([
      expect.objectContaining({
        product: 'acme:widget',
        ranges: [
          { introduced: '1.0', fixed: '1.4' },
          { introduced: '2.0', last_affected: '2.3' },
        ],
        default_status: 'unknown',
      }),
    ]);
    const engine = new ExposureEngine(r.advisories);
    const judge = (version: string) =>
      engine.evaluate(assetFactsValidator.parse({ id: 'x', products: [{ product: 'acme:widget', version }] }))
        .verdicts[0]!.verdict;
    expect(judge('1.2')).toBe('affected');
    expect(judge('2.3')).toBe('affected');
    expect(judge('1.4')).toBe('fixed');
    // Below every range: NVD does not say, so unknown (not "not affected").
    expect(judge('0.9')).toBe('unknown');

    const excl = importDocument(
      JSON.stringify(
        cve([
          {
            vulnerable: true,
            criteria: 'cpe:2.3:a:acme:widget:*:*:*:*:*:*:*:*',
            versionStartExcluding: '1.0',
            versionEndExcluding: '1.4',
          },
        ]),
      ),
      CTX,
    );
    expect(excl.warnings.map((w) => w.path)).toContain(
      'configurations[0].nodes[0].cpeMatch[0].versionStartExcluding',
    );
    expect(excl.advisories[0]!.affected).toEqual([]);
  });

  it('imports every cve of an API response; a bad one is a warning with its path', () => {
    const r = importNvd(
      {
        format: 'NVD_CVE',
        version: '2.0',
        resultsPerPage: 2,
        vulnerabilities: [
          { cve: cve([{ vulnerable: true, criteria: 'cpe:2.3:a:acme:widget:1.0:*:*:*:*:*:*:*' }]) },
          { cve: { ...cve([]), id: 'nope' } },
        ],
      },
      CTX,
    );
    expect(r.advisories.map((a) => a.id)).toEqual(['cve-2030-0001']);
    expect(r.warnings).toContainEqual({
      path: 'vulnerabilities[1].cve.id',
      message: expect.stringMatching(/expected a CVE id/),
    });
  });

  it('a rejected CVE gives no advisory; a CVE NVD has not analysed says so', () => {
    expect(importNvd({ ...cve([]), vulnStatus: 'Rejected' }, CTX).advisories).toEqual([]);
    const pending = importNvd(
      { ...cve([]), configurations: undefined, vulnStatus: 'Awaiting Analysis' },
      CTX,
    );
    expect(pending.warnings).toContainEqual({
      path: 'configurations',
      message: expect.stringMatching(/NVD has not analysed/),
    });
  });

  it('returns a value or a located ImportError for any input (fuzz)', () => {
    const match = fc.record(
      {
        vulnerable: fc.oneof(fc.boolean(), fc.anything()),
        criteria: fc.oneof(
          fc.constantFrom(
            'cpe:2.3:a:acme:widget:*:*:*:*:*:*:*:*',
            'cpe:2.3:a:microsoft:exchange_server:2016:cumulative_update_19:*:*:*:*:*:*',
            'cpe:2.3:a:microsoft:exchange_server:*:*:*:*:*:*:*:*',
          ),
          fc.string(),
        ),
        versionStartIncluding: fc.oneof(fc.constantFrom('1.0', '15.01.0', '0'), fc.string(), fc.anything()),
        versionStartExcluding: fc.string(),
        versionEndExcluding: fc.oneof(fc.constantFrom('1.4', '15.01.2176.012', '*'), fc.string()),
        versionEndIncluding: fc.oneof(fc.constantFrom('2.3'), fc.anything()),
      },
      { requiredKeys: [] },
    );
    const node = fc.record(
      {
        operator: fc.constantFrom('OR', 'AND', 'XOR'),
        negate: fc.oneof(fc.boolean(), fc.anything()),
        cpeMatch: fc.oneof(fc.array(match, { maxLength: 4 }), fc.anything()),
      },
      { requiredKeys: [] },
    );
    const doc = fc.oneof(
      fc.anything(),
      fc
        .record(
          {
            id: fc.oneof(fc.constant('CVE-2030-0001'), fc.string()),
            published: fc.oneof(fc.constant('2030-01-01T00:00:00'), fc.anything()),
            vulnStatus: fc.constantFrom('Analyzed', 'Rejected', 'Modified'),
            descriptions: fc.oneof(fc.constant([{ lang: 'en', value: 'x' }]), fc.anything()),
            metrics: fc.anything(),
            weaknesses: fc.anything(),
            references: fc.anything(),
            configurations: fc.oneof(
              fc.array(fc.record({ nodes: fc.array(node, { maxLength: 3 }) })),
              fc.anything(),
            ),
            cisaExploitAdd: fc.oneof(fc.constant('2030-01-01'), fc.anything()),
            cisaActionDue: fc.oneof(fc.constant('2030-01-15'), fc.anything()),
          },
          { requiredKeys: ['id'] },
        )
        .map((c) => ({ sourceIdentifier: 'x@example.com', ...c })),
    );
    fc.assert(
      fc.property(doc, fc.boolean(), (d, wrapped) => {
        const input = wrapped ? { format: 'NVD_CVE', vulnerabilities: [{ cve: d }] } : d;
        try {
          const r = importDocument(JSON.stringify(input) ?? 'null', { ...CTX, format: 'nvd' });
          for (const w of r.warnings) expect(typeof w.path).toBe('string');
        } catch (err) {
          expect(err).toBeInstanceOf(ImportError);
        }
      }),
      { numRuns: Number(process.env.BULWARK_FUZZ_RUNS ?? 200), interruptAfterTimeLimit: 20_000 },
    );
  });
});
