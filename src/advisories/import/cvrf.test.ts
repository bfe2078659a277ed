import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { corpusPath, describeCorpus } from '../../../test/support/corpus.js';
import {
  type AdvisoryInput,
  advisoryValidator,
  type Catalog,
  CatalogIndex,
  catalogValidator,
  ExposureEngine,
} from '../../core/index.js';
import { loadCatalogFile } from '../load.js';
import { importCvrf } from './cvrf.js';
import { ImportError, type ImportResult } from './types.js';

const MSRC = corpusPath('advisory-formats/msrc-cvrf/2021/xml-cvrf-document/cvrfDocument-2021-Mar.xml');

/** Builds from the Exchange build numbers table (Microsoft Learn): [line, train, first build, March 2021 SU build, its KB]. */
const BUILDS: [string, string, string, string?, string?][] = [
  ['2010', 'SP3', '14.3.123.4', '14.3.513.0', 'KB5000978'],
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
    trains: BUILDS.map(([line, name, build, su, kb]) => ({
      id: `exchange-${line}-${name.toLowerCase()}`,
      product_name: `Exchange Server ${line}`,
      name,
      build,
      updates: su ? [{ name: 'Mar21SU', build: su, kb: kb ?? 'KB5000871' }] : [],
    })),
  });
}

const EXCHANGE = exchangeCatalog();
const CTX = { origin: 'cvrfDocument-2021-Mar.xml', catalogs: [EXCHANGE] };

function expectUsable(result: ImportResult): void {
  for (const a of result.advisories) {
    const parsed = advisoryValidator.parse(a);
    expect(() => new ExposureEngine([parsed])).not.toThrow();
  }
}

function rangesFor(a: AdvisoryInput, cve: string): string[] {
  return (a.affected ?? [])
    .filter((e) => e.cves.includes(cve))
    .flatMap((e) => (e.ranges ?? []).map((r) => `${r.train}: [${r.introduced}, ${r.fixed})`));
}

