import { describe, expect, it } from 'vitest';
import { type Catalog, catalogValidator } from '../../core/index.js';
import {
  AffectedBuilder,
  advisoryIdSlug,
  buildForKb,
  canonicalVersion,
  compareIn,
  cvssFrom,
  cweFromText,
  inferScheme,
  isHttpUrl,
  isoDay,
  kbFromText,
  makeReference,
  mergeAffected,
  namesReleaseTrain,
  nextTrain,
  normaliseReleaseName,
  parseCpe,
  parsePurl,
  pickCvss,
  productFromCpe,
  productFromNames,
  productFromPurl,
  productFromReleaseName,
  purlQualifiers,
  rangeInTrain,
  slug,
  stripHtml,
  trainFromName,
  trainRangeForKb,
  versionProblem,
  wholeTrainRange,
} from './products.js';
import type { ImportWarning } from './types.js';

/** A few Exchange trains with builds from the Exchange build numbers table (Microsoft Learn). */
const EXCHANGE: Catalog = catalogValidator.parse({
  schema_version: 1,
  id: 'exchange',
  product: 'microsoft:exchange_server',
  name: 'Microsoft Exchange Server',
  scheme: 'exchange',
  sources: [{ title: 'test fixture' }],
  trains: [
    {
      id: 'exchange-2013-sp1',
      product_name: 'Exchange Server 2013',
      name: 'SP1 (CU4)',
      build: '15.0.847.32',
      updates: [{ name: 'Mar21SU', build: '15.0.847.64', kb: 'KB5000871' }],
    },
    {
      id: 'exchange-2016-cu18',
      product_name: 'Exchange Server 2016',
      name: 'CU18',
      build: '15.1.2106.2',
      updates: [{ name: 'Mar21SU', build: '15.1.2106.13', kb: 'KB5000871' }],
    },
    {
      id: 'exchange-2016-cu19',
      product_name: 'Exchange Server 2016',
      name: 'CU19',
      build: '15.1.2176.2',
      updates: [
        { name: 'Feb21SU', build: '15.1.2176.4', kb: 'KB4602269' },
        { name: 'Mar21SU', build: '15.1.2176.9', kb: 'KB5000871' },
      ],
    },
    {
      id: 'exchange-2016-cu20',
      product_name: 'Exchange Server 2016',
      name: 'CU20',
      build: '15.1.2242.4',
      kb: 'KB4602569',
    },
    {
      id: 'exchange-2019-rtm',
      product_name: 'Exchange Server 2019',
      name: 'RTM',
      build: '15.2.221.12',
      updates: [{ name: 'Mar21SU', build: '15.2.221.18', kb: 'KB5000871' }],
    },
    { id: 'exchange-2019-cu1', product_name: 'Exchange Server 2019', name: 'CU1', build: '15.2.330.5' },
  ],
});
const train = (id: string) => ({ catalog: EXCHANGE, train: EXCHANGE.trains.find((t) => t.id === id)! });

