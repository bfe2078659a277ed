/**
 * The control-plane HTTP server: Fastify with JSON-schema validation, an OpenAPI 3.1 description at
 * /api/openapi.json (readable at /api/docs), sessions in cookies with CSRF protection, bearer API tokens,
 * rate-limited login, Prometheus metrics and structured JSON logs with secrets redacted.
 *
 * Every route declares who may call it (`config.access`); the onRequest hook resolves the principal, enforces the
 * permission and hands the route the TenantScope of the principal's tenants, before the body is read.
 */

import cookie from '@fastify/cookie';
import rateLimit from '@fastify/rate-limit';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import Fastify, { type FastifyInstance, type FastifyRequest } from 'fastify';
import { AccountsService } from './accounts/service.js';
import { registerAdvisoryJobs } from './advisories/jobs.js';
import { AdvisoryService } from './advisories/service.js';
import { attachAgentChannel } from './agents/channel/index.js';
import { createAgentsDomain } from './agents/service.js';
import { AssetRepository } from './assets/repository.js';
import { AssetService } from './assets/service.js';
import { AuditChainer } from './audit/log.js';
import { may, type Principal } from './auth/principal.js';
import { sameSecret } from './auth/secrets.js';
import type { ServerConfig } from './config.js';
import {
  type Access,
  API_VERSION,
  type AppContext,
  CSRF_HEADER,
  type RouteInfo,
  SESSION_COOKIE,
} from './context.js';
import { BulkWriter } from './db/bulk.js';
import type { Db } from './db/connect.js';
import { ApiError, codeForStatus, forbidden, unauthorized } from './errors.js';
import { EventBus } from './events/index.js';
import { ExposureService } from './exposure/service.js';
import { FindingRepository } from './findings/repository.js';
import { FindingService } from './findings/service.js';
import { createJobs } from './jobs/index.js';
import { loggingSetup, logRequests } from './logging.js';
import { createMetrics, type ServerMetrics } from './metrics.js';
import { refuseNulText } from './nul-text.js';
import { openapiOptions } from './openapi.js';
import { ResponseRepository } from './response/repository.js';
import { ResponseService } from './response/service.js';
import { defineRetentionSchedule, registerRetentionJob } from './retention.js';
import { registerRoutes } from './routes.js';
import { TenantScope } from './scope.js';
import { TenantRepository } from './tenants/repository.js';
import { TenantService } from './tenants/service.js';
import { type SchemaError, validationMessage } from './validation.js';

type Log = { warn(obj: object, msg: string): void; error(obj: object, msg: string): void };

/**
 * The application context: the database, configuration and metrics, the event bus, jobs and audit chainer (built,
 * not started: see startContext), and every domain service over them.
 */
export function createContext(db: Db, config: ServerConfig, metrics: ServerMetrics, log?: Log): AppContext {
  const bulk = new BulkWriter(db);
  const tenantRepo = new TenantRepository(db);
  const assetRepo = new AssetRepository(db, tenantRepo, bulk);
  const findingRepo = new FindingRepository(db);
  const exposure = new ExposureService(db, metrics, { tenants: tenantRepo, assets: assetRepo }, bulk);
  const events = new EventBus(db, log ? { log } : {});
  // Every replica judges with the advisories stored now: another replica's import reaches this one as an event.
  // Re-reading the stored advisories is idempotent, so a repeated delivery costs a reload and nothing else.
  events.subscribe('exposure.reload', () => exposure.load(), {
    durable: false,
    types: ['advisory.changed'],
  });
  const jobs = createJobs({
    db: db.kysely,
    worker: { leaseMs: config.jobs_lease_seconds * 1000 },
    ...(db.dedicatedClient ? { lockClient: db.dedicatedClient } : {}),
    ...(log ? { log } : {}),
  });
  registerAdvisoryJobs(jobs, { exposure });
  registerRetentionJob(jobs, { db: db.kysely, config });
  const audit = new AuditChainer(db.kysely, {
    onError: (err) => log?.warn({ err }, 'audit records not chained yet; retrying'),
  });
  const agents = createAgentsDomain({
    db,
    config,
    tenants: tenantRepo,
    assets: assetRepo,
    exposure,
    bulk,
    jobs,
  });
  return {
    db,
    config,
    metrics,
    exposure,
    agents,
    accounts: new AccountsService(db),
    tenants: new TenantService(db, tenantRepo, exposure),
    assets: new AssetService(db, tenantRepo, assetRepo, exposure),
    findings: new FindingService(db, tenantRepo, assetRepo, findingRepo, bulk),
    advisories: new AdvisoryService(db, exposure),
    response: new ResponseService(db, tenantRepo, assetRepo, new ResponseRepository(db), exposure),
    events,
    jobs,
    audit,
    ready: false,
  };
}

/**
 * Starts the context's background work on a migrated database: the audit chainer, the event bus, then the job
 * worker and scheduler (handlers registered by then, the retention schedule defined). buildApp calls it when the
 * app gets ready.
 */
export async function startContext(ctx: AppContext): Promise<void> {
  ctx.audit.start();
  await ctx.events.start();
  await defineRetentionSchedule(ctx.db.kysely);
  ctx.jobs.start();
}

/**
 * Stops what startContext started, before the database closes: jobs first (a running job may still publish events
 * and write audit records), then the event bus, then the audit chainer after a last flush.
 */
export async function stopContext(ctx: AppContext): Promise<void> {
  await ctx.jobs.stop();
  await ctx.events.stop();
  await ctx.audit.stop();
  await ctx.audit.flush().catch(() => {});
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

  const ctx = createContext(db, config, metrics, app.log);
  // The background work runs while the app does: it starts when the app is ready (listen, ready or the first
  // inject) and stops when it closes, after open SSE streams ended and before the caller closes the database.
  app.addHook('onReady', async () => startContext(ctx));
  app.addHook('onClose', async () => stopContext(ctx));
  // Agents' WebSocket channel: starts after the context, closes every socket before the server closes.
  ctx.agentChannel = attachAgentChannel(app, ctx);

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
  app.decorateRequest('scope', undefined as unknown as TenantScope);

  // Authentication and permission are checked in onRequest, before the body is read: an anonymous client must
  // not make the server buffer and parse request bodies (up to 64 MiB on the advisory import), nor learn a
  // route's body schema from its 400s.
  app.addHook('onRequest', async (request) => {
    // Unmatched URLs fall through to the 404 handler.
    const access =
      request.routeOptions.url === undefined
        ? 'public'
        : (request.routeOptions.config?.access ?? 'authenticated');
    // Public routes do not look at credentials: a foreign bearer token (`/metrics` with the metrics token, a
    // stale token in a client signing in) must not fail them.
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
    // Administration (users, tenants, the audit log) is installation-wide: a tenant-scoped principal (an
    // admin-role token scoped to one tenant included) never administers.
    request.scope = TenantScope.of(principal.scope);
    if (access === 'admin') {
      request.scope.requireAll(
        'administration needs a principal that sees every tenant; this one is tenant-scoped',
      );
    }
  });

  if (logging.readable) logRequests(app);
  // Before any route's schema and handler: text with U+0000 is one 400 naming the field on both databases.
  app.addHook('preValidation', async (request) => refuseNulText(request));
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
      // Framework errors answer with the code of their own status (a 415 is not a `bad_request`).
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
