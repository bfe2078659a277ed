import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { corpusPath, describeCorpus } from '../../../test/support/corpus.js';
import {
  compileRule,
  compileRules,
  isUnsupported,
  type LoadedRule,
  loadSigmaDirectory,
  loadSigmaRule,
} from './index.js';

const CORPUS = `${corpusPath('sigma-exchange')}/`;
const PACK = fileURLToPath(new URL('../../advisories/packs/proxylogon-2021-03/hunt/', import.meta.url));

function loadCorpus() {
  const a = loadSigmaDirectory(`${CORPUS}rules`);
  const b = loadSigmaDirectory(`${CORPUS}rules-emerging-threats`);
  return { rules: [...a.rules, ...b.rules], unsupported: [...a.unsupported, ...b.unsupported] };
}

const PROCESS = 'log source windows/process_creation is not a log Bulwark reads';
const FILE_EVENT = 'log source windows/file_event is not a log Bulwark reads';
const MGMT = 'log source windows/msexchange-management is not a log Bulwark reads';
const PROXY = 'log source proxy is not a log Bulwark reads';

/** Every corpus rule Bulwark cannot evaluate, with the reason it must give. */
const EXPECTED_UNSUPPORTED: Record<string, string> = {
  'ProxyLogon MSExchange OabVirtualDirectory': MGMT,
  'Certificate Request Export to Exchange Webserver': MGMT,
  'Mailbox Export to Exchange Webserver': MGMT,
  'Remove Exported Mailbox from Exchange Webserver': MGMT,
  'Exchange Set OabVirtualDirectory ExternalUrl Property': MGMT,
  'MSExchange Transport Agent Installation - Builtin': MGMT,
  'Failed MSExchange Transport Agent Installation': MGMT,
  'Possible Exploitation of Exchange RCE CVE-2021-42321': MGMT,
  'Exchange PowerShell Cmdlet History Deleted': 'log source windows/file_delete is not a log Bulwark reads',
  'Suspicious ASPX File Drop by Exchange': FILE_EVENT,
  'Suspicious File Drop by Exchange': FILE_EVENT,
  'Suspicious MSExchangeMailboxReplication ASPX Write': FILE_EVENT,
  'CVE-2021-26858 Exchange Exploitation': FILE_EVENT,
  'MSExchange Transport Agent Installation': PROCESS,
  'Exchange PowerShell Snap-Ins Usage': PROCESS,
  'WMI Backdoor Exchange Transport Agent': PROCESS,
  'Potential CVE-2021-26857 Exploitation Attempt': PROCESS,
  'HAFNIUM Exchange Exploitation Activity': PROCESS,
  'Potential OWASSRF Exploitation Attempt - Proxy': PROXY,
  'OWASSRF Exploitation Attempt Using Public POC - Proxy': PROXY,
};

