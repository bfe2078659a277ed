/**
 * Advisory import in a real browser against a real server on 127.0.0.1, on SQLite and on PostgreSQL, with assets
 * seeded through the API: an administrator imports a small advisory file through the Advisories page, the job's
 * progress bar shows a part done (the run is held after its first batch, below) and then reaches its end, and the
 * page links the imported advisory, which the list then shows with its board
 * link; the advisory's page shows its CVE, product and versions. A malformed file shows the API's own 400 message.
 * A customer user sees no import control, and the API refuses the import for them anyway. Every page is checked
 * for console errors, CSP violations and unexpected HTTP errors and scanned with axe-core.
 */
import type { Browser, BrowserContext } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Job } from '../src/api/jobs.js';
import { TEST_DIALECTS } from '../src/server/db/db.testkit.js';
import type { ExposureService } from '../src/server/exposure/service.js';
import { type CheckedPage, launchChromium, openCheckedPage } from './support/browser.js';
import { type ApiUser, callApi as call, signInApi } from './support/console-api.js';
import { type ConsoleServer, openConsoleServer } from './support/console-server.js';

const ADV = 'console-import-foo';
const CVE = 'CVE-2099-1313';
const PRODUCT = 'pkg:npm/console-import-foo';
const ADMIN = { email: 'admin@msp.example', name: 'Ada Admin', password: 'correct horse battery staple' };
const CUSTOMER = { email: 'it@acme.example', name: 'Acme IT', password: 'acme customer passphrase' };
const ASSETS = 12;

const ADVISORY_YAML = `schema_version: 1
id: ${ADV}
title: console-import-foo remote code execution
summary: test advisory imported through the console
published: 2099-01-02
cves:
  - id: ${CVE}
    title: foo parses input unsafely
affected:
  - product: ${PRODUCT}
    scheme: semver
    cves: [${CVE}]
    ranges:
      - { introduced: "1.0.0", fixed: "1.4.2" }
`;
/** A Bulwark advisory with `summary` misspelt: the import refuses it, naming the place and the field. */
const MALFORMED_YAML = ADVISORY_YAML.replace('summary:', 'sumary:');

async function seed(s: ConsoleServer): Promise<{ admin: ApiUser; customer: ApiUser }> {
  await call(s, undefined, 'POST', '/api/v1/setup', { token: s.setupLink.split('#token=')[1], ...ADMIN });
  const admin = await signInApi(s, ADMIN.email, ADMIN.password);
  await call(s, admin, 'POST', '/api/v1/tenants', { id: 'acme', name: 'ACME Corporation' });
  await call(s, admin, 'POST', '/api/v1/tenants/acme/assets', {
    assets: Array.from({ length: ASSETS }, (_, i) => ({
      id: `app-${String(i).padStart(2, '0')}`,
      products: [{ product: PRODUCT, version: i % 3 === 0 ? '1.4.2' : '1.2.0' }],
    })),
  });
  await call(s, admin, 'POST', '/api/v1/users', { ...CUSTOMER, role: 'customer', tenant_id: 'acme' });
  const customer = await signInApi(s, CUSTOMER.email, CUSTOMER.password);
  return { admin, customer };
}

/** POST /api/v1/advisories/import as `who` with a YAML body: the status and the parsed answer. */
async function importRaw(s: ConsoleServer, who: ApiUser, body: string) {
  const res = await fetch(`${s.url}/api/v1/advisories/import`, {
    method: 'POST',
    headers: { cookie: who.cookie, 'x-csrf-token': who.csrf, 'content-type': 'application/yaml' },
    body,
    signal: AbortSignal.timeout(20_000),
  });
  return { status: res.status, body: (await res.json()) as { message?: string } & Partial<Job> };
}

