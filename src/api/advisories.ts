/** Advisories: the loaded documents and imports from any supported feed format. */
import { type Static, Type } from '@sinclair/typebox';
import { ExposureRun, PageParams } from './schemas.js';

export const AdvisorySummary = Type.Object({
  id: Type.String(),
  title: Type.String(),
  cves: Type.Array(Type.String()),
  products: Type.Array(Type.String()),
  published: Type.Union([Type.String(), Type.Null()]),
  kev: Type.Boolean({ description: 'at least one CVE is in CISA KEV' }),
});
export type AdvisorySummary = Static<typeof AdvisorySummary>;

export const AdvisoryListQuery = Type.Object({
  ...PageParams,
  q: Type.Optional(Type.String({ maxLength: 200 })),
  product: Type.Optional(Type.String({ maxLength: 200 })),
  cve: Type.Optional(Type.String({ maxLength: 40 })),
});
export type AdvisoryListQuery = Static<typeof AdvisoryListQuery>;

export const AdvisoryParams = Type.Object({ id: Type.String({ maxLength: 200 }) });
export type AdvisoryParams = Static<typeof AdvisoryParams>;

/** A whole advisory document (the Bulwark advisory model; see docs/advisories.md). */
export const AdvisoryDocument = Type.Object({}, { additionalProperties: true });

export const IMPORT_FORMATS = ['kev', 'cve5', 'nvd', 'csaf', 'osv', 'cvrf', 'bulwark'] as const;
export type ImportFormat = (typeof IMPORT_FORMATS)[number];

/** Largest advisory document an import accepts. */
export const MAX_IMPORT_BYTES = 64 * 1024 * 1024;

export const ImportQuery = Type.Object({
  format: Type.Optional(Type.Union(IMPORT_FORMATS.map((f) => Type.Literal(f)))),
});
export type ImportQuery = Static<typeof ImportQuery>;

/** Longest Idempotency-Key header an import accepts. */
export const MAX_IDEMPOTENCY_KEY = 300;

export const ImportHeaders = Type.Object({
  'idempotency-key': Type.Optional(
    Type.String({
      minLength: 1,
      maxLength: MAX_IDEMPOTENCY_KEY,
      description:
        "the job's idempotency key: an import sent again with a key already used answers the job it created and stores nothing again",
    }),
  ),
});
export type ImportHeaders = Static<typeof ImportHeaders>;

/** The kind of the job an import answers with. */
export const ADVISORY_RECOMPUTE_JOB = 'advisories.recompute';

export const ImportWarning = Type.Object({ path: Type.String(), message: Type.String() });
/**
 * What an import reports: the `result` of its `advisories.recompute` job once the job succeeded (the import
 * answers 202 with the job; GET /api/v1/jobs/:id shows it).
 */
export const ImportResult = Type.Object({
  format: Type.String(),
  imported: Type.Array(Type.String()),
  warnings: Type.Array(ImportWarning),
  run: Type.Union([ExposureRun, Type.Null()]),
});
export type ImportResult = Static<typeof ImportResult>;
