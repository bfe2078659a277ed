import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { corpusPath, itCorpus } from '../../test/support/corpus.js';
import { runCli } from './run.testkit.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const CORPUS = corpusPath('advisory-formats');

const run = (argv: string[], env: NodeJS.ProcessEnv = {}) => runCli(argv, env, ROOT);

const tempDir = () => mkdtempSync(join(tmpdir(), 'bulwark-cli-'));

describe('bulwark exchange', () => {
  it('prints the issue example for an unpatched 2016 CU19 and exits 1', async () => {
    const r = await run(['exchange', '15.1.2176.2']);
    expect(r.code).toBe(1);
    expect(r.stdout).toBe(
      [
        'Exchange Server 2016 CU19 (15.1.2176.2), no security update installed since the CU',
        'VULNERABLE  CVE-2021-26855 CVE-2021-26857 CVE-2021-26858 CVE-2021-27065  (advisory proxylogon-2021-03, CISA KEV)',
        'Fix: install KB5000871 (March 2021 SU) -> 15.1.2176.9, or upgrade to CU20 (15.1.2242.4) or later',
        '',
      ].join('\n'),
    );
  });

  it('--json has the documented fields', async () => {
    const r = await run(['exchange', '15.1.2176.2', '--json']);
    const j = JSON.parse(r.stdout);
    expect(r.code).toBe(1);
    expect(j).toMatchObject({
      build: '15.1.2176.2',
      product: 'Exchange Server 2016',
      cu: 'CU19',
      known: true,
      vulnerable: ['CVE-2021-26855', 'CVE-2021-26857', 'CVE-2021-26858', 'CVE-2021-27065'],
    });
    expect(j.fixes).toEqual([
      expect.objectContaining({ kb: 'KB5000871', build: '15.1.2176.9', kind: 'security_update' }),
      expect.objectContaining({ build: '15.1.2242.4', kind: 'cumulative_update', title: 'CU20' }),
    ]);
    expect(j.verdicts[0].provenance.rule).toMatch(/^affected\[0\]\.ranges\[\d+\]$/);
  });

  it.each([
    ['15.1.2176.9', 'CU19', 'Mar21SU'],
    ['15.01.2176.009', 'CU19', 'Mar21SU'],
    ['15.1.2242.4', 'CU20', null],
    ['15.2.858.5', 'CU9', null],
    ['15.0.1497.12', 'CU23', 'Mar21SU'],
    ['14.3.513.0', 'SP3', 'RU32'],
  ])('%s (%s %s) is not vulnerable and exits 0', async (build, cu, update) => {
    const r = await run(['exchange', build, '--json']);
    const j = JSON.parse(r.stdout);
    expect([r.code, j.cu, j.update?.name ?? null, j.vulnerable, j.known]).toEqual([0, cu, update, [], true]);
  });

  it('Exchange 2010 SP3 before RU32 is affected by CVE-2021-26857 only', async () => {
    const j = JSON.parse((await run(['exchange', '14.3.509.0', '--json'])).stdout);
    expect(j.vulnerable).toEqual(['CVE-2021-26857']);
    expect(j.fixes[0]).toMatchObject({ kb: 'KB5000978', build: '14.3.513.0' });
  });

  it('every March 2021 SU of the reference table is the minimal fix of its CU', async () => {
    const pairs = [
      ['15.0.847.32', '15.0.847.64'],
      ['15.0.1395.4', '15.0.1395.12'],
      ['15.0.1473.3', '15.0.1473.6'],
      ['15.0.1497.2', '15.0.1497.12'],
      ['15.1.1415.2', '15.1.1415.10'],
      ['15.1.1466.3', '15.1.1466.16'],
      ['15.1.1531.3', '15.1.1531.12'],
      ['15.1.1591.10', '15.1.1591.18'],
      ['15.1.1713.5', '15.1.1713.10'],
      ['15.1.1779.2', '15.1.1779.8'],
      ['15.1.1847.3', '15.1.1847.12'],
      ['15.1.1913.5', '15.1.1913.12'],
      ['15.1.1979.3', '15.1.1979.8'],
      ['15.1.2044.4', '15.1.2044.13'],
      ['15.1.2106.2', '15.1.2106.13'],
      ['15.2.221.12', '15.2.221.18'],
      ['15.2.330.5', '15.2.330.11'],
      ['15.2.397.3', '15.2.397.11'],
      ['15.2.464.5', '15.2.464.15'],
      ['15.2.529.5', '15.2.529.13'],
      ['15.2.595.3', '15.2.595.8'],
      ['15.2.659.4', '15.2.659.12'],
      ['15.2.721.2', '15.2.721.13'],
      ['15.2.792.3', '15.2.792.10'],
    ];
    for (const [rtm, su] of pairs) {
      const vulnerable = JSON.parse((await run(['exchange', rtm!, '--json'])).stdout);
      expect(vulnerable.vulnerable, rtm).toHaveLength(4);
      expect(vulnerable.fixes[0], rtm).toMatchObject({
        kind: 'security_update',
        kb: 'KB5000871',
        build: su,
        requires: null,
      });
      const fixed = JSON.parse((await run(['exchange', su!, '--json'])).stdout);
      expect([fixed.vulnerable, fixed.update.name], su).toEqual([[], 'Mar21SU']);
    }
  });

  it('reports an unknown build with its nearest known builds and never as safe', async () => {
    const inside = await run(['exchange', '15.1.2176.5', '--json']);
    const j = JSON.parse(inside.stdout);
    expect([inside.code, j.known, j.cu, j.vulnerable.length]).toEqual([1, false, null, 4]);
    expect(j.nearest.below.build).toBe('15.1.2176.4');
    expect(j.nearest.above.build).toBe('15.1.2176.9');
    const beyond = await run(['exchange', '15.2.99999.1']);
    expect(beyond.code).toBe(1);
    expect(beyond.stdout).toMatch(
      /^Unknown Exchange build 15\.2\.99999\.1: not in the build catalog; nearest known: /,
    );
    expect(beyond.stdout).toMatch(/\nUNKNOWN {2}CVE-2021-26855 CVE-2021-26857 CVE-2021-26858 CVE-2021-27065/);
  });

  it.each(['15.1.2176', 'banana', '15.1.2176.2.1', '', '15.1.2176.x'])(
    'rejects %j with exit 2 and one line',
    async (build) => {
      const r = await run(['exchange', build]);
      expect(r.code).toBe(2);
      expect(r.stdout).toBe('');
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
      expect(r.stderr).toMatch(/^bulwark: .*Exchange build/);
    },
  );
});

