/** Findings: asset x CVE verdicts with provenance, their workflow status and history. */
import { type Static, Type } from '@sinclair/typebox';
import { FindingStatus, Id, PageParams, VerdictName } from './schemas.js';

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
