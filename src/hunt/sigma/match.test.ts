import { readFileSync } from 'node:fs';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';
import { corpusPath, describeCorpus } from '../../../test/support/corpus.js';
import { compileRule, type LoadedRule, loadSigmaRule } from './index.js';
import { compiled, iisRecord, prefilterHolds, proxyRecord, record } from './sigma.testkit.js';

const CORPUS = pathToFileURL(`${corpusPath('sigma-exchange')}/`);

function corpusRule(path: string): LoadedRule {
  const file = fileURLToPath(new URL(path, CORPUS));
  const r = loadSigmaRule(readFileSync(file, 'utf8'), file);
  if (r.kind !== 'rule') throw new Error(r.reason);
  return r;
}

/** Matches a single field `f` of a native-named record (ECP server log: any `EventData.*` name is a column). */
function one(detection: string, value: string | undefined, extra: Record<string, string> = {}): boolean {
  const rule = compiled(detection, 'exchange-ecp-server', 'product: exchange, service: ecp-server');
  const fields: Record<string, string> = { ...extra };
  if (value !== undefined) fields['EventData.F'] = value;
  const rec = record('exchange-ecp-server', fields, Object.values(fields).join(','));
  const m = rule.match(rec);
  if (m !== undefined)
    expect(prefilterHolds(rule, rec.raw), `prefilter ${JSON.stringify(rule.literals)}`).toBe(true);
  return m !== undefined;
}

const F = 'EventData.F';