describe('product ids', () => {
  it('CPE 2.3 and 2.2 names', () => {
    expect(parseCpe('cpe:2.3:a:microsoft:exchange_server:2016:cumulative_update_19:*:*:*:*:*:*')).toEqual({
      part: 'a',
      vendor: 'microsoft',
      product: 'exchange_server',
      version: '2016',
      update: 'cumulative_update_19',
    });
    expect(parseCpe('cpe:2.3:a:acme:we\\:ird:1.0:*:*:*:*:*:*:*')?.product).toBe('we:ird');
    expect(productFromCpe('cpe:/a:redhat:rhel_aus:8.6::appstream')).toBe('redhat:rhel_aus');
    expect(productFromCpe('cpe:2.3:a:*:*:*')).toBeUndefined();
    expect(productFromCpe('not a cpe')).toBeUndefined();
  });

  it('package URLs, with qualifiers', () => {
    const purl = 'pkg:rpm/redhat/git-lfs@2.13.3-3.el8_6.1?arch=x86_64&epoch=1';
    expect(parsePurl(purl)).toEqual({
      type: 'rpm',
      namespace: 'redhat',
      name: 'git-lfs',
      version: '2.13.3-3.el8_6.1',
    });
    expect(productFromPurl(purl)).toBe('pkg:rpm/redhat/git-lfs');
    expect([...purlQualifiers(purl)]).toEqual([
      ['arch', 'x86_64'],
      ['epoch', '1'],
    ]);
    expect(purlQualifiers('pkg:npm/x@1').size).toBe(0);
    expect(parsePurl('pkg:/x')).toBeUndefined();
  });

  it('names and release names', () => {
    expect(slug('  Example Company ')).toBe('example_company');
    expect(productFromNames('Red Hat', 'Single Sign-On')).toBe('red_hat:single_sign-on');
    expect(productFromNames('', '')).toBe('unknown:unknown');
    expect(productFromReleaseName('Microsoft', 'Microsoft Exchange Server 2016 Cumulative Update 19')).toBe(
      'microsoft:exchange_server',
    );
    expect(productFromReleaseName('Microsoft', 'Microsoft Exchange Server 2013 Service Pack 1')).toBe(
      'microsoft:exchange_server',
    );
    expect(productFromReleaseName('Microsoft', 'Windows Server 2012 R2 (Server Core installation)')).toBe(
      'microsoft:windows_server',
    );
    expect(productFromReleaseName('Acme', 'Widget')).toBe('acme:widget');
    expect(namesReleaseTrain('Microsoft Exchange Server 2016 Cumulative Update 19')).toBe(true);
    expect(namesReleaseTrain('Exchange Server 2019')).toBe(true);
    expect(namesReleaseTrain('Widget Pro')).toBe(false);
  });

  it('advisory ids', () => {
    expect(advisoryIdSlug('RHSA-2024:4546')).toBe('rhsa-2024-4546');
    expect(advisoryIdSlug('2021-Mar')).toBe('2021-mar');
    expect(advisoryIdSlug('  --Weird id!  ')).toBe('weird-id');
    expect(advisoryIdSlug('!!!')).toBe('');
  });
});

