/**
 * Agent jobs: one envelope per agent, signed with the job-signing key (a random 16-byte nonce each), stored
 * `queued` with the audit record and `agent_jobs.queued {agent_ids}` events (at most 1000 ids each) in the same
 * transaction; the replica holding an agent's channel delivers it. Reads, lists and cancel (queued or delivered
 * only; the agent's later result for a cancelled job is ignored).
 *
 * Fan-out across tenants (`agents.fan_out`) is a durable platform job: it walks the matching active agents in key
 * order, 1000 per transaction under its lease, each row carrying `batch_id` = the platform job's id; a retried run
 * continues after the last agent that already got its job, so no agent gets two.
 */
import { randomBytes } from 'node:crypto';
import { FormatRegistry, type TSchema } from '@sinclair/typebox';
import { TypeCompiler } from '@sinclair/typebox/compiler';
import { type Kysely, sql } from 'kysely';
import type { SignedJob } from '../../api/agent-protocol.js';
import {
  AGENT_FAN_OUT_JOB,
  AGENT_JOB_PARAMS,
  type AgentFanOutBody,
  type AgentFanOutResult,
  type AgentJob,
  type AgentJobCreate,
  type AgentJobCreated,
  type AgentJobKind,
  type AgentJobListQuery,
  type AgentJobPage,
  DEFAULT_JOB_TTL_S,
  type Job,
} from '../../api/index.js';
import { appendAudit, queueAudit } from '../audit/log.js';
import type { Actor } from '../context.js';
import type { BulkWriter } from '../db/bulk.js';
import type { Db } from '../db/connect.js';
import type { Database } from '../db/schema.js';
import { WriteBatch } from '../db/write-batch.js';
import { badRequest, conflict } from '../errors.js';
import { type EventInput, publishEvent, queueEvents } from '../events/index.js';
import type { Jobs } from '../jobs/index.js';
import type { TenantScope } from '../scope.js';
import type { JobSigner } from './keys.js';
import { type AgentJobRow, type AgentRepository, toAgentJob } from './repository.js';

if (!FormatRegistry.Has('date-time'))
  FormatRegistry.Set(
    'date-time',
    (v) =>
      /^\d{4}-\d\d-\d\dT\d\d:\d\d(:\d\d(\.\d+)?)?(Z|[+-]\d\d:\d\d)$/i.test(v) && !Number.isNaN(Date.parse(v)),
  );

const PARAM_CHECKS = Object.fromEntries(
  Object.entries(AGENT_JOB_PARAMS).map(([kind, schema]) => [kind, TypeCompiler.Compile(schema as TSchema)]),
) as Record<AgentJobKind, ReturnType<typeof TypeCompiler.Compile>>;

/** Agent ids per `agent_jobs.queued` event and agents per fan-out transaction. */
export const QUEUED_EVENT_IDS = 1000;
const QUEUED_EVENT_BYTES = 12_000;
export const FAN_OUT_BATCH = 1000;

/** The kind's parameters checked: a 400 naming the field. */
export function checkJobParams(kind: AgentJobKind, params: unknown): Record<string, unknown> {
  const value = params ?? {};
  const check = PARAM_CHECKS[kind];
  if (!check.Check(value)) {
    const first = check.Errors(value).First();
    const path = first?.path ? `params${first.path.replace(/\//g, '.')}` : 'params';
    throw badRequest(`${path}: ${first?.message ?? 'invalid'} (kind ${kind})`);
  }
  return value as Record<string, unknown>;
}

let lastMs = 0;
let sequence = 0;
/**
 * `aj-` + creation time (base 36), a counter within the millisecond, 6 random bytes (hex; `random` when given):
 * sorts by creation.
 */
export function newAgentJobId(nowMs: number, random: Buffer = randomBytes(6)): string {
  if (nowMs <= lastMs) sequence++;
  else {
    lastMs = nowMs;
    sequence = 0;
  }
  return `aj-${Math.max(nowMs, lastMs).toString(36).padStart(9, '0')}${sequence.toString(36).padStart(4, '0')}${random.toString('hex')}`;
}

/** The job as the channel sends it: the stored envelope and signature. */
export function signedJobOf(row: Pick<AgentJobRow, 'envelope' | 'signature'>): SignedJob {
  return { envelope: JSON.parse(row.envelope) as SignedJob['envelope'], signature: row.signature };
}