describe('string values', () => {
  it('equality is whole-value and case-insensitive; |cased is not', () => {
    expect(one(`s:\n  ${F}: 'Set-Mailbox'\ncondition: s`, 'set-MAILBOX')).toBe(true);
    expect(one(`s:\n  ${F}: 'Set-Mailbox'\ncondition: s`, 'Set-Mailbox2')).toBe(false);
    expect(one(`s:\n  ${F}|cased: 'Set-Mailbox'\ncondition: s`, 'set-mailbox')).toBe(false);
    expect(one(`s:\n  ${F}|cased: 'Set-Mailbox'\ncondition: s`, 'Set-Mailbox')).toBe(true);
    expect(one(`s:\n  ${F}|contains|cased: 'Mail'\ncondition: s`, 'xMailx')).toBe(true);
    expect(one(`s:\n  ${F}|contains|cased: 'Mail'\ncondition: s`, 'xmailx')).toBe(false);
  });

  it('contains, startswith, endswith', () => {
    expect(one(`s:\n  ${F}|contains: 'oabvirtual'\ncondition: s`, 'Set-OABVirtualDirectory')).toBe(true);
    expect(one(`s:\n  ${F}|contains: 'oabvirtual'\ncondition: s`, 'Set-OwaVirtualDirectory')).toBe(false);
    expect(one(`s:\n  ${F}|startswith: 'set-'\ncondition: s`, 'Set-X')).toBe(true);
    expect(one(`s:\n  ${F}|startswith: 'set-'\ncondition: s`, 'xSet-X')).toBe(false);
    expect(one(`s:\n  ${F}|endswith: '.ASPX'\ncondition: s`, '/owa/auth/x.aspx')).toBe(true);
    expect(one(`s:\n  ${F}|endswith: '.ASPX'\ncondition: s`, '/owa/auth/x.aspx.js')).toBe(false);
  });

  it('a list is OR, |all makes it AND, |contains|all needs every piece', () => {
    const anyOf = `s:\n  ${F}|contains:\n    - alpha\n    - beta\ncondition: s`;
    expect(one(anyOf, 'xxbetaxx')).toBe(true);
    expect(one(anyOf, 'gamma')).toBe(false);
    const allOf = `s:\n  ${F}|contains|all:\n    - alpha\n    - beta\ncondition: s`;
    expect(one(allOf, 'beta then ALPHA')).toBe(true);
    expect(one(allOf, 'alpha only')).toBe(false);
  });

  it('wildcards * and ? with backslash escapes', () => {
    expect(one(`s:\n  ${F}: 'ServerInfo~*/*'\ncondition: s`, 'ServerInfo~a]@b:444/ecp/x')).toBe(true);
    expect(one(`s:\n  ${F}: 'ServerInfo~*/*'\ncondition: s`, 'ServerInfo~a]@b:444')).toBe(false);
    expect(one(`s:\n  ${F}: 'prog?.exe'\ncondition: s`, 'progA.exe')).toBe(true);
    expect(one(`s:\n  ${F}: 'prog?.exe'\ncondition: s`, 'prog.exe')).toBe(false);
    expect(one(`s:\n  ${F}: 'prog?.exe'\ncondition: s`, 'progAB.exe')).toBe(false);
    // \* and \? are the plain characters.
    expect(one(`s:\n  ${F}: 'a\\*b'\ncondition: s`, 'a*b')).toBe(true);
    expect(one(`s:\n  ${F}: 'a\\*b'\ncondition: s`, 'axxb')).toBe(false);
    expect(one(`s:\n  ${F}: 'what\\?'\ncondition: s`, 'what?')).toBe(true);
    expect(one(`s:\n  ${F}: 'what\\?'\ncondition: s`, 'whatx')).toBe(false);
    // A plain backslash, \\ as one backslash, \\* as a backslash then a wildcard, \\\* as backslash + star.
    expect(one(`s:\n  ${F}: 'C:\\Windows\\cmd.exe'\ncondition: s`, 'c:\\windows\\CMD.exe')).toBe(true);
    expect(one(`s:\n  ${F}: '\\\\\\\\srv\\\\c$'\ncondition: s`, '\\\\srv\\c$')).toBe(true);
    expect(one(`s:\n  ${F}: 'dir\\\\*'\ncondition: s`, 'dir\\anything')).toBe(true);
    expect(one(`s:\n  ${F}: 'dir\\\\\\*'\ncondition: s`, 'dir\\*')).toBe(true);
    expect(one(`s:\n  ${F}: 'dir\\\\\\*'\ncondition: s`, 'dir\\x')).toBe(false);
  });

  it('numbers, booleans and the empty string compare as text', () => {
    expect(one(`s:\n  ${F}: 200\ncondition: s`, '200')).toBe(true);
    expect(one(`s:\n  ${F}: 200\ncondition: s`, '2000')).toBe(false);
    expect(one(`s:\n  ${F}: 0x17\ncondition: s`, '0x17')).toBe(true);
    expect(one(`s:\n  ${F}: true\ncondition: s`, 'TRUE')).toBe(true);
    expect(one(`s:\n  ${F}: ''\ncondition: s`, '')).toBe(true);
    expect(one(`s:\n  ${F}: ''\ncondition: s`, 'x')).toBe(false);
    expect(one(`s:\n  ${F}: ''\ncondition: s`, undefined)).toBe(false);
  });

  it('null matches an absent or empty field, |exists checks presence only', () => {
    expect(one(`s:\n  ${F}: null\ncondition: s`, undefined)).toBe(true);
    expect(one(`s:\n  ${F}: null\ncondition: s`, '')).toBe(true);
    expect(one(`s:\n  ${F}: null\ncondition: s`, 'x')).toBe(false);
    expect(one(`s:\n  ${F}: ['', null]\ncondition: s`, undefined)).toBe(true);
    expect(one(`s:\n  ${F}: [admin, null]\ncondition: s`, 'ADMIN')).toBe(true);
    expect(one(`s:\n  ${F}: [admin, null]\ncondition: s`, 'guest')).toBe(false);
    expect(one(`s:\n  ${F}|exists: true\ncondition: s`, '')).toBe(true);
    expect(one(`s:\n  ${F}|exists: true\ncondition: s`, undefined)).toBe(false);
    expect(one(`s:\n  ${F}|exists: false\ncondition: s`, undefined)).toBe(true);
    // An absent field matches nothing else.
    expect(one(`s:\n  ${F}|contains: x\ncondition: s`, undefined)).toBe(false);
    expect(one(`f:\n  ${F}|contains: x\ncondition: not f`, undefined)).toBe(true);
  });

  it('|neq: present and different from every value', () => {
    expect(one(`s:\n  ${F}|neq: [a, b]\ncondition: s`, 'c')).toBe(true);
    expect(one(`s:\n  ${F}|neq: [a, b]\ncondition: s`, 'B')).toBe(false);
    expect(one(`s:\n  ${F}|neq: [a, b]\ncondition: s`, undefined)).toBe(false);
  });

  it('|windash: each dash matches - / – — ―', () => {
    const rule = `s:\n  ${F}|windash|contains: ' -ExecutionPolicy bypass'\ncondition: s`;
    for (const dash of ['-', '/', '\u2013', '\u2014', '\u2015']) {
      expect(one(rule, `powershell ${dash}executionpolicy Bypass`), dash).toBe(true);
    }
    expect(one(rule, 'powershell +executionpolicy bypass')).toBe(false);
    expect(one(rule, 'powershell executionpolicy bypass')).toBe(false);
  });

  it('|base64, |base64offset (also of UTF-16 text) match the encoded forms, case-sensitively', () => {
    const b64 = Buffer.from('Invoke-Mimikatz').toString('base64');
    expect(one(`s:\n  ${F}|base64|contains: 'Invoke-Mimikatz'\ncondition: s`, `x ${b64} y`)).toBe(true);
    expect(
      one(`s:\n  ${F}|base64|contains: 'Invoke-Mimikatz'\ncondition: s`, `x ${b64.toLowerCase()} y`),
    ).toBe(false);
    const rule = `s:\n  ${F}|base64offset|contains: 'http://'\ncondition: s`;
    for (const prefix of ['', 'a', 'ab', 'abc']) {
      const enc = Buffer.from(`${prefix}http://evil/`).toString('base64');
      expect(one(rule, `-enc ${enc}`), prefix).toBe(true);
    }
    expect(one(rule, `-enc ${Buffer.from('https:/').toString('base64')}`)).toBe(false);
    const wide = `s:\n  ${F}|wide|base64offset|contains: 'IEX'\ncondition: s`;
    for (const prefix of ['', 'a', 'ab']) {
      expect(one(wide, Buffer.from(`${prefix}IEX (New-Object`, 'utf16le').toString('base64')), prefix).toBe(
        true,
      );
    }
  });

  it('numeric |lt |lte |gt |gte; text that is not a number never matches', () => {
    expect(one(`s:\n  ${F}|gt: 100\ncondition: s`, '101')).toBe(true);
    expect(one(`s:\n  ${F}|gt: 100\ncondition: s`, '100')).toBe(false);
    expect(one(`s:\n  ${F}|gte: 100\ncondition: s`, '100')).toBe(true);
    expect(one(`s:\n  ${F}|lt: 1.5\ncondition: s`, '1.25')).toBe(true);
    expect(one(`s:\n  ${F}|lte: -3\ncondition: s`, '-3')).toBe(true);
    expect(one(`s:\n  ${F}|lt: 10\ncondition: s`, 'nine')).toBe(false);
    expect(one(`s:\n  ${F}|lt: 10\ncondition: s`, '')).toBe(false);
  });

  it('|fieldref compares two fields', () => {
    const d = `s:\n  ${F}|fieldref: EventData.G\ncondition: s`;
    expect(one(d, 'Admin', { 'EventData.G': 'admin' })).toBe(true);
    expect(one(d, 'Admin', { 'EventData.G': 'root' })).toBe(false);
    expect(one(d, 'Admin')).toBe(false);
    expect(
      one(`s:\n  ${F}|fieldref|neq: EventData.G\ncondition: s`, 'Admin', { 'EventData.G': 'root' }),
    ).toBe(true);
  });
});

