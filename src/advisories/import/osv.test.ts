import { readdirSync, readFileSync } from 'node:fs';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { corpusPath, describeCorpus, hasCorpus, itCorpus } from '../../../test/support/corpus.js';
import { type AdvisoryInput, advisoryValidator, compareVersions, ExposureEngine } from '../../core/index.js';
import { cvss3BaseScore, importOsv } from './osv.js';
import { type ImportContext, ImportError, type ImportResult } from './types.js';

const corpus = (path: string) => corpusPath('advisory-formats', path);
const readJson = (path: string): unknown =>
  JSON.parse(readFileSync(corpus(path), 'utf8').replace(/^\uFEFF/, ''));
const ctx = (origin = 'test.json'): ImportContext => ({ origin, catalogs: [] });

const LINTER = 'osv/tools/osv-linter/testdata';
const SAMPLES = (
  hasCorpus
    ? [
        ...readdirSync(corpus(LINTER))
          .filter((f) => f.endsWith('.json'))
          .map((f) => `${LINTER}/${f}`),
        ...readdirSync(corpus('osv/tools/ghsa/testdata'))
          .filter((f) => f.endsWith('.osv.json'))
          .map((f) => `osv/tools/ghsa/testdata/${f}`),
        ...readdirSync(corpus('osv/tools/redhat/testdata/OSV')).map(
          (f) => `osv/tools/redhat/testdata/OSV/${f}`,
        ),
      ]
    : []
).sort();

function thrown(fn: () => unknown): ImportError {
  try {
    fn();
  } catch (e) {
    if (e instanceof ImportError) return e;
    throw e;
  }
  throw new Error('expected an ImportError');
}

const paths = (r: ImportResult) => r.warnings.map((w) => w.path);
const only = (r: ImportResult): AdvisoryInput => {
  expect(r.advisories).toHaveLength(1);
  return r.advisories[0]!;
};

