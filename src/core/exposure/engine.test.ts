import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { type AdvisoryInput, advisoryValidator } from '../advisory/model.js';
import { CatalogIndex } from '../catalog/lookup.js';
import { type Catalog, catalogValidator } from '../catalog/model.js';
import { AdvisoryCompileError, ExposureEngine } from './engine.js';
import { type AssetFactsInput, assetFactsValidator } from './facts.js';

const CVE_A = 'CVE-2030-0001';
const CVE_B = 'CVE-2030-0002';

function advisory(over: Partial<AdvisoryInput> = {}): AdvisoryInput {
  return {
    schema_version: 1,
    id: 'test-adv',
    title: 'Test advisory',
    summary: 'For engine tests.',
    published: '2030-01-01',
    cves: [{ id: CVE_A }, { id: CVE_B }],
    affected: [
      {
        product: 'acme:widget',
        scheme: 'dotted',
        cves: [CVE_A, CVE_B],
        ranges: [
          { introduced: '1.0', fixed: '1.4' },
          { introduced: '2.0', last_affected: '2.3' },
        ],
        versions: ['0.9.1'],
        fixed_versions: ['2.3.1'],
        not_affected_versions: ['1.2'],
      },
    ],
    fixes: [
      {
        id: 'KB9000001',
        title: 'Widget update',
        kind: 'security_update',
        product: 'acme:widget',
        cves: [CVE_A],
        kb: 'KB9000001',
        targets: [{ applies_to: { introduced: '1.0', fixed: '1.4' }, produces: '1.4' }],
      },
    ],
    ...over,
  };
}

const engineFor = (...advisories: AdvisoryInput[]) =>
  new ExposureEngine(advisories.map((a) => advisoryValidator.parse(a)));
const asset = (over: Partial<AssetFactsInput>) => assetFactsValidator.parse({ id: 'a1', ...over });
const verdictsOf = (engine: ExposureEngine, version: string, kbs: string[] = []) =>
  Object.fromEntries(
    engine
      .evaluate(asset({ products: [{ product: 'acme:widget', version }], installed_kbs: kbs }))
      .verdicts.map((v) => [v.cve, v]),
  );

