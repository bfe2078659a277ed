/**
 * What the channel reads and writes: the agent's identity and generation, quarantine, job delivery and results,
 * the expiry sweep and presence. Every query goes through a TenantScope: the agent's own tenant once the agent is
 * known, every tenant for the server's own sweeps and batches (ids are unique across tenants).
 */
import type { Kysely, Transaction } from 'kysely';
import { appendAudit } from '../../audit/log.js';
import type { Db } from '../../db/connect.js';
import type { Database } from '../../db/schema.js';
import { type EventInput, publishEvents } from '../../events/index.js';
import { TenantScope } from '../../scope.js';

/** Ids per IN list. */
const CHUNK = 500;

export interface AgentRow {
  tenant_id: string;
  id: string;
  public_key: string;
  state: string;
  state_reason: string | null;
  generation: number;
  pending_generation: number | null;
  cert_serial: string;
  cert_not_after: string;
  inventory_hash: string | null;
  /** The current certificate is revoked or not on record. */
  cert_revoked: boolean;
}

/** A generation change of one agent: offered in welcome (pending) and/or stored by the agent (generation). */
export interface GenerationWrite {
  tenantId: string;
  agentId: string;
  pending?: number;
  generation?: number;
}

export interface DueJob {
  tenant_id: string;
  id: string;
  agent_id: string;
  envelope: string;
  signature: string;
  state: string;
}

export interface JobRow {
  tenant_id: string;
  id: string;
  agent_id: string;
  kind: string;
  state: string;
  started_at: string | null;
}

/** States a job may still leave; every other state is final. */
export const OPEN_JOB_STATES = ['queued', 'delivered', 'received', 'running'] as const;
/** States the expiry sweep ends: the agent has not started the job. */
export const EXPIRABLE_STATES = ['queued', 'delivered', 'received'] as const;

export function scopeOf(tenantId: string): TenantScope {
  return TenantScope.of({ all: false, tenantId });
}

function chunks<T>(items: readonly T[], size = CHUNK): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}

function jobEvent(row: { tenant_id: string; id: string; agent_id: string; kind: string }, state: string) {
  return {
    type: 'agent_job.updated',
    tenantId: row.tenant_id,
    subject: `agent_job:${row.id}`,
    data: { job_id: row.id, agent_id: row.agent_id, kind: row.kind, state },
  } satisfies EventInput;
}

export class ChannelStore {
  constructor(private readonly db: Db) {}

  private get k(): Kysely<Database> {
    return this.db.kysely;
  }

  /** The agent as the handshake needs it, with whether its current certificate is revoked (or unknown). */
  async agent(agentId: string): Promise<AgentRow | undefined> {
    const row = await TenantScope.everyTenant
      .filter(
        this.k
          .selectFrom('agents')
          .leftJoin('agent_certificates', 'agent_certificates.serial', 'agents.cert_serial')
          .select([
            'agents.tenant_id',
            'agents.id',
            'agents.public_key',
            'agents.state',
            'agents.state_reason',
            'agents.generation',
            'agents.pending_generation',
            'agents.cert_serial',
            'agents.cert_not_after',
            'agents.inventory_hash',
            'agent_certificates.serial as cert_found',
            'agent_certificates.revoked_at as cert_revoked_at',
          ])
          .where('agents.id', '=', agentId),
        'agents.tenant_id',
      )
      .executeTakeFirst();
    if (!row) return undefined;
    const { cert_found, cert_revoked_at, ...agent } = row;
    return {
      ...agent,
      generation: Number(agent.generation),
      pending_generation: agent.pending_generation === null ? null : Number(agent.pending_generation),
      cert_revoked: !cert_found || cert_revoked_at !== null,
    };
  }

