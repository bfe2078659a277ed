/**
 * `bulwark scan --push` and `bulwark hunt --push` into a real server listening on 127.0.0.1 (SQLite and
 * PostgreSQL): the scan's check results become shield and patch answers, the hunt's host verdicts compromise
 * answers of the matched assets, and unmatched hosts come back with their reason.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { type AddressInfo, createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type AssetResponse, assetResponse, board } from '../../api/index.js';
import { type ExchangeEmulator, startExchangeEmulator } from '../../lab/exchange.js';
import { type GroundTruth, generateLogs } from '../../lab/loggen/index.js';
import { openTestServer, type TestServer } from '../../server/app.testkit.js';
import { TEST_DIALECTS } from '../../server/db/db.testkit.js';
import { runCli } from '../run.testkit.js';

const ADVISORY = 'proxylogon-2021-03';
const VULNERABLE = '15.1.2176.2';
const FIXED = '15.1.2176.9';

/** The generated log tree every dialect's hunt reads, and its ground truth. */
let logsDir: string;
let truth: GroundTruth;

beforeAll(async () => {
  logsDir = mkdtempSync(join(tmpdir(), 'bulwark-push-logs-'));
  // EXCH01 compromised, EXCH02 probed, EXCH03 clean, EXCH04 compromised (no asset: unmatched).
  truth = await generateLogs({
    out: join(logsDir, 'logs'),
    bytes: 600_000,
    seed: 13,
    servers: 4,
    // Probes from addresses on no IOC list: EXCH02 stays `probed`.
    scannerIps: 'unlisted',
    perServer: [
      {
        attacks: 2,
        mix: { 'proxylogon-chain': 1, 'ssrf-probe': 0, 'autodiscover-only': 0, 'webshell-scan': 0 },
      },
      {
        attacks: 2,
        mix: { 'proxylogon-chain': 0, 'ssrf-probe': 1, 'autodiscover-only': 0, 'webshell-scan': 0 },
      },
      { attacks: 0 },
      {
        attacks: 1,
        mix: { 'proxylogon-chain': 1, 'ssrf-probe': 0, 'autodiscover-only': 0, 'webshell-scan': 0 },
      },
    ],
  });
}, 60_000);

afterAll(() => {
  if (logsDir) rmSync(logsDir, { recursive: true, force: true });
});

