import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { ShieldRequest } from '../types.js';
import { mergeRulesets, parseSecLang, SecLangError } from './index.js';
import { req } from './seclang.testkit.js';

/** Does a one-rule file (phase from the actions, default 2) match the request? Returns the match variable. */
function hit(vars: string, op: string, r: ShieldRequest, extra = ''): string | undefined {
  const rs = parseSecLang(`SecRule ${vars} "${op.replace(/"/g, '\\"')}" "id:1,deny${extra}"`, 't.conf');
  const phase = rs.rules[0]!.phase;
  const d = rs.evaluate(r, phase);
  return d.matches[0]?.variable;
}

const OWA: ShieldRequest = req({
  uri: '/owa/auth/logon.aspx?url=https%3A%2F%2Fmail.example.com%2Fowa%2F&reason=0',
  headers: [
    ['Host', 'mail.example.com'],
    ['User-Agent', 'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 Chrome/120.0 Safari/537.36'],
    ['Accept', 'text/html,application/xhtml+xml'],
    ['Accept-Language', 'en-US,en;q=0.9'],
    [
      'Cookie',
      'ClientId=8A1B2C3D4E5F; X-BackEndCookie=S-1-5-21-1=u56Lnp2ejJqBm5vHnM3Nm8; X-BEResource=EXCH01~1942062522; PrivateComputer=true',
    ],
  ],
});