/** What each real sample yields: advisories, affected entries, warnings. Printed for the report. */
describeCorpus('importOsv on every OSV sample of the corpus', () => {
  it.each(SAMPLES)('%s: imports or explains, and every advisory is schema-valid', (path) => {
    const result = importOsv(readJson(path), ctx(path));
    expect(result.format).toBe('osv');
    expect(result.kev.size).toBe(0);
    new ExposureEngine(result.advisories.map((a) => advisoryValidator.parse(a)));
    for (const w of result.warnings) {
      expect(w.message.length).toBeGreaterThan(10);
    }
    // A record is either imported or skipped with a warning that says so.
    if (result.advisories.length === 0)
      expect(result.warnings.some((w) => /record skipped/.test(w.message))).toBe(true);
    const affected = result.advisories.reduce((n, a) => n + (a.affected?.length ?? 0), 0);
    console.log(
      `${path.split('/').pop()}: ${result.advisories.length} advisories, ${affected} affected, ${result.warnings.length} warnings`,
    );
  });

  it('GHSA-9v2f-6vcg-3hgv (PyPI): CVE, CVSS 9.8, CWE-94; PyPI versions skipped with a warning', () => {
    const r = importOsv(readJson(`${LINTER}/GHSA-9v2f-6vcg-3hgv.json`), ctx());
    const a = only(r);
    expect(a.id).toBe('ghsa-9v2f-6vcg-3hgv');
    expect(a.title).toBe(
      'Gradio was discovered to contain a code injection vulnerability via the component /gradio/component_meta.py',
    );
    expect(a.summary).toBe(a.title);
    expect(a.published).toBe('2024-07-01');
    expect(a.origin).toBe('OSV test.json');
    expect(a.cves).toEqual([
      {
        id: 'CVE-2024-39236',
        cvss: { version: '3.1', vector: 'CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H', score: 9.8 },
        cwe: ['CWE-94'],
      },
    ]);
    expect(a.affected).toEqual([]);
    expect(paths(r)).toEqual(['affected[0].versions', 'affected[0]']);
    expect(r.warnings[0]!.message).toMatch(/2 listed versions skipped.*PyPI/);
    expect(a.references).toEqual([
      { url: 'https://nvd.nist.gov/vuln/detail/CVE-2024-39236', kind: 'cve', title: 'Advisory' },
      { url: 'https://github.com/Aaron911/PoC/blob/main/Gradio.md' },
    ]);
  });

  it('GO-2020-0001: a Go module with a SEMVER range from the beginning', () => {
    const r = importOsv(readJson(`${LINTER}/GO-2020-0001.json`), ctx());
    const a = only(r);
    expect(a.id).toBe('go-2020-0001');
    expect(a.cves.map((c) => c.id)).toEqual(['CVE-2020-36567']);
    expect(a.affected).toEqual([
      {
        product: 'pkg:golang/github.com/gin-gonic/gin',
        name: 'github.com/gin-gonic/gin',
        scheme: 'semver',
        cves: ['CVE-2020-36567'],
        ranges: [{ fixed: '1.6.0' }],
        versions: [],
        fixed_versions: [],
        not_affected_versions: [],
        // OSV lists every affected version: the rest are not affected.
        default_status: 'not_affected',
      },
    ]);
    expect(r.warnings).toEqual([]);
  });

  it('GO-2024-2963: two stretches of the Go standard library', () => {
    const a = only(importOsv(readJson(`${LINTER}/GO-2024-2963.json`), ctx()));
    expect(a.summary).toBe('Denial of service due to improper 100-continue handling in net/http');
    expect(a.affected?.[0]).toMatchObject({
      product: 'pkg:golang/stdlib',
      scheme: 'semver',
      ranges: [{ fixed: '1.21.12' }, { introduced: '1.22.0-0', fixed: '1.22.5' }],
    });
  });

  it('PYSEC-2023-74: GIT and PyPI ranges skipped, each named', () => {
    const r = importOsv(readJson(`${LINTER}/PYSEC-2023-74.json`), ctx());
    const a = only(r);
    expect(a.cves.map((c) => c.id)).toEqual(['CVE-2023-32681']);
    expect(a.summary).toMatch(/^Requests is a HTTP library\. .*patched in version 2\.31\.0\.$/);
    expect(a.title.length).toBeLessThanOrEqual(120);
    expect(a.affected).toEqual([]);
    expect(paths(r)).toEqual([
      'affected[0].ranges[0]',
      'affected[0].ranges[1]',
      'affected[0].versions',
      'affected[0]',
    ]);
    expect(r.warnings[0]!.message).toMatch(/GIT range skipped/);
    expect(r.warnings[1]!.message).toMatch(/no version order for PyPI/);
  });

  it('MAL-2024-10238 and RHSA-2022:0216 have no CVE id: skipped, naming the record', () => {
    const mal = importOsv(readJson(`${LINTER}/MAL-2024-10238.json`), ctx());
    expect(mal.advisories).toEqual([]);
    expect(mal.warnings).toEqual([
      { path: 'aliases', message: expect.stringMatching(/^MAL-2024-10238: no CVE id.*record skipped$/) },
    ]);
    const rhsa = importOsv(readJson(`${LINTER}/RHSA-2022_0216.json`), ctx());
    expect(rhsa.advisories).toEqual([]);
    expect(rhsa.warnings[0]!.message).toMatch(/RHSA-2022:0216: .*related lists CVE-2021-44832/);
  });

  it('CVE-2018-5407: the record id is the CVE; Alpine ranges and the package-less GIT entry are skipped', () => {
    const r = importOsv(readJson(`${LINTER}/CVE-2018-5407.json`), ctx());
    const a = only(r);
    expect(a.id).toBe('cve-2018-5407');
    expect(a.title).toMatch(/^Simultaneous Multi-threading \(SMT\) in processors/);
    expect(a.cves[0]!.cvss).toEqual({
      version: '3.1',
      vector: 'CVSS:3.1/AV:L/AC:H/PR:L/UI:N/S:U/C:H/I:N/A:N',
      score: 4.7,
    });
    expect(a.affected).toEqual([]);
    expect(r.warnings.filter((w) => /no version order for Alpine/.test(w.message))).toHaveLength(6);
    expect(r.warnings.find((w) => w.path === 'affected[6].package')?.message).toMatch(/GIT ranges/);
    // Links listed under several types are kept once.
    const urls = a.references?.map((x) => x.url) ?? [];
    expect(new Set(urls).size).toBe(urls.length);
    expect(urls).toContain('https://www.exploit-db.com/exploits/45785/');
  });

  it('nointroduced-CVE-2023-41045 (fails the OSV schema): the range is skipped naming its events', () => {
    const r = importOsv(readJson(`${LINTER}/nointroduced-CVE-2023-41045.json`), ctx());
    const a = only(r);
    expect(a.cves[0]!.cvss?.score).toBe(5.3);
    expect(a.affected).toEqual([]);
    expect(r.warnings).toContainEqual({
      path: 'affected[0].ranges[0].events',
      message: expect.stringMatching(/no introduced event \(the OSV schema requires one\)/),
    });
  });

  it('withdrawn GHSA-35c4-f3rq-f9g3: kept for reference, marked, without affected entries', () => {
    const r = importOsv(readJson('osv/tools/ghsa/testdata/withdrawn.osv.json'), ctx());
    const a = only(r);
    expect(a.title).toBe('Moderate severity vulnerability that affects activesupport (withdrawn 2018-10-11)');
    expect(a.affected).toEqual([]);
    expect(r.warnings).toEqual([
      {
        path: 'withdrawn',
        message: expect.stringMatching(/withdrawn on 2018-10-11.*without its 1 affected/),
      },
    ]);
  });

  it('GHSA-mr95-9rr4-668f (Maven): CWE from the affected entries, Maven ranges skipped', () => {
    const r = importOsv(readJson('osv/tools/ghsa/testdata/full_ranges.osv.json'), ctx());
    const a = only(r);
    expect(a.cves).toEqual([{ id: 'CVE-2018-16115', cwe: ['CWE-338'] }]);
    expect(a.affected).toEqual([]);
    expect(r.warnings.filter((w) => /no version order for Maven/.test(w.message))).toHaveLength(2);
  });

  it('RHSA-2024:4546: RPM ranges per Red Hat stream, the upstream CVE scored', () => {
    const r = importOsv(readJson('osv/tools/redhat/testdata/OSV/RHSA-2024_4546.json'), ctx());
    const a = only(r);
    expect(a.id).toBe('rhsa-2024-4546');
    expect(a.cves).toEqual([
      {
        id: 'CVE-2023-45288',
        cvss: { version: '3.1', vector: 'CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:H', score: 7.5 },
        cwe: [],
      },
    ]);
    expect(a.affected).toHaveLength(9);
    expect(a.affected?.[0]).toEqual({
      product: 'pkg:rpm/redhat/git-lfs',
      name: 'git-lfs',
      scheme: 'rpm',
      cves: ['CVE-2023-45288'],
      ranges: [{ fixed: '0:2.13.3-3.el8_6.1', train: 'Red Hat:rhel_aus:8.6::appstream' }],
      versions: [],
      fixed_versions: [],
      not_affected_versions: [],
      // The record speaks for one Red Hat stream only, but the product id covers every stream.
      default_status: 'unknown',
      notes: 'OSV ecosystem "Red Hat:rhel_aus:8.6::appstream": Red Hat release rhel_aus:8.6::appstream only.',
    });
    expect(new Set(a.affected?.map((x) => x.product))).toEqual(
      new Set([
        'pkg:rpm/redhat/git-lfs',
        'pkg:rpm/redhat/git-lfs-debuginfo',
        'pkg:rpm/redhat/git-lfs-debugsource',
      ]),
    );
    expect(r.warnings).toEqual([]);
  });

  it('an array of records imports each, with paths that name the element', () => {
    const records = [
      readJson(`${LINTER}/GO-2020-0001.json`),
      { not: 'a record' },
      readJson(`${LINTER}/MAL-2024-10238.json`),
      readJson('osv/tools/redhat/testdata/OSV/RHSA-2024_4546.json'),
    ];
    const r = importOsv(records, ctx('dump.json'));
    expect(r.advisories.map((a) => a.id)).toEqual(['go-2020-0001', 'rhsa-2024-4546']);
    expect(r.advisories[1]!.origin).toBe('OSV dump.json[3]');
    expect(paths(r)).toEqual(['[1].id', '[2].aliases']);
  });
});

