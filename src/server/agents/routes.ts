/** Agents over REST: enrolment tokens, enrolment, the agent list and identity, revocation, agent jobs, fan-out. */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import {
  Agent,
  AgentFanOutBody,
  AgentJob,
  AgentJobCreate,
  AgentJobCreated,
  AgentJobListQuery,
  AgentJobPage,
  AgentJobParams,
  AgentListQuery,
  AgentPage,
  AgentParams,
  AgentRevokeBody,
  AgentToken,
  AgentTokenCreate,
  AgentTokenCreated,
  AgentTokenList,
  AgentTokenParams,
  EnrollBody,
  EnrollResult,
  ErrorBody,
  Job,
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

export async function agentRoutes(fastify: FastifyInstance, ctx: AppContext): Promise<void> {
  const app = typed(fastify);
  const { agents } = ctx;
  const tags = ['agents'];

  app.post(
    '/api/v1/tenants/:tenant/agent-tokens',
    {
      config: { access: 'write' },
      preValidation: tenantInScope,
      schema: {
        tags,
        summary: 'Create an enrolment token for the tenant (and a site): shown once in this answer',
        params: TenantParams,
        body: AgentTokenCreate,
        response: { 201: AgentTokenCreated, 400: ErrorBody, 404: ErrorBody },
      },
    },
    async (request, reply) => {
      const created = await agents.tokens.create(
        request.scope,
        request.params.tenant,
        request.body,
        actorFor(request),
      );
      return reply.code(201).send(created);
    },
  );

  app.get(
    '/api/v1/tenants/:tenant/agent-tokens',
    {
      config: { access: 'read' },
      preValidation: tenantInScope,
      schema: {
        tags,
        summary: "The tenant's enrolment tokens (newest first, at most 1000), without their secrets",
        params: TenantParams,
        response: { 200: AgentTokenList, 404: ErrorBody },
      },
    },
    async (request) => ({ items: await agents.tokens.list(request.scope, request.params.tenant) }),
  );

  app.delete(
    '/api/v1/tenants/:tenant/agent-tokens/:token',
    {
      config: { access: 'write' },
      preValidation: tenantInScope,
      schema: {
        tags,
        summary: 'Revoke an enrolment token: no further enrolment with it',
        params: AgentTokenParams,
        response: { 200: AgentToken, 404: ErrorBody },
      },
    },
    async (request) =>
      agents.tokens.revoke(request.scope, request.params.tenant, request.params.token, actorFor(request)),
  );

  app.post(
    '/api/v1/agents/enroll',
    {
      config: {
        access: 'public',
        rateLimit: { max: ctx.config.agent_enroll_rate, timeWindow: 1000, cache: 20_000 },
      },
      schema: {
        tags,
        summary:
          'Enrol an agent with an enrolment token and proof that it holds its key; answers its device certificate and the keys that sign its jobs',
        body: EnrollBody,
        response: { 201: EnrollResult, 400: ErrorBody, 401: ErrorBody, 409: ErrorBody, 429: ErrorBody },
      },
    },
    async (request, reply) => reply.code(201).send(await agents.enroll.enroll(request.body)),
  );

  app.get(
    '/api/v1/tenants/:tenant/agents',
    {
      config: { access: 'read' },
      preValidation: tenantInScope,
      schema: {
        tags,
        summary: "A tenant's agents, filtered by site, state and online; keyset-paged with cursor",
        params: TenantParams,
        querystring: AgentListQuery,
        response: { 200: AgentPage, 400: ErrorBody, 404: ErrorBody },
      },
    },
    async (request) => agents.agents.list(request.scope, request.params.tenant, request.query),
  );

  app.get(
    '/api/v1/tenants/:tenant/agents/:agent',
    {
      config: { access: 'read' },
      preValidation: tenantInScope,
      schema: {
        tags,
        summary: "One agent's identity (key fingerprint, certificate), state, presence and inventory",
        params: AgentParams,
        response: { 200: Agent, 404: ErrorBody },
      },
    },
    async (request) => agents.agents.get(request.scope, request.params.tenant, request.params.agent),
  );

  app.post(
    '/api/v1/tenants/:tenant/agents/:agent/revoke',
    {
      config: { access: 'write' },
      schema: {
        tags,
        summary:
          'Revoke an agent: its certificates are revoked, its pending jobs cancelled, its channel closed at its next message',
        params: AgentParams,
        body: AgentRevokeBody,
        response: { 200: Agent, 400: ErrorBody, 404: ErrorBody },
      },
      // The body is optional: none reads as {}.
      preValidation: async (request) => {
        await tenantInScope(request);
        request.body ??= {};
      },
    },
    async (request) =>
      agents.agents.revoke(
        request.scope,
        request.params.tenant,
        request.params.agent,
        request.body?.reason,
        actorFor(request),
      ),
  );

  app.post(
    '/api/v1/tenants/:tenant/agent-jobs',
    {
      config: { access: 'write' },
      preValidation: tenantInScope,
      schema: {
        tags,
        summary:
          'Run a job on agents of the tenant (a list, or all: true): one signed envelope per agent, queued',
        params: TenantParams,
        body: AgentJobCreate,
        response: { 202: AgentJobCreated, 400: ErrorBody, 404: ErrorBody },
      },
    },
    async (request, reply) =>
      reply
        .code(202)
        .send(
          await agents.jobs.create(request.scope, request.params.tenant, request.body, actorFor(request)),
        ),
  );

  app.get(
    '/api/v1/tenants/:tenant/agent-jobs',
    {
      config: { access: 'read' },
      preValidation: tenantInScope,
      schema: {
        tags,
        summary:
          "A tenant's agent jobs, newest first, filtered by agent, state and kind; keyset-paged with cursor",
        params: TenantParams,
        querystring: AgentJobListQuery,
        response: { 200: AgentJobPage, 400: ErrorBody, 404: ErrorBody },
      },
    },
    async (request) => agents.jobs.list(request.scope, request.params.tenant, request.query),
  );

  app.get(
    '/api/v1/tenants/:tenant/agent-jobs/:job',
    {
      config: { access: 'read' },
      preValidation: tenantInScope,
      schema: {
        tags,
        summary: 'One agent job: its signed envelope, state, progress and signed result',
        params: AgentJobParams,
        response: { 200: AgentJob, 404: ErrorBody },
      },
    },
    async (request) => agents.jobs.get(request.scope, request.params.tenant, request.params.job),
  );

  app.post(
    '/api/v1/tenants/:tenant/agent-jobs/:job/cancel',
    {
      config: { access: 'write' },
      preValidation: tenantInScope,
      schema: {
        tags,
        summary: 'Cancel a queued or delivered agent job (409 otherwise); a later result for it is ignored',
        params: AgentJobParams,
        response: { 200: AgentJob, 404: ErrorBody, 409: ErrorBody },
      },
    },
    async (request) =>
      agents.jobs.cancel(request.scope, request.params.tenant, request.params.job, actorFor(request)),
  );

  app.post(
    '/api/v1/agent-jobs/fan-out',
    {
      config: { access: 'write' },
      schema: {
        tags,
        summary:
          'Run a job on every active agent matching a filter (tenants, product) across tenants, as an agents.fan_out job',
        body: AgentFanOutBody,
        response: { 202: Job, 400: ErrorBody, 403: ErrorBody },
      },
    },
    async (request, reply) => {
      const job = await agents.jobs.fanOut(request.scope, request.body, actorFor(request));
      return reply.code(202).header('location', `/api/v1/jobs/${job.id}`).send(job);
    },
  );
}