describe('variables', () => {
  const r = req({
    method: 'POST',
    uri: '/a%2Fb/c.aspx?x=1&y=%3Cs%3E&flag#frag',
    headers: [
      ['Host', 'h'],
      ['X-Test', 'one'],
      ['x-test', 'two'],
      ['Cookie', 'a=1; b=x=y'],
      ['Cookie', ' c=3;;  =skip; d'],
      ['Content-Type', 'application/x-www-form-urlencoded'],
    ],
    body: Buffer.from('p=hello+world&q=%27'),
  });
  it('REQUEST_URI is decoded without fragment; REQUEST_FILENAME is the decoded path', () => {
    expect(hit('REQUEST_URI', '@streq /a/b/c.aspx?x=1&y=<s>&flag', r)).toBe('REQUEST_URI');
    expect(hit('REQUEST_FILENAME', '@streq /a/b/c.aspx', r)).toBe('REQUEST_FILENAME');
    expect(hit('REQUEST_FILENAME', '@contains ?', r)).toBeUndefined();
    expect(hit('REQUEST_BASENAME', '@streq c.aspx', r)).toBe('REQUEST_BASENAME');
    expect(hit('REQUEST_URI', '@beginsWith /x', req({ uri: 'http://h/x?y' }))).toBe('REQUEST_URI');
  });
  it('QUERY_STRING is raw; REQUEST_METHOD, REMOTE_ADDR, REQUEST_LINE, REQUEST_PROTOCOL', () => {
    expect(hit('QUERY_STRING', '@streq x=1&y=%3Cs%3E&flag', r)).toBe('QUERY_STRING');
    expect(hit('QUERY_STRING', '@rx .', req({ uri: '/' }))).toBeUndefined();
    expect(hit('REQUEST_METHOD', '@streq POST', r)).toBe('REQUEST_METHOD');
    expect(hit('REQUEST_METHOD', '@streq GET', r)).toBeUndefined();
    expect(hit('REMOTE_ADDR', '@streq 192.0.2.7', r)).toBe('REMOTE_ADDR');
    expect(hit('REQUEST_LINE', '@beginsWith POST /a%2Fb', r)).toBe('REQUEST_LINE');
    expect(hit('REQUEST_PROTOCOL', '@streq HTTP/1.1', r)).toBe('REQUEST_PROTOCOL');
  });
  it('ARGS are query args in phase 1 and query + urlencoded body args in phase 2', () => {
    expect(hit('ARGS', '@streq <s>', r, ',phase:1')).toBe('ARGS:y');
    expect(hit('ARGS', '@streq hello world', r, ',phase:1')).toBeUndefined();
    expect(hit('ARGS', '@streq hello world', r, ',phase:2')).toBe('ARGS:p');
    expect(hit('ARGS_POST', "@streq '", r)).toBe('ARGS_POST:q');
    expect(hit('ARGS_GET:X', '@streq 1', r)).toBe('ARGS_GET:x');
    expect(hit('ARGS_NAMES', '@streq flag', r)).toBe('ARGS_NAMES:flag');
    expect(hit('ARGS_POST_NAMES', '@streq x', r)).toBeUndefined();
    const json = { ...r, headers: [['Content-Type', 'application/json']] as const };
    expect(hit('ARGS', '@streq hello world', json)).toBeUndefined();
  });
  it('REQUEST_BODY only in phase 2', () => {
    expect(hit('REQUEST_BODY', '@contains hello', r, ',phase:2')).toBe('REQUEST_BODY');
    expect(hit('REQUEST_BODY', '@contains hello', r, ',phase:1')).toBeUndefined();
  });
  it('REQUEST_HEADERS: one value per header line, names case-insensitive', () => {
    const rs = parseSecLang('SecRule REQUEST_HEADERS:X-TEST "@streq two" "id:1,phase:1,deny"', 't');
    expect(rs.evaluate(r, 1).matches[0]?.variable).toBe('REQUEST_HEADERS:x-test');
    expect(hit('REQUEST_HEADERS:x-test', '@streq one', r, ',phase:1')).toBe('REQUEST_HEADERS:X-Test');
    expect(hit('REQUEST_HEADERS:x-test', '@streq one, two', r, ',phase:1')).toBeUndefined();
    expect(hit('REQUEST_HEADERS_NAMES', '@streq Content-Type', r, ',phase:1')).toBe(
      'REQUEST_HEADERS_NAMES:Content-Type',
    );
    expect(hit('&REQUEST_HEADERS:X-Test', '@eq 2', r, ',phase:1')).toBe('&REQUEST_HEADERS:X-Test');
    expect(hit('&REQUEST_HEADERS:Absent', '@eq 0', r, ',phase:1')).toBe('&REQUEST_HEADERS:Absent');
  });
  it('REQUEST_COOKIES parses every Cookie header as libmodsecurity v3 does', () => {
    expect(hit('REQUEST_COOKIES:b', '@streq x=y', r, ',phase:1')).toBe('REQUEST_COOKIES:b');
    expect(hit('REQUEST_COOKIES:C', '@streq 3', r, ',phase:1')).toBe('REQUEST_COOKIES:c');
    expect(hit('REQUEST_COOKIES:d', '@streq ""', r, ',phase:1')).toBeUndefined();
    expect(hit('REQUEST_COOKIES:d', '@rx ^$', r, ',phase:1')).toBe('REQUEST_COOKIES:d');
    expect(hit('REQUEST_COOKIES_NAMES', '@rx ^(a|b|c|d)$', r, ',phase:1')).toBe('REQUEST_COOKIES_NAMES:a');
    expect(hit('&REQUEST_COOKIES_NAMES', '@eq 4', r, ',phase:1')).toBe('&REQUEST_COOKIES_NAMES');
    expect(hit('REQUEST_COOKIES_NAMES', '@streq skip', r, ',phase:1')).toBeUndefined();
  });
  it('exclusions and regex selectors', () => {
    expect(hit('REQUEST_HEADERS|!REQUEST_HEADERS:x-test', '@rx ^(one|two)$', r, ',phase:1')).toBeUndefined();
    expect(hit('REQUEST_HEADERS|!REQUEST_HEADERS:Host', '@rx ^(one|two)$', r, ',phase:1')).toBe(
      'REQUEST_HEADERS:X-Test',
    );
    expect(hit('ARGS:/^[xy]$/', '@streq <s>', r)).toBe('ARGS:y');
    expect(hit('ARGS|!ARGS:/^[xy]$/', '@streq <s>', r)).toBeUndefined();
    expect(hit('REQUEST_METHOD|REMOTE_ADDR', '@ipMatch 192.0.2.0/24', r)).toBe('REMOTE_ADDR');
  });
});

