/** Health, readiness, metrics, the audit log and the first-start setup page. */
import { Type } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import { type AppContext, checkReady } from '../app.js';
import { listAudit, verifyAudit } from '../audit.js';
import { sameSecret } from '../auth/secrets.js';
import { unauthorized } from '../errors.js';
import { SETUP_PAGE } from './setup-page.js';

export async function systemRoutes(app: FastifyInstance, ctx: AppContext): Promise<void> {
  app.get(
    '/health',
    {
      config: { access: 'public' },
      schema: {
        tags: ['operations'],
        summary: 'Liveness: the process answers',
        response: { 200: Type.Object({ status: Type.Literal('ok') }) },
      },
    },
    async () => ({ status: 'ok' as const }),
  );

  app.get(
    '/ready',
    {
      config: { access: 'public' },
      schema: {
        tags: ['operations'],
        summary: 'Readiness: migrations ran, built-in advisories are loaded and the database answers',
        response: {
          200: Type.Object({ ready: Type.Boolean(), database: Type.String() }),
          503: Type.Object({ ready: Type.Boolean(), database: Type.String() }),
        },
      },
    },
    async (_request, reply) => {
      const state = await checkReady(ctx);
      return reply.status(state.ready ? 200 : 503).send(state);
    },
  );

  app.get(
    '/metrics',
    {
      config: { access: 'public' },
      schema: {
        tags: ['operations'],
        summary: 'Prometheus metrics (Bearer metrics_token when configured)',
        hide: false,
      },
    },
    async (request, reply) => {
      const token = ctx.config.metrics_token;
      if (token) {
        const sent = /^Bearer\s+(\S+)$/i.exec(request.headers.authorization ?? '')?.[1] ?? '';
        if (!sameSecret(sent, token)) throw unauthorized('send Authorization: Bearer <metrics_token>');
      }
      return reply.type(ctx.metrics.registry.contentType).send(await ctx.metrics.registry.metrics());
    },
  );

  app.get(
    '/setup',
    {
      config: { access: 'public' },
      schema: {
        tags: ['session'],
        summary: 'First-start page to create the administrator (token in the URL fragment)',
        hide: true,
      },
    },
    async (_request, reply) =>
      reply
        .type('text/html; charset=utf-8')
        .header(
          'content-security-policy',
          "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self'; form-action 'none'; frame-ancestors 'none'",
        )
        .header('referrer-policy', 'no-referrer')
        .send(SETUP_PAGE),
  );

  app.get('/', { config: { access: 'public' }, schema: { hide: true } }, async (_request, reply) =>
    reply.redirect('/api/docs'),
  );

  app.get(
    '/api/openapi.json',
    {
      config: { access: 'public' },
      schema: { tags: ['operations'], summary: 'This API as OpenAPI 3.1', hide: true },
    },
    async () => app.swagger(),
  );

  app.get(
    '/api/v1/audit',
    {
      config: { access: 'admin' },
      schema: {
        tags: ['audit'],
        summary: 'The audit log, oldest first; page with after=<last seq>',
        querystring: Type.Object({
          after: Type.Optional(Type.Integer({ minimum: 0 })),
          limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000 })),
          tenant: Type.Optional(Type.String({ maxLength: 128 })),
        }),
      },
    },
    async (request) => {
      const q = request.query as { after?: number; limit?: number; tenant?: string };
      return listAudit(ctx.db.kysely, { limit: q.limit ?? 100, after: q.after, tenantId: q.tenant });
    },
  );

  app.get(
    '/api/v1/audit/verify',
    {
      config: { access: 'admin' },
      schema: {
        tags: ['audit'],
        summary: 'Check the audit hash chain; with expect_head, also that no records were cut off the end',
        querystring: Type.Object({
          expect_head: Type.Optional(Type.String({ pattern: '^[0-9a-fA-F]{64}$' })),
        }),
      },
    },
    async (request) =>
      verifyAudit(ctx.db.kysely, { expectHead: (request.query as { expect_head?: string }).expect_head }),
  );
}
