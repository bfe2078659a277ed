/** Response state: recording observations and hunt reports, and the board (per advisory, tenant and asset). */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import {
  AssetParams,
  AssetResponseDetail,
  AssetResponseQuery,
  Board,
  BoardAssets,
  BoardAssetsQuery,
  BoardParams,
  BoardQuery,
  BoardTenantParams,
  ErrorBody,
  HuntReportsBody,
  HuntReportsResult,
  MAX_OBSERVATIONS_PER_REQUEST,
  ObservationsBody,
  ObservationsResult,
  TenantParams,
} from '../../api/index.js';
import { type AppContext, actorFor, typed } from '../context.js';

/**
 * A tenant outside the caller's scope is a 404 before the request is validated: a body or query error must not
 * answer for a tenant that is not the caller's to see.
 */
async function tenantInScope(request: FastifyRequest): Promise<void> {
  request.scope.require((request.params as { tenant: string }).tenant);
}

export async function responseRoutes(fastify: FastifyInstance, ctx: AppContext): Promise<void> {
  const app = typed(fastify);
  const { response } = ctx;

  app.post(
    '/api/v1/tenants/:tenant/observations',
    {
      config: { access: 'write' },
      preValidation: tenantInScope,
      schema: {
        tags: ['response'],
        summary: `Record up to ${MAX_OBSERVATIONS_PER_REQUEST} observations of assets' shield, compromise or patch state for an advisory; the newest observation of a kind is the asset's answer`,
        params: TenantParams,
        body: ObservationsBody,
        response: { 200: ObservationsResult, 400: ErrorBody, 404: ErrorBody },
      },
    },
    async (request) =>
      response.record(request.scope, request.params.tenant, request.body.observations, actorFor(request)),
  );

  app.post(
    '/api/v1/tenants/:tenant/hunt-reports',
    {
      config: { access: 'write' },
      preValidation: tenantInScope,
      schema: {
        tags: ['response'],
        summary:
          "Upload a hunt's host reports for an advisory: hosts are matched to assets by id, name or address and recorded as compromise observations; unmatched hosts come back with the reason",
        params: TenantParams,
        body: HuntReportsBody,
        response: { 200: HuntReportsResult, 400: ErrorBody, 404: ErrorBody },
      },
    },
    async (request) =>
      response.huntReports(request.scope, request.params.tenant, request.body, actorFor(request)),
  );

  app.get(
    '/api/v1/advisories/:advisory/board',
    {
      config: { access: 'read' },
      schema: {
        tags: ['response'],
        summary:
          'The response board of an advisory: per tenant, assets exposed, shielded, compromised, patched (totals over the tenants you see)',
        params: BoardParams,
        querystring: BoardQuery,
        response: { 200: Board, 400: ErrorBody, 404: ErrorBody },
      },
    },
    async (request) => response.board(request.scope, request.params.advisory, request.query),
  );

  app.get(
    '/api/v1/advisories/:advisory/board/tenants/:tenant/assets',
    {
      config: { access: 'read' },
      preValidation: tenantInScope,
      schema: {
        tags: ['response'],
        summary:
          "A tenant's assets on an advisory's board with their four answers, worst first (keyset pages)",
        params: BoardTenantParams,
        querystring: BoardAssetsQuery,
        response: { 200: BoardAssets, 400: ErrorBody, 404: ErrorBody },
      },
    },
    async (request) =>
      response.boardAssets(request.scope, request.params.advisory, request.params.tenant, request.query),
  );

  app.get(
    '/api/v1/tenants/:tenant/assets/:asset/response',
    {
      config: { access: 'read' },
      preValidation: tenantInScope,
      schema: {
        tags: ['response'],
        summary:
          "An asset's four answers per advisory with their evidence, and its observations (newest first)",
        params: AssetParams,
        querystring: AssetResponseQuery,
        response: { 200: AssetResponseDetail, 404: ErrorBody },
      },
    },
    async (request) =>
      response.assetResponse(
        request.scope,
        request.params.tenant,
        request.params.asset,
        request.query.advisory,
      ),
  );
}
