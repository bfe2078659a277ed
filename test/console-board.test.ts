/**
 * The response board in a real browser against a real server on 127.0.0.1, on SQLite and on PostgreSQL, seeded
 * through the API with assets, scan and gateway observations and hunt reports: the board's totals and rows equal
 * the API's, in every order it offers and with its text filter (in a reloadable URL); the drill-down to a customer
 * (state filter, keyset pages) and to an asset's Response section; a change pushed through the API while the page
 * is open shows without a reload within 2 seconds; a customer user sees only their own customer and gets "Not
 * found" for another's board page. Every page is checked for console errors, CSP violations and unexpected HTTP
 * errors and scanned with axe-core, in light mode at 1280 px and in dark mode at 390 px (no sideways scrolling).
 */
import { mkdirSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AssetResponseDetail, Board, BoardAssets, BoardCounts } from '../src/api/response.js';
import { TEST_DIALECTS } from '../src/server/db/db.testkit.js';
import { type CheckedPage, launchChromium, openCheckedPage } from './support/browser.js';
import { type ApiUser, callApi as call, signInApi } from './support/console-api.js';
import { type ConsoleServer, openConsoleServer, REPO_ROOT } from './support/console-server.js';

const ADV = 'proxylogon-2021-03';
const ADMIN = { email: 'admin@msp.example', name: 'Ada Admin', password: 'correct horse battery staple' };
const CUSTOMER = { email: 'it@globex.example', name: 'Gil Globex', password: 'globex customer passphrase' };
const AFFECTED = '15.1.2176.2';
const FIXED = '15.1.2176.9';
/** More than one page (50) of concerned assets at initech, for the keyset pager. */
const INITECH_SERVERS = 55;
/** The board's columns as the page shows them: the customer, then these counts. */
const ROW_COUNTS: (keyof BoardCounts)[] = [
  'assets',
  'exposed',
  'shielded',
  'unshielded',
  'compromised',
  'patched',
  'clean',
];

const exchange = (id: string, version: string, name?: string) => ({
  id,
  ...(name ? { name } : {}),
  os: { product: 'microsoft:windows_server_2016', version: '10.0.14393.4225' },
  products: [{ product: 'microsoft:exchange_server', version }],
});
const ago = (minutes: number) => new Date(Date.now() - minutes * 60_000).toISOString();

