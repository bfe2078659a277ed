/**
 * `bulwark scan --push` end to end: a real server listening on loopback (embedded SQLite), two emulated Exchange
 * servers, the real scanner, and the pushed assets judged by the server.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../cli/run.test-util.js';
import { type ExchangeEmulator, startExchangeEmulator } from '../lab/exchange.js';
import { loadServerConfig } from './config.js';
import { type RunningServer, startServer } from './index.js';

const run = (argv: string[], env: NodeJS.ProcessEnv = {}) => runCli(argv, env, process.cwd());

describe('bulwark scan --push', () => {
  let dir: string;
  let server: RunningServer;
  let token: string;
  const emulators: ExchangeEmulator[] = [];

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
    const headers = {
      cookie: `bulwark_session=${login.cookies[0]!.value}`,
      'x-csrf-token': login.json().csrf_token,
    };
    await app.inject({
      method: 'POST',
      url: '/api/v1/tenants',
      headers,
      payload: { id: 'acme', name: 'ACME' },
    });
    const t = await app.inject({
      method: 'POST',
      url: '/api/v1/tokens',
      headers,
      payload: { name: 'scanner', role: 'technician', tenant_id: 'acme' },
    });
    token = t.json().token;
    const isVulnerable = (b: string) => b === '15.1.2176.2';
    emulators.push(await startExchangeEmulator({ build: '15.1.2176.2', http: true, isVulnerable }));
    emulators.push(
      await startExchangeEmulator({ build: '15.1.2176.9', http: true, isVulnerable, name: 'EX-PATCHED' }),
    );
  });

  afterAll(async () => {
    await Promise.all(emulators.map((e) => e.close()));
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
    expect(summary.pushed).toMatchObject({ tenant: 'acme', assets: 2, created: 2 });
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
    expect(other.stderr).toMatch(/--push: POST .*404 tenant globex does not exist or is not yours to see/);
    expect(other.stderr).not.toContain(token);
  });
});
