/** Accounts: the first administrator, sessions, the current user, users and API tokens. */
import { type Static, Type } from '@sinclair/typebox';
import { Email, Id, Password, Role, TokenInfo, User } from './schemas.js';

export const SetupBody = Type.Object(
  {
    token: Type.String({ minLength: 1, maxLength: 200 }),
    email: Email,
    name: Type.String({ minLength: 1, maxLength: 200 }),
    password: Password,
  },
  { additionalProperties: false },
);
export type SetupBody = Static<typeof SetupBody>;

export const LoginBody = Type.Object(
  {
    email: Email,
    password: Password,
    code: Type.Optional(Type.String({ pattern: '^[0-9]{6}$', description: 'TOTP code when enrolled' })),
  },
  { additionalProperties: false },
);
export type LoginBody = Static<typeof LoginBody>;

export const LoginResult = Type.Object({ user: User, csrf_token: Type.String(), expires_at: Type.String() });
export type LoginResult = Static<typeof LoginResult>;

/**
 * What a principal may do, as the server checks it on every route: `read` (see data in its tenant scope),
 * `write` (register assets, change findings and their status, import advisories, create sites), `admin` (users,
 * tenants, the audit log; only for principals that see every tenant).
 */
export const PERMISSIONS = ['read', 'write', 'admin'] as const;
export type PermissionName = (typeof PERMISSIONS)[number];

export const Me = Type.Object({
  user: User,
  via: Type.String(),
  role: Type.String(),
  tenant: Type.Union([Type.String(), Type.Null()]),
  permissions: Type.Array(Type.Union(PERMISSIONS.map((p) => Type.Literal(p))), {
    description:
      'what this principal may do: each route needs one of these (see docs/api.md, Roles and tenants)',
  }),
  csrf_token: Type.Optional(Type.String()),
});
export type Me = Static<typeof Me>;

export const PasswordChange = Type.Object(
  { current_password: Password, new_password: Password },
  { additionalProperties: false },
);
export type PasswordChange = Static<typeof PasswordChange>;

export const TotpEnrolment = Type.Object({ secret: Type.String(), uri: Type.String() });
export type TotpEnrolment = Static<typeof TotpEnrolment>;

export const TotpConfirm = Type.Object(
  { code: Type.String({ pattern: '^[0-9]{6}$' }) },
  { additionalProperties: false },
);
export type TotpConfirm = Static<typeof TotpConfirm>;

export const TotpDisable = Type.Object({ password: Password }, { additionalProperties: false });
export type TotpDisable = Static<typeof TotpDisable>;

export const UserParams = Type.Object({ id: Type.String({ maxLength: 64 }) });
export type UserParams = Static<typeof UserParams>;

export const UserCreate = Type.Object(
  {
    email: Email,
    name: Type.String({ minLength: 1, maxLength: 200 }),
    password: Password,
    role: Role,
    tenant_id: Type.Optional(Type.Union([Id, Type.Null()])),
  },
  { additionalProperties: false },
);
export type UserCreate = Static<typeof UserCreate>;

export const UserUpdate = Type.Object(
  {
    name: Type.Optional(Type.String({ minLength: 1, maxLength: 200 })),
    role: Type.Optional(Role),
    disabled: Type.Optional(Type.Boolean()),
  },
  { additionalProperties: false, minProperties: 1 },
);
export type UserUpdate = Static<typeof UserUpdate>;

export const TokenCreate = Type.Object(
  {
    name: Type.String({ minLength: 1, maxLength: 200 }),
    role: Type.Optional(Role),
    tenant_id: Type.Optional(Type.Union([Id, Type.Null()])),
    expires_in_days: Type.Optional(Type.Integer({ minimum: 1, maximum: 3650 })),
  },
  { additionalProperties: false },
);
export type TokenCreate = Static<typeof TokenCreate>;

export const TokenCreated = Type.Object({
  token: Type.String({ description: 'shown once; store it now' }),
  info: TokenInfo,
});
export type TokenCreated = Static<typeof TokenCreated>;

export const TokenParams = Type.Object({ id: Type.String({ maxLength: 64 }) });
export type TokenParams = Static<typeof TokenParams>;
