/**
 * The agent pages in a real browser against a real server on 127.0.0.1, on SQLite and on PostgreSQL, one seeded
 * server per database: agents enrolled through the API with their own Ed25519 keys, one of them connected over the
 * real channel (WebSocket handshake with signatures) and sending a full inventory of 3,000 Debian packages. The
 * list shows presence, state and version and the connected agent turns online live; an enrolment token is made
 * in the page, shown once with its copy button and command line, listed and revoked; a job runs on a selection in
 * two steps (preview names the agents, confirm queues one job each) and shows in the agent's history, live; the
 * agent page shows its identity (key fingerprint, certificate expiry) and its inventory, filtered; revoking it
 * through the dialog shows the revoked state with the reason. A customer user sees their tenant's agents read-only
 * and another tenant's agent as not found. Every page is checked for console errors, CSP violations and
 * unexpected HTTP errors and scanned with axe-core, also at 390 px in dark mode; screenshots go to docs/console/ with
 * BULWARK_CONSOLE_SCREENSHOTS=1.
 */
import { generateKeyPairSync, type KeyObject, randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { factsHash } from '../src/api/agent-inventory.js';
import {
  channelAgentBytes,
  enrollSigningBytes,
  publicKeyToRaw,
  signBytes,
} from '../src/api/agent-protocol.js';
import { TEST_DIALECTS } from '../src/server/db/db.testkit.js';
import { type CheckedPage, launchChromium, openCheckedPage } from './support/browser.js';
import { type ApiUser, callApi as call, signInApi } from './support/console-api.js';
import { type ConsoleServer, openConsoleServer, REPO_ROOT } from './support/console-server.js';

const ADMIN = { email: 'admin@msp.example', name: 'Ada Admin', password: 'correct horse battery staple' };
const CUSTOMER = { email: 'it@acme.example', name: 'Acme IT', password: 'acme customer passphrase' };
const PACKAGES = 3000;

interface Enrolled {
  id: string;
  hostname: string;
  key: KeyObject;
}

async function enrol(s: ConsoleServer, token: string, hostname: string): Promise<Enrolled> {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  const raw = publicKeyToRaw(publicKey);
  const tokenId = /^bwe_([A-Za-z0-9]{12})_/.exec(token)?.[1] ?? '';
  const res = await call<{ agent_id: string }>(s, undefined, 'POST', '/api/v1/agents/enroll', {
    token,
    public_key: raw,
    proof: signBytes(privateKey, enrollSigningBytes(tokenId, raw)),
    hostname,
    os: 'Debian GNU/Linux 12 (bookworm)',
    version: '0.1.0',
  });
  return { id: res.body.agent_id, hostname, key: privateKey };
}

/**
 * One agent on the real channel: challenge → hello → welcome → generation_saved, then a full inventory; answers
 * the open socket (the agent stays online until it closes).
 */
async function connect(s: ConsoleServer, agent: Enrolled, inventory: object): Promise<WebSocket> {
  // The agent reports for the asset with its own id.
  const facts = { id: agent.id, ...inventory };
  const cn = randomBytes(16).toString('base64url');
  const ws = new WebSocket(`${s.url.replace('http', 'ws')}/api/v1/agents/channel?agent=${agent.id}&cn=${cn}`);
  const hash = factsHash(facts as never);
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('channel handshake took over 10 s')), 10_000);
    ws.on('error', reject);
    ws.on('message', (data) => {
      const m = JSON.parse(String(data)) as { t: string; nonce?: string; generation?: number; ok?: boolean };
      if (m.t === 'challenge') {
        ws.send(
          JSON.stringify({
            t: 'hello',
            agent_id: agent.id,
            generation: 0,
            signature: signBytes(agent.key, channelAgentBytes(m.nonce ?? '', agent.id, 0)),
            version: '0.1.0',
          }),
        );
      } else if (m.t === 'welcome') {
        ws.send(JSON.stringify({ t: 'generation_saved', generation: m.generation }));
        ws.send(JSON.stringify({ t: 'inventory', mode: 'full', hash, facts }));
      } else if (m.t === 'inventory_ack') {
        clearTimeout(timer);
        if (m.ok) resolve();
        else reject(new Error(`inventory refused: ${String(data)}`));
      } else if (m.t !== 'heartbeat_ack' && m.t !== 'job') {
        clearTimeout(timer);
        reject(new Error(`unexpected channel message ${String(data)}`));
      }
    });
  });
  return ws;
}