describe('bulwark check', () => {
  it('judges the example fleet with provenance and exits 1', async () => {
    const r = await run(['check', '--facts', 'examples/fleet.yaml', '--json']);
    expect(r.code).toBe(1);
    const j = JSON.parse(r.stdout);
    const byAsset = Object.fromEntries(
      j.results.map((x: { asset: string; verdicts: { verdict: string }[] }) => [
        x.asset,
        [...new Set(x.verdicts.map((v) => v.verdict))].sort(),
      ]),
    );
    expect(byAsset).toEqual({
      mail01: ['affected'],
      mail02: ['fixed'],
      'exch-legacy': ['fixed'],
      exch2010: ['affected', 'not_affected'],
      'exch-unknown': ['unknown'],
    });
    const legacy = j.results.find((x: { asset: string }) => x.asset === 'exch-legacy').verdicts[0];
    expect(legacy.provenance.comparison).toMatch(/^KB5000871 is installed and fixes/);
    expect(j.summary).toMatchObject({ assets: 5, exposed_assets: 3 });
  });

  it('exits 0 when nothing is exposed', async () => {
    const dir = tempDir();
    writeFileSync(
      join(dir, 'f.json'),
      JSON.stringify({
        id: 'x',
        products: [{ product: 'microsoft:exchange_server', version: '15.2.858.5' }],
      }),
    );
    const r = await run(['check', '--facts', join(dir, 'f.json')]);
    expect([r.code, r.stdout]).toEqual([
      0,
      'ok  x  (4 verdicts: fixed or not affected)\n\n1 asset(s), 0 exposed.\n',
    ]);
  });

  it('names file, line and field of a bad facts file and exits 2', async () => {
    const dir = tempDir();
    const file = join(dir, 'facts.yaml');
    writeFileSync(
      file,
      'assets:\n  - id: a\n    products:\n      - { product: Microsoft Exchange, version: 15.1.2176.2 }\n',
    );
    const r = await run(['check', '--facts', file]);
    expect(r.code).toBe(2);
    expect(r.stderr).toBe(
      `bulwark: ${file}:4:20: assets[0].products[0].product: expected a product id such as microsoft:exchange_server or pkg:deb/debian/openssl\n`,
    );
  });

  it('a missing facts file is a usage error', async () => {
    const r = await run(['check', '--facts', '/nonexistent/facts.yaml']);
    expect([r.code, r.stderr]).toEqual([2, 'bulwark: /nonexistent/facts.yaml: cannot read (ENOENT)\n']);
  });
});

