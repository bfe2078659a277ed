/** Assets registered from their facts, one at a time or pushed in batches. */
import { type Static, Type } from '@sinclair/typebox';
import {
  AssetFacts,
  AssetSummary,
  CursorParam,
  cursorPageOf,
  Id,
  MAX_ASSETS_PER_PUSH,
  PageParams,
  VerdictName,
} from './schemas.js';

export const AssetParams = Type.Object({ tenant: Id, asset: Id });
export type AssetParams = Static<typeof AssetParams>;

export const AssetListQuery = Type.Object({
  ...PageParams,
  q: Type.Optional(Type.String({ maxLength: 200 })),
  product: Type.Optional(Type.String({ maxLength: 200 })),
  site: Type.Optional(Id),
  advisory: Type.Optional(Type.String({ maxLength: 200 })),
  verdict: Type.Optional(VerdictName),
  cursor: CursorParam,
});
export type AssetListQuery = Static<typeof AssetListQuery>;

/** A page of a tenant's assets, with the cursors of the pages after and before it. */
export const AssetPage = cursorPageOf(AssetSummary);
export type AssetPage = Static<typeof AssetPage>;

export const AssetPushQuery = Type.Object({
  source: Type.Optional(Type.String({ maxLength: 40 })),
  site: Type.Optional(Id),
  merge: Type.Optional(
    Type.Literal('observed', {
      description:
        "the facts are what a remote scan observed: merged into an existing asset (its products seen, endpoints, the source's tags) instead of replacing its facts",
    }),
  ),
});
export type AssetPushQuery = Static<typeof AssetPushQuery>;

export const AssetPushBody = Type.Object(
  { assets: Type.Array(AssetFacts, { maxItems: MAX_ASSETS_PER_PUSH }) },
  { additionalProperties: false },
);
export type AssetPushBody = Static<typeof AssetPushBody>;

export const AssetPutQuery = Type.Object({
  source: Type.Optional(Type.String({ maxLength: 40 })),
  site: Type.Optional(Id),
});
export type AssetPutQuery = Static<typeof AssetPutQuery>;

export const PUT_OUTCOMES = ['created', 'updated', 'unchanged'] as const;

export const PutResult = Type.Object({
  results: Type.Array(Type.Object({ id: Type.String(), outcome: Type.String() })),
  findings_written: Type.Integer(),
});
/** What a push answers: per asset whether it was created, updated or unchanged, and the findings written. */
export interface PutResult {
  results: { id: string; outcome: (typeof PUT_OUTCOMES)[number] }[];
  findings_written: number;
}
