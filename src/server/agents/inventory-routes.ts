/** Inventory uploads from an RMM's scheduled script: a tenant-scoped API token, applied like an agent's full report. */
import type { FastifyInstance } from 'fastify';
import { ErrorBody, InventoryUploadBody, InventoryUploadResult, TenantParams } from '../../api/index.js';
import { type AppContext, actorFor, typed } from '../context.js';
import { InventoryService } from './inventory.js';

export async function inventoryRoutes(fastify: FastifyInstance, ctx: AppContext): Promise<void> {
  const app = typed(fastify);
  const inventory = new InventoryService(ctx.db, ctx.assets);

  app.post(
    '/api/v1/tenants/:tenant/inventory',
    {
      config: { access: 'write' },
      // A tenant outside the caller's scope is a 404 before the body is validated.
      preValidation: async (request) => request.scope.require((request.params as { tenant: string }).tenant),
      schema: {
        tags: ['assets'],
        summary:
          "Upload one machine's full inventory from an RMM script: the Windows collector document with asset_id (the id the script keeps on the machine), or facts; registers or replaces that asset's facts with source rmm and re-judges it",
        params: TenantParams,
        body: InventoryUploadBody,
        response: { 200: InventoryUploadResult, 400: ErrorBody, 404: ErrorBody },
      },
    },
    async (request) =>
      inventory.applyUpload(request.scope, request.params.tenant, request.body, actorFor(request)),
  );
}
