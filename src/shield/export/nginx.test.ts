/**
 * nginx export: structure, `nginx -t`, and live blocking. The live test runs the exported snippet in a plain nginx
 * (no ModSecurity) in front of a tiny Node backend on 127.0.0.1 and replays the labelled corpus. Which attacks the
 * export "covers" is decided by the reference: nginx + ModSecurity loaded with the same rules reduced to what the
 * export keeps (the lossy-equivalent SecLang) — every request must get the same outcome from both, benign → 200.
 */

import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CORPUS_DIR } from '../../../test/support/corpus-dir.js';
import { buildCorpus, rawRequest } from '../../lab/attacks/index.js';
import { findModsecNginx, type ModsecNginx, sendRaw, startModsecNginx } from '../../lab/modsec/index.js';
import { type ChainedRuleAst, parseSecLangAst, type SecLangAst } from '../seclang/index.js';
import { exportModsecurity, exportRules } from './index.js';

const SHIELD = new URL('../../advisories/packs/proxylogon-2021-03/shield/', import.meta.url);
const load = (f: string) => parseSecLangAst(readFileSync(new URL(f, SHIELD), 'utf8'), f);
const found = findModsecNginx();
const NGINX = 'missing' in found ? undefined : found.nginx;

/**
 * Documented differences between the export and the reference (name → reason). Both run the same nginx, so HTTP
 * parsing is identical; only the Cookie joining differs.
 */
const KNOWN: Record<string, string> = {
  'legit-beresource-two-headers':
    '$http_cookie joins the two Cookie lines with "; " (as IIS {HTTP_COOKIE} does, so EOMT drops it too): rule 4210551 ' +
    'sees "x-beresource=…" in line 1 and "/"+"~" in line 2; ModSecurity tests each line alone',
};

/** Extra rules exercising deny/chain/join semantics live (they match nothing in the corpus). */
const EXTRA = parseSecLangAst(
  [
    'SecRule REQUEST_HEADERS:Cookie "@rx ^bwjoin=1; bwjoin2=2$" "id:77,phase:1,deny,status:418,t:none"',
    'SecRule REQUEST_METHOD "@streq PUT" "id:78,phase:1,deny,status:405,t:none,chain"',
    '  SecRule REQUEST_FILENAME|QUERY_STRING "@beginsWith /bwchain/" "t:none,t:lowercase"',
  ].join('\n'),
  'extra.conf',
);

function nginxConf(dir: string, port: number, backendPort: number, snippet: string): string {
  const user = process.getuid?.() === 0 ? 'user root;\n' : '';
  const indented = snippet
    .split('\n')
    .map((l) => `    ${l}`)
    .join('\n');
  return `${user}daemon off;
master_process on;
worker_processes 1;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log info;
events { worker_connections 256; }
http {
  access_log ${dir}/access.log;
  client_body_temp_path ${dir}/tmp/body;
  proxy_temp_path ${dir}/tmp/proxy;
  fastcgi_temp_path ${dir}/tmp/fastcgi;
  uwsgi_temp_path ${dir}/tmp/uwsgi;
  scgi_temp_path ${dir}/tmp/scgi;
  client_max_body_size 16m;
  server {
    listen 127.0.0.1:${port};
    server_name _;
${indented}
    location / {
      proxy_pass http://127.0.0.1:${backendPort};
      proxy_http_version 1.1;
      proxy_set_header Connection "";
    }
  }
}
`;
}

function listen(server: http.Server | net.Server): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const a = server.address();
      resolve(typeof a === 'object' && a ? a.port : 0);
    });
  });
}

async function freePort(): Promise<number> {
  const s = net.createServer();
  const p = await listen(s);
  await new Promise((r) => s.close(r));
  return p;
}

/** The rules as the export keeps them: exported ids only, each link's transformations reduced to t:lowercase. */
function lossyEquivalent(asts: SecLangAst[], skipped: number[]): SecLangAst[] {
  return asts.map((a) => {
    const copy = structuredClone(a);
    copy.rules = copy.rules.filter((r) => !skipped.includes(r.id));
    for (const r of copy.rules) {
      for (let l: ChainedRuleAst | undefined = r; l; l = l.chain) {
        l.transformations = l.transformations.filter((t) => t === 'lowercase');
      }
    }
    return copy;
  });
}