describe('|re (RE2, linear time)', () => {
  it('is case-sensitive unless |i; |m and |s change ^ $ and .', () => {
    expect(
      one(`s:\n  ${F}|re: 'Set-.+VirtualDirectory'\ncondition: s`, 'S:CMD=Set-OabVirtualDirectory.x'),
    ).toBe(true);
    expect(
      one(`s:\n  ${F}|re: 'Set-.+VirtualDirectory'\ncondition: s`, 'S:CMD=set-oabvirtualdirectory.x'),
    ).toBe(false);
    expect(
      one(`s:\n  ${F}|re|i: 'Set-.+VirtualDirectory'\ncondition: s`, 'S:CMD=set-oabvirtualdirectory.x'),
    ).toBe(true);
    expect(one(`s:\n  ${F}|re: '^b$'\ncondition: s`, 'a\nb\nc')).toBe(false);
    expect(one(`s:\n  ${F}|re|m: '^b$'\ncondition: s`, 'a\nb\nc')).toBe(true);
    expect(one(`s:\n  ${F}|re: 'a.c'\ncondition: s`, 'a\nc')).toBe(false);
    expect(one(`s:\n  ${F}|re|s: 'a.c'\ncondition: s`, 'a\nc')).toBe(true);
    expect(one(`s:\n  ${F}|re|all: ['^a', 'z$']\ncondition: s`, 'abcz')).toBe(true);
    expect(one(`s:\n  ${F}|re|all: ['^a', 'z$']\ncondition: s`, 'abc')).toBe(false);
  });

  it('finishes a pathological pattern on a 100,000-character value in linear time', () => {
    const rule = compiled(
      `s:\n  EventData|re: '(a+)+$'\ncondition: s`,
      'exchange-ecp-server',
      'product: exchange, service: ecp-server',
    );
    const value = `${'a'.repeat(100_000)}!`;
    const started = performance.now();
    const m = rule.match(record('exchange-ecp-server', { EventData: value }, value));
    const ms = performance.now() - started;
    expect(m).toBeUndefined();
    expect(ms).toBeLessThan(2000);
    const evil = compiled(
      `s:\n  EventData|re: '(x+x+)+y'\ncondition: s`,
      'exchange-ecp-server',
      'product: exchange, service: ecp-server',
    );
    const t2 = performance.now();
    expect(evil.match(record('exchange-ecp-server', { EventData: 'x'.repeat(50_000) }))).toBeUndefined();
    expect(performance.now() - t2).toBeLessThan(2000);
  });
});

