/** Exposure: which tenants and assets an advisory affects right now, and the evaluation runs. */
import { Type } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import {
  AdvisoryExposure,
  AdvisoryParams,
  AssetExposure,
  AssetParams,
  ErrorBody,
  ExposureRun,
  RunsQuery,
  TenantExposure,
  TenantParams,
} from '../../api/index.js';
import { type AppContext, typed } from '../context.js';

export async function exposureRoutes(fastify: FastifyInstance, ctx: AppContext): Promise<void> {
  const app = typed(fastify);
  const { exposure } = ctx;

  app.get(
    '/api/v1/advisories/:id/exposure',
    {
      config: { access: 'read' },
      schema: {
        tags: ['exposure'],
        summary:
          'Which of my customers are exposed to this advisory, right now: assets by verdict, in total and per tenant',
        params: AdvisoryParams,
        response: { 200: AdvisoryExposure, 404: ErrorBody },
      },
    },
    async (request) => exposure.advisoryExposure(request.scope, request.params.id),
  );

  app.get(
    '/api/v1/tenants/:tenant/exposure',
    {
      config: { access: 'read' },
      schema: {
        tags: ['exposure'],
        summary: "A tenant's assets by verdict for every advisory that touches it",
        params: TenantParams,
        response: { 200: TenantExposure, 404: ErrorBody },
      },
    },
    async (request) => exposure.tenantExposure(request.scope, request.params.tenant),
  );

  app.get(
    '/api/v1/tenants/:tenant/assets/:asset/exposure',
    {
      config: { access: 'read' },
      schema: {
        tags: ['exposure'],
        summary: "An asset's verdict per advisory and its findings with provenance",
        params: AssetParams,
        response: { 200: AssetExposure, 404: ErrorBody },
      },
    },
    async (request) => exposure.assetExposure(request.scope, request.params.tenant, request.params.asset),
  );

  app.get(
    '/api/v1/exposure/runs',
    {
      config: { access: 'read' },
      schema: {
        tags: ['exposure'],
        summary: 'Recent advisory evaluations with their time to know (newest first)',
        querystring: RunsQuery,
        response: { 200: Type.Array(ExposureRun) },
      },
    },
    async (request) => exposure.runs(request.scope, request.query.limit ?? 50),
  );
}
