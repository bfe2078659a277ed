/**
 * nginx + ModSecurity v3 (Debian's libnginx-mod-http-modsecurity) as the oracle for the ProxyLogon virtual patch.
 * The exact decision per hand-written request is recorded here; Bulwark's gateway is later compared against it.
 */

import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CORPUS_DIR } from '../../../test/support/corpus-dir.js';
import { buildCorpus, type LabelledRequest, rawRequest } from '../attacks/index.js';
import { findModsecNginx, type ModsecNginx, type OracleDecision, startModsecNginx } from './index.js';

const SHIELD = fileURLToPath(new URL('../../advisories/packs/proxylogon-2021-03/shield/', import.meta.url));
const EOMT = `${SHIELD}eomt.conf`;
const STRICT = `${SHIELD}strict.conf`;
const ECP = `${SHIELD}cve-2021-27065.conf`;

const found = findModsecNginx();
const missing = 'missing' in found ? found.missing : undefined;
const inCi = Boolean(process.env.CI);

/** What ModSecurity-in-nginx did to each hand-written request, with eomt.conf + cve-2021-27065.conf. */
const EXPECTED: Record<string, [OracleDecision, number[]]> = {
  'nse-x.js': ['drop', []],
  'msf-scanner-x.js-post': ['drop', []],
  'nuclei-x.js': ['drop', []],
  'y.js-autodiscover': ['drop', []],
  'y.js-mapi-emsmdb': ['drop', []],
  'y.js-proxyLogon.ecp': ['drop', []],
  'msf-rce-getlist': ['drop', []],
  'ssrf-setobject': ['drop', []],
  'fqdn-discovery': ['allow', [200]], // EOMT needs a "/": strict.conf only
  '27065-setobject-oab': ['block', [403]],
  '27065-reset-oab': ['block', [403]],
  '27065-lowercase-path-entity': ['block', [403]],
  '27065-json-unicode-escape': ['block', [403]],
  '27065-percent-schema-dotslash-path': ['block', [403]],
  '27065-form-urlencoded': ['block', [403]],
  'evasion-two-cookie-headers': ['drop', []],
  'evasion-split-anon-cookies': ['drop', []],
  'evasion-mixed-case': ['drop', []],
  'evasion-upper-anon': ['drop', []],
  'evasion-percent-value': ['drop', []],
  'evasion-percent-name': ['drop', []],
  'evasion-percent-null': ['drop', []],
  'evasion-space-before-equals': ['drop', []],
  'evasion-leading-whitespace': ['drop', []],
  'evasion-obs-fold': ['block', [400]], // nginx itself rejects obs-fold; ModSecurity never sees it
  'evasion-http10': ['drop', []],
  'evasion-absolute-form': ['drop', []],
  'evasion-pipelined-after-benign': ['drop', [200]], // first request answered, connection closed at the second
  'evasion-pipelined-first': ['drop', []],
  'evasion-backslash-path': ['allow', [200]], // strict.conf only
  'owa-logon-page': ['allow', [200]],
  'owa-auth-post': ['allow', [200]],
  'owa-mailbox': ['allow', [200]],
  'owa-service-findfolder': ['allow', [200]],
  'owa-theme-resource': ['allow', [200]],
  'ecp-home': ['allow', [200]],
  'ecp-getlist-vdir': ['allow', [200]],
  'ecp-setobject-oab-benign': ['allow', [200]],
  'ecp-setobject-owa-vdir-benign': ['allow', [200]],
  'ecp-setobject-other-schema-with-script-text': ['allow', [200]],
  'eas-sync': ['allow', [200]],
  'eas-options': ['allow', [200]],
  'ews-getfolder': ['allow', [200]],
  'mapi-emsmdb-connect': ['allow', [200]],
  'autodiscover-xml': ['allow', [200]],
  'autodiscover-json': ['allow', [200]],
  'oab-download': ['allow', [200]],
  'rpc-over-http': ['block', [400]], // nginx rejects the method token RPC_IN_DATA ("_"), before ModSecurity
  'lookalike-cookies': ['allow', [200]],
  'legit-beresource-two-headers': ['allow', [200]],
  'benign-http10': ['allow', [200]],
  'benign-pipelined': ['allow', [200, 200]],
};
const STRICT_CHANGES: Record<string, [OracleDecision, number[]]> = {
  'fqdn-discovery': ['drop', []],
  'evasion-backslash-path': ['drop', []],
};
/** Requests nginx answers before (or beside) any ProxyLogon rule: not ModSecurity decisions. */
const NGINX_REJECTS = new Set(['evasion-obs-fold', 'rpc-over-http']);
/** CRS regression requests nginx's own parser refuses (400): malformed on purpose (920xxx protocol tests). */
const EXTERNAL_NOT_ALLOWED: Record<string, number> = {
  'crs:tests/regression/tests/REQUEST-920-PROTOCOL-ENFORCEMENT/920100.yaml#3': 400,
  'crs:tests/regression/tests/REQUEST-920-PROTOCOL-ENFORCEMENT/920100.yaml#4': 400,
  'crs:tests/regression/tests/REQUEST-920-PROTOCOL-ENFORCEMENT/920100.yaml#5': 400,
  'crs:tests/regression/tests/REQUEST-920-PROTOCOL-ENFORCEMENT/920290.yaml#1': 400,
  'crs:tests/regression/tests/REQUEST-920-PROTOCOL-ENFORCEMENT/920300.yaml#2': 400,
  'crs:tests/regression/tests/REQUEST-920-PROTOCOL-ENFORCEMENT/920300.yaml#3': 400,
  'crs:tests/regression/tests/REQUEST-949-BLOCKING-EVALUATION/949110.yaml#4': 400,
};

