/** Health, readiness, metrics and the OpenAPI description. */
import type { FastifyInstance } from 'fastify';
import { Health, ReadyState } from '../../api/index.js';
import { sameSecret } from '../auth/secrets.js';
import { listensOnLoopbackOnly } from '../config.js';
import { type AppContext, typed } from '../context.js';
import { forbidden, unauthorized } from '../errors.js';
import { checkReady } from './readiness.js';

export async function systemRoutes(fastify: FastifyInstance, ctx: AppContext): Promise<void> {
  const app = typed(fastify);
  app.get(
    '/health',
    {
      config: { access: 'public' },
      schema: {
        tags: ['operations'],
        summary: 'Liveness: the process answers',
        response: { 200: Health },
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
          200: ReadyState,
          503: ReadyState,
        },
      },
    },
    async (request, reply) => {
      const state = await checkReady(ctx, request.log);
      return reply.status(state.ready ? 200 : 503).send(state);
    },
  );

  app.get(
    '/metrics',
    {
      config: { access: 'public' },
      schema: {
        tags: ['operations'],
        summary:
          'Prometheus metrics: Bearer metrics_token when configured; without one, only on a loopback listen address unless metrics_public',
        hide: false,
      },
    },
    async (request, reply) => {
      const token = ctx.config.metrics_token;
      if (token) {
        const sent = /^Bearer\s+(\S+)$/i.exec(request.headers.authorization ?? '')?.[1] ?? '';
        if (!sameSecret(sent, token)) throw unauthorized('send Authorization: Bearer <metrics_token>');
      } else if (!ctx.config.metrics_public && !listensOnLoopbackOnly(ctx.config.host)) {
        // Metrics (routes, request counts, process details) are for this machine: off loopback they need the
        // token, or an explicit opt-in.
        throw forbidden(
          `/metrics is closed: the server listens on ${ctx.config.host}, beyond this machine; set metrics_token ` +
            '(then send Authorization: Bearer <metrics_token>), or metrics_public: true to open it',
        );
      }
      return reply.type(ctx.metrics.registry.contentType).send(await ctx.metrics.registry.metrics());
    },
  );

  app.get(
    '/api/openapi.json',
    {
      config: { access: 'public' },
      schema: { tags: ['operations'], summary: 'This API as OpenAPI 3.1', hide: true },
    },
    async () => app.swagger(),
  );
}