  /**
   * Quarantines an active agent with its reason, audit record and `agent.changed` in one transaction. False when it
   * was not active (already quarantined or revoked).
   */
  async quarantine(tenantId: string, agentId: string, reason: string): Promise<boolean> {
    return this.k.transaction().execute(async (trx) => {
      const now = new Date().toISOString();
      const res = await scopeOf(tenantId)
        .filter(
          trx
            .updateTable('agents')
            .set({ state: 'quarantined', state_reason: reason, updated_at: now })
            .where('id', '=', agentId)
            .where('state', '=', 'active'),
          'tenant_id',
        )
        .executeTakeFirst();
      if (Number(res.numUpdatedRows) === 0) return false;
      await appendAudit(trx, this.db.dialect, {
        actor: 'system',
        tenantId,
        action: 'agent.quarantine',
        target: `agent:${agentId}`,
        detail: { reason },
      });
      await publishEvents(trx, [
        {
          type: 'agent.changed',
          tenantId,
          subject: `agent:${agentId}`,
          data: { agent_id: agentId, action: 'quarantined' },
        },
      ]);
      return true;
    });
  }

  /**
   * A renewed device certificate for the agent's key: stored, made the agent's current one (older serials stay valid
   * until their not_after), audited, `agent.changed` (certificate_renewed).
   */
  async renewed(
    tenantId: string,
    agentId: string,
    cert: { serial: string; notBefore: string; notAfter: string },
  ): Promise<void> {
    await this.k.transaction().execute(async (trx) => {
      const now = new Date().toISOString();
      await trx
        .insertInto('agent_certificates')
        .values({
          serial: cert.serial,
          tenant_id: tenantId,
          agent_id: agentId,
          not_before: cert.notBefore,
          not_after: cert.notAfter,
          revoked_at: null,
        })
        .execute();
      await scopeOf(tenantId)
        .filter(
          trx
            .updateTable('agents')
            .set({ cert_serial: cert.serial, cert_not_after: cert.notAfter, updated_at: now })
            .where('id', '=', agentId),
          'tenant_id',
        )
        .execute();
      await appendAudit(trx, this.db.dialect, {
        actor: `agent:${agentId}`,
        tenantId,
        action: 'agent.certificate_renew',
        target: `agent:${agentId}`,
        detail: { serial: cert.serial, not_after: cert.notAfter },
      });
      await publishEvents(trx, [
        {
          type: 'agent.changed',
          tenantId,
          subject: `agent:${agentId}`,
          data: { agent_id: agentId, action: 'certificate_renewed' },
        },
      ]);
    });
  }

  /**
   * Jobs to send now to these agents: queued, or delivered and not yet received, with not_before ≤ now <
   * expires_at, oldest first.
   */
  async dueJobs(agentIds: readonly string[], now: string, limitPerAgent = 1000): Promise<DueJob[]> {
    const out: DueJob[] = [];
    for (const ids of chunks(agentIds)) {
      const rows = await TenantScope.everyTenant
        .filter(
          this.k
            .selectFrom('agent_jobs')
            .select(['tenant_id', 'id', 'agent_id', 'envelope', 'signature', 'state'])
            .where('agent_id', 'in', ids)
            .where('state', 'in', ['queued', 'delivered'])
            .where('not_before', '<=', now)
            .where('expires_at', '>', now)
            .orderBy('created_at')
            .orderBy('id')
            .limit(limitPerAgent * ids.length),
          'tenant_id',
        )
        .execute();
      out.push(...rows);
    }
    return out;
  }

  /** Marks queued jobs delivered. */
  async markDelivered(jobIds: readonly string[], now: string): Promise<void> {
    for (const ids of chunks(jobIds)) {
      await TenantScope.everyTenant
        .filter(
          this.k
            .updateTable('agent_jobs')
            .set({ state: 'delivered', delivered_at: now, updated_at: now })
            .where('id', 'in', ids)
            .where('state', '=', 'queued'),
          'tenant_id',
        )
        .execute();
    }
  }

