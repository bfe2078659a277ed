/**
 * The console's first requests run in parallel with its scripts, in a real browser against a real server on
 * 127.0.0.1, on SQLite and on PostgreSQL: for a signed-in browser the page the server sends for a board URL names
 * GET /api/v1/me and the board's data as preloads, Chromium fetches them while the script loads, and the console's
 * own requests take the preloaded answers (each URL fetched exactly once, no "preloaded but not used" warning),
 * deep links with their query included. A signed-out browser (no cookie, or a cookie of an ended session) gets a
 * page with no preloads and goes to sign-in with the page kept as `next`. On one customer's board page, "Next page"
 * asks only for the next assets.
 */
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { boardPageRequest, boardTenantPageRequests, ME_URL } from '../src/api/console-requests.js';
import { TEST_DIALECTS } from '../src/server/db/db.testkit.js';
import { type CheckedPage, launchChromium, openCheckedPage } from './support/browser.js';
import { type ApiUser, callApi as call, signInApi } from './support/console-api.js';
import { type ConsoleServer, openConsoleServer } from './support/console-server.js';

const ADV = 'proxylogon-2021-03';
const ADMIN = { email: 'admin@msp.example', name: 'Ada Admin', password: 'correct horse battery staple' };
const AFFECTED = '15.1.2176.2';
/** More than one page (50) of concerned assets at acme, for "Next page". */
const SERVERS = 55;

const exchange = (id: string) => ({
  id,
  os: { product: 'microsoft:windows_server_2016', version: '10.0.14393.4225' },
  products: [{ product: 'microsoft:exchange_server', version: AFFECTED }],
});

async function seed(s: ConsoleServer): Promise<ApiUser> {
  await call(s, undefined, 'POST', '/api/v1/setup', { token: s.setupLink.split('#token=')[1], ...ADMIN });
  const admin = await signInApi(s, ADMIN.email, ADMIN.password);
  for (const t of [
    { id: 'acme', name: 'ACME Corporation' },
    { id: 'globex', name: 'Globex' },
  ]) {
    await call(s, admin, 'POST', '/api/v1/tenants', t);
  }
  await call(s, admin, 'POST', '/api/v1/tenants/acme/assets', {
    assets: Array.from({ length: SERVERS }, (_, i) => exchange(`mail-${String(i).padStart(2, '0')}`)),
  });
  await call(s, admin, 'POST', '/api/v1/tenants/globex/assets', { assets: [exchange('gx-mail')] });
  return admin;
}

/** The page's HTML as the server sends it to a browser with `cookie`. */
async function html(
  s: ConsoleServer,
  path: string,
  cookie?: string,
): Promise<{ text: string; cache: string }> {
  const res = await fetch(s.url + path, {
    headers: cookie ? { cookie } : {},
    signal: AbortSignal.timeout(10_000),
  });
  expect(res.status).toBe(200);
  return { text: await res.text(), cache: res.headers.get('cache-control') ?? '' };
}

const preloadsIn = (page: string) =>
  [...page.matchAll(/<link rel="preload" as="fetch" crossorigin="anonymous" href="([^"]*)">/g)].map((m) =>
    (m[1] ?? '').replaceAll('&amp;', '&'),
  );

interface Timing {
  path: string;
  initiatorType: string;
  startTime: number;
  responseEnd: number;
}

/** Every request the page sent (method and path with query), counted, from the first one on. */
function countRequests(page: Page): Map<string, number> {
  const seen = new Map<string, number>();
  page.on('request', (r) => {
    const u = new URL(r.url());
    const key = `${r.method()} ${u.pathname}${u.search}`;
    seen.set(key, (seen.get(key) ?? 0) + 1);
  });
  return seen;
}

/** Console warnings about preloads that the page did not use (their URL or mode differed from the page's own). */
function unusedPreloads(page: Page): string[] {
  const out: string[] = [];
  page.on('console', (m) => {
    if (/preload/i.test(m.text())) out.push(m.text());
  });
  return out;
}

