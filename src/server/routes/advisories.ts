/** Advisories (list, read, import from any supported feed format) and fleet-wide exposure. */
import { Type } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import {
  applyKev,
  detectFormat,
  ImportError,
  importDocument,
  parseAdvisory,
} from '../../advisories/index.js';
import { type Advisory, DataFileError } from '../../core/index.js';
import type { AppContext } from '../app.js';
import { appendAudit } from '../audit.js';
import { actorOf } from '../auth/principal.js';
import { badRequest, forbidden, notFound } from '../errors.js';
import { advisoryProducts } from '../exposure/service.js';
import { Counts, ErrorBody, ExposureRun, Finding, Id, PageParams, pageOf, VerdictName } from './schemas.js';

const AdvisorySummary = Type.Object({
  id: Type.String(),
  title: Type.String(),
  cves: Type.Array(Type.String()),
  products: Type.Array(Type.String()),
  published: Type.Union([Type.String(), Type.Null()]),
  kev: Type.Boolean({ description: 'at least one CVE is in CISA KEV' }),
});

const MAX_IMPORT_BYTES = 64 * 1024 * 1024;

function summary(a: Advisory) {
  return {
    id: a.id,
    title: a.title,
    cves: a.cves.map((c) => c.id),
    products: advisoryProducts(a),
    published: a.published ?? null,
    kev: a.cves.some((c) => !!c.kev),
  };
}

