/**
 * Jobs over HTTP: list, show, cancel. Who sees which job:
 * - a tenant's job: principals whose scope covers that tenant (read to see it, write to cancel it);
 * - an installation-wide job (tenant_id null: advisory imports, maintenance): only principals that see every
 *   tenant, with read to see it and write to cancel it — the permissions that start such jobs. A tenant-scoped
 *   principal never learns that they exist: they read as 404 and are left out of lists.
 */
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { Job, JobIdParams, JobListQuery, JobPage } from '../../api/jobs.js';
import { conflict, notFound, unauthorized } from '../errors.js';
import type { JobQueue, JobScope } from './queue.js';

export interface JobRouteDeps {
  queue: JobQueue;
}

const ErrorBody = Type.Object({
  error: Type.String({ description: 'stable error code' }),
  message: Type.String({ description: 'what went wrong and what to do' }),
  details: Type.Optional(Type.Unknown()),
});

type Grant = { readonly all: true } | { readonly all: false; readonly tenantId: string };

/** The jobs a principal's tenant grant sees. */
export function jobScopeOf(grant: Grant): JobScope {
  return grant.all ? 'all' : [grant.tenantId];
}

function scopeOf(request: FastifyRequest): JobScope {
  const principal = request.principal;
  if (!principal) throw unauthorized();
  return jobScopeOf(principal.scope as Grant);
}

export async function jobRoutes(app: FastifyInstance, deps: JobRouteDeps): Promise<void> {
  const api = app.withTypeProvider<TypeBoxTypeProvider>();
  const { queue } = deps;

  api.get(
    '/api/v1/jobs',
    {
      config: { access: 'read' },
      schema: {
        tags: ['jobs'],
        summary: 'Jobs you can see, newest first; filter by state, kind or tenant; page with ?after=',
        querystring: JobListQuery,
        response: { 200: JobPage, 400: ErrorBody },
      },
    },
    async (request) => {
      const q = request.query;
      return queue.list({
        scope: scopeOf(request),
        state: q.state,
        kind: q.kind,
        tenant: q.tenant,
        limit: q.limit,
        offset: q.offset,
        after: q.after,
      });
    },
  );

  api.get(
    '/api/v1/jobs/:id',
    {
      config: { access: 'read' },
      schema: {
        tags: ['jobs'],
        summary: 'One job: its state, progress, attempts and outcome',
        params: JobIdParams,
        response: { 200: Job, 404: ErrorBody },
      },
    },
    async (request) => {
      const job = await queue.get(request.params.id, scopeOf(request));
      if (!job) throw notFound(`job ${request.params.id}`);
      return job;
    },
  );

  api.post(
    '/api/v1/jobs/:id/cancel',
    {
      config: { access: 'write' },
      schema: {
        tags: ['jobs'],
        summary:
          'Cancel a job: a queued job ends cancelled at once; a running job is asked to stop (cancel_requested) and ends cancelled',
        params: JobIdParams,
        response: { 200: Job, 404: ErrorBody, 409: ErrorBody },
      },
    },
    async (request) => {
      const id = request.params.id;
      const job = await queue.cancel(id, scopeOf(request));
      if (!job) throw notFound(`job ${id}`);
      if (job.state !== 'cancelled' && job.state !== 'queued' && job.state !== 'running')
        throw conflict(`job ${id} already ended ${job.state}; there is nothing to cancel`);
      return job;
    },
  );
}