describeCorpus('SigmaHQ corpus (44 files, loaded unmodified)', () => {
  it('loads 24 rules and reports the other 20 by name with the reason', () => {
    const { rules, unsupported } = loadCorpus();
    expect(rules.length + unsupported.length).toBe(44);
    expect(rules).toHaveLength(24);
    const got = Object.fromEntries(unsupported.map((u) => [u.title, u.reason]));
    expect(got).toEqual(EXPECTED_UNSUPPORTED);
    for (const u of unsupported) {
      expect(u.file).toMatch(/\.yml$/);
      expect(u.id).toMatch(/^[0-9a-f-]{36}$/);
    }
  });

  it('compiles every webserver rule for IIS W3C', () => {
    const { rules } = loadCorpus();
    const web = rules.filter((r) => r.logsource.category === 'webserver');
    expect(web).toHaveLength(23);
    for (const r of web) {
      const c = compileRule(r, 'iis-w3c');
      expect(c.kind, `${r.title}: ${isUnsupported(c) ? c.reason : ''}`).toBe('compiled');
    }
  });

  it('reports the one webserver rule HttpProxy logs cannot serve, for that log type only', () => {
    const { rules } = loadCorpus();
    const { compiled, unsupported } = compileRules(rules);
    expect(unsupported.map((u) => [u.title, u.type, u.reason])).toEqual([
      [
        'Webshell ReGeorg Detection Via Web Logs',
        'exchange-httpproxy',
        "field 'cs-referer' (in 'filter: cs-referer') has no mapping for exchange-httpproxy logs",
      ],
    ]);
    // 23 webserver rules × 2 types − 1, and the Application-log rule × 2 (XML and CSV).
    expect(compiled).toHaveLength(23 * 2 - 1 + 2);
  });

  it('derives CVE from cve.* tags, defaults stage and mode, keeps level and author', () => {
    const { rules } = loadCorpus();
    const byTitle = new Map(rules.map((r) => [r.title, r]));
    const viewstate = byTitle.get('CVE-2020-0688 Exploitation via Eventlog')!;
    expect(viewstate.cve).toBe('CVE-2020-0688');
    expect(viewstate.types).toEqual(['windows-event-xml', 'windows-event-csv']);
    expect(viewstate.taxonomy).toBe('windows');
    const hafnium = byTitle.get('Exchange Exploitation Used by HAFNIUM')!;
    expect(hafnium).toMatchObject({
      id: '67bce556-312f-4c81-9162-c3c9ff2599b2',
      cve: null,
      stage: 'exploitation',
      mode: 'current',
      level: 'high',
      types: ['iis-w3c', 'exchange-httpproxy'],
    });
    expect(hafnium.author).toContain('Florian Roth');
  });

  it('is deterministic', () => {
    const a = loadSigmaDirectory(`${CORPUS}rules-emerging-threats`).rules.map((r) => r.file);
    const b = loadSigmaDirectory(`${CORPUS}rules-emerging-threats`).rules.map((r) => r.file);
    expect(a).toEqual(b);
    expect([...a].sort()).toEqual(a);
  });
});

describe('advisory pack rules (Bulwark logsources and the bulwark: block)', () => {
  it('loads every rule of the ProxyLogon pack and compiles it for its log types', () => {
    const { rules, unsupported } = loadSigmaDirectory(PACK);
    expect(unsupported).toEqual([]);
    expect(rules.length).toBe(16);
    const { unsupported: notCompiled } = compileRules(rules);
    expect(notCompiled).toEqual([]);
    const ssrf = rules.find((r) => r.id === 'd562c943-93ba-4f38-ad1c-904f7782893b')!;
    expect(ssrf).toMatchObject({
      stage: 'exploitation',
      cve: 'CVE-2021-26855',
      mode: 'current',
      types: ['exchange-httpproxy'],
    });
    const blog = rules.find((r) => r.id === 'ede98ae7-5b6b-43d1-ad98-d500f0e570c6')!;
    expect(blog.mode).toBe('strict-2021-03-02');
    const oab = rules.find((r) => r.id === 'fab669fb-faa0-4a36-aa80-2b35612d10e6')!;
    expect(oab.types).toEqual(['exchange-oabgen']);
    const shell = rules.find((r) => r.id === '6575a99d-39dc-43c5-93e0-17502f49b117')!;
    expect(shell).toMatchObject({ stage: 'post_exploitation', cve: null });
  });
});

function rule(body: string): LoadedRule | { kind: 'unsupported'; reason: string } {
  return loadSigmaRule(body, 'test.yml');
}

function reasonOf(body: string): string {
  const r = rule(body);
  if (r.kind !== 'unsupported') throw new Error('expected unsupported');
  return r.reason;
}

const HEAD = 'title: t\nid: 11111111-2222-3333-4444-555555555555\nlogsource:\n  category: webserver\n';
const det = (lines: string) => `${HEAD}detection:\n${lines}`;

describe('loading: log sources', () => {
  it.each([
    ['category: webserver', ['iis-w3c', 'exchange-httpproxy']],
    ['product: windows\n  service: application', ['windows-event-xml', 'windows-event-csv']],
    ['product: exchange\n  service: httpproxy', ['exchange-httpproxy']],
    ['product: exchange\n  service: ecp-server', ['exchange-ecp-server']],
    ['product: exchange\n  service: ecp-activity', ['exchange-ecp-activity']],
    ['product: exchange\n  service: oabgen', ['exchange-oabgen']],
    ['product: exchange\n  service: iis', ['iis-w3c']],
  ])('%s → %j', (ls, types) => {
    const r = rule(`title: t\nlogsource:\n  ${ls}\ndetection:\n  s: [x]\n  condition: s\n`);
    expect(r.kind).toBe('rule');
    expect((r as LoadedRule).types).toEqual(types);
  });

  it.each([
    [
      'category: process_creation\n  product: windows',
      'log source windows/process_creation is not a log Bulwark reads',
    ],
    ['product: windows\n  service: security', 'log source windows/security is not a log Bulwark reads'],
    ['category: proxy', 'log source proxy is not a log Bulwark reads'],
    ['product: linux', 'log source linux is not a log Bulwark reads'],
    [
      'product: exchange\n  service: smtp',
      "log source exchange/smtp is not a log Bulwark reads (Bulwark's Exchange services: httpproxy, ecp-server, ecp-activity, oabgen, iis)",
    ],
  ])('%s is unsupported', (ls, reason) => {
    expect(reasonOf(`title: t\nlogsource:\n  ${ls}\ndetection:\n  s: [x]\n  condition: s\n`)).toBe(reason);
  });
});

