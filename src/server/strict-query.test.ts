/**
 * Every /api/v1 route refuses query parameters it does not declare (issue 11: `?tag=` was silently ignored, so
 * a filtered list answered with everything). The routes come from the running app, not from a list kept here,
 * so a new route is covered the day it is added.
 */
import { generateKeyPairSync } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { enrollSigningBytes, publicKeyToRaw, signBytes } from '../api/agent-protocol.js';
import { openTestServer, type TestServer } from './app.testkit.js';

describe('query parameters a route does not declare', () => {
  let s: TestServer;
  let userId: string;
  let jobId: string;
  const ids: Record<string, string> = {
    tenant: 'acme',
    asset: 'mail01',
    id: 'proxylogon-2021-03',
    cve: 'CVE-2021-26855',
    advisory: 'proxylogon-2021-03',
  };

  beforeAll(async () => {
    s = (await openTestServer('sqlite'))!;
    await s.call(s.admin, { method: 'POST', url: '/api/v1/tenants', payload: { id: 'acme', name: 'ACME' } });
    const put = await s.call(s.admin, {
      method: 'PUT',
      url: '/api/v1/tenants/acme/assets/mail01',
      payload: { id: 'mail01', products: [{ product: 'microsoft:exchange_server', version: '15.1.2176.2' }] },
    });
    expect(put.statusCode, put.body).toBe(200);
    userId = (await s.call(s.admin, { method: 'GET', url: '/api/v1/me' })).json().user.id;
    jobId = (
      await s.ctx.jobs.queue.enqueue(s.db.kysely, {
        kind: 'strict.probe',
        tenantId: 'acme',
        createdBy: 'test',
      })
    ).id;
    // An enrolled agent with a job, for the agent routes.
    const token = (
      await s.call(s.admin, { method: 'POST', url: '/api/v1/tenants/acme/agent-tokens', payload: {} })
    ).json();
    const key = generateKeyPairSync('ed25519');
    const raw = publicKeyToRaw(key.publicKey);
    const enrolled = await s.call(undefined, {
      method: 'POST',
      url: '/api/v1/agents/enroll',
      payload: {
        token: token.token,
        public_key: raw,
        proof: signBytes(key.privateKey, enrollSigningBytes(token.id, raw)),
        hostname: 'agent01',
        version: '0.1.0',
      },
    });
    expect(enrolled.statusCode, enrolled.body).toBe(201);
    ids.agent = enrolled.json().agent_id;
    const job = await s.call(s.admin, {
      method: 'POST',
      url: '/api/v1/tenants/acme/agent-jobs',
      payload: { kind: 'inventory', agents: [ids.agent] },
    });
    expect(job.statusCode, job.body).toBe(202);
    ids.job = job.json().jobs[0].id;
  });
  afterAll(async () => {
    await s?.dispose();
  });

  const urlOf = (pattern: string) =>
    pattern.replace(/:(\w+)/g, (_m, name: string) =>
      encodeURIComponent(
        pattern.startsWith('/api/v1/users/')
          ? userId
          : pattern.startsWith('/api/v1/jobs/')
            ? jobId
            : (ids[name] ?? 'x'),
      ),
    );

  it('are a 400 naming the parameter on every GET route under /api/v1, lists first of all', async () => {
    const gets = s.routes.filter((r) => r.method === 'GET' && r.url.startsWith('/api/v1/'));
    expect(gets.map((r) => r.url)).toEqual(
      expect.arrayContaining([
        '/api/v1/tenants',
        '/api/v1/tenants/:tenant/assets',
        '/api/v1/findings',
        '/api/v1/advisories',
        '/api/v1/users',
        '/api/v1/audit',
      ]),
    );
    for (const route of gets) {
      const url = urlOf(route.url);
      // Without the parameter the route answers (ids above exist), so the 400 below is the parameter's doing.
      // The event stream answers 200 and stays open, which an injected request cannot wait for.
      if (route.url !== '/api/v1/events') {
        const plain = await s.call(s.admin, { method: 'GET', url });
        expect(plain.statusCode, `${route.url}: ${plain.body}`).toBeLessThan(400);
      }
      const tagged = await s.call(s.admin, { method: 'GET', url: `${url}?tag=prod` });
      expect(tagged.statusCode, `${route.url}?tag=prod answered ${tagged.body}`).toBe(400);
      expect(tagged.json().message, route.url).toMatch(/querystring\.tag/);
    }
  });

  it('honours the paging every list route declares: limit, offset and sort change the answer', async () => {
    // Enough rows in every list: a second tenant, asset and user, and the audit records these writes make.
    await s.call(s.admin, {
      method: 'POST',
      url: '/api/v1/tenants',
      payload: { id: 'globex', name: 'Globex' },
    });
    await s.call(s.admin, {
      method: 'PUT',
      url: '/api/v1/tenants/acme/assets/mail02',
      payload: { id: 'mail02', products: [{ product: 'microsoft:exchange_server', version: '15.0.1497.2' }] },
    });
    await s.userSession({ email: 'ro@msp.example', role: 'read_only' });
    const doc = (await s.app.inject({ method: 'GET', url: '/api/openapi.json' })).json() as {
      paths: Record<
        string,
        {
          get?: {
            parameters?: {
              in: string;
              name: string;
              schema?: { anyOf?: { const?: string; enum?: string[] }[] };
            }[];
          };
        }
      >;
    };
    const checked: string[] = [];
    for (const route of s.routes.filter((r) => r.method === 'GET' && r.url.startsWith('/api/v1/'))) {
      const names = new Set(
        (doc.paths[route.url.replace(/:(\w+)/g, '{$1}')]?.get?.parameters ?? [])
          .filter((p) => p.in === 'query')
          .map((p) => p.name),
      );
      if (!names.has('limit')) continue;
      const url = urlOf(route.url);
      const page = async (query: string) => {
        const res = await s.call(s.admin, { method: 'GET', url: `${url}?${query}` });
        expect(res.statusCode, `${route.url}?${query}: ${res.body}`).toBe(200);
        const body = res.json();
        // The board pages its tenants under `tenants`.
        return (Array.isArray(body) ? body : (body.items ?? body.tenants?.items)) as unknown[];
      };
      const all = await page('limit=1000');
      if (all.length < 2) continue;
      expect(await page('limit=1'), `${route.url}?limit=1`).toHaveLength(1);
      if (names.has('offset'))
        expect(await page('limit=1&offset=1'), `${route.url}?offset=1`).toEqual(all.slice(1, 2));
      // A sort that is a closed set of orders (the board's worst-first and others) rather than a column: each answers.
      const params = doc.paths[route.url.replace(/:(\w+)/g, '{$1}')]?.get?.parameters ?? [];
      const orders = params.find((p) => p.in === 'query' && p.name === 'sort')?.schema?.anyOf;
      if (orders) {
        for (const o of orders) {
          const order = o.const ?? o.enum?.[0];
          expect(await page(`limit=1000&sort=${order}`), `${route.url}?sort=${order}`).toHaveLength(
            all.length,
          );
        }
      } else if (names.has('sort')) {
        // A column every such list sorts by (each route names its own; the first one it accepts).
        let sorted = false;
        for (const key of ['id', 'email', 'seq', 'cve']) {
          const res = await s.call(s.admin, { method: 'GET', url: `${url}?limit=1000&sort=${key}` });
          if (res.statusCode !== 200) continue;
          const asc = await page(`limit=1000&sort=${key}`);
          const desc = await page(`limit=1000&sort=-${key}`);
          const keys = (list: unknown[]) => list.map((x) => (x as Record<string, unknown>)[key]);
          expect(keys(desc), `${route.url}?sort=-${key}`).toEqual(keys(asc).reverse());
          expect(keys(asc)[0], `${route.url}?sort=${key}`).not.toEqual(keys(desc)[0]);
          sorted = true;
          break;
        }
        expect(sorted, `${route.url}: no sortable column found`).toBe(true);
      }
      checked.push(route.url);
    }
    expect(checked).toEqual(
      expect.arrayContaining([
        '/api/v1/tenants',
        '/api/v1/tenants/:tenant/assets',
        '/api/v1/findings',
        '/api/v1/users',
        '/api/v1/audit',
      ]),
    );
  });

  it('still accepts the declared filters and paging', async () => {
    const ok = await s.call(s.admin, {
      method: 'GET',
      url: '/api/v1/tenants/acme/assets?q=mail01&product=microsoft:exchange_server&limit=5&sort=id',
    });
    expect(ok.statusCode, ok.body).toBe(200);
    expect(ok.json().items.map((a: { id: string }) => a.id)).toEqual(['mail01']);
  });

  it('are a 400 on writes too (a misspelt ?site= must not file the assets nowhere)', async () => {
    const res = await s.call(s.admin, {
      method: 'POST',
      url: '/api/v1/tenants/acme/assets?sitee=hq',
      payload: { assets: [] },
    });
    expect(res.statusCode).toBe(400);
    expect(res.json().message).toMatch(/querystring\.sitee/);
  });
});
