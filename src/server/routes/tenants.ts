/** Tenants (customers), their sites, assets with facts, per-asset findings and finding status. */
import { Type } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import type { AppContext } from '../app.js';
import { actorOf } from '../auth/principal.js';
import { MAX_ASSETS_PER_PUSH } from '../data/scoped.js';
import { badRequest } from '../errors.js';
import {
  Asset,
  AssetFacts,
  AssetSummary,
  ErrorBody,
  Finding,
  FindingStatus,
  Id,
  PageParams,
  pageOf,
  Site,
  Tenant,
  VerdictName,
} from './schemas.js';

const TenantParams = Type.Object({ tenant: Id });
const AssetParams = Type.Object({ tenant: Id, asset: Id });
const PutResult = Type.Object({
  results: Type.Array(Type.Object({ id: Type.String(), outcome: Type.String() })),
  findings_written: Type.Integer(),
});

type TP = { tenant: string };
type AP = { tenant: string; asset: string };

export async function tenantRoutes(app: FastifyInstance, _ctx: AppContext): Promise<void> {
  const actor = (request: { principal?: Parameters<typeof actorOf>[0] }) => ({
    name: actorOf(request.principal!),
  });

  app.get(
    '/api/v1/tenants',
    {
      config: { access: 'read' },
      schema: {
        tags: ['tenants'],
        summary: 'Tenants you can see (customer users: their own)',
        querystring: Type.Object({ ...PageParams, q: Type.Optional(Type.String({ maxLength: 200 })) }),
        response: { 200: pageOf(Tenant) },
      },
    },
    async (request) => request.data.listTenants(request.query as { q?: string }),
  );

  app.post(
    '/api/v1/tenants',
    {
      config: { access: 'admin' },
      schema: {
        tags: ['tenants'],
        summary: 'Create a tenant',
        body: Type.Object(
          { id: Id, name: Type.String({ minLength: 1, maxLength: 200 }) },
          { additionalProperties: false },
        ),
        response: { 201: Tenant, 409: ErrorBody },
      },
    },
    async (request, reply) =>
      reply
        .status(201)
        .send(await request.data.createTenant(request.body as { id: string; name: string }, actor(request))),
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
    async (request) => request.data.requireTenant((request.params as TP).tenant),
  );

  app.patch(
    '/api/v1/tenants/:tenant',
    {
      config: { access: 'admin' },
      schema: {
        tags: ['tenants'],
        summary: 'Rename a tenant',
        params: TenantParams,
        body: Type.Object(
          { name: Type.String({ minLength: 1, maxLength: 200 }) },
          { additionalProperties: false },
        ),
        response: { 200: Tenant, 404: ErrorBody },
      },
    },
    async (request) =>
      request.data.updateTenant(
        (request.params as TP).tenant,
        request.body as { name: string },
        actor(request),
      ),
  );

  app.delete(
    '/api/v1/tenants/:tenant',
    {
      config: { access: 'admin' },
      schema: {
        tags: ['tenants'],
        summary: 'Delete a tenant and everything it holds; ?confirm= must repeat the tenant id',
        params: TenantParams,
        querystring: Type.Object({
          confirm: Type.Optional(
            Type.String({
              maxLength: 128,
              description: 'the tenant id again: nothing is deleted without it',
            }),
          ),
        }),
        response: { 204: Type.Null(), 400: ErrorBody, 404: ErrorBody },
      },
    },
    async (request, reply) => {
      const tenant = (request.params as TP).tenant;
      // Safety: one request used to remove a customer with all its sites, assets and findings for good. The id
      // repeated in ?confirm= makes that a deliberate act (a mistyped or replayed URL does not delete anything).
      if ((request.query as { confirm?: string }).confirm !== tenant) {
        await request.data.requireTenant(tenant);
        throw badRequest(
          `confirm: deleting tenant ${tenant} removes its sites, assets, findings and history for good; ` +
            `repeat its id to confirm: DELETE /api/v1/tenants/${tenant}?confirm=${tenant}`,
        );
      }
      await request.data.deleteTenant(tenant, actor(request));
      return reply.status(204).send();
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
    async (request) => request.data.listSites((request.params as TP).tenant),
  );

  app.post(
    '/api/v1/tenants/:tenant/sites',
    {
      config: { access: 'write' },
      schema: {
        tags: ['tenants'],
        summary: 'Create a site',
        params: TenantParams,
        body: Type.Object(
          { id: Id, name: Type.String({ minLength: 1, maxLength: 200 }) },
          { additionalProperties: false },
        ),
        response: { 201: Site, 409: ErrorBody },
      },
    },
    async (request, reply) =>
      reply
        .status(201)
        .send(
          await request.data.createSite(
            (request.params as TP).tenant,
            request.body as { id: string; name: string },
            actor(request),
          ),
        ),
  );

  app.get(
    '/api/v1/tenants/:tenant/assets',
    {
      config: { access: 'read' },
      schema: {
        tags: ['assets'],
        summary: "A tenant's assets, filtered by text, product, site, or exposure (advisory and verdict)",
        params: TenantParams,
        querystring: Type.Object({
          ...PageParams,
          q: Type.Optional(Type.String({ maxLength: 200 })),
          product: Type.Optional(Type.String({ maxLength: 200 })),
          site: Type.Optional(Id),
          advisory: Type.Optional(Type.String({ maxLength: 200 })),
          verdict: Type.Optional(VerdictName),
        }),
        response: { 200: pageOf(AssetSummary) },
      },
    },
    async (request) => request.data.listAssets((request.params as TP).tenant, request.query as object),
  );

  app.post(
    '/api/v1/tenants/:tenant/assets',
    {
      config: { access: 'write' },
      schema: {
        tags: ['assets'],
        summary: `Register or update up to ${MAX_ASSETS_PER_PUSH} assets from their facts (a facts file's { assets: [...] }); only changed assets are re-judged`,
        params: TenantParams,
        querystring: Type.Object({
          source: Type.Optional(Type.String({ maxLength: 40 })),
          site: Type.Optional(Id),
          merge: Type.Optional(
            Type.Literal('observed', {
              description:
                "the facts are what a remote scan observed: merged into an existing asset (its products seen, endpoints, the source's tags) instead of replacing its facts",
            }),
          ),
        }),
        body: Type.Object(
          { assets: Type.Array(AssetFacts, { maxItems: MAX_ASSETS_PER_PUSH }) },
          { additionalProperties: false },
        ),
        response: { 200: PutResult, 400: ErrorBody },
      },
    },
    async (request) => {
      const q = request.query as { source?: string; site?: string; merge?: 'observed' };
      const body = request.body as { assets: unknown[] };
      return request.data.putAssets(
        (request.params as TP).tenant,
        body.assets,
        { source: q.source ?? 'api', site: q.site, merge: q.merge === 'observed' },
        actor(request),
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
    async (request) => {
      const p = request.params as AP;
      return request.data.getAsset(p.tenant, p.asset);
    },
  );

  app.put(
    '/api/v1/tenants/:tenant/assets/:asset',
    {
      config: { access: 'write' },
      schema: {
        tags: ['assets'],
        summary: "Register or replace one asset's facts; findings are recomputed when they changed",
        params: AssetParams,
        querystring: Type.Object({
          source: Type.Optional(Type.String({ maxLength: 40 })),
          site: Type.Optional(Id),
        }),
        body: AssetFacts,
        response: { 200: PutResult, 400: ErrorBody },
      },
    },
    async (request) => {
      const p = request.params as AP;
      const q = request.query as { source?: string; site?: string };
      const facts = request.body as { id?: string };
      if (facts.id !== p.asset) {
        throw badRequest(`body.id: "${facts.id}" must equal the asset id in the URL (${p.asset})`);
      }
      return request.data.putAssets(
        p.tenant,
        [facts],
        { source: q.source ?? 'api', site: q.site },
        actor(request),
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
      const p = request.params as AP;
      await request.data.deleteAsset(p.tenant, p.asset, actor(request));
      return reply.status(204).send();
    },
  );

  app.get(
    '/api/v1/tenants/:tenant/assets/:asset/exposure',
    {
      config: { access: 'read' },
      schema: {
        tags: ['exposure'],
        summary: "An asset's verdict per advisory and its findings with provenance",
        params: AssetParams,
        response: {
          200: Type.Object({
            tenant: Type.String(),
            asset: Type.String(),
            advisories: Type.Array(
              Type.Object({ advisory_id: Type.String(), verdict: Type.String(), updated_at: Type.String() }),
            ),
            findings: Type.Array(Finding),
          }),
          404: ErrorBody,
        },
      },
    },
    async (request) => {
      const p = request.params as AP;
      return request.data.assetExposure(p.tenant, p.asset);
    },
  );

  const FindingParams = Type.Object({
    tenant: Id,
    asset: Id,
    cve: Type.String({ pattern: '^[Cc][Vv][Ee]-\\d{4}-\\d{4,}$' }),
  });
  type FP = AP & { cve: string };

  app.get(
    '/api/v1/tenants/:tenant/assets/:asset/findings/:cve/history',
    {
      config: { access: 'read' },
      schema: {
        tags: ['findings'],
        summary: "A finding's history: every verdict and status change, oldest first",
        params: FindingParams,
        response: {
          200: Type.Array(
            Type.Object({
              seq: Type.Integer(),
              at: Type.String(),
              kind: Type.String(),
              from_value: Type.Union([Type.String(), Type.Null()]),
              to_value: Type.String(),
              reason: Type.String(),
              actor: Type.String(),
            }),
          ),
        },
      },
    },
    async (request) => {
      const p = request.params as FP;
      return request.data.findingHistory(p.tenant, p.asset, p.cve);
    },
  );

  app.patch(
    '/api/v1/tenants/:tenant/assets/:asset/findings/:cve',
    {
      config: { access: 'write' },
      schema: {
        tags: ['findings'],
        summary: "Set a finding's workflow status (open, acknowledged, accepted_risk) with a reason",
        params: FindingParams,
        body: Type.Object(
          { status: FindingStatus, reason: Type.String({ minLength: 1, maxLength: 2000 }) },
          { additionalProperties: false },
        ),
        response: { 200: Finding, 404: ErrorBody },
      },
    },
    async (request) => {
      const p = request.params as FP;
      return request.data.setFindingStatus(
        p.tenant,
        p.asset,
        p.cve,
        request.body as { status: string; reason: string },
        actor(request),
      );
    },
  );
}