describe('nginx export (structure)', () => {
  it('maps inputs, operators and actions; skips what nginx cannot express', () => {
    const a = parseSecLangAst(
      [
        'SecRule REQUEST_HEADERS:X-Forwarded-For "@contains 127.0.0.1" "id:1,phase:1,drop,t:none"',
        'SecRule REQUEST_FILENAME "@endsWith .aspx" "id:2,phase:1,deny,status:404,t:none,t:lowercase"',
        'SecRule REQUEST_URI "@rx a" "id:3,phase:1,deny"',
        'SecRule REQUEST_BODY "@rx a" "id:4,phase:2,deny"',
        'SecRule ARGS:x "@rx a" "id:5,phase:2,deny"',
        'SecRule REQUEST_METHOD "@pm TRACE TRACK" "id:6,phase:1,deny"',
        'SecRule REQUEST_HEADERS:Cookie "@rx A" "id:7,phase:1,deny,t:lowercase"',
        'SecRule REMOTE_ADDR "@ipMatch 10.0.0.0/8" "id:8,phase:1,deny"',
        'SecRule QUERY_STRING "@rx \\"x\\"\\\\d" "id:9,phase:1,pass"',
        'SecRule QUERY_STRING "@rx \\"x\\"\\\\d" "id:10,phase:1,deny,status:302"',
      ].join('\n'),
      'm.conf',
    );
    const r = exportRules([a], 'nginx');
    expect(Object.fromEntries(r.skipped.map((s) => [s.id, s.reason]))).toEqual({
      3: expect.stringMatching(/raw \$request_uri/),
      4: expect.stringMatching(/REQUEST_BODY/),
      5: expect.stringMatching(/ARGS/),
      7: expect.stringMatching(/upper-case literal/),
      8: expect.stringMatching(/@ipMatch/),
      9: expect.stringMatching(/pass/),
      10: expect.stringMatching(/status 302/),
    });
    expect(r.text).toContain('if ($http_x_forwarded_for ~ "127\\\\.0\\\\.0\\\\.1") { set $bw_1_1 1; }');
    expect(r.text).toContain('if ($bw_1_1 = 1) { return 444; }');
    expect(r.text).toContain('if ($uri ~* "\\\\.aspx$") { set $bw_2_1 1; }');
    expect(r.text).toContain('if ($bw_2_1 = 1) { return 404; }');
    expect(r.text).toContain('if ($request_method ~* "(?:TRACE|TRACK)") { set $bw_6_1 1; }');
    expect(r.notes).toContainEqual({ id: 2, note: expect.stringMatching(/merges slashes/) });
    expect(exportRules([a], 'nginx', { lossy: true }).text).toContain('if ($request_uri ~ "a")');
  });

  it('chains AND via concatenated flags, variables OR within a link', () => {
    const t = exportRules([EXTRA], 'nginx').text;
    expect(t).toContain('if ($request_method ~ "^PUT$") { set $bw_78_1 1; }');
    expect(t).toContain('if ($uri ~* "^\\\\/bwchain\\\\/") { set $bw_78_2 1; }');
    expect(t).toContain('if ($args ~* "^\\\\/bwchain\\\\/") { set $bw_78_2 1; }');
    // biome-ignore lint/suspicious/noTemplateCurlyInString: nginx variable syntax, not a template
    expect(t).toContain('set $bw_78 "${bw_78_1}${bw_78_2}";');
    expect(t).toContain('if ($bw_78 = "11") { return 405; }');
  });
});

