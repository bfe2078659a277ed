/**
 * What every route and service shares: the application context (database, configuration, metrics and the
 * domain services), who may call a route, and what a request carries once authenticated (its principal and the
 * TenantScope every repository filters by). app.ts builds the context and registers the routes; routes depend
 * on this module, never on app.ts.
 */
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { AccountsService } from './accounts/service.js';
import type { AdvisoryService } from './advisories/service.js';
import type { AgentChannel } from './agents/channel/index.js';
import type { AgentsDomain } from './agents/service.js';
import type { AssetService } from './assets/service.js';
import type { AuditChainer } from './audit/log.js';
import { actorOf, type Permission, type Principal } from './auth/principal.js';
import type { ServerConfig } from './config.js';
import type { Db } from './db/connect.js';
import { unauthorized } from './errors.js';
import type { EventBus } from './events/index.js';
import type { ExposureService } from './exposure/service.js';
import type { FindingService } from './findings/service.js';
import type { Jobs } from './jobs/index.js';
import type { ServerMetrics } from './metrics.js';
import type { ResponseService } from './response/service.js';
import type { TenantScope } from './scope.js';
import type { TenantService } from './tenants/service.js';

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
    /** The tenants the principal sees; set for every non-public route. */
    scope: TenantScope;
  }
}

export interface AppContext {
  db: Db;
  config: ServerConfig;
  metrics: ServerMetrics;
  /** The exposure engine over the stored advisories, recomputation, and exposure reads. */
  exposure: ExposureService;
  accounts: AccountsService;
  tenants: TenantService;
  assets: AssetService;
  findings: FindingService;
  advisories: AdvisoryService;
  /** Response state: observations, hunt reports and the board. */
  response: ResponseService;
  /** The process's event bus: subscribe consumers here; services publish with publishEvent in their transaction. */
  events: EventBus;
  /** Durable jobs: enqueue on `jobs.queue`, register handlers on `jobs.worker` (before the app is ready). */
  jobs: Jobs;
  /** Chains the audit records writes leave pending. */
  audit: AuditChainer;
  /** Agents: enrolment tokens, enrolment, the CA and job-signing keys, agent jobs. */
  agents: AgentsDomain;
  /** The agents' WebSocket channel of this process (set by buildApp). */
  agentChannel?: AgentChannel;
  /** False until migrations ran and the built-in advisories are synchronised. */
  ready: boolean;
}

export interface RouteInfo {
  method: string;
  url: string;
  access: Access;
}

/** Whoever did something, as it appears in the audit log and finding history. */
export interface Actor {
  name: string;
}

/** The app as routes see it: handlers get request bodies, params and queries typed from the route schemas. */
export function typed(app: FastifyInstance) {
  return app.withTypeProvider<TypeBoxTypeProvider>();
}

export type Api = ReturnType<typeof typed>;

/** The request's principal; routes that are not public always have one (app.ts authenticates first). */
export function principalOf(request: FastifyRequest): Principal {
  if (!request.principal) throw unauthorized();
  return request.principal;
}

export function actorFor(request: FastifyRequest): Actor {
  return { name: actorOf(principalOf(request)) };
}
