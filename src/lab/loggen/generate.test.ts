import { createHash } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative, sep } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { ATTACKER_IPS, type GroundTruth, generateLogs, HTTPPROXY_FIELDS, scoreFindings } from './index.js';

const dirs: string[] = [];
function tmp(): string {
  const d = mkdtempSync(join(tmpdir(), 'bulwark-gen-'));
  dirs.push(d);
  return d;
}
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

function walk(root: string): string[] {
  const out: string[] = [];
  const go = (d: string) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      if (e.isDirectory()) go(p);
      else out.push(relative(root, p).split(sep).join('/'));
    }
  };
  go(root);
  return out.sort();
}

function treeHash(root: string): string {
  const h = createHash('sha256');
  for (const f of walk(root)) {
    h.update(`${f}\0`);
    h.update(readFileSync(join(root, f)));
  }
  return h.digest('hex');
}

function treeBytes(root: string): number {
  return walk(root).reduce((a, f) => a + readFileSync(join(root, f)).length, 0);
}

/** Minimal RFC 4180 field splitter for one line (no embedded line breaks in these logs). */
function splitCsv(line: string): string[] {
  const out: string[] = [];
  let i = 0;
  for (;;) {
    if (line[i] === '"') {
      let v = '';
      i++;
      for (;;) {
        const q = line.indexOf('"', i);
        if (q < 0) throw new Error(`unterminated quote in: ${line.slice(0, 120)}`);
        v += line.slice(i, q);
        if (line[q + 1] === '"') {
          v += '"';
          i = q + 2;
        } else {
          i = q + 1;
          break;
        }
      }
      out.push(v);
      if (i === line.length) return out;
      if (line[i] !== ',') throw new Error(`text after closing quote in: ${line.slice(0, 120)}`);
      i++;
    } else {
      const c = line.indexOf(',', i);
      if (c < 0) {
        out.push(line.slice(i));
        return out;
      }
      out.push(line.slice(i, c));
      i = c + 1;
    }
  }
}

const FORBIDDEN = [
  'ServerInfo~',
  'X-BEResource',
  'Set-OabVirtualDirectory',
  'Download failed and temporary file',
  'antSword',
  ...ATTACKER_IPS,
];

describe('generateLogs', () => {
  it('is deterministic for a seed (byte-identical trees) and differs between seeds', async () => {
    const a = tmp();
    const b = tmp();
    const c = tmp();
    const ga = await generateLogs({ out: a, bytes: 2_000_000, seed: 42 });
    const gb = await generateLogs({ out: b, bytes: 2_000_000, seed: 42 });
    await generateLogs({ out: c, bytes: 2_000_000, seed: 43 });
    expect(treeHash(a)).toBe(treeHash(b));
    expect(treeHash(a)).not.toBe(treeHash(c));
    expect({ ...ga, out: '' }).toEqual({ ...gb, out: '' });
  });

  it.each([2_000_000, 20_000_000])('writes %d bytes within ±5%%', async (bytes) => {
    const out = tmp();
    const gt = await generateLogs({ out, bytes, seed: 1 });
    const actual = treeBytes(out);
    expect(actual).toBe(gt.bytes);
    expect(Math.abs(actual - bytes) / bytes).toBeLessThan(0.05);
  });

  it('rejects bad options', async () => {
    await expect(generateLogs({ out: tmp(), bytes: 0, seed: 1 })).rejects.toThrow(/bytes/);
    await expect(generateLogs({ out: tmp(), bytes: 1000, seed: 1, servers: 0 })).rejects.toThrow(/servers/);
    await expect(generateLogs({ out: tmp(), bytes: 1000, seed: 1, start: 'yesterday' })).rejects.toThrow(
      /start/,
    );
  });

  it('keeps the advisory IOC address list in sync with the ProxyLogon pack', () => {
    const pack = parseYaml(
      readFileSync(new URL('../../advisories/packs/proxylogon-2021-03.yaml', import.meta.url), 'utf8'),
    ) as { iocs: { ips: string[] } };
    expect([...ATTACKER_IPS].sort()).toEqual([...pack.iocs.ips].sort());
  });
});