describe('|cidr', () => {
  it('matches IPv4 and IPv6 ranges; anything that is not an address never matches', () => {
    const v4 = `s:\n  ${F}|cidr: ['10.0.0.0/8', '192.168.1.0/24']\ncondition: s`;
    expect(one(v4, '10.200.3.4')).toBe(true);
    expect(one(v4, '192.168.1.255')).toBe(true);
    expect(one(v4, '192.168.2.1')).toBe(false);
    expect(one(v4, '::ffff:10.1.2.3')).toBe(true); // IPv4-mapped IPv6
    expect(one(v4, '11.0.0.1')).toBe(false);
    for (const junk of [
      '',
      '-',
      'localhost',
      '10.0.0',
      '10.0.0.256',
      '010.0.0.1',
      '10.0.0.1:443',
      '10.0.0.1x',
    ]) {
      expect(one(v4, junk), junk).toBe(false);
    }
    const v6 = `s:\n  ${F}|cidr: '2001:db8::/32'\ncondition: s`;
    expect(one(v6, '2001:db8::1')).toBe(true);
    expect(one(v6, '2001:DB8:ffff:1::7')).toBe(true);
    expect(one(v6, '[2001:db8::1]')).toBe(true);
    expect(one(v6, 'fe80::1%eth0')).toBe(false);
    expect(one(v6, '2001:db9::1')).toBe(false);
    expect(one(v6, '2001:db8:::1')).toBe(false);
    expect(one(`s:\n  ${F}|cidr: 'fe80::/10'\ncondition: s`, 'fe80::1%12')).toBe(true);
    expect(one(`s:\n  ${F}|cidr: '203.0.113.7'\ncondition: s`, '203.0.113.7')).toBe(true);
    expect(one(`s:\n  ${F}|cidr|neq: '10.0.0.0/8'\ncondition: s`, '8.8.8.8')).toBe(true);
  });
});

describe('keywords', () => {
  it('search the raw event, OR by default, AND with |all, with wildcards', () => {
    const rule = compiled("k:\n  - 'DDIService.svc/SetObject'\n  - 'foo*bar'\ncondition: k");
    expect(rule.match(iisRecord({ 'cs-uri-stem': '/ecp/DDI/ddiservice.svc/SetObject' }))).toEqual(
      expect.any(Object),
    );
    expect(rule.match(iisRecord({ 'cs-uri-query': 'x=FOO123BAR' }))).toBeDefined();
    expect(rule.match(iisRecord())).toBeUndefined();
    const all = compiled("k:\n  '|all':\n    - 'POST'\n    - 200\n    - '$'\ncondition: k");
    expect(all.match(iisRecord({ 'cs-method': 'POST', 'cs-username': 'EXCH01$' }))).toBeDefined();
    expect(all.match(iisRecord({ 'cs-method': 'POST' }))).toBeUndefined();
  });

  it('see CSV and XML text unquoted', () => {
    const rule = compiled(
      `k:\n  - '"unsafe"};'\n  - '&__VIEWSTATE='\ncondition: k`,
      'windows-event-xml',
      'product: windows, service: application',
    );
    const xml = '<Event><EventData><Data>a=1&amp;__VIEWSTATE=abc</Data></EventData></Event>';
    expect(rule.match(record('windows-event-xml', { Message: 'a=1&__VIEWSTATE=abc' }, xml))).toBeDefined();
    expect(prefilterHolds(rule, xml)).toBe(true);
    const csv = compiled(
      `k:\n  - '"unsafe"};'\ncondition: k`,
      'exchange-httpproxy',
      'product: exchange, service: httpproxy',
    );
    const rec = proxyRecord({ UrlQuery: '?x=eval(Request["a"],"unsafe"};' });
    expect(rec.raw).toContain('""unsafe""};');
    expect(csv.match(rec)).toBeDefined();
  });
});

