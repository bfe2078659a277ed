/**
 * Agent use cases for operators: the list and one agent's identity, and revocation — the agent's state becomes
 * `revoked`, every certificate it holds is revoked, its queued and undelivered jobs are cancelled, with the audit
 * record and `agent.changed {action: 'revoked'}` in the same transaction (the channel closes its connection on
 * that event and refuses its next message).
 */
import type { Agent, AgentListQuery, AgentSummary, CursorPage } from '../../api/index.js';
import type { AssetRepository } from '../assets/repository.js';
import { appendAudit } from '../audit/log.js';
import type { ServerConfig } from '../config.js';
import type { Actor } from '../context.js';
import type { BulkWriter } from '../db/bulk.js';
import type { Db } from '../db/connect.js';
import { publishEvents } from '../events/index.js';
import type { ExposureService } from '../exposure/service.js';
import type { Jobs } from '../jobs/index.js';
import type { TenantScope } from '../scope.js';
import type { TenantRepository } from '../tenants/repository.js';
import { AgentCa, revokeCertificates } from './ca.js';
import { EnrollService } from './enroll.js';
import { AgentJobService } from './jobs-service.js';
import { AgentKeys } from './keys.js';
import { AgentRepository, toAgent } from './repository.js';
import { AgentTokenService } from './tokens.js';

export class AgentService {
  constructor(
    private readonly db: Db,
    private readonly agents: AgentRepository,
  ) {}

  list(scope: TenantScope, tenantId: string, q: AgentListQuery): Promise<CursorPage<AgentSummary>> {
    return this.agents.list(scope, tenantId, q);
  }

  async get(scope: TenantScope, tenantId: string, id: string): Promise<Agent> {
    return toAgent(await this.agents.require(scope, tenantId, id));
  }

  async revoke(
    scope: TenantScope,
    tenantId: string,
    id: string,
    reason: string | undefined,
    actor: Actor,
  ): Promise<Agent> {
    return this.db.kysely.transaction().execute(async (trx) => {
      const agent = await this.agents.require(scope, tenantId, id, trx);
      // Revoked already: nothing changes, nothing is recorded twice.
      if (agent.state === 'revoked') return toAgent(agent);
      const at = new Date().toISOString();
      const why = `revoked by ${actor.name}${reason ? `: ${reason}` : ''}`;
      await this.agents.setState(scope, trx, tenantId, id, 'revoked', why, at);
      const certificates = await revokeCertificates(trx, tenantId, id, at);
      const cancelled = await trx
        .updateTable('agent_jobs')
        .set({ state: 'cancelled', reason: 'agent revoked', updated_at: at, finished_at: at })
        .where('tenant_id', '=', tenantId)
        .where('agent_id', '=', id)
        .where('state', 'in', ['queued', 'delivered', 'received', 'running'])
        .returning(['id', 'kind'])
        .execute();
      await appendAudit(trx, this.db.dialect, {
        actor: actor.name,
        tenantId,
        action: 'agent.revoke',
        target: `agent:${tenantId}/${id}`,
        detail: { reason: reason ?? null, certificates, jobs_cancelled: cancelled.length },
      });
      await publishEvents(trx, [
        {
          type: 'agent.changed',
          tenantId,
          subject: `agent:${id}`,
          data: { agent_id: id, action: 'revoked' },
        },
        ...cancelled.map((j) => ({
          type: 'agent_job.updated' as const,
          tenantId,
          subject: `agent_job:${j.id}`,
          data: { job_id: j.id, agent_id: id, kind: j.kind, state: 'cancelled' },
        })),
      ]);
      return toAgent((await this.agents.row(scope, trx, tenantId, id))!);
    });
  }
}

/** The agents domain as the app context holds it: keys and CA (the channel signs and issues with these too). */
export interface AgentsDomain {
  keys: AgentKeys;
  ca: AgentCa;
  repository: AgentRepository;
  tokens: AgentTokenService;
  enroll: EnrollService;
  agents: AgentService;
  jobs: AgentJobService;
}

export function createAgentsDomain(deps: {
  db: Db;
  config: ServerConfig;
  tenants: TenantRepository;
  assets: AssetRepository;
  exposure: ExposureService;
  bulk: BulkWriter;
  jobs: Jobs;
}): AgentsDomain {
  const { db, config } = deps;
  const keys = new AgentKeys(db.kysely, config);
  const ca = new AgentCa(keys, config.agent_cert_days);
  const repository = new AgentRepository(db, deps.tenants);
  const jobs = new AgentJobService(db, {
    agents: repository,
    bulk: deps.bulk,
    jobs: deps.jobs,
    signer: () => keys.jobSigner(),
  });
  jobs.register();
  return {
    keys,
    ca,
    repository,
    tokens: new AgentTokenService(db, deps.tenants, repository),
    enroll: new EnrollService(db, {
      agents: repository,
      assets: deps.assets,
      exposure: deps.exposure,
      keys,
      ca,
      certDays: config.agent_cert_days,
      heartbeatS: config.agent_heartbeat_s,
    }),
    agents: new AgentService(db, repository),
    jobs,
  };
}