/**
 * Test hook, in this file only: the recompute judges BATCH assets per transaction and stops after its first batch
 * (between batches, where the job's own stop is honoured), waits until `release()` or `HOLD_MS`, then runs again
 * with the job's own control (a re-run is safe: the writer writes only what changed, and the job reports the
 * second run). Meanwhile the job's progress (BATCH of ASSETS) is written and published, as in a run that takes
 * long. `restore()` puts the service's own method back.
 */
const BATCH = 4;
const HOLD_MS = 10_000;
function holdAfterFirstBatch(exposure: ExposureService): { release(): void; restore(): void } {
  const own = exposure.recompute;
  let release = () => {};
  const released = new Promise<void>((resolve) => {
    release = resolve;
  });
  let held = false;
  exposure.recompute = async function (this: ExposureService, input, control = {}) {
    if (held) return own.call(this, input, control);
    held = true;
    const stop = new AbortController();
    try {
      return await own.call(this, input, {
        ...control,
        batchSize: BATCH,
        signal: control.signal ? AbortSignal.any([control.signal, stop.signal]) : stop.signal,
        progress: (done, total) => {
          // Batches that ran alongside the first one (PostgreSQL runs several at once) report nothing more.
          if (stop.signal.aborted) return;
          control.progress?.(done, total);
          if (done > 0 && done < total) stop.abort();
        },
      });
    } catch (err) {
      if (!stop.signal.aborted || control.signal?.aborted) throw err;
      await Promise.race([released, new Promise((resolve) => setTimeout(resolve, HOLD_MS))]);
      return own.call(this, input, control);
    }
  };
  return {
    release,
    restore() {
      exposure.recompute = own;
    },
  };
}

const poll = <T>(fn: () => T | Promise<T>, options: { timeout?: number; message?: string } = {}) =>
  expect.poll(fn, { timeout: 15_000, ...options });

let browser: Browser | undefined;
beforeAll(async () => {
  browser = await launchChromium();
}, 60_000);
afterAll(async () => {
  await browser?.close();
});

