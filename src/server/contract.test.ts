/**
 * The API keeps the promises docs/api.md and docs/operations.md make (issue 11 item 6, issue 10 `serve` items),
 * on SQLite and on PostgreSQL:
 *
 * - the audit log is a list like every other: `{items, total, limit, offset}`, snake_case, `offset` and `sort`;
 * - deleting a tenant needs its id repeated in `?confirm=`;
 * - a value outside a closed set is answered with the values allowed;
 * - framework errors carry the code of their status (415 `unsupported_media_type`, 413 `payload_too_large`);
 * - `/ready` tells anonymous callers only that the database is unavailable (the reason goes to the log);
 * - `/metrics` off loopback needs its token unless opened explicitly;
 * - a busy port fails the start before anything is written to the data directory.
 */
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp } from './app.js';
import { openTestServer, type TestServer } from './app.testkit.js';
import { listensOnLoopbackOnly, loadServerConfig, type ServerConfigInput } from './config.js';
import { openTestDb, TEST_DIALECTS } from './db/db.testkit.js';
import { startServer } from './start.js';

describe.each(TEST_DIALECTS)('API contract (%s)', (dialect) => {
  let s: TestServer | undefined;
  const log: string[] = [];
  beforeAll(async () => {
    const stream = new Writable({
      write(chunk, _enc, done) {
        log.push(String(chunk));
        done();
      },
    });
    s = await openTestServer(dialect, {}, { logger: { level: 'error', stream } });
  }, 60_000);
  afterAll(async () => {
    await s?.dispose();
  });
  const server = (ctx: { skip: () => void }) => {
    if (!s) ctx.skip();
    return s!;
  };

  it('lists the audit log in the documented list shape, snake_case, with offset and sort', async (ctx) => {
    const t = server(ctx);
    for (const id of ['audit-a', 'audit-b', 'audit-c']) {
      const res = await t.call(t.admin, {
        method: 'POST',
        url: '/api/v1/tenants',
        payload: { id, name: id },
      });
      expect(res.statusCode).toBe(201);
    }
    const all = await t.call(t.admin, { method: 'GET', url: '/api/v1/audit' });
    expect(all.statusCode).toBe(200);
    const page = all.json();
    expect(Object.keys(page).sort()).toEqual([
      'items',
      'limit',
      'next_cursor',
      'offset',
      'prev_cursor',
      'total',
    ]);
    expect(page).toMatchObject({ limit: 100, offset: 0 });
    expect(page.total).toBe(page.items.length);
    expect(page.total).toBeGreaterThanOrEqual(4);
    expect(Object.keys(page.items[0]).sort()).toEqual(
      ['action', 'actor', 'at', 'detail', 'hash', 'prev_hash', 'seq', 'target', 'tenant_id'].sort(),
    );
    const seqs: number[] = page.items.map((r: { seq: number }) => r.seq);
    expect(seqs).toEqual([...seqs].sort((a, b) => a - b));

    const second = (await t.call(t.admin, { method: 'GET', url: '/api/v1/audit?limit=2&offset=1' })).json();
    expect(second).toMatchObject({ total: page.total, limit: 2, offset: 1 });
    expect(second.items.map((r: { seq: number }) => r.seq)).toEqual(seqs.slice(1, 3));

    const newest = (await t.call(t.admin, { method: 'GET', url: '/api/v1/audit?sort=-seq&limit=1' })).json();
    expect(newest.items[0].seq).toBe(Math.max(...seqs));
    expect(newest.items[0].action).toBe('tenant.create');

    const after = (await t.call(t.admin, { method: 'GET', url: `/api/v1/audit?after=${seqs[1]}` })).json();
    expect(after.items[0].seq).toBe(seqs[2]);
    expect(after.total).toBe(seqs.length - 2);

    const badSort = await t.call(t.admin, { method: 'GET', url: '/api/v1/audit?sort=actor' });
    expect(badSort.statusCode).toBe(400);
    expect(badSort.json().message).toMatch(/sort: "actor" is not sortable here; use one of seq, at/);

    const verify = (await t.call(t.admin, { method: 'GET', url: '/api/v1/audit/verify' })).json();
    expect(verify).toMatchObject({
      ok: true,
      head_seq: Math.max(...seqs),
      problems: [],
      problems_omitted: 0,
    });
  });

  it('deletes a tenant only with its id repeated in ?confirm=', async (ctx) => {
    const t = server(ctx);
    await t.call(t.admin, {
      method: 'POST',
      url: '/api/v1/tenants',
      payload: { id: 'doomed', name: 'Doomed' },
    });
    const put = await t.call(t.admin, {
      method: 'PUT',
      url: '/api/v1/tenants/doomed/assets/m1',
      payload: { id: 'm1', products: [{ product: 'microsoft:exchange_server', version: '15.1.2176.2' }] },
    });
    expect(put.statusCode).toBe(200);
    for (const url of [
      '/api/v1/tenants/doomed',
      '/api/v1/tenants/doomed?confirm=other',
      '/api/v1/tenants/doomed?confirm=',
    ]) {
      const res = await t.call(t.admin, { method: 'DELETE', url });
      expect(res.statusCode, url).toBe(400);
      expect(res.json()).toMatchObject({ error: 'bad_request' });
      expect(res.json().message).toContain('?confirm=doomed');
    }
    expect(
      (await t.call(t.admin, { method: 'GET', url: '/api/v1/tenants/doomed/assets/m1' })).statusCode,
    ).toBe(200);
    // An unknown tenant stays a 404, confirmed or not.
    expect((await t.call(t.admin, { method: 'DELETE', url: '/api/v1/tenants/nobody' })).statusCode).toBe(404);
    const done = await t.call(t.admin, { method: 'DELETE', url: '/api/v1/tenants/doomed?confirm=doomed' });
    expect(done.statusCode).toBe(204);
    expect((await t.call(t.admin, { method: 'GET', url: '/api/v1/tenants/doomed' })).statusCode).toBe(404);
  });

  it('lists the allowed values when a field is outside a closed set', async (ctx) => {
    const t = server(ctx);
    const role = await t.call(t.admin, {
      method: 'POST',
      url: '/api/v1/users',
      payload: { email: 'boss@x.example', name: 'Boss', password: 'a long enough secret', role: 'boss' },
    });
    expect(role.statusCode).toBe(400);
    expect(role.json().message).toBe('body.role: must be one of: admin, technician, read_only, customer');
    await t.call(t.admin, { method: 'POST', url: '/api/v1/tenants', payload: { id: 'enum-t', name: 'E' } });
    const verdict = await t.call(t.admin, {
      method: 'GET',
      url: '/api/v1/tenants/enum-t/assets?verdict=safe',
    });
    expect(verdict.statusCode).toBe(400);
    expect(verdict.json().message).toBe(
      'querystring.verdict: must be one of: affected, unknown, fixed, not_affected',
    );
    const nullable = await t.call(t.admin, {
      method: 'POST',
      url: '/api/v1/tokens',
      payload: { name: 'n', role: 'root' },
    });
    expect(nullable.json().message).toBe('body.role: must be one of: admin, technician, read_only, customer');
  });

  it('answers framework errors with the code of their status', async (ctx) => {
    const t = server(ctx);
    const text = await t.call(t.admin, {
      method: 'POST',
      url: '/api/v1/tenants',
      headers: { 'content-type': 'application/octet-stream' },
      payload: 'id=x',
    });
    expect(text.statusCode).toBe(415);
    expect(text.json()).toEqual({
      error: 'unsupported_media_type',
      message: 'content-type application/octet-stream is not one this route reads; send application/json',
    });
    const big = await t.call(t.admin, {
      method: 'POST',
      url: '/api/v1/tenants',
      headers: { 'content-type': 'application/json' },
      payload: `{"id":"big","name":"${'x'.repeat(9 * 1024 * 1024)}"}`,
    });
    expect(big.statusCode).toBe(413);
    expect(big.json().error).toBe('payload_too_large');
  });

  it('tells anonymous callers of /ready only that the database is unavailable; the log has why', async (ctx) => {
    const t = server(ctx);
    expect((await t.app.inject({ method: 'GET', url: '/ready' })).json()).toEqual({
      ready: true,
      database: 'ok',
    });
    await sql`alter table installation rename to installation_moved`.execute(t.db.kysely);
    try {
      const res = await t.app.inject({ method: 'GET', url: '/ready' });
      expect(res.statusCode).toBe(503);
      expect(res.json()).toEqual({ ready: false, database: 'unavailable' });
      expect(res.body).not.toMatch(/installation|relation|table/i);
      expect(log.join('')).toMatch(/readiness check.*installation|installation.*readiness check/s);
    } finally {
      await sql`alter table installation_moved rename to installation`.execute(t.db.kysely);
    }
  });
});