describe('importOsv refuses documents that are not OSV', () => {
  it.skipIf(!hasCorpus).each([
    ['GitHub advisory input', 'osv/tools/ghsa/testdata/full_ranges.json', 'id'],
    ['a CSAF document', 'osv/tools/redhat/testdata/CSAF/rhsa-2024_4546.json', 'id'],
    ['the KEV catalog', 'cisa-kev/known_exploited_vulnerabilities.json', 'id'],
    ['a CVE JSON 5 record', 'cve-json5/cves/2021/26xxx/CVE-2021-26855.json', 'id'],
    ['an NVD API record (no `modified`)', 'nvd-api2/CVE-2021/CVE-2021-268xx/CVE-2021-26855.json', 'modified'],
  ])('%s → ImportError', (_name, path, at) => {
    const e = thrown(() => importOsv(readJson(path), ctx()));
    expect(e.path).toBe(at);
    expect(e.message).toMatch(/OSV record/);
  });

  it.each([null, 42, 'GHSA-x', [1, 2]])('%j → ImportError', (doc) => {
    expect(thrown(() => importOsv(doc, ctx()))).toBeInstanceOf(ImportError);
  });

  it('an empty array is no records, not an error', () => {
    expect(importOsv([], ctx())).toMatchObject({ advisories: [], warnings: [] });
  });
});

/** A hand-written record; `over` replaces top-level fields. */
function record(over: Record<string, unknown> = {}, affected: unknown[] = []): Record<string, unknown> {
  return {
    schema_version: '1.6.0',
    id: 'GHSA-aaaa-bbbb-cccc',
    modified: '2024-01-02T03:04:05Z',
    published: '2024-01-01T00:00:00Z',
    aliases: ['CVE-2024-0001'],
    summary: 'Test vulnerability',
    details: 'First paragraph\nstill first.\n\nSecond paragraph.',
    affected,
    ...over,
  };
}