async function runAll(o: ModsecNginx, reqs: LabelledRequest[]) {
  const out = new Map<string, { decision: OracleDecision; statuses: number[] }>();
  for (let i = 0; i < reqs.length; i += 32) {
    const batch = reqs.slice(i, i + 32);
    const res = await Promise.all(batch.map((r) => o.exchange(r.raw)));
    batch.forEach((r, j) => {
      const e = res[j]!;
      out.set(r.name, { decision: e.decision, statuses: e.statuses });
    });
  }
  return out;
}

if (missing && inCi) {
  it('ModSecurity oracle is available in CI', () => {
    throw new Error(`CI is set but ${missing}`);
  });
}

for (const strict of [false, true]) {
  const label = strict ? 'eomt + strict + 27065' : 'eomt + 27065';
  describe.skipIf(Boolean(missing))(
    `nginx + ModSecurity oracle (${label})${missing ? ` — skipped: ${missing}` : ''}`,
    () => {
      const corpus = buildCorpus({ corpusDir: CORPUS_DIR });
      const all = [...corpus.attacks, ...corpus.benign];
      let oracle: ModsecNginx;
      let results: Map<string, { decision: OracleDecision; statuses: number[] }>;

      beforeAll(async () => {
        oracle = await startModsecNginx({
          rulesFiles: strict ? [EOMT, STRICT, ECP] : [EOMT, ECP],
          workers: 2,
          timeoutMs: 3000,
        });
        results = await runAll(oracle, all);
      }, 60_000);
      afterAll(async () => {
        await oracle?.close();
      });

      it('records the exact decision for every hand-written request', () => {
        const handWritten = all.filter((r) => r.name in EXPECTED);
        expect(handWritten.length).toBe(Object.keys(EXPECTED).length);
        const got = Object.fromEntries(
          handWritten.map((r) => [r.name, [results.get(r.name)?.decision, results.get(r.name)?.statuses]]),
        );
        const want = { ...EXPECTED, ...(strict ? STRICT_CHANGES : {}) };
        expect(got).toEqual(want);
      });

      it('stops 100% of the attack corpus', () => {
        const passed = corpus.attacks
          .filter((r) => !r.strictOnly || strict)
          .filter((r) => results.get(r.name)?.decision === 'allow')
          .map((r) => r.name);
        expect(passed).toEqual([]);
        // ModSecurity's own decisions (not nginx's 400) are `drop` for the cookie rules, `block` 403 for 27065.
        for (const r of corpus.attacks) {
          if (NGINX_REJECTS.has(r.name) || (r.strictOnly && !strict)) continue;
          expect(results.get(r.name)?.decision, r.name).toBe(r.name.startsWith('27065') ? 'block' : 'drop');
        }
      });

      it('allows 100% of the benign corpus (nginx parser rejections listed separately)', () => {
        const stopped = corpus.benign
          .filter((r) => results.get(r.name)?.decision !== 'allow')
          .map((r) => [r.name, results.get(r.name)?.statuses[0]]);
        const expected = [
          ...corpus.benign.filter((r) => NGINX_REJECTS.has(r.name)).map((r) => [r.name, 400]),
          ...Object.entries(EXTERNAL_NOT_ALLOWED).filter(([n]) => results.has(n)),
        ];
        expect(stopped).toEqual(expected);
        // None of those is a ModSecurity (403 / dropped) decision.
        for (const [, status] of stopped) expect(status).toBe(400);
      });

      it('answers a ProxyLogon rule hit in the nginx error log with the rule id', async () => {
        const log = await oracle.errorLog();
        expect(log).toContain('[id "4210550"]');
        expect(log).toContain('[id "4210551"]');
        expect(log).toContain('[id "4210556"]');
        if (strict) expect(log).toContain('[id "4210552"]');
      });
    },
  );
}

describe.skipIf(Boolean(missing))(
  'nginx + ModSecurity with Debian CRS 3.3 (PL1) beside the ProxyLogon patch',
  () => {
    let oracle: ModsecNginx;
    beforeAll(async () => {
      oracle = await startModsecNginx({ rulesFiles: [EOMT, ECP], crs: true });
    }, 30_000);
    afterAll(async () => {
      await oracle?.close();
    });
    it('CRS blocks SQLi with 403, the EOMT rule still drops, benign passes', async () => {
      const { attacks, benign } = buildCorpus();
      const nse = attacks.find((r) => r.name === 'nse-x.js')!;
      const logon = benign.find((r) => r.name === 'owa-logon-page')!;
      const sqli = rawRequest('GET', '/owa/?q=%27%20union%20select%201,2--', [
        ['User-Agent', 'Mozilla/5.0'],
        ['Accept', '*/*'],
      ]);
      expect(await oracle.decide(sqli)).toBe('block');
      expect(await oracle.decide(nse.raw)).toBe('drop');
      expect(await oracle.decide(logon.raw)).toBe('allow');
    });
  },
);
