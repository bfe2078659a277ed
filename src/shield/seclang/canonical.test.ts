/**
 * Canonicalisation (issue 10, item 4): a ProxyLogon CVE-2021-27065 request whose path IIS + ASP.NET read as
 * `/ecp/DDI/DDIService.svc/SetObject` must never reach the upstream, whatever spelling the client chose.
 *
 * - The gateway's parser refuses (400) every target form IIS reads differently from its decoded text
 *   (src/shield/http1/target.ts), so the rules see what IIS serves.
 * - The pack's rules catch the same forms on their own (t:normalizePathWin, REQUEST_URI, the `#` rule 4210557), so
 *   the ModSecurity export denies them in real nginx + ModSecurity too.
 * Both are tested as a class: variants generated from the canonical path by the transformations IIS treats as
 * equivalent (fast-check), not only the reproduction's strings.
 */
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { proxylogonBenign } from '../../lab/attacks/index.js';
import { findModsecNginx, type ModsecNginx, startModsecNginx } from '../../lab/modsec/index.js';
import { exportRules } from '../export/index.js';
import {
  C27065,
  EOMT,
  fetchRaw,
  type RawBackend,
  STRICT,
  startRawBackend,
} from '../gateway/gateway.testkit.js';
import { quickConfig, startGateway } from '../gateway/index.js';
import { parseAll, toShieldRequest } from '../http1/index.js';
import { ambiguousPath, ambiguousTarget } from '../http1/target.js';
import type { ShieldRequest } from '../types.js';
import { mergeRulesets, parseSecLang, parseSecLangAst, type Ruleset } from './index.js';

const FILES = [EOMT, STRICT, C27065];
const rules: Ruleset = mergeRulesets(...FILES.map((f) => parseSecLang(readFileSync(f, 'utf8'), f)));

const QUERY = 'schema=OABVirtualDirectory&msExchEcpCanary=Vd0fA2YlIk2SHv0kOPdIPNgCNRrw49gIbUf3ExQ4o8ZAD6Rnp.';
const BODY =
  '{"properties":{"Parameters":{"ExternalUrl":"http://f/#<script language=\\"JScript\\" runat=\\"server\\">function Page_Load(){eval(Request[\\"k\\"],\\"unsafe\\");}</script>"}}}';