  /** Agents with a queued job that became due in (after, now]: jobs created with a later not_before. */
  async agentsWithJobsDue(after: string, now: string, limit = 10_000): Promise<string[]> {
    const rows = await TenantScope.everyTenant
      .filter(
        this.k
          .selectFrom('agent_jobs')
          .select('agent_id')
          .distinct()
          .where('state', '=', 'queued')
          .where('expires_at', '>', now)
          .where('not_before', '>', after)
          .where('not_before', '<=', now)
          .limit(limit),
        'tenant_id',
      )
      .execute();
    return rows.map((r) => r.agent_id);
  }

  async job(tenantId: string, jobId: string): Promise<JobRow | undefined> {
    return scopeOf(tenantId)
      .filter(
        this.k
          .selectFrom('agent_jobs')
          .select(['tenant_id', 'id', 'agent_id', 'kind', 'state', 'started_at'])
          .where('id', '=', jobId),
        'tenant_id',
      )
      .executeTakeFirst();
  }

  /**
   * The agent stored or started its job (job_status). Moves forward only: `received` from queued/delivered,
   * `running` from any open state (a running job's progress too). Publishes `agent_job.updated` when it started.
   */
  async jobStatus(
    tenantId: string,
    agentId: string,
    jobId: string,
    state: 'received' | 'running',
    progress: { done: number; total: number | null } | undefined,
  ): Promise<void> {
    const now = new Date().toISOString();
    const from = state === 'received' ? ['queued', 'delivered'] : [...OPEN_JOB_STATES];
    await this.k.transaction().execute(async (trx) => {
      const row = await scopeOf(tenantId)
        .filter(
          trx
            .selectFrom('agent_jobs')
            .select(['tenant_id', 'id', 'agent_id', 'kind', 'state', 'started_at'])
            .where('id', '=', jobId)
            .where('agent_id', '=', agentId)
            .where('state', 'in', from),
          'tenant_id',
        )
        .executeTakeFirst();
      if (!row) return;
      await scopeOf(tenantId)
        .filter(
          trx
            .updateTable('agent_jobs')
            .set({
              state,
              updated_at: now,
              ...(progress ? { progress: JSON.stringify(progress) } : {}),
              ...(state === 'running' && !row.started_at ? { started_at: now } : {}),
              ...(row.state === 'queued' ? { delivered_at: now } : {}),
            })
            .where('id', '=', jobId)
            .where('state', '=', row.state),
          'tenant_id',
        )
        .execute();
      if (state === 'running' && row.state !== 'running') await publishEvents(trx, [jobEvent(row, state)]);
    });
  }

  /**
   * Stores a job's signed result once: the job must be this agent's and still open. Returns the job as it was, or
   * undefined when the result changed nothing (unknown, foreign, finished or cancelled job).
   */
  async finishJob(
    tenantId: string,
    agentId: string,
    jobId: string,
    outcome: {
      state: 'succeeded' | 'failed' | 'refused';
      reason: string | null;
      result: string;
      signature: string;
      startedAt: string | undefined;
    },
  ): Promise<JobRow | undefined> {
    const now = new Date().toISOString();
    return this.k.transaction().execute(async (trx) => {
      const row = await scopeOf(tenantId)
        .filter(
          trx
            .selectFrom('agent_jobs')
            .select(['tenant_id', 'id', 'agent_id', 'kind', 'state', 'started_at'])
            .where('id', '=', jobId)
            .where('agent_id', '=', agentId)
            .where('state', 'in', [...OPEN_JOB_STATES]),
          'tenant_id',
        )
        .executeTakeFirst();
      if (!row) return undefined;
      const res = await scopeOf(tenantId)
        .filter(
          trx
            .updateTable('agent_jobs')
            .set({
              state: outcome.state,
              reason: outcome.reason,
              result: outcome.result,
              result_signature: outcome.signature,
              finished_at: now,
              updated_at: now,
              ...(row.started_at ? {} : { started_at: outcome.startedAt ?? null }),
            })
            .where('id', '=', jobId)
            .where('state', '=', row.state),
          'tenant_id',
        )
        .executeTakeFirst();
      if (Number(res.numUpdatedRows) === 0) return undefined;
      await publishEvents(trx, [jobEvent(row, outcome.state)]);
      return row;
    });
  }

