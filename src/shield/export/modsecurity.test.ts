import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parseSecLangAst } from '../seclang/index.js';
import { canonicalAst, exportModsecurity, exportRules } from './index.js';

const SHIELD = new URL('../../advisories/packs/proxylogon-2021-03/shield/', import.meta.url);
const FILES = ['eomt.conf', 'strict.conf', 'cve-2021-27065.conf'];
const pack = () => FILES.map((f) => parseSecLangAst(readFileSync(new URL(f, SHIELD), 'utf8'), f));

function roundTrip(text: string): void {
  const a = parseSecLangAst(text, 'in.conf');
  const e = exportModsecurity([a], { allowCrsIds: true });
  expect(e.skipped).toEqual([]);
  const b = parseSecLangAst(e.text, 'out.conf');
  expect(canonicalAst(b)).toEqual(canonicalAst(a));
  // Idempotent: the canonical form of the canonical form is itself (apart from the source comments).
  const again = exportModsecurity([b], { allowCrsIds: true }).text;
  const strip = (s: string) => s.replace(/^# .*$/gm, '');
  expect(strip(again)).toEqual(strip(e.text));
}

describe('ModSecurity export', () => {
  it('round-trips the ProxyLogon pack', () => {
    for (const ast of pack()) {
      const e = exportRules([ast], 'modsecurity');
      expect(e.skipped).toEqual([]);
      expect(canonicalAst(parseSecLangAst(e.text, 'x'))).toEqual(canonicalAst(ast));
    }
  });

  it('skips ids inside the CRS ranges with the reason', () => {
    const a = parseSecLangAst(
      [
        'SecRule ARGS "@rx a" "id:942100,phase:2,deny"',
        'SecRule ARGS "@rx b" "id:9500001,phase:2,deny"',
        'SecRule ARGS "@rx c" "id:899999,phase:2,deny"',
        'SecRule ARGS "@rx d" "id:1000000,phase:2,deny"',
      ].join('\n'),
      'crs.conf',
    );
    const e = exportRules([a], 'modsecurity');
    expect(e.skipped.map((s) => s.id)).toEqual([942100, 9500001]);
    expect(e.skipped[0]!.reason).toMatch(/CRS range/);
    expect(parseSecLangAst(e.text, 'x').rules.map((r) => r.id)).toEqual([899999, 1000000]);
  });

  it('resolves SecDefaultAction into each rule (self-contained output)', () => {
    roundTrip(
      [
        'SecRuleEngine DetectionOnly',
        'SecDefaultAction "phase:1,log,deny,status:406,t:lowercase"',
        'SecRule REQUEST_HEADERS:User-Agent "@contains evil" "id:10,phase:1,block"',
        'SecRule ARGS "@rx x" "id:11,phase:2,nolog,t:urlDecode"',
        'SecRuleRemoveById 5 7-9',
      ].join('\n'),
    );
    const a = parseSecLangAst(
      'SecDefaultAction "phase:1,log,deny,status:406,t:lowercase"\nSecRule ARGS "@rx x" "id:10,phase:1,block"',
      'd.conf',
    );
    const out = exportModsecurity([a]).text;
    expect(out).not.toMatch(/SecDefaultAction/);
    expect(out).toMatch(/deny,\\\n\s+status:406,\\\n\s+t:none,\\\n\s+t:lowercase/);
  });

  it('refuses values SecLang quoting cannot carry (hand-built AST)', () => {
    const a = parseSecLangAst('SecRule ARGS "@contains a" "id:12,phase:2,deny"', 'q.conf');
    a.rules[0]!.operator.argument = 'a\\';
    expect(exportModsecurity([a]).skipped).toEqual([{ id: 12, reason: expect.stringMatching(/backslash/) }]);
    a.rules[0]!.operator.argument = 'a\nb';
    expect(exportModsecurity([a]).skipped[0]!.reason).toMatch(/line break/);
  });

  const frag = fc.constantFrom(
    'a',
    'Bc',
    '\\s*',
    '.+',
    '[0-9]',
    '(x|y)',
    '\\"',
    "'",
    ' ',
    '/',
    '~',
    '%',
    '\\.',
    '=',
    ',',
    ';',
    '\\\\',
  );
  const pattern = fc.array(frag, { minLength: 1, maxLength: 6 }).map((p) => p.join(''));
  const literal = fc.stringMatching(/^[a-zA-Z0-9%;,=:._~'"-][a-zA-Z0-9 %;,=:._~'"-]{0,10}$/);
  const variable = fc.oneof(
    fc.constantFrom(
      'REQUEST_URI',
      'REQUEST_FILENAME',
      'QUERY_STRING',
      'REQUEST_METHOD',
      'REQUEST_BODY',
      'ARGS',
      'REQUEST_HEADERS',
    ),
    fc
      .tuple(
        fc.constantFrom('REQUEST_HEADERS', 'ARGS', 'REQUEST_COOKIES', 'ARGS_NAMES'),
        fc.stringMatching(/^[A-Za-z0-9_-]{1,8}$/),
      )
      .map(([v, s]) => `${v}:${s}`),
    fc.constantFrom('&ARGS', '&REQUEST_HEADERS:Cookie', "ARGS:'/^id/'", 'ARGS|!ARGS:x'),
  );
  const variables = fc.array(variable, { minLength: 1, maxLength: 3 }).map((v) => v.join('|'));
  const operator = fc.oneof(
    pattern.map((p) => `@rx ${p}`),
    pattern.map((p) => `!@rx ${p}`),
    fc
      .tuple(fc.constantFrom('contains', 'beginsWith', 'endsWith', 'streq', 'pm', 'within'), literal)
      .map(([o, l]) => `@${o} ${l}`),
    fc.constant('@unconditionalMatch'),
    fc.integer({ min: 0, max: 99 }).map((n) => `@gt ${n}`),
  );
  const ts = fc.array(
    fc.constantFrom(
      'none',
      'lowercase',
      'urlDecode',
      'urlDecodeUni',
      'removeNulls',
      'compressWhitespace',
      'trim',
    ),
    { maxLength: 4 },
  );
  const text = fc.stringMatching(/^[a-zA-Z0-9 ,:;'"<>/\\()=-]{1,20}$/).filter((s) => !s.endsWith('\\'));
  const q = (s: string) => s.replace(/'/g, "\\'").replace(/"/g, '\\"');
  const link = fc.record({ variables, operator, ts, capture: fc.boolean() });
  const starter = fc.record({
    phase: fc.constantFrom(1, 2),
    disruptive: fc.constantFrom('deny', 'drop', 'pass', 'block', ''),
    status: fc.option(fc.integer({ min: 400, max: 599 }), { nil: undefined }),
    log: fc.constantFrom('log', 'nolog', ''),
    msg: fc.option(text, { nil: undefined }),
    tags: fc.array(text, { maxLength: 2 }),
    severity: fc.option(fc.constantFrom('CRITICAL', '2', 'notice'), { nil: undefined }),
    links: fc.array(link, { minLength: 1, maxLength: 3 }),
  });
  const file = fc.record({
    engine: fc.constantFrom('', 'On', 'DetectionOnly', 'Off'),
    def: fc.constantFrom(
      '',
      'SecDefaultAction "phase:1,log,deny,status:403,t:lowercase"',
      'SecDefaultAction "phase:2,nolog,pass"',
    ),
    rules: fc.array(starter, { minLength: 1, maxLength: 4 }),
    ids: fc.uniqueArray(fc.integer({ min: 1, max: 99_999_999 }), { minLength: 4, maxLength: 4 }),
  });

  it('round trip: parse(export(parse(x))) ≡ parse(x) (fast-check)', () => {
    let parsed = 0;
    fc.assert(
      fc.property(file, (f) => {
        const lines: string[] = [];
        if (f.engine) lines.push(`SecRuleEngine ${f.engine}`);
        if (f.def) lines.push(f.def);
        f.rules.forEach((r, i) => {
          r.links.forEach((l, j) => {
            const acts: string[] = [];
            if (j === 0) {
              acts.push(`id:${f.ids[i]}`, `phase:${r.phase}`);
              if (r.disruptive) acts.push(r.disruptive);
              if (r.status !== undefined) acts.push(`status:${r.status}`);
              if (r.log) acts.push(r.log);
              if (r.msg !== undefined) acts.push(`msg:'${q(r.msg)}'`);
              for (const t of r.tags) acts.push(`tag:'${q(t)}'`);
              if (r.severity) acts.push(`severity:${r.severity}`);
            }
            for (const t of l.ts) acts.push(`t:${t}`);
            if (l.capture) acts.push('capture');
            if (j < r.links.length - 1) acts.push('chain');
            lines.push(
              `SecRule ${l.variables} "${l.operator.replace(/\\$/, '\\\\ ').replace(/(?<!\\)"/g, '\\"')}" "${acts.join(',')}"`,
            );
          });
        });
        const x = lines.join('\n');
        let ok = true;
        try {
          parseSecLangAst(x, 'in.conf');
        } catch {
          ok = false;
        }
        fc.pre(ok);
        parsed++;
        roundTrip(x);
      }),
      { numRuns: 300 },
    );
    expect(parsed).toBeGreaterThan(50);
  });
});