export async function advisoryRoutes(app: FastifyInstance, ctx: AppContext): Promise<void> {
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
        querystring: Type.Object({
          ...PageParams,
          q: Type.Optional(Type.String({ maxLength: 200 })),
          product: Type.Optional(Type.String({ maxLength: 200 })),
          cve: Type.Optional(Type.String({ maxLength: 40 })),
        }),
        response: { 200: pageOf(AdvisorySummary) },
      },
    },
    async (request) => {
      const q = request.query as {
        limit?: number;
        offset?: number;
        sort?: string;
        q?: string;
        product?: string;
        cve?: string;
      };
      let list = ctx.fleet.advisories().map(summary);
      if (q.q) {
        const needle = q.q.toLowerCase();
        list = list.filter(
          (a) => a.id.toLowerCase().includes(needle) || a.title.toLowerCase().includes(needle),
        );
      }
      if (q.product) list = list.filter((a) => a.products.includes(q.product!));
      if (q.cve) list = list.filter((a) => a.cves.includes(q.cve!.toUpperCase()));
      const desc = q.sort?.startsWith('-');
      const key = (q.sort ?? 'id').replace(/^[-+]/, '');
      if (!['id', 'title', 'published'].includes(key))
        throw badRequest(`sort: use one of id, title, published`);
      list.sort(
        (a, b) => String(a[key as 'id'] ?? '').localeCompare(String(b[key as 'id'] ?? '')) * (desc ? -1 : 1),
      );
      const limit = Math.min(q.limit ?? 100, 1000);
      const offset = q.offset ?? 0;
      return { items: list.slice(offset, offset + limit), total: list.length, limit, offset };
    },
  );

  app.get(
    '/api/v1/advisories/:id',
    {
      config: { access: 'read' },
      schema: {
        tags: ['advisories'],
        summary: 'One advisory document (the Bulwark advisory model; see docs/advisories.md)',
        params: Type.Object({ id: Type.String({ maxLength: 200 }) }),
        response: { 200: Type.Object({}, { additionalProperties: true }), 404: ErrorBody },
      },
    },
    async (request) => {
      const a = ctx.fleet.advisory((request.params as { id: string }).id);
      if (!a) throw notFound(`advisory ${(request.params as { id: string }).id}`);
      return a;
    },
  );

  app.post(
    '/api/v1/advisories/import',
    {
      config: { access: 'write' },
      bodyLimit: MAX_IMPORT_BYTES,
      schema: {
        tags: ['advisories'],
        summary:
          'Import an advisory document — CISA KEV, CVE JSON 5, NVD API 2.0, CSAF 2.0, OSV, MSRC CVRF, or a Bulwark advisory (JSON/YAML) — and recompute the findings it can change',
        description:
          'The format is told from the content. Only assets running a product the advisory names are re-judged; the response carries the run with its time to know.',
        querystring: Type.Object({
          format: Type.Optional(
            Type.Union(['kev', 'cve5', 'nvd', 'csaf', 'osv', 'cvrf', 'bulwark'].map((f) => Type.Literal(f))),
          ),
        }),
        response: {
          200: Type.Object({
            format: Type.String(),
            imported: Type.Array(Type.String()),
            warnings: Type.Array(Type.Object({ path: Type.String(), message: Type.String() })),
            run: Type.Union([ExposureRun, Type.Null()]),
          }),
          400: ErrorBody,
        },
      },
    },
    async (request) => {
      // Security fix: advisories are shared by every tenant, and an import re-judges every tenant's assets
      // (its run reports fleet-wide counts). A technician token scoped to one tenant could replace a built-in
      // advisory and so change other tenants' findings; importing now needs an all-tenant principal.
      if (!request.data.scope.all) {
        throw forbidden('advisories are shared by every tenant; importing needs an operator account');
      }
      const started = Date.now();
      const raw = request.body;
      const text = typeof raw === 'string' ? raw : JSON.stringify(raw);
      if (!text || text === 'null') throw badRequest('body: send the advisory document');
      const q = request.query as { format?: string };
      const format = q.format ?? detectFormat(text) ?? 'bulwark';
      let advisories: Advisory[];
      let warnings: { path: string; message: string }[] = [];
      try {
        if (format === 'bulwark') {
          advisories = [parseAdvisory(text, 'body')];
        } else if (format === 'kev') {
          const imported = importDocument(text, {
            origin: 'api',
            catalogs: ctx.fleet.catalogs,
            format: 'kev',
          });
          warnings = imported.warnings;
          const { advisories: enriched, enriched: ids } = applyKev(ctx.fleet.advisories(), imported.kev);
          advisories = enriched.filter((a) => a.cves.some((c) => ids.includes(c.id)));
        } else {
          const imported = importDocument(text, {
            origin: 'api',
            catalogs: ctx.fleet.catalogs,
            format: format as 'cve5',
          });
          advisories = imported.advisories;
          warnings = imported.warnings;
        }
      } catch (err) {
        if (err instanceof ImportError || err instanceof DataFileError) throw badRequest(err.message);
        throw err;
      }
      const actor = actorOf(request.principal!);
      const run = await ctx.fleet.saveAdvisories(advisories, {
        source: `import:${format}`,
        trigger: 'import',
        startedAt: started,
      });
      await appendAudit(ctx.db.kysely, ctx.db.dialect, {
        actor,
        tenantId: null,
        action: 'advisory.import',
        target:
          advisories
            .map((a) => `advisory:${a.id}`)
            .join(',')
            .slice(0, 500) || 'advisory:(none)',
        detail: {
          format,
          advisories: advisories.length,
          warnings: warnings.length,
          time_to_know_ms: run?.duration_ms ?? 0,
        },
      });
      return { format, imported: advisories.map((a) => a.id), warnings, run: run ?? null };
    },
  );

  app.get(
    '/api/v1/advisories/:id/exposure',
    {
      config: { access: 'read' },
      schema: {
        tags: ['exposure'],
        summary:
          'Which of my customers are exposed to this advisory, right now: assets by verdict, in total and per tenant',
        params: Type.Object({ id: Type.String({ maxLength: 200 }) }),
        response: {
          200: Type.Object({
            advisory: Type.String(),
            totals: Counts,
            tenants: Type.Array(Type.Object({ tenant: Type.String(), counts: Counts })),
          }),
          404: ErrorBody,
        },
      },
    },
    async (request) => request.data.advisoryExposure((request.params as { id: string }).id),
  );

  app.get(
    '/api/v1/tenants/:tenant/exposure',
    {
      config: { access: 'read' },
      schema: {
        tags: ['exposure'],
        summary: "A tenant's assets by verdict for every advisory that touches it",
        params: Type.Object({ tenant: Id }),
        response: {
          200: Type.Object({
            tenant: Type.String(),
            advisories: Type.Array(Type.Object({ advisory: Type.String(), counts: Counts })),
          }),
          404: ErrorBody,
        },
      },
    },
    async (request) => request.data.tenantExposure((request.params as { tenant: string }).tenant),
  );

  app.get(
    '/api/v1/findings',
    {
      config: { access: 'read' },
      schema: {
        tags: ['findings'],
        summary:
          'Findings (asset x CVE verdicts with provenance) across the tenants you see, filtered and sorted',
        querystring: Type.Object({
          ...PageParams,
          tenant: Type.Optional(Id),
          asset: Type.Optional(Id),
          advisory: Type.Optional(Type.String({ maxLength: 200 })),
          cve: Type.Optional(Type.String({ maxLength: 40 })),
          verdict: Type.Optional(VerdictName),
          status: Type.Optional(Type.String({ maxLength: 40 })),
        }),
        response: { 200: pageOf(Finding) },
      },
    },
    async (request) => request.data.listFindings(request.query as object),
  );

  app.get(
    '/api/v1/exposure/runs',
    {
      config: { access: 'read' },
      schema: {
        tags: ['exposure'],
        summary: 'Recent advisory evaluations with their time to know (newest first)',
        querystring: Type.Object({ limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000 })) }),
        response: { 200: Type.Array(ExposureRun) },
      },
    },
    async (request) => {
      // Runs count assets over every tenant: operators only.
      if (!request.data.scope.all) throw forbidden('evaluation runs cover every tenant; operators only');
      const limit = (request.query as { limit?: number }).limit ?? 50;
      const rows = await ctx.db.kysely
        .selectFrom('exposure_runs')
        .selectAll()
        .orderBy('started_at', 'desc')
        .limit(limit)
        .execute();
      return rows.map(({ advisory_ids, ...r }) => ({
        ...r,
        advisories: JSON.parse(advisory_ids) as string[],
      }));
    },
  );
}
