/** The audit log over HTTP: paging through the records and checking the hash chain. Administrators only. */
import type { FastifyInstance } from 'fastify';
import { AuditPage, AuditQuery, AuditVerification, AuditVerifyQuery, ErrorBody } from '../../api/index.js';
import { type AppContext, typed } from '../context.js';
import { pageAudit, verifyAudit } from './log.js';

export async function auditRoutes(fastify: FastifyInstance, ctx: AppContext): Promise<void> {
  const app = typed(fastify);
  app.get(
    '/api/v1/audit',
    {
      config: { access: 'admin' },
      schema: {
        tags: ['audit'],
        summary:
          'The audit log, oldest first (sort=-seq for newest first), keyset-paged with cursor (next_cursor, prev_cursor); after=<seq> lists only newer records, for polling',
        querystring: AuditQuery,
        response: { 200: AuditPage, 400: ErrorBody },
      },
    },
    async (request) => pageAudit(ctx.db.kysely, { ...request.query, tenantId: request.query.tenant }),
  );

  app.get(
    '/api/v1/audit/verify',
    {
      config: { access: 'admin' },
      schema: {
        tags: ['audit'],
        summary: 'Check the audit hash chain; with expect_head, also that no records were cut off the end',
        querystring: AuditVerifyQuery,
        response: { 200: AuditVerification },
      },
    },
    async (request) => {
      const v = await verifyAudit(ctx.db.kysely, { expectHead: request.query.expect_head });
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
