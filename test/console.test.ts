/**
 * The web console in a real browser (Debian's chromium through playwright-core) against a real server on
 * 127.0.0.1, on SQLite and on PostgreSQL: first-run setup from the printed link, sign-in (by keyboard), TOTP
 * enrolment with the QR code and sign-in with a code, password change, sign-out, deep links, the narrow and dark
 * layouts. Every page is checked for console errors, CSP violations and unexpected HTTP errors, and scanned with
 * axe-core (no serious or critical violations).
 *
 * Screenshots go to a temporary folder; with BULWARK_CONSOLE_SCREENSHOTS=1 to docs/console/ (docs/console.md
 * shows them).
 */
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as OTPAuth from 'otpauth';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TEST_DIALECTS } from '../src/server/db/db.testkit.js';
import { CONSOLE_CSP } from '../src/server/web.js';
import { type CheckedPage, launchChromium, openCheckedPage } from './support/browser.js';
import { CONSOLE_DIST, type ConsoleServer, openConsoleServer, REPO_ROOT } from './support/console-server.js';

const ADMIN = { email: 'admin@msp.example', name: 'Ada Admin', password: 'correct horse battery staple' };
const NEW_PASSWORD = 'a quite different passphrase';

const SHOTS = process.env.BULWARK_CONSOLE_SCREENSHOTS
  ? join(REPO_ROOT, 'docs/console')
  : mkdtempSync(join(tmpdir(), 'bulwark-console-shots-'));

/** The console build must be there and not older than its sources. */
function assertBuilt(): void {
  const index = join(CONSOLE_DIST, 'index.html');
  let built: number;
  try {
    built = statSync(index).mtimeMs;
  } catch {
    throw new Error(`the console is not built (${index} missing): run npm run build`);
  }
  const src = join(REPO_ROOT, 'src/web');
  const newest = (dir: string): number =>
    Math.max(
      0,
      ...readdirSync(dir, { withFileTypes: true }).map((e) =>
        e.isDirectory() ? newest(join(dir, e.name)) : statSync(join(dir, e.name)).mtimeMs,
      ),
    );
  if (newest(src) > built) throw new Error('the console build is older than src/web: run npm run build');
}

/**
 * Waits (at most 3 s) when the current 30-second period is about to end, so that a code made now is still in the
 * server's window (one period either side) when the server checks it.
 */
async function awayFromPeriodEnd(): Promise<void> {
  const left = 30_000 - (Date.now() % 30_000);
  if (left < 3_000) await new Promise((r) => setTimeout(r, left + 100));
}

function totpCode(secret: string, offsetSeconds: number): string {
  return new OTPAuth.TOTP({
    algorithm: 'SHA1',
    digits: 6,
    period: 30,
    secret: OTPAuth.Secret.fromBase32(secret),
  }).generate({ timestamp: Date.now() + offsetSeconds * 1000 });
}

let browser: Browser | undefined;
beforeAll(async () => {
  browser = await launchChromium();
  if (browser) assertBuilt();
  mkdirSync(SHOTS, { recursive: true });
}, 60_000);
afterAll(async () => {
  await browser?.close();
});