async function seed(s: ConsoleServer): Promise<{ admin: ApiUser; customer: ApiUser }> {
  await call(s, undefined, 'POST', '/api/v1/setup', { token: s.setupLink.split('#token=')[1], ...ADMIN });
  const admin = await signInApi(s, ADMIN.email, ADMIN.password);
  for (const t of [
    { id: 'acme', name: 'ACME Corporation' },
    { id: 'globex', name: 'Globex' },
    { id: 'initech', name: 'Initech' },
    { id: 'umbrella', name: 'Umbrella' },
  ]) {
    await call(s, admin, 'POST', '/api/v1/tenants', t);
  }
  await call(s, admin, 'POST', '/api/v1/tenants/acme/assets', {
    assets: [
      exchange('mail01', AFFECTED, 'Front-end mail'),
      exchange('mail02', AFFECTED),
      exchange('mail03', AFFECTED),
      { id: 'ws-001', products: [{ product: 'mozilla:firefox', version: '115.0' }] },
    ],
  });
  // mail02 is patched: affected on record, then fixed.
  await call(s, admin, 'POST', '/api/v1/tenants/acme/assets', { assets: [exchange('mail02', FIXED)] });
  await call(s, admin, 'POST', '/api/v1/tenants/globex/assets', {
    assets: [exchange('gx-mail', AFFECTED), { id: 'gx-web', products: [] }],
  });
  await call(s, admin, 'POST', '/api/v1/tenants/initech/assets', {
    assets: Array.from({ length: INITECH_SERVERS }, (_, i) =>
      exchange(`in-mail-${String(i).padStart(2, '0')}`, AFFECTED),
    ),
  });
  const recorded = await call<{ recorded: number; unknown_assets: string[] }>(
    s,
    admin,
    'POST',
    '/api/v1/tenants/acme/observations',
    {
      observations: [
        {
          asset_id: 'mail01',
          advisory_id: ADV,
          kind: 'shield',
          value: 'unshielded',
          source: 'scan',
          observed_at: ago(50),
          summary: { text: 'the SSRF probe reached the back end', check: 'proxylogon-ssrf' },
        },
        {
          asset_id: 'mail01',
          advisory_id: ADV,
          kind: 'compromise',
          value: 'compromised',
          source: 'hunt',
          observed_at: ago(40),
          window: { from: ago(60 * 24 * 30), to: ago(45) },
          summary: {
            text: 'web shell in the OWA auth folder',
            cves: ['CVE-2021-26855', 'CVE-2021-27065'],
            attacker_ips: ['203.0.113.7'],
            counts: { web_shells: 1, ssrf_requests: 12 },
          },
        },
        {
          asset_id: 'mail03',
          advisory_id: ADV,
          kind: 'shield',
          value: 'shielded',
          source: 'gateway',
          observed_at: ago(30),
          summary: { text: 'virtual patch enforced at the gateway' },
        },
        {
          asset_id: 'not-ours',
          advisory_id: ADV,
          kind: 'shield',
          value: 'shielded',
          source: 'scan',
          observed_at: ago(30),
        },
      ],
    },
  );
  expect(recorded.body).toEqual({ recorded: 3, unknown_assets: ['not-ours'] });
  await call(s, admin, 'POST', '/api/v1/tenants/globex/observations', {
    observations: [
      {
        asset_id: 'gx-mail',
        advisory_id: ADV,
        kind: 'compromise',
        value: 'clean',
        source: 'hunt',
        observed_at: ago(20),
        window: { from: ago(60 * 24 * 7), to: ago(25) },
        summary: { text: 'no indicator in 7 days of IIS logs' },
      },
    ],
  });
  const hunt = await call<{ matched: { host: string; asset_id: string }[]; unmatched: { host: string }[] }>(
    s,
    admin,
    'POST',
    '/api/v1/tenants/initech/hunt-reports',
    {
      advisory_id: ADV,
      reports: [
        {
          host: 'IN-MAIL-00',
          verdict: 'exploitation_attempted',
          window: { from: ago(600), to: ago(10) },
          summary: { text: 'SSRF attempts answered 500', attacker_ips: ['198.51.100.9'] },
        },
        { host: 'ghost', verdict: 'clean', window: { from: null, to: null }, summary: { text: 'none' } },
      ],
    },
  );
  expect(hunt.body.matched).toEqual([{ host: 'IN-MAIL-00', asset_id: 'in-mail-00' }]);
  expect(hunt.body.unmatched.map((u) => u.host)).toEqual(['ghost']);
  await call(s, admin, 'POST', '/api/v1/users', { ...CUSTOMER, role: 'customer', tenant_id: 'globex' });
  const customer = await signInApi(s, CUSTOMER.email, CUSTOMER.password);
  return { admin, customer };
}

const poll = <T>(fn: () => T | Promise<T>, options: { timeout?: number; message?: string } = {}) =>
  expect.poll(fn, { timeout: 10_000, ...options });

/** Screenshots for docs/console.md with BULWARK_CONSOLE_SCREENSHOTS=1 (the SQLite run takes them). */
const SHOTS = process.env.BULWARK_CONSOLE_SCREENSHOTS
  ? join(REPO_ROOT, 'docs/console')
  : mkdtempSync(join(tmpdir(), 'bulwark-console-board-shots-'));

let browser: Browser | undefined;
beforeAll(async () => {
  browser = await launchChromium();
  mkdirSync(SHOTS, { recursive: true });
}, 60_000);
afterAll(async () => {
  await browser?.close();
});

