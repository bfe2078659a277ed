import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import { beforeAll, describe, expect, it } from 'vitest';
import { corpusPath, describeCorpus, itCorpus } from '../../test/support/corpus.js';
import { loadKnowledgeBase } from '../advisories/index.js';
import { csvCell } from '../core/index.js';
import { type GroundTruth, generateLogs } from '../lab/loggen/index.js';
import { scoreFindings } from '../lab/loggen/truth.js';
import { huntConfig } from './config.js';
import { hunt } from './hunt.js';
import type { HuntResult } from './report/model.js';
import { renderCsv, renderHtml } from './report/render.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const CORPUS = corpusPath();
const HELSECERT = join(CORPUS, 'helsecert-2021-march-exchange');
const PROBE = join(CORPUS, 'signature-base-pr125-httpproxy-probe');
const FIXTURES = fileURLToPath(new URL('./parse/fixtures/', import.meta.url));

const kb = loadKnowledgeBase();
const proxylogon = kb.advisories.find((a) => a.id === 'proxylogon-2021-03')!;

async function run(
  paths: string[],
  opts: { strict?: boolean; sigma?: string[]; iocs?: string[]; host?: string } = {},
): Promise<HuntResult> {
  const config = huntConfig({
    advisories: [{ advisory: proxylogon, file: kb.fileOf.get(proxylogon.id)! }],
    sigmaPaths: opts.sigma ?? [],
    iocFiles: opts.iocs ?? [],
    strict: Boolean(opts.strict),
  });
  return hunt({ paths, host: opts.host, rules: config.rules, assess: config.assess, workers: 1 });
}

/** Findings per (file name, rule file name), e.g. `test-proxylogon-….csv httpproxy-cve-2021-26855-ssrf`. */
function counts(r: HuntResult): Record<string, number> {
  const out: Record<string, number> = {};
  for (const f of r.findings) {
    const rule = f.source
      .split('/')
      .pop()!
      .replace(/\.yml$/, '');
    const key = `${f.file.split(/[/!]/).pop()} ${rule}`;
    out[key] = (out[key] ?? 0) + 1;
  }
  return out;
}

const tmp = () => mkdtempSync(join(tmpdir(), 'bulwark-hunt-'));

