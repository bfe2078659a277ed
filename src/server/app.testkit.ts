/**
 * A control-plane server for tests: a fresh database (SQLite or PostgreSQL, see db/testkit.ts), the real Fastify
 * app with every route, the built-in advisories synchronised, and helpers to act as an administrator, another
 * operator or a customer user through real sessions and API tokens.
 */
import type { FastifyInstance, InjectOptions, LightMyRequestResponse } from 'fastify';
import { buildApp } from './app.js';
import { loadServerConfig, type ServerConfigInput } from './config.js';
import { type AppContext, CSRF_HEADER, type RouteInfo, SESSION_COOKIE } from './context.js';
import type { DialectName } from './db/connect.js';
import { openTestDb, type TestDb } from './db/db.testkit.js';

export const ADMIN = { email: 'admin@msp.example', name: 'Admin', password: 'correct horse battery' };

export interface Caller {
  /** Session cookie + CSRF token, or a bearer token. */
  headers: Record<string, string>;
}

export interface TestServer {
  app: FastifyInstance;
  ctx: AppContext;
  db: TestDb;
  routes: RouteInfo[];
  admin: Caller;
  call(caller: Caller | undefined, options: InjectOptions): Promise<LightMyRequestResponse>;
  /** A new user with a password session. */
  userSession(input: { email: string; role: string; tenant_id?: string | null }): Promise<Caller>;
  /** An API token created by the administrator (or by `by`). */
  token(input: { name?: string; role?: string; tenant_id?: string | null }, by?: Caller): Promise<Caller>;
  dispose(): Promise<void>;
}

export async function sessionOf(
  app: FastifyInstance,
  email: string,
  password: string,
  code?: string,
): Promise<Caller> {
  const res = await app.inject({
    method: 'POST',
    url: '/api/v1/session',
    payload: { email, password, ...(code ? { code } : {}) },
  });
  if (res.statusCode !== 200) throw new Error(`login ${email}: ${res.statusCode} ${res.body}`);
  const cookie = res.cookies.find((c) => c.name === SESSION_COOKIE);
  return { headers: { cookie: `${SESSION_COOKIE}=${cookie?.value}`, [CSRF_HEADER]: res.json().csrf_token } };
}

export async function openTestServer(
  dialect: DialectName,
  config: Partial<ServerConfigInput> = {},
  /** `logger`: a Fastify logger configuration (e.g. `{ level, stream }`) to capture the server's log. */
  options: { logger?: boolean | object } = {},
): Promise<TestServer | undefined> {
  const db = await openTestDb(dialect);
  if (!db) return undefined;
  const cfg = loadServerConfig({ overrides: { data_dir: db.dataDir, log_level: 'silent', ...config } });
  const { app, ctx, routes } = await buildApp({ db, config: cfg, logger: options.logger ?? false });
  await ctx.exposure.load();
  await ctx.exposure.syncBuiltins();
  ctx.ready = true;
  await app.ready();
  const token = await ctx.accounts.issueSetupToken();
  const setup = await app.inject({ method: 'POST', url: '/api/v1/setup', payload: { token, ...ADMIN } });
  if (setup.statusCode !== 201) throw new Error(`setup: ${setup.body}`);
  const admin = await sessionOf(app, ADMIN.email, ADMIN.password);
  const call = (caller: Caller | undefined, options: InjectOptions) =>
    app.inject({ ...options, headers: { ...(caller?.headers ?? {}), ...(options.headers ?? {}) } });
  let n = 0;
  const server: TestServer = {
    app,
    ctx,
    db,
    routes,
    admin,
    call,
    async userSession(input) {
      const password = `user-${++n}-secret-long-enough`;
      const res = await call(admin, {
        method: 'POST',
        url: '/api/v1/users',
        payload: { name: input.email, password, ...input },
      });
      if (res.statusCode !== 201) throw new Error(`create user: ${res.body}`);
      return sessionOf(app, input.email, password);
    },
    async token(input, by = admin) {
      const res = await call(by, {
        method: 'POST',
        url: '/api/v1/tokens',
        payload: { name: input.name ?? `t${++n}`, ...input },
      });
      if (res.statusCode !== 201) throw new Error(`create token: ${res.body}`);
      return { headers: { authorization: `Bearer ${res.json().token}` } };
    },
    async dispose() {
      await app.close();
      await db.dispose();
    },
  };
  return server;
}