describeCorpus('importCvrf on Microsoft’s March 2021 document', () => {
  const result = importCvrf(readFileSync(MSRC, 'utf8'), CTX);
  const a = result.advisories[0]!;

  it('imports every CVE into one valid advisory msrc-2021-mar', () => {
    expect(result.format).toBe('cvrf');
    expect(result.advisories).toHaveLength(1);
    expectUsable(result);
    expect(a).toMatchObject({
      id: 'msrc-2021-mar',
      title: 'March 2021 Security Updates',
      published: '2021-03-09',
      origin: 'cvrf:cvrfDocument-2021-Mar.xml',
    });
    expect(a.cves).toHaveLength(126);
    expect(a.summary).toMatch(/^Updates this Month/);
    expect(a.summary).not.toMatch(/<[a-z]/);
  });

  it('CVE details: title and CVSS', () => {
    const cve = a.cves.find((c) => c.id === 'CVE-2021-26855')!;
    expect(cve.title).toBe('Microsoft Exchange Server Remote Code Execution Vulnerability');
    expect(cve.cvss).toEqual({
      version: '3.0',
      vector: 'CVSS:3.0/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:N/E:F/RL:O/RC:C',
      score: 9.1,
    });
  });

  it('Exchange 2016 CU19 is fixed by KB5000871 at 15.1.2176.9', () => {
    for (const cve of ['CVE-2021-26855', 'CVE-2021-26857', 'CVE-2021-26858', 'CVE-2021-27065'])
      expect(rangesFor(a, cve)).toContain('Exchange Server 2016 CU19: [15.1.2176.2, 15.1.2176.9)');
    // The MSRC document has the right per-CU KB builds, including 2019 CU1/CU4/CU6 that the CVE record garbles.
    expect(rangesFor(a, 'CVE-2021-26858')).toEqual(
      expect.arrayContaining([
        'Exchange Server 2019 CU1: [15.2.330.5, 15.2.330.11)',
        'Exchange Server 2019 CU4: [15.2.529.5, 15.2.529.13)',
        'Exchange Server 2019 CU6: [15.2.659.4, 15.2.659.12)',
      ]),
    );
    expect(rangesFor(a, 'CVE-2021-26858')).toHaveLength(24);
    // Exchange 2010 SP3 only for CVE-2021-26857, fixed by Update Rollup 32 (KB5000978).
    expect(rangesFor(a, 'CVE-2021-26857')).toContain('Exchange Server 2010 SP3: [14.3.123.4, 14.3.513.0)');
    expect(rangesFor(a, 'CVE-2021-26855').some((r) => r.startsWith('Exchange Server 2010'))).toBe(false);
  });

  it('KB5000871 becomes one fix with a target per train', () => {
    const fix = a.fixes!.find((f) => f.id === 'KB5000871')!;
    expect(fix).toMatchObject({
      kb: 'KB5000871',
      kind: 'security_update',
      product: 'microsoft:exchange_server',
    });
    expect(fix.cves).toEqual(
      expect.arrayContaining(['CVE-2021-26855', 'CVE-2021-26857', 'CVE-2021-26858', 'CVE-2021-27065']),
    );
    expect(fix.targets).toContainEqual({
      applies_to: { train: 'Exchange Server 2016 CU19', introduced: '15.1.2176.2', fixed: '15.1.2176.9' },
      produces: '15.1.2176.9',
    });
  });

  it('judges Exchange builds, and an installed KB5000871 fixes the CU19 RTM build', () => {
    const engine = new ExposureEngine([advisoryValidator.parse(a)], new CatalogIndex([EXCHANGE]));
    const judge = (version: string, kbs: string[] = []) =>
      engine
        .evaluate({
          id: 'h',
          products: [{ product: 'microsoft:exchange_server', version }],
          installed_kbs: kbs,
          endpoints: [],
          tags: [],
        })
        .verdicts.find((v) => v.cve === 'CVE-2021-26855')?.verdict;
    expect(judge('15.1.2176.2')).toBe('affected');
    expect(judge('15.1.2176.9')).toBe('fixed');
    expect(judge('15.1.2176.2', ['KB5000871'])).toBe('fixed');
  });

  it('one summarised warning per product no catalog maps, with its CVE count', () => {
    const unmapped = result.warnings.filter((w) => /no product catalog maps/.test(w.message));
    expect(unmapped.length).toBeGreaterThan(50);
    expect(result.warnings.length).toBe(unmapped.length);
    const names = unmapped.map((w) => /^"([^"]+)"/.exec(w.message)?.[1]);
    expect(new Set(names).size).toBe(names.length);
    expect(unmapped.find((w) => w.message.startsWith('"Windows Server 2019"'))?.message).toMatch(
      /affected by \d+ CVEs/,
    );
    expect(unmapped.some((w) => /Exchange/.test(w.message))).toBe(false);
  });

  it('without a catalog no affected entries are made, and Exchange names are among the warnings', () => {
    const r = importCvrf(readFileSync(MSRC, 'utf8'), { origin: 'x', catalogs: [] });
    expect(r.advisories[0]!.affected).toEqual([]);
    expect(
      r.warnings.some((w) => w.message.startsWith('"Microsoft Exchange Server 2016 Cumulative Update 19"')),
    ).toBe(true);
  });
});

// ---- hand-written documents -------------------------------------------------------------------------------------