describeCorpus(
  'Test-ProxyLogon parity on the HelseCERT incident logs (as Test-ProxyLogon.ps1 reports them)',
  () => {
    let current: HuntResult;
    let strict: HuntResult;
    beforeAll(async () => {
      current = await run([HELSECERT]);
      strict = await run([HELSECERT], { strict: true });
    });

    it('finds the CVE-2021-26855 and Reset-VirtualDirectory hits of the Test-ProxyLogon CSV', () => {
      const c = counts(current);
      expect(c['test-proxylogon-cve-2021-26855-hits.csv httpproxy-cve-2021-26855-ssrf']).toBe(9);
      expect(c['test-proxylogon-cve-2021-26855-hits.csv httpproxy-cve-2021-27065-reset-vdir']).toBe(1);
      expect(c['test-proxylogon-cve-2021-26855-hits.csv httpproxy-cve-2021-26855-ssrf-blog']).toBeUndefined();
      expect(
        counts(strict)['test-proxylogon-cve-2021-26855-hits.csv httpproxy-cve-2021-26855-ssrf-blog'],
      ).toBe(11);
      const reset = current.findings.find((f) => f.source.endsWith('reset-vdir.yml'))!;
      expect(reset).toMatchObject({
        cve: 'CVE-2021-27065',
        stage: 'post_exploitation',
        timestamp: '2021-03-03T06:59:20.359Z',
        line: 12,
      });
      expect(reset.matched).toMatchObject({ HttpStatus: '200' });
    });

    it('reads the reduced ECP excerpt as §9 describes', () => {
      const c = counts(current);
      // The current Test-ProxyLogon regex needs context the excerpt cut off; Volexity's string finds the 2 lines.
      expect(c['ecp-server-log-excerpt-reduced.txt ecp-cve-2021-27065-set-vdir-script']).toBeUndefined();
      expect(c['ecp-server-log-excerpt-reduced.txt ecp-cve-2021-27065-oab-externalurl']).toBe(2);
      expect(counts(strict)['ecp-server-log-excerpt-reduced.txt ecp-cve-2021-27065-set-vdir-blog']).toBe(4);
    });

    it('flags the 8 web shell requests of the IIS excerpt and the 69 scanning rows, split by whether the file existed', () => {
      const c = counts(current);
      const iis =
        (c['iis-w3svc1-webshell-access-excerpt.log web-webshell-accessed'] ?? 0) +
        (c['iis-w3svc1-webshell-access-excerpt.log web-webshell-probed'] ?? 0);
      expect(iis).toBe(8);
      const ip2 = current.findings.filter((f) => f.file.endsWith('ip2-excerpt-reduced.csv'));
      expect(new Set(ip2.map((f) => f.line)).size).toBe(69);
      const accessed = ip2.filter((f) => f.stage === 'post_exploitation');
      expect(accessed.length).toBeGreaterThan(0);
      expect(new Set(accessed.map((f) => f.matched.UrlStem ?? f.matched['cs-uri-stem']))).toEqual(
        new Set(['/owa/auth/RedirSuiteServerProxy.aspx']),
      );
      expect(accessed.every((f) => f.timestamp?.startsWith('2021-03-06'))).toBe(true);
      const iisFile = current.files.find((f) => f.file.endsWith('iis-w3svc1-webshell-access-excerpt.log'))!;
      // 8 requests and 2 `-----` separators; only lines a rule could match are parsed, so the separators are not.
      expect(iisFile).toMatchObject({ type: 'iis-w3c', lines: 10, records: 8 });
    });

    it('judges the server compromised with a timeline, attacker addresses and coverage', () => {
      expect(current.hosts).toHaveLength(1);
      const h = current.hosts[0]!;
      expect(h.verdict).toBe('compromised');
      expect(h.first_seen).toBe('2021-03-03T06:49:42.162Z');
      expect(h.cves).toEqual(['CVE-2021-26855', 'CVE-2021-27065']);
      expect(h.attacker_ips[0]).toMatchObject({ ip: '130.255.189.21', worst: 'post_exploitation' });
      expect(h.attacker_ips.map((a) => a.ip)).toEqual(
        expect.arrayContaining(['139.162.202.236', '67.205.176.9']),
      );
      expect(h.coverage.find((c) => c.type === 'exchange-httpproxy')?.reaches_back).toBe(false);
      expect(h.next_steps[0]).toMatch(/breached/);
      expect(h.timeline[0]!.timestamp! <= h.timeline.at(-1)!.timestamp!).toBe(true);
    });
  },
);

describeCorpus('probes are not compromise', () => {
  it('reads the scanner x.js probe row as probed; only the broad 2021-03-02 condition calls it an attempt', async () => {
    const r = await run([PROBE]);
    expect(r.hosts.map((h) => h.verdict)).toEqual(['probed']);
    expect(counts(r)['httpproxy-owa-x-js-scanner-probe.log httpproxy-cve-2021-26855-ssrf']).toBeUndefined();
    const strict = await run([PROBE], { strict: true });
    expect(counts(strict)['httpproxy-owa-x-js-scanner-probe.log httpproxy-cve-2021-26855-ssrf-blog']).toBe(1);
    expect(strict.hosts[0]!.verdict).toBe('exploitation_attempted');
  });

  it('reports nothing on the benign samples except the one labelled web shell request', async () => {
    const r = await run([join(CORPUS, 'exchange-logs-benign')]);
    expect(r.findings.map((f) => f.file.split('/').pop())).toEqual(['iis-w3c-webshell-access-example.log']);
    expect(r.files.filter((f) => f.type === 'exchange-httpproxy')).toHaveLength(8);
    expect(r.skipped.map((s) => s.file.split('/').pop())).toContain('messagetracking.log');
  });
});