describe('release trains', () => {
  it('finds trains by Microsoft release names', () => {
    expect(normaliseReleaseName('Microsoft Exchange Server 2016 Cumulative Update 19')).toBe(
      'exchange server 2016 cu19',
    );
    expect(trainFromName('Microsoft Exchange Server 2016 Cumulative Update 19', [EXCHANGE])?.train.id).toBe(
      'exchange-2016-cu19',
    );
    expect(trainFromName('Microsoft Exchange Server 2019', [EXCHANGE])?.train.id).toBe('exchange-2019-rtm');
    expect(trainFromName('Microsoft Exchange Server 2013 Service Pack 1', [EXCHANGE])?.train.id).toBe(
      'exchange-2013-sp1',
    );
    expect(trainFromName('Microsoft Exchange Server 2016 Cumulative Update 99', [EXCHANGE])).toBeUndefined();
  });

  it('the next train of the same line, KB builds', () => {
    expect(nextTrain(train('exchange-2016-cu19'))?.id).toBe('exchange-2016-cu20');
    // The last train of a line ends where the next line starts, so its open ranges never cover 2019 builds.
    expect(nextTrain(train('exchange-2016-cu20'))?.id).toBe('exchange-2019-rtm');
    expect(nextTrain(train('exchange-2019-cu1'))).toBeUndefined();
    expect(nextTrain(train('exchange-2019-rtm'))?.id).toBe('exchange-2019-cu1');
    expect(buildForKb(train('exchange-2016-cu19'), 'kb5000871')).toBe('15.1.2176.9');
    expect(buildForKb(train('exchange-2016-cu20'), 'KB4602569')).toBe('15.1.2242.4');
    expect(buildForKb(train('exchange-2016-cu18'), 'KB4602269')).toBeUndefined();
  });

  it('bounds a source range to its train', () => {
    const cu19 = train('exchange-2016-cu19');
    expect(rangeInTrain(cu19, { introduced: '15.01.0', fixed: '15.01.2176.009' })).toEqual({
      ok: true,
      range: { train: 'Exchange Server 2016 CU19', introduced: '15.1.2176.2', fixed: '15.1.2176.9' },
    });
    expect(rangeInTrain(cu19, { introduced: '15.1.2176.4', last_affected: '15.1.2176.4' })).toMatchObject({
      ok: true,
      range: { introduced: '15.1.2176.4', last_affected: '15.1.2176.4' },
    });
    // Open upper end: up to the next train of the line.
    expect(rangeInTrain(cu19, {})).toMatchObject({
      ok: true,
      range: { introduced: '15.1.2176.2', fixed: '15.1.2242.4' },
    });
    expect(rangeInTrain(cu19, { fixed: '15.1.2176.2' })).toMatchObject({
      ok: false,
      field: 'fixed',
      reason: /empty range/,
    });
    expect(rangeInTrain(cu19, { fixed: '15.1.2242.8' })).toMatchObject({ ok: false, reason: /beyond.*CU20/ });
    expect(rangeInTrain(cu19, { fixed: '15.1.2242.4' })).toMatchObject({ ok: true });
    expect(rangeInTrain(cu19, { fixed: 'publication' })).toMatchObject({
      ok: false,
      reason: /not a version/,
    });
    expect(
      rangeInTrain(train('exchange-2019-cu1'), { introduced: '15.02.0', fixed: '15.01.1979.006' }),
    ).toMatchObject({
      ok: false,
      reason: /empty range/,
    });
  });

  it('whole-train fallback and KB ranges', () => {
    expect(wholeTrainRange(train('exchange-2016-cu18'))).toEqual({
      train: 'Exchange Server 2016 CU18',
      introduced: '15.1.2106.2',
      fixed: '15.1.2176.2',
    });
    expect(wholeTrainRange(train('exchange-2016-cu20'))).toEqual({
      train: 'Exchange Server 2016 CU20',
      introduced: '15.1.2242.4',
      fixed: '15.2.221.12',
    });
    expect(wholeTrainRange(train('exchange-2019-cu1'))).toBeUndefined();
    expect(trainRangeForKb(train('exchange-2016-cu19'), 'KB5000871')).toEqual({
      ok: true,
      range: { train: 'Exchange Server 2016 CU19', introduced: '15.1.2176.2', fixed: '15.1.2176.9' },
      produces: '15.1.2176.9',
    });
    expect(trainRangeForKb(train('exchange-2019-cu1'), 'KB5000871')).toMatchObject({
      ok: false,
      reason: /no build/,
    });
  });
});

describe('versions', () => {
  it('canonical numeric versions', () => {
    expect(canonicalVersion('exchange', '15.01.2176.009')).toBe('15.1.2176.9');
    expect(canonicalVersion('exchange', '15.02.0')).toBe('15.2.0.0');
    expect(canonicalVersion('windows', '10.0')).toBe('10.0.0');
    expect(canonicalVersion('dotted', '01.2')).toBe('1.2');
    expect(canonicalVersion('semver', ' 1.02.3 ')).toBe('1.02.3');
    expect(canonicalVersion('exchange', 'publication')).toBe('publication');
  });

  it('infers schemes from values', () => {
    expect(inferScheme('microsoft:exchange_server', ['15.01.0', '15.01.2176.009'])).toBe('exchange');
    expect(inferScheme('microsoft:windows_10', ['10.0.19041.867'])).toBe('windows');
    expect(inferScheme('acme:widget', ['1.2', '0', '*'])).toBe('dotted');
    expect(inferScheme('acme:widget', ['1.0.0-rc1', '1.0.0'])).toBe('semver');
    expect(inferScheme('acme:widget', ['1.0', 'v2-beta'])).toBeUndefined();
    expect(inferScheme('acme:widget', [])).toBeUndefined();
  });

  it('compares and checks', () => {
    expect(compareIn('exchange', '15.1.2176.2', '15.1.2176.9')).toBeLessThan(0);
    expect(compareIn('exchange', '15.1', '15.1.2176.9')).toBeUndefined();
    expect(versionProblem('exchange', '15.1.2176.2')).toBeUndefined();
    expect(versionProblem('exchange', 'publication')).toMatch(/not an Exchange build/);
  });
});

