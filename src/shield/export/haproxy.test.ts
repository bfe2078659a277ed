import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseSecLangAst } from '../seclang/index.js';
import { exportRules } from './index.js';

const SHIELD = new URL('../../advisories/packs/proxylogon-2021-03/shield/', import.meta.url);
const load = (f: string) => parseSecLangAst(readFileSync(new URL(f, SHIELD), 'utf8'), f);
const HAPROXY = ['/usr/sbin/haproxy', '/usr/bin/haproxy', '/usr/local/sbin/haproxy'].find((p) =>
  existsSync(p),
);

/** `haproxy -c` on a minimal config with the snippet in a frontend. */
function haproxyCheck(snippet: string): { ok: boolean; out: string } {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'bulwark-haproxy-'));
  try {
    const cfg = path.join(dir, 'haproxy.cfg');
    const body = snippet
      .split('\n')
      .map((l) => `  ${l}`)
      .join('\n');
    writeFileSync(
      cfg,
      `global\n  log stdout format raw local0\ndefaults\n  mode http\n  timeout client 5s\n  timeout server 5s\n  timeout connect 5s\nfrontend fe\n  bind 127.0.0.1:18080\n${body}\n  default_backend be\nbackend be\n  server s1 127.0.0.1:9\n`,
    );
    const r = spawnSync(HAPROXY!, ['-c', '-f', cfg], { encoding: 'utf8' });
    return { ok: r.status === 0, out: `${r.stdout}${r.stderr}` };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const MIXED = parseSecLangAst(
  [
    'SecRule REQUEST_METHOD "@streq POST" "id:100,phase:1,deny,status:405,t:none,chain"',
    '  SecRule REQUEST_FILENAME|QUERY_STRING "@contains autodiscover" "t:none,t:urlDecode,t:lowercase"',
    'SecRule REQUEST_HEADERS:X-Test "@rx it\'s \\"quoted\\" [a-z]{2,}\\s#x" "id:101,phase:1,drop,t:none"',
    'SecRule ARGS "@rx x" "id:102,phase:2,deny"',
    'SecRule REQUEST_URI "!@beginsWith /ecp/" "id:103,phase:1,drop,t:none"',
  ].join('\n'),
  'mixed.conf',
);

describe('HAProxy export', () => {
  it('ProxyLogon pack (lossy): acl lines per rule', () => {
    const r = exportRules([load('eomt.conf'), load('strict.conf'), load('cve-2021-27065.conf')], 'haproxy', {
      lossy: true,
    });
    expect(r.skipped.map((s) => s.id)).toEqual([4210555, 4210556, 4210557]); // &count; body; REQUEST_LINE (the "#" rule)
    expect(r.text).toContain("acl bw_4210550_1 req.fhdr(cookie) -m reg -i 'x-anonresource-backend'");
    expect(r.text).toContain("acl bw_4210551_1 req.fhdr(cookie) -m reg -i 'x-beresource\\s*=.+/.+~.+'");
    expect(r.text).toContain('http-request silent-drop if bw_4210551_1');
    expect(exportRules([load('eomt.conf')], 'haproxy').skipped).toHaveLength(2); // t:urlDecodeUni, not lossy
  });

  it('chains, OR, deny status, url_dec, quoting', () => {
    const r = exportRules([MIXED], 'haproxy');
    expect(Object.fromEntries(r.skipped.map((s) => [s.id, s.reason]))).toEqual({
      102: expect.stringMatching(/ARGS/),
    });
    expect(r.text).toContain("acl bw_100_1 method -m reg '^POST$'");
    expect(r.text).toContain("acl bw_100_2 path,url_dec,url_dec -m reg -i 'autodiscover'");
    expect(r.text).toContain("acl bw_100_2 query,url_dec -m reg -i 'autodiscover'");
    expect(r.text).toContain('http-request deny deny_status 405 if bw_100_1 bw_100_2');
    expect(r.text).toContain(`acl bw_101_1 req.fhdr(x-test) -m reg 'it'"'"'s "quoted" [a-z]{2,}\\s#x'`);
    expect(r.text).toContain('http-request silent-drop if !bw_103_1');
  });

  it.skipIf(!HAPROXY)('haproxy -c accepts the exports', () => {
    const pack = exportRules([load('eomt.conf'), load('strict.conf')], 'haproxy', { lossy: true }).text;
    const a = haproxyCheck(pack);
    expect(a.out).not.toMatch(/\[ALERT\]/);
    expect(a.ok).toBe(true);
    const b = haproxyCheck(exportRules([MIXED], 'haproxy').text);
    expect(b.out).not.toMatch(/\[ALERT\]/);
    expect(b.ok).toBe(true);
    expect(haproxyCheck('acl x req.fhdr(cookie) -m reg (\nhttp-request deny if x').ok).toBe(false);
  });
});