describe('importOsv: ranges and versions', () => {
  it('Debian: dpkg ranges from unsorted events, the release kept in notes', () => {
    const r = importOsv(
      record({}, [
        {
          package: { ecosystem: 'Debian:11', name: 'openssl' },
          ranges: [
            {
              type: 'ECOSYSTEM',
              events: [
                { introduced: '0' },
                { introduced: '1.1.1n-0+deb11u2' },
                { fixed: '1.1.1n-0+deb11u5' },
                { fixed: '1.1.1k-1+deb11u1' },
              ],
            },
          ],
        },
      ]),
      ctx(),
    );
    const a = only(r);
    expect(a.summary).toBe('Test vulnerability');
    expect(a.affected).toEqual([
      expect.objectContaining({
        product: 'pkg:deb/debian/openssl',
        scheme: 'dpkg',
        ranges: [
          { fixed: '1.1.1k-1+deb11u1', train: 'Debian:11' },
          { introduced: '1.1.1n-0+deb11u2', fixed: '1.1.1n-0+deb11u5', train: 'Debian:11' },
        ],
        default_status: 'unknown',
        notes: 'OSV ecosystem "Debian:11": Debian release 11 only.',
      }),
    ]);
    expect(r.warnings).toEqual([]);
    // The record speaks for Debian 11 only: a version above its fixes (Debian 12's openssl 3) is not proven fixed.
    const engine = new ExposureEngine([advisoryValidator.parse(a)]);
    const judge = (version: string) =>
      engine.evaluate({
        id: 'x',
        products: [{ product: 'pkg:deb/debian/openssl', version }],
        installed_kbs: [],
        endpoints: [],
        tags: [],
      }).verdicts[0]!.verdict;
    expect(judge('1.1.1n-0+deb11u3')).toBe('affected');
    expect(judge('3.0.11-1~deb12u2')).toBe('unknown');
    expect(judge('1.1.1n-0+deb11u5')).toBe('unknown');
  });

  it('last_affected, open-ended ranges, limit ignored with a warning, explicit versions', () => {
    const r = importOsv(
      record({}, [
        {
          package: { ecosystem: 'npm', name: '@scope/pkg' },
          ranges: [
            { type: 'SEMVER', events: [{ introduced: '1.0.0' }, { last_affected: '1.4.2' }] },
            { type: 'SEMVER', events: [{ introduced: '2.0.0' }, { limit: '3.0.0' }] },
            { type: 'SEMVER', events: [{ introduced: '4.0.0' }, { fixed: '4.0.0' }] },
          ],
          versions: ['1.0.0', '1.0.0', '0.9.0'],
        },
      ]),
      ctx(),
    );
    const a = only(r);
    expect(a.affected).toEqual([
      expect.objectContaining({
        product: 'pkg:npm/%40scope/pkg',
        scheme: 'semver',
        // 4.0.0 introduced and fixed at once affects nothing: no (empty) range for it.
        ranges: [{ introduced: '1.0.0', last_affected: '1.4.2' }, { introduced: '2.0.0' }],
        versions: ['1.0.0', '0.9.0'],
      }),
    ]);
    expect(r.warnings).toEqual([
      { path: 'affected[0].ranges[1]', message: expect.stringMatching(/limit events ignored/) },
    ]);
  });

  it('an affected version or range that cannot be read drops the whole entry, naming why', () => {
    const r = importOsv(
      record({}, [
        {
          package: { ecosystem: 'npm', name: 'left' },
          ranges: [{ type: 'SEMVER', events: [{ introduced: '0' }, { fixed: '1.0.0' }] }],
          versions: ['not-a-version'],
        },
        {
          package: { ecosystem: 'RubyGems', name: 'rails' },
          ranges: [
            { type: 'ECOSYSTEM', events: [{ introduced: '4.2.0.beta1' }, { fixed: '4.2.2.rc' }] },
            { type: 'ECOSYSTEM', events: [{ introduced: '5.0.0' }, { fixed: '5.0.1' }] },
          ],
        },
        {
          // A GIT range beside version ranges is redundant: skipping it keeps the entry.
          package: { ecosystem: 'crates.io', name: 'kept' },
          ranges: [
            {
              type: 'GIT',
              repo: 'https://example.org/x.git',
              events: [{ introduced: '0' }, { fixed: 'a'.repeat(40) }],
            },
            { type: 'ECOSYSTEM', events: [{ introduced: '0' }, { fixed: '0.3.1' }] },
          ],
        },
      ]),
      ctx(),
    );
    // Keeping 5.0.0–5.0.1 alone would judge rails 4.2.1 "not affected"; keeping `left`'s range alone would
    // judge the unreadable listed version.
    expect(only(r).affected).toEqual([
      expect.objectContaining({ product: 'pkg:cargo/kept', ranges: [{ fixed: '0.3.1' }] }),
    ]);
    expect(r.warnings).toEqual([
      {
        path: 'affected[0].versions[0]',
        message: expect.stringMatching(/"not-a-version" is not a semver version/),
      },
      {
        path: 'affected[0].versions[0]',
        message: expect.stringMatching(/^pkg:npm\/left \(left\): no affected entry for CVE-2024-0001/),
      },
      {
        path: 'affected[1].ranges[0].events[0].introduced',
        message: expect.stringMatching(/RubyGems versions are read as SemVer/),
      },
      { path: 'affected[1].ranges[0].events[1].fixed', message: expect.any(String) },
      {
        path: 'affected[1].ranges[0]',
        message: expect.stringMatching(/^pkg:gem\/rails \(rails\): no affected entry/),
      },
      { path: 'affected[2].ranges[0]', message: expect.stringMatching(/GIT range skipped/) },
    ]);
  });

  it('Maven and PyPI names become purls; an invalid purl falls back to ecosystem and name', () => {
    const r = importOsv(
      record({}, [
        {
          package: { ecosystem: 'Maven', name: 'org.apache.logging.log4j:log4j-core' },
          ranges: [{ type: 'SEMVER', events: [{ introduced: '2.0.0' }, { fixed: '2.17.1' }] }],
        },
        {
          package: { ecosystem: 'PyPI', name: 'Foo_Bar.baz', purl: 'not a purl' },
          ranges: [{ type: 'SEMVER', events: [{ introduced: '0' }] }],
        },
        {
          package: {
            ecosystem: 'Ubuntu:22.04:LTS',
            name: 'libstdc++6',
            purl: 'pkg:deb/ubuntu/libstdc%2B%2B6?arch=source',
          },
          ranges: [{ type: 'ECOSYSTEM', events: [{ introduced: '0' }, { fixed: '12.3.0-1ubuntu1~22.04' }] }],
        },
      ]),
      ctx(),
    );
    const a = only(r);
    expect(a.affected?.map((x) => x.product)).toEqual([
      'pkg:maven/org.apache.logging.log4j/log4j-core',
      'pkg:pypi/foo-bar-baz',
      'pkg:deb/ubuntu/libstdc++6',
    ]);
    expect(a.affected?.[1]?.ranges).toEqual([{}]); // every version affected
    expect(paths(r)).toEqual(['affected[1].package.purl']);
  });

  it('malformed affected entries and ranges are warned about, not fatal', () => {
    const r = importOsv(
      record({}, [
        'nope',
        { package: { ecosystem: 'Nonexistent', name: 'x' }, ranges: [] },
        { package: { ecosystem: 'npm', name: 'x' } },
        {
          package: { ecosystem: 'npm', name: 'y', extra: 1 },
          ranges: [
            { type: 'SEMVER', events: [{ introduced: '1.0.0', fixed: '2.0.0' }] },
            { type: 'WEIRD', events: [{ introduced: '0' }] },
            { type: 'SEMVER', events: [] },
          ],
        },
      ]),
      ctx(),
    );
    expect(only(r).affected).toEqual([]);
    expect(paths(r)).toEqual([
      'affected[0]',
      'affected[1].package.ecosystem',
      'affected[2]',
      'affected[3].package.extra',
      'affected[3].ranges[0].events[0]',
      'affected[3].ranges[1].type',
      'affected[3].ranges[2].events',
      'affected[3]',
    ]);
  });
});