  /** A finished job whose output could not be applied reads `failed` with the reason. */
  async failAfterResult(tenantId: string, row: JobRow, reason: string): Promise<void> {
    const now = new Date().toISOString();
    await this.k.transaction().execute(async (trx) => {
      await scopeOf(tenantId)
        .filter(
          trx
            .updateTable('agent_jobs')
            .set({ state: 'failed', reason: reason.slice(0, 2000), updated_at: now })
            .where('id', '=', row.id)
            .where('state', '=', 'succeeded'),
          'tenant_id',
        )
        .execute();
      await publishEvents(trx, [jobEvent(row, 'failed')]);
    });
  }

  /**
   * Ends jobs not started before their expiry: `expired` with the reason and one `agent_job.updated` each. At most
   * `limit` per call; returns how many.
   */
  async expireJobs(now: string, limit = 1000): Promise<number> {
    return this.k.transaction().execute(async (trx) => {
      const due = await TenantScope.everyTenant
        .filter(
          trx
            .selectFrom('agent_jobs')
            .select('id')
            .where('state', 'in', [...EXPIRABLE_STATES])
            .where('expires_at', '<=', now)
            .limit(limit),
          'tenant_id',
        )
        .execute();
      if (!due.length) return 0;
      const expired = await TenantScope.everyTenant
        .filter(
          trx
            .updateTable('agent_jobs')
            .set({
              state: 'expired',
              reason: 'the agent did not run the job before it expired',
              finished_at: now,
              updated_at: now,
            })
            .where(
              'id',
              'in',
              due.map((d) => d.id),
            )
            .where('state', 'in', [...EXPIRABLE_STATES])
            .returning(['tenant_id', 'id', 'agent_id', 'kind']),
          'tenant_id',
        )
        .execute();
      if (expired.length)
        await publishEvents(
          trx,
          expired.map((r) => jobEvent(r, 'expired')),
        );
      return expired.length;
    });
  }

  /**
   * Writes one presence batch in one transaction: agents that connected (online, this replica, connected_at),
   * agents whose channel ended (offline, unless another replica holds them now), agents seen (last_seen_at), and
   * one `agents.presence` event per tenant (split at 1,000 ids).
   */
  async writePresence(batch: {
    online: readonly { tenantId: string; agentId: string }[];
    offline: readonly { tenantId: string; agentId: string }[];
    seen: readonly string[];
    generations?: readonly GenerationWrite[];
    replica: string;
    at: string;
  }): Promise<void> {
    const { online, offline, seen, replica, at } = batch;
    const generations = batch.generations ?? [];
    if (!online.length && !offline.length && !seen.length && !generations.length) return;
    await this.k.transaction().execute(async (trx) => {
      for (const g of generations) {
        const set =
          g.generation !== undefined
            ? { generation: g.generation, pending_generation: g.pending ?? null, updated_at: at }
            : { pending_generation: g.pending ?? null, updated_at: at };
        let q = scopeOf(g.tenantId).filter(
          trx.updateTable('agents').set(set).where('id', '=', g.agentId).where('state', '=', 'active'),
          'tenant_id',
        );
        // Generations only move forward.
        if (g.generation !== undefined) q = q.where('generation', '<', g.generation);
        await q.execute();
      }
      const all = TenantScope.everyTenant;
      for (const ids of chunks(online.map((o) => o.agentId))) {
        await all
          .filter(
            trx
              .updateTable('agents')
              .set({ online: 1, connected_replica: replica, connected_at: at, last_seen_at: at })
              .where('id', 'in', ids),
            'tenant_id',
          )
          .execute();
      }
      for (const ids of chunks(offline.map((o) => o.agentId))) {
        await all
          .filter(
            trx
              .updateTable('agents')
              .set({ online: 0, connected_replica: null, last_seen_at: at })
              .where('id', 'in', ids)
              .where((eb) =>
                eb.or([eb('connected_replica', '=', replica), eb('connected_replica', 'is', null)]),
              ),
            'tenant_id',
          )
          .execute();
      }
      for (const ids of chunks(seen)) {
        await all
          .filter(trx.updateTable('agents').set({ last_seen_at: at }).where('id', 'in', ids), 'tenant_id')
          .execute();
      }
      await publishEvents(trx, presenceEvents(online, offline));
    });
  }