describe('text helpers', () => {
  it('dates, URLs, KBs, HTML', () => {
    expect(isoDay('2021-03-02T23:55:27.000Z')).toBe('2021-03-02');
    expect(isoDay('2021-03-02')).toBe('2021-03-02');
    expect(isoDay('2021-02-30T00:00:00Z')).toBeUndefined();
    expect(isoDay('March 2')).toBeUndefined();
    expect(isoDay(20210302)).toBeUndefined();
    expect(isHttpUrl('https://msrc.microsoft.com/x')).toBe(true);
    expect(isHttpUrl('ftp://x.org/')).toBe(false);
    expect(isHttpUrl('javascript:alert(1)')).toBe(false);
    expect(kbFromText('5000871')).toBe('KB5000871');
    expect(kbFromText(5000871)).toBe('KB5000871');
    expect(kbFromText('Install KB5000871 now')).toBe('KB5000871');
    expect(kbFromText('version 1.2')).toBeUndefined();
    expect(stripHtml('<p>A <b>bold</b> &amp; &lt;safe&gt; step.</p><ul><li>one</li><li>two</li></ul>')).toBe(
      'A bold & <safe> step.\none\ntwo',
    );
    expect(stripHtml('<script>alert(1)</script>ok &#65;')).toBe('ok A');
  });

  it('CVSS, CWE and references', () => {
    expect(cvssFrom('3.1', 'CVSS:3.1/AV:N', 8)).toEqual({
      ok: true,
      value: { version: '3.1', vector: 'CVSS:3.1/AV:N', score: 8 },
    });
    expect(cvssFrom(undefined, 'CVSS:3.0/AV:N', '9.1')).toMatchObject({
      ok: true,
      value: { version: '3.0', score: 9.1 },
    });
    expect(cvssFrom(undefined, 'AV:N/AC:L', 5)).toMatchObject({ ok: false });
    expect(cvssFrom('3.1', 'CVSS:3.1/AV:N', 11)).toMatchObject({ ok: false });
    const v = (version: '2.0' | '3.0' | '3.1' | '4.0') => ({ version, vector: 'x', score: 1 });
    expect(pickCvss([v('2.0'), v('4.0'), v('3.1')])?.version).toBe('3.1');
    expect(pickCvss([v('2.0'), v('3.0'), v('4.0')])?.version).toBe('4.0');
    expect(pickCvss([])).toBeUndefined();
    expect(cweFromText('CWE-918 Server-Side Request Forgery (SSRF)')).toBe('CWE-918');
    expect(cweFromText('CWE-noinfo Not enough information')).toBe('NVD-CWE-noinfo');
    expect(cweFromText('NVD-CWE-Other')).toBe('NVD-CWE-Other');
    expect(cweFromText('Remote Code Execution')).toBeUndefined();
    expect(makeReference('https://example.com', 'Example', 'vendor')).toEqual({
      url: 'https://example.com',
      title: 'Example',
      kind: 'vendor',
    });
    expect(makeReference('mailto:x@example.com')).toBeUndefined();
  });
});