const timings = (page: Page) =>
  page.evaluate(() =>
    performance.getEntriesByType('resource').map((e) => {
      const r = e as unknown as {
        name: string;
        initiatorType: string;
        startTime: number;
        responseEnd: number;
      };
      const u = new URL(r.name);
      return {
        path: u.pathname + u.search,
        initiatorType: r.initiatorType,
        startTime: r.startTime,
        responseEnd: r.responseEnd,
      };
    }),
  ) as Promise<Timing[]>;

const poll = <T>(fn: () => T | Promise<T>) => expect.poll(fn, { timeout: 10_000 });

let browser: Browser | undefined;
beforeAll(async () => {
  browser = await launchChromium();
}, 60_000);
afterAll(async () => {
  await browser?.close();
});

describe.each(TEST_DIALECTS)('console first requests on %s', (dialect) => {
  let server: ConsoleServer | undefined;
  let admin: ApiUser;

  beforeAll(async () => {
    if (!browser) return;
    server = await openConsoleServer(dialect);
    if (!server) return;
    admin = await seed(server);
  }, 60_000);
  afterAll(async () => {
    await server?.dispose();
  });

  const ready = (ctx: { skip: () => void }) => {
    if (!browser || !server) ctx.skip();
    return server!;
  };
  /** A new browser context (empty cache) with `session` as its cookie, if any. */
  const contextWith = async (session?: string): Promise<BrowserContext> => {
    const c = await browser!.newContext({ viewport: { width: 1280, height: 800 } });
    if (session) await c.addCookies([{ name: 'bulwark_session', value: session, url: server!.url }]);
    return c;
  };
  const clean = async (p: CheckedPage) => {
    expect(await p.problems(), `problems on ${p.page.url()}`).toEqual([]);
  };

  it('names /me and the board’s data for preloading only for a live session', async (ctx) => {
    const s = ready(ctx);
    const query = new URLSearchParams('sort=name&q=ac');
    const board = boardPageRequest(ADV, query);
    const signedIn = await html(s, `/advisories/${ADV}/board?${query}`, admin.cookie);
    expect(preloadsIn(signedIn.text)).toEqual([ME_URL, board]);
    expect(board).toBe(`/api/v1/advisories/${ADV}/board?q=ac&sort=name&limit=50`);
    // The page depends on the session: never stored.
    expect(signedIn.cache).toBe('no-store');
    expect(preloadsIn((await html(s, '/tenants', admin.cookie)).text)).toEqual([ME_URL]);
    // The public pages and anyone without a live session: nothing to preload.
    expect(preloadsIn((await html(s, '/sign-in', admin.cookie)).text)).toEqual([]);
    const anonymous = await html(s, `/advisories/${ADV}/board`);
    expect(preloadsIn(anonymous.text)).toEqual([]);
    expect(anonymous.cache).toBe('no-cache');
    expect(
      preloadsIn((await html(s, `/advisories/${ADV}/board`, `bulwark_session=${'x'.repeat(43)}`)).text),
    ).toEqual([]);
    // A URL with characters that mean something in HTML stays one attribute value.
    const odd = await html(s, `/advisories/${ADV}/board?q=%22%3E%3Cscript%3E&sort=name`, admin.cookie);
    expect(odd.text).not.toContain('"><script>');
    expect(preloadsIn(odd.text)[1]).toBe(
      boardPageRequest(ADV, new URLSearchParams('q=%22%3E%3Cscript%3E&sort=name')),
    );
  });

  it('fetches /me and the board while the script loads, and the console uses those answers', async (ctx) => {
    const s = ready(ctx);
    for (const query of ['', '?sort=name&q=acme']) {
      const c = await contextWith(admin.session);
      try {
        const p = await openCheckedPage(c);
        const seen = countRequests(p.page);
        const warnings = unusedPreloads(p.page);
        await p.page.goto(`${s.url}/advisories/${ADV}/board${query}`);
        await poll(() => p.page.locator('main table tbody tr').first().textContent()).toContain(
          'ACME Corporation',
        );
        const board = boardPageRequest(ADV, new URLSearchParams(query));
        expect(seen.get(`GET ${ME_URL}`), 'requests for /me').toBe(1);
        expect(seen.get(`GET ${board}`), `requests for ${board}`).toBe(1);
        const t = await timings(p.page);
        const script = t.find((e) => /^\/assets\/index-.*\.js$/.test(e.path));
        const me = t.filter((e) => e.path === ME_URL);
        const data = t.filter((e) => e.path === board);
        expect(script && me.length === 1 && data.length === 1, JSON.stringify(t)).toBe(true);
        // The only request for each is the preload (a fetch of its own would be a second entry, initiator fetch).
        expect([me[0]!.initiatorType, data[0]!.initiatorType]).toEqual(['link', 'link']);
        // Both started before the script had even arrived: neither waited for it, the board not for /me.
        expect(me[0]!.startTime).toBeLessThan(script!.responseEnd);
        expect(data[0]!.startTime).toBeLessThan(script!.responseEnd);
        expect(data[0]!.startTime).toBeLessThan(me[0]!.responseEnd);
        await p.page.waitForTimeout(50);
        expect(warnings).toEqual([]);
        await clean(p);
      } finally {
        await c.close();
      }
    }
  });

  it('on a customer’s board page, preloads its three requests and a page change asks only for assets', async (ctx) => {
    const s = ready(ctx);
    const c = await contextWith(admin.session);
    try {
      const p = await openCheckedPage(c);
      const seen = countRequests(p.page);
      const warnings = unusedPreloads(p.page);
      await p.page.goto(`${s.url}/advisories/${ADV}/board/acme`);
      const rows = p.page.locator('main table tbody tr');
      await poll(() => rows.count()).toBe(50);
      const r = boardTenantPageRequests(ADV, 'acme', new URLSearchParams());
      for (const url of [ME_URL, r.tenant, r.assets, r.row]) expect(seen.get(`GET ${url}`), url).toBe(1);
      expect(warnings).toEqual([]);
      const before = [...seen.keys()];
      await p.page.getByRole('link', { name: 'Next page' }).click();
      await poll(() => rows.count()).toBe(SERVERS - 50);
      const after = [...seen.keys()].filter((k) => !before.includes(k));
      expect(after).toHaveLength(1);
      expect(after[0]).toMatch(
        new RegExp(`^GET /api/v1/advisories/${ADV}/board/tenants/acme/assets\\?limit=50&cursor=`),
      );
      await clean(p);
    } finally {
      await c.close();
    }
  });

  it('a signed-out browser preloads nothing and goes to sign-in with the board as next', async (ctx) => {
    const s = ready(ctx);
    for (const session of [undefined, 'x'.repeat(43)]) {
      const c = await contextWith(session);
      try {
        const p = await openCheckedPage(c);
        // The console's own question: is anyone signed in? (401: no.)
        p.expectHttpError({ method: 'GET', path: ME_URL, status: 401 });
        const seen = countRequests(p.page);
        await p.page.goto(`${s.url}/advisories/${ADV}/board?sort=name`);
        await p.page.waitForURL(/\/sign-in\?/, { waitUntil: 'commit' });
        expect(new URL(p.page.url()).searchParams.get('next')).toBe(`/advisories/${ADV}/board?sort=name`);
        expect([...seen.keys()].filter((k) => k.includes('/api/') && !k.startsWith(`GET ${ME_URL}`))).toEqual(
          [],
        );
        expect(seen.get(`GET ${ME_URL}`)).toBe(1);
        await clean(p);
      } finally {
        await c.close();
      }
    }
  });
});