describe('conditions', () => {
  const d = (cond: string) =>
    compiled(
      `a:\n  EventData.A: 'y'\nb:\n  EventData.B: 'y'\nc:\n  EventData.C: 'y'\n_u:\n  EventData.U: 'y'\ncondition: ${cond}`,
      'exchange-ecp-server',
      'product: exchange, service: ecp-server',
    );
  const run = (cond: string, bits: string) => {
    const fields: Record<string, string> = {};
    for (const k of 'ABCU') fields[`EventData.${k}`] = bits.includes(k.toLowerCase()) ? 'y' : 'n';
    return d(cond).match(record('exchange-ecp-server', fields)) !== undefined;
  };

  it('and / or / not with not > and > or and parentheses', () => {
    expect(run('a and b', 'ab')).toBe(true);
    expect(run('a and b', 'a')).toBe(false);
    expect(run('a or b', 'b')).toBe(true);
    expect(run('not a', '')).toBe(true);
    expect(run('not a', 'a')).toBe(false);
    // or binds loosest: a or (b and c)
    expect(run('a or b and c', 'a')).toBe(true);
    expect(run('a or b and c', 'b')).toBe(false);
    expect(run('(a or b) and c', 'a')).toBe(false);
    expect(run('(a or b) and c', 'ac')).toBe(true);
    // not binds tighter than and: (not a) and b
    expect(run('not a and b', 'b')).toBe(true);
    expect(run('not a and b', 'ab')).toBe(false);
    expect(run('not (a and b)', 'a')).toBe(true);
    expect(run('not not a', 'a')).toBe(true);
    expect(run('a AND NOT b', 'a')).toBe(true); // operators in any case
    expect(() => run('A and b', 'ab')).toThrow(/unknown search identifier 'A'/); // identifiers are case-sensitive
  });

  it('1 of / all of a pattern or of them (them leaves out _ identifiers)', () => {
    expect(run('1 of a*', 'a')).toBe(true);
    expect(run('all of them', 'abc')).toBe(true);
    expect(run('all of them', 'ab')).toBe(false);
    expect(run('1 of them', 'u')).toBe(false);
    expect(run('1 of _*', 'u')).toBe(true);
    expect(run('1 of * and not c', 'b')).toBe(true);
    expect(run('all of * ', 'abcu')).toBe(true);
    expect(run('all of *', 'abc')).toBe(false);
  });

  it('a list of conditions is OR', () => {
    const rule = compiled(
      'a:\n  EventData.A: y\nb:\n  EventData.B: y\ncondition:\n  - a\n  - b',
      'exchange-ecp-server',
      'product: exchange, service: ecp-server',
    );
    expect(rule.match(record('exchange-ecp-server', { 'EventData.B': 'y' }))).toBeDefined();
    expect(rule.match(record('exchange-ecp-server', {}))).toBeUndefined();
  });

  it('a list of maps is OR, a map is AND', () => {
    const rule = compiled(
      's:\n  - EventData.A: y\n    EventData.B: y\n  - EventData.C: y\ncondition: s',
      'exchange-ecp-server',
      'product: exchange, service: ecp-server',
    );
    const m = (f: Record<string, string>) => rule.match(record('exchange-ecp-server', f)) !== undefined;
    expect(m({ 'EventData.A': 'y', 'EventData.B': 'y' })).toBe(true);
    expect(m({ 'EventData.A': 'y' })).toBe(false);
    expect(m({ 'EventData.C': 'Y' })).toBe(true);
  });
});

