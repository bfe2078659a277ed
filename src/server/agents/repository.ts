/**
 * Agent queries and writes: enrolment tokens, agents, their certificates and agent jobs. Every one goes through the
 * caller's TenantScope; the enrolment route, which has no principal, reads its token with the installation's scope
 * and then works in the token's tenant only.
 */
import { createHash } from 'node:crypto';
import { type Kysely, sql } from 'kysely';
import type {
  Agent,
  AgentJob,
  AgentJobListQuery,
  AgentJobSummary,
  AgentListQuery,
  AgentSummary,
  AgentToken,
  CursorPage,
} from '../../api/index.js';
import { keysetPage } from '../data/cursor.js';
import { pageBounds, sortOrder } from '../data/page.js';
import type { Database } from '../db/schema.js';
import { notFound } from '../errors.js';
import type { TenantScope } from '../scope.js';
import type { TenantRepository } from '../tenants/repository.js';

type K = Kysely<Database>;
export type AgentRow = Database['agents'];
export type AgentJobRow = Database['agent_jobs'];
export type AgentTokenRow = Database['agent_tokens'];

const SUMMARY_COLUMNS = [
  'tenant_id',
  'id',
  'site_id',
  'hostname',
  'os',
  'version',
  'state',
  'state_reason',
  'online',
  'last_seen_at',
  'enrolled_at',
  'updated_at',
] as const;

const JOB_SUMMARY_COLUMNS = [
  'id',
  'tenant_id',
  'agent_id',
  'kind',
  'params',
  'state',
  'progress',
  'reason',
  'not_before',
  'expires_at',
  'created_by',
  'created_at',
  'updated_at',
  'delivered_at',
  'started_at',
  'finished_at',
  'batch_id',
] as const;

/** SHA-256 hex of a raw base64url public key. */
export function keyFingerprint(publicKey: string): string {
  return createHash('sha256').update(Buffer.from(publicKey, 'base64url')).digest('hex');
}

function toSummary(r: Pick<AgentRow, (typeof SUMMARY_COLUMNS)[number]>): AgentSummary {
  return { ...r, state: r.state as AgentSummary['state'], online: Number(r.online) === 1 };
}

export function toAgent(r: AgentRow): Agent {
  return {
    ...toSummary(r),
    public_key: r.public_key,
    key_fingerprint: keyFingerprint(r.public_key),
    cert_serial: r.cert_serial,
    cert_not_after: r.cert_not_after,
    generation: Number(r.generation),
    connected_at: r.connected_at,
    inventory_hash: r.inventory_hash,
    inventory_at: r.inventory_at,
  };
}

function toJobSummary(r: Pick<AgentJobRow, (typeof JOB_SUMMARY_COLUMNS)[number]>): AgentJobSummary {
  return {
    ...r,
    kind: r.kind as AgentJobSummary['kind'],
    state: r.state as AgentJobSummary['state'],
    params: JSON.parse(r.params) as unknown,
    progress: r.progress === null ? null : (JSON.parse(r.progress) as AgentJobSummary['progress']),
  };
}

export function toAgentJob(r: AgentJobRow): AgentJob {
  return {
    ...toJobSummary(r),
    result: r.result === null ? null : (JSON.parse(r.result) as unknown),
    result_signature: r.result_signature,
    envelope: JSON.parse(r.envelope) as unknown,
    signature: r.signature,
  };
}

function toToken(r: AgentTokenRow): AgentToken {
  const { secret_hash: _secret, ...rest } = r;
  return { ...rest, uses_allowed: Number(r.uses_allowed), uses: Number(r.uses) };
}

export class AgentRepository {
  constructor(
    private readonly db: { kysely: K },
    private readonly tenants: TenantRepository,
  ) {}

  /** 404 unless the tenant exists and is in the scope. */
  async requireTenant(scope: TenantScope, tenantId: string, k: K = this.db.kysely): Promise<void> {
    await this.tenants.require(scope, tenantId, k);
  }

  // -- tokens ---------------------------------------------------------------------------------------------------

  async insertToken(scope: TenantScope, k: K, row: AgentTokenRow): Promise<AgentToken> {
    scope.require(row.tenant_id);
    await k.insertInto('agent_tokens').values(row).execute();
    return toToken(row);
  }

  async listTokens(scope: TenantScope, tenantId: string): Promise<AgentToken[]> {
    await this.tenants.require(scope, tenantId);
    const rows = await this.db.kysely
      .selectFrom('agent_tokens')
      .selectAll()
      .where('tenant_id', '=', tenantId)
      .orderBy('created_at', 'desc')
      .orderBy('id')
      .limit(1000)
      .execute();
    return rows.map(toToken);
  }

