/**
 * The console's calls for agents: a tenant's agents and one agent's identity, enrolment tokens, agent jobs and
 * revocation (the REST routes of src/api/agents.ts). The types are the wire shapes the console reads.
 */
import { type CursorPage, call, withQuery } from './api';

export type AgentState = 'active' | 'quarantined' | 'revoked';
export const AGENT_JOB_KINDS = ['inventory', 'hunt', 'mitigate', 'rollback', 'verify'] as const;
export type AgentJobKind = (typeof AGENT_JOB_KINDS)[number];

export interface AgentSummary {
  tenant_id: string;
  id: string;
  site_id: string | null;
  hostname: string;
  os: string | null;
  version: string;
  state: AgentState;
  state_reason: string | null;
  online: boolean;
  last_seen_at: string | null;
  enrolled_at: string;
  updated_at: string;
}

export interface Agent extends AgentSummary {
  public_key: string;
  key_fingerprint: string;
  cert_serial: string;
  cert_not_after: string;
  generation: number;
  connected_at: string | null;
  inventory_hash: string | null;
  inventory_at: string | null;
}

export interface AgentToken {
  id: string;
  tenant_id: string;
  site_id: string | null;
  uses_allowed: number;
  uses: number;
  note: string | null;
  expires_at: string;
  revoked_at: string | null;
  created_by: string;
  created_at: string;
}

export interface AgentJob {
  id: string;
  tenant_id: string;
  agent_id: string;
  kind: AgentJobKind;
  params: unknown;
  state: string;
  progress: { done: number; total: number | null; message?: string } | null;
  reason: string | null;
  not_before: string;
  expires_at: string;
  created_by: string;
  created_at: string;
  updated_at: string;
  delivered_at: string | null;
  started_at: string | null;
  finished_at: string | null;
}

const seg = (s: string) => encodeURIComponent(s);
const base = (tenant: string) => `/api/v1/tenants/${seg(tenant)}`;

export const agentApi = {
  agents(
    tenant: string,
    query: { site?: string; state?: string; online?: string; limit: number; cursor?: string },
  ): Promise<CursorPage<AgentSummary>> {
    return call('GET', withQuery(`${base(tenant)}/agents`, query));
  },
  agent(tenant: string, id: string): Promise<Agent> {
    return call('GET', `${base(tenant)}/agents/${seg(id)}`);
  },
  revoke(tenant: string, id: string, reason?: string): Promise<Agent> {
    return call('POST', `${base(tenant)}/agents/${seg(id)}/revoke`, reason ? { reason } : {});
  },
  tokens(tenant: string): Promise<{ items: AgentToken[] }> {
    return call('GET', `${base(tenant)}/agent-tokens`);
  },
  createToken(
    tenant: string,
    input: { site?: string; uses?: number; ttl_s?: number; note?: string },
  ): Promise<AgentToken & { token: string }> {
    return call('POST', `${base(tenant)}/agent-tokens`, input);
  },
  revokeToken(tenant: string, id: string): Promise<void> {
    return call('DELETE', `${base(tenant)}/agent-tokens/${seg(id)}`);
  },
  jobs(
    tenant: string,
    query: { agent?: string; state?: string; limit: number; cursor?: string },
  ): Promise<CursorPage<AgentJob>> {
    return call('GET', withQuery(`${base(tenant)}/agent-jobs`, query));
  },
  runJob(
    tenant: string,
    input: { kind: AgentJobKind; params?: Record<string, unknown>; agents?: string[]; all?: true },
  ): Promise<{ jobs: { id: string; agent_id: string; state: string }[] }> {
    return call('POST', `${base(tenant)}/agent-jobs`, input);
  },
  cancelJob(tenant: string, id: string): Promise<AgentJob> {
    return call('POST', `${base(tenant)}/agent-jobs/${seg(id)}/cancel`);
  },
};

/** The console path of a tenant's agents, and of one agent. */
export const agentsPath = (tenant: string) => `/tenants/${seg(tenant)}/agents`;
export const agentPath = (tenant: string, id: string) => `${agentsPath(tenant)}/${seg(id)}`;

/** The events that change what the agent pages show. */
export const AGENT_EVENTS = ['agent.changed', 'agents.presence', 'agent_job.updated'] as const;
