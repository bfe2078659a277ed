import { readFileSync } from 'node:fs';
import { XMLParser, XMLValidator } from 'fast-xml-parser';
import { describe, expect, it } from 'vitest';
import { parseSecLangAst } from '../seclang/index.js';
import { exportRules } from './index.js';

const SHIELD = new URL('../../advisories/packs/proxylogon-2021-03/shield/', import.meta.url);
const load = (f: string) => parseSecLangAst(readFileSync(new URL(f, SHIELD), 'utf8'), f);

interface XmlRule {
  name: string;
  patternSyntax?: string;
  stopProcessing: string;
  match: { url: string };
  conditions?: { logicalGrouping: string; add: XmlCond[] };
  action: { type: string; statusCode?: string };
}
interface XmlCond {
  input: string;
  pattern: string;
  ignoreCase: string;
  negate: string;
}

function rulesOf(xml: string): XmlRule[] {
  expect(XMLValidator.validate(xml)).toBe(true);
  const p = new XMLParser({
    ignoreAttributes: false,
    attributeNamePrefix: '',
    isArray: (name) => name === 'rule' || name === 'add',
  });
  const doc = p.parse(xml) as {
    configuration: { 'system.webServer': { rewrite: { rules: { rule?: XmlRule[] } } } };
  };
  return doc.configuration['system.webServer'].rewrite.rules.rule ?? [];
}

/** EOMT facts, reference proxylogon.md §2.1 / waf.md §3.1 (microsoft/CSS-Exchange Security/src/EOMT.ps1). */
const EOMT = [
  {
    name: 'X-AnonResource-Backend Abort - inbound',
    stopProcessing: 'false',
    pattern: '(.*)X-AnonResource-Backend(.*)',
  },
  {
    name: 'X-BEResource Abort - inbound',
    stopProcessing: 'true',
    pattern: '(.*)X-BEResource=(.+)/(.+)~(.+)',
  },
];

describe('IIS URL Rewrite export', () => {
  it('eomt.conf → exactly the two EOMT rules', () => {
    const r = exportRules([load('eomt.conf')], 'iis');
    expect(r.skipped).toEqual([]);
    const rules = rulesOf(r.text);
    expect(rules).toHaveLength(2);
    rules.forEach((rule, i) => {
      const e = EOMT[i]!;
      expect(rule.name).toBe(e.name);
      expect(rule.stopProcessing).toBe(e.stopProcessing);
      expect(rule.match.url).toBe('.*');
      expect(rule.conditions!.logicalGrouping).toBe('MatchAll');
      expect(rule.conditions!.add).toEqual([
        { input: '{HTTP_COOKIE}', pattern: e.pattern, ignoreCase: 'true', negate: 'false' },
      ]);
      expect(rule.action).toEqual({ type: 'AbortRequest' });
    });
  });

  it('translates other rules generically; lossy drops what IIS cannot express', () => {
    const strict = load('strict.conf');
    expect(exportRules([strict], 'iis').skipped.map((s) => s.id)).toEqual([
      4210552, 4210553, 4210554, 4210555, 4210558,
    ]);
    const r = exportRules([strict, load('cve-2021-27065.conf')], 'iis', { lossy: true });
    expect(r.skipped).toEqual([
      { id: 4210555, reason: expect.stringMatching(/count/) },
      { id: 4210556, reason: expect.stringMatching(/REQUEST_BODY/) },
      { id: 4210557, reason: expect.stringMatching(/REQUEST_LINE cannot be expressed/) },
    ]);
    const rules = rulesOf(r.text);
    expect(rules.map((x) => x.name)).toEqual([
      expect.stringMatching(/^Bulwark 4210552 /),
      expect.stringMatching(/^Bulwark 4210553 /),
      expect.stringMatching(/^Bulwark 4210554 /),
      expect.stringMatching(/^Bulwark 4210558 /),
    ]);
    expect(rules[1]!.conditions!.add[0]).toEqual({
      input: '{HTTP_COOKIE}',
      pattern: 'x-beresource\\s*=\\s*[^;]*[^a-z0-9.~; \\-]',
      ignoreCase: 'true',
      negate: 'false',
    });
    expect(rules[1]!.action).toEqual({ type: 'AbortRequest' });
    expect(r.notes.some((n) => n.id === 4210552 && /urlDecodeUni dropped/.test(n.note))).toBe(true);
  });

  it('maps inputs, chains, OR-expansion, deny, urlDecode and refuses non-ECMAScript regexes', () => {
    const a = parseSecLangAst(
      [
        'SecRule REQUEST_METHOD "@streq POST" "id:100,phase:1,deny,status:404,t:none,chain"',
        '  SecRule REQUEST_FILENAME|QUERY_STRING "@contains autodiscover" "t:none,t:urlDecode,t:lowercase"',
        'SecRule REQUEST_HEADERS:X-Forwarded-For "@rx (?i)evil" "id:101,phase:1,deny"',
        'SecRule ARGS "@rx x" "id:102,phase:2,deny"',
        'SecRule REQUEST_URI "@beginsWith /ecp/" "id:103,phase:1,drop,t:none"',
        'SecRule REQUEST_HEADERS:User-Agent "!@contains outlook" "id:104,phase:1,deny"',
      ].join('\n'),
      't.conf',
    );
    const r = exportRules([a], 'iis', { iisEquivalents: {} });
    expect(Object.fromEntries(r.skipped.map((s) => [s.id, s.reason]))).toEqual({
      101: expect.stringMatching(/ECMAScript/),
      102: expect.stringMatching(/ARGS/),
      104: expect.stringMatching(/absent/),
    });
    const rules = rulesOf(r.text);
    expect(rules).toHaveLength(3);
    expect(rules[0]!.name).toBe('Bulwark 100 (1)');
    expect(rules[0]!.conditions!.add).toEqual([
      { input: '{REQUEST_METHOD}', pattern: '^POST$', ignoreCase: 'false', negate: 'false' },
      { input: '{UrlDecode:{URL}}', pattern: 'autodiscover', ignoreCase: 'true', negate: 'false' },
    ]);
    expect(rules[1]!.conditions!.add[1]!.input).toBe('{UrlDecode:{QUERY_STRING}}');
    expect(rules[0]!.action).toEqual({
      type: 'CustomResponse',
      statusCode: '404',
      statusReason: 'Not Found',
      statusDescription: 'Blocked by a Bulwark virtual patch',
    });
    expect(rules[2]!.conditions!.add[0]).toMatchObject({
      input: '{UrlDecode:{REQUEST_URI}}',
      pattern: '^\\/ecp\\/',
    });
    expect(rules[2]!.action.type).toBe('AbortRequest');
  });
});