  /**
   * Agents marked online whose last_seen_at is older than `cutoff`: the replica that held them stopped without
   * saying so. They are marked offline, with their presence events; at most `limit` per call.
   */
  async clearStalePresence(cutoff: string, limit = 1000): Promise<number> {
    return this.k.transaction().execute(async (trx) => {
      const stale = await TenantScope.everyTenant
        .filter(
          trx
            .selectFrom('agents')
            .select(['tenant_id', 'id'])
            .where('online', '=', 1)
            .where((eb) => eb.or([eb('last_seen_at', '<', cutoff), eb('last_seen_at', 'is', null)]))
            .limit(limit),
          'tenant_id',
        )
        .execute();
      if (!stale.length) return 0;
      const done = await TenantScope.everyTenant
        .filter(
          trx
            .updateTable('agents')
            .set({ online: 0, connected_replica: null, updated_at: new Date().toISOString() })
            .where(
              'id',
              'in',
              stale.map((s) => s.id),
            )
            .where('online', '=', 1)
            .where((eb) => eb.or([eb('last_seen_at', '<', cutoff), eb('last_seen_at', 'is', null)]))
            .returning(['tenant_id', 'id']),
          'tenant_id',
        )
        .execute();
      await publishEvents(
        trx,
        presenceEvents(
          [],
          done.map((d) => ({ tenantId: d.tenant_id, agentId: d.id })),
        ),
      );
      return done.length;
    });
  }

  /**
   * Marks offline every agent left online: for a single server (SQLite) at start, when no channel can be open.
   * Returns how many.
   */
  async releaseAll(at: string): Promise<number> {
    const res = await TenantScope.everyTenant
      .filter(
        this.k
          .updateTable('agents')
          .set({ online: 0, connected_replica: null, updated_at: at })
          .where('online', '=', 1),
        'tenant_id',
      )
      .executeTakeFirst();
    return Number(res.numUpdatedRows);
  }
}

/** One `agents.presence` event per tenant, at most 1,000 ids per list. */
export function presenceEvents(
  online: readonly { tenantId: string; agentId: string }[],
  offline: readonly { tenantId: string; agentId: string }[],
): EventInput[] {
  const byTenant = new Map<string, { online: string[]; offline: string[] }>();
  const slot = (t: string) => {
    let s = byTenant.get(t);
    if (!s) {
      s = { online: [], offline: [] };
      byTenant.set(t, s);
    }
    return s;
  };
  for (const o of online) slot(o.tenantId).online.push(o.agentId);
  for (const o of offline) slot(o.tenantId).offline.push(o.agentId);
  const out: EventInput[] = [];
  for (const [tenantId, lists] of byTenant) {
    const n = Math.max(lists.online.length, lists.offline.length);
    for (let i = 0; i < n; i += 1000) {
      out.push({
        type: 'agents.presence',
        tenantId,
        subject: `tenant:${tenantId}`,
        data: { online: lists.online.slice(i, i + 1000), offline: lists.offline.slice(i, i + 1000) },
      });
    }
  }
  return out;
}

export type Trx = Transaction<Database>;
