/**
 * `bulwark scan --push` end to end: a real server listening on loopback (embedded SQLite), two emulated Exchange
 * servers, the real scanner, and the pushed assets judged by the server.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../cli/run.testkit.js';
import { type ExchangeEmulator, startExchangeEmulator } from '../lab/exchange.js';
import { loadServerConfig } from './config.js';
import { type RunningServer, startServer } from './index.js';

const run = (argv: string[], env: NodeJS.ProcessEnv = {}) => runCli(argv, env, process.cwd());

describe('bulwark scan --push', () => {
  let dir: string;
  let server: RunningServer;
  let token: string;
  /** A technician token that sees every tenant (acme and globex). */
  let fleetToken: string;
  let adminHeaders: Record<string, string>;
  const emulators: ExchangeEmulator[] = [];
  /** A plain HTTP server counting requests: proves a refused push scanned nothing. */
  let counter: Server;
  let counted = 0;
  let counterUrl: string;

  const api = (method: string, url: string, payload?: object) =>
    server.app.inject({
      method: method as 'GET',
      url,
      headers: adminHeaders,
      ...(payload ? { payload } : {}),
    });
  const newToken = async (role: string, tenant_id?: string) => {
    const t = await api('POST', '/api/v1/tokens', { name: `t-${role}-${tenant_id}`, role, tenant_id });
    expect(t.statusCode, t.body).toBe(201);
    return t.json().token as string;
  };
  const file = (name: string, text: string) => {
    const path = join(dir, name);
    writeFileSync(path, text);
    return path;
  };

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'bulwark-push-'));
    server = await startServer(
      loadServerConfig({ overrides: { data_dir: dir, port: 0, log_level: 'silent' } }),
      {
        print: () => {},
        logger: false,
      },
    );
    const app = server.app;
    await app.inject({
      method: 'POST',
      url: '/api/v1/setup',
      payload: {
        token: server.setupToken,
        email: 'a@b.example',
        name: 'A',
        password: 'long enough password',
      },
    });
    const login = await app.inject({
      method: 'POST',
      url: '/api/v1/session',
      payload: { email: 'a@b.example', password: 'long enough password' },
    });
    adminHeaders = {
      cookie: `bulwark_session=${login.cookies[0]!.value}`,
      'x-csrf-token': login.json().csrf_token,
    };
    await api('POST', '/api/v1/tenants', { id: 'acme', name: 'ACME' });
    await api('POST', '/api/v1/tenants', { id: 'globex', name: 'Globex' });
    token = await newToken('technician', 'acme');
    fleetToken = await newToken('technician');
    counter = createServer((_req, res) => {
      counted++;
      res.end('not exchange');
    });
    await new Promise<void>((ok) => counter.listen(0, '127.0.0.1', ok));
    counterUrl = `http://127.0.0.1:${(counter.address() as AddressInfo).port}`;
    const isVulnerable = (b: string) => b === '15.1.2176.2';
    emulators.push(await startExchangeEmulator({ build: '15.1.2176.2', http: true, isVulnerable }));
    emulators.push(
      await startExchangeEmulator({ build: '15.1.2176.9', http: true, isVulnerable, name: 'EX-PATCHED' }),
    );
  }, 60_000);

  afterAll(async () => {
    await Promise.all(emulators.map((e) => e.close()));
    await new Promise((ok) => counter?.close(ok));
    await server?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('registers the Exchange servers found as assets of the tenant, judged by the server', async () => {
    const r = await run(
      ['scan', ...emulators.map((e) => e.url), '--push', server.url, '--tenant', 'acme', '--json'],
      { BULWARK_TOKEN: token },
    );
    expect(r.code, r.stderr).toBe(1); // one vulnerable host
    const summary = JSON.parse(r.stdout.trim().split('\n').at(-1)!);
    expect(summary.pushed).toMatchObject({
      assets: 2,
      created: 2,
      tenants: [{ tenant: 'acme', assets: 2, created: 2 }],
      errors: [],
    });
    const res = await fetch(`${server.url}/api/v1/advisories/proxylogon-2021-03/exposure`, {
      headers: { authorization: `Bearer ${token}` },
    });
    const body = (await res.json()) as { totals: Record<string, number> };
    expect(body.totals).toMatchObject({ affected: 1, fixed: 1 });
    const assets = await fetch(`${server.url}/api/v1/tenants/acme/assets?sort=id`, {
      headers: { authorization: `Bearer ${token}` },
    });
    const list = (await assets.json()) as { items: { id: string; source: string }[] };
    expect(list.items.map((a) => a.source)).toEqual(['scan', 'scan']);
    expect(list.items.map((a) => a.id)).toEqual(emulators.map((e) => `127.0.0.1_${e.port}`).sort());
  });

  it('checks --push arguments before scanning and reports a refused token as one line', async () => {
    const noTenant = await run(['scan', emulators[0]!.url, '--push', server.url], { BULWARK_TOKEN: token });
    expect(noTenant.code).toBe(2);
    expect(noTenant.stderr).toMatch(/--push needs --tenant/);
    const noToken = await run(['scan', emulators[0]!.url, '--push', server.url, '--tenant', 'acme'], {});
    expect(noToken.stderr).toMatch(/BULWARK_TOKEN/);
    const other = await run(['scan', emulators[0]!.url, '--push', server.url, '--tenant', 'globex'], {
      BULWARK_TOKEN: token,
    });
    expect(other.code).toBe(2);
    expect(other.stderr).toMatch(
      /--push: tenant globex \(.*\): POST .*404 tenant globex does not exist or is not yours to see/,
    );
    expect(other.stderr).not.toContain(token);
  });

  it('finds push errors before scanning anything: bad token, unknown tenant, no permission, unknown asset', async () => {
    const before = counted;
    const badToken = await run(['scan', counterUrl, '--push', server.url, '--tenant', 'acme'], {
      BULWARK_TOKEN: 'bwk_not-a-real-token',
    });
    expect(badToken.code).toBe(2);
    expect(badToken.stderr.trim().split('\n')).toEqual([
      expect.stringMatching(/^bulwark: --push: POST \/api\/v1\/tenants\/acme\/assets: 401 /),
    ]);
    const customers = file(
      'refused.csv',
      `target,tenant,asset\n${counterUrl},acme\n${counterUrl}/owa,initech\n${counterUrl}/ecp,acme,mail99\n`,
    );
    const mapped = await run(['scan', '--targets-file', customers, '--push', server.url], {
      BULWARK_TOKEN: fleetToken,
    });
    expect(mapped.code).toBe(2);
    expect(mapped.stderr).toContain(`--push: tenant initech (${customers}:3): POST`);
    expect(mapped.stderr).toMatch(/404 tenant initech does not exist/);
    expect(mapped.stderr).toContain(`--push: ${customers}:4: asset mail99 does not exist in tenant acme`);
    const readOnly = await newToken('read_only');
    const refused = await run(['scan', counterUrl, '--push', server.url, '--tenant', 'acme'], {
      BULWARK_TOKEN: readOnly,
    });
    expect(refused.code).toBe(2);
    expect(refused.stderr).toMatch(/--push: tenant acme \(.*\): POST \/api\/v1\/tenants\/acme\/assets: 403 /);
    expect(counted, 'no target was contacted').toBe(before);
    // The same target list scans once the push is acceptable (the counter is a real target).
    const ok = await run(['scan', counterUrl, '--push', server.url, '--tenant', 'acme'], {
      BULWARK_TOKEN: token,
    });
    expect(ok.code, ok.stderr).toBe(0);
    expect(counted).toBeGreaterThan(before);
  });

  it('refuses a targets file with mistakes before scanning, naming file, line and field', async () => {
    const before = counted;
    const customers = file(
      'typo.csv',
      `target,tenant\n${counterUrl},acme\n${counterUrl}/x,\n${counterUrl}/y,acme,extra\n`,
    );
    const r = await run(['scan', '--targets-file', customers, '--push', server.url], {
      BULWARK_TOKEN: token,
    });
    expect(r.code).toBe(2);
    expect(r.stderr).toBe(
      `bulwark: ${customers}:3: tenant: missing (the tenant id the results are pushed to)\n` +
        `${customers}:4: row: 3 field(s); expected target,tenant\n`,
    );
    const noPush = await run(['scan', '--targets-file', customers], {});
    expect(noPush.code).toBe(2);
    expect(noPush.stderr).toMatch(/--targets-file maps targets to tenants for --push/);
    expect(counted).toBe(before);
  });

  it('scans many customers in one run from a targets file, each result pushed to its tenant', async () => {
    const customers = file(
      'customers.yaml',
      `- target: ${emulators[0]!.url}\n  tenant: acme\n- target: ${emulators[1]!.url}\n  tenant: globex\n`,
    );
    const r = await run(['scan', '--targets-file', customers, '--push', server.url, '--json'], {
      BULWARK_TOKEN: fleetToken,
    });
    expect(r.code, r.stderr).toBe(1);
    const { pushed } = JSON.parse(r.stdout.trim().split('\n').at(-1)!);
    expect(pushed.tenants.map((t: { tenant: string; assets: number }) => `${t.tenant}:${t.assets}`)).toEqual([
      'acme:1',
      'globex:1',
    ]);
    const globex = await api('GET', '/api/v1/tenants/globex/assets');
    expect(globex.json().items.map((a: { id: string }) => a.id)).toEqual([`127.0.0.1_${emulators[1]!.port}`]);
  });

  it('binds a scanned endpoint to an asset registered from facts: one asset, the scan adds what it saw', async () => {
    const facts = {
      id: 'mail01',
      name: 'MAIL01',
      os: { product: 'microsoft:windows_server_2016', version: '10.0.14393.4225' },
      // The inventory is stale: the server has since been patched to 15.1.2176.9.
      products: [{ product: 'microsoft:exchange_server', version: '15.1.2176.2' }],
      installed_kbs: ['KB5000871'],
      tags: ['owner:it', 'scan:vulnerable'],
    };
    const put = await api('PUT', '/api/v1/tenants/acme/assets/mail01?source=agent', facts);
    expect(put.statusCode, put.body).toBe(200);
    // A server of its own, so no host_port asset exists for it from the other tests.
    const patched = await startExchangeEmulator({
      build: '15.1.2176.9',
      http: true,
      isVulnerable: () => false,
      name: 'MAIL01',
    });
    emulators.push(patched);
    const countBefore = (await api('GET', '/api/v1/tenants/acme/assets')).json().total;
    const r = await run(
      ['scan', patched.url, '--push', server.url, '--tenant', 'acme', '--asset', 'mail01', '--json'],
      { BULWARK_TOKEN: token },
    );
    expect(r.code, r.stderr).toBe(0);
    const { pushed } = JSON.parse(r.stdout.trim().split('\n').at(-1)!);
    expect(pushed).toMatchObject({ assets: 1, updated: 1, created: 0 });
    const assets = await api('GET', '/api/v1/tenants/acme/assets?sort=id');
    const ids = assets.json().items.map((a: { id: string }) => a.id);
    expect(ids).toContain('mail01');
    expect(ids, 'no host_port asset beside mail01').not.toContain(`127.0.0.1_${patched.port}`);
    expect(assets.json().total).toBe(countBefore);
    const mail01 = (await api('GET', '/api/v1/tenants/acme/assets/mail01')).json();
    expect(mail01.source).toBe('agent');
    expect(mail01.facts).toMatchObject({
      name: 'MAIL01',
      os: facts.os,
      installed_kbs: ['KB5000871'],
      products: [{ product: 'microsoft:exchange_server', version: '15.1.2176.9' }],
      endpoints: [patched.url.endsWith('/') ? patched.url : `${patched.url}/`],
    });
    expect(mail01.facts.tags).toEqual(['owner:it', 'scan', 'scan:patched']);
    const exposure = (await api('GET', '/api/v1/tenants/acme/assets/mail01/exposure')).json();
    expect(exposure.findings.find((f: { cve: string }) => f.cve === 'CVE-2021-26855')?.verdict).toBe('fixed');
  });
});