describe('a generated 20 MB tree with two servers', () => {
  let out: string;
  let gt: GroundTruth;
  let files: string[];
  const text = new Map<string, string[]>();
  const lines = (f: string): string[] => {
    let l = text.get(f);
    if (!l) {
      const raw = readFileSync(join(out, f), 'latin1');
      expect(raw.endsWith('\n')).toBe(true);
      l = raw.slice(0, -1).split('\n');
      text.set(f, l);
    }
    return l;
  };
  const planted = new Set<string>();

  beforeAll(async () => {
    out = tmp();
    gt = await generateLogs({ out, bytes: 20_000_000, seed: 2021, servers: 2, attacks: 6 });
    files = walk(out);
    for (const s of gt.sequences) for (const l of s.lines) planted.add(`${l.file}:${l.line}`);
  });

  it('lays out the Exchange tree per server', () => {
    for (const s of ['EXCH01', 'EXCH02']) {
      for (const p of [
        'Owa',
        'Ecp',
        'Ews',
        'Mapi',
        'Autodiscover',
        'Eas',
        'Oab',
        'PowerShell',
        'RpcHttp',
        'OwaCalendar',
      ]) {
        expect(
          files.some((f) => new RegExp(`^${s}/Logging/HttpProxy/${p}/HttpProxy_\\d{10}-1\\.LOG$`).test(f)),
        ).toBe(true);
      }
      expect(files.some((f) => /^EXCH0\d\/Logging\/ECP\/Server\/ECPServer\d{8}-1\.LOG$/.test(f))).toBe(true);
      expect(
        files.some((f) => /^EXCH0\d\/Logging\/ECP\/Activity\/ECPActivity_\d+_\d{8}-1\.LOG$/.test(f)),
      ).toBe(true);
      expect(files.some((f) => /^EXCH0\d\/Logging\/OABGeneratorLog\/OABGenerator\d{8}-1\.LOG$/.test(f))).toBe(
        true,
      );
      expect(files).toContain(`${s}/inetpub/logs/LogFiles/W3SVC1/u_ex210101.log`);
      expect(files).toContain(`${s}/inetpub/logs/LogFiles/W3SVC2/u_ex210101.log`);
    }
    expect(gt.servers.map((s) => s.domain)).toEqual(['contoso.com', 'fabrikam.com']);
    expect(gt.sequences).toHaveLength(12);
  });

  it('writes ASCII only', () => {
    for (const f of files) expect(readFileSync(join(out, f)).some((b) => b > 0x7f)).toBe(false);
  });

  it('gives every HttpProxy file the Exchange header and 74-value rows', () => {
    const proxy = files.filter((f) => f.includes('/HttpProxy/'));
    expect(proxy.length).toBeGreaterThan(100);
    let quoted = 0;
    for (const f of proxy) {
      const l = lines(f);
      expect(l[0]).toBe('#Software: Microsoft Exchange Server');
      expect(l[1]).toMatch(/^#Version: 15\.0[12]\.\d{4}\.\d{3}$/);
      expect(l[2]).toBe('#Log-type: HttpProxy Logs');
      expect(l[3]).toMatch(/^#Date: \d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
      expect(l[4]).toBe(`#Fields: ${HTTPPROXY_FIELDS.join(',')}`);
      const columns = l[4]!.slice('#Fields: '.length).split(',');
      expect(columns).toHaveLength(74);
      const protocol = f.split('/')[3];
      for (let i = 5; i < l.length; i++) {
        const v = splitCsv(l[i]!);
        if (v.length !== columns.length) throw new Error(`${f}:${i + 1}: ${v.length} fields`);
        expect(v[7]).toBe(protocol);
        if (l[i]!.includes('"')) quoted++;
      }
    }
    expect(quoted).toBeGreaterThan(0);
  });

  it('gives ECP, OAB generator and IIS files their headers and well-formed lines', () => {
    for (const f of files.filter((f) => !f.includes('/HttpProxy/'))) {
      const l = lines(f);
      if (f.includes('/inetpub/')) {
        expect(l.slice(0, 2)).toEqual([
          '#Software: Microsoft Internet Information Services 10.0',
          '#Version: 1.0',
        ]);
        expect(l[3]).toBe(
          '#Fields: date time s-ip cs-method cs-uri-stem cs-uri-query s-port cs-username c-ip cs(User-Agent) cs(Referer) sc-status sc-substatus sc-win32-status time-taken',
        );
        for (const x of l.slice(4)) {
          const v = x.split(' ');
          if (v.length !== 15) throw new Error(`${f}: ${v.length} fields: ${x}`);
          expect(v[6]).toBe(f.includes('/W3SVC1/') ? '443' : '444');
        }
      } else {
        expect(l[0]).toBe('#Software: Microsoft Exchange Server');
        expect(l[4]).toMatch(/^#Fields: /);
        const n = l[4]!.split(',').length;
        for (const x of l.slice(5)) {
          if (splitCsv(x).length !== n) throw new Error(`${f}: field count: ${x}`);
        }
      }
    }
  });

  it('records planted lines that exist at file:line with the expected content', () => {
    for (const s of gt.sequences) {
      expect(s.lines.length).toBeGreaterThan(0);
      expect(ATTACKER_IPS).toContain(s.attackerIp);
      for (const p of s.lines) {
        const line = lines(p.file)[p.line - 1];
        expect(line, `${p.file}:${p.line}`).toBeDefined();
        const l = line!;
        const iisTime = `${p.timestamp.slice(0, 10)} ${p.timestamp.slice(11, 19)}`;
        if (p.log === 'iis-fe' || p.log === 'iis-be') expect(l.startsWith(iisTime)).toBe(true);
        else expect(l.startsWith(p.timestamp)).toBe(true);
        if (p.log === 'httpproxy' || p.log === 'iis-fe') expect(l).toContain(s.attackerIp);
        if (p.log === 'iis-be') expect(l).toMatch(/ 444 [A-Z]+\\EXCH0\d\$ /);
        if (p.log === 'oabgen') expect(l).toContain('Download failed and temporary file');
        if (p.log === 'ecp-server') expect(l).toContain('S:CMD=');
        if (s.kind === 'proxylogon-chain' && p.log === 'httpproxy' && p.stage === 'exploitation') {
          expect(l).toContain('ServerInfo~');
          expect(l).toContain('X-BEResource-Cookie');
        }
        if (s.kind === 'ssrf-probe' && p.log === 'httpproxy')
          expect(l).toContain(',ServerInfo~localhost/ecp/default.flt?,');
      }
    }
  });

  it('plants each kind with its expected CVE, stage and verdict', () => {
    const kinds = new Map(gt.sequences.map((s) => [s.kind, s]));
    expect([...kinds.keys()].sort()).toEqual([
      'autodiscover-only',
      'proxylogon-chain',
      'ssrf-probe',
      'webshell-scan',
    ]);
    const chain = kinds.get('proxylogon-chain')!;
    expect(chain).toMatchObject({
      cve: 'CVE-2021-26855',
      stage: 'post_exploitation',
      verdict: 'compromised',
    });
    expect(chain.cves).toEqual(['CVE-2021-26855', 'CVE-2021-26858', 'CVE-2021-27065']);
    expect(chain.webshell).toMatch(/^\/(aspnet_client|owa\/auth)\/[^/]+\.aspx$/);
    expect(kinds.get('ssrf-probe')).toMatchObject({
      cve: 'CVE-2021-26855',
      stage: 'probe',
      verdict: 'probed',
    });
    expect(kinds.get('autodiscover-only')).toMatchObject({
      cve: 'CVE-2021-26855',
      stage: 'exploitation',
      verdict: 'exploitation_attempted',
    });
    expect(kinds.get('webshell-scan')).toMatchObject({ cve: null, stage: 'probe', verdict: 'probed' });
  });

  it('keeps benign lines free of ProxyLogon indicators and attacker addresses', () => {
    let benign = 0;
    for (const f of files) {
      const l = lines(f);
      for (let i = 0; i < l.length; i++) {
        if (planted.has(`${f}:${i + 1}`)) continue;
        const x = l[i]!;
        benign++;
        for (const bad of FORBIDDEN)
          if (x.includes(bad)) throw new Error(`${f}:${i + 1} contains ${bad}: ${x}`);
      }
    }
    expect(benign).toBeGreaterThan(10_000);
  });

  it('scores findings against the ground truth', () => {
    const one = gt.sequences.map((s) => ({
      file: join(out, s.lines[0]!.file),
      line: s.lines[0]!.line,
      rule: 'r',
    }));
    expect(scoreFindings(gt, one).ok).toBe(true);
    const relativeToRoot = gt.sequences
      .slice(1)
      .map((s) => ({ file: s.lines.at(-1)!.file, line: s.lines.at(-1)!.line }));
    const benign = { file: 'EXCH01/inetpub/logs/LogFiles/W3SVC1/u_ex210101.log', line: 5 };
    expect(planted.has(`${benign.file}:${benign.line}`)).toBe(false);
    const score = scoreFindings(gt, [...relativeToRoot, benign], { root: out });
    expect(score.ok).toBe(false);
    expect(score.missed.map((s) => s.id)).toEqual([gt.sequences[0]!.id]);
    expect(score.outside).toEqual([benign]);
    expect(Object.values(score.byKind).reduce((a, k) => a + k.total, 0)).toBe(gt.sequences.length);
  });

  it("agrees with Test-ProxyLogon's checks: hits only on planted lines, on every full chain", () => {
    // 26855 (current rule), 27065 Reset-VDir rule (Ecp, 200), 27065 ECP Server regex, 26858 OAB phrase.
    const hits = new Set<string>();
    const ecp27065 = /Set-.+VirtualDirectory.+?(?=Url).+<\w+.*>(.*?)<\/\w+>.+?(?=VirtualDirectory)/;
    for (const f of files) {
      const l = lines(f);
      if (f.includes('/HttpProxy/')) {
        for (let i = 5; i < l.length; i++) {
          const v = splitCsv(l[i]!);
          const anchor = (v[15] ?? '').toLowerCase();
          const like = anchor.startsWith('serverinfo~') && anchor.indexOf('/', 11) >= 0;
          if (
            like &&
            !/^serverinfo~.*\/autodiscover/.test(anchor) &&
            !anchor.startsWith('serverinfo~localhost')
          ) {
            hits.add(`${f}:${i + 1}`);
          }
          if (
            f.includes('/Ecp/') &&
            /^serverinfo~.*\/.*reset.*virtualdirectory#$/.test(anchor) &&
            v[19] === '200'
          ) {
            hits.add(`${f}:${i + 1}`);
          }
        }
      } else if (f.includes('/ECP/Server/') || f.includes('/OABGeneratorLog/')) {
        l.forEach((x, i) => {
          if (ecp27065.test(x) || x.includes('Download failed and temporary file')) hits.add(`${f}:${i + 1}`);
        });
      }
    }
    for (const h of hits) expect(planted.has(h), h).toBe(true);
    for (const s of gt.sequences) {
      const n = s.lines.filter((p) => hits.has(`${p.file}:${p.line}`)).length;
      if (s.kind === 'proxylogon-chain') expect(n, s.id).toBeGreaterThanOrEqual(8);
      else expect(n, s.id).toBe(0);
    }
  });
});

describe('per-server mixes', () => {
  it('plant each server its own kinds', async () => {
    const gt = await generateLogs({
      out: tmp(),
      bytes: 4_000_000,
      seed: 9,
      servers: 4,
      perServer: [
        {},
        { mix: { 'proxylogon-chain': 0, 'autodiscover-only': 0 } },
        { mix: { 'proxylogon-chain': 0 }, attacks: 3 },
        { attacks: 0 },
      ],
    });
    const kinds = (server: string) =>
      [...new Set(gt.sequences.filter((s) => s.server === server).map((s) => s.kind))].sort();
    expect(kinds('EXCH01')).toEqual(['autodiscover-only', 'proxylogon-chain', 'ssrf-probe', 'webshell-scan']);
    expect(kinds('EXCH02')).toEqual(['ssrf-probe', 'webshell-scan']);
    expect(kinds('EXCH03')).toEqual(['autodiscover-only', 'ssrf-probe', 'webshell-scan']);
    expect(kinds('EXCH04')).toEqual([]);
    expect(gt.sequences.filter((s) => s.server === 'EXCH02')).toHaveLength(5);
    expect(gt.servers.map((s) => s.verdict)).toEqual([
      'compromised',
      'probed',
      'exploitation_attempted',
      'clean',
    ]);
  });

  it('expects insufficient_logs for a clean host whose logs start after the exploitation start', async () => {
    const gt = await generateLogs({
      out: tmp(),
      bytes: 1_000_000,
      seed: 9,
      attacks: 0,
      start: '2021-03-01T00:00:00Z',
    });
    expect(gt.servers[0]!.verdict).toBe('insufficient_logs');
  });

  it('can draw scanner addresses from outside the IOC list', async () => {
    const gt = await generateLogs({
      out: tmp(),
      bytes: 2_000_000,
      seed: 9,
      attacks: 8,
      scannerIps: 'unlisted',
    });
    for (const s of gt.sequences) {
      const scanner = s.kind === 'ssrf-probe' || s.kind === 'webshell-scan';
      expect(ATTACKER_IPS.includes(s.attackerIp), s.id).toBe(!scanner);
      if (scanner) expect(s.attackerIp).toMatch(/^(198\.51\.100|203\.0\.113)\./);
    }
  });
});

describe('benign-only trees', () => {
  it('plant nothing when attacks is 0', async () => {
    const out = tmp();
    const gt = await generateLogs({ out, bytes: 3_000_000, seed: 5, attacks: 0 });
    expect(gt.sequences).toEqual([]);
    for (const f of walk(out)) {
      const x = readFileSync(join(out, f), 'latin1');
      for (const bad of FORBIDDEN) expect(x.includes(bad), `${f}: ${bad}`).toBe(false);
    }
  });
});
