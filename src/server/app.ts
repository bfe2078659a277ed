/**
 * The control-plane HTTP server: Fastify with JSON-schema validation, an OpenAPI 3.1 description at
 * /api/openapi.json (readable at /api/docs), sessions in cookies with CSRF protection, bearer API tokens,
 * rate-limited login, Prometheus metrics and structured JSON logs with secrets redacted.
 *
 * Every route declares who may call it (`config.access`); the onRequest hook resolves the principal and the
 * preHandler enforces the permission, then hands the route a ScopedData bound to the principal's tenants.
 */

import cookie from '@fastify/cookie';
import rateLimit from '@fastify/rate-limit';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import Fastify, { type FastifyInstance, type FastifyRequest } from 'fastify';
import { may, type Permission, type Principal } from './auth/principal.js';
import { sameSecret } from './auth/secrets.js';
import type { ServerConfig } from './config.js';
import { Accounts } from './data/accounts.js';
import { ScopedData } from './data/scoped.js';
import type { Db } from './db/connect.js';
import { ApiError, codeForStatus, forbidden, unauthorized } from './errors.js';
import { FleetExposure } from './exposure/service.js';
import { loggingSetup, logRequests } from './logging.js';
import { createMetrics, type ServerMetrics } from './metrics.js';
import { openapiOptions } from './openapi.js';
import { registerRoutes } from './routes/index.js';
import { type SchemaError, validationMessage } from './validation.js';

export const SESSION_COOKIE = 'bulwark_session';
export const CSRF_HEADER = 'x-csrf-token';
export const API_VERSION = '0.1.0';

/** Who may call a route: anyone (health, login), any signed-in principal, or a permission. */
export type Access = 'public' | 'authenticated' | Permission;

declare module 'fastify' {
  interface FastifyContextConfig {
    access?: Access;
  }
  interface FastifyRequest {
    principal?: Principal;
    /** Customer data, filtered to the principal's tenants. Set for every non-public route. */
    data: ScopedData;
  }
}

export interface AppContext {
  db: Db;
  config: ServerConfig;
  metrics: ServerMetrics;
  accounts: Accounts;
  fleet: FleetExposure;
  /** False until migrations ran and the built-in advisories are synchronised. */
  ready: boolean;
}

export interface RouteInfo {
  method: string;
  url: string;
  access: Access;
}

const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

