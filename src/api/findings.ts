/** Findings: asset x CVE verdicts with provenance, their workflow status and history. */
import { type Static, Type } from '@sinclair/typebox';
import { FindingStatus, Id, PageParams, VerdictName } from './schemas.js';

/** Findings one bulk change may touch; a broader filter is refused at preview (narrow it). */
export const MAX_BULK_FINDINGS = 10_000;

/** How long a bulk preview's confirmation can be committed. */
export const BULK_CONFIRMATION_SECONDS = 600;

export const FindingParams = Type.Object({
  tenant: Id,
  asset: Id,
  cve: Type.String({ pattern: '^[Cc][Vv][Ee]-\\d{4}-\\d{4,}$' }),
});
export type FindingParams = Static<typeof FindingParams>;

export const FindingListQuery = Type.Object({
  ...PageParams,
  tenant: Type.Optional(Id),
  asset: Type.Optional(Id),
  advisory: Type.Optional(Type.String({ maxLength: 200 })),
  cve: Type.Optional(Type.String({ maxLength: 40 })),
  verdict: Type.Optional(VerdictName),
  status: Type.Optional(Type.String({ maxLength: 40 })),
});
export type FindingListQuery = Static<typeof FindingListQuery>;

export const FindingStatusChange = Type.Object(
  { status: FindingStatus, reason: Type.String({ minLength: 1, maxLength: 2000 }) },
  { additionalProperties: false },
);
export type FindingStatusChange = Static<typeof FindingStatusChange>;

export const FindingHistoryEntry = Type.Object({
  seq: Type.Integer(),
  at: Type.String(),
  kind: Type.String(),
  from_value: Type.Union([Type.String(), Type.Null()]),
  to_value: Type.String(),
  reason: Type.String(),
  actor: Type.String(),
});
export type FindingHistoryEntry = Static<typeof FindingHistoryEntry>;
export const FindingHistory = Type.Array(FindingHistoryEntry);

/**
 * Which findings of a tenant a bulk change selects: every criterion given must hold. An empty filter selects
 * nothing and is refused; `all: true` (alone) selects every finding of the tenant, and must be said explicitly.
 */
export const BulkFilter = Type.Object(
  {
    advisory: Type.Optional(Type.String({ minLength: 1, maxLength: 200 })),
    cve: Type.Optional(Type.String({ pattern: '^[Cc][Vv][Ee]-\\d{4}-\\d{4,}$', maxLength: 40 })),
    verdict: Type.Optional(VerdictName),
    status: Type.Optional(FindingStatus),
    asset_q: Type.Optional(
      Type.String({ minLength: 1, maxLength: 200, description: 'text in the asset id or name' }),
    ),
    all: Type.Optional(
      Type.Literal(true, { description: 'every finding of the tenant (no other criterion)' }),
    ),
  },
  { additionalProperties: false },
);
export type BulkFilter = Static<typeof BulkFilter>;

export const BulkPreviewBody = Type.Object(
  { filter: BulkFilter, status: FindingStatus, reason: Type.String({ minLength: 1, maxLength: 2000 }) },
  { additionalProperties: false },
);
export type BulkPreviewBody = Static<typeof BulkPreviewBody>;

export const BulkPreview = Type.Object({
  matches: Type.Integer({ description: 'findings the filter selects now' }),
  already: Type.Integer({ description: 'of those, findings that already have the new status' }),
  token: Type.String({
    description: 'the confirmation to commit with: single use, for you and this tenant only',
  }),
  expires_at: Type.String(),
});
export type BulkPreview = Static<typeof BulkPreview>;

export const BulkCommitBody = Type.Object(
  { token: Type.String({ minLength: 1, maxLength: 8000 }) },
  { additionalProperties: false },
);
export type BulkCommitBody = Static<typeof BulkCommitBody>;

export const BulkCommitResult = Type.Object({
  matches: Type.Integer({ description: 'findings the confirmation covered' }),
  changed: Type.Integer({ description: 'findings whose status changed (the others had it already)' }),
  status: Type.String(),
});
export type BulkCommitResult = Static<typeof BulkCommitResult>;
