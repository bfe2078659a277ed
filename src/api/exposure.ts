/** Exposure: who runs what an advisory affects, per advisory, per tenant and per asset; evaluation runs. */
import { type Static, Type } from '@sinclair/typebox';
import { Counts, Finding } from './schemas.js';

export const AdvisoryExposure = Type.Object({
  advisory: Type.String(),
  totals: Counts,
  tenants: Type.Array(Type.Object({ tenant: Type.String(), counts: Counts })),
});
export type AdvisoryExposure = Static<typeof AdvisoryExposure>;

export const TenantExposure = Type.Object({
  tenant: Type.String(),
  advisories: Type.Array(Type.Object({ advisory: Type.String(), counts: Counts })),
});
export type TenantExposure = Static<typeof TenantExposure>;

export const AssetExposure = Type.Object({
  tenant: Type.String(),
  asset: Type.String(),
  advisories: Type.Array(
    Type.Object({ advisory_id: Type.String(), verdict: Type.String(), updated_at: Type.String() }),
  ),
  findings: Type.Array(Finding),
});
export type AssetExposure = Static<typeof AssetExposure>;

export const RunsQuery = Type.Object({ limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000 })) });
export type RunsQuery = Static<typeof RunsQuery>;