describe.each(TEST_DIALECTS)('console advisory import on %s', (dialect) => {
  let server: ConsoleServer | undefined;
  let admin: ApiUser;
  let customer: ApiUser;
  const contexts: BrowserContext[] = [];

  const contextFor = async (who: ApiUser) => {
    const c = await browser!.newContext({ viewport: { width: 1280, height: 800 } });
    await c.addCookies([{ name: 'bulwark_session', value: who.session, url: server!.url }]);
    contexts.push(c);
    return c;
  };

  beforeAll(async () => {
    if (!browser) return;
    server = await openConsoleServer(dialect);
    if (!server) return;
    ({ admin, customer } = await seed(server));
  }, 60_000);
  afterAll(async () => {
    for (const c of contexts) await c.close();
    await server?.dispose();
  });

  const ready = (ctx: { skip: () => void }) => {
    if (!browser || !server) ctx.skip();
    return server!;
  };
  const clean = async (p: CheckedPage) => {
    expect(await p.scanA11y(), `axe on ${p.page.url()}`).toEqual([]);
    expect(await p.problems(), `problems on ${p.page.url()}`).toEqual([]);
  };

  it('imports a file through the page: the progress bar reaches done and the advisory is listed and shown', async (ctx) => {
    const s = ready(ctx);
    const p = await openCheckedPage(await contextFor(admin));
    const { page } = p;
    await page.goto(`${s.url}/advisories`);
    await page.getByRole('heading', { name: 'Import advisory' }).waitFor();
    await clean(p);
    const job = page.locator('.import-job');
    await page.getByLabel(/Advisory file/).setInputFiles({
      name: 'console-import-foo.yaml',
      mimeType: 'application/yaml',
      buffer: Buffer.from(ADVISORY_YAML),
    });
    const hold = holdAfterFirstBatch(s.ctx.exposure);
    try {
      await page.getByRole('button', { name: 'Import' }).click();
      // A part done, live: the bar between its start and its end while the job runs.
      await poll(async () => [
        await job.locator('.state').textContent(),
        await job.locator('progress').getAttribute('value'),
        await job.locator('progress').getAttribute('max'),
      ]).toEqual(['running', String(BATCH), String(ASSETS)]);
      expect(await job.textContent()).toContain(`${BATCH} of ${ASSETS}`);
    } finally {
      hold.release();
      hold.restore();
    }
    await poll(() => job.locator('.state').textContent()).toBe('succeeded');
    const bar = job.locator('progress');
    const [value, max] = [await bar.getAttribute('value'), await bar.getAttribute('max')];
    expect(max).not.toBeNull();
    expect(value).toBe(max);
    expect(Number(max)).toBeGreaterThanOrEqual(ASSETS);
    await expect.poll(() => job.textContent()).toContain(`Imported ${ADV}`);
    // The job's numbers on the page are the API's.
    const jobId = (await job.getByRole('link').first().textContent()) ?? '';
    const stored = (await call<Job>(s, admin, 'GET', `/api/v1/jobs/${jobId}`)).body;
    expect(stored.state).toBe('succeeded');
    expect(await job.textContent()).toContain(`${stored.progress.done} of ${stored.progress.total}`);
    // The list reloaded with the new advisory and its board link.
    await page.getByRole('link', { name: `Response board of ${ADV}` }).waitFor();
    await clean(p);
    // The advisory's page.
    await job.getByRole('link', { name: ADV }).click();
    await page.waitForURL(`${s.url}/advisories/${ADV}`);
    await page.getByRole('heading', { level: 1, name: /console-import-foo remote code execution/ }).waitFor();
    await expect.poll(() => page.locator('main').textContent()).toContain(CVE);
    const row = page.locator('main table tbody tr').first();
    expect(await row.locator('td').allTextContents()).toEqual([
      PRODUCT,
      '1.0.0 before 1.4.2',
      '1.4.2',
      'not_affected',
    ]);
    await clean(p);
    await page.getByRole('link', { name: `Response board of ${ADV}` }).click();
    await page.waitForURL(`${s.url}/advisories/${ADV}/board`);
    await clean(p);
    await page.close();
  }, 60_000);

  it('shows the API’s message for a malformed file', async (ctx) => {
    const s = ready(ctx);
    const refused = await importRaw(s, admin, MALFORMED_YAML);
    expect(refused.status).toBe(400);
    expect(refused.body.message).toMatch(/^body:\d+:\d+: summary: /);
    const p = await openCheckedPage(await contextFor(admin));
    p.expectHttpError({ method: 'POST', path: '/api/v1/advisories/import', status: 400 });
    const { page } = p;
    await page.goto(`${s.url}/advisories`);
    await page.getByLabel(/Advisory file/).setInputFiles({
      name: 'broken.yaml',
      mimeType: 'application/yaml',
      buffer: Buffer.from(MALFORMED_YAML),
    });
    await page.getByRole('button', { name: 'Import' }).click();
    await poll(() => page.getByRole('alert').allTextContents()).toContain(refused.body.message);
    expect(await page.locator('.import-job').count()).toBe(0);
    await clean(p);
    await page.close();
  }, 30_000);

  it('gives a customer user no import control, and the API refuses their import', async (ctx) => {
    const s = ready(ctx);
    const p = await openCheckedPage(await contextFor(customer));
    const { page } = p;
    await page.goto(`${s.url}/advisories`);
    await page.getByRole('heading', { level: 1, name: 'Advisories' }).waitFor();
    await page.locator('p.count').waitFor();
    expect(await page.getByRole('heading', { name: 'Import advisory' }).count()).toBe(0);
    expect(await page.locator('input[type=file]').count()).toBe(0);
    await clean(p);
    const refused = await importRaw(s, customer, ADVISORY_YAML.replaceAll(ADV, `${ADV}-customer`));
    expect(refused.status).toBe(403);
    await page.close();
  }, 30_000);
});