describe('ExposureEngine', () => {
  const engine = engineFor(advisory());

  it.each([
    ['0.5', 'not_affected', 'affected[0]'],
    ['0.9.1', 'affected', 'affected[0].versions[0]'],
    ['1.0', 'affected', 'affected[0].ranges[0]'],
    ['1.3.9', 'affected', 'affected[0].ranges[0]'],
    ['1.2', 'not_affected', 'affected[0].not_affected_versions[0]'],
    ['1.4', 'fixed', 'affected[0].ranges[0]'],
    ['1.9', 'fixed', 'affected[0].ranges[0]'],
    ['2.0', 'affected', 'affected[0].ranges[1]'],
    ['2.3', 'affected', 'affected[0].ranges[1]'],
    ['2.3.1', 'fixed', 'affected[0].fixed_versions[0]'],
    // Past the last_affected bound 2.4 is outside every range, and above the fixed bound 1.4.
    ['2.4', 'fixed', 'affected[0].ranges[0]'],
  ])('version %s is %s by %s', (version, verdict, rule) => {
    const v = verdictsOf(engine, version)[CVE_A]!;
    expect([v.verdict, v.provenance.rule]).toEqual([verdict, rule]);
    expect(v.provenance.fact).toBe(`products[0] acme:widget ${version}`);
  });

  it('explains the comparison that decided', () => {
    expect(verdictsOf(engine, '1.3')[CVE_A]!.provenance.comparison).toBe(
      '1.3 >= 1.0 (introduced) and < 1.4 (fixed)',
    );
    expect(verdictsOf(engine, '2.3')[CVE_A]!.provenance.comparison).toBe(
      '2.3 >= 2.0 (introduced) and <= 2.3 (last affected)',
    );
    expect(verdictsOf(engine, '1.5')[CVE_A]!.provenance.comparison).toBe('1.5 >= 1.4 (fixed)');
  });

  it('names applicable fixes for an affected version and honours an installed KB for the CVEs it fixes', () => {
    expect(verdictsOf(engine, '1.1')[CVE_A]!.fixes).toEqual(['KB9000001']);
    const withKb = verdictsOf(engine, '1.1', ['kb9000001']);
    expect(withKb[CVE_A]!.verdict).toBe('fixed');
    expect(withKb[CVE_A]!.provenance.rule).toBe('fixes[0].targets[0]');
    expect(withKb[CVE_A]!.provenance.comparison).toMatch(
      /^KB9000001 is installed and fixes CVE-2030-0001 on 1.1/,
    );
    // The KB does not fix CVE B, and does not apply to the 2.x train.
    expect(withKb[CVE_B]!.verdict).toBe('affected');
    expect(verdictsOf(engine, '2.1', ['KB9000001'])[CVE_A]!.verdict).toBe('affected');
  });

  it('reports an unparseable version as unknown, never as safe', () => {
    const v = verdictsOf(engine, 'banana')[CVE_A]!;
    expect(v.verdict).toBe('unknown');
    expect(v.provenance.comparison).toMatch(/^cannot compare: /);
  });

  it('judges OS facts like products and ignores products without rules', () => {
    const r = engine.evaluate(
      asset({
        os: { product: 'acme:widget', version: '1.1' },
        products: [{ product: 'other:thing', version: '1.1' }],
      }),
    );
    expect(r.verdicts.map((v) => [v.cve, v.verdict, v.provenance.fact])).toEqual([
      [CVE_A, 'affected', 'os acme:widget 1.1'],
      [CVE_B, 'affected', 'os acme:widget 1.1'],
    ]);
  });

  it('combines two rules of one advisory cautiously (affected beats fixed)', () => {
    const a = advisory();
    a.affected!.push({
      product: 'acme:widget',
      scheme: 'dotted',
      cves: [CVE_A],
      ranges: [{ introduced: '1.5', fixed: '1.6' }],
    });
    const v = verdictsOf(engineFor(a), '1.5')[CVE_A]!;
    expect([v.verdict, v.provenance.rule]).toEqual(['affected', 'affected[1].ranges[0]']);
  });

  it('keeps verdicts of different advisories apart', () => {
    const r = engineFor(advisory(), advisory({ id: 'other-adv' })).evaluate(
      asset({ products: [{ product: 'acme:widget', version: '1.1' }] }),
    );
    expect(r.verdicts.map((v) => v.advisory).sort()).toEqual([
      'other-adv',
      'other-adv',
      'test-adv',
      'test-adv',
    ]);
  });

  it('refuses to compile a bound its scheme rejects or an empty range, naming the field', () => {
    const bad = advisory();
    bad.affected![0]!.ranges = [{ introduced: '1.x' }];
    expect(() => engineFor(bad)).toThrow(AdvisoryCompileError);
    try {
      engineFor(bad);
    } catch (err) {
      expect((err as AdvisoryCompileError).path).toEqual(['affected', 0, 'ranges', 0, 'introduced']);
    }
    const empty = advisory();
    empty.affected![0]!.ranges = [{ introduced: '2.0', fixed: '1.0' }];
    expect(() => engineFor(empty)).toThrow(/affected\[0\]\.ranges\[0\]: the range is empty/);
  });

  describe('with a catalog', () => {
    const catalog: Catalog = catalogValidator.parse({
      schema_version: 1,
      id: 'widget',
      product: 'acme:widget',
      name: 'Widget',
      scheme: 'dotted',
      sources: [{ title: 'test' }],
      trains: [
        {
          id: 'w-1',
          product_name: 'Widget 1',
          name: 'RTM',
          build: '1.0',
          updates: [{ name: 'U1', build: '1.4' }],
        },
        { id: 'w-2', product_name: 'Widget 1', name: 'R2', build: '1.5' },
      ],
    });
    const a = advisory();
    a.affected![0]!.catalog = 'widget';
    const withCatalog = new ExposureEngine([advisoryValidator.parse(a)], new CatalogIndex([catalog]));

    it('judges known builds outside the ranges as before', () => {
      expect(verdictsOf(withCatalog, '1.4')[CVE_A]!.verdict).toBe('fixed');
      expect(verdictsOf(withCatalog, '1.5')[CVE_A]!.verdict).toBe('fixed');
    });

    it('never judges a build the catalog does not know safe', () => {
      const v = verdictsOf(withCatalog, '1.7')[CVE_A]!;
      expect([v.verdict, v.provenance.rule]).toEqual(['unknown', 'affected[0].catalog']);
      // Inside an affected range an unknown build is still affected: that is the cautious answer.
      expect(verdictsOf(withCatalog, '1.3.5')[CVE_A]!.verdict).toBe('affected');
    });
  });

  describe('an entry whose source does not cover every version (default_status unknown)', () => {
    // Two parallel product lines sharing one version order, as Exchange 2013 (15.0) and 2016 (15.1) do.
    const catalog: Catalog = catalogValidator.parse({
      schema_version: 1,
      id: 'widget',
      product: 'acme:widget',
      name: 'Widget',
      scheme: 'dotted',
      sources: [{ title: 'test' }],
      trains: [
        {
          id: 'a1',
          product_name: 'Widget A',
          name: 'R1',
          build: '1.0',
          updates: [{ name: 'S1', build: '1.3' }],
        },
        {
          id: 'a2',
          product_name: 'Widget A',
          name: 'R2',
          build: '1.5',
          updates: [{ name: 'S1', build: '1.6' }],
        },
        {
          id: 'b1',
          product_name: 'Widget B',
          name: 'R1',
          build: '2.0',
          updates: [{ name: 'S1', build: '2.4' }],
        },
        {
          id: 'b2',
          product_name: 'Widget B',
          name: 'R2',
          build: '2.6',
          updates: [{ name: 'S1', build: '2.7' }],
        },
      ],
    });
    const partial = (default_status?: 'unknown' | 'not_affected') =>
      new ExposureEngine(
        [
          advisoryValidator.parse(
            advisory({
              fixes: [],
              affected: [
                {
                  product: 'acme:widget',
                  scheme: 'dotted',
                  catalog: 'widget',
                  cves: [CVE_A],
                  // The source lists Widget A R2 and Widget B R2 only, as a CVE record lists supported releases.
                  ranges: [
                    { train: 'Widget A R2', introduced: '1.5', fixed: '1.6' },
                    { train: 'Widget B R2', introduced: '2.6', fixed: '2.7' },
                  ],
                  ...(default_status ? { default_status } : {}),
                },
              ],
            }),
          ),
        ],
        new CatalogIndex([catalog]),
      );
    const engine = partial('unknown');
    const judged = (e: ExposureEngine, v: string) => verdictsOf(e, v)[CVE_A]!;

    it("judges a build by its own train's range", () => {
      expect(judged(engine, '1.5').verdict).toBe('affected');
      expect(judged(engine, '1.6').verdict).toBe('fixed');
      expect(judged(engine, '1.6').provenance.comparison).toBe('1.6 >= 1.6 (fixed in Widget A R2)');
      expect(judged(engine, '2.7').verdict).toBe('fixed');
    });

    it("never reads another train's fixed bound as a fix (2.0 is above 1.6 but is Widget B R1)", () => {
      const v = judged(engine, '2.0');
      expect(v.verdict).toBe('unknown');
      expect(v.provenance.rule).toBe('affected[0].default_status');
      expect(v.provenance.comparison).toMatch(/^2\.0 \(Widget B R1\) is in none of the source's ranges/);
      expect(judged(engine, '2.4').verdict).toBe('unknown');
    });

    it('calls a build of an unlisted train unknown, never not_affected', () => {
      expect(judged(engine, '1.0').verdict).toBe('unknown');
      expect(judged(engine, '1.3').verdict).toBe('unknown');
    });

    it('keeps the old reading when the source covers every version (default not_affected)', () => {
      expect(judged(partial(), '1.0').verdict).toBe('not_affected');
      expect(judged(partial('not_affected'), '2.0').verdict).toBe('fixed');
    });

    it('without a catalog, a train range never proves a fix for other builds', () => {
      const bare = new ExposureEngine(engine.advisories);
      expect(verdictsOf(bare, '1.6')[CVE_A]!.verdict).toBe('unknown');
      expect(verdictsOf(bare, '1.5')[CVE_A]!.verdict).toBe('affected');
    });

    it('judges no catalog build safe unless its own train is listed and at or above the fix (property)', () => {
      const builds = catalog.trains.flatMap((t) => [
        { build: t.build, train: `${t.product_name} ${t.name}` },
        ...t.updates.map((u) => ({ build: u.build, train: `${t.product_name} ${t.name}` })),
      ]);
      const fixOf: Record<string, number> = { 'Widget A R2': 1.6, 'Widget B R2': 2.7 };
      fc.assert(
        fc.property(fc.constantFrom(...builds), ({ build, train }) => {
          const v = judged(engine, build).verdict;
          const fix = fixOf[train];
          const expected = fix === undefined ? 'unknown' : Number(build) >= fix ? 'fixed' : 'affected';
          expect(v).toBe(expected);
        }),
        { numRuns: 100 },
      );
    });
  });

  it('gives the same verdicts as a brute-force reading of the ranges (property)', () => {
    const version = fc.tuple(fc.nat(4), fc.nat(9)).map(([a, b]) => `${a}.${b}`);
    const bruteForce = (v: string): string => {
      const [a, b] = v.split('.').map(Number) as [number, number];
      const n = a * 10 + b;
      if (v === '1.2') return 'not_affected';
      if (n >= 10 && n < 14) return 'affected';
      if (n >= 20 && n <= 23) return 'affected';
      if (n >= 14) return 'fixed';
      return 'not_affected';
    };
    fc.assert(
      fc.property(version, (v) => {
        expect(verdictsOf(engine, v)[CVE_A]!.verdict).toBe(bruteForce(v));
      }),
      { numRuns: 500 },
    );
  });
});

describe('Debian packages as dpkg prints them', () => {
  const deb = advisory({
    affected: [
      {
        product: 'pkg:deb/debian/libssl3',
        scheme: 'dpkg',
        cves: [CVE_A],
        ranges: [{ introduced: '0', fixed: '3.0.11-1~deb12u2' }],
      },
    ],
    fixes: [],
  });
  const engine = engineFor(deb);
  const judge = (product: string, version: string) =>
    engine.evaluate(asset({ products: [{ product, version }] })).verdicts.map((v) => [v.product, v.verdict]);

  it('matches an architecture-qualified package (libssl3:amd64) to the advisory naming the package', () => {
    expect(judge('pkg:deb/debian/libssl3:amd64', '3.0.9-1')).toEqual([
      ['pkg:deb/debian/libssl3:amd64', 'affected'],
    ]);
    expect(judge('pkg:deb/debian/libssl3:i386', '3.0.11-1~deb12u2')).toEqual([
      ['pkg:deb/debian/libssl3:i386', 'fixed'],
    ]);
    expect(judge('pkg:deb/debian/libssl3', '3.0.9-1')).toEqual([['pkg:deb/debian/libssl3', 'affected']]);
  });

  it('does not match another package that shares the prefix, nor strip qualifiers outside deb', () => {
    expect(judge('pkg:deb/debian/libssl3-dev:amd64', '3.0.9-1')).toEqual([]);
    expect(judge('pkg:rpm/redhat/libssl3:amd64', '3.0.9-1')).toEqual([]);
  });
});
