/**
 * The scanner's shortcuts (block prefilter, per-line literal checks, the plain-file path with its reused buffer
 * and 64 KB windows, the streaming path with arbitrary chunk sizes) must never lose a finding: every line any rule
 * matches when the line is simply parsed and evaluated is found, on the same line, by every path.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { corpusPath, hasCorpus } from '../../test/support/corpus.js';
import { loadKnowledgeBase } from '../advisories/index.js';
import { huntConfig } from './config.js';
import { prefilterFor, type ScanRule, scanFile, scanPlainFile } from './logscan.js';
import { createLineParser, detectLog, HTTPPROXY_FIELDS, IIS_DEFAULT_FIELDS } from './parse/index.js';
import { buildRuleSet } from './rules.js';
import type { LogType } from './types.js';

const CORPUS = `${corpusPath('sigma-exchange')}/`;
const kb = loadKnowledgeBase();
const proxylogon = kb.advisories.find((a) => a.id === 'proxylogon-2021-03')!;
const ruleSet = (sigmaPaths: string[]) =>
  buildRuleSet(
    huntConfig({
      advisories: [{ advisory: proxylogon, file: kb.fileOf.get(proxylogon.id)! }],
      sigmaPaths,
      iocFiles: [],
      strict: true,
    }).rules,
  );
const pack = ruleSet([]);
/** Rule lists per log type: the pack's, and the corpus's with literals (one rule without any turns the prefilter off). */
const RULE_LISTS: [string, (t: LogType) => readonly ScanRule[]][] = [['pack rules', (t) => pack.rulesFor(t)]];
// Without the corpus (a bare clone) the property runs on the pack's rules only.
if (hasCorpus) {
  const withCorpus = ruleSet([`${CORPUS}rules`, `${CORPUS}rules-emerging-threats`]);
  RULE_LISTS.push(
    ['pack and SigmaHQ rules with literals', (t) => withCorpus.rulesFor(t).filter((r) => r.literals)],
    ['pack and SigmaHQ rules (no prefilter)', (t) => withCorpus.rulesFor(t)],
  );
}
const dir = mkdtempSync(join(tmpdir(), 'bulwark-logscan-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Values worth putting in a field: pieces of the rules' literals in any case, near misses and filler. */
const ATOMS = [
  '/ecp/',
  '/ECP/',
  '/ecp/y.js',
  '/ecp/DDI/DDIService.svc/GetObject',
  '/owa/auth/',
  '/owa/auth/x.js',
  '/OWA/Auth/Current/themes/resources/logon.css',
  '/owa/auth/logon.aspx',
  '/owa/auth/shell.aspx',
  '/aspnet_client/system_web/a.ashx',
  '/ecp/auth/TimeoutLogout.aspx',
  '/ecp/default.flt',
  '/ecp/main.css',
  '.js',
  '.aspx',
  'ServerInfo~',
  'serverinfo~a]@EXCH01:444/ecp/proxyLogon.ecp#~1941962753',
  'ServerInfo~localhost/owa',
  'X-BEResource=a]@EXCH01:444/autodiscover',
  'Reset',
  'OABVirtualDirectory#',
  'python-requests/2.25.1',
  'ExchangeServicesClient/0.0.0.0',
  'antSword/v2.1',
  'Mozilla/5.0',
  '103.77.192.219',
  '5.2.69.14',
  '10.0.0.5',
  '200',
  '404',
  'POST',
  'get',
  '-',
  '',
  '~',
  '/',
  'Set-OabVirtualDirectory',
  'ExternalUrl=',
  '<script>',
];

const STEMS = [
  '/ecp/y.js',
  '/ecp/DDI/DDIService.svc/GetObject',
  '/owa/auth/x.js',
  '/owa/auth/Current/themes/resources/logon.css',
  '/OWA/auth/Current/',
  '/owa/auth/logon.aspx',
  '/owa/auth/shell.aspx',
  '/aspnet_client/system_web/a.ashx',
  '/ecp/auth/TimeoutLogout.aspx',
  '/ecp/default.flt',
  '/ECP/main.css',
  '/owa/',
  '/mapi/nspi/',
];
const AGENTS = ['Mozilla/5.0', 'python-requests/2.25.1', 'ExchangeServicesClient/0.0.0.0', 'antSword/v2.1'];
const ANCHORS = [
  'ServerInfo~a]@EXCH01:444/ecp/proxyLogon.ecp#~1941962753',
  'ServerInfo~a]@EXCH01:444/autodiscover/autodiscover.xml?#',
  'serverinfo~localhost/owa',
  'ServerInfo~a]@EXCH01:444/ecp/DDI/DDIService.svc/SetObject?schema=ResetOABVirtualDirectory#',
  'Smtp~user@contoso.com',
];

const value = fc.oneof(
  { weight: 3, arbitrary: fc.constantFrom(...ATOMS) },
  {
    weight: 2,
    arbitrary: fc
      .array(fc.constantFrom(...ATOMS), { minLength: 1, maxLength: 3 })
      .map((parts) => parts.join('')),
  },
  { weight: 1, arbitrary: fc.string({ maxLength: 12 }) },
);

/** A line's values: the fields the rules read, drawn from likely values, and filler for every other field. */
const row = fc.record({
  stem: fc.constantFrom(...STEMS),
  method: fc.constantFrom('GET', 'POST', 'post', 'Get'),
  status: fc.constantFrom('200', '302', '404', '500'),
  ua: fc.constantFrom(...AGENTS),
  ip: fc.constantFrom('103.77.192.219', '5.2.69.14', '10.0.0.5', '203.0.113.7'),
  anchor: fc.oneof(fc.constantFrom(...ANCHORS), value),
  filler: fc.array(value, { minLength: 1, maxLength: 4 }),
});
type Row = typeof row extends fc.Arbitrary<infer T> ? T : never;

function cleanW3c(v: string): string {
  const s = v.replace(/[\s\0]/g, '+');
  return s === '' ? '-' : s;
}

function cleanCsv(v: string): string {
  const s = v.replace(/[\r\n\0]/g, ' ');
  return /[",]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

function w3cFile(rows: Row[]): string {
  const head = [
    '#Software: Microsoft Internet Information Services 10.0',
    '#Version: 1.0',
    '#Date: 2021-03-03 00:00:00',
    `#Fields: ${IIS_DEFAULT_FIELDS.join(' ')}`,
  ];
  const own: Record<string, (r: Row) => string> = {
    'cs-uri-stem': (r) => r.stem,
    'cs-method': (r) => r.method,
    'sc-status': (r) => r.status,
    'cs(User-Agent)': (r) => r.ua,
    'c-ip': (r) => r.ip,
  };
  const lines = rows.map((r, i) =>
    IIS_DEFAULT_FIELDS.map((f, c) => {
      if (f === 'date') return '2021-03-03';
      if (f === 'time') return `06:${String(i % 60).padStart(2, '0')}:00`;
      return cleanW3c(own[f]?.(r) ?? r.filler[c % r.filler.length]!);
    }).join(' '),
  );
  return `${[...head, ...lines].join('\r\n')}\r\n`;
}

function httpProxyFile(rows: Row[]): string {
  const head = [
    '#Software: Microsoft Exchange Server',
    '#Version: 15.01.2176.002',
    '#Log-type: HttpProxy Logs',
    '#Date: 2021-03-03T00:00:00.000Z',
    `#Fields: ${HTTPPROXY_FIELDS.join(',')}`,
  ];
  const own: Record<string, (r: Row) => string> = {
    UrlStem: (r) => r.stem,
    Method: (r) => r.method,
    HttpStatus: (r) => r.status,
    UserAgent: (r) => r.ua,
    ClientIpAddress: (r) => r.ip,
    AnchorMailbox: (r) => r.anchor,
  };
  const lines = rows.map((r, i) =>
    HTTPPROXY_FIELDS.map((f, c) => {
      if (f === 'DateTime') return `2021-03-03T06:${String(i % 60).padStart(2, '0')}:00.000Z`;
      return cleanCsv(own[f]?.(r) ?? r.filler[c % r.filler.length]!);
    }).join(','),
  );
  return `${[...head, ...lines].join('\n')}\n`;
}

/** Every (rule, line) a rule matches when each line is parsed and every rule evaluated. */
function reference(text: string, rules: readonly ScanRule[]): string[] {
  const lines = text.split('\n').map((l) => (l.endsWith('\r') ? l.slice(0, -1) : l));
  const detected = detectLog(lines.slice(0, 30))!;
  const parser = createLineParser(detected);
  const out: string[] = [];
  lines.forEach((line, i) => {
    if (!line) return;
    const r = parser.parse(line, i + 1, 'f');
    if (r === 'header' || r === 'malformed') return;
    for (const rule of rules) if (rule.match(r)) out.push(`${rule.id}@${i + 1}`);
  });
  return out.sort();
}

const keys = (findings: { rule: string; line: number }[]) =>
  findings.map((f) => `${f.rule}@${f.line}`).sort();

async function* chunked(data: Buffer, sizes: number[]): AsyncGenerator<Buffer> {
  let at = 0;
  for (let i = 0; at < data.length; i++) {
    const n = sizes[i % sizes.length]!;
    yield data.subarray(at, at + n);
    at += n;
  }
}

describe('log scanner finds what plain rule evaluation finds', () => {
  for (const [type, make] of [
    ['iis-w3c', w3cFile],
    ['exchange-httpproxy', httpProxyFile],
  ] as const) {
    for (const [label, rulesFor] of RULE_LISTS) {
      it(`${type}, ${label}: plain-file and streaming paths, any chunking`, async () => {
        const rules = rulesFor(type);
        expect(prefilterFor(rules) === null).toBe(label.includes('no prefilter'));
        let matched = 0;
        let n = 0;
        await fc.assert(
          fc.asyncProperty(
            fc.array(row, { minLength: 1, maxLength: 40 }),
            fc.array(fc.integer({ min: 1, max: 700 }), { minLength: 1, maxLength: 5 }),
            async (rows, sizes) => {
              const text = make(rows);
              const expected = reference(text, rules);
              matched += expected.length;
              const path = join(dir, `f${n++}.log`);
              writeFileSync(path, text);
              const plain = scanPlainFile({ display: path, host: 'h', path }, () => rules);
              expect(plain?.detected?.type).toBe(type);
              expect(keys(plain!.findings)).toEqual(expected);
              const streamed = await scanFile(
                { display: path, host: 'h', chunks: chunked(Buffer.from(text), sizes) },
                () => rules,
              );
              expect(keys(streamed.findings)).toEqual(expected);
              expect(streamed.stats.lines).toBe(plain!.stats.lines);
              expect(streamed.stats.last).toBe(plain!.stats.last);
            },
          ),
          { numRuns: 150 },
        );
        // Not vacuous: the generated lines do hit rules.
        expect(matched).toBeGreaterThan(100);
      });
    }
  }

  it('plain-file path: lines across its 64 KB windows and 4 MB reads, over-long lines, no final newline', () => {
    const rules = pack.rulesFor('iis-w3c');
    const row = (i: number, stem: string) =>
      `2021-03-03 06:00:${String(i % 60).padStart(2, '0')} 10.0.0.5 GET ${stem} - 443 - 203.0.113.7 Mozilla/5.0 - 404 0 0 15`;
    const lines = [
      '#Software: Microsoft Internet Information Services 10.0',
      `#Fields: ${IIS_DEFAULT_FIELDS.join(' ')}`,
    ];
    for (let i = 0; i < 60_000; i++)
      lines.push(row(i, i % 997 === 0 ? '/owa/auth/x.js' : `/owa/${'a'.repeat(i % 300)}`));
    lines.push(row(1, `/owa/auth/y.js?${'q'.repeat(70_000)}`)); // over the 64 KiB line bound
    lines.push(row(2, '/owa/auth/z.js'));
    const text = lines.join('\n'); // no final newline
    const path = join(dir, 'big.log');
    writeFileSync(path, text);
    const plain = scanPlainFile({ display: path, host: 'h', path }, () => rules)!;
    const expected = reference(text, rules).filter((k) => !k.endsWith(`@${lines.length - 1}`));
    expect(keys(plain.findings).filter((k) => !k.endsWith(`@${lines.length - 1}`))).toEqual(expected);
    expect(keys(plain.findings).some((k) => k.endsWith(`@${lines.length}`))).toBe(true);
    expect(plain.stats.lines).toBe(lines.length);
    expect(plain.stats.truncated).toBe(1);
    expect(plain.stats.bytes).toBe(Buffer.byteLength(text));
  });

  it('leaves UTF-16 files to the streaming path', () => {
    const path = join(dir, 'utf16.log');
    writeFileSync(
      path,
      Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from('#Software: x\r\n', 'utf16le')]),
    );
    expect(scanPlainFile({ display: path, host: 'h', path }, () => [])).toBeUndefined();
  });
});
