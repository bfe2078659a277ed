/**
 * An inventory uploaded by a script an RMM runs (scripts/rmm/bulwark-inventory.ps1) instead of an agent: either
 * the Windows collector's document with the asset id the script keeps, or facts.
 */
import { type Static, Type } from '@sinclair/typebox';
import { AssetFacts, Id } from './schemas.js';

export const InventoryUploadBody = Type.Object(
  {
    asset_id: Type.Optional(Id),
    windows: Type.Optional(
      Type.Unknown({
        description:
          'the Windows collector document (schema bulwark-windows-inventory/1); needs asset_id; read as the agent reads it',
      }),
    ),
    facts: Type.Optional(AssetFacts),
    hash: Type.Optional(
      Type.String({
        pattern: '^[0-9a-f]{64}$',
        description:
          'SHA-256 hex of the canonical JSON of the facts without id and tenant; checked when given',
      }),
    ),
  },
  { additionalProperties: false },
);
export type InventoryUploadBody = Static<typeof InventoryUploadBody>;

export const InventoryUploadResult = Type.Object({
  asset_id: Type.String(),
  outcome: Type.String({ description: 'created, updated or unchanged' }),
  hash: Type.String(),
  findings_written: Type.Integer(),
});
export type InventoryUploadResult = Static<typeof InventoryUploadResult>;