describe('AffectedBuilder', () => {
  it('keeps an entry with sorted, unique ranges', () => {
    const b = new AffectedBuilder('microsoft:exchange_server', 'exchange', 'p', 'Exchange', EXCHANGE);
    b.addRange({ introduced: '15.1.2176.2', fixed: '15.1.2176.9' });
    b.addRange({ introduced: '15.0.847.32', fixed: '15.0.847.64' });
    b.addRange({ introduced: '15.1.2176.2', fixed: '15.1.2176.9' });
    const warnings: ImportWarning[] = [];
    expect(b.finish(['CVE-2021-26855'], warnings)).toEqual({
      product: 'microsoft:exchange_server',
      name: 'Exchange',
      scheme: 'exchange',
      catalog: 'exchange',
      cves: ['CVE-2021-26855'],
      ranges: [
        { introduced: '15.0.847.32', fixed: '15.0.847.64' },
        { introduced: '15.1.2176.2', fixed: '15.1.2176.9' },
      ],
      versions: [],
      fixed_versions: [],
      not_affected_versions: [],
      default_status: 'unknown',
    });
    expect(warnings).toEqual([]);
  });

  it('drops an entry that lost an affected claim nothing bounds', () => {
    const b = new AffectedBuilder('acme:tool', 'semver', 'p');
    b.addRange({ introduced: '1.0.0', fixed: '1.0.5' });
    b.lose({ path: 'x.versions[1]', reason: 'bad bound' });
    const warnings: ImportWarning[] = [];
    expect(b.finish(['CVE-2024-0001'], warnings)).toBeUndefined();
    expect(warnings).toEqual([
      { path: 'x.versions[1]', message: expect.stringMatching(/no affected entry.*bad bound/) },
    ]);
  });

  it('takes a lost train as wholly affected when the catalog bounds it', () => {
    const b = new AffectedBuilder('microsoft:exchange_server', 'exchange', 'p', undefined, EXCHANGE);
    b.addRange({ train: 'Exchange Server 2016 CU19', introduced: '15.1.2176.2', fixed: '15.1.2176.9' });
    b.lose({ path: 'y', reason: 'empty', fallback: wholeTrainRange(train('exchange-2016-cu18')) });
    const warnings: ImportWarning[] = [];
    const e = b.finish(['CVE-2021-26855'], warnings)!;
    expect(e.ranges).toEqual([
      { train: 'Exchange Server 2016 CU18', introduced: '15.1.2106.2', fixed: '15.1.2176.2' },
      { train: 'Exchange Server 2016 CU19', introduced: '15.1.2176.2', fixed: '15.1.2176.9' },
    ]);
    expect(warnings[0]!.message).toMatch(/every build of Exchange Server 2016 CU18 is taken as affected/);
  });

  it('gives nothing when every claim was lost, and refuses what the model rejects', () => {
    const lostAll = new AffectedBuilder('acme:tool', 'semver', 'p');
    lostAll.lose({ path: 'z', reason: 'r' });
    expect(lostAll.finish(['CVE-2024-0001'], [])).toBeUndefined();
    const bad = new AffectedBuilder('Not A Product Id', 'semver', 'p');
    bad.versions.add('1.0.0');
    const warnings: ImportWarning[] = [];
    expect(bad.finish(['CVE-2024-0001'], warnings)).toBeUndefined();
    expect(warnings[0]!.message).toMatch(/does not fit the advisory model/);
  });

  it('merges entries that differ only in their CVEs', () => {
    const e = (cve: string, v: string) => ({ product: 'a:b', scheme: 'semver', cves: [cve], versions: [v] });
    expect(
      mergeAffected([e('CVE-2024-0001', '1.0.0'), e('CVE-2024-0002', '1.0.0'), e('CVE-2024-0003', '2.0.0')]),
    ).toEqual([
      { product: 'a:b', scheme: 'semver', cves: ['CVE-2024-0001', 'CVE-2024-0002'], versions: ['1.0.0'] },
      { product: 'a:b', scheme: 'semver', cves: ['CVE-2024-0003'], versions: ['2.0.0'] },
    ]);
  });
});
