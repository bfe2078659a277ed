/**
 * The console's keyset-paged asset table and its two-step bulk status change, in a real browser against a real
 * server on 127.0.0.1, on SQLite and on PostgreSQL: the pages are the API's pages by cursor (the cursor in the
 * URL, a reload keeps it); a bulk change shows the server's match count, changes exactly those findings on
 * confirmation, and a confirmation gone stale is refused with the server's 409 message and an offer to preview
 * again; an empty filter gets the server's refusal; a read-only user sees no bulk control. Every page is checked
 * for console errors and unexpected HTTP errors and scanned with axe-core.
 */
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TEST_DIALECTS } from '../src/server/db/db.testkit.js';
import { type CheckedPage, launchChromium, openCheckedPage } from './support/browser.js';
import { type ApiUser, callApi, signInApi } from './support/console-api.js';
import { type ConsoleServer, openConsoleServer } from './support/console-server.js';

const ADMIN = { email: 'admin@msp.example', name: 'Ada Admin', password: 'correct horse battery staple' };
const READER = { email: 'ro@msp.example', name: 'Rita Reader', password: 'a read only passphrase' };
const ADVISORY = 'proxylogon-2021-03';
const ASSETS = 62;
const MAILS = 4;

/** One API call's answer body (support/console-api.ts callApi). */
const call = async <T>(...args: Parameters<typeof callApi>) => (await callApi<T>(...args)).body;

/** acme: ProxyLogon-affected Exchange servers and plain hosts, more than one page of 50. */
async function seed(s: ConsoleServer): Promise<{ admin: ApiUser; reader: ApiUser }> {
  await call(s, undefined, 'POST', '/api/v1/setup', { token: s.setupLink.split('#token=')[1], ...ADMIN });
  const admin = await signInApi(s, ADMIN.email, ADMIN.password);
  await call(s, admin, 'POST', '/api/v1/tenants', { id: 'acme', name: 'ACME Corporation' });
  const assets = Array.from({ length: ASSETS }, (_, i) =>
    i < MAILS
      ? { id: `mail${i}`, products: [{ product: 'microsoft:exchange_server', version: '15.1.2176.2' }] }
      : { id: `host-${String(i).padStart(3, '0')}`, products: [] },
  );
  await call(s, admin, 'POST', '/api/v1/tenants/acme/assets', { assets });
  await call(s, admin, 'POST', '/api/v1/users', { ...READER, role: 'read_only' });
  return { admin, reader: await signInApi(s, READER.email, READER.password) };
}

const poll = <T>(fn: () => T | Promise<T>) => expect.poll(fn, { timeout: 10_000 });

let browser: Browser | undefined;
beforeAll(async () => {
  browser = await launchChromium();
}, 60_000);
afterAll(async () => {
  await browser?.close();
});

