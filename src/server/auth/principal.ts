/**
 * Who is asking and what they may do. Every request resolves to one principal; its tenant grant becomes the
 * request's TenantScope (scope.ts), which every repository filters by, so a route cannot forget it.
 */
import { OPERATOR_ROLES, type PermissionName, ROLES, type RoleName } from '../../api/index.js';

export { OPERATOR_ROLES, ROLES };
export type Role = RoleName;

/** What an action needs: read data, change data (assets, findings, advisories), or administer (users, tenants). */
export type Permission = PermissionName;

const GRANTS: Record<Role, readonly Permission[]> = {
  admin: ['read', 'write', 'admin'],
  technician: ['read', 'write'],
  read_only: ['read'],
  customer: ['read'],
};

/** The tenants a principal sees: every tenant (operators) or exactly one (customer users and tenant tokens). */
export type TenantGrant = { readonly all: true } | { readonly all: false; readonly tenantId: string };

export const ALL_TENANTS: TenantGrant = Object.freeze({ all: true });

export interface Principal {
  kind: 'session' | 'token';
  userId: string;
  email: string;
  role: Role;
  scope: TenantGrant;
  /** Session principals: the token state-changing requests must echo in X-CSRF-Token. */
  csrfToken?: string;
  /** Token principals: the token's id, for audit. */
  tokenId?: string;
}

export function isRole(value: unknown): value is Role {
  return typeof value === 'string' && (ROLES as readonly string[]).includes(value);
}

export function may(principal: Principal, permission: Permission): boolean {
  return GRANTS[principal.role].includes(permission);
}

/**
 * Every permission the principal holds, as routes check it: its role's grants, without `admin` for a principal
 * scoped to one tenant (administration is installation-wide). GET /api/v1/me answers with it.
 */
export function permissionsOf(principal: Principal): Permission[] {
  return GRANTS[principal.role].filter((p) => p !== 'admin' || principal.scope.all);
}

/** A role may hand out (to a token or a new user) only what it holds itself. */
export function roleWithin(role: Role, holder: Role): boolean {
  return (
    GRANTS[role].every((p) => GRANTS[holder].includes(p)) && (holder !== 'customer' || role === 'customer')
  );
}

export function scopeFor(role: Role, tenantId: string | null): TenantGrant {
  if (role === 'customer') {
    if (!tenantId) throw new Error('a customer principal needs a tenant');
    return { all: false, tenantId };
  }
  return tenantId ? { all: false, tenantId } : ALL_TENANTS;
}

/** How the principal appears in the audit log: never a secret. */
export function actorOf(principal: Principal): string {
  return principal.kind === 'token'
    ? `token:${principal.tokenId} (${principal.email})`
    : `user:${principal.email}`;
}