describe('importOsv agrees with the OSV evaluation algorithm', () => {
  const pool = ['0', '1.0.0', '1.1.0', '1.2.0', '2.0.0', '2.1.0', '3.0.0'];
  const probes = [
    '0.5.0',
    '1.0.0',
    '1.0.5',
    '1.1.0',
    '1.5.0',
    '2.0.0',
    '2.0.1',
    '2.1.0',
    '2.5.0',
    '3.0.0',
    '4.0.0',
  ];
  const cmp = (a: string, b: string) =>
    a === '0' ? (b === '0' ? 0 : -1) : b === '0' ? 1 : compareVersions('semver', a, b);
  type Ev = { introduced?: string; fixed?: string; last_affected?: string; limit?: string };

  /** `IsVulnerable` of the OSV spec for one range (ties in list order). */
  function osvAffected(v: string, events: Ev[]): boolean {
    const limits = events.filter((e) => e.limit !== undefined);
    if (limits.length && !limits.some((e) => cmp(v, e.limit!) < 0)) return false;
    const at = (e: Ev) => (e.introduced ?? e.fixed ?? e.last_affected ?? e.limit)!;
    const sorted = events
      .map((e, i) => ({ e, i }))
      .sort((a, b) => cmp(at(a.e), at(b.e)) || a.i - b.i)
      .map((x) => x.e);
    let vulnerable = false;
    for (const e of sorted) {
      if (e.introduced !== undefined && cmp(v, e.introduced) >= 0) vulnerable = true;
      else if (e.fixed !== undefined && cmp(v, e.fixed) >= 0) vulnerable = false;
      else if (e.last_affected !== undefined && cmp(v, e.last_affected) > 0) vulnerable = false;
    }
    return vulnerable;
  }

  it('for random SEMVER event lists, the engine judges affected exactly the versions OSV does', () => {
    const version = fc.constantFrom(...pool);
    // "0" is special for introduced only ("before every version"); elsewhere it is not a SemVer version.
    const event = (kinds: readonly (keyof Ev)[]) =>
      fc.oneof(
        ...kinds.map((k) =>
          (k === 'introduced' ? version : fc.constantFrom(...pool.slice(1))).map((v): Ev => ({ [k]: v })),
        ),
      );
    const events = (kinds: readonly (keyof Ev)[]) =>
      fc.tuple(version, fc.array(event(kinds), { maxLength: 6 }), fc.nat()).map(([intro, rest, at]) => {
        const list = [...rest];
        list.splice(at % (list.length + 1), 0, { introduced: intro }); // the schema requires an introduced
        return list;
      });
    const run = (evs: Ev[], exact: boolean) => {
      const r = importOsv(
        record({}, [{ package: { ecosystem: 'npm', name: 'p' }, ranges: [{ type: 'SEMVER', events: evs }] }]),
        ctx(),
      );
      const engine = new ExposureEngine(r.advisories.map((a) => advisoryValidator.parse(a)));
      for (const v of probes) {
        const { verdicts } = engine.evaluate({
          id: 'h',
          products: [{ product: 'pkg:npm/p', version: v }],
          installed_kbs: [],
          endpoints: [],
          tags: [],
        });
        const ours = verdicts.some((x) => x.verdict === 'affected');
        const theirs = osvAffected(v, evs);
        if (exact) expect([v, ours]).toEqual([v, theirs]);
        else if (theirs) expect([v, ours]).toEqual([v, true]);
      }
    };
    // Exact for what the schema allows (fixed or last_affected per range); cautious (a superset) for limits and
    // for the forbidden mix of fixed and last_affected.
    for (const kinds of [
      ['introduced', 'fixed'],
      ['introduced', 'last_affected'],
    ] as const)
      fc.assert(
        fc.property(events(kinds), (evs) => run(evs, true)),
        { numRuns: 300 },
      );
    for (const kinds of [
      ['introduced', 'fixed', 'limit'],
      ['introduced', 'fixed', 'last_affected', 'limit'],
    ] as const)
      fc.assert(
        fc.property(events(kinds), (evs) => run(evs, false)),
        { numRuns: 300 },
      );
  });
});

