/** Advisories: list, read, and import from any supported feed format. */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import {
  AdvisoryDocument,
  AdvisoryListQuery,
  AdvisoryParams,
  AdvisorySummary,
  ErrorBody,
  ImportHeaders,
  ImportQuery,
  MAX_IMPORT_BYTES,
  pageOf,
} from '../../api/index.js';
import { Job } from '../../api/jobs.js';
import { type AppContext, actorFor, typed } from '../context.js';

/** Imports one user may send per minute (each stores advisories and queues a recompute); more answer 429. */
export const IMPORTS_PER_MINUTE = 60;

export async function advisoryRoutes(fastify: FastifyInstance, ctx: AppContext): Promise<void> {
  const app = typed(fastify);
  const { advisories } = ctx;
  // Advisory documents arrive as JSON (KEV, CVE 5, CSAF, OSV, Bulwark), XML (CVRF) or YAML (Bulwark packs).
  app.addContentTypeParser(
    ['application/xml', 'text/xml', 'application/yaml', 'application/x-yaml', 'text/yaml'],
    { parseAs: 'string', bodyLimit: MAX_IMPORT_BYTES },
    (_request, body, done) => done(null, body),
  );

  app.get(
    '/api/v1/advisories',
    {
      config: { access: 'read' },
      schema: {
        tags: ['advisories'],
        summary: 'Loaded advisories (built-in packs and imports)',
        querystring: AdvisoryListQuery,
        response: { 200: pageOf(AdvisorySummary) },
      },
    },
    async (request) => advisories.list(request.query),
  );

  app.get(
    '/api/v1/advisories/:id',
    {
      config: { access: 'read' },
      schema: {
        tags: ['advisories'],
        summary: 'One advisory document (the Bulwark advisory model; see docs/advisories.md)',
        params: AdvisoryParams,
        response: { 200: AdvisoryDocument, 404: ErrorBody },
      },
    },
    async (request) => advisories.get(request.params.id),
  );

  app.post(
    '/api/v1/advisories/import',
    {
      config: {
        access: 'write',
        // Counted per user after sign-in (route hooks run after the server's authentication), so a flood of
        // imports cannot queue recomputes without bound; anonymous requests never get this far.
        rateLimit: {
          max: IMPORTS_PER_MINUTE,
          timeWindow: 60_000,
          keyGenerator: (request: FastifyRequest) => `user:${request.principal?.userId ?? request.ip}`,
        },
      },
      bodyLimit: MAX_IMPORT_BYTES,
      schema: {
        tags: ['advisories'],
        summary:
          'Import an advisory document — CISA KEV, CVE JSON 5, NVD API 2.0, CSAF 2.0, OSV, MSRC CVRF, or a Bulwark advisory (JSON/YAML) — and recompute the findings it can change, as a job',
        description:
          'The format is told from the content. The advisories are stored before the answer (a bad document is a 400 and ' +
          'stores nothing); the findings they can change are recomputed by an `advisories.recompute` job. The answer is ' +
          '202 with the job and `Location: /api/v1/jobs/<id>`: follow it there (progress counts the assets to judge) or ' +
          "on GET /api/v1/events (job.updated). Once succeeded, the job's `result` is the import report: format, " +
          'imported, warnings and the exposure run with its time to know (duration_ms, counted from the request). ' +
          'Only assets running a product the advisory names (or holding its findings) are re-judged. A recompute ' +
          'cancelled or failed for good leaves the advisories stored and the assets it had not reached judged as ' +
          'before; importing the document again re-judges them.',
        querystring: ImportQuery,
        headers: ImportHeaders,
        response: { 202: Job, 400: ErrorBody, 409: ErrorBody, 429: ErrorBody },
      },
    },
    async (request, reply) => {
      const key = request.headers['idempotency-key'];
      const job = await advisories.import(
        request.scope,
        {
          body: request.body,
          format: request.query.format,
          ...(key !== undefined ? { idempotencyKey: key } : {}),
        },
        actorFor(request),
        ctx.jobs.queue,
      );
      return reply.code(202).header('location', `/api/v1/jobs/${job.id}`).send(job);
    },
  );
}