describeCorpus('Sigma rules from the user', () => {
  it('loads the SigmaHQ Exchange rules unmodified and names every rule it cannot evaluate', async () => {
    const r = await run([HELSECERT], { sigma: [join(CORPUS, 'sigma-exchange')] });
    expect(r.rules.loaded).toBeGreaterThan(30);
    expect(r.rules.unsupported.length).toBe(21);
    for (const u of r.rules.unsupported)
      expect(u.reason).toMatch(/log source .* is not a log Bulwark reads|has no mapping/);
    expect(r.rules.unsupported.map((u) => u.rule)).toContain('HAFNIUM Exchange Exploitation Activity');
    // The SigmaHQ HAFNIUM web rule wants POSTs; the excerpt's web shell requests are GETs (§9: 0 hits).
    expect(r.findings.filter((f) => f.title === 'Exchange Exploitation Used by HAFNIUM')).toHaveLength(0);
    expect(r.findings.some((f) => f.author === 'Florian Roth (Nextron Systems)')).toBe(false);
  });
});

describe('inputs', () => {
  itCorpus('reads .zip and .gz bundles like folders', async () => {
    const dir = tmp();
    const zip = join(dir, 'EXCH01.zip');
    execFileSync('python3', [
      '-c',
      `import zipfile,sys,os\nz=zipfile.ZipFile(sys.argv[1],'w',zipfile.ZIP_DEFLATED)\nfor f in sorted(os.listdir(sys.argv[2])): z.write(os.path.join(sys.argv[2],f),'Logging/'+f)\nz.close()`,
      zip,
      HELSECERT,
    ]);
    writeFileSync(
      join(dir, 'probe.log.gz'),
      gzipSync(readFileSync(join(PROBE, 'httpproxy-owa-x-js-scanner-probe.log'))),
    );
    const r = await run([zip, join(dir, 'probe.log.gz')]);
    const folder = await run([HELSECERT]);
    expect(r.findings.filter((f) => f.file.startsWith('EXCH01.zip!')).length).toBe(folder.findings.length);
    expect(r.hosts.map((h) => [h.host, h.verdict])).toEqual([
      ['EXCH01', 'compromised'],
      ['probe.log', 'probed'],
    ]);
  });

  itCorpus('reads UTF-16LE with BOM and CRLF line ends', async () => {
    const dir = tmp();
    const text = readFileSync(join(HELSECERT, 'test-proxylogon-cve-2021-26855-hits.csv'), 'utf8').replace(
      /\r?\n/g,
      '\r\n',
    );
    writeFileSync(
      join(dir, 'utf16.csv'),
      Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from(text, 'utf16le')]),
    );
    const r = await run([dir]);
    expect(counts(r)['utf16.csv httpproxy-cve-2021-26855-ssrf']).toBe(9);
  });

  itCorpus('counts binary, over-long and truncated lines without failing', async () => {
    const dir = tmp();
    const log = readFileSync(join(HELSECERT, 'test-proxylogon-cve-2021-26855-hits.csv'), 'utf8').split('\n');
    const hostile = [
      ...log.slice(0, 5),
      `x${'A'.repeat(200_000)}`,
      'ServerInfo~bin\u0000ary,\u0000\u0001',
      ...log.slice(5),
    ]
      .join('\n')
      .slice(0, -30);
    writeFileSync(join(dir, 'hostile.csv'), hostile);
    const r = await run([dir]);
    const f = r.files[0]!;
    expect(f.truncated).toBe(1);
    expect(f.malformed).toBeGreaterThanOrEqual(1);
    expect(f.samples.map((s) => s.reason)).toEqual(
      expect.arrayContaining(['line over the length bound', 'binary content']),
    );
    expect(counts(r)['hostile.csv httpproxy-cve-2021-26855-ssrf']).toBeGreaterThanOrEqual(8);
  });

  it('finds CVE-2021-26857 in exported Application event logs and CVE-2021-26858 in OAB generator logs', async () => {
    const r = await run([FIXTURES], { host: 'EXCH01' });
    const byCve = (cve: string) => r.findings.filter((f) => f.cve === cve);
    expect(new Set(byCve('CVE-2021-26857').map((f) => f.file.split('/').pop()))).toEqual(
      new Set(['application-wevtutil.xml', 'application-eventviewer.csv']),
    );
    expect(byCve('CVE-2021-26858')).toHaveLength(1);
    expect(byCve('CVE-2021-26858')[0]!.stage).toBe('post_exploitation');
  });
});