describe('importOsv: record-level decisions', () => {
  it('upstream CVEs are the advisory CVEs; the severity goes to a single one only', () => {
    const severity = [{ type: 'CVSS_V3', score: 'CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:H' }];
    const one = only(importOsv(record({ aliases: [], upstream: ['CVE-2024-0002'], severity }), ctx()));
    expect(one.cves).toEqual([expect.objectContaining({ id: 'CVE-2024-0002', cvss: expect.anything() })]);
    const twoResult = importOsv(
      record({ aliases: [], upstream: ['CVE-2024-0002', 'CVE-2024-0003'], severity }),
      ctx(),
    );
    expect(paths(twoResult)).toEqual(['severity']);
    const two = only(twoResult);
    expect(two.cves.map((c) => [c.id, c.cvss])).toEqual([
      ['CVE-2024-0002', undefined],
      ['CVE-2024-0003', undefined],
    ]);
  });

  it('CVSS v4 and v2 vectors are not stored, with a warning; an invalid v3 vector is named', () => {
    const r = importOsv(
      record({
        severity: [
          { type: 'CVSS_V4', score: 'CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N' },
          { type: 'CVSS_V2', score: 'AV:N/AC:L/Au:N/C:P/I:P/A:P' },
          { type: 'CVSS_V3', score: 'CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H' },
        ],
      }),
      ctx(),
    );
    expect(only(r).cves[0]!.cvss).toBeUndefined();
    expect(paths(r)).toEqual(['severity[0]', 'severity[1]', 'severity[2].score']);
    expect(r.warnings[2]!.message).toMatch(/base metric A missing/);
  });

  it('without summary, the title comes from the details; without published, from modified', () => {
    const r = importOsv(record({ summary: undefined, published: 'yesterday' }), ctx());
    const a = only(r);
    expect(a.title).toBe('First paragraph still first.');
    expect(a.summary).toBe('First paragraph still first.');
    expect(a.published).toBe('2024-01-02');
    expect(paths(r)).toEqual(['published']);
  });

  it('unknown fields and unexpected types are named', () => {
    const r = importOsv(
      record({ surprise: true, aliases: 'CVE-2024-0001', id: 'CVE-2024-0009', schema_version: '2.0.0' }),
      ctx(),
    );
    expect(only(r).cves.map((c) => c.id)).toEqual(['CVE-2024-0009']);
    expect(paths(r).sort()).toEqual(['aliases', 'schema_version', 'surprise']);
  });

  it('advisory ids are lower-case slugs of the OSV id', () => {
    const ids = ['RHSA-2024:4546', 'openSUSE-SU-2024:1234-1', 'x_Local/ID 7'].map(
      (id) => only(importOsv(record({ id }), ctx())).id,
    );
    expect(ids).toEqual(['rhsa-2024-4546', 'opensuse-su-2024-1234-1', 'x_local-id-7']);
  });
});