describe('operators', () => {
  const r = req({ uri: '/Path/To?q=Hello%20World' });
  const cases: Array<[string, string, boolean]> = [
    ['ARGS:q', '@rx ^hello', false],
    ['ARGS:q', '@rx (?i)^hello', true],
    ['ARGS:q', 'World$', true],
    ['ARGS:q', '!@rx World', false],
    ['ARGS:q', '!@rx xyz', true],
    ['ARGS:q', '@contains lo Wo', true],
    ['ARGS:q', '@contains lo wo', false],
    ['ARGS:q', '@beginsWith Hell', true],
    ['ARGS:q', '@beginsWith ell', false],
    ['ARGS:q', '@endsWith orld', true],
    ['ARGS:q', '@endsWith orl', false],
    ['ARGS:q', '@streq Hello World', true],
    ['ARGS:q', '@streq Hello', false],
    ['ARGS:q', '@pm foo WORLD bar', true],
    ['ARGS:q', '@pm foo bar', false],
    ['REQUEST_METHOD', '@within GET POST', true],
    ['REQUEST_METHOD', '@within PUT POST', false],
    ['REMOTE_ADDR', '@ipMatch 10.0.0.0/8,192.0.2.7', true],
    ['REMOTE_ADDR', '@ipMatch 10.0.0.0/8,2001:db8::/32', false],
    ['ARGS:n', '@eq 42', true],
    ['ARGS:n', '@gt 41', true],
    ['ARGS:n', '@gt 42', false],
    ['ARGS:n', '@lt 43', true],
    ['ARGS:n', '@lt 42', false],
    ['ARGS:n', '@ge 42', true],
    ['ARGS:n', '@le 41', false],
    ['ARGS:q', '@eq 0', true],
    ['ARGS:q', '@unconditionalMatch', true],
    ['ARGS:q', '@noMatch', false],
  ];
  for (const [v, op, expected] of cases) {
    it(`${v} ${op} → ${expected}`, () => {
      const rr = { ...r, uri: `${r.uri}&n=42` };
      expect(hit(v, op, rr) !== undefined).toBe(expected);
    });
  }
  it('@ipMatch handles IPv6, v4-mapped addresses and junk', () => {
    expect(hit('REMOTE_ADDR', '@ipMatch 2001:db8::/32', req({ remoteAddr: '2001:db8:0:1::5' }))).toBe(
      'REMOTE_ADDR',
    );
    expect(hit('REMOTE_ADDR', '@ipMatch 2001:db8::/32', req({ remoteAddr: '2001:db9::5' }))).toBeUndefined();
    expect(hit('REMOTE_ADDR', '@ipMatch 192.0.2.0/24', req({ remoteAddr: '::ffff:192.0.2.9' }))).toBe(
      'REMOTE_ADDR',
    );
    expect(hit('REMOTE_ADDR', '@ipMatch ::1', req({ remoteAddr: '::1' }))).toBe('REMOTE_ADDR');
    expect(hit('REMOTE_ADDR', '@ipMatch 0.0.0.0/0', req({ remoteAddr: 'not-an-ip' }))).toBeUndefined();
  });
  it('@rx is dot-all and multi-line like libmodsecurity', () => {
    const r2 = req({ headers: [['X', 'a\nb']] });
    expect(hit('REQUEST_HEADERS:X', '@rx a.b', r2)).toBeDefined();
    expect(hit('REQUEST_HEADERS:X', '@rx ^b$', r2)).toBeDefined();
  });
  it('matches non-ASCII patterns against UTF-8 bytes', () => {
    expect(hit('ARGS:q', '@contains é', req({ uri: '/?q=caf%C3%A9' }))).toBe('ARGS:q');
  });
});

