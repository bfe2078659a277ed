/**
 * Which events a principal may see: those of the tenants in its scope, and the installation-wide events listed
 * in INSTALLATION_EVENT_TYPES_FOR_TENANTS. A principal that sees every tenant sees every event. The same rule
 * as a predicate (live events) and as a query filter (catching up from the table).
 *
 * Known limit: seq is installation-wide, so the gaps between the ids a tenant-scoped stream carries show how many
 * events it did not see (a volume, never a content, type or id). Hiding that needs ids per tenant or encrypted ids.
 */
import type { ExpressionBuilder, SelectQueryBuilder } from 'kysely';
import { type EventEnvelope, INSTALLATION_EVENT_TYPES_FOR_TENANTS } from '../../api/events.js';
import type { Database } from '../db/schema.js';
import type { TenantScope } from '../scope.js';

export function visibleTo(scope: TenantScope, event: Pick<EventEnvelope, 'tenant_id' | 'type'>): boolean {
  if (event.tenant_id === null) return scope.all || INSTALLATION_EVENT_TYPES_FOR_TENANTS.includes(event.type);
  return scope.sees(event.tenant_id);
}

export function whereVisibleTo<O>(
  query: SelectQueryBuilder<Database, 'events', O>,
  scope: TenantScope,
): SelectQueryBuilder<Database, 'events', O> {
  const tenantId = scope.tenantId;
  if (scope.all || tenantId === undefined) return query;
  return query.where((eb: ExpressionBuilder<Database, 'events'>) =>
    eb.or([
      eb('tenant_id', '=', tenantId),
      eb.and([eb('tenant_id', 'is', null), eb('type', 'in', [...INSTALLATION_EVENT_TYPES_FOR_TENANTS])]),
    ]),
  );
}