export async function buildApp(options: {
  db: Db;
  config: ServerConfig;
  logger?: boolean | object;
  https?: { cert: Buffer; key: Buffer };
}): Promise<{ app: FastifyInstance; ctx: AppContext; routes: RouteInfo[] }> {
  const { db, config } = options;
  const metrics = createMetrics();
  const ctx: AppContext = {
    db,
    config,
    metrics,
    accounts: new Accounts(db),
    fleet: new FleetExposure(db, metrics),
    ready: false,
  };
  const logging = loggingSetup(config, options.logger);
  const app = Fastify({
    logger: logging.logger,
    ...(logging.logController ? { logController: logging.logController } : {}),
    trustProxy: config.trust_proxy,
    bodyLimit: 8 * 1024 * 1024,
    // Ids in URLs are bounded; a longer path is hostile or a mistake.
    routerOptions: { maxParamLength: 200 },
    // verbose: each error carries the schema it failed, so a 400 can list the values a field allows.
    ajv: {
      customOptions: { removeAdditional: false, coerceTypes: 'array', allErrors: false, verbose: true },
    },
    ...(options.https ? { https: options.https } : {}),
  }) as unknown as FastifyInstance;

  const routes: RouteInfo[] = [];
  // Fail closed: a route that does not say who may call it needs a signed-in principal. Only the documentation
  // pages that @fastify/swagger-ui registers are public without saying so.
  app.addHook('onRoute', (route) => {
    const access: Access =
      route.config?.access ?? (route.url.startsWith('/api/docs') ? 'public' : 'authenticated');
    route.config = { ...route.config, access };
    const methods = Array.isArray(route.method) ? route.method : [route.method];
    for (const method of methods) {
      if (method === 'HEAD') continue;
      routes.push({ method, url: route.url, access });
    }
  });

  await app.register(cookie);
  await app.register(rateLimit, { global: false });
  await app.register(
    swagger,
    openapiOptions({ version: API_VERSION, sessionCookie: SESSION_COOKIE, csrfHeader: CSRF_HEADER }),
  );
  await app.register(swaggerUi, { routePrefix: '/api/docs' });

  app.decorateRequest('principal', undefined);
  app.decorateRequest('data', undefined as unknown as ScopedData);

  // Security fix: authentication and permission are checked in onRequest, before the body is read. They ran in
  // preHandler, after parsing and validation, so an anonymous client could make the server buffer and parse
  // request bodies (up to 64 MiB on the advisory import) and learn each route's body schema from 400s.
  app.addHook('onRequest', async (request) => {
    // Unmatched URLs fall through to the 404 handler.
    const access =
      request.routeOptions.url === undefined
        ? 'public'
        : (request.routeOptions.config?.access ?? 'authenticated');
    // Bug fix: public routes do not look at credentials. Authenticating them anyway made a foreign bearer token
    // fail the request: `/metrics` with `Authorization: Bearer <metrics_token>` always answered 401, and a stale
    // token in a client broke sign-in.
    if (access === 'public') return;
    request.principal = await authenticate(ctx, request);
    const principal = request.principal;
    if (!principal) throw unauthorized();
    if (principal.kind === 'session' && !SAFE_METHODS.has(request.method)) {
      const sent = request.headers[CSRF_HEADER];
      if (typeof sent !== 'string' || !principal.csrfToken || !sameSecret(sent, principal.csrfToken)) {
        throw new ApiError(403, 'csrf', `send the ${CSRF_HEADER} header from the sign-in response`);
      }
    }
    if (access !== 'authenticated' && !may(principal, access)) {
      throw forbidden(`this needs the ${access} permission; your role is ${principal.role}`);
    }
    // Security fix: administration (users, tenants, the audit log) is installation-wide. An admin-role API token
    // scoped to one tenant used to list and change every user (create an all-tenant admin, disable another
    // tenant's users) and read every tenant's audit records; a tenant-scoped principal never administers.
    if (access === 'admin' && !principal.scope.all) {
      throw forbidden('administration needs a principal that sees every tenant; this one is tenant-scoped');
    }
    request.data = new ScopedData(db, principal.scope, ctx.fleet);
  });

  if (logging.readable) logRequests(app);
  app.addHook('onResponse', async (request, reply) => {
    metrics.httpRequests.observe(
      {
        method: request.method,
        route: request.routeOptions.url ?? 'unmatched',
        status: String(reply.statusCode),
      },
      reply.elapsedTime / 1000,
    );
  });

  app.setErrorHandler((error, request, reply) => {
    if (error instanceof ApiError) {
      return reply
        .status(error.status)
        .send({ error: error.code, message: error.message, details: error.details });
    }
    const e = error as {
      validation?: SchemaError[];
      validationContext?: string;
      statusCode?: number;
      code?: string;
      message: string;
    };
    if (e.validation) {
      return reply
        .status(400)
        .send({ error: 'bad_request', message: validationMessage(e.validation, e.validationContext) });
    }
    if (e.statusCode && e.statusCode >= 400 && e.statusCode < 500) {
      // Bug fix: framework errors all answered `bad_request` whatever their status (a 415 too).
      const message =
        e.code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE'
          ? `content-type ${request.headers['content-type'] ?? '(none)'} is not one this route reads; send application/json`
          : e.message;
      return reply.status(e.statusCode).send({ error: codeForStatus(e.statusCode), message });
    }
    request.log.error({ err: error }, 'request failed');
    return reply
      .status(500)
      .send({ error: 'internal', message: 'internal error; the server log has the details' });
  });

  app.setNotFoundHandler((request, reply) =>
    reply
      .status(404)
      .send({ error: 'not_found', message: `no route ${request.method} ${request.url.split('?')[0]}` }),
  );

  await registerRoutes(app, ctx);
  return { app, ctx, routes };
}

async function authenticate(ctx: AppContext, request: FastifyRequest): Promise<Principal | undefined> {
  const auth = request.headers.authorization;
  if (auth) {
    const m = /^Bearer\s+(\S+)$/i.exec(auth);
    if (!m) throw unauthorized('Authorization must be "Bearer <API token>"');
    const principal = await ctx.accounts.tokenPrincipal(m[1]!);
    if (!principal) throw unauthorized('the API token is unknown, revoked or expired');
    return principal;
  }
  const sessionId = request.cookies?.[SESSION_COOKIE];
  if (sessionId && sessionId.length <= 128) return ctx.accounts.sessionPrincipal(sessionId);
  return undefined;
}

/**
 * Readiness: the database answers and start-up work is done. The answer is public (load balancers call it), so a
 * database error is only `unavailable` there; its text (host names, users, schema) goes to the log.
 */
export async function checkReady(
  ctx: AppContext,
  log?: { error(obj: object, msg: string): void },
): Promise<{ ready: boolean; database: 'ok' | 'starting' | 'unavailable' }> {
  if (!ctx.ready) return { ready: false, database: 'starting' };
  try {
    await ctx.db.kysely.selectFrom('installation').select('id').limit(1).execute();
    return { ready: true, database: 'ok' };
  } catch (err) {
    log?.error({ err }, 'readiness check: the database does not answer');
    return { ready: false, database: 'unavailable' };
  }
}