function post(target: string, body = BODY): Buffer {
  return Buffer.from(
    `POST ${target} HTTP/1.1\r\nHost: mail.contoso.com\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
    'latin1',
  );
}

type Outcome = 'reject' | 'deny' | 'drop' | 'allow';

/** The gateway's decision in-process: its parser, then phase 1 and phase 2 of the rules. */
function gatewayOutcome(raw: Buffer, ruleset = rules): Outcome {
  const parsed = parseAll(raw);
  if (parsed.error) return 'reject';
  for (const r of parsed.requests) {
    const d1 = ruleset.evaluate(toShieldRequest(r.head, '127.0.0.1'), 1);
    if (d1.action !== 'allow') return d1.action;
    const d2 = ruleset.evaluate(toShieldRequest(r.head, '127.0.0.1', r.body), 2);
    if (d2.action !== 'allow') return d2.action;
  }
  return 'allow';
}

/** The rules alone on a target the parser never saw (what an engine without Bulwark's parser evaluates). */
function rulesOutcome(target: string): Outcome {
  const req: ShieldRequest = {
    method: 'POST',
    uri: target,
    httpVersion: '1.1',
    headers: [
      ['Host', 'mail.contoso.com'],
      ['Content-Type', 'application/json'],
    ],
    remoteAddr: '127.0.0.1',
  };
  const d1 = rules.evaluate(req, 1);
  if (d1.action !== 'allow') return d1.action;
  return rules.evaluate({ ...req, body: Buffer.from(BODY, 'latin1') }, 2).action;
}

const CANONICAL = `/ecp/DDI/DDIService.svc/SetObject?${QUERY}`;

/** Reproduction 4 of the issue, and the variants the brief names. */
const REPRODUCTION: Record<string, string> = {
  'backslash before SetObject': `/ecp/DDI/DDIService.svc\\SetObject?${QUERY}`,
  '%5c before SetObject': `/ecp/DDI/DDIService.svc%5cSetObject?${QUERY}`,
  'backslash before DDIService': `/ecp/DDI\\DDIService.svc/SetObject?${QUERY}`,
  'fragment then dot segment': `/ecp/x#/../DDI/DDIService.svc/SetObject?${QUERY}`,
  'fragment hides the query': '/ecp/DDI/DDIService.svc/SetObject#?schema=OABVirtualDirectory',
  'trailing dot on the .svc': `/ecp/DDI/DDIService.svc./SetObject?${QUERY}`,
  'trailing %20 on the .svc': `/ecp/DDI/DDIService.svc%20/SetObject?${QUERY}`,
  'cookieless session segment': `/ecp/(S(x))/DDI/DDIService.svc/SetObject?${QUERY}`,
  'encoded dot-dot segment': `/ecp/x/%2e%2e/DDI/DDIService.svc/SetObject?${QUERY}`,
  '%u-encoded letter': `/ecp/DDI/%u0044DIService.svc/SetObject?${QUERY}`,
  'double-encoded backslash': `/ecp/DDI/DDIService.svc%255cSetObject?${QUERY}`,
  'encoded ? then dot-dot': `/ecp/x%3f/../DDI/DDIService.svc/SetObject?${QUERY}`,
  '8.3 short name': `/ecp/DDI/DDISER~1.SVC/SetObject?${QUERY}`,
  'NTFS stream name': `/ecp/DDI/DDIService.svc::$DATA/SetObject?${QUERY}`,
};

describe('ambiguousTarget: the target forms IIS reads differently are named', () => {
  it.each([
    ['/a#b', /fragment/],
    ['/a\\b', /backslash/],
    ['/a%5Cb', /backslash/],
    ['/a/./b', /dot segment/],
    ['/a/%2E%2e/b', /dot segment/],
    ['/a/..', /dot segment/],
    ['/x.svc./y', /ending in "\." or space/],
    ['/x.svc%20/y', /ending in "\." or space/],
    ['/ecp/(S(abc))/x', /cookieless/],
    ['/ecp/(A(abc)F(def))/x', /cookieless/],
    ['/a%u002fb', /%u/],
    ['/a%zz', /two hex digits/],
    ['/a%', /two hex digits/],
    ['/a%252fb', /double/],
    ['/a%00b', /control/],
    ['/a%0ab', /control/],
    ['/a%7f', /control/],
    ['/a%3fb', /encoded "\?"/],
    ['/a%23b', /encoded "\?" or "#"/],
    ['/a.aspx::$DATA', /colon/],
    ['/a%3ab', /colon/],
    ['/a%c0%afb', /UTF-8/],
    ['/a%e0%80%afb', /UTF-8/],
    ['/a%ed%a0%80', /UTF-8/],
    ['/a%ff', /UTF-8/],
    ['/ecp/DDI/DDIService.svc%ef%bc%8fSetObject', /look-alike/],
    ['/ecp/DDI/DDIService%ef%bc%8esvc/SetObject', /look-alike/],
    ['/a%e2%88%95b', /look-alike/],
    ['/DDISER~1.SVC/x', /8\.3/],
    ['http://mail/a/../b', /dot segment/],
  ])('%s is refused (%s)', (target, why) => {
    expect(ambiguousTarget(target)).toMatch(why);
  });

  it.each([
    '/owa/',
    '/ecp/DDI/DDIService.svc/SetObject?schema=OABVirtualDirectory&x=%5c..%2f:%u1234',
    '/owa/auth/15.1.2176/themes/resources/favicon.ico',
    '/a//b',
    '/a;b/c',
    '/a+b',
    '/%C3%A9t%C3%A9',
    '/%e2%82%ac/%f0%9f%98%80',
    '/Microsoft-Server-ActiveSync?User=a&DeviceId=b&Cmd=Sync',
    '/rpc/rpcproxy.dll?exch01.contoso.com:6001',
    '/.well-known/x',
    '/a/.b',
    '/a/~user',
    'http://mail.contoso.com/owa/?a=b',
    '*',
  ])('%s passes', (target) => {
    expect(ambiguousTarget(target)).toBeUndefined();
  });

  it('every benign request of the hand-written Exchange corpus passes', () => {
    for (const r of proxylogonBenign()) {
      for (const q of parseAll(r.raw).requests)
        expect(ambiguousTarget(q.head.target), r.name).toBeUndefined();
    }
  });

  it('the parser answers 400 with the reason, before any rule (RFC 9112: no "#" in a request-target)', () => {
    const p = parseAll(Buffer.from('GET /owa/#x HTTP/1.1\r\nHost: a\r\n\r\n'));
    expect(p.requests).toEqual([]);
    expect(p.error).toEqual({
      status: 400,
      reason: 'request-target refused: fragment ("#") in request-target (RFC 9112 §3.2)',
    });
    expect(parseAll(Buffer.from('GET /ecp/a\\b HTTP/1.1\r\nHost: a\r\n\r\n')).error?.status).toBe(400);
  });
});

/**
 * The plain algorithm the one-pass ambiguousPath must agree with: decode the whole path (refusing what has no single
 * decoding), check the bytes, then split into segments and check each (TextDecoder is WHATWG's strict UTF-8).
 */
function referenceAmbiguous(path: string): boolean {
  let decoded = '';
  for (let i = 0; i < path.length; i++) {
    let c = path.charCodeAt(i);
    if (c === 0x25) {
      const hex = path.slice(i + 1, i + 3);
      if (!/^[0-9A-Fa-f]{2}$/.test(hex)) return true;
      c = Number.parseInt(hex, 16);
      i += 2;
      if (c === 0x25) return true;
    }
    if (c < 0x20 || c === 0x7f || c === 0x5c || c === 0x3f || c === 0x23 || c === 0x3a) return true;
    decoded += String.fromCharCode(c);
  }
  for (const run of decoded.match(/[\x80-\xff]+/g) ?? []) {
    try {
      const text = new TextDecoder('utf-8', { fatal: true }).decode(Buffer.from(run, 'latin1'));
      if (/[\uff0f\uff3c\uff0e\u2215\u2216\u2044\ufe52]/.test(text)) return true;
    } catch {
      return true;
    }
  }
  return decoded
    .split('/')
    .some(
      (seg) =>
        seg === '.' || seg === '..' || /[. ]$/.test(seg) || /^\([A-Za-z]\(/.test(seg) || /~[0-9]/.test(seg),
    );
}

describe('ambiguousPath: the one-pass check equals the plain algorithm', () => {
  const unit = fc.constantFrom(
    ...[
      '/',
      '/',
      'a',
      'Z',
      '.',
      '.',
      ' ',
      '(',
      'S',
      '~',
      '1',
      ':',
      '\\',
      '%',
      '%2e',
      '%2F',
      '%5c',
      '%20',
      '%25',
    ],
    ...['%00', '%3f', '%u0041', '%c3%a9', '%c0%af', '%e0%80%af', '%ed%a0%80', '%f0%9f%98%80', '%f4%90%80%80'],
    ...[
      '%e2%82',
      '%ff',
      '%C3',
      '%80',
      '\xe9',
      '%ef%bc%8f',
      '%EF%BC%BC',
      '%ef%bc%8e',
      '%e2%88%95',
      '%ef%bc%90',
    ],
  );
  it('refuses exactly the paths the plain algorithm refuses', () => {
    fc.assert(
      fc.property(fc.array(unit, { maxLength: 14 }), (parts) => {
        const p = parts.join('');
        expect(ambiguousPath(p) !== undefined, JSON.stringify(p)).toBe(referenceAmbiguous(p));
      }),
      { numRuns: 3000, seed: 11 },
    );
  });
});

describe('reproduction 4 and the named variants', () => {
  it('the canonical exploit is denied by the rules (403), the gateway parser accepts its target', () => {
    expect(ambiguousTarget(CANONICAL)).toBeUndefined();
    expect(gatewayOutcome(post(CANONICAL))).toBe('deny');
  });

  it.each(Object.entries(REPRODUCTION))('%s: refused by the gateway parser (400)', (_name, target) => {
    expect(gatewayOutcome(post(target))).toBe('reject');
  });

  it.each(Object.entries(REPRODUCTION))('%s: denied by the pack rules on their own', (_name, target) => {
    expect(rulesOutcome(target)).toBe('deny');
  });

  it('a benign SetObject on another schema and a GetList on the same schema still pass', () => {
    expect(gatewayOutcome(post(`/ecp/DDI/DDIService.svc/SetObject?schema=MailboxService`))).toBe('allow');
    expect(gatewayOutcome(post(`/ecp/DDI/DDIService.svc/GetList?${QUERY}`, '{"filter":{}}'))).toBe('allow');
    expect(gatewayOutcome(post(CANONICAL, '{"properties":{"ExternalUrl":"https://mail/OAB"}}'))).toBe(
      'allow',
    );
  });
});

// ---- the class: variants of the canonical path that IIS + ASP.NET read as the same request ----

const hex2 = (c: number, lower: boolean) => {
  const h = c.toString(16).padStart(2, '0');
  return `%${lower ? h : h.toUpperCase()}`;
};

type CharForm = 'lit' | 'flip' | 'pct' | 'pctl' | 'u' | 'double';
const charForm = fc.constantFrom<CharForm>(
  'lit',
  'lit',
  'lit',
  'lit',
  'lit',
  'flip',
  'flip',
  'pct',
  'pctl',
  'u',
  'double',
);

/** One character as IIS decodes it back (percent, %u, double encoding with allowDoubleEscaping, case). */
function spell(ch: string, form: CharForm): string {
  const c = ch.charCodeAt(0);
  switch (form) {
    case 'lit':
      return ch;
    case 'flip':
      return ch === ch.toLowerCase() ? ch.toUpperCase() : ch.toLowerCase();
    case 'pct':
      return hex2(c, false);
    case 'pctl':
      return hex2(c, true);
    case 'u':
      return `%u00${c.toString(16).padStart(2, '0')}`;
    case 'double':
      return `%25${c.toString(16).padStart(2, '0').toUpperCase()}`;
  }
}

/** A path separator, spelled in one of the ways http.sys reads as one "/" (or as "/" after resolving segments). */
const separator = fc.constantFrom(
  '/',
  '/',
  '/',
  '\\',
  '%5c',
  '%5C',
  '%2f',
  '//',
  '/./',
  '/%2e/',
  '/x/../',
  '/x/%2e%2e/',
  '\\x\\..\\',
  '/x%3f/../',
  '/x#/../',
  '/x/.%2E/',
  '/x/y/../../',
  '/x./..\\',
);
/** What Windows strips from the end of a file-system segment. */
const trailing = fc.constantFrom('', '', '', '.', ' ', '%20', '%2e', '..', '. .', '%20.');

interface Variant {
  ecp: CharForm[];
  ddi: CharForm[];
  svc: CharForm[];
  op: CharForm[];
  seps: [string, string, string];
  ddiTrail: string;
  svcTrail: string;
  cookieless: boolean;
  shortName: boolean;
  fragmentQuery: boolean;
}

const forms = (n: number) => fc.array(charForm, { minLength: n, maxLength: n });
const variant: fc.Arbitrary<Variant> = fc.record({
  ecp: forms(3),
  ddi: forms(3),
  svc: forms(14),
  op: forms(9),
  seps: fc.tuple(separator, separator, separator),
  ddiTrail: trailing,
  svcTrail: trailing,
  cookieless: fc.boolean(),
  shortName: fc.boolean(),
  fragmentQuery: fc.boolean(),
});

function spellWord(word: string, f: CharForm[]): string {
  return [...word].map((ch, i) => spell(ch, f[i] ?? 'lit')).join('');
}

function variantTarget(v: Variant): string {
  const svcName = v.shortName ? 'DDISER~1.SVC' : 'DDIService.svc';
  const path =
    `/${spellWord('ecp', v.ecp)}${v.cookieless ? '/(S(0123abcd))' : ''}${v.seps[0]}` +
    `${spellWord('DDI', v.ddi)}${v.ddiTrail}${v.seps[1]}` +
    `${spellWord(svcName, v.svc)}${v.svcTrail}${v.seps[2]}${spellWord('SetObject', v.op)}`;
  return `${path}${v.fragmentQuery ? '#' : ''}?${QUERY}`;
}

const NUM_RUNS = Number(process.env.BULWARK_CANONICAL_RUNS ?? 200);
/** Time bound per property; a long local run raises both (BULWARK_CANONICAL_RUNS, BULWARK_CANONICAL_TIME_MS). */
const TIME_MS = Number(process.env.BULWARK_CANONICAL_TIME_MS ?? 20_000);
let generated = 0;
afterAll(() => {
  console.log(`canonical: ${generated} generated variants checked`);
});

describe('property: every IIS-equivalent spelling of the exploit path is stopped', () => {
  it(
    'by the gateway (its parser refuses it, or the rules deny it)',
    () => {
      fc.assert(
        fc.property(variant, (v) => {
          generated++;
          const o = gatewayOutcome(post(variantTarget(v)));
          expect(['reject', 'deny']).toContain(o);
        }),
        { numRuns: NUM_RUNS, interruptAfterTimeLimit: TIME_MS, seed: 20210302 },
      );
    },
    TIME_MS * 2,
  );

  it(
    'by the pack rules alone, without the parser (what the ModSecurity export relies on)',
    () => {
      fc.assert(
        fc.property(variant, (v) => {
          generated++;
          expect(rulesOutcome(variantTarget(v))).toBe('deny');
        }),
        { numRuns: NUM_RUNS, interruptAfterTimeLimit: TIME_MS, seed: 20210303 },
      );
    },
    TIME_MS * 2,
  );

  it('the same variants without the web-shell body pass the rules (the patch is about the payload)', () => {
    fc.assert(
      fc.property(variant, (v) => {
        const raw = post(
          variantTarget(v),
          '{"properties":{"Parameters":{"ExternalUrl":"https://mail/OAB"}}}',
        );
        expect(['reject', 'allow']).toContain(gatewayOutcome(raw));
      }),
      { numRuns: 50, seed: 7 },
    );
  });
});

describe('through a real gateway: the upstream never receives a variant', () => {
  let backend: RawBackend;
  let gateway: Awaited<ReturnType<typeof startGateway>>;
  let port: number;
  beforeAll(async () => {
    backend = await startRawBackend();
    gateway = await startGateway(
      quickConfig({
        listen: '127.0.0.1:0',
        upstream: `http://127.0.0.1:${backend.port}`,
        ruleFiles: FILES,
      }),
    );
    port = gateway.addresses[0]!.port;
  });
  afterAll(async () => {
    await gateway?.close();
    await backend?.close();
  });

  it('reproduction 4 forms: 400; the canonical form: 403; a benign SetObject: forwarded byte for byte', async () => {
    for (const [name, target] of Object.entries(REPRODUCTION)) {
      const r = await fetchRaw(port, post(target), 'POST');
      expect(r.head.status, name).toBe(400);
    }
    expect((await fetchRaw(port, post(CANONICAL), 'POST')).head.status).toBe(403);
    expect(backend.requests).toEqual([]);
    const benign = `/ecp/DDI//DDIService.svc/SetObject?schema=MailboxService&a=%5c..%2f`;
    expect((await fetchRaw(port, post(benign), 'POST')).head.status).toBe(200);
    expect(backend.requests.map((r) => r.head.target)).toEqual([benign]);
  });

  it('sampled variants: 400 or 403, never forwarded', async () => {
    const samples = fc.sample(variant, { numRuns: 40, seed: 99 });
    for (const v of samples) {
      const status = (await fetchRaw(port, post(variantTarget(v)), 'POST')).head.status;
      expect([400, 403], variantTarget(v)).toContain(status);
    }
    expect(
      backend.requests.filter((r) => r.head.method === 'POST' && /SetObject/i.test(r.head.target)),
    ).toEqual(backend.requests.filter((r) => r.head.target.includes('MailboxService')));
  });
});

describe('exports of a rule with t:normalizePathWin', () => {
  const rule =
    'SecRule REQUEST_FILENAME "@rx /ddiservice\\.svc/setobject" "id:1000,phase:1,deny,status:403,t:none,t:normalizePathWin,t:lowercase"';
  const ast = () => [parseSecLangAst(rule, 'win.conf')];

  it('ModSecurity keeps it; nginx, HAProxy and IIS refuse it with the reason (lossy: dropped with a note)', () => {
    expect(exportRules(ast(), 'modsecurity').text).toContain('t:normalizePathWin');
    for (const format of ['nginx', 'haproxy', 'iis'] as const) {
      const strict = exportRules(ast(), format);
      expect(strict.skipped, format).toEqual([
        { id: 1000, reason: expect.stringMatching(/t:normalizePathWin has no equivalent/) },
      ]);
      const lossy = exportRules(ast(), format, { lossy: true });
      expect(lossy.skipped, format).toEqual([]);
      expect(lossy.notes.map((n) => n.note).join('\n'), format).toMatch(/t:normalizePathWin dropped/);
    }
  });
});

const found = findModsecNginx();
const missing = 'missing' in found ? found.missing : undefined;

if (missing && process.env.CI) {
  it('the ModSecurity oracle is available in CI', () => {
    throw new Error(`CI is set but ${missing}`);
  });
}

describe.skipIf(Boolean(missing))(
  `the pack's ModSecurity export in real nginx + ModSecurity${missing ? ` — skipped: ${missing}` : ''}`,
  () => {
    let oracle: ModsecNginx;
    beforeAll(async () => {
      const exported = exportRules(
        FILES.map((f) => parseSecLangAst(readFileSync(f, 'utf8'), f)),
        'modsecurity',
      );
      expect(exported.skipped).toEqual([]);
      const file = join(mkdtempSync(join(tmpdir(), 'bulwark-canonical-')), 'exported.conf');
      writeFileSync(file, exported.text);
      oracle = await startModsecNginx({ rulesFiles: [file], timeoutMs: 3000 });
    }, 30_000);
    afterAll(async () => {
      await oracle?.close();
    });

    /** nginx's own 400 (it refuses `%00`, `%u`, `..` above the root) counts as stopped too. */
    const stopped = (statuses: number[]) => statuses.length === 1 && [400, 403].includes(statuses[0]!);

    it('denies the canonical exploit and every reproduction-4 form', async () => {
      expect((await oracle.exchange(post(CANONICAL))).statuses).toEqual([403]);
      for (const [name, target] of Object.entries(REPRODUCTION)) {
        const e = await oracle.exchange(post(target));
        expect(stopped(e.statuses), `${name}: ${e.statuses}`).toBe(true);
      }
    });

    it('denies sampled variants as the rules alone do', async () => {
      const samples = fc.sample(variant, {
        numRuns: Number(process.env.BULWARK_CANONICAL_ORACLE_SAMPLES ?? 60),
        seed: 1234,
      });
      for (const v of samples) {
        const e = await oracle.exchange(post(variantTarget(v)));
        expect(stopped(e.statuses), `${variantTarget(v)}: ${e.statuses}`).toBe(true);
      }
    }, 300_000);

    it('lets a benign SetObject through', async () => {
      const e = await oracle.exchange(post(`/ecp/DDI/DDIService.svc/SetObject?schema=MailboxService`));
      expect(e.statuses).toEqual([200]);
    });
  },
);