const SMALL = `\uFEFF<?xml version="1.0" encoding="utf-8"?>
<cvrf:cvrfdoc xmlns:prod="http://www.icasi.org/CVRF/schema/prod/1.1" xmlns:vuln="http://www.icasi.org/CVRF/schema/vuln/1.1" xmlns:cvrf="http://www.icasi.org/CVRF/schema/cvrf/1.1">
  <cvrf:DocumentTitle>Test Security Updates</cvrf:DocumentTitle>
  <cvrf:DocumentTracking>
    <cvrf:Identification><cvrf:ID>2021-Test</cvrf:ID></cvrf:Identification>
    <cvrf:InitialReleaseDate>2021-03-02T08:00:00Z</cvrf:InitialReleaseDate>
  </cvrf:DocumentTracking>
  <cvrf:DocumentNotes><cvrf:Note Type="Summary">&lt;p&gt;Two &amp;amp; more&lt;/p&gt;</cvrf:Note></cvrf:DocumentNotes>
  <prod:ProductTree>
    <prod:Branch Type="Vendor" Name="Microsoft">
      <prod:FullProductName ProductID="11856">Microsoft Exchange Server 2016 Cumulative Update 19</prod:FullProductName>
      <prod:FullProductName ProductID="11793">Microsoft Exchange Server 2016 Cumulative Update 18</prod:FullProductName>
      <prod:FullProductName ProductID="99999">Microsoft Exchange Server 2016 Cumulative Update 99</prod:FullProductName>
      <prod:FullProductName ProductID="11571">Windows Server 2019</prod:FullProductName>
    </prod:Branch>
  </prod:ProductTree>
  <vuln:Vulnerability Ordinal="1">
    <vuln:Title>Exchange flaw</vuln:Title>
    <vuln:Notes><vuln:Note Type="Description" Title="Description">&lt;p&gt;A &lt;b&gt;bad&lt;/b&gt; flaw.&lt;/p&gt;</vuln:Note></vuln:Notes>
    <vuln:CVE>CVE-2021-26855</vuln:CVE>
    <vuln:ProductStatuses><vuln:Status Type="Known Affected"><vuln:ProductID>11856</vuln:ProductID><vuln:ProductID>11793</vuln:ProductID><vuln:ProductID>11571</vuln:ProductID></vuln:Status></vuln:ProductStatuses>
    <vuln:CVSSScoreSets><vuln:ScoreSet><vuln:BaseScore>9.1</vuln:BaseScore><vuln:Vector>CVSS:3.0/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:N</vuln:Vector><vuln:ProductID>11856</vuln:ProductID></vuln:ScoreSet></vuln:CVSSScoreSets>
    <vuln:Remediations>
      <vuln:Remediation Type="Vendor Fix"><vuln:Description>5000871</vuln:Description><vuln:URL>https://support.microsoft.com/help/5000871</vuln:URL><vuln:ProductID>11856</vuln:ProductID><vuln:SubType>Security Update</vuln:SubType></vuln:Remediation>
    </vuln:Remediations>
  </vuln:Vulnerability>
  <vuln:Vulnerability Ordinal="2">
    <vuln:Title>Second flaw</vuln:Title>
    <vuln:CVE>CVE-2021-26857</vuln:CVE>
    <vuln:ProductStatuses><vuln:Status Type="Known Affected"><vuln:ProductID>11856</vuln:ProductID><vuln:ProductID>99999</vuln:ProductID><vuln:ProductID>11571</vuln:ProductID></vuln:Status><vuln:Status Type="Fixed"><vuln:ProductID>11793</vuln:ProductID></vuln:Status></vuln:ProductStatuses>
    <vuln:Remediations>
      <vuln:Remediation Type="Vendor Fix"><vuln:Description>5000871</vuln:Description><vuln:ProductID>11856</vuln:ProductID><vuln:ProductID>99999</vuln:ProductID></vuln:Remediation>
    </vuln:Remediations>
  </vuln:Vulnerability>
  <vuln:Vulnerability Ordinal="3"><vuln:Title>Advisory</vuln:Title><vuln:CVE>ADV210001</vuln:CVE></vuln:Vulnerability>
</cvrf:cvrfdoc>`;

describe('importCvrf on a hand-written document', () => {
  const r = importCvrf(SMALL, { origin: 'small.xml', catalogs: [EXCHANGE] });
  const a = r.advisories[0]!;

  it('maps, falls back, drops and summarises as documented', () => {
    expectUsable(r);
    expect(a.id).toBe('msrc-2021-test');
    expect(a.summary).toBe('Two & more');
    expect(a.cves.map((c) => c.id)).toEqual(['CVE-2021-26855', 'CVE-2021-26857']);
    expect(a.cves[0]!.description).toBe('A bad flaw.');
    // CU19 has a KB; CU18 has none in this document: its whole train is taken as affected (no fix known).
    expect(rangesFor(a, 'CVE-2021-26855')).toEqual([
      'Exchange Server 2016 CU18: [15.1.2106.2, 15.1.2176.2)',
      'Exchange Server 2016 CU19: [15.1.2176.2, 15.1.2176.9)',
    ]);
    expect(r.warnings.map((w) => w.path)).toContain(
      'cvrfdoc.Vulnerability[0].ProductStatuses.Status[0].ProductID[1]',
    );
    // "CU99" is an Exchange release the catalog does not know: the CVE gets no Exchange entry at all.
    expect(rangesFor(a, 'CVE-2021-26857')).toEqual([]);
    expect(r.warnings.some((w) => /no affected entry for CVE-2021-26857/.test(w.message))).toBe(true);
    // One warning for Windows Server 2019 with both CVEs; one for the "Fixed" status; one for the ADV entry.
    const windows = r.warnings.filter((w) => w.message.includes('"Windows Server 2019"'));
    expect(windows).toHaveLength(1);
    expect(windows[0]!.message).toMatch(/affected by 2 CVEs/);
    expect(windows[0]!.path).toBe('cvrfdoc.ProductTree.Branch[0].FullProductName[3]');
    expect(r.warnings.some((w) => /status "Fixed"/.test(w.message))).toBe(true);
    expect(r.warnings.map((w) => w.path)).toContain('cvrfdoc.Vulnerability[2].CVE');
  });
});