describe('bulwark advisories', () => {
  it('lists and shows the built-in ProxyLogon pack', async () => {
    const list = JSON.parse((await run(['advisories', 'list', '--json'])).stdout);
    expect(list.advisories).toContainEqual(
      expect.objectContaining({
        id: 'proxylogon-2021-03',
        source: 'built-in',
        kev: expect.arrayContaining(['CVE-2021-26855']),
      }),
    );
    const show = await run(['advisories', 'show', 'proxylogon-2021-03', '--json']);
    const a = JSON.parse(show.stdout);
    expect(a.mitigations.map((m: { id: string }) => m.id)).toEqual([
      'backend-cookie-url-rewrite',
      'disable-unified-messaging',
      'stop-ecp-app-pool',
      'stop-oab-app-pool',
    ]);
    const text = await run(['advisories', 'show', 'nope']);
    expect([text.code, text.stderr]).toEqual([
      2,
      'bulwark: no advisory "nope"; loaded: proxylogon-2021-03 (see: bulwark advisories list)\n',
    ]);
  });

  it('validate: valid pack exits 0; a broken copy exits 1 naming line and field', async () => {
    const pack = join(ROOT, 'src/advisories/packs/proxylogon-2021-03.yaml');
    expect((await run(['advisories', 'validate', pack])).code).toBe(0);
    const dir = tempDir();
    const broken = join(dir, 'broken.yaml');
    const lines = readFileSync(pack, 'utf8').split('\n');
    const i = lines.findIndex((l) => l.includes('introduced: 15.1.2176.2'));
    lines[i] = lines[i]!.replace('introduced: 15.1.2176.2', 'introduced: 15.1.2176');
    writeFileSync(broken, lines.join('\n'));
    const r = await run(['advisories', 'validate', broken]);
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(
      new RegExp(
        `^invalid  ${broken}:${i + 1}:\\d+: affected\\[0\\]\\.ranges\\[\\d+\\]\\.introduced: .*Exchange build`,
      ),
    );
  });

  itCorpus('imports KEV and CVE JSON 5 into the data directory, and commands then use them', async () => {
    const dir = tempDir();
    const cve = join(CORPUS, 'cve-json5/cves/2021/34xxx/CVE-2021-34473.json');
    const kev = join(CORPUS, 'cisa-kev/known_exploited_vulnerabilities.json');
    const r = await run(['--data-dir', dir, 'advisories', 'import', cve, kev, '--json']);
    expect(r.code).toBe(0);
    const j = JSON.parse(r.stdout);
    expect(j.files.map((f: { format: string }) => f.format)).toEqual(['cve5', 'kev']);
    expect(readdirSync(join(dir, 'advisories'))).toEqual(['cve-2021-34473.yaml']);
    expect(existsSync(join(dir, 'kev.json'))).toBe(true);
    const list = JSON.parse((await run(['--data-dir', dir, 'advisories', 'list', '--json'])).stdout);
    const imported = list.advisories.find((a: { id: string }) => a.id === 'cve-2021-34473');
    expect(imported).toMatchObject({ source: 'data-dir', kev: ['CVE-2021-34473'] });
    // ProxyShell is fixed in 2016 CU19 by a later update, so 15.1.2176.9 is exposed to it but not to ProxyLogon.
    const ex = JSON.parse((await run(['--data-dir', dir, 'exchange', '15.1.2176.9', '--json'])).stdout);
    expect(ex.vulnerable).toContain('CVE-2021-34473');
    expect(ex.vulnerable).not.toContain('CVE-2021-26855');
  });

  itCorpus('import writes nothing when any file fails', async () => {
    const dir = tempDir();
    const bad = join(dir, 'bad.json');
    writeFileSync(bad, '{"hello": "world"}');
    const good = join(CORPUS, 'cve-json5/cves/2021/34xxx/CVE-2021-34473.json');
    const r = await run(['--data-dir', dir, 'advisories', 'import', good, bad]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^bulwark: .*bad\.json: cannot tell the format; pass --format/);
    expect(existsSync(join(dir, 'advisories'))).toBe(false);
  });
});

describe('the built executable', () => {
  const bin = join(ROOT, 'bin/bulwark.js');

  it('runs from a shell with the same exit codes', () => {
    const ok = spawnSync(process.execPath, [bin, 'exchange', '15.1.2242.4'], { encoding: 'utf8' });
    expect([ok.status, ok.stdout.split('\n')[0]]).toEqual([
      0,
      'Exchange Server 2016 CU20 (15.1.2242.4), no security update installed since the CU',
    ]);
    const usage = spawnSync(process.execPath, [bin, 'frobnicate'], { encoding: 'utf8' });
    expect(usage.status).toBe(2);
    expect(usage.stderr).toMatch(/unknown command 'frobnicate'/);
  });

  it('prints help and version with exit 0', () => {
    expect(execFileSync(process.execPath, [bin, '--help'], { encoding: 'utf8' })).toMatch(/Usage: bulwark/);
    expect(execFileSync(process.execPath, [bin, '--version'], { encoding: 'utf8' }).trim()).toBe('0.1.0');
  });
});