describe.each(TEST_DIALECTS)('web console on %s', (dialect) => {
  let server: ConsoleServer | undefined;
  let context: BrowserContext | undefined;
  let checked: CheckedPage[] = [];
  let secret = '';

  beforeAll(async () => {
    if (!browser) return;
    server = await openConsoleServer(dialect);
    if (!server) return;
    context = await browser.newContext({ viewport: { width: 1280, height: 800 }, colorScheme: 'light' });
  }, 60_000);
  afterAll(async () => {
    await context?.close();
    await server?.dispose();
  });

  const ready = (ctx: { skip: () => void }) => {
    if (!browser || !server || !context) ctx.skip();
    return { s: server!, c: context! };
  };
  const shot = async (page: Page, name: string) => {
    // One set of pictures is enough; the SQLite run takes them.
    if (dialect === 'sqlite') await page.screenshot({ path: join(SHOTS, `${name}.png`) });
  };
  const clean = async (p: CheckedPage) => {
    expect(await p.scanA11y(), `axe on ${p.page.url()}`).toEqual([]);
    expect(await p.problems(), `problems on ${p.page.url()}`).toEqual([]);
  };
  const open = async (c: BrowserContext) => {
    const p = await openCheckedPage(c);
    checked.push(p);
    return p;
  };
  const signIn = async (p: CheckedPage, password: string, code?: string) => {
    const { page } = p;
    await page.getByLabel('Email').fill(ADMIN.email);
    await page.getByLabel('Password').fill(password);
    if (code) await page.getByLabel('Authentication code').fill(code);
    await page.getByRole('button', { name: 'Sign in' }).click();
  };

  it('serves index.html with the strict CSP and no inline script or style for console paths', async (ctx) => {
    const { s } = ready(ctx);
    for (const path of ['/', '/setup', '/advisories?q=x', '/account']) {
      const res = await fetch(s.url + path);
      expect(res.status, path).toBe(200);
      expect(res.headers.get('content-security-policy')).toBe(CONSOLE_CSP);
      expect(res.headers.get('cache-control')).toBe('no-cache');
      const html = await res.text();
      expect(html).toContain('<div id="root">');
      for (const m of html.matchAll(/<script\b[^>]*>/g)) expect(m[0]).toMatch(/\ssrc="\/assets\//);
      expect(html).not.toMatch(/<style\b|\sstyle=|\son[a-z]+=/i);
    }
    const api = await fetch(`${s.url}/api/v1/nothing-here`);
    expect(api.status).toBe(404);
    expect(((await api.json()) as { error: string }).error).toBe('not_found');
  });

  it('creates the administrator from the printed setup link, and removes the token from the address bar', async (ctx) => {
    const { s, c } = ready(ctx);
    const p = await open(c);
    const { page } = p;
    await page.goto(s.setupLink);
    await expect
      .poll(() => page.getByLabel('Setup token').inputValue())
      .toBe(s.setupLink.split('#token=')[1]);
    await shot(page, 'setup');
    await clean(p);
    await page.getByLabel('Email').fill(ADMIN.email);
    await page.getByLabel('Name').fill(ADMIN.name);
    await page.getByLabel('Password', { exact: true }).fill(ADMIN.password);
    await page.getByLabel('Password again').fill(ADMIN.password);
    await page.getByRole('button', { name: 'Create administrator' }).click();
    await page.waitForURL('**/sign-in?notice=setup-done');
    expect(page.url()).not.toContain('token');
    await expect.poll(() => page.getByText('The administrator account is ready').count()).toBe(1);
    expect(await page.getByLabel('Email').inputValue()).toBe(ADMIN.email);
    await shot(page, 'sign-in');
    await clean(p);
    // The token is spent: the same link cannot create a second administrator.
    const again = await fetch(`${s.url}/api/v1/setup`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ token: s.setupLink.split('#token=')[1], ...ADMIN, email: 'second@msp.example' }),
    });
    expect(again.status).toBeGreaterThanOrEqual(400);
  });

  it('signs in by keyboard alone and shows the overview with navigation', async (ctx) => {
    const { s, c } = ready(ctx);
    const p = await open(c);
    const { page } = p;
    await page.goto(`${s.url}/sign-in`);
    await page.getByLabel('Email').waitFor();
    await page.keyboard.press('Tab');
    await page.keyboard.type(ADMIN.email);
    await page.keyboard.press('Tab');
    await page.keyboard.type(ADMIN.password);
    await page.keyboard.press('Enter');
    await page.waitForURL(`${s.url}/`);
    await expect
      .poll(() => page.getByRole('heading', { level: 1 }).textContent())
      .toBe(`Welcome, ${ADMIN.name}`);
    // After a navigation the new page's heading has the focus; after a page load the first Tab reaches the skip link.
    expect(await page.evaluate('document.activeElement?.tagName')).toBe('H1');
    await page.reload();
    await page.getByRole('heading', { level: 1 }).waitFor();
    await page.keyboard.press('Tab');
    expect(await page.evaluate('document.activeElement?.textContent')).toBe('Skip to content');
    await shot(page, 'overview');
    await clean(p);
  });

  it('lists the advisories the API lists, keeps the search in the URL, and reloads a deep link', async (ctx) => {
    const { s, c } = ready(ctx);
    const p = await open(c);
    const { page } = p;
    await page.goto(`${s.url}/`);
    await page
      .getByRole('navigation', { name: 'Sections' })
      .getByRole('link', { name: 'Advisories' })
      .click();
    await page.waitForURL(`${s.url}/advisories`);
    await page.getByLabel('Search by id or title').fill('exchange');
    await page.getByRole('button', { name: 'Search' }).click();
    await page.waitForURL(`${s.url}/advisories?q=exchange`);
    const cookies = (await c.cookies()).map((k) => `${k.name}=${k.value}`).join('; ');
    const fromApi = (await (
      await fetch(`${s.url}/api/v1/advisories?q=exchange&limit=50`, { headers: { cookie: cookies } })
    ).json()) as { items: { id: string }[]; total: number };
    expect(fromApi.total).toBeGreaterThan(0);
    const rows = async () => page.locator('tbody tr td:first-child').allTextContents();
    await expect.poll(async () => (await rows()).length).toBe(fromApi.items.length);
    const ids = (await rows()).map((t) => t.replace(/KEV$/, ''));
    expect(ids).toEqual(fromApi.items.map((a) => a.id));
    await page.reload();
    await expect.poll(async () => (await rows()).length).toBe(fromApi.items.length);
    expect(await page.getByLabel('Search by id or title').inputValue()).toBe('exchange');
    await page.goBack();
    await page.waitForURL(`${s.url}/advisories`);
    await shot(page, 'advisories');
    await clean(p);
  });

  it('sends a signed-out deep link through sign-in and back to the page', async (ctx) => {
    const { s } = ready(ctx);
    const fresh = await browser!.newContext({ viewport: { width: 1280, height: 800 } });
    try {
      const p = await openCheckedPage(fresh);
      p.expectHttpError({ method: 'GET', path: '/api/v1/me', status: 401 });
      await p.page.goto(`${s.url}/advisories?q=proxylogon`);
      await p.page.waitForURL('**/sign-in?next=*');
      expect(new URL(p.page.url()).searchParams.get('next')).toBe('/advisories?q=proxylogon');
      await signIn(p, ADMIN.password);
      await p.page.waitForURL(`${s.url}/advisories?q=proxylogon`);
      await p.page.locator('tbody tr').first().waitFor();
      await clean(p);
    } finally {
      await fresh.close();
    }
  });

  it('enrols two-factor sign-in with the QR code and a code from the app', async (ctx) => {
    const { s, c } = ready(ctx);
    const p = await open(c);
    const { page } = p;
    await page.goto(`${s.url}/account`);
    await page.getByRole('button', { name: 'Set up two-factor sign-in' }).click();
    const qr = page.getByRole('img', { name: /QR code/ });
    await qr.waitFor();
    secret = ((await page.locator('code.secret').textContent()) ?? '').replace(/\s+/g, '');
    expect(secret).toMatch(/^[A-Z2-7]{16,}$/);
    await shot(page, 'two-factor');
    await clean(p);
    // A wrong code is refused with the server's message.
    p.expectHttpError({ method: 'POST', path: '/api/v1/me/totp/confirm', status: 400 });
    const wrong = totpCode(secret, 0) === '000000' ? '111111' : '000000';
    await page.getByLabel('Code from the app').fill(wrong);
    await page.getByRole('button', { name: 'Turn on two-factor sign-in' }).click();
    await page.getByRole('alert').waitFor();
    // The previous period's code: later sign-ins use the current and the next one.
    await awayFromPeriodEnd();
    await page.getByLabel('Code from the app').fill(totpCode(secret, -30));
    await page.getByRole('button', { name: 'Turn on two-factor sign-in' }).click();
    await expect.poll(() => page.getByText('Two-factor sign-in is on.').count()).toBe(1);
    expect(await p.problems()).toEqual([]);
  });

  it('signs out, then needs the code to sign in again', async (ctx) => {
    const { s, c } = ready(ctx);
    const p = await open(c);
    const { page } = p;
    await page.goto(`${s.url}/`);
    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.waitForURL('**/sign-in?notice=signed-out');
    // Signed out means signed out on the server: the API refuses the old cookie.
    const cookies = (await c.cookies()).map((k) => `${k.name}=${k.value}`).join('; ');
    expect((await fetch(`${s.url}/api/v1/me`, { headers: { cookie: cookies } })).status).toBe(401);
    p.expectHttpError({ method: 'POST', path: '/api/v1/session', status: 401 });
    await signIn(p, ADMIN.password);
    await expect.poll(() => page.getByRole('alert').textContent()).toContain('two-factor sign-in');
    expect(await page.evaluate("document.activeElement?.getAttribute('name')")).toBe('code');
    await awayFromPeriodEnd();
    await page.getByLabel('Authentication code').fill(totpCode(secret, 0));
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.waitForURL(`${s.url}/`);
    await clean(p);
  });

  it('changes the password, which ends the session, and signs in with the new one', async (ctx) => {
    const { s, c } = ready(ctx);
    const p = await open(c);
    const { page } = p;
    await page.goto(`${s.url}/account`);
    p.expectHttpError({ method: 'POST', path: '/api/v1/me/password', status: 403 });
    await page.getByLabel('Current password').fill('not the password at all');
    await page.getByLabel('New password', { exact: true }).fill(NEW_PASSWORD);
    await page.getByLabel('New password again').fill(NEW_PASSWORD);
    await page.getByRole('button', { name: 'Change password' }).click();
    await expect.poll(() => page.getByRole('alert').textContent()).toContain('current_password is wrong');
    await page.getByLabel('Current password').fill(ADMIN.password);
    await page.getByRole('button', { name: 'Change password' }).click();
    await page.waitForURL('**/sign-in?notice=password-changed');
    expect(await p.problems()).toEqual([]);
    // The next period's code: newer than the one the last sign-in used.
    await awayFromPeriodEnd();
    await signIn(p, NEW_PASSWORD, totpCode(secret, 30));
    await page.waitForURL(`${s.url}/`);
    await clean(p);
  });

  it('holds the layout at 390 px and in dark mode, and passes axe there too', async (ctx) => {
    const { s, c } = ready(ctx);
    const narrow = await browser!.newContext({
      viewport: { width: 390, height: 844 },
      colorScheme: 'dark',
      storageState: await c.storageState(),
    });
    try {
      const p = await openCheckedPage(narrow);
      for (const path of ['/', '/advisories?q=exchange', '/account']) {
        await p.page.goto(s.url + path);
        await p.page.getByRole('heading', { level: 1 }).waitFor();
        await p.page.waitForLoadState('networkidle');
        const overflow = await p.page.evaluate<number>(
          'document.documentElement.scrollWidth - window.innerWidth',
        );
        expect(overflow, `horizontal overflow on ${path}`).toBeLessThanOrEqual(0);
        expect(await p.scanA11y(), `axe (dark, 390 px) on ${path}`).toEqual([]);
        if (path.startsWith('/advisories')) await shot(p.page, 'advisories-390-dark');
      }
      expect(await p.problems()).toEqual([]);
    } finally {
      await narrow.close();
    }
  });

  it('left no console error, CSP violation or unexpected HTTP error on any page', async (ctx) => {
    ready(ctx);
    for (const p of checked) expect(await p.problems(), p.page.url()).toEqual([]);
    checked = [];
    // The screenshots are small enough for the docs.
    if (dialect === 'sqlite') {
      for (const f of readdirSync(SHOTS).filter((n) => n.endsWith('.png'))) {
        expect(readFileSync(join(SHOTS, f)).length, f).toBeLessThan(400_000);
      }
    }
  });
});