describe.each(TEST_DIALECTS)('pushing scan and hunt results into the response state (%s)', (dialect) => {
  let s: TestServer | undefined;
  let url: string;
  let token: string;
  let readOnly: string;
  let dir: string;
  const emulators: ExchangeEmulator[] = [];
  /** A port that accepts and closes at once: a target that never answers HTTP. */
  let closed: Server;
  let closedUrl: string;

  const bearer = async (role: string, tenant_id?: string) => {
    const res = await s!.call(s!.admin, {
      method: 'POST',
      url: '/api/v1/tokens',
      payload: { name: `${role}-${tenant_id ?? 'all'}`, role, ...(tenant_id ? { tenant_id } : {}) },
    });
    expect(res.statusCode, res.body).toBe(201);
    return res.json().token as string;
  };
  const put = async (id: string, facts: object) => {
    const res = await s!.call(s!.admin, {
      method: 'PUT',
      url: `/api/v1/tenants/acme/assets/${id}`,
      payload: { id, ...facts },
    });
    expect(res.statusCode, res.body).toBe(200);
  };
  /** Runs in the folder holding the generated `logs`. */
  const run = (argv: string[], env: NodeJS.ProcessEnv = { BULWARK_TOKEN: token }) =>
    runCli(argv, env, logsDir);
  const client = () => ({ baseUrl: url, token });
  const answerOf = async (asset: string): Promise<AssetResponse> => {
    const detail = await assetResponse(client(), 'acme', asset, ADVISORY);
    expect(detail.items).toHaveLength(1);
    return detail.items[0]!;
  };
  const server = (ctx: { skip: () => void }) => {
    if (!s) ctx.skip();
    return s!;
  };

  beforeAll(async () => {
    s = await openTestServer(dialect);
    if (!s) return;
    dir = mkdtempSync(join(tmpdir(), 'bulwark-push-response-'));
    await s.call(s.admin, { method: 'POST', url: '/api/v1/tenants', payload: { id: 'acme', name: 'ACME' } });
    token = await bearer('technician', 'acme');
    readOnly = await bearer('read_only', 'acme');
    url = await s.app.listen({ host: '127.0.0.1', port: 0 });
    const isVulnerable = (b: string) => b === VULNERABLE;
    emulators.push(
      await startExchangeEmulator({ build: VULNERABLE, http: true, isVulnerable, name: 'EX-VULN' }),
      await startExchangeEmulator({
        build: VULNERABLE,
        http: true,
        isVulnerable,
        shielded: true,
        name: 'EX-SHIELD',
      }),
      await startExchangeEmulator({ build: FIXED, http: true, isVulnerable, name: 'EX-PATCHED' }),
    );
    closed = createServer((socket) => socket.destroy());
    await new Promise<void>((ok) => closed.listen(0, '127.0.0.1', ok));
    closedUrl = `http://127.0.0.1:${(closed.address() as AddressInfo).port}`;
  }, 60_000);

  afterAll(async () => {
    await Promise.all(emulators.map((e) => e.close()));
    await new Promise((ok) => closed?.close(ok));
    await s?.dispose();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('scan --push records the check: vulnerable unshielded and unpatched, aborted shielded, fixed patched', async (ctx) => {
    server(ctx);
    const targets = [...emulators.map((e) => e.url), closedUrl];
    const r = await run(['scan', ...targets, '--push', url, '--tenant', 'acme', '--json', '--retries', '0']);
    expect(r.code, r.stderr).toBe(1); // one vulnerable host
    const summary = JSON.parse(r.stdout.trim().split('\n').at(-1)!);
    expect(summary.summary.states).toEqual({ vulnerable: 1, shielded: 1, patched: 1, error: 1 });
    expect(summary.pushed.tenants).toEqual([
      expect.objectContaining({
        tenant: 'acme',
        assets: 3,
        observations: { advisory_id: ADVISORY, recorded: 4, unknown_assets: [] },
      }),
    ]);
    const [vuln, shield, patched] = emulators.map((e) => `127.0.0.1_${e.port}`);

    const v = await answerOf(vuln!);
    expect(v.exposure.verdict).toBe('affected');
    expect(v.shield).toMatchObject({ state: 'unshielded', source: 'scan' });
    expect(v.shield.summary).toMatchObject({ check: 'vulnerable', url: `${emulators[0]!.url}/` });
    expect(v.patch).toMatchObject({ state: 'unpatched' });
    const sh = await answerOf(shield!);
    expect(sh.shield).toMatchObject({ state: 'shielded', source: 'scan' });
    expect(sh.shield.summary).toMatchObject({ check: 'aborted' });
    const p = await answerOf(patched!);
    expect(p.patch).toMatchObject({ state: 'patched', source: 'scan' });
    expect(p.shield.state, 'a fixed build says nothing about a shield').toBe('unknown');
    // The unreachable target registered nothing and recorded nothing (never a safe answer).
    const list = await s!.call(s!.admin, { method: 'GET', url: '/api/v1/tenants/acme/assets' });
    expect(
      list
        .json()
        .items.map((a: { id: string }) => a.id)
        .sort(),
    ).toEqual([vuln, shield, patched].sort());

    const b = await board(client(), ADVISORY);
    const acme = b.tenants.items.find((t) => t.tenant_id === 'acme')!;
    expect(acme.counts).toMatchObject({ exposed: 2, shielded: 1, unshielded: 1, patched: 1 });
  });

  it('hunt --push matches hosts by id, name and address and reports every unmatched host', async (ctx) => {
    server(ctx);
    const host = (name: string) => truth.servers.find((x) => x.name === name)!;
    expect(truth.servers.map((x) => [x.name, x.verdict])).toEqual([
      ['EXCH01', 'compromised'],
      ['EXCH02', 'probed'],
      ['EXCH03', 'clean'],
      ['EXCH04', 'compromised'],
    ]);
    const exchange = [{ product: 'microsoft:exchange_server', version: VULNERABLE }];
    await put('exch01', { products: exchange });
    await put('mail-02', { name: 'EXCH02', products: exchange });
    await put('mail-03', { products: exchange, endpoints: [`https://${host('EXCH03').ip}/owa`] });
    const addresses = join(dir, 'addresses.csv');
    writeFileSync(addresses, `# host,address\nEXCH03,${host('EXCH03').ip}\n`);

    const r = await run([
      'hunt',
      'logs',
      '--push',
      url,
      '--tenant',
      'acme',
      '--addresses',
      addresses,
      '--json',
      '--workers',
      '1',
    ]);
    expect(r.code, r.stderr).toBe(1); // findings
    const out = JSON.parse(r.stdout);
    expect(out.pushed).toMatchObject({ tenant: 'acme', advisory_id: ADVISORY });
    expect(out.pushed.matched).toEqual(
      expect.arrayContaining([
        { host: 'EXCH01', asset_id: 'exch01' },
        { host: 'EXCH02', asset_id: 'mail-02' },
        { host: 'EXCH03', asset_id: 'mail-03' },
      ]),
    );
    expect(out.pushed.unmatched).toEqual([{ host: 'EXCH04', reason: expect.any(String) }]);
    expect(r.stderr).toMatch(/warning EXCH04 not matched to an asset of tenant acme: /);
    expect(r.stderr).toContain(
      `pushed 4 host report(s) for advisory ${ADVISORY} to tenant acme: 3 matched, 1 unmatched`,
    );

    const c1 = (await answerOf('exch01')).compromise;
    expect(c1).toMatchObject({ state: 'compromised', source: 'hunt' });
    expect(c1.window?.from).toMatch(/^2021-01-01T/);
    expect(c1.summary?.cves).toContain('CVE-2021-26855');
    expect((await answerOf('mail-02')).compromise.state).toBe('probed');
    expect((await answerOf('mail-03')).compromise.state).toBe('clean');
  });

  it('a bad token, URL or role is one clear error, exit 2, and nothing is sent', async (ctx) => {
    server(ctx);
    const state = async () => ({
      board: await board(client(), ADVISORY),
      assets: await Promise.all(
        ['exch01', 'mail-02', 'mail-03'].map((a) => assetResponse(client(), 'acme', a)),
      ),
    });
    const before = await state();
    const hunt = (env: NodeJS.ProcessEnv, target = url) =>
      run(['hunt', 'logs', '--push', target, '--tenant', 'acme'], env);

    const badToken = await hunt({ BULWARK_TOKEN: 'bwk_not-a-real-token' });
    expect(badToken.code).toBe(2);
    expect(badToken.stderr.trim().split('\n')).toEqual([expect.stringMatching(/^bulwark: --push: .*401 /)]);
    expect(badToken.stdout).toBe('');

    const noToken = await hunt({});
    expect(noToken.code).toBe(2);
    expect(noToken.stderr).toBe(
      'bulwark: --push needs an API token: set BULWARK_TOKEN or give --token-file FILE\n',
    );

    const notHttp = await hunt({ BULWARK_TOKEN: token }, 'ftp://127.0.0.1/');
    expect(notHttp.code).toBe(2);
    expect(notHttp.stderr).toMatch(/^bulwark: --push: "ftp:\/\/127\.0\.0\.1\/" is not an http\(s\) URL/);

    const unreachable = await hunt({ BULWARK_TOKEN: token }, closedUrl);
    expect(unreachable.code).toBe(2);
    expect(unreachable.stderr.trim().split('\n')).toEqual([
      expect.stringMatching(
        /^bulwark: --push: cannot reach the Bulwark server at http:\/\/127\.0\.0\.1:\d+ /,
      ),
    ]);

    const refused = await hunt({ BULWARK_TOKEN: readOnly });
    expect(refused.code).toBe(2);
    expect(refused.stderr).toMatch(/^bulwark: --push: tenant acme: POST .* 403 /);

    const noTenant = await run(['hunt', 'logs', '--push', url]);
    expect(noTenant.code).toBe(2);
    expect(noTenant.stderr).toMatch(/--push needs --tenant/);
    const stray = await run(['hunt', 'logs', '--tenant', 'acme']);
    expect(stray.code).toBe(2);
    expect(stray.stderr).toMatch(/--tenant goes with --push URL/);

    expect(await state(), 'nothing was recorded').toEqual(before);
  });
});