interface JobSpec {
  kind: AgentJobKind;
  params: Record<string, unknown>;
  notBefore: string;
  expiresAt: string;
  createdBy: string;
  batchId: string | null;
}

/** Signed rows for `agents` (pairs of tenant and agent id). */
export function signedRows(
  signer: JobSigner,
  spec: JobSpec,
  agents: readonly (readonly [string, string])[],
): AgentJobRow[] {
  const now = Date.now();
  const at = new Date(now).toISOString();
  const params = JSON.stringify(spec.params);
  // One draw of randomness for every row: 6 bytes of job id and a 16-byte nonce each.
  const random = randomBytes(22 * agents.length);
  return agents.map(([tenantId, agentId], i) => {
    const id = newAgentJobId(now, random.subarray(22 * i, 22 * i + 6));
    const signed = signer.signText({
      v: 1,
      job_id: id,
      agent_id: agentId,
      tenant_id: tenantId,
      kind: spec.kind,
      params: spec.params,
      not_before: spec.notBefore,
      expires_at: spec.expiresAt,
      nonce: random.subarray(22 * i + 6, 22 * i + 22).toString('base64url'),
    });
    return {
      tenant_id: tenantId,
      id,
      agent_id: agentId,
      kind: spec.kind,
      params,
      envelope: signed.text,
      signature: signed.signature,
      state: 'queued',
      progress: null,
      result: null,
      result_signature: null,
      reason: null,
      not_before: spec.notBefore,
      expires_at: spec.expiresAt,
      created_by: spec.createdBy,
      created_at: at,
      updated_at: at,
      delivered_at: null,
      started_at: null,
      finished_at: null,
      batch_id: spec.batchId,
    };
  });
}