describeCorpus('SigmaHQ webserver rules on IIS W3C and HttpProxy records', () => {
  const hafnium = corpusRule('rules-emerging-threats/2021/TA/HAFNIUM/web_exchange_exploitation_hafnium.yml');

  it('HAFNIUM: POST to /owa/auth/Current/themes/resources/ matches, a benign GET does not', () => {
    const rule = compileRule(hafnium, 'iis-w3c');
    if (rule.kind !== 'compiled') throw new Error(rule.reason);
    const attack = iisRecord({
      'cs-method': 'POST',
      'cs-uri-stem': '/owa/auth/Current/themes/resources/logon.css',
      'cs-uri-query': '-',
      'c-ip': '165.232.154.116',
      'cs(User-Agent)': 'Mozilla/5.0+(compatible;+Baiduspider/2.0;++http://www.baidu.com/search/spider.html)',
      'sc-status': '200',
    });
    expect(attack.raw).toContain('POST /owa/auth/Current/themes/resources/logon.css - 443');
    const matched = rule.match(attack);
    expect(matched).toEqual({
      'cs-method': 'POST',
      'cs-uri-stem': '/owa/auth/Current/themes/resources/logon.css',
      'cs-uri-query': '',
      'cs(User-Agent)': 'Mozilla/5.0+(compatible;+Baiduspider/2.0;++http://www.baidu.com/search/spider.html)',
    });
    expect(prefilterHolds(rule, attack.raw)).toBe(true);
    const benign = iisRecord({
      'cs-method': 'GET',
      'cs-uri-stem': '/owa/auth/Current/themes/resources/logon.css',
    });
    expect(rule.match(benign)).toBeUndefined();
    expect(
      rule.match(
        iisRecord({
          'cs-method': 'POST',
          'cs-uri-stem': '/owa/service.svc',
          'cs-uri-query': 'action=GetFolder',
        }),
      ),
    ).toBeUndefined();
    // selection_3: /ecp/ + python-requests user agent
    expect(
      rule.match(
        iisRecord({
          'cs-method': 'POST',
          'cs-uri-stem': '/ecp/y.js',
          'cs(User-Agent)': 'python-requests/2.25.1',
        }),
      ),
    ).toBeDefined();
  });

  it('HAFNIUM on HttpProxy: stem + query as the URI, user agents with spaces equal to IIS +', () => {
    const rule = compileRule(hafnium, 'exchange-httpproxy');
    if (rule.kind !== 'compiled') throw new Error(rule.reason);
    const rec = proxyRecord({
      Method: 'POST',
      UrlStem: '/owa/auth/Current/',
      UrlQuery: '',
      UserAgent: 'Mozilla/5.0 (compatible; Baiduspider/2.0; +http://www.baidu.com/search/spider.html)',
    });
    // selection_2 wants the UA list entry written with '+' for spaces; selection_5 also matches /owa/auth/Current/
    expect(rule.match(rec)).toMatchObject({ Method: 'POST', UrlStem: '/owa/auth/Current/' });
    expect(prefilterHolds(rule, rec.raw)).toBe(true);
    expect(rule.match(proxyRecord({ Method: 'GET', UrlStem: '/owa/auth/Current/' }))).toBeUndefined();
  });

  it('cs-uri-query is the request URI (stem?query), as SigmaHQ webserver rules are written', () => {
    const cve = compileRule(
      corpusRule('rules-emerging-threats/2020/Exploits/CVE-2020-0688/web_cve_2020_0688_exchange_exploit.yml'),
      'iis-w3c',
    );
    if (cve.kind !== 'compiled') throw new Error(cve.reason);
    const rec = iisRecord({
      'cs-uri-stem': '/ecp/default.aspx',
      'cs-uri-query': '__VIEWSTATEGENERATOR=B97B4E27&__VIEWSTATE=%2FwEy',
    });
    expect(cve.match(rec)).toBeDefined();
    expect(prefilterHolds(cve, rec.raw)).toBe(true);
    expect(
      cve.match(iisRecord({ 'cs-uri-stem': '/ecp/default.aspx', 'cs-uri-query': 'x=1' })),
    ).toBeUndefined();
    const proxy = compileRule(
      corpusRule('rules-emerging-threats/2021/Exploits/ProxyShell-Exploit/web_exchange_proxyshell.yml'),
      'exchange-httpproxy',
    );
    if (proxy.kind !== 'compiled') throw new Error(proxy.reason);
    const shell = proxyRecord({
      UrlStem: '/autodiscover/autodiscover.json',
      UrlQuery: '?@evil.corp/mapi/nspi/?&Email=autodiscover/autodiscover.json%3F@evil.corp',
      HttpStatus: '401',
    });
    expect(proxy.match(shell)).toBeDefined();
    expect(prefilterHolds(proxy, shell.raw)).toBe(true);
  });

  it('reGeorg: W3C "-" reads as empty, so null matches it', () => {
    const rule = compileRule(corpusRule('rules/web/webserver_generic/web_webshell_regeorg.yml'), 'iis-w3c');
    if (rule.kind !== 'compiled') throw new Error(rule.reason);
    const rec = iisRecord({
      'cs-method': 'POST',
      'cs-uri-query': 'cmd=read',
      'cs(User-Agent)': '',
      'cs(Referer)': '',
    });
    expect(rec.raw).toContain(' - - 200 ');
    expect(rule.match(rec)).toBeDefined();
    expect(rule.match(iisRecord({ 'cs-method': 'POST', 'cs-uri-query': 'cmd=read' }))).toBeUndefined();
  });

  it('recon user agents written with spaces match IIS + encoding', () => {
    const rule = compileRule(corpusRule('rules/web/webserver_generic/web_susp_useragents.yml'), 'iis-w3c');
    if (rule.kind !== 'compiled') throw new Error(rule.reason);
    const rec = iisRecord({
      'cs(User-Agent)': 'Mozilla/5.0+(compatible;+Nmap+Scripting+Engine;+https://nmap.org/book/nse.html)',
    });
    expect(rule.match(rec)).toBeDefined();
    expect(prefilterHolds(rule, rec.raw)).toBe(true);
  });
});

