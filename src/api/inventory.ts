/** An inventory uploaded by a script an RMM runs (scripts/rmm/bulwark-inventory.ps1) instead of an agent. */
import { type Static, Type } from '@sinclair/typebox';
import { AssetFacts } from './schemas.js';

export const InventoryUploadBody = Type.Object(
  {
    facts: AssetFacts,
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