describe('transformations', () => {
  const cases: Array<[string, string, string]> = [
    ['lowercase', 'AbC', 'abc'],
    ['urlDecode', 'a%41+b%zz%4', 'aA b%zz%4'],
    ['urlDecodeUni', '%u0041%uFF21%41+', 'AAA '],
    ['htmlEntityDecode', '&lt;a&#x41;&#66;&quot&amp;&#x141;&nbsp', '<aAB"&A\xa0'],
    ['compressWhitespace', 'a \t\n b', 'a b'],
    ['removeWhitespace', ' a b ', 'ab'],
    ['removeNulls', 'a\0b', 'ab'],
    ['base64Decode', 'aGVsbG8=', 'hello'],
    ['normalizePath', '/a//b/./c/../d/', '/a/b/d/'],
    ['normalizePathWin', '\\a\\..\\b', '/b'],
    ['trim', '  x  ', 'x'],
  ];
  for (const [t, input, out] of cases) {
    it(`t:${t}`, () => {
      const r = req({ headers: [['X', input]] });
      // Config text is UTF-8: compare only ASCII through the operator; the excerpt shows the bytes.
      const esc = out
        .replace(/\\/g, '\\\\')
        .replace(/"/g, '\\"')
        .replace(/[^ -~]/g, '');
      const op = esc === out ? '@streq' : '@beginsWith';
      const rs = parseSecLang(`SecRule REQUEST_HEADERS:X "${op} ${esc}" "id:1,phase:1,deny,t:${t}"`, 't');
      expect(rs.evaluate(r, 1).matches[0]?.excerpt).toBe(out);
      const rs2 = parseSecLang(`SecRule REQUEST_HEADERS:X "@streq ${esc}" "id:1,phase:1,deny"`, 't');
      expect(rs2.evaluate(r, 1).matches).toHaveLength(input === out ? 1 : 0);
    });
  }
  it('fast paths of lowercase, compressWhitespace and normalizePath equal the plain algorithms', async () => {
    // The precheck that skips already-normal paths must never change the result of the full algorithm.
    const { TRANSFORMS, normalizePath, normalizeSegments: refNormalize } = await import('./transforms.js');
    const bytes = fc
      .array(
        fc.constantFrom('a', 'Z', 'q', '/', '.', ' ', '\t', '\n', '\xa0', '\xc0', '\xde', '\xb5', '\\', 'M'),
        {
          maxLength: 24,
        },
      )
      .map((a) => a.join(''));
    fc.assert(
      fc.property(bytes, (s) => {
        expect(TRANSFORMS.lowercase(s)).toBe(s.replace(/[A-Z]+/g, (m) => m.toLowerCase()));
        expect(TRANSFORMS.compressWhitespace(s)).toBe(s.replace(/[ \t\n\r\f\v\xa0]+/g, ' '));
        expect(normalizePath(s)).toBe(refNormalize(s));
        expect(TRANSFORMS.normalizePathWin(s)).toBe(refNormalize(s, true));
      }),
      { numRuns: 5000 },
    );
    // Bytes above 0x7f are not letters for ModSecurity's tolower.
    expect(TRANSFORMS.lowercase('\xc0BC\xde')).toBe('\xc0bc\xde');
  });
  it('applies in order; t:none resets SecDefaultAction transformations', () => {
    const r = req({ headers: [['X', '%41']] });
    const base = 'SecDefaultAction "phase:1,pass,t:urlDecode"\n';
    expect(
      parseSecLang(
        `${base}SecRule REQUEST_HEADERS:X "@streq a" "id:1,phase:1,deny,t:lowercase"`,
        't',
      ).evaluate(r, 1).action,
    ).toBe('deny');
    expect(
      parseSecLang(
        `${base}SecRule REQUEST_HEADERS:X "@streq a" "id:1,phase:1,deny,t:none,t:lowercase,t:urlDecode"`,
        't',
      ).evaluate(r, 1).action,
    ).toBe('allow');
    expect(
      parseSecLang(
        `${base}SecRule REQUEST_HEADERS:X "@streq a" "id:1,phase:1,deny,t:none,t:urlDecode,t:lowercase"`,
        't',
      ).evaluate(r, 1).action,
    ).toBe('deny');
    expect(
      parseSecLang(
        `${base}SecRule REQUEST_HEADERS:X "@streq a" "id:1,phase:1,deny,t:none,t:lowercase"`,
        't',
      ).evaluate(r, 1).action,
    ).toBe('allow');
  });
});

describe('actions and flow', () => {
  it('deny uses status (default 403); drop; pass continues; metadata reported', () => {
    const r = req({ uri: '/x?a=evil' });
    const rs = parseSecLang(
      [
        `SecRule ARGS "evil" "id:1,phase:1,pass,msg:'seen',tag:'a',tag:'b',severity:WARNING,nolog"`,
        'SecRule ARGS "evil" "id:2,phase:1,deny,status:418"',
        'SecRule ARGS "evil" "id:3,phase:1,drop"',
      ].join('\n'),
      't',
    );
    const d = rs.evaluate(r, 1);
    expect(d).toMatchObject({ action: 'deny', status: 418, detectionOnly: false });
    expect(d.matches.map((m) => m.id)).toEqual([1, 2]);
    expect(d.matches[0]).toMatchObject({
      msg: 'seen',
      tags: ['a', 'b'],
      severity: 'WARNING',
      action: 'pass',
      variable: 'ARGS:a',
      excerpt: 'evil',
    });
    expect(parseSecLang('SecRule ARGS "evil" "id:3,phase:1,deny"', 't').evaluate(r, 1).status).toBe(403);
    expect(parseSecLang('SecRule ARGS "evil" "id:3,phase:1,drop"', 't').evaluate(r, 1)).toEqual({
      action: 'drop',
      matches: [expect.objectContaining({ id: 3, action: 'drop' })],
      detectionOnly: false,
    });
    expect(rs.evaluate(req(), 1)).toEqual({ action: 'allow', matches: [], detectionOnly: false });
  });
  it('block and rules without a disruptive action use SecDefaultAction of their phase', () => {
    const r = req({ uri: '/x?a=evil' });
    const text =
      'SecDefaultAction "phase:1,log,deny,status:406"\nSecRule ARGS "evil" "id:1,phase:1,block"\nSecRule ARGS "evil" "id:2,phase:2"';
    const rs = parseSecLang(text, 't');
    expect(rs.evaluate(r, 1)).toMatchObject({ action: 'deny', status: 406 });
    expect(rs.evaluate(r, 2)).toMatchObject({ action: 'allow' });
    expect(parseSecLang('SecRule ARGS "evil" "id:1,phase:1,block"', 't').evaluate(r, 1).action).toBe('allow');
  });
  it('chains: all links must match; only the starter has id/phase/disruptive', () => {
    const rs = parseSecLang(
      'SecRule REQUEST_METHOD "@streq POST" "id:1,phase:1,deny,chain"\nSecRule REQUEST_FILENAME "@endsWith .aspx" "chain,t:lowercase"\nSecRule ARGS:a "@streq 1"',
      't',
    );
    expect(rs.rules[0]).toMatchObject({ id: 1, chain: 2, phase: 1 });
    expect(rs.evaluate(req({ method: 'POST', uri: '/X.ASPX?a=1' }), 1).action).toBe('deny');
    expect(rs.evaluate(req({ method: 'POST', uri: '/X.ASPX?a=2' }), 1).action).toBe('allow');
    expect(rs.evaluate(req({ method: 'GET', uri: '/X.ASPX?a=1' }), 1).action).toBe('allow');
  });
  it('capture fills TX:0..9 for chained rules', () => {
    const rs = parseSecLang(
      'SecRule ARGS:u "@rx ^(\\w+)@(\\w+)" "id:1,phase:1,deny,capture,chain"\nSecRule TX:2 "@streq evil"',
      't',
    );
    expect(rs.evaluate(req({ uri: '/?u=bob@evil' }), 1).action).toBe('deny');
    expect(rs.evaluate(req({ uri: '/?u=bob@good' }), 1).action).toBe('allow');
  });
  it('SecRuleEngine DetectionOnly reports but allows; Off evaluates nothing', () => {
    const r = req({ uri: '/?a=evil' });
    const rules = 'SecRule ARGS "evil" "id:1,phase:1,deny"\nSecRule ARGS "evil" "id:2,phase:1,drop"';
    const det = parseSecLang(`SecRuleEngine DetectionOnly\n${rules}`, 't');
    expect(det.engine).toBe('DetectionOnly');
    const d = det.evaluate(r, 1);
    expect(d.action).toBe('allow');
    expect(d.detectionOnly).toBe(true);
    expect(d.matches.map((m) => [m.id, m.action])).toEqual([
      [1, 'deny'],
      [2, 'drop'],
    ]);
    const off = parseSecLang(`SecRuleEngine Off\n${rules}`, 't');
    expect(off.evaluate(r, 1)).toEqual({ action: 'allow', matches: [], detectionOnly: false });
    expect(parseSecLang(rules, 't').engine).toBe('On');
  });
  it('SecRuleRemoveById with ids and ranges (anywhere in the file, across merged files)', () => {
    const r = req({ uri: '/?a=evil' });
    const rules = [1, 5, 10, 20].map((id) => `SecRule ARGS "evil" "id:${id},phase:1,pass"`).join('\n');
    const rs = parseSecLang(`SecRuleRemoveById 1 4-10\n${rules}`, 't');
    expect(rs.evaluate(r, 1).matches.map((m) => m.id)).toEqual([20]);
    expect(rs.rules.filter((x) => !x.enabled).map((x) => x.id)).toEqual([1, 5, 10]);
    const merged = mergeRulesets(parseSecLang(rules, 'a'), parseSecLang('SecRuleRemoveById 20', 'b'));
    expect(merged.evaluate(r, 1).matches.map((m) => m.id)).toEqual([1, 5, 10]);
    expect(() => mergeRulesets(parseSecLang(rules, 'a'), parseSecLang(rules, 'b'))).toThrow(SecLangError);
  });
  it('needsBody only for enabled phase-2 rules reading the body', () => {
    expect(parseSecLang('SecRule ARGS "x" "id:1,phase:2"', 't').needsBody).toBe(true);
    expect(parseSecLang('SecRule REQUEST_BODY "x" "id:1,phase:2"', 't').needsBody).toBe(true);
    expect(parseSecLang('SecRule ARGS "x" "id:1,phase:1"', 't').needsBody).toBe(false);
    expect(parseSecLang('SecRule REQUEST_URI "x" "id:1,phase:2"', 't').needsBody).toBe(false);
    expect(parseSecLang('SecRuleRemoveById 1\nSecRule ARGS "x" "id:1,phase:2"', 't').needsBody).toBe(false);
  });
});

describe('body buffering decided per request (RuleTransaction.needsBody)', () => {
  const C27065 = readFileSync(
    new URL('../../advisories/packs/proxylogon-2021-03/shield/cve-2021-27065.conf', import.meta.url),
    'utf8',
  );
  const post = (uri: string, body = '<script>x</script>', extra: Array<[string, string]> = []) =>
    req({ method: 'POST', uri, headers: [['Host', 'h'], ...extra], body: Buffer.from(body) });
  it('a body rule behind head conditions needs the body only when they hold (ProxyLogon 27065)', () => {
    const rs = parseSecLang(C27065, 'cve-2021-27065.conf');
    expect(rs.needsBody).toBe(true);
    const needs = (uri: string) => rs.begin(post(uri)).needsBody();
    expect(needs('/ecp/DDI/DDIService.svc/SetObject?schema=OABVirtualDirectory')).toBe(true);
    // Decoded and normalised as the rule does: encodings and case do not hide the path from the gate.
    expect(needs('/ecp/DDI/DDIService.svc/%53etObject?schema=OABVirtual%44irectory')).toBe(true);
    expect(needs('/ecp/ddi/../DDI//DDIService.SVC/SETOBJECT?schema=oabvirtualdirectory')).toBe(true);
    expect(needs('/ecp/DDI/DDIService.svc/GetList?schema=OABVirtualDirectory')).toBe(false);
    expect(needs('/ecp/DDI/DDIService.svc/SetObject?schema=Mailbox')).toBe(false);
    expect(needs('/ews/exchange.asmx')).toBe(false);
  });
  it('a body rule with no head-decided link needs every body; TX and ARGS links are not head-decided', () => {
    expect(parseSecLang('SecRule REQUEST_BODY "x" "id:1,phase:2"', 't').begin(post('/a')).needsBody()).toBe(
      true,
    );
    const tx = parseSecLang(
      'SecRule REQUEST_HEADERS:X "@rx (a)" "id:1,phase:2,pass,capture"\nSecRule TX:1 "@streq a" "id:2,phase:2,chain"\nSecRule REQUEST_BODY "x"',
      't',
    );
    expect(tx.begin(post('/a')).needsBody()).toBe(true);
    const args = parseSecLang(
      'SecRule ARGS:a "@streq 1" "id:1,phase:2,chain"\nSecRule REQUEST_BODY "x"',
      't',
    );
    expect(args.begin(post('/a')).needsBody()).toBe(true);
    // Any head-decided link of the chain can rule it out, not only the first.
    const later = parseSecLang(
      'SecRule REQUEST_BODY "x" "id:1,phase:2,chain"\nSecRule REQUEST_METHOD "@streq PUT"',
      't',
    );
    expect(later.begin(post('/a')).needsBody()).toBe(false);
    expect(later.begin({ ...post('/a'), method: 'PUT' }).needsBody()).toBe(true);
    // Phase-1 rules, removed rules and SecRuleEngine Off never need it.
    expect(parseSecLang('SecRule REQUEST_BODY "x" "id:1,phase:1"', 't').begin(post('/a')).needsBody()).toBe(
      false,
    );
    expect(
      parseSecLang('SecRuleRemoveById 1\nSecRule REQUEST_BODY "x" "id:1,phase:2"', 't')
        .begin(post('/a'))
        .needsBody(),
    ).toBe(false);
    expect(
      parseSecLang('SecRuleEngine Off\nSecRule REQUEST_BODY "x" "id:1,phase:2"', 't')
        .begin(post('/a'))
        .needsBody(),
    ).toBe(false);
  });
  it('when the body is not needed, phase 2 decides the same without it (random requests and rule shapes)', () => {
    const texts = [
      C27065,
      [
        'SecRule REQUEST_FILENAME "@endsWith .aspx" "id:1,phase:2,deny,t:lowercase,chain"',
        'SecRule ARGS|REQUEST_BODY "@rx <s" "t:urlDecode"',
        'SecRule REQUEST_HEADERS:Content-Type "@contains form" "id:2,phase:2,deny,chain"',
        'SecRule ARGS_POST:a "@streq 1" "chain"',
        'SecRule REQUEST_METHOD "!@streq GET"',
        'SecRule REQUEST_COOKIES:s "@rx ^(\\w+)$" "id:3,phase:2,pass,capture,chain"',
        'SecRule TX:1 "@streq x" "chain"',
        'SecRule ARGS_NAMES "@beginsWith q"',
      ].join('\n'),
    ];
    const rulesets = texts.map((t) => parseSecLang(t, 't'));
    const arb = fc.record({
      method: fc.constantFrom('GET', 'POST', 'PUT'),
      path: fc.constantFrom(
        '/ecp/DDI/DDIService.svc/SetObject',
        '/ecp/ddi/ddiservice.svc/%53etobject',
        '/owa/x.ASPX',
        '/a',
      ),
      query: fc.constantFrom('', '?schema=OABVirtualDirectory', '?a=1', '?q=<script', '?schema=x'),
      ct: fc.constantFrom('application/x-www-form-urlencoded', 'application/json'),
      cookie: fc.constantFrom('s=x', 's=y', 'a=b'),
      body: fc.constantFrom('a=1', 'q=<script>', '{"x":"runat=server"}', 'qq=<s', 'zzz'),
    });
    fc.assert(
      fc.property(arb, fc.constantFrom(0, 1), (a, i) => {
        const rs = rulesets[i]!;
        const r = req({
          method: a.method,
          uri: `${a.path}${a.query}`,
          headers: [
            ['Host', 'h'],
            ['Content-Type', a.ct],
            ['Cookie', a.cookie],
          ],
        });
        const txn = rs.begin(r);
        txn.phase1();
        if (txn.needsBody()) return;
        const without = txn.phase2();
        const withBody = rs.evaluate({ ...r, body: Buffer.from(a.body) }, 2);
        expect(without).toEqual(withBody);
      }),
      { numRuns: 1000 },
    );
  });
});

describe('ProxyLogon (EOMT rules in SecLang)', () => {
  const rules = parseSecLang(
    [
      'SecRule REQUEST_HEADERS:Cookie "@rx (?i)X-AnonResource-Backend" \\',
      "  \"id:26855,phase:1,drop,log,msg:'ProxyLogon X-AnonResource-Backend cookie',tag:'CVE-2021-26855'\"",
      'SecRule REQUEST_HEADERS:Cookie "@rx (?i)X-BEResource=(.+)/(.+)~(.+)" \\',
      "  \"id:26856,phase:1,drop,log,msg:'ProxyLogon malformed X-BEResource cookie',tag:'CVE-2021-26855'\"",
    ].join('\n'),
    'proxylogon.conf',
  );
  const withCookies = (...cookies: string[]) =>
    req({
      uri: '/owa/auth/x.js',
      headers: [['Host', 'mail.example.com'], ...cookies.map((c) => ['Cookie', c] as const)],
    });
  const ids = (r: ShieldRequest) => {
    const d = rules.evaluate(r, 1);
    return { action: d.action, ids: d.matches.map((m) => m.id) };
  };
  it("Microsoft's nmap probe is dropped by the first rule", () => {
    const d = rules.evaluate(
      withCookies(
        'X-AnonResource=true; X-AnonResource-Backend=localhost/ecp/default.flt?~3; X-BEResource=localhost/owa/auth/logon.aspx?~3;',
      ),
      1,
    );
    expect(d).toMatchObject({ action: 'drop', matches: [{ id: 26855, variable: 'REQUEST_HEADERS:Cookie' }] });
  });
  it('X-BEResource with / and ~ is dropped; the legitimate server~version form passes', () => {
    expect(ids(withCookies('X-BEResource=localhost/owa/auth/logon.aspx?~3'))).toEqual({
      action: 'drop',
      ids: [26856],
    });
    expect(ids(OWA)).toEqual({ action: 'allow', ids: [] });
  });
  it('evasions: case changes, whitespace, several Cookie headers, odd splitting', () => {
    expect(ids(withCookies('x-anonresource-backend=a')).action).toBe('drop');
    expect(ids(withCookies('foo=1;   X-ANONRESOURCE-BACKEND  =a')).action).toBe('drop');
    expect(ids(withCookies('foo=1', 'bar=2; x-beresource=a/b~c')).ids).toEqual([26856]);
    // `.` crosses `;`: / and ~ from other cookies in the same header still match (as IIS and ModSecurity do).
    expect(ids(withCookies('X-BEResource=a; p=/x; q=y~z')).ids).toEqual([26856]);
    // Split across two Cookie headers: ModSecurity evaluates each header line separately → no match.
    expect(ids(withCookies('X-BEResource=a/b', 'q=~c')).action).toBe('allow');
    // Folded/obs-fold whitespace kept in the value (dot-all) still matches.
    expect(ids(withCookies('X-BEResource=a/\r\n b~c')).action).toBe('drop');
    expect(ids(withCookies('X-Anon\tResource-Backend=a')).action).toBe('allow');
    // Cookie sent under another header name is not the Cookie header.
    expect(ids(req({ headers: [['X-Cookie', 'X-AnonResource-Backend=a']] })).action).toBe('allow');
  });
  it('performance: evaluations per second on a typical OWA request', () => {
    const n = 100_000;
    const t0 = performance.now();
    for (let i = 0; i < n; i++) rules.evaluate(OWA, 1);
    const ms = performance.now() - t0;
    const perSec = Math.round((n / ms) * 1000);
    console.log(`ProxyLogon rules: ${perSec} evaluations/s (${((ms * 1000) / n).toFixed(2)} µs each)`);
    expect(perSec).toBeGreaterThan(1000);
  }, 60_000);
});

describe('hostile input', () => {
  it('linear time: (a+)+$ on 50k a + ! finishes in milliseconds', () => {
    const rs = parseSecLang(
      'SecRule ARGS "(a+)+$" "id:1,phase:1,deny,capture"\nSecRule REQUEST_HEADERS "^(a|aa)*b$" "id:2,phase:1,deny"',
      't',
    );
    const payload = `${'a'.repeat(50_000)}!`;
    const t0 = performance.now();
    const d = rs.evaluate(req({ uri: `/?x=${payload}`, headers: [['X', payload]] }), 1);
    const d2 = rs.evaluate(req({ uri: `/?x=${'a'.repeat(50_000)}` }), 1);
    const ms = performance.now() - t0;
    expect(d.action).toBe('allow');
    expect(d2.action).toBe('deny');
    expect(ms).toBeLessThan(1000);
  });
  const arbReq = fc.record({
    method: fc.string({ maxLength: 10 }),
    uri: fc.oneof(
      fc.string({ maxLength: 200 }),
      fc.webUrl().map((u) => u.replace(/^https?:\/\/[^/]*/, '')),
    ),
    httpVersion: fc.constantFrom('1.0', '1.1', '2'),
    headers: fc.array(
      fc.tuple(
        fc.constantFrom('Cookie', 'cookie', 'Content-Type', 'X', 'Host'),
        fc.string({ maxLength: 100 }),
      ),
      { maxLength: 8 },
    ),
    remoteAddr: fc.oneof(fc.ipV4(), fc.ipV6(), fc.string({ maxLength: 20 })),
    body: fc.option(
      fc.uint8Array({ maxLength: 200 }).map((a) => Buffer.from(a)),
      { nil: undefined },
    ),
  });
  it('evaluate never throws on random requests', () => {
    const rs = parseSecLang(
      [
        'SecRule ARGS|ARGS_NAMES|REQUEST_COOKIES|REQUEST_COOKIES_NAMES|REQUEST_HEADERS|!REQUEST_HEADERS:Host "@rx (?i)<script" "id:1,phase:2,pass,t:urlDecodeUni,t:htmlEntityDecode,t:base64Decode,t:normalizePath,t:compressWhitespace,t:removeNulls,t:lowercase"',
        'SecRule REMOTE_ADDR "@ipMatch 10.0.0.0/8,::1/128" "id:2,phase:2,pass"',
        'SecRule REQUEST_BODY|QUERY_STRING|REQUEST_URI|REQUEST_FILENAME|REQUEST_METHOD "@pm select union" "id:3,phase:2,pass,t:urlDecode"',
        'SecRule &REQUEST_COOKIES "@gt 3" "id:4,phase:2,pass,capture,chain"',
        'SecRule TX:0 "@within 0123456789" ""',
      ].join('\n'),
      't',
    );
    fc.assert(
      fc.property(arbReq, fc.constantFrom(1 as const, 2 as const), (r, phase) => {
        const d = rs.evaluate(r as ShieldRequest, phase);
        expect(['allow', 'deny', 'drop']).toContain(d.action);
      }),
      { numRuns: 2000 },
    );
  });
});

describe('the @rx literal pre-check', () => {
  it('derives only substrings every match must contain', async () => {
    const { requiredPrefix } = await import('./operators.js');
    expect(requiredPrefix('x-anonresource-backend')).toBe('x-anonresource-backend');
    expect(requiredPrefix('x-beresource\\s*=.+/.+~.+')).toBe('x-beresource');
    expect(requiredPrefix('^/ecp/x')).toBe('/ecp/x');
    expect(requiredPrefix('abcd?')).toBe('abc');
    expect(requiredPrefix('abc.def')).toBe('abc');
    for (const none of ['a|bcd', '(?i)abcd', 'ab', '[abc]def', '\\sabc'])
      expect(requiredPrefix(none)).toBeNull();
  });
});