describe('CVSS v3 base score', () => {
  it.each([
    ['CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H', 9.8],
    ['CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:C/C:H/I:H/A:H', 10.0],
    ['CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:N', 9.1],
    ['CVSS:3.1/AV:L/AC:L/PR:N/UI:R/S:U/C:H/I:H/A:H', 7.8],
    ['CVSS:3.1/AV:N/AC:L/PR:L/UI:N/S:U/C:H/I:H/A:H', 8.8],
    ['CVSS:3.1/AV:A/AC:L/PR:L/UI:N/S:U/C:H/I:H/A:H', 8.0],
    ['CVSS:3.1/AV:L/AC:H/PR:L/UI:N/S:U/C:H/I:N/A:N', 4.7],
    ['CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:L/A:N', 5.3],
    ['CVSS:3.1/AV:N/AC:L/PR:N/UI:R/S:C/C:L/I:L/A:N', 6.1],
    ['CVSS:3.1/AV:N/AC:H/PR:N/UI:N/S:U/C:H/I:H/A:H', 8.1],
    ['CVSS:3.1/AV:P/AC:H/PR:H/UI:R/S:U/C:L/I:N/A:N', 1.6],
    ['CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:N', 0],
    ['CVSS:3.0/AV:N/AC:L/PR:L/UI:N/S:C/C:H/I:H/A:H/E:U/RL:O/RC:C', 9.9],
    ['CVSS:3.1/AV:L/AC:L/PR:H/UI:N/S:U/C:L/I:L/A:L', 4.2],
  ])('%s = %d', (vector, score) => {
    expect(cvss3BaseScore(vector)).toMatchObject({ ok: true, score });
  });

  itCorpus('matches every vector/baseScore pair stated in the corpus (NVD, CVE 5, CSAF, MSRC CVRF)', () => {
    const pairs = new Map<string, number>();
    const walk = (v: unknown): void => {
      if (Array.isArray(v)) v.forEach(walk);
      else if (v && typeof v === 'object') {
        const o = v as Record<string, unknown>;
        if (
          typeof o.vectorString === 'string' &&
          o.vectorString.startsWith('CVSS:3') &&
          typeof o.baseScore === 'number'
        )
          pairs.set(o.vectorString, o.baseScore);
        Object.values(o).forEach(walk);
      }
    };
    for (const file of [
      'nvd-api2/CVE-2021/CVE-2021-268xx/CVE-2021-26855.json',
      'nvd-api2/CVE-2021/CVE-2021-268xx/CVE-2021-26857.json',
      'nvd-api2/CVE-2021/CVE-2021-344xx/CVE-2021-34473.json',
      'nvd-api2/CVE-2022/CVE-2022-410xx/CVE-2022-41040.json',
      'nvd-api2/CVE-2022/CVE-2022-410xx/CVE-2022-41082.json',
      'cve-json5/cves/2021/26xxx/CVE-2021-26855.json',
      'cve-json5/cves/2021/27xxx/CVE-2021-27065.json',
      'cve-json5/cves/2022/41xxx/CVE-2022-41082.json',
      'csaf/oasis-tcs-csaf/csaf_2.0/examples/csaf/bsi-2022-0001.json',
      'osv/tools/redhat/testdata/CSAF/rhsa-2024_4546.json',
    ])
      walk(readJson(file));
    const cvrf = readFileSync(corpus('msrc-cvrf/2021/xml-cvrf-document/cvrfDocument-2021-Mar.xml'), 'utf8');
    for (const set of cvrf.split('<vuln:ScoreSet>').slice(1)) {
      const base = /<vuln:BaseScore>([\d.]+)<\/vuln:BaseScore>/.exec(set)?.[1];
      const vector = /<vuln:Vector>(CVSS:3[^<]+)<\/vuln:Vector>/.exec(set)?.[1];
      if (base && vector) pairs.set(vector, Number(base));
    }
    expect(pairs.size).toBeGreaterThan(35);
    for (const [vector, score] of pairs)
      expect([vector, cvss3BaseScore(vector)]).toEqual([vector, expect.objectContaining({ score })]);
  });

  it.each([
    ['', /CVSS:3/],
    ['CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N', /CVSS:3/],
    ['CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H/AV:L', /given twice/],
    ['CVSS:3.1/AV:X/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H', /invalid value/],
    ['CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H/ZZ:1', /unknown metric/],
    ['CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H/', /unknown metric/],
    ['CVSS:3.1/constructor:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H', /unknown metric/],
  ])('rejects %j', (vector, error) => {
    const r = cvss3BaseScore(vector);
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.error).toMatch(error);
  });
});

