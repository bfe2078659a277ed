import { spawn } from 'node:child_process';
import { createHash, X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import selfsigned from 'selfsigned';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { loadKnowledgeBase } from '../advisories/index.js';
import { generateLabCertificate } from '../lab/cert.js';
import { fetchRaw, type RawBackend, startRawBackend } from '../shield/gateway/gateway.testkit.js';
import { startGateway, validateGatewayConfig } from '../shield/gateway/index.js';
import { type GatewayCliOptions, runGateway } from './commands/gateway.js';
import { NoticeLimiter } from './commands/gateway-notices.js';
import { advisoryRuleFiles } from './commands/shield.js';
import type { Io } from './io.js';
import { runCli } from './run.testkit.js';

const BIN = fileURLToPath(new URL('../../bin/bulwark.js', import.meta.url));

/** Waits until the child's standard error contains `text` (bounded). */
function waitFor(read: () => string, text: string, ms = 10_000): Promise<void> {
  const until = Date.now() + ms;
  return new Promise((resolve, reject) => {
    const tick = () => {
      if (read().includes(text)) resolve();
      else if (Date.now() > until) reject(new Error(`timed out waiting for "${text}" in: ${read()}`));
      else setTimeout(tick, 50);
    };
    tick();
  });
}

describe('bulwark gateway (the built CLI)', () => {
  it('reloads on a rule file change and on SIGHUP, keeps the old rules when the new ones are bad, stops on SIGTERM', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'bulwark-gw-cli-'));
    const rules = join(dir, 'rules.conf');
    writeFileSync(rules, 'SecRule REQUEST_URI "@contains /blocked" "id:1000,phase:1,deny,status:403"\n');
    const config = join(dir, 'gateway.yaml');
    writeFileSync(
      config,
      `listen: [{ host: 127.0.0.1, port: 0 }]\nroutes:\n  - name: app\n    upstream: { url: "http://127.0.0.1:9" }\n    rules: [rules.conf]\n    mode: enforce\n`,
    );
    const child = spawn(process.execPath, [BIN, 'gateway', '--config', config], {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let err = '';
    child.stderr.on('data', (d) => {
      err += d;
    });
    try {
      await waitFor(() => err, 'listening on');
      writeFileSync(rules, 'SecRule REQUEST_URI "@contains /other" "id:1000,phase:1,deny,status:403"\n');
      await waitFor(() => err, 'reloaded (');
      writeFileSync(rules, 'SecAction "id:1,phase:1,pass"\n');
      await waitFor(() => err, 'reload refused');
      expect(err).toMatch(/reload refused, the running configuration stays: .*rules\.conf:1/);
      writeFileSync(rules, 'SecRule REQUEST_URI "@contains /x" "id:1001,phase:1,deny"\n');
      await new Promise((r) => setTimeout(r, 500));
      const before = (err.match(/reloaded \(/g) ?? []).length;
      child.kill('SIGHUP');
      await waitFor(() => ((err.match(/reloaded \(/g) ?? []).length > before ? err : ''), 'reloaded');
      expect(err).toMatch(/reloaded \(SIGHUP\)|reloaded \(.*changed\)/);
    } finally {
      const closed = new Promise((resolve) => child.on('close', resolve));
      child.kill('SIGTERM');
      expect(await closed).toBe(0);
    }
  }, 30_000);

  it('refuses to start on an invalid rule file, naming file and line', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'bulwark-gw-cli-'));
    writeFileSync(join(dir, 'bad.conf'), '# comment\nSecRule REQUEST_URI "@rx (?=x)" "id:5,phase:1,deny"\n');
    const child = spawn(
      process.execPath,
      [
        BIN,
        'gateway',
        '--listen',
        '127.0.0.1:0',
        '--upstream',
        'http://127.0.0.1:9',
        '--config',
        join(dir, 'x.yaml'),
      ],
      { stdio: ['ignore', 'ignore', 'pipe'] },
    );
    let err = '';
    child.stderr.on('data', (d) => {
      err += d;
    });
    const code = await new Promise((resolve) => child.on('close', resolve));
    expect(code).toBe(2);
    expect(err).toMatch(/^bulwark: give either --config or --listen\/--upstream/);
    writeFileSync(
      join(dir, 'gw.yaml'),
      'listen: [{ host: 127.0.0.1, port: 0 }]\nroutes:\n  - name: a\n    upstream: { url: "http://127.0.0.1:9" }\n    rules: [bad.conf]\n',
    );
    const bad = spawn(process.execPath, [BIN, 'gateway', '--config', join(dir, 'gw.yaml')], {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let err2 = '';
    bad.stderr.on('data', (d) => {
      err2 += d;
    });
    expect(await new Promise((resolve) => bad.on('close', resolve))).toBe(2);
    expect(err2).toMatch(/bad\.conf:2/);
  }, 30_000);
});

// ---------------------------------------------------------------------------------------------------------------
// The gateway as a newcomer meets it (in-process: runGateway with an abort signal instead of SIGTERM).

const kb = loadKnowledgeBase({ dataDir: mkdtempSync(join(tmpdir(), 'bulwark-gw-kb-')) });

interface Running {
  stderr: () => string;
  port: number;
  stop: () => Promise<number>;
}

async function runQuick(opts: GatewayCliOptions): Promise<Running> {
  let err = '';
  const io: Io = {
    out: () => {},
    err: (t) => {
      err += t;
    },
    color: false,
    env: {},
    cwd: process.cwd(),
  };
  const ac = new AbortController();
  const done = runGateway(io, kb, opts.config ? opts : { listen: '127.0.0.1:0', ...opts }, ac.signal);
  // Start-up errors reject `done` before anything is printed: surface them instead of a timeout.
  await Promise.race([
    waitFor(() => err, opts.json ? '"event":"listening"' : 'listening on'),
    done.then(() => {
      throw new Error(`gateway ended early: ${err}`);
    }),
  ]);
  const port = Number(/127\.0\.0\.1:(\d+)/.exec(err)![1]);
  return {
    stderr: () => err,
    port,
    stop: () => {
      ac.abort();
      return done;
    },
  };
}

const GET = (path: string, extra = '') => `GET ${path} HTTP/1.1\r\nHost: mail\r\n${extra}\r\n`;
const ATTACK_COOKIE =
  'Cookie: X-AnonResource=true; X-AnonResource-Backend=localhost/ecp/default.flt?~3; X-BEResource=localhost/owa/auth/logon.aspx?~3;\r\n';

/** curl's --pinnedpubkey form of a PEM certificate's public key. */
function spkiPinOf(pem: string): string {
  const der = new X509Certificate(pem).publicKey.export({ type: 'spki', format: 'der' });
  return `sha256//${createHash('sha256').update(der).digest('base64')}`;
}

describe('bulwark gateway: an HTTPS upstream with a self-signed certificate (as Exchange has)', () => {
  let lab: { key: string; cert: string };
  let be: RawBackend;
  let dir: string;
  beforeAll(async () => {
    lab = await generateLabCertificate();
    be = await startRawBackend({ tls: lab });
    dir = mkdtempSync(join(tmpdir(), 'bulwark-gw-tls-'));
  });
  afterAll(() => be.close());

  it('says once on stderr why requests get 502, with the pin to copy; the pin then works', async () => {
    const upstream = `https://127.0.0.1:${be.port}`;
    const g = await runQuick({ upstream, advisory: 'proxylogon-2021-03' });
    try {
      for (let i = 0; i < 5; i++) expect((await fetchRaw(g.port, GET('/owa/'))).head.status).toBe(502);
      await waitFor(g.stderr, 'self-signed');
      const pin = spkiPinOf(lab.cert);
      const lines = g
        .stderr()
        .split('\n')
        .filter((l) => l.includes('self-signed'));
      expect(lines).toHaveLength(1); // the start-up probe and five requests: one line
      expect(lines[0]).toContain(
        `upstream ${upstream}: certificate is self-signed (CN=exchange.lab.invalid)`,
      );
      expect(lines[0]).toContain(`--upstream-pin ${pin}`);
      expect(lines[0]).toContain('--upstream-ca FILE');
    } finally {
      expect(await g.stop()).toBe(0);
    }
    const before = be.requests.length;
    const pinned = await runQuick({
      upstream,
      advisory: 'proxylogon-2021-03',
      upstreamPin: spkiPinOf(lab.cert),
    });
    try {
      expect((await fetchRaw(pinned.port, GET('/owa/'))).body.toString()).toBe('ok');
      expect(be.requests.length).toBe(before + 1);
      // The open-file-limit warning depends on the machine's ulimit -n (limits.ts), not on this test.
      expect(pinned.stderr()).not.toMatch(/502|WARNING (?!open-file limit)/);
    } finally {
      await pinned.stop();
    }
  });

  it('--upstream-ca with the certificate itself, and --upstream-insecure (warned about), reach the upstream', async () => {
    const upstream = `https://127.0.0.1:${be.port}`;
    const ca = join(dir, 'exchange.pem');
    writeFileSync(ca, lab.cert);
    const withCa = await runQuick({ upstream, advisory: 'proxylogon-2021-03', upstreamCa: ca });
    try {
      expect((await fetchRaw(withCa.port, GET('/owa/'))).body.toString()).toBe('ok');
    } finally {
      await withCa.stop();
    }
    const insecure = await runQuick({ upstream, advisory: 'proxylogon-2021-03', upstreamInsecure: true });
    try {
      expect((await fetchRaw(insecure.port, GET('/owa/'))).body.toString()).toBe('ok');
      expect(insecure.stderr()).toMatch(
        /WARNING route default: the certificate of https:\/\/127\.0\.0\.1:\d+ is not verified/,
      );
    } finally {
      await insecure.stop();
    }
  });

  it('a certificate that does not name the address, and a changed certificate (pin mismatch), are said in words', async () => {
    // Exchange's own certificate names the server, not the address the gateway is given.
    const p = await selfsigned.generate([{ name: 'commonName', value: 'EXCH01' }], {
      keyType: 'ec',
      curve: 'P-256',
      algorithm: 'sha256',
      extensions: [{ name: 'subjectAltName', altNames: [{ type: 2, value: 'exch01.contoso.local' }] }],
    });
    const exch = await startRawBackend({ tls: { key: p.private, cert: p.cert } });
    const ca = join(dir, 'exch01.pem');
    writeFileSync(ca, p.cert);
    const upstream = `https://127.0.0.1:${exch.port}`;
    try {
      const g = await runQuick({ upstream, advisory: 'proxylogon-2021-03', upstreamCa: ca });
      try {
        expect((await fetchRaw(g.port, GET('/owa/'))).head.status).toBe(502);
        await waitFor(g.stderr, 'does not name');
        expect(g.stderr()).toMatch(
          /certificate does not name 127\.0\.0\.1 \(CN=EXCH01, DNS:exch01\.contoso\.local\)/,
        );
      } finally {
        await g.stop();
      }
      const wrong = await runQuick({
        upstream,
        advisory: 'proxylogon-2021-03',
        upstreamPin: spkiPinOf(lab.cert),
      });
      try {
        expect((await fetchRaw(wrong.port, GET('/owa/'))).head.status).toBe(502);
        await waitFor(wrong.stderr, 'pin mismatch');
        expect(wrong.stderr()).toContain(`if that is expected, pass --upstream-pin ${spkiPinOf(p.cert)}`);
      } finally {
        await wrong.stop();
      }
      expect(exch.requests).toHaveLength(0);
    } finally {
      await exch.close();
    }
  });

  it('a refused connection is said too (plain HTTP upstream that is down)', async () => {
    const g = await runQuick({ upstream: 'http://127.0.0.1:9', advisory: 'proxylogon-2021-03' });
    try {
      expect((await fetchRaw(g.port, GET('/owa/'))).head.status).toBe(502);
      await waitFor(g.stderr, 'ECONNREFUSED');
      expect(g.stderr()).toMatch(
        /route default: upstream http:\/\/127\.0\.0\.1:9: .*ECONNREFUSED.*requests get 502/,
      );
    } finally {
      await g.stop();
    }
  });

  it('the quick-form trust flags are checked and errors name the flag', async () => {
    const r = await runCli([
      'gateway',
      '--listen',
      '127.0.0.1:0',
      '--upstream',
      'https://127.0.0.1:1',
      '--advisory',
      'proxylogon-2021-03',
      '--upstream-pin',
      'nope',
    ]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^bulwark: --upstream-pin: pin_sha256 must be/);
    const http = await runCli([
      'gateway',
      '--listen',
      '127.0.0.1:0',
      '--upstream',
      'http://127.0.0.1:1',
      '--advisory',
      'proxylogon-2021-03',
      '--upstream-insecure',
    ]);
    expect(http.code).toBe(2);
    expect(http.stderr).toMatch(/need an https:\/\/ url/);
  });
});

describe('bulwark gateway: no rules means an open proxy', () => {
  it('refuses to start without --advisory, rules or an explicit --no-rules (exit 2, one line)', async () => {
    const r = await runCli(['gateway', '--listen', '127.0.0.1:0', '--upstream', 'http://127.0.0.1:9']);
    expect(r.code).toBe(2);
    expect(r.stderr).toBe(
      'bulwark: no rules: give --advisory ID (e.g. proxylogon-2021-03), or --no-rules to run a plain proxy that blocks nothing\n',
    );
    const both = await runCli([
      'gateway',
      '--listen',
      '127.0.0.1:0',
      '--upstream',
      'http://127.0.0.1:9',
      '--no-rules',
      '--advisory',
      'proxylogon-2021-03',
    ]);
    expect(both.code).toBe(2);
    expect(both.stderr).toMatch(/--no-rules and --advisory contradict/);
  });

  it('quick-form flags with --config are refused, not ignored', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'bulwark-gw-cli-'));
    const config = join(dir, 'gw.yaml');
    writeFileSync(
      config,
      'listen: [{ port: 0 }]\nroutes:\n  - name: a\n    upstream: { url: "http://127.0.0.1:9" }\n',
    );
    for (const flag of [['--detect'], ['--upstream-pin', 'x'], ['--advisory', 'proxylogon-2021-03']]) {
      const r = await runCli(['gateway', '--config', config, ...flag]);
      expect(r.code, flag[0]).toBe(2);
      expect(r.stderr).toBe(
        `bulwark: ${flag[0]} is for the quick form; with --config, set it in the file instead\n`,
      );
    }
  });

  it('a listen address already taken: exit 2, one line', async () => {
    const taken = await startRawBackend();
    try {
      const r = await runCli([
        'gateway',
        '--listen',
        `127.0.0.1:${taken.port}`,
        '--upstream',
        'http://127.0.0.1:9',
        '--advisory',
        'proxylogon-2021-03',
      ]);
      expect(r.code).toBe(2);
      expect(r.stderr).toMatch(/^bulwark: .*EADDRINUSE.*\n$/);
      expect(r.stderr.split('\n')).toHaveLength(2);
    } finally {
      await taken.close();
    }
  });

  it('a config file whose routes have no rules is refused the same way, naming the file', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'bulwark-gw-cli-'));
    const config = join(dir, 'gw.yaml');
    writeFileSync(
      config,
      'listen: [{ port: 0 }]\nroutes:\n  - name: a\n    upstream: { url: "http://127.0.0.1:9" }\n',
    );
    const r = await runCli(['gateway', '--config', config]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(
      new RegExp(`^bulwark: ${config}: no route has an advisory or rules.*--no-rules`),
    );
  });

  it('counts compiled rules: a rule file with no rule is refused at start and on reload (the old rules stay)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'bulwark-gw-cli-'));
    const rules = join(dir, 'rules.conf');
    writeFileSync(rules, '# nothing yet\n');
    const config = join(dir, 'gw.yaml');
    writeFileSync(
      config,
      'listen: [{ host: 127.0.0.1, port: 0 }]\nroutes:\n  - name: a\n    upstream: { url: "http://127.0.0.1:9" }\n    rules: [rules.conf]\n',
    );
    const empty = await runCli(['gateway', '--config', config]);
    expect(empty.code).toBe(2);
    expect(empty.stderr).toMatch(/no route has an advisory or rules/);
    writeFileSync(rules, 'SecRule REQUEST_URI "@contains /blocked" "id:1000,phase:1,deny,status:403"\n');
    const g = await runQuick({ config });
    try {
      expect((await fetchRaw(g.port, GET('/blocked'))).head.status).toBe(403);
      writeFileSync(rules, '# emptied by mistake\n');
      await waitFor(g.stderr, 'reload refused');
      expect(g.stderr()).toMatch(
        /reload refused, the running configuration stays: .*no route has an advisory or rules/,
      );
      expect((await fetchRaw(g.port, GET('/blocked'))).head.status).toBe(403);
    } finally {
      await g.stop();
    }
  });

  it('with --no-rules it runs and warns loudly that it forwards everything', async () => {
    const be = await startRawBackend();
    const g = await runQuick({ upstream: `http://127.0.0.1:${be.port}`, rules: false });
    try {
      const attack = await fetchRaw(g.port, GET('/owa/auth/x.js', ATTACK_COOKIE));
      expect(attack.head.status).toBe(200); // a plain proxy: nothing is checked
      expect(g.stderr()).toMatch(
        /route default → http:\/\/127\.0\.0\.1:\d+: NO RULES \(forwards everything\)\nWARNING route default has no rules: every request to http:\/\/127\.0\.0\.1:\d+ is forwarded unchecked/,
      );
    } finally {
      await g.stop();
      await be.close();
    }
  });
});

