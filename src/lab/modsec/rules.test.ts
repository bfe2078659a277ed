/** The ProxyLogon rule files stay inside the SecLang subset Bulwark's engine implements, with RE2-safe regexes. */
import { readFileSync } from 'node:fs';
import { RE2JS } from 're2js';
import { describe, expect, it } from 'vitest';

const SHIELD = new URL('../../advisories/packs/proxylogon-2021-03/shield/', import.meta.url);
const FILES = ['eomt.conf', 'strict.conf', 'cve-2021-27065.conf'];

const VARIABLES = new Set([
  'REQUEST_URI',
  'REQUEST_FILENAME',
  'REQUEST_LINE',
  'REQUEST_METHOD',
  'QUERY_STRING',
  'ARGS',
  'ARGS_NAMES',
  'REQUEST_HEADERS',
  'REQUEST_HEADERS_NAMES',
  'REQUEST_COOKIES',
  'REQUEST_COOKIES_NAMES',
  'REQUEST_BODY',
  'REMOTE_ADDR',
]);
const OPERATORS = new Set([
  'rx',
  'contains',
  'beginsWith',
  'endsWith',
  'streq',
  'pm',
  'within',
  'ipMatch',
  'eq',
  'gt',
  'lt',
]);
const TRANSFORMS = new Set([
  'lowercase',
  'urlDecode',
  'urlDecodeUni',
  'htmlEntityDecode',
  'compressWhitespace',
  'removeNulls',
  'base64Decode',
  'normalizePath',
  'normalizePathWin',
  'none',
]);
const ACTIONS = new Set([
  'id',
  'phase',
  'deny',
  'drop',
  'pass',
  'block',
  'log',
  'nolog',
  'status',
  'msg',
  'tag',
  'severity',
  'chain',
  'capture',
  't',
]);

interface Rule {
  file: string;
  variables: string;
  operator: string;
  actions: string;
}

/** SecRule VARIABLES "OPERATOR" "ACTIONS", continuation lines joined; enough for these files. */
function rules(file: string): Rule[] {
  const text = readFileSync(new URL(file, SHIELD), 'utf8')
    .split('\n')
    .filter((l) => !l.trimStart().startsWith('#'))
    .join('\n')
    .replace(/\\\n\s*/g, '');
  const out: Rule[] = [];
  const re = /SecRule\s+(\S+)\s+"((?:[^"\\]|\\.)*)"\s+"((?:[^"\\]|\\.)*)"/g;
  for (const m of text.matchAll(re)) out.push({ file, variables: m[1]!, operator: m[2]!, actions: m[3]! });
  expect(text.match(/SecRule/g)?.length).toBe(out.length);
  return out;
}

describe('ProxyLogon SecLang files', () => {
  const all = FILES.flatMap(rules);

  it('use only the supported variables, operators, transformations and actions', () => {
    expect(all.length).toBe(13); // 4210555 is a chain of three
    for (const r of all) {
      for (const v of r.variables.split('|'))
        expect(VARIABLES, `${r.file}: ${v}`).toContain(v.replace(/^&/, '').split(':')[0]);
      const op = /^@(\w+)\s/.exec(r.operator)?.[1];
      expect(OPERATORS, `${r.file}: ${r.operator}`).toContain(op);
      for (const a of r.actions.split(/,(?=(?:[^']*'[^']*')*[^']*$)/)) {
        const [name, value] = [a.split(':')[0]!.trim(), a.slice(a.indexOf(':') + 1)];
        expect(ACTIONS, `${r.file}: ${a}`).toContain(name);
        if (name === 't') expect(TRANSFORMS, `${r.file}: ${a}`).toContain(value);
      }
    }
  });

  it('has ids in 4210550-4210559, unique, outside the CRS ranges', () => {
    const ids = all
      .map((r) => /(?:^|,)id:(\d+)/.exec(r.actions)?.[1])
      .filter((x): x is string => Boolean(x))
      .map(Number);
    expect(new Set(ids).size).toBe(ids.length);
    for (const id of ids) expect(id >= 4210550 && id <= 4210559).toBe(true);
  });

  it('compiles every @rx with RE2 (no look-around, no back-references)', () => {
    for (const r of all.filter((x) => x.operator.startsWith('@rx '))) {
      const pattern = r.operator.slice(4).replace(/\\"/g, '"');
      expect(() => RE2JS.compile(pattern), `${r.file}: ${pattern}`).not.toThrow();
    }
  });

  it('EOMT patterns keep Microsoft semantics on the lowercased raw header', () => {
    const eomt = rules('eomt.conf').map((r) => RE2JS.compile(r.operator.slice(4)));
    const [anon, be] = eomt as [RE2JS, RE2JS];
    const nse =
      'x-anonresource=true; x-anonresource-backend=localhost/ecp/default.flt?~3; x-beresource=localhost/owa/auth/logon.aspx?~3;';
    expect(anon.matcher(nse).find()).toBe(true);
    expect(be.matcher(nse).find()).toBe(true);
    expect(be.matcher('x-beresource=localhost~1942062522').find()).toBe(false);
    expect(be.matcher('x-beresource=exch01.contoso.com~1942062522').find()).toBe(false);
  });
});