describe.each(TEST_DIALECTS)('console response board on %s', (dialect) => {
  let server: ConsoleServer | undefined;
  let admin: ApiUser;
  let customer: ApiUser;
  let adminContext: BrowserContext | undefined;

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
  }, 60_000);
  afterAll(async () => {
    await adminContext?.close();
    await server?.dispose();
  });

  const ready = (ctx: { skip: () => void }) => {
    if (!browser || !server || !adminContext) ctx.skip();
    return { s: server!, c: adminContext! };
  };
  const clean = async (p: CheckedPage) => {
    expect(await p.scanA11y(), `axe on ${p.page.url()}`).toEqual([]);
    expect(await p.problems(), `problems on ${p.page.url()}`).toEqual([]);
  };
  const shot = async (page: Page, name: string) => {
    if (dialect === 'sqlite') await page.screenshot({ path: join(SHOTS, `${name}.png`), fullPage: true });
  };
  const board = async (who: ApiUser, query = '') =>
    (await call<Board>(server!, who, 'GET', `/api/v1/advisories/${ADV}/board?limit=50${query}`)).body;
  const boardAssets = async (tenant: string, query = '') =>
    (
      await call<BoardAssets>(
        server!,
        admin,
        'GET',
        `/api/v1/advisories/${ADV}/board/tenants/${tenant}/assets?limit=50${query}`,
      )
    ).body;
  /** The totals as the page shows them, by count name. */
  const shownTotals = async (page: Page) => {
    const out: Record<string, number> = {};
    for (const dd of await page.locator('dl.totals dd').all())
      out[(await dd.getAttribute('data-count')) ?? ''] = Number(await dd.textContent());
    return out;
  };
  /** The board's rows as the page shows them: customer name, then the counts. */
  const shownRows = (page: Page) =>
    page
      .locator('main table tbody tr')
      .evaluateAll((rows) =>
        rows.map((r) =>
          [...r.querySelectorAll('td')].map((td, i) =>
            i === 0 ? (td.querySelector('a')?.textContent ?? '') : (td.textContent ?? ''),
          ),
        ),
      );
  const apiRows = (b: Board) =>
    b.tenants.items.map((t) => [t.name, ...ROW_COUNTS.map((k) => String(t.counts[k]))]);
  const firstLinks = (page: Page) => page.locator('main table tbody tr td:first-child a').allTextContents();

  it('shows the board with the API’s totals and rows, worst first, sorted and filtered in a reloadable URL', async (ctx) => {
    const { s, c } = ready(ctx);
    const p = await openCheckedPage(c);
    const { page } = p;
    await page.goto(`${s.url}/advisories?q=proxylogon`);
    await page.getByRole('link', { name: `Response board of ${ADV}` }).click();
    await page.waitForURL(`${s.url}/advisories/${ADV}/board`);
    const worst = await board(admin);
    // umbrella has no asset the advisory concerns; the others are there, worst first.
    expect(worst.tenants.items.map((t) => t.tenant_id).sort()).toEqual(
      expect.arrayContaining(['acme', 'globex', 'initech']),
    );
    expect(worst.totals.compromised).toBeGreaterThanOrEqual(2);
    await poll(() => shownRows(page)).toEqual(apiRows(worst));
    expect(await shownTotals(page)).toEqual(worst.totals);
    await page.locator('[data-live="open"]').waitFor();
    await shot(page, 'board');
    await clean(p);
    // Sorted by a column header; the URL holds the order and a reload keeps it.
    await page.getByRole('columnheader', { name: 'Customer' }).getByRole('link').click();
    await page.waitForURL(`${s.url}/advisories/${ADV}/board?sort=name`);
    const byName = await board(admin, '&sort=name');
    await poll(() => shownRows(page)).toEqual(apiRows(byName));
    expect(await page.getByRole('columnheader', { name: 'Customer' }).getAttribute('aria-sort')).toBe(
      'ascending',
    );
    await page.getByRole('columnheader', { name: 'Patched' }).getByRole('link').click();
    await page.waitForURL(`${s.url}/advisories/${ADV}/board?sort=patched`);
    await poll(() => shownRows(page)).toEqual(apiRows(await board(admin, '&sort=patched')));
    // The text filter, from the form.
    await page.getByLabel('Customer id or name').fill('glob');
    await page.getByLabel('Order').selectOption('worst');
    await page.getByRole('button', { name: 'Show' }).click();
    await page.waitForURL(/q=glob/);
    await poll(() => firstLinks(page)).toEqual(['Globex']);
    await page.reload();
    await poll(() => firstLinks(page)).toEqual(['Globex']);
    expect(await shownTotals(page)).toEqual((await board(admin, '&q=glob')).totals);
    expect(await p.problems()).toEqual([]);
    await page.close();
  });

  it('drills down to a customer (state filter, keyset pages) and to an asset’s response with its evidence', async (ctx) => {
    const { s, c } = ready(ctx);
    const p = await openCheckedPage(c);
    const { page } = p;
    await page.goto(`${s.url}/advisories/${ADV}/board`);
    await page.getByRole('link', { name: /compromised at ACME Corporation$/ }).click();
    await page.waitForURL(`${s.url}/advisories/${ADV}/board/acme?state=compromised`);
    const compromised = await boardAssets('acme', '&state=compromised');
    expect(compromised.items.map((a) => a.asset_id)).toEqual(['mail01']);
    await poll(() => firstLinks(page)).toEqual(['mail01']);
    expect(await page.getByLabel('State', { exact: true }).inputValue()).toBe('compromised');
    // Every asset of the customer, worst first, as the API has them.
    await page.getByRole('link', { name: 'Clear filters' }).click();
    await page.waitForURL(`${s.url}/advisories/${ADV}/board/acme`);
    const all = await boardAssets('acme');
    await poll(() => firstLinks(page)).toEqual(all.items.map((a) => a.asset_id));
    const acme = (await board(admin, '&q=acme')).tenants.items.find((t) => t.tenant_id === 'acme');
    expect(await shownTotals(page)).toEqual(acme?.counts);
    await shot(page, 'board-tenant');
    await clean(p);
    // Keyset pages: the cursor is in the URL, and a reload shows the same page.
    await page.goto(`${s.url}/advisories/${ADV}/board/initech`);
    const first = await boardAssets('initech');
    expect(first.items).toHaveLength(50);
    expect(first.next_cursor).toBeTruthy();
    await poll(() => firstLinks(page)).toEqual(first.items.map((a) => a.asset_id));
    await page.getByRole('link', { name: 'Next page' }).click();
    await page.waitForURL(/cursor=/);
    const cursor = new URL(page.url()).searchParams.get('cursor') ?? '';
    const second = await boardAssets('initech', `&cursor=${encodeURIComponent(cursor)}`);
    expect(second.items).toHaveLength(INITECH_SERVERS - 50);
    await poll(() => firstLinks(page)).toEqual(second.items.map((a) => a.asset_id));
    await page.reload();
    await poll(() => firstLinks(page)).toEqual(second.items.map((a) => a.asset_id));
    await page.getByRole('link', { name: 'First page' }).click();
    await poll(() => firstLinks(page)).toEqual(first.items.map((a) => a.asset_id));
    expect(await p.problems()).toEqual([]);
    // The asset: its four answers with source, time, window and evidence, and the observations behind them.
    await page.goto(`${s.url}/advisories/${ADV}/board/acme`);
    await page.getByRole('link', { name: 'mail01', exact: true }).click();
    await page.waitForURL(`${s.url}/tenants/acme/assets/mail01?advisory=${ADV}`);
    const detail = (
      await call<AssetResponseDetail>(
        s,
        admin,
        'GET',
        `/api/v1/tenants/acme/assets/mail01/response?advisory=${ADV}`,
      )
    ).body;
    const item = detail.items[0]!;
    expect(item.compromise.state).toBe('compromised');
    const section = page.locator('section[aria-labelledby="response-heading"]');
    await section.getByRole('heading', { name: ADV, exact: true }).waitFor();
    const text = (await section.textContent()) ?? '';
    expect(text).toContain('web shell in the OWA auth folder');
    expect(text).toContain('203.0.113.7');
    expect(text).toContain('CVE-2021-27065');
    expect(text).toContain('Hunt window');
    expect(text).toContain('unshielded');
    await poll(() => section.locator('tbody tr').count()).toBe(item.observations.length);
    await section.scrollIntoViewIfNeeded();
    await shot(page, 'asset-response');
    await clean(p);
    await page.close();
  });

  it('shows a change pushed through the API while the board is open, without a reload, within 2 s', async (ctx) => {
    const { s, c } = ready(ctx);
    const p = await openCheckedPage(c);
    const { page } = p;
    await page.goto(`${s.url}/advisories/${ADV}/board`);
    const before = await board(admin);
    await poll(() => shownRows(page)).toEqual(apiRows(before));
    await page.locator('[data-live="open"]').waitFor({ timeout: 10_000 });
    const globex = before.tenants.items.find((t) => t.tenant_id === 'globex')!;
    expect(globex.counts.compromised).toBe(0);
    // The page must not load again: a marker on the window survives only without a reload.
    await page.evaluate('window.__sameDocument = true');
    const started = Date.now();
    await call(s, admin, 'POST', '/api/v1/tenants/globex/observations', {
      observations: [
        {
          asset_id: 'gx-mail',
          advisory_id: ADV,
          kind: 'compromise',
          value: 'compromised',
          source: 'hunt',
          observed_at: new Date().toISOString(),
          window: { from: ago(60), to: new Date().toISOString() },
          summary: { text: 'web shell found on the second hunt' },
        },
      ],
    });
    const written = Date.now();
    await page.getByRole('link', { name: '1 compromised at Globex' }).waitFor({ timeout: 5_000 });
    // The delay counts from the write's answer (the change is stored); the push itself is in `total`.
    const delay = Date.now() - written;
    const total = Date.now() - started;
    process.stdout.write(
      `live update on ${dialect}: ${delay} ms after the write, ${total} ms after the push began\n`,
    );
    expect(
      delay,
      `the change showed ${delay} ms after the write (${total} ms after the push began)`,
    ).toBeLessThan(2_000);
    expect(await page.evaluate('window.__sameDocument')).toBe(true);
    const after = await board(admin);
    expect(after.totals.compromised).toBe(before.totals.compromised + 1);
    await poll(() => shownTotals(page)).toEqual(after.totals);
    await poll(() => shownRows(page)).toEqual(apiRows(after));
    // The customer's page follows too.
    await page.goto(`${s.url}/advisories/${ADV}/board/globex`);
    await page.locator('[data-live="open"]').waitFor({ timeout: 10_000 });
    const globexAssets = await boardAssets('globex');
    await poll(() => firstLinks(page)).toEqual(globexAssets.items.map((a) => a.asset_id));
    await call(s, admin, 'POST', '/api/v1/tenants/globex/observations', {
      observations: [
        {
          asset_id: 'gx-mail',
          advisory_id: ADV,
          kind: 'shield',
          value: 'shielded',
          source: 'mitigation',
          observed_at: new Date().toISOString(),
          summary: { text: 'URL rewrite mitigation applied' },
        },
      ],
    });
    await poll(() => page.locator('main table tbody').textContent(), { timeout: 5_000 }).toContain(
      'mitigation',
    );
    expect(await p.problems()).toEqual([]);
    await page.close();
  });

  it('keeps a customer user to their own customer: another customer’s board page shows not found and no data', async (ctx) => {
    const { s } = ready(ctx);
    const cc = await contextFor(customer);
    try {
      const p = await openCheckedPage(cc);
      const { page } = p;
      await page.goto(`${s.url}/advisories/${ADV}/board`);
      const own = await board(customer);
      expect(own.tenants.items.map((t) => t.tenant_id)).toEqual(['globex']);
      await poll(() => firstLinks(page)).toEqual(['Globex']);
      expect(await shownTotals(page)).toEqual(own.totals);
      for (const path of ['/api/v1/tenants/acme', `/api/v1/advisories/${ADV}/board/tenants/acme/assets`]) {
        p.expectHttpError({ method: 'GET', path, status: 404 });
      }
      for (const path of [
        `/advisories/${ADV}/board/acme`,
        `/advisories/${ADV}/board/acme?state=compromised`,
      ]) {
        await page.goto(s.url + path);
        await poll(() => page.getByRole('heading', { level: 1 }).textContent(), { message: path }).toBe(
          'Not found',
        );
        const text = (await page.locator('main').textContent()) ?? '';
        expect(text, path).not.toMatch(/ACME|mail01|mail02|mail03/);
        expect(await page.locator('main table').count(), path).toBe(0);
      }
      // The API refuses the same.
      const refused = await fetch(`${s.url}/api/v1/advisories/${ADV}/board/tenants/acme/assets`, {
        headers: { cookie: customer.cookie },
      });
      expect(refused.status).toBe(404);
      expect(await p.problems()).toEqual([]);
    } finally {
      await cc.close();
    }
  });

  it('shows hostile host names, customer names and hunt evidence as text: no script runs, no javascript: link', async (ctx) => {
    const { s, c } = ready(ctx);
    // What `bulwark hunt --push` / `scan --push` could carry from a hostile host: markup and script URLs.
    const HOSTILE = {
      tenant: 'Zeta <img src=x onerror="window.__xss=1">',
      asset: '<script>window.__xss=2</script>',
      text: '<img src=x onerror=window.__xss=3> "><svg onload=window.__xss=4>',
      url: 'javascript:window.__xss=5',
      check: '</p><a href="javascript:x">c</a>',
    };
    await call(s, admin, 'POST', '/api/v1/tenants', { id: 'zeta', name: HOSTILE.tenant });
    await call(s, admin, 'POST', '/api/v1/tenants/zeta/assets', {
      assets: [exchange('zeta-mail', AFFECTED, HOSTILE.asset)],
    });
    const pushed = await call<{ matched: { asset_id: string }[] }>(
      s,
      admin,
      'POST',
      '/api/v1/tenants/zeta/hunt-reports',
      {
        advisory_id: ADV,
        reports: [
          {
            host: HOSTILE.asset,
            addresses: ['javascript:alert(1)'],
            verdict: 'compromised',
            window: { from: ago(120), to: ago(5) },
            summary: {
              text: HOSTILE.text,
              url: HOSTILE.url,
              check: HOSTILE.check,
              attacker_ips: [HOSTILE.asset],
            },
          },
        ],
      },
    );
    expect(pushed.body.matched).toEqual([{ host: HOSTILE.asset, asset_id: 'zeta-mail' }]);
    const p = await openCheckedPage(c);
    const { page } = p;
    const inert = async (where: string) => {
      expect(await page.evaluate('window.__xss'), where).toBeUndefined();
      expect(
        await page.evaluate<number>(
          'document.querySelectorAll("main script, main img, main svg[onload], a[href^=\'javascript:\' i]").length',
        ),
        where,
      ).toBe(0);
    };
    await page.goto(`${s.url}/advisories/${ADV}/board?q=zeta`);
    await poll(() => firstLinks(page)).toEqual([HOSTILE.tenant]);
    await inert('board');
    await page.goto(`${s.url}/advisories/${ADV}/board/zeta`);
    await poll(() => page.locator('main table tbody').textContent()).toContain(HOSTILE.asset);
    await inert('board of the customer');
    await page.goto(`${s.url}/tenants/zeta/assets/zeta-mail?advisory=${ADV}`);
    const section = page.locator('section[aria-labelledby="response-heading"]');
    await poll(() => section.textContent()).toContain(HOSTILE.text);
    const text = (await section.textContent()) ?? '';
    for (const shown of [HOSTILE.url, HOSTILE.check]) expect(text).toContain(shown);
    await inert('asset');
    for (const path of ['/tenants', '/tenants/zeta/assets']) {
      await page.goto(s.url + path);
      await poll(() => page.locator('main').textContent(), { message: path }).toContain(
        path === '/tenants/zeta/assets' ? HOSTILE.asset : HOSTILE.tenant,
      );
      await inert(path);
    }
    expect(await p.problems()).toEqual([]);
    await page.close();
  });

  it('holds the board’s pages at 390 px in dark mode without sideways scrolling, and passes axe there', async (ctx) => {
    const { s } = ready(ctx);
    if (dialect !== 'sqlite') ctx.skip();
    const narrow = await contextFor(admin, { width: 390, height: 844 }, true);
    try {
      const p = await openCheckedPage(narrow);
      // The overview's board summary is checked at this width by test/console.test.ts.
      for (const path of [
        `/advisories/${ADV}/board`,
        `/advisories/${ADV}/board/acme`,
        `/tenants/acme/assets/mail01?advisory=${ADV}`,
      ]) {
        await p.page.goto(s.url + path);
        await p.page.getByRole('heading', { level: 1 }).waitFor();
        await poll(() => p.page.getByText('Loading…').count(), { message: path }).toBe(0);
        const overflow = await p.page.evaluate<number>(
          'document.documentElement.scrollWidth - window.innerWidth',
        );
        expect(overflow, `horizontal overflow on ${path}`).toBeLessThanOrEqual(0);
        expect(await p.scanA11y(), `axe (dark, 390 px) on ${path}`).toEqual([]);
        if (path.endsWith('/board')) await shot(p.page, 'board-390-dark');
      }
      expect(await p.problems()).toEqual([]);
    } finally {
      await narrow.close();
    }
  });
});