describe('bulwark gateway: the start-up description', () => {
  it('is for people: listen address → upstream, the advisory and its rule count, the mode', async () => {
    const files = advisoryRuleFiles(kb, 'proxylogon-2021-03', false);
    const g = await runQuick({ upstream: 'http://127.0.0.1:9', advisory: 'proxylogon-2021-03' });
    await g.stop();
    const lines = g.stderr().split('\n');
    expect(lines[0]).toMatch(/^bulwark gateway listening on http:\/\/127\.0\.0\.1:\d+$/);
    expect(lines[1]).toMatch(
      new RegExp(
        `^  route default → http://127\\.0\\.0\\.1:9: enforcing proxylogon-2021-03 \\(\\d+ rules from ${files.length} files\\)$`,
      ),
    );
    expect(g.stderr()).not.toContain('{');
    const detect = await runQuick({
      upstream: 'http://127.0.0.1:9',
      advisory: 'proxylogon-2021-03',
      detect: true,
      strict: true,
    });
    await detect.stop();
    expect(detect.stderr()).toMatch(
      /route default → http:\/\/127\.0\.0\.1:9: detecting only \(never blocks\) proxylogon-2021-03 \(\d+ rules/,
    );
  });

  it('--json: one JSON object with the same facts', async () => {
    const g = await runQuick({ upstream: 'http://127.0.0.1:9', advisory: 'proxylogon-2021-03', json: true });
    await g.stop();
    const first = JSON.parse(g.stderr().split('\n')[0]!) as Record<string, unknown>;
    expect(first).toMatchObject({
      event: 'listening',
      listen: [expect.stringMatching(/^http:\/\/127\.0\.0\.1:\d+$/)],
      routes: [
        {
          name: 'default',
          upstream: 'http://127.0.0.1:9',
          mode: 'enforce',
          advisories: ['proxylogon-2021-03'],
        },
      ],
    });
    // The open-file-limit warning depends on the machine's ulimit -n (limits.ts), not on this test.
    expect((first.warnings as string[]).filter((w) => !w.startsWith('open-file limit'))).toEqual([]);
    expect((first.routes as Array<{ rules: number }>)[0]!.rules).toBeGreaterThan(0);
    // upstream errors are JSON lines too
    expect(g.stderr()).toMatch(
      /\{"event":"upstream_error","route":"default","error":"upstream http:\/\/127\.0\.0\.1:9: /,
    );
  });
});

describe('the documented configuration example (docs/shield.md)', () => {
  it('loads from any folder (advisory: key, no paths into the package) and runs: blocks the attack, forwards the rest', async () => {
    const md = readFileSync(fileURLToPath(new URL('../../docs/shield.md', import.meta.url)), 'utf8');
    const yamlText = /## The gateway[\s\S]*?```yaml\n([\s\S]*?)```/.exec(md)?.[1];
    expect(yamlText).toBeDefined();
    const doc = parseYaml(yamlText!) as {
      listen: Array<{ host: string; port: number; tls: { certificates: Array<{ names: string[] }> } }>;
      routes: Array<{ advisory: unknown; rules?: unknown; upstream: { url: string; ca: string } }>;
      access_log: string;
      audit_log: string;
    };
    expect(doc.routes[0]!.advisory).toBe('proxylogon-2021-03');
    expect(JSON.stringify(doc)).not.toMatch(/packs\//);
    // The example's files (certificates, the upstream's CA) exist in the folder it is used from; addresses and
    // log paths are the only things changed for the test.
    const dir = mkdtempSync(join(tmpdir(), 'bulwark-gw-example-'));
    const lab = await generateLabCertificate();
    const be = await startRawBackend({ tls: lab });
    for (const f of ['contoso.pem', 'default.pem']) writeFileSync(join(dir, f), lab.cert);
    for (const f of ['contoso.key', 'default.key']) writeFileSync(join(dir, f), lab.key);
    writeFileSync(join(dir, doc.routes[0]!.upstream.ca), lab.cert);
    doc.listen[0]!.host = '127.0.0.1';
    doc.listen[0]!.port = 0;
    doc.routes[0]!.upstream.url = `https://127.0.0.1:${be.port}`;
    doc.access_log = 'access.json';
    doc.audit_log = 'audit.json';
    const config = validateGatewayConfig(doc, 'example', dir, (id, strict) =>
      advisoryRuleFiles(kb, id, strict),
    );
    const gw = await startGateway(config);
    try {
      const port = gw.addresses[0]!.port;
      const host = doc.listen[0]!.tls.certificates[0]!.names[0]!;
      const opts = { tls: true, servername: host };
      const ok = await fetchRaw(port, `GET /owa/ HTTP/1.1\r\nHost: ${host}\r\n\r\n`, 'GET', opts);
      expect(ok.body.toString()).toBe('ok');
      const attack = fetchRaw(
        port,
        `GET /owa/auth/x.js HTTP/1.1\r\nHost: ${host}\r\n${ATTACK_COOKIE}\r\n`,
        'GET',
        opts,
      );
      await expect(attack).rejects.toThrow(); // drop: closed with no response, as EOMT's AbortRequest
      expect(be.requests).toHaveLength(1);
    } finally {
      await gw.close();
      await be.close();
    }
  });

  it('an unknown advisory in a config file is one error naming the file and the route', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'bulwark-gw-cli-'));
    const config = join(dir, 'gw.yaml');
    writeFileSync(
      config,
      'listen: [{ port: 0 }]\nroutes:\n  - name: a\n    upstream: { url: "http://127.0.0.1:9" }\n    advisory: proxylogon-1999\n',
    );
    const r = await runCli(['gateway', '--config', config]);
    expect(r.code).toBe(2);
    expect(r.stderr).toBe(
      `bulwark: ${config}: routes.0.advisory: no advisory "proxylogon-1999" (see: bulwark advisories list)\n`,
    );
  });
});

describe('NoticeLimiter', () => {
  it('says each cause once, repeats at most once per interval with a count, and caps distinct causes', () => {
    let now = 0;
    const out: string[] = [];
    const l = new NoticeLimiter(
      (t) => out.push(t),
      60_000,
      3,
      () => now,
    );
    const say = (k: string) => l.notice(k, (n) => `${k}${n ? ` x${n}` : ''}`);
    say('a');
    say('a');
    say('b');
    say('a');
    expect(out).toEqual(['a', 'b']);
    now = 60_000;
    say('a');
    expect(out).toEqual(['a', 'b', 'a x2']);
    for (const k of ['c', 'd', 'e', 'f']) say(k);
    expect(out).toEqual(['a', 'b', 'a x2', 'c', 'd']);
    now = 120_000;
    say('g');
    expect(out.slice(-2)).toEqual([
      'bulwark gateway: 2 more upstream error(s) not shown (see the access log)',
      'g',
    ]);
  });
});
