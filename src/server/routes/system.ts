/** Health, readiness, metrics, the audit log and the first-start setup page. */
import { Type } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import { type AppContext, checkReady } from '../app.js';
import { pageAudit, verifyAudit } from '../audit.js';
import { sameSecret } from '../auth/secrets.js';
import { listensOnLoopbackOnly } from '../config.js';
import { forbidden, unauthorized } from '../errors.js';
import { PageParams, pageOf } from './schemas.js';
import { SETUP_PAGE } from './setup-page.js';

const ReadyState = Type.Object({
  ready: Type.Boolean(),
  database: Type.Union([Type.Literal('ok'), Type.Literal('starting'), Type.Literal('unavailable')], {
    description: 'unavailable: the server log says why',
  }),
});

const AuditRecord = Type.Object({
  seq: Type.Integer(),
  at: Type.String(),
  actor: Type.String(),
  tenant_id: Type.Union([Type.String(), Type.Null()]),
  action: Type.String(),
  target: Type.String(),
  detail: Type.Object({}, { additionalProperties: true }),
  prev_hash: Type.String(),
  hash: Type.String(),
});

const AuditVerification = Type.Object({
  ok: Type.Boolean(),
  records: Type.Integer(),
  head: Type.String({ description: 'hash of the last record: keep it to detect truncation later' }),
  head_seq: Type.Integer(),
  problems: Type.Array(
    Type.Object({
      seq: Type.Integer(),
      kind: Type.Union(
        ['changed', 'missing', 'broken_link', 'out_of_order', 'head_not_found'].map((k) => Type.Literal(k)),
      ),
      problem: Type.String(),
    }),
  ),
  problems_omitted: Type.Integer(),
});

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
        // Security fix: metrics (routes, request counts, process details) were open to anyone who could reach a
        // server listening on 0.0.0.0. Off loopback they now need the token, or an explicit opt-in.
        throw forbidden(
          `/metrics is closed: the server listens on ${ctx.config.host}, beyond this machine; set metrics_token ` +
            '(then send Authorization: Bearer <metrics_token>), or metrics_public: true to open it',
        );
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
        summary:
          'The audit log, oldest first (sort=-seq for newest first); after=<seq> lists only newer records, for polling',
        querystring: Type.Object({
          ...PageParams,
          after: Type.Optional(Type.Integer({ minimum: 0, description: 'only records with a greater seq' })),
          tenant: Type.Optional(Type.String({ maxLength: 128 })),
        }),
        response: { 200: pageOf(AuditRecord) },
      },
    },
    async (request) => {
      const q = request.query as {
        after?: number;
        limit?: number;
        offset?: number;
        sort?: string;
        tenant?: string;
      };
      return pageAudit(ctx.db.kysely, { ...q, tenantId: q.tenant });
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
        response: { 200: AuditVerification },
      },
    },
    async (request) => {
      const v = await verifyAudit(ctx.db.kysely, {
        expectHead: (request.query as { expect_head?: string }).expect_head,
      });
      return {
        ok: v.ok,
        records: v.records,
        head: v.head,
        head_seq: v.headSeq,
        problems: v.problems,
        problems_omitted: v.problemsOmitted,
      };
    },
  );
}