  /** Revokes the token; 404 when it is not one of the tenant's. */
  async revokeToken(scope: TenantScope, k: K, tenantId: string, id: string, at: string): Promise<AgentToken> {
    await this.tenants.require(scope, tenantId, k);
    await k
      .updateTable('agent_tokens')
      .set({ revoked_at: at })
      .where('tenant_id', '=', tenantId)
      .where('id', '=', id)
      .where('revoked_at', 'is', null)
      .execute();
    const row = await k
      .selectFrom('agent_tokens')
      .selectAll()
      .where('tenant_id', '=', tenantId)
      .where('id', '=', id)
      .executeTakeFirst();
    if (!row) throw notFound(`enrolment token ${id} in tenant ${tenantId}`);
    return toToken(row);
  }

  /** The token by its id, in whichever tenant (enrolment: the token names the tenant). */
  tokenById(scope: TenantScope, k: K, id: string): Promise<AgentTokenRow | undefined> {
    return scope
      .filter(k.selectFrom('agent_tokens').selectAll().where('id', '=', id), 'tenant_id')
      .executeTakeFirst();
  }

  /**
   * Takes one use of the token, atomically: only while it is unrevoked, unexpired and not used up. False when it
   * was none of these (two enrolments racing for its last use: one of them gets false).
   */
  async useToken(scope: TenantScope, k: K, tenantId: string, id: string, now: string): Promise<boolean> {
    scope.require(tenantId);
    const res = await k
      .updateTable('agent_tokens')
      .set((eb) => ({ uses: eb('uses', '+', 1) }))
      .where('tenant_id', '=', tenantId)
      .where('id', '=', id)
      .where('revoked_at', 'is', null)
      .where('expires_at', '>', now)
      .whereRef('uses', '<', 'uses_allowed')
      .executeTakeFirst();
    return Number(res.numUpdatedRows) === 1;
  }

  // -- agents ---------------------------------------------------------------------------------------------------

  async insertAgent(scope: TenantScope, k: K, row: AgentRow): Promise<void> {
    scope.require(row.tenant_id);
    await k.insertInto('agents').values(row).execute();
  }

  async insertCertificate(scope: TenantScope, k: K, row: Database['agent_certificates']): Promise<void> {
    scope.require(row.tenant_id);
    await k.insertInto('agent_certificates').values(row).execute();
  }

  /** Whether any agent (in any tenant) holds this public key: a key enrols once in the installation. */
  async publicKeyEnrolled(k: K, publicKey: string): Promise<boolean> {
    const row = await k
      .selectFrom('agents')
      .select('id')
      .where('public_key', '=', publicKey)
      .executeTakeFirst();
    return !!row;
  }

  async row(scope: TenantScope, k: K, tenantId: string, id: string): Promise<AgentRow | undefined> {
    scope.require(tenantId);
    return k
      .selectFrom('agents')
      .selectAll()
      .where('tenant_id', '=', tenantId)
      .where('id', '=', id)
      .executeTakeFirst();
  }

  /** The agent; 404 when it or its tenant does not exist or is outside the scope. */
  async require(scope: TenantScope, tenantId: string, id: string, k: K = this.db.kysely): Promise<AgentRow> {
    await this.tenants.require(scope, tenantId, k);
    const row = await this.row(scope, k, tenantId, id);
    if (!row) throw notFound(`agent ${id} in tenant ${tenantId}`);
    return row;
  }

  async setState(
    scope: TenantScope,
    k: K,
    tenantId: string,
    id: string,
    state: AgentRow['state'],
    reason: string | null,
    at: string,
  ): Promise<void> {
    scope.require(tenantId);
    await k
      .updateTable('agents')
      .set({ state, state_reason: reason, updated_at: at })
      .where('tenant_id', '=', tenantId)
      .where('id', '=', id)
      .execute();
  }

  /** A page of the tenant's agents by keyset (sort id, hostname, enrolled_at, last_seen_at). */
  async list(scope: TenantScope, tenantId: string, q: AgentListQuery): Promise<CursorPage<AgentSummary>> {
    await this.tenants.require(scope, tenantId);
    const { limit, offset } = pageBounds(q);
    const order = sortOrder(q.sort, ['id', 'hostname', 'enrolled_at', 'last_seen_at'] as const, 'id');
    let base = this.db.kysely.selectFrom('agents as a').where('a.tenant_id', '=', tenantId);
    if (q.site) base = base.where('a.site_id', '=', q.site);
    if (q.state) base = base.where('a.state', '=', q.state);
    if (q.online !== undefined) base = base.where('a.online', '=', q.online ? 1 : 0);
    const column = order.column;
    const keys =
      column === 'id'
        ? [sql.ref('a.id')]
        : [
            column === 'last_seen_at' ? sql`coalesce(a.last_seen_at, '')` : sql.ref(`a.${column}`),
            sql.ref('a.id'),
          ];
    const page = await keysetPage({
      scope: {
        sort: `${order.direction === 'desc' ? '-' : ''}${column}`,
        filters: { tenant: tenantId, site: q.site, state: q.state, online: q.online },
        keyTypes: column === 'id' ? ['string'] : ['string', 'string'],
      },
      cursor: q.cursor,
      offset,
      limit,
      direction: order.direction,
      keys,
      keyOf: (r: AgentSummary) => (column === 'id' ? [r.id] : [r[column] ?? '', r.id]),
      fetch: async (where, direction, n, skip) => {
        let query = base.select(SUMMARY_COLUMNS.map((c) => `a.${c}` as const));
        if (where) query = query.where(where);
        for (const k of keys) query = query.orderBy(k, direction);
        return (await query.limit(n).offset(skip).execute()).map(toSummary);
      },
    });
    const total = await base.select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow();
    return {
      items: page.rows,
      total: Number(total.n),
      limit,
      offset: q.cursor ? 0 : offset,
      next_cursor: page.next_cursor,
      prev_cursor: page.prev_cursor,
    };
  }

