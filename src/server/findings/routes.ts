/**
 * Findings: the list across the tenants you see, one finding (with its ETag), its history, its workflow status
 * (If-Match for a change only if unchanged), and two-step bulk status changes (preview, then commit).
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import {
  BulkCommitBody,
  BulkCommitResult,
  BulkPreview,
  BulkPreviewBody,
  ErrorBody,
  Finding,
  FindingHistory,
  FindingListQuery,
  FindingParams,
  FindingStatusChange,
  pageOf,
  TenantParams,
} from '../../api/index.js';
import { type AppContext, actorFor, principalOf, typed } from '../context.js';
import type { Requester } from './service.js';

/** The principal a bulk confirmation is given to: the user (any of their sessions) or the API token. */
function requester(request: FastifyRequest): Requester {
  const p = principalOf(request);
  return {
    principal: p.kind === 'token' ? `token:${p.tokenId}` : `user:${p.userId}`,
    actor: actorFor(request),
  };
}

export async function findingRoutes(fastify: FastifyInstance, ctx: AppContext): Promise<void> {
  const app = typed(fastify);
  const { findings } = ctx;

  app.get(
    '/api/v1/findings',
    {
      config: { access: 'read' },
      schema: {
        tags: ['findings'],
        summary:
          'Findings (asset x CVE verdicts with provenance) across the tenants you see, filtered and sorted',
        querystring: FindingListQuery,
        response: { 200: pageOf(Finding) },
      },
    },
    async (request) => findings.list(request.scope, request.query),
  );

  app.get(
    '/api/v1/tenants/:tenant/assets/:asset/findings/:cve',
    {
      config: { access: 'read' },
      schema: {
        tags: ['findings'],
        summary: 'One finding; its ETag header (and etag field) is the version If-Match compares',
        params: FindingParams,
        response: { 200: Finding, 404: ErrorBody },
      },
    },
    async (request, reply) => {
      const p = request.params;
      const f = await findings.get(request.scope, p.tenant, p.asset, p.cve);
      reply.header('etag', `"${f.etag}"`);
      return f;
    },
  );

  app.get(
    '/api/v1/tenants/:tenant/assets/:asset/findings/:cve/history',
    {
      config: { access: 'read' },
      schema: {
        tags: ['findings'],
        summary: "A finding's history: every verdict and status change, oldest first",
        params: FindingParams,
        response: { 200: FindingHistory },
      },
    },
    async (request) => {
      const p = request.params;
      return findings.history(request.scope, p.tenant, p.asset, p.cve);
    },
  );

  app.patch(
    '/api/v1/tenants/:tenant/assets/:asset/findings/:cve',
    {
      config: { access: 'write' },
      schema: {
        tags: ['findings'],
        summary:
          "Set a finding's workflow status (open, acknowledged, accepted_risk) with a reason; with If-Match: <etag>, only if the finding is unchanged (else 412)",
        params: FindingParams,
        body: FindingStatusChange,
        response: { 200: Finding, 404: ErrorBody, 412: ErrorBody },
      },
    },
    async (request, reply) => {
      const p = request.params;
      const ifMatch = request.headers['if-match'];
      const f = await findings.setStatus(
        request.scope,
        p.tenant,
        p.asset,
        p.cve,
        request.body,
        actorFor(request),
        typeof ifMatch === 'string' ? ifMatch : undefined,
      );
      reply.header('etag', `"${f.etag}"`);
      return f;
    },
  );

  app.post(
    '/api/v1/tenants/:tenant/findings/bulk/preview',
    {
      config: { access: 'write' },
      schema: {
        tags: ['findings'],
        summary:
          'Bulk status change, step one: how many findings the filter selects and the confirmation (token) to commit exactly those; an empty filter is refused unless "all": true',
        params: TenantParams,
        body: BulkPreviewBody,
        response: { 200: BulkPreview, 400: ErrorBody, 404: ErrorBody },
      },
    },
    async (request) =>
      findings.bulkPreview(request.scope, request.params.tenant, request.body, requester(request)),
  );

  app.post(
    '/api/v1/tenants/:tenant/findings/bulk/commit',
    {
      config: { access: 'write' },
      schema: {
        tags: ['findings'],
        summary:
          'Bulk status change, step two: applies the preview to exactly the findings it matched; 409 "stale: preview again" (nothing changes) when they changed, the confirmation expired or was used',
        params: TenantParams,
        body: BulkCommitBody,
        response: { 200: BulkCommitResult, 400: ErrorBody, 403: ErrorBody, 404: ErrorBody, 409: ErrorBody },
      },
    },
    async (request) =>
      findings.bulkCommit(request.scope, request.params.tenant, request.body.token, requester(request)),
  );
}