describeCorpus('Windows Application log', () => {
  it('maps Provider_Name, EventID, Level (name or number) and keywords', () => {
    const rule = compileRule(
      corpusRule('rules-emerging-threats/2020/Exploits/CVE-2020-0688/win_vul_cve_2020_0688.yml'),
      'windows-event-xml',
    );
    if (rule.kind !== 'compiled') throw new Error(rule.reason);
    const fields = {
      Provider: 'MSExchange Control Panel',
      Source: 'MSExchange Control Panel',
      EventID: '4',
      Level: '2',
      Message: 'An unhandled exception: /ecp/default.aspx?__VIEWSTATEGENERATOR=B97B4E27&__VIEWSTATE=%2FwEy',
    };
    const raw = `<Event><System><Provider Name="MSExchange Control Panel"/><EventID>4</EventID><Level>2</Level></System><RenderingInfo><Message>An unhandled exception: /ecp/default.aspx?__VIEWSTATEGENERATOR=B97B4E27&amp;__VIEWSTATE=%2FwEy</Message></RenderingInfo></Event>`;
    expect(rule.match(record('windows-event-xml', fields, raw))).toMatchObject({
      Provider: 'MSExchange Control Panel',
      EventID: '4',
      Level: '2',
    });
    expect(prefilterHolds(rule, raw)).toBe(true);
    expect(rule.match(record('windows-event-xml', { ...fields, Level: '3' }, raw))).toBeUndefined();
  });
});

describe('field mapping gaps are reported per log type', () => {
  it('a webserver rule needing cs-cookie is unsupported on HttpProxy, supported on IIS', () => {
    const r = loadSigmaRule(
      "title: t\nlogsource: {category: webserver}\ndetection:\n  s:\n    cs-cookie|contains: 'X-BEResource='\n  condition: s\n",
      'c.yml',
    );
    if (r.kind !== 'rule') throw new Error(r.reason);
    expect(compileRule(r, 'iis-w3c').kind).toBe('compiled');
    expect(compileRule(r, 'exchange-httpproxy')).toMatchObject({
      kind: 'unsupported',
      type: 'exchange-httpproxy',
      reason: "field 'cs-cookie' (in 's: cs-cookie|contains') has no mapping for exchange-httpproxy logs",
    });
    expect(compileRule(r, 'windows-event-xml')).toMatchObject({
      kind: 'unsupported',
      reason: "the rule's log source does not apply to windows-event-xml logs",
    });
  });

  it('unknown field names are refused rather than never matching', () => {
    expect(() => compiled("s:\n  cs-uri-stemm: '/owa/'\ncondition: s")).toThrow(/field 'cs-uri-stemm'/);
    expect(() =>
      compiled(
        "s:\n  Anchormailbox: 'x'\ncondition: s",
        'exchange-httpproxy',
        'product: exchange, service: httpproxy',
      ),
    ).toThrow(/field 'Anchormailbox'/);
  });
});
