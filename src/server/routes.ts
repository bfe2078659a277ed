/** Every route of the control plane, registered in one place (the isolation test enumerates them). */
import type { FastifyInstance } from 'fastify';
import { userRoutes } from './accounts/routes.js';
import { sessionRoutes } from './accounts/session-routes.js';
import { advisoryRoutes } from './advisories/routes.js';
import { inventoryRoutes } from './agents/inventory-routes.js';
import { agentRoutes } from './agents/routes.js';
import { assetRoutes } from './assets/routes.js';
import { auditRoutes } from './audit/routes.js';
import { type AppContext, SESSION_COOKIE } from './context.js';
import { eventRoutes } from './events/index.js';
import { exposureRoutes } from './exposure/routes.js';
import { findingRoutes } from './findings/routes.js';
import { jobRoutes } from './jobs/index.js';
import { responseRoutes } from './response/routes.js';
import { closeQueryStrings } from './strict-query.js';
import { systemRoutes } from './system/routes.js';
import { tenantRoutes } from './tenants/routes.js';
import { DEFAULT_CONSOLE_DIR, registerConsole } from './web.js';

export async function registerRoutes(app: FastifyInstance, ctx: AppContext): Promise<void> {
  // Before any route: every /api/v1 route then refuses query parameters it does not declare.
  closeQueryStrings(app);
  await systemRoutes(app, ctx);
  await auditRoutes(app, ctx);
  await sessionRoutes(app, ctx);
  await userRoutes(app, ctx);
  await tenantRoutes(app, ctx);
  await assetRoutes(app, ctx);
  await inventoryRoutes(app, ctx);
  await findingRoutes(app, ctx);
  await advisoryRoutes(app, ctx);
  await exposureRoutes(app, ctx);
  await responseRoutes(app, ctx);
  await agentRoutes(app, ctx);
  await jobRoutes(app, { queue: ctx.jobs.queue });
  await eventRoutes(app, {
    db: ctx.db,
    bus: ctx.events,
    limits: { perUser: ctx.config.event_streams_per_user, total: ctx.config.event_streams_max },
  });
  // Last: the web console answers the paths no route above does (the first-start /setup page included).
  await registerConsole(app, {
    distDir: DEFAULT_CONSOLE_DIR,
    async signedIn(request) {
      const sessionId = request.cookies?.[SESSION_COOKIE];
      return !!sessionId && sessionId.length <= 128 && !!(await ctx.accounts.sessionPrincipal(sessionId));
    },
  });
}