describe('loading: refusals name what and where', () => {
  it.each([
    ['title: [unclosed\n', /^YAML error at line 2, column 1: /],
    ['title: a\ntitle: b\n', /^YAML error at line 2, column 1: Map keys must be unique/],
    ['', /^the file holds no YAML document$/],
    ['- a\n- b\n', /^a rule must be a YAML map, not a list$/],
    [`${HEAD}detection:\n  s: [x]\n  condition: s\n---\n${HEAD}`, /^multi-document YAML/],
    [`action: global\n${HEAD}`, /^multi-document YAML .*action: global/],
    [
      'title: c\ncorrelation:\n  type: event_count\n',
      /^a Sigma correlation rule \(type event_count\) is not supported/,
    ],
    ['title: f\nlogsource: {category: webserver}\nfilter:\n  rules: [x]\n', /^a Sigma filter/],
    [
      'id: x\nlogsource: {category: webserver}\ndetection: {s: [x], condition: s}\n',
      /^missing required key 'title'$/,
    ],
    ['title: t\ndetection: {s: [x], condition: s}\n', /^missing required key 'logsource'$/],
    ['title: t\nlogsource: {category: webserver}\n', /^missing required key 'detection'$/],
    [
      `${HEAD}level: severe\ndetection: {s: [x], condition: s}\n`,
      /^line 5: 'level' must be one of informational, low/,
    ],
    [`${HEAD}status: unsupported\ndetection: {s: [x], condition: s}\n`, /status is 'unsupported'/],
  ])('%j', (text, reason) => {
    expect(reasonOf(text)).toMatch(reason);
  });

  it.each([
    ['  s:\n    f|foo: x\n  condition: s\n', "line 7: 'f|foo': unknown modifier |foo"],
    ['  s:\n    f|expand: "%Servers%"\n  condition: s\n', /'f\|expand': modifier \|expand \(placeholders/],
    ['  s:\n    f|hour: 3\n  condition: s\n', "line 7: 'f|hour': time modifier |hour is not supported"],
    [
      '  s:\n    f|contains|startswith: x\n  condition: s\n',
      /modifiers \|contains and \|startswith cannot be combined/,
    ],
    ['  s:\n    f|re|contains: x\n  condition: s\n', /\|contains cannot be combined with \|re/],
    ['  s:\n    f|i: x\n  condition: s\n', /sub-modifier \|i is only valid after \|re/],
    [
      '  s:\n    f|cidr: not-an-ip\n  condition: s\n',
      /'not-an-ip' is not an IPv4 or IPv6 address or CIDR range/,
    ],
    ['  s:\n    f|gt: abc\n  condition: s\n', /\|gt needs a number, not 'abc'/],
    ['  s:\n    f|exists: maybe\n  condition: s\n', /\|exists needs true or false/],
    ['  s:\n    f|utf16le: x\n  condition: s\n', /\|utf16le is only supported before \|base64/],
    ['  s:\n    f|base64: "a*"\n  condition: s\n', /values cannot contain wildcards/],
    ['  s:\n    "|cidr": 10.0.0.0/8\n  condition: s\n', /\|cidr needs a field; keyword searches have none/],
    ['  s:\n    f: {a: b}\n  condition: s\n', /a value cannot be a map/],
    ['  s:\n    f: []\n  condition: s\n', /empty list of values/],
    ['  s: []\n  condition: s\n', /search identifier 's' is an empty list/],
    ['  s:\n    f: x\n', /detection has no 'condition'/],
    ['  s:\n    f: x\n  condition: s | count() > 5\n', /uses an aggregation/],
    ['  s:\n    f: x\n  timeframe: 5m\n  condition: s\n', /detection.timeframe/],
    ['  s:\n    f: x\n  condition: s and t\n', /unknown search identifier 't'/],
    ['  s:\n    f: x\n  condition: 1 of t*\n', /'1 of t\*' matches no search identifier/],
    ['  s:\n    f: x\n  condition: any of s*\n', /'any of', which the Sigma specification does not define/],
    ['  s:\n    f: x\n  condition: 2 of s*\n', /'2 of', which the Sigma specification does not define/],
    ['  s:\n    f: x\n  condition: s and\n', /ends where a search identifier was expected/],
    ['  s:\n    f: x\n  condition: (s\n', /ends where '\)' was expected/],
    ['  s:\n    f: x\n  condition: s s\n', /unexpected 's'/],
    ['  s:\n    f: x\n  condition: s*\n', /needs '1 of' or 'all of'/],
  ])('%j', (lines, reason) => {
    const r = reasonOf(det(lines));
    if (typeof reason === 'string') expect(r).toBe(reason);
    else expect(r).toMatch(reason);
  });

  it('refuses regular expressions the linear-time engine lacks, naming the feature', () => {
    const look = reasonOf(det("  s:\n    f|re: 'foo(?=bar)'\n  condition: s\n"));
    expect(look).toMatch(/regular expression 'foo\(\?=bar\)' uses a feature the linear-time engine \(RE2\)/);
    expect(look).toContain('(?=');
    const back = reasonOf(det("  s:\n    f|re: '(a)\\1'\n  condition: s\n"));
    expect(back).toMatch(/RE2.*invalid escape sequence: `\\1`/);
    const behind = reasonOf(det("  s:\n    f|re: '(?<!a)b'\n  condition: s\n"));
    expect(behind).toMatch(/RE2/);
  });

  it('validates the bulwark: block', () => {
    expect(reasonOf(det('  s: [x]\n  condition: s\nbulwark: {stage: breach}\n'))).toMatch(
      /^line \d+: bulwark\.stage: must be one of: probe, exploitation, post_exploitation/,
    );
    expect(reasonOf(det('  s: [x]\n  condition: s\nbulwark: {cve: 2021-1}\n'))).toMatch(
      /bulwark\.cve: .*must look like CVE-2021-26855/,
    );
    expect(reasonOf(det('  s: [x]\n  condition: s\nbulwark: {mode: old}\n'))).toMatch(/bulwark\.mode/);
    expect(reasonOf(det('  s: [x]\n  condition: s\nbulwark: {colour: red}\n'))).toMatch(
      /bulwark\.colour: unknown field "colour"/,
    );
    const ok = rule(
      `${det('  s: [x]\n  condition: s\n')}tags: [cve.2020-0001]\nbulwark: {stage: probe, cve: CVE-2021-26855, mode: strict-2021-03-02}\n`,
    ) as LoadedRule;
    expect(ok).toMatchObject({ stage: 'probe', cve: 'CVE-2021-26855', mode: 'strict-2021-03-02' });
  });

  it('uses the id, else the name, else the file name; level defaults to medium', () => {
    const r = loadSigmaRule(
      'title: t\nlogsource: {category: webserver}\ndetection: {s: [x], condition: s}\n',
      'dir/my_rule.yml',
    );
    expect(r).toMatchObject({ kind: 'rule', id: 'my_rule', level: 'medium' });
    const n = loadSigmaRule(
      'title: t\nname: named\nlogsource: {category: webserver}\ndetection: {s: [x], condition: s}\n',
      'a.yml',
    );
    expect(n).toMatchObject({ id: 'named' });
  });

  it('never throws on hostile input', () => {
    const inputs = [
      '{',
      '\u0000\u0001',
      'a: &a [*a]',
      `a: ${'['.repeat(5000)}`,
      `${det('  s:\n    f: x\n')}  condition: ${'('.repeat(5000)}s${')'.repeat(5000)}\n`,
      `${det('  s:\n    f: x\n')}  condition: ${'not '.repeat(5000)}s\n`,
      'x'.repeat(2 * 1024 * 1024),
    ];
    for (const text of inputs) expect(rule(text).kind).toBe('unsupported');
  });
});