describe('file-system checks', () => {
  itCorpus(
    'finds web shells in their places, LSASS dumps, staged archives and IOC hashes and paths',
    async () => {
      const root = join(tmp(), 'EXCH01');
      const put = (rel: string, content: string) => {
        const p = join(root, rel);
        mkdirSync(join(p, '..'), { recursive: true });
        writeFileSync(p, content);
      };
      const shell = '<%@ Page Language="Jscript"%><%eval(Request.Item["x"],"unsafe");%>';
      put('inetpub/wwwroot/aspnet_client/system_web/x.aspx', shell);
      put('Program Files/Microsoft/Exchange Server/V15/FrontEnd/HttpProxy/owa/auth/logon.aspx', 'standard');
      put('Program Files/Microsoft/Exchange Server/V15/FrontEnd/HttpProxy/owa/auth/shel90.aspx', 'other');
      put('Windows/Temp/lsass.dmp', 'MDMP');
      put('ProgramData/it.zip', 'PK');
      const iocs = join(root, '..', 'iocs.txt');
      writeFileSync(iocs, `# test list\n${createHash('sha256').update(shell).digest('hex')}\n`);
      const r = await run([root], {
        iocs: [
          iocs,
          join(
            CORPUS,
            'azure-sentinel-mstic-iocs-march2021/MSTICIoCs-ExchangeServerVulnerabilitiesDisclosedMarch2021.csv',
          ),
        ],
      });
      const rules = r.findings.map((f) => `${f.rule} ${f.raw.split('/').pop()}`).sort();
      expect(rules).toEqual([
        'file-lsass-dump lsass.dmp',
        'file-programdata-archive it.zip',
        'file-webshell-aspnet-client x.aspx',
        'file-webshell-auth-folder shel90.aspx',
        'ioc-path shel90.aspx',
        'ioc-sha256 x.aspx',
      ]);
      expect(r.hosts.map((h) => [h.host, h.verdict])).toEqual([['EXCH01', 'compromised']]);
    },
  );
});

describe('generated logs (the benchmark corpus)', () => {
  let truth: GroundTruth;
  let result: HuntResult;
  beforeAll(async () => {
    const out = join(tmp(), 'logs');
    truth = await generateLogs({
      out,
      bytes: 24e6,
      seed: 2021,
      servers: 4,
      attacks: 3,
      perServer: [
        {},
        { mix: { 'proxylogon-chain': 0, 'autodiscover-only': 0 } },
        { mix: { 'proxylogon-chain': 0, 'ssrf-probe': 0, 'webshell-scan': 0 } },
        { attacks: 0 },
      ],
      scannerIps: 'unlisted',
    });
    result = await run([out]);
  });

  it('finds every planted sequence and nothing on the benign remainder', () => {
    const score = scoreFindings(truth, result.findings);
    expect(score.missed).toEqual([]);
    expect(score.outside).toEqual([]);
    expect(score.ok).toBe(true);
  });

  it('gives each server the verdict its planted activity implies', () => {
    expect(result.hosts.map((h) => [h.host, h.verdict])).toEqual(
      truth.servers.map((s) => [s.name, s.verdict]),
    );
  });

  it('gives the same result from the built CLI with worker threads', () => {
    const bin = join(ROOT, 'bin/bulwark.js');
    const cli = spawnSync(process.execPath, [bin, 'hunt', truth.out, '--workers', '2', '--json'], {
      encoding: 'utf8',
      maxBuffer: 1 << 28,
    });
    expect(cli.status).toBe(1);
    const parsed = JSON.parse(cli.stdout) as HuntResult;
    const key = (r: HuntResult) => r.findings.map((f) => `${f.file}:${f.line}:${f.rule}`).sort();
    expect(key(parsed)).toEqual(key(result));
    expect(parsed.hosts.map((h) => h.verdict)).toEqual(result.hosts.map((h) => h.verdict));
  });
});

