import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parseSecLang, parseSecLangAst, SecLangError } from './index.js';

function err(text: string): SecLangError {
  try {
    parseSecLang(text, 'rules.conf');
  } catch (e) {
    expect(e).toBeInstanceOf(SecLangError);
    return e as SecLangError;
  }
  throw new Error('expected SecLangError');
}

describe('parser', () => {
  it('handles continuations, comments, quoting and escapes', () => {
    const ast = parseSecLangAst(
      [
        '# comment',
        '',
        'SecRule REQUEST_HEADERS:User-Agent|!REQUEST_HEADERS:Referer \\',
        '   "@contains say \\"hi\\"" \\',
        "   \"id:10,phase:1,deny,status:406,msg:'a, b',tag:'x',tag:y,severity:2,t:none,t:lowercase\"",
        "SecRule ARGS 'evil' id:11",
      ].join('\n'),
      'r.conf',
    );
    const [r, r2] = ast.rules;
    expect(r!.source.line).toBe(3);
    expect(r!.operator).toEqual({ name: 'contains', argument: 'say "hi"', negated: false });
    expect(r!.variables).toEqual([
      {
        name: 'REQUEST_HEADERS',
        selector: 'User-Agent',
        selectorIsRegex: false,
        excluded: false,
        count: false,
      },
      { name: 'REQUEST_HEADERS', selector: 'Referer', selectorIsRegex: false, excluded: true, count: false },
    ]);
    expect(r!.actions).toMatchObject({
      id: 10,
      phase: 1,
      disruptive: 'deny',
      status: 406,
      msg: 'a, b',
      tags: ['x', 'y'],
    });
    expect(r!.actions.severity).toBe('CRITICAL');
    expect(r!.transformations).toEqual(['lowercase']);
    expect(r2!.operator).toEqual({ name: 'rx', argument: 'evil', negated: false });
    expect(r2!.phase).toBe(2);
    expect(r2!.effectiveAction).toBe('pass');
  });

  it('parses negation, counts, regex selectors and chains', () => {
    const ast = parseSecLangAst(
      'SecRule &ARGS:/^id_/ "!@eq 0" "id:1,phase:2,deny,chain"\nSecRule REQUEST_METHOD "@streq POST" "t:none"',
      'r.conf',
    );
    const r = ast.rules[0]!;
    expect(r.variables[0]).toMatchObject({
      name: 'ARGS',
      selector: '^id_',
      selectorIsRegex: true,
      count: true,
    });
    expect(r.operator).toEqual({ name: 'eq', argument: '0', negated: true });
    expect(r.chain?.operator.name).toBe('streq');
    expect(r.chain?.source.line).toBe(2);
  });

  const cases: Array<[string, string, RegExp]> = [
    [
      'unsupported directive',
      'SecRuleEngine On\nSecAction "id:1"',
      /^rules\.conf:2: SecAction is not supported \(supported: SecRule, SecRuleEngine/,
    ],
    ['unknown variable', 'SecRule FOO "x" "id:1"', /rules\.conf:1: variable FOO is not supported/],
    [
      'unknown operator',
      'SecRule ARGS "@detectSQLi" "id:1"',
      /rules\.conf:1: operator @detectSQLi is not supported/,
    ],
    ['unknown transformation', 'SecRule ARGS "x" "id:1,t:md5"', /transformation t:md5 is not supported/],
    ['unknown action', 'SecRule ARGS "x" "id:1,setvar:tx.a=1"', /action setvar is not supported/],
    ['missing id', '\nSecRule ARGS "x" "phase:1"', /rules\.conf:2: the rule has no id/],
    [
      'duplicate id',
      'SecRule ARGS "x" "id:5"\nSecRule ARGS "y" "id:5"',
      /rules\.conf:2: duplicate rule id 5 \(first defined on line 1\)/,
    ],
    [
      'look-ahead',
      'SecRule ARGS "(?=.*a)b" "id:77"',
      /rules\.conf:1: rule id 77: regular expression .* refused by the linear-time engine/,
    ],
    ['back-reference', 'SecRule ARGS "(a)\\1" "id:78"', /rule id 78: .*refused/],
    ['unterminated quote', 'SecRule ARGS "x', /unterminated double-quoted/],
    ['chain without follower', 'SecRule ARGS "x" "id:1,chain"', /rule id 1 ends with "chain"/],
    [
      'chain followed by other directive',
      'SecRule ARGS "x" "id:1,chain"\nSecRuleEngine On',
      /rules\.conf:2: SecRuleEngine follows a rule with "chain"/,
    ],
    [
      'id in chained rule',
      'SecRule ARGS "x" "id:1,chain"\nSecRule ARGS "y" "id:2"',
      /rules\.conf:2: id may only appear on the chain starter/,
    ],
    ['phase 3', 'SecRule ARGS "x" "id:1,phase:3"', /phase:3 is not supported/],
    ['bad engine', 'SecRuleEngine Maybe', /SecRuleEngine takes one of On, DetectionOnly, Off/],
    ['bad range', 'SecRuleRemoveById 10-2', /range 10-2 is reversed/],
    ['bad ipMatch', 'SecRule REMOTE_ADDR "@ipMatch 300.1.1.1" "id:1"', /is not an IPv4\/IPv6 address/],
    ['macro', 'SecRule ARGS "@streq %{tx.x}" "id:1"', /macro expansion/],
    ['exclusion without selector', 'SecRule ARGS|!ARGS "x" "id:1"', /needs a selector/],
    ['selector on scalar', 'SecRule REQUEST_URI:x "x" "id:1"', /single value and takes no :selector/],
    ['default without disruptive', 'SecDefaultAction "phase:1,log"', /needs a disruptive action/],
  ];
  for (const [name, text, re] of cases) {
    it(`error: ${name}`, () => {
      const e = err(text);
      expect(e.message).toMatch(re);
      expect(e.file).toBe('rules.conf');
    });
  }

  it('never throws anything but SecLangError on random text', () => {
    const tokens = fc.constantFrom(
      'SecRule',
      'SecRuleEngine',
      'SecDefaultAction',
      'SecRuleRemoveById',
      'ARGS',
      'REQUEST_HEADERS:Cookie',
      '!',
      '&',
      '|',
      '"',
      "'",
      '\\',
      '\n',
      ' ',
      '@rx',
      '@pm',
      '@ipMatch',
      'id:1',
      ',',
      'chain',
      'phase:1',
      't:none',
      ':',
      '/',
      '(',
      ')',
      '?=',
      'deny',
      'status:',
      "msg:'",
      '#',
      '1-5',
      'On',
      '@eq',
      '!@',
      '%{',
      '::1/64',
    );
    fc.assert(
      fc.property(
        fc.oneof(
          fc.string(),
          fc.array(tokens, { maxLength: 40 }).map((a) => a.join('')),
        ),
        (text) => {
          try {
            parseSecLang(text, 'f.conf');
          } catch (e) {
            if (!(e instanceof SecLangError)) throw e;
          }
        },
      ),
      { numRuns: 3000 },
    );
  });
});