const JOB_COLUMNS = [
  'tenant_id',
  'id',
  'agent_id',
  'kind',
  'params',
  'envelope',
  'signature',
  'state',
  'progress',
  'result',
  'result_signature',
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

/** Queues the rows' insert and their `agent_jobs.queued` events (per tenant, ≤1000 ids each) on the batch. */
function queueJobRows(batch: WriteBatch, rows: readonly AgentJobRow[]): void {
  batch.upsert({ table: 'agent_jobs', columns: JOB_COLUMNS }, rows);
  const byTenant = new Map<string, string[]>();
  for (const r of rows) {
    let ids = byTenant.get(r.tenant_id);
    if (!ids) {
      ids = [];
      byTenant.set(r.tenant_id, ids);
    }
    ids.push(r.agent_id);
  }
  const events: EventInput[] = [];
  for (const [tenantId, ids] of byTenant) {
    // At most QUEUED_EVENT_IDS ids and QUEUED_EVENT_BYTES of them per event (an event's data is bounded).
    let chunk: string[] = [];
    let bytes = 0;
    const flush = () => {
      if (!chunk.length) return;
      events.push({
        type: 'agent_jobs.queued' as const,
        tenantId,
        subject: `tenant:${tenantId}`,
        data: { agent_ids: chunk },
      });
      chunk = [];
      bytes = 0;
    };
    for (const id of ids) {
      if (chunk.length === QUEUED_EVENT_IDS || bytes + id.length + 3 > QUEUED_EVENT_BYTES) flush();
      chunk.push(id);
      bytes += id.length + 3;
    }
    flush();
  }
  queueEvents(batch, events);
}

function times(
  expiresInS: number | undefined,
  notBefore: string | undefined,
): { notBefore: string; expiresAt: string } {
  const now = Date.now();
  const expires = now + (expiresInS ?? DEFAULT_JOB_TTL_S) * 1000;
  const start = notBefore === undefined ? now : Date.parse(notBefore);
  if (!Number.isFinite(start)) throw badRequest('not_before: not an ISO-8601 date-time');
  if (start >= expires)
    throw badRequest(
      `not_before: must be before the job expires (${new Date(expires).toISOString()}); raise expires_in_s`,
    );
  return { notBefore: new Date(start).toISOString(), expiresAt: new Date(expires).toISOString() };
}

interface FanOutParams {
  kind: AgentJobKind;
  params: Record<string, unknown>;
  filter: AgentFanOutBody['filter'];
  not_before: string;
  expires_at: string;
  created_by: string;
}

export class AgentJobService {
  constructor(
    private readonly db: Db,
    private readonly deps: {
      agents: AgentRepository;
      bulk: BulkWriter;
      jobs: Jobs;
      signer: () => Promise<JobSigner>;
    },
  ) {}

  private batch(trx: Kysely<Database>): WriteBatch {
    return new WriteBatch(this.deps.bulk, trx as never, this.db.dialect);
  }

  async create(
    scope: TenantScope,
    tenantId: string,
    body: AgentJobCreate,
    actor: Actor,
  ): Promise<AgentJobCreated> {
    const { agents } = this.deps;
    scope.require(tenantId);
    const params = checkJobParams(body.kind, body.params);
    if (!!body.agents === !!body.all)
      throw badRequest('agents: give either agents (a list of agent ids) or all: true');
    const { notBefore, expiresAt } = times(body.expires_in_s, body.not_before);
    const signer = await this.deps.signer();
    const rows = await this.db.kysely.transaction().execute(async (trx) => {
      await agents.requireTenant(scope, tenantId, trx);
      let ids: string[];
      if (body.all) ids = await agents.activeIds(scope, trx, tenantId);
      else {
        ids = [...new Set(body.agents)];
        const states = await agents.states(scope, trx, tenantId, ids);
        body.agents!.forEach((id, i) => {
          const state = states.get(id);
          if (!state) throw badRequest(`agents[${i}]: no agent ${id} in tenant ${tenantId}`);
          if (state !== 'active') throw badRequest(`agents[${i}]: agent ${id} is ${state}; it runs no jobs`);
        });
      }
      const rows = signedRows(
        signer,
        { kind: body.kind, params, notBefore, expiresAt, createdBy: actor.name, batchId: null },
        ids.map((id) => [tenantId, id] as const),
      );
      const batch = this.batch(trx);
      queueJobRows(batch, rows);
      queueAudit(batch, {
        actor: actor.name,
        tenantId,
        action: 'agent_jobs.create',
        target: `tenant:${tenantId}`,
        detail: {
          kind: body.kind,
          params,
          agents: rows.length,
          first: rows.slice(0, 20).map((r) => r.agent_id),
          expires_at: expiresAt,
        },
      });
      await batch.flush();
      return rows;
    });
    return { jobs: rows.map((r) => ({ id: r.id, agent_id: r.agent_id, state: 'queued' as const })) };
  }

  list(scope: TenantScope, tenantId: string, q: AgentJobListQuery): Promise<AgentJobPage> {
    return this.deps.agents.listJobs(scope, tenantId, q);
  }

  async get(scope: TenantScope, tenantId: string, id: string): Promise<AgentJob> {
    return toAgentJob(await this.deps.agents.requireJob(scope, tenantId, id));
  }

  async cancel(scope: TenantScope, tenantId: string, id: string, actor: Actor): Promise<AgentJob> {
    const { agents } = this.deps;
    return this.db.kysely.transaction().execute(async (trx) => {
      const job = await agents.requireJob(scope, tenantId, id, trx);
      const at = new Date().toISOString();
      if (!(await agents.cancelJob(scope, trx, tenantId, id, at)))
        throw conflict(`agent job ${id} is ${job.state}; only a queued or delivered job can be cancelled`);
      await appendAudit(trx, this.db.dialect, {
        actor: actor.name,
        tenantId,
        action: 'agent_job.cancel',
        target: `agent_job:${tenantId}/${id}`,
        detail: { agent_id: job.agent_id, kind: job.kind, was: job.state },
      });
      await publishEvent(trx, {
        type: 'agent_job.updated',
        tenantId,
        subject: `agent_job:${id}`,
        data: { job_id: id, agent_id: job.agent_id, kind: job.kind, state: 'cancelled' },
      });
      return toAgentJob((await agents.jobRow(scope, trx, tenantId, id))!);
    });
  }

  /** Queues the fan-out platform job (installation-wide; operators that see every tenant). */
  async fanOut(scope: TenantScope, body: AgentFanOutBody, actor: Actor): Promise<Job> {
    scope.requireAll('a fan-out spans tenants; it needs a principal that sees every tenant');
    const params = checkJobParams(body.kind, body.params);
    const { notBefore, expiresAt } = times(body.expires_in_s, undefined);
    const fan: FanOutParams = {
      kind: body.kind,
      params,
      filter: body.filter,
      not_before: notBefore,
      expires_at: expiresAt,
      created_by: actor.name,
    };
    return this.db.kysely
      .transaction()
      .execute(async (trx) => {
        const job = await this.deps.jobs.queue.enqueue(trx, {
          kind: AGENT_FAN_OUT_JOB,
          tenantId: null,
          params: fan,
          createdBy: actor.name,
          expiresAt: new Date(expiresAt),
        });
        await appendAudit(trx, this.db.dialect, {
          actor: actor.name,
          tenantId: null,
          action: 'agent_jobs.fan_out',
          target: `job:${job.id}`,
          detail: { kind: body.kind, params, filter: body.filter, expires_at: expiresAt },
        });
        return job;
      })
      .finally(() => this.deps.jobs.queue.wake());
  }

  /** Registers the fan-out handler on the worker. */
  register(): void {
    const { jobs } = this.deps;
    jobs.worker.register(AGENT_FAN_OUT_JOB, async (job, jc): Promise<AgentFanOutResult> => {
      const p = job.params as FanOutParams;
      const signer = await this.deps.signer();
      const k = this.db.kysely;
      const matching = () => {
        let q = k.selectFrom('agents as a').where('a.state', '=', 'active');
        if (p.filter.tenants) q = q.where('a.tenant_id', 'in', p.filter.tenants);
        if (p.filter.product) {
          const product = p.filter.product;
          q = q.where((eb) =>
            eb.exists(
              eb
                .selectFrom('asset_products as ap')
                .select('ap.product')
                .whereRef('ap.tenant_id', '=', 'a.tenant_id')
                .whereRef('ap.asset_id', '=', 'a.id')
                .where('ap.product', '=', product),
            ),
          );
        }
        return q;
      };
      const total = Number(
        (
          await matching()
            .select((eb) => eb.fn.countAll<number>().as('n'))
            .executeTakeFirstOrThrow()
        ).n,
      );
      // A retried run continues after the last agent that already got this fan-out's job.
      const last = await k
        .selectFrom('agent_jobs')
        .select(['tenant_id', 'agent_id'])
        .where('batch_id', '=', job.id)
        .orderBy('tenant_id', 'desc')
        .orderBy('agent_id', 'desc')
        .limit(1)
        .executeTakeFirst();
      let after: [string, string] | undefined = last ? [last.tenant_id, last.agent_id] : undefined;
      let done = last
        ? Number(
            (
              await k
                .selectFrom('agent_jobs')
                .select((eb) => eb.fn.countAll<number>().as('n'))
                .where('batch_id', '=', job.id)
                .executeTakeFirstOrThrow()
            ).n,
          )
        : 0;
      const tenants = new Set<string>();
      jc.progress(done, total);
      for (let round = 0; round < 1_000_000; round++) {
        if (jc.signal.aborted) throw new Error('fan-out stopped');
        let q = matching().select(['a.tenant_id', 'a.id']);
        if (after) q = q.where(sql<boolean>`(a.tenant_id, a.id) > (${after[0]}, ${after[1]})`);
        const page = await q.orderBy('a.tenant_id').orderBy('a.id').limit(FAN_OUT_BATCH).execute();
        if (!page.length) break;
        const rows = signedRows(
          signer,
          {
            kind: p.kind,
            params: p.params,
            notBefore: p.not_before,
            expiresAt: p.expires_at,
            createdBy: p.created_by,
            batchId: job.id,
          },
          page.map((r) => [r.tenant_id, r.id] as const),
        );
        await jc.inLease(async (trx) => {
          const batch = this.batch(trx);
          queueJobRows(batch, rows);
          await batch.flush();
        });
        for (const r of page) tenants.add(r.tenant_id);
        done += page.length;
        after = [page[page.length - 1]!.tenant_id, page[page.length - 1]!.id];
        jc.progress(done, Math.max(total, done));
      }
      return { agents: done, tenants: tenants.size, batch_id: job.id };
    });
  }
}