describe('reports', () => {
  it('neutralises spreadsheet formulas and quotes CSV cells', () => {
    expect(csvCell('=HYPERLINK("http://x")')).toBe(`"'=HYPERLINK(""http://x"")"`);
    expect(csvCell('+cmd|calc')).toBe(`"'+cmd|calc"`);
    expect(csvCell('plain')).toBe('"plain"');
  });

  it('escapes hostile log content in HTML and CSV and keeps the page self-contained', async () => {
    const dir = tmp();
    const hostile = '<script>alert(1)</script>';
    const fields =
      '#Software: Microsoft Internet Information Services 10.0\n#Fields: date time s-ip cs-method cs-uri-stem cs-uri-query s-port cs-username c-ip cs(User-Agent) cs(Referer) sc-status sc-substatus sc-win32-status time-taken\n';
    writeFileSync(
      join(dir, 'u_ex210303.log'),
      `${fields}2021-03-03 01:02:03 10.0.0.1 GET /owa/auth/evil.aspx ${hostile} 443 - 203.0.113.9 =cmd|x - 200 0 0 1\n`,
    );
    const r = await run([dir], { host: 'EXCH<1>' });
    const html = renderHtml(r, { title: 'Report', generated: '2026-01-01' });
    expect(html).not.toContain('<script>');
    expect(html).toContain('EXCH&lt;1&gt;');
    expect(html).toContain('Content-Security-Policy" content="default-src \'none\'');
    expect(html).not.toMatch(/<(link|img|iframe)\b|src=|https?:\/\/[^"<\s]*\.(css|js)/i);
    const csv = renderCsv(r);
    expect(csv.split('\r\n')[0]).toBe(
      '"host","verdict","timestamp","stage","severity","cve","rule","title","source","file","line","client","matched","raw"',
    );
    expect(csv).not.toMatch(/,"?=cmd/);
  });
});

describe('the CLI', () => {
  const bin = join(ROOT, 'bin/bulwark.js');

  itCorpus(
    'exits 0 when every server is clean, 1 with findings, 2 when there is nothing to judge',
    async () => {
      const clean = join(tmp(), 'clean');
      await generateLogs({ out: clean, bytes: 2e6, seed: 5, attacks: 0 });
      const ok = spawnSync(process.execPath, [bin, 'hunt', clean], { encoding: 'utf8' });
      expect([ok.status, ok.stdout.split('\n')[0]]).toEqual([0, 'Host EXCH01: CLEAN']);
      const found = spawnSync(process.execPath, [bin, 'hunt', HELSECERT, '--csv'], { encoding: 'utf8' });
      expect(found.status).toBe(1);
      expect(found.stdout.split('\r\n').length).toBeGreaterThan(100);
      const empty = tmp();
      copyFileSync(join(HELSECERT, 'SOURCE.md'), join(empty, 'notes.md'));
      const none = spawnSync(process.execPath, [bin, 'hunt', empty], { encoding: 'utf8' });
      expect([none.status, none.stderr]).toEqual([
        2,
        expect.stringMatching(/^bulwark: nothing to judge under .*not a recognised log/),
      ]);
    },
  );

  itCorpus('writes an HTML report with --html and prints one JSON object with --json', () => {
    const html = join(tmp(), 'report.html');
    const r = spawnSync(process.execPath, [bin, 'hunt', HELSECERT, PROBE, '--json', '--html', html], {
      encoding: 'utf8',
    });
    const j = JSON.parse(r.stdout);
    expect(j.hosts.map((h: { verdict: string }) => h.verdict)).toEqual(['compromised', 'probed']);
    for (const f of j.findings)
      expect(Object.keys(f)).toEqual(expect.arrayContaining(['cve', 'rule', 'file', 'line', 'timestamp']));
    expect(readFileSync(html, 'utf8')).toMatch(/^<!doctype html>[\s\S]*COMPROMISED[\s\S]*<\/html>\n$/);
  });
});