describe.skipIf(!NGINX)('nginx export (nginx -t, live)', () => {
  const asts = [load('eomt.conf'), load('strict.conf'), load('cve-2021-27065.conf')];
  const exp = exportRules([...asts, EXTRA], 'nginx', { lossy: true });
  let dir = '';
  let conf = '';
  let child: ChildProcess | undefined;
  let backend: http.Server | undefined;
  let port = 0;
  let oracle: ModsecNginx | undefined;

  beforeAll(async () => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'bulwark-export-nginx-'));
    mkdirSync(path.join(dir, 'tmp'));
    backend = http.createServer((req, res) => {
      req.resume();
      req.on('end', () => {
        res.writeHead(200, { 'content-type': 'text/plain', 'content-length': '7' });
        res.end('backend');
      });
    });
    const bport = await listen(backend);
    port = await freePort();
    conf = path.join(dir, 'nginx.conf');
    writeFileSync(conf, nginxConf(dir, port, bport, exp.text));
    const equivalent = path.join(dir, 'equivalent.conf');
    writeFileSync(
      equivalent,
      exportModsecurity(
        lossyEquivalent(
          asts,
          exp.skipped.map((s) => s.id),
        ),
      ).text,
    );
    oracle = await startModsecNginx({ rulesFiles: [equivalent] });
  }, 30_000);

  afterAll(async () => {
    if (child && child.exitCode === null) {
      const exited = new Promise((r) => child?.once('exit', r));
      child.kill('SIGTERM');
      await exited;
    }
    await oracle?.close();
    if (backend) {
      backend.closeAllConnections();
      await new Promise((r) => backend?.close(r));
    }
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('nginx -t accepts the exported snippet', () => {
    const r = spawnSync(NGINX!, ['-t', '-c', conf, '-p', dir, '-e', path.join(dir, 'error.log')], {
      encoding: 'utf8',
    });
    expect(r.stderr).toMatch(/syntax is ok/);
    expect(r.stderr).toMatch(/test is successful/);
    expect(r.status).toBe(0);
    expect(exp.skipped.map((s) => s.id)).toEqual([4210555, 4210556]); // &count (4210555); body
  });

  it('blocks live: corpus outcomes equal the ModSecurity reference, benign → 200', async () => {
    child = spawn(NGINX!, ['-c', conf, '-p', dir, '-e', path.join(dir, 'error.log')], { stdio: 'ignore' });
    const until = Date.now() + 10_000;
    for (;;) {
      const ok = await new Promise<boolean>((resolve) => {
        const s = net.connect({ host: '127.0.0.1', port }, () => {
          s.destroy();
          resolve(true);
        });
        s.on('error', () => resolve(false));
      });
      if (ok) break;
      if (Date.now() > until) throw new Error('nginx did not start');
      await new Promise((r) => setTimeout(r, 50));
    }

    // $http_cookie joins repeated Cookie headers with "; " (nginx 1.22): a pattern across both lines matches.
    const join = await sendRaw(
      port,
      rawRequest('GET', '/', [
        ['Cookie', 'bwjoin=1'],
        ['Cookie', 'bwjoin2=2'],
      ]),
    );
    expect(join.statuses).toEqual([418]);
    expect((await sendRaw(port, rawRequest('PUT', '/BWCHAIN/x', []))).statuses).toEqual([405]);
    expect((await sendRaw(port, rawRequest('GET', '/bwchain/x', []))).statuses).toEqual([200]);

    const corpus = buildCorpus({ corpusDir: CORPUS_DIR });
    const counts = {
      attacks: corpus.attacks.length,
      attacksCovered: 0,
      attacksBlocked: 0,
      benign: corpus.benign.length,
      benign200: 0,
      benignRejectedByNginxItself: 0,
    };
    const mismatches: string[] = [];
    const known: string[] = [];
    for (const [kind, list] of [
      ['attack', corpus.attacks],
      ['benign', corpus.benign],
    ] as const) {
      for (const r of list) {
        const [mine, ref] = await Promise.all([sendRaw(port, r.raw, 3000), oracle!.exchange(r.raw)]);
        if (kind === 'attack' && mine.decision !== 'allow') counts.attacksBlocked++;
        if (kind === 'attack' && ref.decision !== 'allow') counts.attacksCovered++;
        if (kind === 'benign' && mine.decision === 'allow') counts.benign200++;
        if (kind === 'benign' && ref.decision !== 'allow') counts.benignRejectedByNginxItself++;
        if (mine.decision === ref.decision) continue;
        if (KNOWN[r.name]) known.push(r.name);
        else mismatches.push(`${r.name}: export ${mine.decision}, reference ${ref.decision}`);
      }
    }
    console.log('nginx export live:', JSON.stringify(counts));
    expect(mismatches).toEqual([]);
    expect(known).toEqual(Object.keys(KNOWN));
    expect(counts.attacksBlocked).toBe(counts.attacksCovered);
    expect(counts.attacksBlocked).toBeGreaterThan(0);
    expect(counts.benign200 + counts.benignRejectedByNginxItself + known.length).toBe(counts.benign);
  }, 300_000);
});
