/** Every route of the control plane, registered in one place (the isolation test enumerates them). */
import type { FastifyInstance } from 'fastify';
import type { AppContext } from '../app.js';
import { advisoryRoutes } from './advisories.js';
import { sessionRoutes } from './session.js';
import { closeQueryStrings } from './strict-query.js';
import { systemRoutes } from './system.js';
import { tenantRoutes } from './tenants.js';
import { userRoutes } from './users.js';

export async function registerRoutes(app: FastifyInstance, ctx: AppContext): Promise<void> {
  // Before any route: every /api/v1 route then refuses query parameters it does not declare.
  closeQueryStrings(app);
  await systemRoutes(app, ctx);
  await sessionRoutes(app, ctx);
  await userRoutes(app, ctx);
  await tenantRoutes(app, ctx);
  await advisoryRoutes(app, ctx);
}