describe('/metrics off loopback', () => {
  it('knows which listen addresses stay on this machine', () => {
    for (const h of [
      '127.0.0.1',
      '127.1.2.3',
      'localhost',
      '::1',
      '[::1]',
      '0:0:0:0:0:0:0:1',
      '::ffff:127.0.0.1',
    ]) {
      expect(listensOnLoopbackOnly(h), h).toBe(true);
    }
    for (const h of ['0.0.0.0', '::', '10.0.0.5', '192.168.1.10', 'bulwark.msp.example', '::ffff:10.0.0.1']) {
      expect(listensOnLoopbackOnly(h), h).toBe(false);
    }
  });

  async function metricsStatus(config: Partial<ServerConfigInput>, headers: Record<string, string> = {}) {
    const db = (await openTestDb('sqlite'))!;
    const cfg = loadServerConfig({ overrides: { data_dir: db.dataDir, log_level: 'silent', ...config } });
    const { app } = await buildApp({ db, config: cfg, logger: false });
    try {
      const res = await app.inject({ method: 'GET', url: '/metrics', headers });
      return { status: res.statusCode, body: res.body };
    } finally {
      await app.close();
      await db.dispose();
    }
  }

  it('needs the token on a non-loopback address unless metrics_public opens it', async () => {
    const closed = await metricsStatus({ host: '0.0.0.0' });
    expect(closed.status).toBe(403);
    expect(closed.body).toMatch(/listens on 0\.0\.0\.0.*set metrics_token.*metrics_public: true/);
    expect(closed.body).not.toMatch(/bulwark_http_request/);
    expect((await metricsStatus({ host: '::' })).status).toBe(403);
    expect((await metricsStatus({ host: '0.0.0.0', metrics_public: true })).status).toBe(200);
    expect((await metricsStatus({ host: '127.0.0.1' })).status).toBe(200);
    expect((await metricsStatus({ host: '::1' })).status).toBe(200);
    const token = 'metrics-token-0123456789';
    expect((await metricsStatus({ host: '0.0.0.0', metrics_token: token })).status).toBe(401);
    expect(
      (await metricsStatus({ host: '0.0.0.0', metrics_token: token }, { authorization: `Bearer ${token}` }))
        .status,
    ).toBe(200);
  });

  it('reads metrics_public from BULWARK_METRICS_PUBLIC', () => {
    const cfg = loadServerConfig({ env: { BULWARK_METRICS_PUBLIC: 'true' } });
    expect(cfg.metrics_public).toBe(true);
    expect(loadServerConfig({}).metrics_public).toBe(false);
    expect(() => loadServerConfig({ env: { BULWARK_METRICS_PUBLIC: 'yes' } })).toThrow(
      /BULWARK_METRICS_PUBLIC/,
    );
  });
});

describe('starting on a busy port', () => {
  it('fails before the data directory, the database or its lock is created', async () => {
    const blocker: Server = createServer();
    await new Promise<void>((resolve) => blocker.listen({ host: '127.0.0.1', port: 0 }, resolve));
    const port = (blocker.address() as { port: number }).port;
    const parent = mkdtempSync(join(tmpdir(), 'bulwark-busy-'));
    const dataDir = join(parent, 'data');
    try {
      const config = loadServerConfig({
        overrides: {
          data_dir: dataDir,
          host: '127.0.0.1',
          port,
          log_level: 'silent',
          builtin_advisories: false,
        },
      });
      await expect(startServer(config, { print: () => {}, logger: false })).rejects.toMatchObject({
        code: 'EADDRINUSE',
      });
      expect(existsSync(dataDir), 'the data directory was created').toBe(false);
    } finally {
      blocker.close();
      rmSync(parent, { recursive: true, force: true });
    }
  });
});
