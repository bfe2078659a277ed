/** Tenants (customers) and their sites. */
import { Type } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import {
  ErrorBody,
  pageOf,
  Site,
  SiteCreate,
  Tenant,
  TenantCreate,
  TenantDeleteQuery,
  TenantListQuery,
  TenantParams,
  TenantRename,
} from '../../api/index.js';
import { type AppContext, actorFor, typed } from '../context.js';

export async function tenantRoutes(fastify: FastifyInstance, ctx: AppContext): Promise<void> {
  const app = typed(fastify);
  const { tenants } = ctx;

  app.get(
    '/api/v1/tenants',
    {
      config: { access: 'read' },
      schema: {
        tags: ['tenants'],
        summary: 'Tenants you can see (customer users: their own)',
        querystring: TenantListQuery,
        response: { 200: pageOf(Tenant) },
      },
    },
    async (request) => tenants.list(request.scope, request.query),
  );

  app.post(
    '/api/v1/tenants',
    {
      config: { access: 'admin' },
      schema: {
        tags: ['tenants'],
        summary: 'Create a tenant',
        body: TenantCreate,
        response: { 201: Tenant, 409: ErrorBody },
      },
    },
    async (request, reply) =>
      reply.status(201).send(await tenants.create(request.scope, request.body, actorFor(request))),
  );

  app.get(
    '/api/v1/tenants/:tenant',
    {
      config: { access: 'read' },
      schema: {
        tags: ['tenants'],
        summary: 'One tenant',
        params: TenantParams,
        response: { 200: Tenant, 404: ErrorBody },
      },
    },
    async (request) => tenants.get(request.scope, request.params.tenant),
  );

  app.patch(
    '/api/v1/tenants/:tenant',
    {
      config: { access: 'admin' },
      schema: {
        tags: ['tenants'],
        summary: 'Rename a tenant',
        params: TenantParams,
        body: TenantRename,
        response: { 200: Tenant, 404: ErrorBody },
      },
    },
    async (request) => tenants.rename(request.scope, request.params.tenant, request.body, actorFor(request)),
  );

  app.delete(
    '/api/v1/tenants/:tenant',
    {
      config: { access: 'admin' },
      schema: {
        tags: ['tenants'],
        summary: 'Delete a tenant and everything it holds; ?confirm= must repeat the tenant id',
        params: TenantParams,
        querystring: TenantDeleteQuery,
        response: { 204: Type.Null(), 400: ErrorBody, 404: ErrorBody },
      },
    },
    async (request, reply) => {
      await tenants.delete(request.scope, request.params.tenant, request.query.confirm, actorFor(request));
      return reply.status(204).send(null);
    },
  );

  app.get(
    '/api/v1/tenants/:tenant/sites',
    {
      config: { access: 'read' },
      schema: {
        tags: ['tenants'],
        summary: "A tenant's sites",
        params: TenantParams,
        response: { 200: Type.Array(Site) },
      },
    },
    async (request) => tenants.listSites(request.scope, request.params.tenant),
  );

  app.post(
    '/api/v1/tenants/:tenant/sites',
    {
      config: { access: 'write' },
      schema: {
        tags: ['tenants'],
        summary: 'Create a site',
        params: TenantParams,
        body: SiteCreate,
        response: { 201: Site, 409: ErrorBody },
      },
    },
    async (request, reply) =>
      reply
        .status(201)
        .send(
          await tenants.createSite(request.scope, request.params.tenant, request.body, actorFor(request)),
        ),
  );
}
