/**
 * The console's data pages in a real browser against a real server on 127.0.0.1, on SQLite and on PostgreSQL,
 * seeded through the API: tenants and sites, a tenant's assets (paged, filtered, deep-linked), an asset with its
 * findings and a status change, users, API tokens (secret shown once, revoked), the audit log with its chain
 * check, and jobs. What a page shows is compared with what the API answers the same user; a customer user
 * reaches no other tenant's page by URL. Every page is checked for console errors, CSP violations and unexpected
 * HTTP errors, and scanned with axe-core, in light mode at 1280 px and in dark mode at 390 px.
 */
import { mkdirSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TEST_DIALECTS } from '../src/server/db/db.testkit.js';
import { type CheckedPage, launchChromium, openCheckedPage } from './support/browser.js';
import { type ApiUser, callApi as call, signInApi } from './support/console-api.js';
import { type ConsoleServer, openConsoleServer, REPO_ROOT } from './support/console-server.js';

const ADMIN = { email: 'admin@msp.example', name: 'Ada Admin', password: 'correct horse battery staple' };
const CUSTOMER = { email: 'it@globex.example', name: 'Gil Globex', password: 'globex customer passphrase' };
/** More than two pages of 50, so the asset table has a first, a middle and a last page. */
const ACME_ASSETS = 120;
const PROXYLOGON_AFFECTED = '15.1.2176.2';
const PROXYLOGON_FIXED = '15.1.2176.9';

const pad = (n: number) => String(n).padStart(3, '0');

/** The fleet: acme with a site, ProxyLogon-affected and patched Exchange servers and plain hosts; globex with two. */
async function seed(s: ConsoleServer): Promise<{ admin: ApiUser; customer: ApiUser }> {
  await call(s, undefined, 'POST', '/api/v1/setup', { token: s.setupLink.split('#token=')[1], ...ADMIN });
  const admin = await signInApi(s, ADMIN.email, ADMIN.password);
  for (const t of [
    { id: 'acme', name: 'ACME Corporation' },
    { id: 'globex', name: 'Globex' },
    { id: 'initech', name: 'Initech' },
  ]) {
    await call(s, admin, 'POST', '/api/v1/tenants', t);
  }
  await call(s, admin, 'POST', '/api/v1/tenants/acme/sites', { id: 'hq', name: 'Head office' });
  const exchange = (id: string, version: string, name?: string) => ({
    id,
    ...(name ? { name } : {}),
    os: { product: 'microsoft:windows_server_2016', version: '10.0.14393.4225' },
    products: [{ product: 'microsoft:exchange_server', version }],
  });
  await call(s, admin, 'POST', '/api/v1/tenants/acme/assets?site=hq', {
    assets: [exchange('mail01', PROXYLOGON_AFFECTED, 'Front-end mail'), exchange('mail02', PROXYLOGON_FIXED)],
  });
  const hosts = Array.from({ length: ACME_ASSETS - 2 }, (_, i) => ({
    id: `host-${pad(i)}`,
    name: `Workstation ${pad(i)}`,
    products: [{ product: 'mozilla:firefox', version: '115.0' }],
  }));
  await call(s, admin, 'POST', '/api/v1/tenants/acme/assets', { assets: hosts });
  await call(s, admin, 'POST', '/api/v1/tenants/globex/assets', {
    assets: [exchange('gx-mail', PROXYLOGON_AFFECTED), { id: 'gx-web', products: [] }],
  });
  await call(s, admin, 'POST', '/api/v1/users', { ...CUSTOMER, role: 'customer', tenant_id: 'globex' });
  const customer = await signInApi(s, CUSTOMER.email, CUSTOMER.password);
  return { admin, customer };
}

/** expect.poll with room for a loaded machine (password hashing on user creation, a busy CI runner). */
const poll = <T>(fn: () => T | Promise<T>, options: { timeout?: number; message?: string } = {}) =>
  expect.poll(fn, { timeout: 10_000, ...options });