describe('importCvrf on malformed documents', () => {
  const cases: [string, string, string | RegExp][] = [
    ['not XML', 'hello', /^line 1/],
    ['broken XML', '<cvrfdoc><DocumentTitle>x</cvrfdoc>', /^line/],
    ['another XML document', '<rss><channel/></rss>', 'cvrfdoc'],
    ['no title', SMALL.replace(/<cvrf:DocumentTitle>.*<\/cvrf:DocumentTitle>/, ''), 'cvrfdoc.DocumentTitle'],
    [
      'no id',
      SMALL.replace('<cvrf:ID>2021-Test</cvrf:ID>', ''),
      'cvrfdoc.DocumentTracking.Identification.ID',
    ],
    [
      'no release date',
      SMALL.replace(/<cvrf:InitialReleaseDate>.*<\/cvrf:InitialReleaseDate>/, ''),
      'cvrfdoc.DocumentTracking.InitialReleaseDate',
    ],
  ];
  it.each(cases)('%s → ImportError at its path', (_, xml, path) => {
    try {
      importCvrf(xml, CTX);
      expect.unreachable('should throw');
    } catch (err) {
      expect(err).toBeInstanceOf(ImportError);
      if (typeof path === 'string') expect((err as ImportError).path).toBe(path);
      else expect((err as ImportError).path).toMatch(path);
    }
  });

  it('hostile XML: an entity bomb and deep nesting end quickly with ImportError', () => {
    const ents = Array.from({ length: 7 }, (_, i) =>
      i === 0 ? '<!ENTITY l0 "lol">' : `<!ENTITY l${i} "${`&l${i - 1};`.repeat(10)}">`,
    ).join('');
    const bomb = `<?xml version="1.0"?><!DOCTYPE d [${ents}]><cvrfdoc><DocumentTitle>&l6;</DocumentTitle></cvrfdoc>`;
    const deep = `<cvrfdoc>${'<a>'.repeat(5000)}${'</a>'.repeat(5000)}</cvrfdoc>`;
    for (const xml of [bomb, deep]) {
      const t = Date.now();
      expect(() => importCvrf(xml, CTX)).toThrow(ImportError);
      expect(Date.now() - t).toBeLessThan(2000);
    }
  });

  it('refuses a non-string', () => {
    expect(() => importCvrf(42 as unknown as string, CTX)).toThrow(ImportError);
  });
});

describe('importCvrf fuzzing', () => {
  const survives = (xml: string) => {
    let r: ImportResult;
    try {
      r = importCvrf(xml, CTX);
    } catch (err) {
      if (err instanceof ImportError) return;
      throw err;
    }
    expectUsable(r);
  };

  it('random text never throws anything but ImportError', () => {
    fc.assert(fc.property(fc.string(), survives), { numRuns: 300 });
  });

  it('mutated documents never throw anything but ImportError and never give an unusable advisory', () => {
    const pieces = [
      '<',
      '>',
      '</vuln:CVE>',
      '<vuln:ProductID>11793</vuln:ProductID>',
      'Known Affected',
      '5000871',
      '&amp;',
      '"',
      '',
    ];
    fc.assert(
      fc.property(
        fc.array(
          fc.record({
            at: fc.nat(SMALL.length),
            cut: fc.nat(40),
            insert: fc.oneof(fc.constantFrom(...pieces), fc.string()),
          }),
          {
            minLength: 1,
            maxLength: 5,
          },
        ),
        (edits) => {
          let xml = SMALL;
          for (const e of edits) xml = xml.slice(0, e.at) + e.insert + xml.slice(e.at + e.cut);
          survives(xml);
        },
      ),
      { numRuns: 300 },
    );
  });
});
