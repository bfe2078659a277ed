/** Findings: the list across the tenants you see, a finding's history, and its workflow status. */
import type { FastifyInstance } from 'fastify';
import {
  ErrorBody,
  Finding,
  FindingHistory,
  FindingListQuery,
  FindingParams,
  FindingStatusChange,
  pageOf,
} from '../../api/index.js';
import { type AppContext, actorFor, typed } from '../context.js';

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
        summary: "Set a finding's workflow status (open, acknowledged, accepted_risk) with a reason",
        params: FindingParams,
        body: FindingStatusChange,
        response: { 200: Finding, 404: ErrorBody },
      },
    },
    async (request) => {
      const p = request.params;
      return findings.setStatus(request.scope, p.tenant, p.asset, p.cve, request.body, actorFor(request));
    },
  );
}
