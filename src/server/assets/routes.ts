/** Assets registered from their facts: list, push, read, replace, remove. */
import { Type } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import {
  Asset,
  AssetFacts,
  AssetListQuery,
  AssetPage,
  AssetParams,
  AssetPushBody,
  AssetPushQuery,
  AssetPutQuery,
  ErrorBody,
  MAX_ASSETS_PER_PUSH,
  PutResult,
  TenantParams,
} from '../../api/index.js';
import { type AppContext, actorFor, typed } from '../context.js';
import { badRequest } from '../errors.js';

export async function assetRoutes(fastify: FastifyInstance, ctx: AppContext): Promise<void> {
  const app = typed(fastify);
  const { assets } = ctx;

  app.get(
    '/api/v1/tenants/:tenant/assets',
    {
      config: { access: 'read' },
      schema: {
        tags: ['assets'],
        summary:
          "A tenant's assets, filtered by text, product, site, or exposure (advisory and verdict); keyset-paged with cursor (next_cursor, prev_cursor)",
        params: TenantParams,
        querystring: AssetListQuery,
        response: { 200: AssetPage, 400: ErrorBody },
      },
    },
    async (request) => assets.list(request.scope, request.params.tenant, request.query),
  );

  app.post(
    '/api/v1/tenants/:tenant/assets',
    {
      config: { access: 'write' },
      schema: {
        tags: ['assets'],
        summary: `Register or update up to ${MAX_ASSETS_PER_PUSH} assets from their facts (a facts file's { assets: [...] }); only changed assets are re-judged`,
        params: TenantParams,
        querystring: AssetPushQuery,
        body: AssetPushBody,
        response: { 200: PutResult, 400: ErrorBody },
      },
    },
    async (request) => {
      const q = request.query;
      return assets.put(
        request.scope,
        request.params.tenant,
        request.body.assets,
        { source: q.source ?? 'api', site: q.site, merge: q.merge === 'observed' },
        actorFor(request),
      );
    },
  );

  app.get(
    '/api/v1/tenants/:tenant/assets/:asset',
    {
      config: { access: 'read' },
      schema: {
        tags: ['assets'],
        summary: 'One asset with its facts',
        params: AssetParams,
        response: { 200: Asset, 404: ErrorBody },
      },
    },
    async (request) => assets.get(request.scope, request.params.tenant, request.params.asset),
  );

  app.put(
    '/api/v1/tenants/:tenant/assets/:asset',
    {
      config: { access: 'write' },
      schema: {
        tags: ['assets'],
        summary: "Register or replace one asset's facts; findings are recomputed when they changed",
        params: AssetParams,
        querystring: AssetPutQuery,
        body: AssetFacts,
        response: { 200: PutResult, 400: ErrorBody },
      },
    },
    async (request) => {
      const p = request.params;
      const facts = request.body;
      if (facts.id !== p.asset) {
        throw badRequest(`body.id: "${facts.id}" must equal the asset id in the URL (${p.asset})`);
      }
      return assets.put(
        request.scope,
        p.tenant,
        [facts],
        { source: request.query.source ?? 'api', site: request.query.site },
        actorFor(request),
      );
    },
  );

  app.delete(
    '/api/v1/tenants/:tenant/assets/:asset',
    {
      config: { access: 'write' },
      schema: {
        tags: ['assets'],
        summary: 'Remove an asset and its findings',
        params: AssetParams,
        response: { 204: Type.Null(), 404: ErrorBody },
      },
    },
    async (request, reply) => {
      await assets.delete(request.scope, request.params.tenant, request.params.asset, actorFor(request));
      return reply.status(204).send(null);
    },
  );
}