const debianFacts = () => ({
  os: { product: 'debian:debian_linux', version: '12' },
  products: Array.from({ length: PACKAGES }, (_, i) => ({
    product: `pkg:deb/debian/lib-package-${String(i).padStart(4, '0')}`,
    version: `1.${i % 10}.${i}-1+deb12u1`,
  })),
});

const poll = <T>(fn: () => T | Promise<T>, options: { timeout?: number; message?: string } = {}) =>
  expect.poll(fn, { timeout: 10_000, ...options });

/** Screenshots for docs/console.md with BULWARK_CONSOLE_SCREENSHOTS=1 (the SQLite run takes them). */
const SHOTS = process.env.BULWARK_CONSOLE_SCREENSHOTS
  ? join(REPO_ROOT, 'docs/console')
  : mkdtempSync(join(tmpdir(), 'bulwark-console-agents-shots-'));

let browser: Browser | undefined;
beforeAll(async () => {
  browser = await launchChromium();
  mkdirSync(SHOTS, { recursive: true });
}, 60_000);
afterAll(async () => {
  await browser?.close();
});

describe.each(TEST_DIALECTS)('console agent pages on %s', (dialect) => {
  let server: ConsoleServer | undefined;
  let admin: ApiUser;
  let customer: ApiUser;
  let agents: Enrolled[] = [];
  let foreign: Enrolled;
  let socket: WebSocket | undefined;
  const contexts: BrowserContext[] = [];

  const contextFor = async (who: ApiUser, viewport = { width: 1280, height: 900 }, dark = false) => {
    const c = await browser!.newContext({ viewport, colorScheme: dark ? 'dark' : 'light' });
    await c.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: server!.url });
    await c.addCookies([{ name: 'bulwark_session', value: who.session, url: server!.url }]);
    contexts.push(c);
    return c;
  };

  beforeAll(async () => {
    if (!browser) return;
    server = await openConsoleServer(dialect);
    if (!server) return;
    const s = server;
    await call(s, undefined, 'POST', '/api/v1/setup', { token: s.setupLink.split('#token=')[1], ...ADMIN });
    admin = await signInApi(s, ADMIN.email, ADMIN.password);
    for (const t of [
      { id: 'acme', name: 'ACME Corporation' },
      { id: 'globex', name: 'Globex' },
    ]) {
      await call(s, admin, 'POST', '/api/v1/tenants', t);
    }
    await call(s, admin, 'POST', '/api/v1/tenants/acme/sites', { id: 'hq', name: 'Head office' });
    const token = (
      await call<{ token: string }>(s, admin, 'POST', '/api/v1/tenants/acme/agent-tokens', {
        site: 'hq',
        uses: 3,
      })
    ).body.token;
    agents = [];
    for (const host of ['acme-db01', 'acme-mail01', 'acme-web01']) agents.push(await enrol(s, token, host));
    const other = (await call<{ token: string }>(s, admin, 'POST', '/api/v1/tenants/globex/agent-tokens', {}))
      .body.token;
    foreign = await enrol(s, other, 'gx-mail');
    await call(s, admin, 'POST', '/api/v1/users', { ...CUSTOMER, role: 'customer', tenant_id: 'acme' });
    customer = await signInApi(s, CUSTOMER.email, CUSTOMER.password);
  }, 60_000);
  afterAll(async () => {
    socket?.terminate();
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
  const shot = async (page: Page, name: string) => {
    if (dialect === 'sqlite') await page.screenshot({ path: join(SHOTS, `${name}.png`), fullPage: true });
  };
  const agentRows = (page: Page) =>
    page.getByRole('table', { name: 'Agents', exact: true }).locator('tbody tr');
  const rowOf = (page: Page, hostname: string) => agentRows(page).filter({ hasText: hostname });

  it('lists the agents, turns one online live, makes and revokes an enrolment token, runs a job in two steps', async (ctx) => {
    const s = ready(ctx);
    const p = await openCheckedPage(await contextFor(admin));
    const { page } = p;
    await page.goto(`${s.url}/tenants/acme`);
    await page.getByRole('link', { name: 'Agents of ACME Corporation' }).click();
    await page.waitForURL(`${s.url}/tenants/acme/agents`);
    await poll(() => agentRows(page).count()).toBe(3);
    expect(await page.locator('p.count').textContent()).toBe('1–3 of 3');
    const db = rowOf(page, 'acme-db01');
    expect(await db.textContent()).toContain('offline');
    expect(await db.textContent()).toContain('active');
    expect(await db.textContent()).toContain('0.1.0');
    expect(await db.textContent()).toContain('Head office');
    // Live: the agent connects over the real channel while the page is open.
    await poll(() => page.locator('p.live').getAttribute('data-live')).toBe('open');
    socket = await connect(s, agents[0]!, debianFacts());
    await poll(() => db.locator('.presence-online').count(), { timeout: 5_000 }).toBe(1);
    await clean(p);

    // An enrolment token: shown once, with the command line; listed without its secret; revoked.
    await page.getByLabel('Machines it may enrol').fill('5');
    await page.getByLabel('Note (optional)').fill('new branch office');
    await page.getByRole('button', { name: 'Create enrolment token' }).click();
    const secret = page.getByLabel('Enrolment token', { exact: true });
    await poll(() => secret.inputValue()).toMatch(/^bwe_[A-Za-z0-9]{12}_[A-Za-z0-9_-]{43}$/);
    const tokenText = await secret.inputValue();
    const tokenId = tokenText.slice(4, 16);
    expect(await page.getByLabel('Enrol command', { exact: true }).inputValue()).toBe(
      `bulwark agent enroll --server ${s.url} --token-file /root/bulwark-enrol.token`,
    );
    await page.getByRole('button', { name: 'Copy the token' }).click();
    await poll(() => page.evaluate<string>('navigator.clipboard.readText()')).toBe(tokenText);
    const tokenRow = page.locator('section', { hasText: 'Enrolment tokens' }).locator('tbody tr', {
      hasText: tokenId,
    });
    await poll(() => tokenRow.textContent()).toContain('0 of 5');
    expect(await page.locator('main').innerHTML()).toContain(tokenText); // still on show, once
    await shot(page, 'agents');
    await page.getByRole('button', { name: 'Done, hide it' }).click();
    expect(await page.locator('main').innerHTML()).not.toContain(tokenText);
    await page.getByRole('button', { name: `Revoke token ${tokenId}` }).click();
    await poll(() => tokenRow.textContent()).toContain('revoked');
    await clean(p);

    // Two steps: preview names exactly the ticked agents, confirm queues one job each.
    await page.getByRole('button', { name: 'Preview' }).click();
    await poll(() => page.getByRole('alert').allTextContents()).toContain(
      'select agents in the table, or choose every active agent of this tenant',
    );
    await page.getByRole('checkbox', { name: /Select acme-db01/ }).check();
    await page.getByRole('checkbox', { name: /Select acme-web01/ }).check();
    await page.getByLabel('Job', { exact: true }).selectOption('hunt');
    await page.getByLabel('Advisory').fill('proxylogon-2021-03');
    await page.getByRole('button', { name: 'Preview' }).click();
    const confirm = page.locator('.bulk-confirm');
    await poll(() => confirm.locator('li').allTextContents()).toEqual([
      `acme-db01 ${agents[0]!.id}`,
      `acme-web01 ${agents[2]!.id}`,
    ]);
    await clean(p);
    await page.getByRole('button', { name: 'Run on 2 agents' }).click();
    await poll(() => page.getByRole('status').allTextContents()).toContain(
      'Queued 2 hunt jobs; each agent gets its own signed job.',
    );
    const jobs = (
      await call<{ items: { agent_id: string; kind: string }[] }>(
        s,
        admin,
        'GET',
        '/api/v1/tenants/acme/agent-jobs',
      )
    ).body.items;
    expect(jobs.map((j) => [j.agent_id, j.kind]).sort()).toEqual(
      [
        [agents[0]!.id, 'hunt'],
        [agents[2]!.id, 'hunt'],
      ].sort(),
    );
    await clean(p);
    await page.close();
  }, 60_000);

  it('shows an agent’s identity, inventory of 3,000 packages and job history, and revokes it through a dialog', async (ctx) => {
    const s = ready(ctx);
    if (!socket) ctx.skip();
    const agent = agents[0]!;
    const detail = (
      await call<{ key_fingerprint: string; cert_serial: string }>(
        s,
        admin,
        'GET',
        `/api/v1/tenants/acme/agents/${agent.id}`,
      )
    ).body;
    const p = await openCheckedPage(await contextFor(admin));
    const { page } = p;
    await page.goto(`${s.url}/tenants/acme/agents`);
    await page.getByRole('link', { name: agent.hostname }).click();
    await page.waitForURL(`${s.url}/tenants/acme/agents/${agent.id}`);
    await page.getByRole('heading', { level: 1, name: /acme-db01/ }).waitFor();
    const main = page.locator('main');
    await poll(() => main.textContent()).toContain(detail.key_fingerprint);
    expect(await main.textContent()).toContain(detail.cert_serial);
    expect(await main.textContent()).toMatch(/\d+ days left/);
    // Inventory: 3,000 packages, 100 shown, filtered in the page.
    await poll(() => main.locator('p.count').first().textContent()).toBe(
      `${PACKAGES} products and packages, the first 100 shown`,
    );
    const inventory = page.getByRole('table', { name: 'Products and packages' });
    expect(await inventory.locator('tbody tr').count()).toBe(100);
    await page.getByLabel('Filter products and packages').fill('package-2999');
    await poll(() => inventory.locator('tbody tr').allTextContents()).toEqual([
      'pkg:deb/debian/lib-package-29991.9.2999-1+deb12u1',
    ]);
    // The hunt job of the first test, in its history; it went to the connected agent.
    const history = page.getByRole('table', { name: 'Jobs of this agent' });
    await poll(() => history.locator('tbody tr').first().textContent()).toContain('proxylogon-2021-03');
    await shot(page, 'agent');
    await clean(p);

    // Revocation: a dialog, then the state with the reason (live from the answer and agent.changed).
    await page.getByRole('button', { name: 'Revoke this agent' }).click();
    const dialog = page.getByRole('dialog', { name: /Revoke acme-db01/ });
    await dialog.waitFor();
    await clean(p);
    await dialog.getByRole('button', { name: 'Keep it' }).click();
    await poll(() => dialog.isVisible()).toBe(false);
    await page.getByRole('button', { name: 'Revoke this agent' }).click();
    await dialog.getByLabel('Reason (optional)').fill('machine decommissioned');
    await dialog.getByRole('button', { name: 'Revoke', exact: true }).click();
    await poll(() => main.locator('.state-revoked').count()).toBe(1);
    expect(await main.textContent()).toContain('machine decommissioned');
    expect(await page.getByRole('button', { name: 'Revoke this agent' }).count()).toBe(0);
    const stored = (await call<{ state: string }>(s, admin, 'GET', `/api/v1/tenants/acme/agents/${agent.id}`))
      .body;
    expect(stored.state).toBe('revoked');
    await clean(p);
    await page.close();
  }, 60_000);

  it('shows a customer user their tenant’s agents read-only and another tenant’s agent as not found', async (ctx) => {
    const s = ready(ctx);
    const p = await openCheckedPage(await contextFor(customer));
    const { page } = p;
    await page.goto(`${s.url}/tenants/acme/agents`);
    await poll(() => agentRows(page).count()).toBe(3);
    expect(await page.getByRole('checkbox').count()).toBe(0);
    expect(await page.getByRole('heading', { name: 'Enrolment tokens' }).count()).toBe(0);
    expect(await page.getByRole('heading', { name: 'Run a job' }).count()).toBe(0);
    await page.getByRole('link', { name: 'acme-mail01' }).click();
    await page.getByRole('heading', { level: 1, name: /acme-mail01/ }).waitFor();
    await poll(() => page.locator('main').textContent()).toContain('No inventory yet');
    expect(await page.getByRole('button', { name: 'Revoke this agent' }).count()).toBe(0);
    await clean(p);
    p.expectHttpError({ method: 'GET', path: `/api/v1/tenants/globex/agents/${foreign.id}`, status: 404 });
    p.expectHttpError({ method: 'GET', path: `/api/v1/tenants/globex/assets/${foreign.id}`, status: 404 });
    p.expectHttpError({ method: 'GET', path: `/api/v1/tenants/globex/agent-jobs`, status: 404 });
    await page.goto(`${s.url}/tenants/globex/agents/${foreign.id}`);
    await page.getByRole('heading', { name: 'Not found' }).waitFor();
    expect(await page.locator('main').textContent()).not.toContain('gx-mail');
    await clean(p);
    await page.close();
  }, 30_000);

  it('holds the agent pages at 390 px in dark mode without sideways scrolling, and passes axe there', async (ctx) => {
    const s = ready(ctx);
    const p = await openCheckedPage(await contextFor(admin, { width: 390, height: 844 }, true));
    for (const path of ['/tenants/acme/agents', `/tenants/acme/agents/${agents[1]!.id}`]) {
      await p.page.goto(s.url + path);
      await p.page.getByRole('heading', { level: 1 }).waitFor();
      await poll(() => p.page.getByText('Loading…').count(), { message: path }).toBe(0);
      const overflow = await p.page.evaluate<number>(
        'document.documentElement.scrollWidth - window.innerWidth',
      );
      expect(overflow, `horizontal overflow on ${path}`).toBeLessThanOrEqual(0);
      expect(await p.scanA11y(), `axe (dark, 390 px) on ${path}`).toEqual([]);
    }
    expect(await p.problems()).toEqual([]);
    await p.page.close();
  }, 30_000);
});
