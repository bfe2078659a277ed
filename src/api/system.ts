/** Operations (health, readiness) and the audit log. */
import { type Static, Type } from '@sinclair/typebox';
import { CursorParam, cursorPageOf, PageParams } from './schemas.js';

export const Health = Type.Object({ status: Type.Literal('ok') });

export const ReadyState = Type.Object({
  ready: Type.Boolean(),
  database: Type.Union([Type.Literal('ok'), Type.Literal('starting'), Type.Literal('unavailable')], {
    description: 'unavailable: the server log says why',
  }),
});
export type ReadyState = Static<typeof ReadyState>;

export const AuditRecord = Type.Object({
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
export type AuditRecord = Static<typeof AuditRecord>;

export const AuditQuery = Type.Object({
  ...PageParams,
  after: Type.Optional(Type.Integer({ minimum: 0, description: 'only records with a greater seq' })),
  tenant: Type.Optional(Type.String({ maxLength: 128 })),
  cursor: CursorParam,
});
export type AuditQuery = Static<typeof AuditQuery>;

/** A page of the audit log, with the cursors of the pages after and before it. */
export const AuditPage = cursorPageOf(AuditRecord);
export type AuditPage = Static<typeof AuditPage>;

export const AUDIT_PROBLEM_KINDS = [
  'changed',
  'missing',
  'broken_link',
  'out_of_order',
  'head_not_found',
] as const;

export const AuditVerification = Type.Object({
  ok: Type.Boolean(),
  records: Type.Integer(),
  head: Type.String({ description: 'hash of the last record: keep it to detect truncation later' }),
  head_seq: Type.Integer(),
  problems: Type.Array(
    Type.Object({
      seq: Type.Integer(),
      kind: Type.Union(AUDIT_PROBLEM_KINDS.map((k) => Type.Literal(k))),
      problem: Type.String(),
    }),
  ),
  problems_omitted: Type.Integer(),
});
export type AuditVerification = Static<typeof AuditVerification>;

export const AuditVerifyQuery = Type.Object({
  expect_head: Type.Optional(Type.String({ pattern: '^[0-9a-fA-F]{64}$' })),
});
export type AuditVerifyQuery = Static<typeof AuditVerifyQuery>;
