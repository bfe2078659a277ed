/** Tenants (customers) and their sites. */
import { type Static, Type } from '@sinclair/typebox';
import { Id, PageParams } from './schemas.js';

export const TenantParams = Type.Object({ tenant: Id });
export type TenantParams = Static<typeof TenantParams>;

export const TenantListQuery = Type.Object({
  ...PageParams,
  q: Type.Optional(Type.String({ maxLength: 200 })),
});
export type TenantListQuery = Static<typeof TenantListQuery>;

export const TenantCreate = Type.Object(
  { id: Id, name: Type.String({ minLength: 1, maxLength: 200 }) },
  { additionalProperties: false },
);
export type TenantCreate = Static<typeof TenantCreate>;

export const TenantRename = Type.Object(
  { name: Type.String({ minLength: 1, maxLength: 200 }) },
  { additionalProperties: false },
);
export type TenantRename = Static<typeof TenantRename>;

export const TenantDeleteQuery = Type.Object({
  confirm: Type.Optional(
    Type.String({
      maxLength: 128,
      description: 'the tenant id again: nothing is deleted without it',
    }),
  ),
});
export type TenantDeleteQuery = Static<typeof TenantDeleteQuery>;

export const SiteCreate = Type.Object(
  { id: Id, name: Type.String({ minLength: 1, maxLength: 200 }) },
  { additionalProperties: false },
);
export type SiteCreate = Static<typeof SiteCreate>;