  /** Ids of the tenant's active agents, in id order. */
  async activeIds(scope: TenantScope, k: K, tenantId: string): Promise<string[]> {
    scope.require(tenantId);
    const rows = await k
      .selectFrom('agents')
      .select('id')
      .where('tenant_id', '=', tenantId)
      .where('state', '=', 'active')
      .orderBy('id')
      .execute();
    return rows.map((r) => r.id);
  }

  /** Which of `ids` are the tenant's agents, with their state. */
  async states(scope: TenantScope, k: K, tenantId: string, ids: string[]): Promise<Map<string, string>> {
    scope.require(tenantId);
    const out = new Map<string, string>();
    for (let i = 0; i < ids.length; i += 500) {
      const rows = await k
        .selectFrom('agents')
        .select(['id', 'state'])
        .where('tenant_id', '=', tenantId)
        .where('id', 'in', ids.slice(i, i + 500))
        .execute();
      for (const r of rows) out.set(r.id, r.state);
    }
    return out;
  }

  // -- agent jobs -----------------------------------------------------------------------------------------------

  async jobRow(scope: TenantScope, k: K, tenantId: string, id: string): Promise<AgentJobRow | undefined> {
    scope.require(tenantId);
    return k
      .selectFrom('agent_jobs')
      .selectAll()
      .where('tenant_id', '=', tenantId)
      .where('id', '=', id)
      .executeTakeFirst();
  }

  async requireJob(
    scope: TenantScope,
    tenantId: string,
    id: string,
    k: K = this.db.kysely,
  ): Promise<AgentJobRow> {
    await this.tenants.require(scope, tenantId, k);
    const row = await this.jobRow(scope, k, tenantId, id);
    if (!row) throw notFound(`agent job ${id} in tenant ${tenantId}`);
    return row;
  }

  /** A page of the tenant's agent jobs, newest first, by keyset on (created_at, id). */
  async listJobs(
    scope: TenantScope,
    tenantId: string,
    q: AgentJobListQuery,
  ): Promise<CursorPage<AgentJobSummary>> {
    await this.tenants.require(scope, tenantId);
    const { limit } = pageBounds(q);
    let base = this.db.kysely.selectFrom('agent_jobs as j').where('j.tenant_id', '=', tenantId);
    if (q.agent) base = base.where('j.agent_id', '=', q.agent);
    if (q.state) base = base.where('j.state', '=', q.state);
    if (q.kind) base = base.where('j.kind', '=', q.kind);
    const keys = [sql.ref('j.created_at'), sql.ref('j.id')];
    const page = await keysetPage({
      scope: {
        sort: '-created_at',
        filters: { tenant: tenantId, agent: q.agent, state: q.state, kind: q.kind },
        keyTypes: ['string', 'string'],
      },
      cursor: q.cursor,
      offset: 0,
      limit,
      direction: 'desc',
      keys,
      keyOf: (r: AgentJobSummary) => [r.created_at, r.id],
      fetch: async (where, direction, n, skip) => {
        let query = base.select(JOB_SUMMARY_COLUMNS.map((c) => `j.${c}` as const));
        if (where) query = query.where(where);
        for (const k of keys) query = query.orderBy(k, direction);
        return (await query.limit(n).offset(skip).execute()).map(toJobSummary);
      },
    });
    const total = await base.select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow();
    return {
      items: page.rows,
      total: Number(total.n),
      limit,
      offset: 0,
      next_cursor: page.next_cursor,
      prev_cursor: page.prev_cursor,
    };
  }

  /** Cancels a queued or delivered job; false when it was in another state. */
  async cancelJob(scope: TenantScope, k: K, tenantId: string, id: string, at: string): Promise<boolean> {
    scope.require(tenantId);
    const res = await k
      .updateTable('agent_jobs')
      .set({ state: 'cancelled', reason: 'cancelled', updated_at: at, finished_at: at })
      .where('tenant_id', '=', tenantId)
      .where('id', '=', id)
      .where('state', 'in', ['queued', 'delivered'])
      .executeTakeFirst();
    return Number(res.numUpdatedRows) === 1;
  }
}
