/**
 * Tenant isolation, in one place. A TenantScope is built per request from the principal's grant (every tenant,
 * or exactly one); every repository query on customer data goes through it, so no route or service can forget
 * to filter. A tenant outside the scope reads exactly like one that does not exist (404), so ids do not leak.
 */
import { ALL_TENANTS, type TenantGrant } from './auth/principal.js';
import { forbidden, notFound } from './errors.js';

export class TenantScope {
  private constructor(readonly grant: TenantGrant) {}

  static of(grant: TenantGrant): TenantScope {
    return new TenantScope(grant);
  }

  /** Every tenant: for the server's own work (start-up, jobs), never for a request's principal. */
  static readonly everyTenant = new TenantScope(ALL_TENANTS);

  /** Whether the scope covers every tenant (operators) rather than one (customers, tenant tokens). */
  get all(): boolean {
    return this.grant.all;
  }

  /** The one tenant of a single-tenant scope; undefined when the scope covers every tenant. */
  get tenantId(): string | undefined {
    return this.grant.all ? undefined : this.grant.tenantId;
  }

  sees(tenantId: string): boolean {
    return this.grant.all || this.grant.tenantId === tenantId;
  }

  /** Throws 404 for a tenant outside the scope, the answer a tenant that does not exist gets. */
  require(tenantId: string): void {
    if (!this.sees(tenantId)) throw notFound(`tenant ${tenantId}`);
  }

  /** Throws 403 with `why` unless the scope covers every tenant (work whose effect or answer spans tenants). */
  requireAll(why: string): void {
    if (!this.grant.all) throw forbidden(why);
  }

  /** The query narrowed to the tenants in scope: `column = <tenant>` for a single-tenant scope. */
  // biome-ignore lint/suspicious/noExplicitAny: any Kysely query builder (select, update, delete) over any table
  filter<Q extends { where: (...args: any[]) => any }>(query: Q, column: string): Q {
    if (this.grant.all) return query;
    return query.where(column, '=', this.grant.tenantId) as Q;
  }
}