/** Screenshots for docs/console.md with BULWARK_CONSOLE_SCREENSHOTS=1 (the SQLite run takes them); else a temporary folder. */
const SHOTS = process.env.BULWARK_CONSOLE_SCREENSHOTS
  ? join(REPO_ROOT, 'docs/console')
  : mkdtempSync(join(tmpdir(), 'bulwark-console-pages-shots-'));

let browser: Browser | undefined;
beforeAll(async () => {
  browser = await launchChromium();
  mkdirSync(SHOTS, { recursive: true });
}, 60_000);
afterAll(async () => {
  await browser?.close();
});

describe.each(TEST_DIALECTS)('console data pages on %s', (dialect) => {
  let server: ConsoleServer | undefined;
  let admin: ApiUser;
  let customer: ApiUser;
  let adminContext: BrowserContext | undefined;
  let customerContext: BrowserContext | undefined;

  const contextFor = async (who: ApiUser, viewport = { width: 1280, height: 800 }, dark = false) => {
    const c = await browser!.newContext({ viewport, colorScheme: dark ? 'dark' : 'light' });
    await c.addCookies([{ name: 'bulwark_session', value: who.session, url: server!.url }]);
    return c;
  };

  beforeAll(async () => {
    if (!browser) return;
    server = await openConsoleServer(dialect);
    if (!server) return;
    ({ admin, customer } = await seed(server));
    adminContext = await contextFor(admin);
    customerContext = await contextFor(customer);
  }, 60_000);
  afterAll(async () => {
    await adminContext?.close();
    await customerContext?.close();
    await server?.dispose();
  });

  const ready = (ctx: { skip: () => void }) => {
    if (!browser || !server || !adminContext || !customerContext) ctx.skip();
    return { s: server!, c: adminContext!, cc: customerContext! };
  };
  const clean = async (p: CheckedPage) => {
    expect(await p.scanA11y(), `axe on ${p.page.url()}`).toEqual([]);
    expect(await p.problems(), `problems on ${p.page.url()}`).toEqual([]);
  };
  const shot = async (page: Page, name: string) => {
    if (dialect === 'sqlite') await page.screenshot({ path: join(SHOTS, `${name}.png`) });
  };
  const heading = (page: Page) => page.getByRole('heading', { level: 1 });
  /** The first column's text of every body row of the page's first table. */
  const firstColumn = (page: Page) => page.locator('main table').first().locator('tbody tr td:first-child');
  const countText = (page: Page) => page.locator('p.count').textContent();

  it('lists and searches tenants as the API does, creates a tenant and a site', async (ctx) => {
    const { s, c } = ready(ctx);
    const p = await openCheckedPage(c);
    const { page } = p;
    await page.goto(`${s.url}/tenants`);
    const api = await call<{ items: { id: string }[]; total: number }>(
      s,
      admin,
      'GET',
      '/api/v1/tenants?limit=50',
    );
    await poll(() => firstColumn(page).allTextContents()).toEqual(api.body.items.map((t) => t.id));
    expect(await countText(page)).toBe(`1–${api.body.total} of ${api.body.total}`);
    // Search: the URL holds it, and a reload shows the same.
    await page.getByLabel('Search by id or name').fill('glob');
    await page.getByRole('button', { name: 'Search' }).click();
    await page.waitForURL(`${s.url}/tenants?q=glob`);
    await poll(() => firstColumn(page).allTextContents()).toEqual(['globex']);
    await page.reload();
    await poll(() => firstColumn(page).allTextContents()).toEqual(['globex']);
    // Create: a bad id gets the server's message naming the field; a good one appears in the list.
    await page.goto(`${s.url}/tenants`);
    p.expectHttpError({ method: 'POST', path: '/api/v1/tenants', status: 400 });
    await page.getByLabel('Tenant id').fill('bad id!');
    await page.getByLabel('Name', { exact: true }).fill('Umbrella');
    await page.getByRole('button', { name: 'Create tenant' }).click();
    await poll(() => page.getByRole('alert').textContent()).toContain('body.id');
    await page.getByLabel('Tenant id').fill('umbrella');
    await page.getByRole('button', { name: 'Create tenant' }).click();
    await page.getByText('Tenant umbrella created.').waitFor();
    await poll(() => firstColumn(page).allTextContents()).toContain('umbrella');
    // The tenant's page: its sites and exposure; a new site appears at once and in the API.
    await firstColumn(page).getByRole('link', { name: 'acme' }).click();
    await page.waitForURL(`${s.url}/tenants/acme`);
    await poll(() => heading(page).textContent()).toBe('ACME Corporation');
    await page.getByLabel('Site id').fill('branch');
    await page.getByLabel('Site name').fill('Branch office');
    await page.getByRole('button', { name: 'Create site' }).click();
    await poll(() => page.getByRole('cell', { name: 'Branch office', exact: true }).count()).toBe(1);
    const sites = await call<{ id: string }[]>(s, admin, 'GET', '/api/v1/tenants/acme/sites');
    expect(sites.body.map((x) => x.id).sort()).toEqual(['branch', 'hq']);
    const exposure = await call<{ advisories: { advisory: string; counts: { affected: number } }[] }>(
      s,
      admin,
      'GET',
      '/api/v1/tenants/acme/exposure',
    );
    const shown = await page
      .locator('section[aria-labelledby="exposure-heading"] tbody td:first-child')
      .allTextContents();
    expect(shown).toEqual(exposure.body.advisories.map((a) => a.advisory));
    await clean(p);
  });

  it('pages through 120 assets 50 at a time as the API does, with filters and page in a reloadable URL', async (ctx) => {
    const { s, c } = ready(ctx);
    const p = await openCheckedPage(c);
    const { page } = p;
    const apiPage = async (query: string) =>
      (
        await call<{ items: { id: string }[]; total: number; next_cursor: string | null }>(
          s,
          admin,
          'GET',
          `/api/v1/tenants/acme/assets?limit=50&${query}`,
        )
      ).body;
    await page.goto(`${s.url}/tenants/acme/assets`);
    const first = await apiPage('offset=0');
    expect(first.total).toBe(ACME_ASSETS);
    await poll(() => firstColumn(page).allTextContents()).toEqual(first.items.map((a) => a.id));
    expect(await countText(page)).toBe(`1–50 of ${ACME_ASSETS}`);
    // Pages by key: the URL holds the API's cursor (and the position, for the range shown).
    await page.getByRole('link', { name: 'Next page' }).click();
    await page.waitForURL((u) => u.searchParams.get('cursor') === first.next_cursor);
    const second = await apiPage(`cursor=${first.next_cursor}`);
    await poll(() => firstColumn(page).allTextContents()).toEqual(second.items.map((a) => a.id));
    expect(await countText(page)).toBe(`51–100 of ${ACME_ASSETS}`);
    await page.getByRole('link', { name: 'Next page' }).click();
    await page.waitForURL((u) => u.searchParams.get('cursor') === second.next_cursor);
    const third = await apiPage(`cursor=${second.next_cursor}`);
    await poll(() => firstColumn(page).allTextContents()).toEqual(third.items.map((a) => a.id));
    expect(await countText(page)).toBe(`101–${ACME_ASSETS} of ${ACME_ASSETS}`);
    expect(await page.getByRole('link', { name: 'Next page' }).count()).toBe(0);
    await page.reload();
    await poll(() => firstColumn(page).allTextContents()).toEqual(third.items.map((a) => a.id));
    await page.getByRole('link', { name: 'Previous page' }).click();
    await page.waitForURL(/cursor=.*from=51/);
    await poll(() => firstColumn(page).allTextContents()).toEqual(second.items.map((a) => a.id));
    // Filters by exposure, from the form; the URL names them and a reload keeps them.
    const exposure = await call<{ advisories: { advisory: string; counts: { affected: number } }[] }>(
      s,
      admin,
      'GET',
      '/api/v1/tenants/acme/exposure',
    );
    const advisory = exposure.body.advisories.find((a) => a.counts.affected > 0)?.advisory;
    expect(advisory).toBeDefined();
    // The asset filters (the page's search; the bulk status change below has fields of the same names).
    const filters = page.getByRole('search');
    await filters.getByLabel('Advisory').fill(advisory!);
    await filters.getByLabel('Verdict', { exact: true }).selectOption('affected');
    await page.getByRole('button', { name: 'Filter' }).click();
    await page.waitForURL(/verdict=affected/);
    const url = new URL(page.url());
    expect(url.searchParams.get('advisory')).toBe(advisory);
    expect(url.searchParams.get('cursor')).toBeNull();
    const affected = await apiPage(`advisory=${encodeURIComponent(advisory!)}&verdict=affected`);
    expect(affected.items.map((a) => a.id)).toEqual(['mail01']);
    await poll(() => firstColumn(page).allTextContents()).toEqual(['mail01']);
    await page.reload();
    await poll(() => firstColumn(page).allTextContents()).toEqual(['mail01']);
    expect(await page.getByRole('search').getByLabel('Verdict', { exact: true }).inputValue()).toBe(
      'affected',
    );
    await shot(page, 'assets-filtered');
    // A site filter from a deep link.
    await page.goto(`${s.url}/tenants/acme/assets?site=hq&q=mail`);
    await poll(() => firstColumn(page).allTextContents()).toEqual(['mail01', 'mail02']);
    await clean(p);
  });

  it('shows an asset with its findings and provenance, and changes one finding’s status with a reason', async (ctx) => {
    const { s, c } = ready(ctx);
    const p = await openCheckedPage(c);
    const { page } = p;
    await page.goto(`${s.url}/tenants/acme/assets?q=mail01`);
    await firstColumn(page).getByRole('link', { name: 'mail01' }).click();
    await page.waitForURL(`${s.url}/tenants/acme/assets/mail01`);
    await poll(() => heading(page).textContent()).toBe('Front-end mail (mail01)');
    const exposure = await call<{
      findings: { cve: string; verdict: string; provenance: { rule: string } }[];
    }>(s, admin, 'GET', '/api/v1/tenants/acme/assets/mail01/exposure');
    expect(exposure.body.findings.length).toBeGreaterThan(0);
    const findings = page.locator('section[aria-labelledby="findings-heading"] tbody tr');
    await poll(() => findings.count()).toBe(exposure.body.findings.length);
    const cves = await findings.locator('td:first-child a').allTextContents();
    expect(cves).toEqual(exposure.body.findings.map((f) => f.cve));
    const target = exposure.body.findings.find((f) => f.verdict === 'affected') ?? exposure.body.findings[0]!;
    expect(await findings.filter({ hasText: target.cve }).textContent()).toContain(target.provenance.rule);
    // One finding: its history, then a status change with a reason.
    await page.getByRole('link', { name: `${target.cve}: history and status` }).click();
    await page.waitForURL(`${s.url}/tenants/acme/assets/mail01?finding=${target.cve}`);
    await page.getByRole('heading', { name: `${target.cve} on mail01` }).waitFor();
    expect(await page.evaluate('document.activeElement?.id')).toBe('finding-heading');
    await page.getByLabel('New status').selectOption('acknowledged');
    await page.getByLabel('Reason').fill('Patch window booked for Saturday');
    await page.getByRole('button', { name: 'Change status' }).click();
    await poll(() => page.getByRole('status').filter({ hasText: 'is now acknowledged' }).count()).toBe(1);
    const history = await call<{ to_value: string; reason: string }[]>(
      s,
      admin,
      'GET',
      `/api/v1/tenants/acme/assets/mail01/findings/${target.cve}/history`,
    );
    expect(history.body.at(-1)).toMatchObject({
      to_value: 'acknowledged',
      reason: 'Patch window booked for Saturday',
    });
    await poll(() => page.locator('ol.history').textContent()).toContain('Patch window booked for Saturday');
    // The deep link to the finding reloads to the same view.
    await page.reload();
    await poll(() => page.locator('ol.history li').count()).toBe(history.body.length);
    await page.getByRole('heading', { name: `${target.cve} on mail01` }).scrollIntoViewIfNeeded();
    await shot(page, 'finding');
    await clean(p);
  });

  it('lists users as the API does and creates one; a token’s secret is shown once, works, and stops when revoked', async (ctx) => {
    const { s, c } = ready(ctx);
    const p = await openCheckedPage(c);
    const { page } = p;
    page.on('dialog', (d) => void d.accept());
    await page.goto(`${s.url}/users`);
    const users = async () =>
      (await call<{ items: { email: string }[] }>(s, admin, 'GET', '/api/v1/users?limit=50&sort=email')).body
        .items;
    await poll(() => firstColumn(page).allTextContents()).toEqual((await users()).map((u) => u.email));
    await page.getByLabel('Email').fill('tech@msp.example');
    await page.getByLabel('Name', { exact: true }).fill('Tess Tech');
    await page.getByLabel('Initial password').fill('a technician passphrase');
    await page.getByLabel('Role').selectOption('technician');
    await page.getByRole('button', { name: 'Create user' }).click();
    await poll(async () => (await users()).map((u) => u.email)).toContain('tech@msp.example');
    await poll(() => firstColumn(page).allTextContents()).toEqual((await users()).map((u) => u.email));
    await clean(p);

    await page.goto(`${s.url}/tokens`);
    await page.getByRole('status').filter({ hasText: 'no API tokens' }).waitFor();
    await page.getByLabel('Token name').fill('scanner on lab-01');
    await page.getByLabel('Role').selectOption('read_only');
    await page.getByRole('button', { name: 'Create token' }).click();
    const secretField = page.getByLabel('Token secret');
    await secretField.waitFor();
    const secret = await secretField.inputValue();
    expect(secret.length).toBeGreaterThan(20);
    await page.getByRole('button', { name: 'Copy the token' }).waitFor();
    const bearer = (t: string) =>
      fetch(`${s.url}/api/v1/tenants`, { headers: { authorization: `Bearer ${t}` } }).then((r) => r.status);
    expect(await bearer(secret)).toBe(200);
    const listed = await call<{ id: string; name: string }[]>(s, admin, 'GET', '/api/v1/tokens');
    await poll(() => firstColumn(page).allTextContents()).toEqual(listed.body.map((t) => t.name));
    await clean(p);
    // Shown once: after a reload the secret is nowhere on the page.
    await page.reload();
    await firstColumn(page).first().waitFor();
    expect(await page.getByLabel('Token secret').count()).toBe(0);
    expect(await page.content()).not.toContain(secret);
    await page.getByRole('button', { name: 'Revoke scanner on lab-01' }).click();
    await poll(() => page.locator('tbody').textContent()).toContain('revoked');
    expect(await bearer(secret)).toBe(401);
    expect(await p.problems()).toEqual([]);
  });

  it('pages the audit log newest first as the API does, and verifies the chain', async (ctx) => {
    const { s, c } = ready(ctx);
    const p = await openCheckedPage(c);
    const { page } = p;
    await page.goto(`${s.url}/audit`);
    const api = await call<{ items: { seq: number }[]; total: number }>(
      s,
      admin,
      'GET',
      '/api/v1/audit?limit=50&sort=-seq',
    );
    await poll(() => firstColumn(page).allTextContents()).toEqual(api.body.items.map((r) => String(r.seq)));
    await page.getByRole('button', { name: 'Verify chain' }).click();
    const verify = await call<{ ok: boolean; records: number }>(s, admin, 'GET', '/api/v1/audit/verify');
    expect(verify.body.ok).toBe(true);
    await poll(() => page.getByRole('status').filter({ hasText: 'The chain is whole' }).count()).toBe(1);
    await shot(page, 'audit');
    const text =
      (await page.getByRole('status').filter({ hasText: 'The chain is whole' }).textContent()) ?? '';
    expect(Number(/(\d+) records checked/.exec(text)?.[1])).toBeGreaterThanOrEqual(api.body.total);
    if (api.body.total > 50) {
      await page.getByRole('link', { name: 'Next page' }).click();
      await page.waitForURL(/\/audit\?cursor=/);
      await page.reload();
      await poll(async () => (await firstColumn(page).allTextContents()).length).toBeGreaterThan(0);
    }
    await clean(p);
  });

  it('lists jobs as the API does, shows one with its progress, and says so when the server has no jobs API', async (ctx) => {
    const { s, c } = ready(ctx);
    // An advisory import is a job on servers that run imports as jobs (202); an older server answers 200.
    const imported = await call<{ id?: string }>(
      s,
      admin,
      'POST',
      '/api/v1/advisories/import',
      JSON.stringify({
        schema_version: '1.3.1',
        id: 'GO-2020-0001',
        modified: '2024-05-20T16:03:47Z',
        published: '2021-04-14T20:04:52Z',
        aliases: ['CVE-2020-36567'],
        summary: 'Log line injection in github.com/gin-gonic/gin',
        affected: [
          {
            package: { name: 'github.com/gin-gonic/gin', ecosystem: 'Go' },
            ranges: [{ type: 'SEMVER', events: [{ introduced: '0' }, { fixed: '1.6.0' }] }],
          },
        ],
      }),
    );
    const p = await openCheckedPage(c);
    const { page } = p;
    await page.goto(`${s.url}/jobs`);
    const jobs = await call<{ items: { id: string; kind: string }[]; total: number }>(
      s,
      admin,
      'GET',
      '/api/v1/jobs?limit=50',
    );
    await poll(() => firstColumn(page).locator('.sub').allTextContents()).toEqual(
      jobs.body.items.map((j) => j.id),
    );
    if (imported.status === 202 && imported.body.id) {
      const id = imported.body.id;
      await page.getByRole('link', { name: 'advisories.recompute' }).first().click();
      await page.waitForURL(`${s.url}/jobs/${id}`);
      await page.getByRole('progressbar', { name: `Progress of ${id}` }).waitFor();
      // The page follows the job until it ends, and then shows what the API shows.
      const ended = async () =>
        (await call<{ state: string }>(s, admin, 'GET', `/api/v1/jobs/${id}`)).body.state;
      await poll(ended, { timeout: 15_000 }).toMatch(/succeeded|failed/);
      const final = await ended();
      await poll(() => page.locator('.facts .state').textContent(), { timeout: 5_000 }).toBe(final);
      await page.reload();
      await poll(() => page.locator('.facts .state').textContent()).toBe(final);
      // The facts come from the job's snake_case keys.
      const shown = (
        await call<{ attempts: number; max_attempts: number; created_by: string; tenant_id: string | null }>(
          s,
          admin,
          'GET',
          `/api/v1/jobs/${id}`,
        )
      ).body;
      expect(shown.tenant_id).toBeNull();
      const facts = (await page.locator('.facts').textContent()) ?? '';
      expect(facts).toContain(`${shown.attempts} of at most ${shown.max_attempts}`);
      expect(facts).toContain(`Started by${shown.created_by}`);
      expect(facts).toContain('installation-wide');
    }
    await clean(p);
    // A server without the jobs API: the page says so, with no error beyond that 404.
    const old = await openCheckedPage(c);
    old.expectHttpError({ method: 'GET', path: '/api/v1/jobs', status: 404 });
    await old.page.route('**/api/v1/jobs?*', (route) =>
      route.fulfill({
        status: 404,
        contentType: 'application/json',
        body: JSON.stringify({ error: 'not_found', message: 'Route GET:/api/v1/jobs not found' }),
      }),
    );
    await old.page.goto(`${s.url}/jobs`);
    await old.page.getByText('The jobs API is not available on this server').waitFor();
    expect(await old.problems()).toEqual([]);
  });

  it('keeps a customer user to their tenant: other tenants’ pages show not found and no data', async (ctx) => {
    const { s, cc } = ready(ctx);
    const p = await openCheckedPage(cc);
    const { page } = p;
    await page.goto(`${s.url}/tenants`);
    await poll(() => firstColumn(page).allTextContents()).toEqual(['globex']);
    const nav = page.getByRole('navigation', { name: 'Sections' });
    expect(await nav.getByRole('link', { name: 'Users' }).count()).toBe(0);
    expect(await nav.getByRole('link', { name: 'Audit log' }).count()).toBe(0);
    await page.goto(`${s.url}/tenants/globex/assets`);
    await poll(() => firstColumn(page).allTextContents()).toEqual(['gx-mail', 'gx-web']);
    await page.goto(`${s.url}/tenants/globex/assets/gx-mail`);
    await page.getByRole('heading', { name: 'Findings' }).waitFor();
    // Read-only: no status form.
    const firstCve = page.locator('section[aria-labelledby="findings-heading"] tbody a').first();
    await firstCve.click();
    await page.getByRole('heading', { name: /on gx-mail$/ }).waitFor();
    expect(await page.getByRole('button', { name: 'Change status' }).count()).toBe(0);
    await clean(p);
    for (const path of [
      '/api/v1/tenants/acme',
      '/api/v1/tenants/acme/sites',
      '/api/v1/tenants/acme/exposure',
      '/api/v1/tenants/acme/assets',
      '/api/v1/tenants/acme/assets/mail01',
      '/api/v1/tenants/acme/assets/mail01/exposure',
    ]) {
      p.expectHttpError({ method: 'GET', path, status: 404 });
    }
    for (const path of ['/tenants/acme', '/tenants/acme/assets?offset=50', '/tenants/acme/assets/mail01']) {
      await page.goto(s.url + path);
      await poll(() => heading(page).textContent(), { message: path }).toBe('Not found');
      const text = (await page.locator('main').textContent()) ?? '';
      expect(text, path).not.toMatch(/ACME|mail01|mail02|host-0/);
      expect(await page.locator('main table').count(), path).toBe(0);
    }
    // The API refuses the same: the page hides nothing the API would give.
    const refused = await fetch(`${s.url}/api/v1/tenants/acme/assets`, {
      headers: { cookie: customer.cookie },
    });
    expect(refused.status).toBe(404);
    // Administrator pages: the API refuses them (403) and the page shows the server's message, no data.
    p.expectHttpError({ method: 'GET', path: '/api/v1/users', status: 403 });
    p.expectHttpError({ method: 'GET', path: '/api/v1/audit', status: 403 });
    for (const path of ['/users', '/audit']) {
      await page.goto(s.url + path);
      await page.getByRole('alert').waitFor();
      expect(await page.locator('main table').count(), path).toBe(0);
    }
    expect(await p.problems()).toEqual([]);
  });

  it('holds the layout at 390 px in dark mode on every data page, and passes axe there', async (ctx) => {
    const { s } = ready(ctx);
    // The layout does not depend on the database: one run is enough.
    if (dialect !== 'sqlite') ctx.skip();
    const narrow = await contextFor(admin, { width: 390, height: 844 }, true);
    try {
      const p = await openCheckedPage(narrow);
      // Every page for the width; axe (mostly colour contrast in dark mode) on the pages that hold every kind of
      // element the others have: tables, forms, verdict and state badges, the finding panel, progress bars.
      const scanned = new Set([
        '/tenants/acme',
        '/tenants/acme/assets/mail01?finding=CVE-2021-26855',
        '/audit',
        '/jobs',
      ]);
      for (const path of [
        '/tenants',
        '/tenants/acme',
        '/tenants/acme/assets?site=hq',
        '/tenants/acme/assets/mail01?finding=CVE-2021-26855',
        '/users',
        '/tokens',
        '/audit',
        '/jobs',
      ]) {
        await p.page.goto(s.url + path);
        await p.page.getByRole('heading', { level: 1 }).waitFor();
        await poll(() => p.page.getByText('Loading…').count(), { message: path }).toBe(0);
        const overflow = await p.page.evaluate<number>(
          'document.documentElement.scrollWidth - window.innerWidth',
        );
        expect(overflow, `horizontal overflow on ${path}`).toBeLessThanOrEqual(0);
        if (scanned.has(path)) expect(await p.scanA11y(), `axe (dark, 390 px) on ${path}`).toEqual([]);
      }
      expect(await p.problems()).toEqual([]);
    } finally {
      await narrow.close();
    }
  });
});