describe('importOsv fuzzing', () => {
  const samples = SAMPLES.map((p) => readJson(p));
  /** Only ImportError may escape; what comes out passes the schema and compiles in the exposure engine. */
  const check = (doc: unknown) => {
    let r: ImportResult;
    try {
      r = importOsv(doc, ctx());
    } catch (e) {
      if (e instanceof ImportError) return;
      throw e;
    }
    new ExposureEngine(r.advisories.map((a) => advisoryValidator.parse(a)));
  };

  it('random JSON never throws anything but ImportError', () => {
    fc.assert(fc.property(fc.jsonValue(), check), { numRuns: 500 });
    fc.assert(
      fc.property(
        fc.dictionary(
          fc.constantFrom(
            'affected',
            'severity',
            'aliases',
            'references',
            'published',
            'summary',
            'withdrawn',
            'upstream',
          ),
          fc.jsonValue(),
        ),
        (over) => check(record(over)),
      ),
      { numRuns: 500 },
    );
  });

  it('random affected entries (any ecosystem, range type and event order) import into compilable rules', () => {
    const version = fc.constantFrom(
      '0',
      '1.0.0',
      '1.0.0-rc.1',
      '1.2.3',
      '2.0.0',
      '10.0.0',
      '1:1.0-1',
      '1.0-1',
      '1.0-1+deb11u1',
      '0:2.13.3-3.el8_6.1',
      '2.13.3-4.el8',
      'v1.0.0',
      '1.0',
      'a'.repeat(40),
      '*',
      '',
    );
    const event = fc.oneof(
      ...(['introduced', 'fixed', 'last_affected', 'limit'] as const).map((k) =>
        version.map((v) => ({ [k]: v })),
      ),
    );
    const entry = fc.record(
      {
        package: fc.record({
          ecosystem: fc.constantFrom(
            'npm',
            'Go',
            'Debian:12',
            'Ubuntu',
            'Red Hat:rhel:9',
            'PyPI',
            'Alpine:v3.19',
            'Linux',
            'Bogus',
          ),
          name: fc.constantFrom('pkg', '@scope/pkg', 'github.com/a/b', 'a:b', 'x y', ''),
        }),
        ranges: fc.array(
          fc.record({
            type: fc.constantFrom('SEMVER', 'ECOSYSTEM', 'GIT', 'OTHER'),
            events: fc.array(event, { maxLength: 6 }),
          }),
          { maxLength: 3 },
        ),
        versions: fc.array(version, { maxLength: 4 }),
      },
      { requiredKeys: ['package'] },
    );
    fc.assert(
      fc.property(fc.array(entry, { maxLength: 4 }), (affected) => check(record({}, affected))),
      { numRuns: 1000 },
    );
  });

  /** Every path (as a key list) inside a JSON value. */
  const allPaths = (v: unknown, at: (string | number)[] = [], out: (string | number)[][] = []) => {
    out.push(at);
    if (Array.isArray(v))
      v.forEach((x, i) => {
        allPaths(x, [...at, i], out);
      });
    else if (v && typeof v === 'object') for (const [k, x] of Object.entries(v)) allPaths(x, [...at, k], out);
    return out;
  };
  const mutate = (doc: unknown, path: (string | number)[], value: unknown, remove: boolean): unknown => {
    if (path.length === 0) return value;
    const copy = structuredClone(doc) as Record<string | number, unknown>;
    let parent = copy;
    for (const key of path.slice(0, -1)) parent = parent[key] as Record<string | number, unknown>;
    const last = path[path.length - 1]!;
    if (remove && Array.isArray(parent)) parent.splice(last as number, 1);
    else if (remove) delete parent[last];
    else parent[last] = value;
    return copy;
  };

  itCorpus('mutated real samples never throw anything but ImportError nor yield an invalid advisory', () => {
    const versionish = fc.oneof(
      fc.jsonValue(),
      fc.constantFrom(
        '0',
        '1.0.0',
        '1:2.3-4',
        '0:1.0-1.el8',
        'v1',
        '',
        ' ',
        '1.0.0-',
        '*',
        'CVE-2024-1',
        'CVSS:3.1/AV:N',
      ),
    );
    fc.assert(
      fc.property(
        fc.nat(samples.length - 1),
        fc.array(fc.tuple(fc.nat(), versionish, fc.boolean()), { minLength: 1, maxLength: 5 }),
        (s, mutations) => {
          let doc = samples[s];
          for (const [pick, value, remove] of mutations) {
            const all = allPaths(doc);
            doc = mutate(doc, all[pick % all.length]!, value, remove);
          }
          check(doc);
          check([doc, samples[s]]);
        },
      ),
      { numRuns: 1000 },
    );
  });
});