describe.each(TEST_DIALECTS)('console bulk status change and keyset paging on %s', (dialect) => {
  let server: ConsoleServer | undefined;
  let admin: ApiUser;
  let reader: ApiUser;
  let adminContext: BrowserContext | undefined;
  let readerContext: BrowserContext | undefined;
  const contextFor = async (who: ApiUser) => {
    const c = await browser!.newContext({ viewport: { width: 1280, height: 900 } });
    await c.addCookies([{ name: 'bulwark_session', value: who.session, url: server!.url }]);
    return c;
  };
  beforeAll(async () => {
    if (!browser) return;
    server = await openConsoleServer(dialect);
    if (!server) return;
    ({ admin, reader } = await seed(server));
    adminContext = await contextFor(admin);
    readerContext = await contextFor(reader);
  }, 60_000);
  afterAll(async () => {
    await adminContext?.close();
    await readerContext?.close();
    await server?.dispose();
  });
  const ready = (ctx: { skip: () => void }) => {
    if (!browser || !server || !adminContext || !readerContext) ctx.skip();
    return { s: server!, c: adminContext!, rc: readerContext! };
  };
  const clean = async (p: CheckedPage) => {
    expect(await p.scanA11y(), `axe on ${p.page.url()}`).toEqual([]);
    expect(await p.problems(), `problems on ${p.page.url()}`).toEqual([]);
  };
  const firstColumn = (page: Page) => page.locator('main table').first().locator('tbody tr td:first-child');
  const countText = (page: Page) => page.locator('p.count').textContent();
  const bulk = (page: Page) => page.getByRole('region', { name: 'Change the status of many findings' });
  type Findings = { items: { asset_id: string; cve: string; status: string }[]; total: number };
  const findings = (s: ConsoleServer, query: string) =>
    call<Findings>(s, admin, 'GET', `/api/v1/findings?tenant=acme&limit=1000&advisory=${ADVISORY}&${query}`);

  it('pages the asset table by cursor as the API does, the cursor in a reloadable URL', async (ctx) => {
    const { s, c } = ready(ctx);
    const p = await openCheckedPage(c);
    const { page } = p;
    type AssetPage = { items: { id: string }[]; next_cursor: string | null; prev_cursor: string | null };
    const first = await call<AssetPage>(s, admin, 'GET', '/api/v1/tenants/acme/assets?limit=50');
    await page.goto(`${s.url}/tenants/acme/assets`);
    await poll(() => firstColumn(page).allTextContents()).toEqual(first.items.map((a) => a.id));
    expect(await countText(page)).toBe(`1–50 of ${ASSETS}`);
    const started = Date.now();
    await page.getByRole('link', { name: 'Next page' }).click();
    await page.waitForURL((u) => u.searchParams.get('cursor') === first.next_cursor);
    const second = await call<AssetPage>(
      s,
      admin,
      'GET',
      `/api/v1/tenants/acme/assets?limit=50&cursor=${first.next_cursor}`,
    );
    await poll(() => firstColumn(page).allTextContents()).toEqual(second.items.map((a) => a.id));
    expect(Date.now() - started).toBeLessThan(5_000);
    expect(await countText(page)).toBe(`51–${ASSETS} of ${ASSETS}`);
    expect(await page.getByRole('link', { name: 'Next page' }).count()).toBe(0);
    await page.reload();
    await poll(() => firstColumn(page).allTextContents()).toEqual(second.items.map((a) => a.id));
    await page.getByRole('link', { name: 'Previous page' }).click();
    await page.waitForURL(/cursor=/);
    await poll(() => firstColumn(page).allTextContents()).toEqual(first.items.map((a) => a.id));
    expect(await countText(page)).toBe(`1–50 of ${ASSETS}`);
    expect(await page.getByRole('link', { name: 'Previous page' }).count()).toBe(0);
    await clean(p);
  });

  it('changes findings in two steps, refuses a stale confirmation and previews again', async (ctx) => {
    const { s, c } = ready(ctx);
    const p = await openCheckedPage(c);
    const { page } = p;
    await page.goto(`${s.url}/tenants/acme/assets`);
    const form = bulk(page);
    await form.getByRole('heading').waitFor();
    // An empty filter: the server's refusal, naming the filter.
    p.expectHttpError({ method: 'POST', path: '/api/v1/tenants/acme/findings/bulk/preview', status: 400 });
    await form.getByLabel('Reason').fill('Mail servers isolated behind the gateway');
    await form.getByRole('button', { name: 'Preview', exact: true }).click();
    await poll(() => form.getByRole('alert').textContent()).toContain('filter: an empty filter');

    // Step one: the count the server answers; nothing changes yet.
    const affected = await findings(s, 'verdict=affected');
    expect(affected.total).toBeGreaterThanOrEqual(MAILS);
    await form.getByLabel('Advisory').fill(ADVISORY);
    await form.getByLabel('Finding verdict').selectOption('affected');
    await form.getByLabel('New status').selectOption('accepted_risk');
    await form.getByRole('button', { name: 'Preview', exact: true }).click();
    await poll(() => form.getByRole('status').first().textContent()).toBe(
      `${affected.total} findings match.`,
    );
    expect((await findings(s, 'status=accepted_risk')).total).toBe(0);
    // Step two: confirmed, exactly those change.
    await form.getByRole('button', { name: `Change ${affected.total} to accepted risk` }).click();
    await poll(() => form.getByRole('status').first().textContent()).toContain(
      `Done: ${affected.total} findings changed to accepted risk`,
    );
    const changed = await findings(s, 'status=accepted_risk');
    expect(changed.items.map((f) => `${f.asset_id}/${f.cve}`).sort()).toEqual(
      affected.items.map((f) => `${f.asset_id}/${f.cve}`).sort(),
    );
    await clean(p);

    // A stale confirmation: one counted finding changes between preview and confirmation.
    await form.getByRole('button', { name: 'Another change' }).click();
    await form.getByLabel('Current status').selectOption('accepted_risk');
    await form.getByLabel('New status').selectOption('open');
    await form.getByLabel('Reason').fill('Gateway rule withdrawn');
    await form.getByRole('button', { name: 'Preview', exact: true }).click();
    await poll(() => form.getByRole('status').first().textContent()).toBe(
      `${affected.total} findings match.`,
    );
    const moved = changed.items[0]!;
    await call(s, admin, 'PATCH', `/api/v1/tenants/acme/assets/${moved.asset_id}/findings/${moved.cve}`, {
      status: 'acknowledged',
      reason: 'changed by someone else meanwhile',
    });
    p.expectHttpError({ method: 'POST', path: '/api/v1/tenants/acme/findings/bulk/commit', status: 409 });
    await form.getByRole('button', { name: `Change ${affected.total} to open` }).click();
    await poll(() => form.getByRole('alert').textContent()).toContain('stale: preview again');
    expect((await findings(s, 'status=open')).total).toBe(0);
    await form.getByRole('button', { name: 'Preview again' }).click();
    await poll(() => form.getByRole('status').first().textContent()).toBe(
      `${affected.total - 1} findings match.`,
    );
    await form.getByRole('button', { name: `Change ${affected.total - 1} to open` }).click();
    await poll(() => form.getByRole('status').first().textContent()).toContain(
      `Done: ${affected.total - 1} findings changed to open`,
    );
    expect((await findings(s, 'status=open&verdict=affected')).total).toBe(affected.total - 1);
    expect((await findings(s, 'status=acknowledged')).items).toEqual([
      expect.objectContaining({ asset_id: moved.asset_id, cve: moved.cve }),
    ]);
    await clean(p);
  });

  it('shows no bulk control to a user whose permissions do not include write', async (ctx) => {
    const { s, rc } = ready(ctx);
    const p = await openCheckedPage(rc);
    const { page } = p;
    const me = await call<{ permissions: string[] }>(s, reader, 'GET', '/api/v1/me');
    expect(me.permissions).toEqual(['read']);
    await page.goto(`${s.url}/tenants/acme/assets`);
    await poll(() => firstColumn(page).count()).toBe(50);
    expect(await bulk(page).count()).toBe(0);
    await clean(p);
  });
});
