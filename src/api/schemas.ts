/**
 * The API's shared vocabulary: the closed sets and bounds every request obeys, and the JSON schemas of the
 * resources it answers with (TypeBox builds plain JSON Schema, which the server validates and documents, and
 * the TypeScript types below are derived from the same schemas).
 */
import { type Static, type TSchema, Type } from '@sinclair/typebox';
import { assetFactsSchema } from '../core/index.js';

export const OPERATOR_ROLES = ['admin', 'technician', 'read_only'] as const;
export const ROLES = [...OPERATOR_ROLES, 'customer'] as const;
export type RoleName = (typeof ROLES)[number];

export const VERDICTS = ['affected', 'unknown', 'fixed', 'not_affected'] as const;
export type VerdictValue = (typeof VERDICTS)[number];
export const FINDING_STATUSES = ['open', 'acknowledged', 'accepted_risk'] as const;
export type FindingStatusValue = (typeof FINDING_STATUSES)[number];

/** Ids for tenants, sites and assets: safe in URLs and file names, never ambiguous. */
export const ID_PATTERN = '^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$';

/** Page sizes of list routes. */
export const MAX_LIMIT = 1000;
export const DEFAULT_LIMIT = 100;

/** Assets one push (POST /api/v1/tenants/:tenant/assets) may carry. */
export const MAX_ASSETS_PER_PUSH = 1000;

export const Id = Type.String({ pattern: ID_PATTERN, maxLength: 128 });
export const Role = Type.Union(ROLES.map((r) => Type.Literal(r)));
export const VerdictName = Type.Union(VERDICTS.map((v) => Type.Literal(v)));
export const FindingStatus = Type.Union(FINDING_STATUSES.map((s) => Type.Literal(s)));

export const ErrorBody = Type.Object({
  error: Type.String({ description: 'stable error code' }),
  message: Type.String({ description: 'what went wrong and what to do' }),
  details: Type.Optional(Type.Unknown()),
});

export const PageParams = {
  limit: Type.Optional(
    Type.Integer({
      minimum: 1,
      maximum: MAX_LIMIT,
      description: `page size (default ${DEFAULT_LIMIT}, at most ${MAX_LIMIT})`,
    }),
  ),
  offset: Type.Optional(Type.Integer({ minimum: 0, description: 'items to skip' })),
  sort: Type.Optional(
    Type.String({ maxLength: 40, description: 'column to sort by; prefix - for descending' }),
  ),
};

export function pageOf<T extends TSchema>(item: T) {
  return Type.Object({
    items: Type.Array(item),
    total: Type.Integer(),
    limit: Type.Integer(),
    offset: Type.Integer(),
  });
}

/** Keyset paging: the cursor a page answered with, to continue from there instead of counting rows. */
export const CursorParam = Type.Optional(
  Type.String({
    maxLength: 2000,
    description:
      'next_cursor or prev_cursor of the page before (opaque); the page continues from there. Not with offset',
  }),
);

/** A page of a keyset-paged list: `pageOf` plus the cursors of the pages after and before it (null: none). */
export function cursorPageOf<T extends TSchema>(item: T) {
  return Type.Object({
    items: Type.Array(item),
    total: Type.Integer(),
    limit: Type.Integer(),
    offset: Type.Integer({ description: 'the offset asked for; 0 when paging with a cursor' }),
    next_cursor: Type.Union([Type.String(), Type.Null()], {
      description: 'the page after this one; null: none',
    }),
    prev_cursor: Type.Union([Type.String(), Type.Null()], {
      description: 'the page before this one; null: this is the first page',
    }),
  });
}

export const Counts = Type.Object({
  affected: Type.Integer(),
  unknown: Type.Integer(),
  fixed: Type.Integer(),
  not_affected: Type.Integer(),
});

export const Tenant = Type.Object({ id: Type.String(), name: Type.String(), created_at: Type.String() });
export const Site = Type.Object({
  tenant_id: Type.String(),
  id: Type.String(),
  name: Type.String(),
  created_at: Type.String(),
});

export const AssetSummary = Type.Object({
  tenant_id: Type.String(),
  id: Type.String(),
  site_id: Type.Union([Type.String(), Type.Null()]),
  name: Type.Union([Type.String(), Type.Null()]),
  source: Type.String(),
  created_at: Type.String(),
  updated_at: Type.String(),
});

/** Facts as in a facts file entry (see docs/configuration.md): the core's facts schema, the one data files use too. */
export const AssetFacts = assetFactsSchema;

export const Asset = Type.Composite([AssetSummary, Type.Object({ facts: AssetFacts })]);

export const Finding = Type.Object({
  tenant_id: Type.String(),
  asset_id: Type.String(),
  cve: Type.String(),
  advisory_id: Type.String(),
  product: Type.String(),
  version: Type.String(),
  verdict: Type.String(),
  provenance: Type.Object({
    advisory: Type.String(),
    rule: Type.String(),
    fact: Type.String(),
    comparison: Type.String(),
  }),
  fixes: Type.Array(Type.String()),
  status: Type.String(),
  first_seen: Type.String(),
  updated_at: Type.String(),
  etag: Type.String({
    description:
      "the finding's version (also its ETag): send it as If-Match to change the status only if it is unchanged",
  }),
});

export const User = Type.Object({
  id: Type.String(),
  email: Type.String(),
  name: Type.String(),
  role: Type.String(),
  tenant_id: Type.Union([Type.String(), Type.Null()]),
  totp_enabled: Type.Boolean(),
  disabled: Type.Boolean(),
  created_at: Type.String(),
});

export const TokenInfo = Type.Object({
  id: Type.String(),
  name: Type.String(),
  role: Type.String(),
  tenant_id: Type.Union([Type.String(), Type.Null()]),
  created_at: Type.String(),
  expires_at: Type.Union([Type.String(), Type.Null()]),
  last_used_at: Type.Union([Type.String(), Type.Null()]),
  revoked_at: Type.Union([Type.String(), Type.Null()]),
});

export const ExposureRun = Type.Object({
  id: Type.String(),
  advisories: Type.Array(Type.String()),
  trigger: Type.String(),
  started_at: Type.String(),
  finished_at: Type.String(),
  duration_ms: Type.Integer({ description: 'time to know: from the import to every finding written' }),
  assets_evaluated: Type.Integer(),
  findings_written: Type.Integer(),
});

export const Email = Type.String({ minLength: 3, maxLength: 254, pattern: '^[^\\s@]+@[^\\s@]+$' });
export const Password = Type.String({ minLength: 1, maxLength: 256 });

export type ErrorBody = Static<typeof ErrorBody>;
export type Counts = Static<typeof Counts>;
export type Tenant = Static<typeof Tenant>;
export type Site = Static<typeof Site>;
export type AssetSummary = Static<typeof AssetSummary>;
export type Asset = Static<typeof Asset>;
export type Finding = Static<typeof Finding>;
export type User = Static<typeof User>;
export type TokenInfo = Static<typeof TokenInfo>;
export type ExposureRun = Static<typeof ExposureRun>;
export interface Page<T> {
  items: T[];
  total: number;
  limit: number;
  offset: number;
}
export interface CursorPage<T> extends Page<T> {
  next_cursor: string | null;
  prev_cursor: string | null;
}
