/**
 * Operator commands for agents, against a Bulwark server (API token from BULWARK_TOKEN, never the command line):
 * `bulwark agent token` (an enrolment token), `bulwark agents list|show|revoke`, and `bulwark agent-jobs
 * run|list|show`. Every string the server sent is escaped before it reaches the terminal. Exit codes: 0; 1 when an
 * agent job shown ended without doing its work (failed, refused, expired, cancelled); 2 for usage errors, refusals
 * and an unreachable server.
 */
import { type Command, Option } from 'commander';
import {
  AGENT_JOB_KINDS,
  AGENT_JOB_STATES,
  AGENT_STATES,
  type AgentJobStateName,
  ApiClientError,
  type ApiClientOptions,
  MAX_TOKEN_TTL_S,
  MIN_TOKEN_TTL_S,
} from '../../api/index.js';
import { escapeAllStrings } from '../../core/index.js';
import { EXIT, type Io, paint, printJson, UsageError } from '../io.js';
import type { CommandHost } from './agent-group.js';
import { serverClient } from './server-access.js';

interface ServerOpts {
  server: string;
  json?: boolean;
}

const UNSUCCESSFUL: readonly AgentJobStateName[] = ['failed', 'refused', 'expired', 'cancelled'];

function client(io: Io, opts: ServerOpts): ApiClientOptions {
  return serverClient(io, { url: opts.server, flag: '--server' });
}

/** A server's refusal or an unreachable server as one usage error naming the server's message. */
function asUsage(err: unknown): unknown {
  return err instanceof ApiClientError ? new UsageError(err.message) : err;
}

async function api<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    throw asUsage(err);
  }
}

/** `90`, `90s`, `30m`, `1h`, `7d` → seconds. */
export function parseDuration(flag: string, text: string): number {
  const m = /^(\d{1,9})([smhd]?)$/.exec(text.trim());
  if (!m) throw new UsageError(`${flag}: "${text}" is not a duration; write e.g. 30m, 1h or 7d`);
  const seconds =
    Number(m[1]) * { '': 1, s: 1, m: 60, h: 3600, d: 86400 }[m[2] as '' | 's' | 'm' | 'h' | 'd'];
  return seconds;
}

function positive(flag: string, max: number) {
  return (text: string): number => {
    if (!/^\d+$/.test(text) || Number(text) < 1 || Number(text) > max)
      throw new UsageError(`${flag}: "${text}" must be a whole number from 1 to ${max}`);
    return Number(text);
  };
}

const collect = (value: string, previous: string[]) => [...previous, value];

function serverOptions(cmd: Command): Command {
  return cmd
    .requiredOption(
      '--server <url>',
      'the Bulwark server, e.g. http://127.0.0.1:8440 (API token from BULWARK_TOKEN)',
    )
    .option('--json', 'print JSON');
}

// --- bulwark agent token ---

export interface AgentTokenOptions extends ServerOpts {
  tenant: string;
  site?: string;
  uses?: number;
  ttl?: string;
  note?: string;
}

export async function runAgentToken(io: Io, opts: AgentTokenOptions): Promise<number> {
  const ttl = opts.ttl === undefined ? undefined : parseDuration('--ttl', opts.ttl);
  if (ttl !== undefined && (ttl < MIN_TOKEN_TTL_S || ttl > MAX_TOKEN_TTL_S))
    throw new UsageError(`--ttl: must be from 1m to 30d (${MIN_TOKEN_TTL_S} to ${MAX_TOKEN_TTL_S} seconds)`);
  const { createAgentToken } = await import('../../api/index.js');
  const created = await api(() =>
    createAgentToken(client(io, opts), opts.tenant, {
      ...(opts.site ? { site: opts.site } : {}),
      ...(opts.uses ? { uses: opts.uses } : {}),
      ...(ttl ? { ttl_s: ttl } : {}),
      ...(opts.note ? { note: opts.note } : {}),
    }),
  );
  const token = escapeAllStrings(created.token);
  if (opts.json)
    printJson(io, {
      token,
      id: created.id,
      expires_at: created.expires_at,
      uses_allowed: created.uses_allowed,
    });
  else {
    io.out(`${token}\n`);
    io.err(
      `enrolment token for tenant ${escapeAllStrings(created.tenant_id)}${created.site_id ? ` site ${escapeAllStrings(created.site_id)}` : ''}: ${created.uses_allowed} use(s) until ${created.expires_at}; shown only now\n`,
    );
  }
  return EXIT.clean;
}

export function registerAgentToken(agent: Command, { io, setCode }: CommandHost): void {
  serverOptions(agent.command('token'))
    .description(
      'make an enrolment token for a tenant (printed once; give it to `bulwark agent enroll --token-file`)',
    )
    .requiredOption('--tenant <id>', 'the tenant the agents join')
    .option('--site <id>', 'the site they join')
    .option('--uses <n>', 'enrolments it allows (default 1)', positive('--uses', 100_000))
    .option('--ttl <duration>', 'how long it is valid, e.g. 30m, 1h, 7d (default 1h)')
    .option('--note <text>', 'a note shown in the token list')
    .action(async (opts: AgentTokenOptions) => setCode(await runAgentToken(io, opts)));
}

// --- bulwark agents ---

export interface AgentsListOptions extends ServerOpts {
  tenant: string;
  site?: string;
  state?: string;
  online?: boolean;
  limit?: number;
  cursor?: string;
}

export async function runAgentsList(io: Io, opts: AgentsListOptions): Promise<number> {
  const { listAgents } = await import('../../api/index.js');
  const page = await api(() =>
    listAgents(client(io, opts), opts.tenant, {
      site: opts.site,
      state: opts.state as never,
      online: opts.online,
      limit: opts.limit,
      cursor: opts.cursor,
    }),
  );
  if (opts.json) {
    printJson(io, page);
    return EXIT.clean;
  }
  if (!page.items.length) io.out('No agents.\n');
  for (const a of escapeAllStrings(page.items)) {
    const presence = a.online
      ? paint(io, 'green', 'online')
      : `offline${a.last_seen_at ? ` (last seen ${a.last_seen_at})` : ''}`;
    const state = a.state === 'active' ? a.state : paint(io, 'red', a.state);
    io.out(
      `${paint(io, 'bold', a.id)}  ${a.hostname}  ${state}  ${presence}  ${a.version}  ${a.site_id ?? '-'}\n`,
    );
  }
  if (page.next_cursor)
    io.out(`${page.items.length} of ${page.total}; next page: --cursor ${page.next_cursor}\n`);
  return EXIT.clean;
}

export interface AgentShowOptions extends ServerOpts {
  tenant: string;
}

export async function runAgentShow(io: Io, id: string, opts: AgentShowOptions): Promise<number> {
  const { getAgent } = await import('../../api/index.js');
  const agent = await api(() => getAgent(client(io, opts), opts.tenant, id));
  if (opts.json) printJson(io, agent);
  else io.out(describeAgent(io, agent));
  return EXIT.clean;
}

function describeAgent(io: Io, raw: import('../../api/index.js').Agent): string {
  const a = escapeAllStrings(raw);
  return [
    `${paint(io, 'bold', a.id)}  ${a.hostname}  ${a.state}${a.state_reason ? ` (${a.state_reason})` : ''}`,
    `  tenant       ${a.tenant_id}${a.site_id ? ` / ${a.site_id}` : ''}`,
    `  online       ${a.online ? 'yes' : 'no'}${a.last_seen_at ? `, last seen ${a.last_seen_at}` : ''}`,
    `  version      ${a.version}${a.os ? ` on ${a.os}` : ''}`,
    `  key          ${a.key_fingerprint}`,
    `  certificate  ${a.cert_serial}, valid until ${a.cert_not_after}`,
    `  generation   ${a.generation}`,
    `  enrolled     ${a.enrolled_at}`,
    `  inventory    ${a.inventory_at ? `${a.inventory_at} (${a.inventory_hash})` : 'none yet'}`,
    '',
  ].join('\n');
}

export interface AgentRevokeOptions extends AgentShowOptions {
  reason?: string;
}

export async function runAgentRevoke(io: Io, id: string, opts: AgentRevokeOptions): Promise<number> {
  const { revokeAgent } = await import('../../api/index.js');
  const agent = await api(() => revokeAgent(client(io, opts), opts.tenant, id, opts.reason));
  if (opts.json) printJson(io, agent);
  else
    io.out(`${escapeAllStrings(agent.id)} revoked: its certificates are revoked and it runs no more jobs\n`);
  return EXIT.clean;
}

// --- bulwark agent-jobs ---

export interface AgentJobsRunOptions extends ServerOpts {
  tenant: string;
  kind: string;
  agent: string[];
  all?: boolean;
  params?: string;
  expiresIn?: string;
}

export async function runAgentJobsRun(io: Io, opts: AgentJobsRunOptions): Promise<number> {
  if (!!opts.agent.length === !!opts.all) throw new UsageError('give --agent ID (repeatable) or --all');
  let params: Record<string, unknown> | undefined;
  if (opts.params !== undefined) {
    try {
      params = JSON.parse(opts.params) as Record<string, unknown>;
    } catch {
      throw new UsageError('--params: not JSON; write e.g. \'{"advisory_id":"proxylogon-2021-03"}\'');
    }
    if (!params || typeof params !== 'object' || Array.isArray(params))
      throw new UsageError('--params: must be a JSON object');
  }
  const { createAgentJobs } = await import('../../api/index.js');
  const created = await api(() =>
    createAgentJobs(client(io, opts), opts.tenant, {
      kind: opts.kind as never,
      ...(params ? { params } : {}),
      ...(opts.all ? { all: true as const } : { agents: opts.agent }),
      ...(opts.expiresIn ? { expires_in_s: parseDuration('--expires-in', opts.expiresIn) } : {}),
    }),
  );
  if (opts.json) printJson(io, created);
  else {
    for (const j of escapeAllStrings(created.jobs)) io.out(`${j.id}  ${j.agent_id}  ${j.state}\n`);
    io.err(`${created.jobs.length} job(s) queued\n`);
  }
  return EXIT.clean;
}

export interface AgentJobsListOptions extends ServerOpts {
  tenant: string;
  agent?: string;
  state?: string;
  kind?: string;
  limit?: number;
  cursor?: string;
}

export async function runAgentJobsList(io: Io, opts: AgentJobsListOptions): Promise<number> {
  const { listAgentJobs } = await import('../../api/index.js');
  const page = await api(() =>
    listAgentJobs(client(io, opts), opts.tenant, {
      agent: opts.agent,
      state: opts.state as never,
      kind: opts.kind as never,
      limit: opts.limit,
      cursor: opts.cursor,
    }),
  );
  if (opts.json) {
    printJson(io, page);
    return EXIT.clean;
  }
  if (!page.items.length) io.out('No agent jobs.\n');
  for (const j of escapeAllStrings(page.items)) {
    io.out(
      `${paint(io, 'bold', j.id)}  ${j.kind}  ${j.agent_id}  ${stateText(io, j.state)}  ${j.created_at}${j.reason ? `  ${j.reason}` : ''}\n`,
    );
  }
  if (page.next_cursor)
    io.out(`${page.items.length} of ${page.total}; next page: --cursor ${page.next_cursor}\n`);
  return EXIT.clean;
}

function stateText(io: Io, state: AgentJobStateName): string {
  if (state === 'succeeded') return paint(io, 'green', state);
  if (UNSUCCESSFUL.includes(state)) return paint(io, 'red', state);
  return paint(io, 'yellow', state);
}

export async function runAgentJobsShow(io: Io, id: string, opts: AgentShowOptions): Promise<number> {
  const { getAgentJob } = await import('../../api/index.js');
  const job = await api(() => getAgentJob(client(io, opts), opts.tenant, id));
  if (opts.json) printJson(io, job);
  else {
    const j = escapeAllStrings(job);
    const lines = [
      `${paint(io, 'bold', j.id)}  ${j.kind}  ${stateText(io, j.state)}${j.reason ? ` (${j.reason})` : ''}`,
      `  agent     ${j.agent_id} in ${j.tenant_id}`,
      `  params    ${JSON.stringify(j.params)}`,
      `  window    ${j.not_before} to ${j.expires_at}`,
      `  created   ${j.created_at} by ${j.created_by}`,
    ];
    if (j.progress) lines.push(`  progress  ${j.progress.done}/${j.progress.total ?? '?'}`);
    if (j.delivered_at) lines.push(`  delivered ${j.delivered_at}`);
    if (j.finished_at) lines.push(`  finished  ${j.finished_at}`);
    io.out(`${lines.join('\n')}\n`);
  }
  return UNSUCCESSFUL.includes(job.state) ? EXIT.findings : EXIT.clean;
}

/** `bulwark agents …` and `bulwark agent-jobs …`. */
export function registerAgentsCommands(program: Command, { io, setCode }: CommandHost): void {
  const agents = program.command('agents').description("a Bulwark server's enrolled agents");
  serverOptions(agents.command('list'))
    .description("a tenant's agents")
    .requiredOption('--tenant <id>', 'the tenant')
    .option('--site <id>', 'only this site')
    .addOption(new Option('--state <state>', 'only agents in this state').choices(AGENT_STATES))
    .option('--online', 'only agents online now')
    .option('--limit <n>', 'at most this many', positive('--limit', 1000))
    .option('--cursor <cursor>', 'continue from a page before')
    .action(async (opts: AgentsListOptions) => setCode(await runAgentsList(io, opts)));
  serverOptions(agents.command('show'))
    .description("one agent's identity, state and presence")
    .argument('<id>', 'the agent id (ag-…)')
    .requiredOption('--tenant <id>', 'the tenant')
    .action(async (id: string, opts: AgentShowOptions) => setCode(await runAgentShow(io, id, opts)));
  serverOptions(agents.command('revoke'))
    .description(
      'revoke an agent: its certificates are revoked, its pending jobs cancelled, its channel closed',
    )
    .argument('<id>', 'the agent id (ag-…)')
    .requiredOption('--tenant <id>', 'the tenant')
    .option('--reason <text>', 'why (kept with the agent and in the audit log)')
    .action(async (id: string, opts: AgentRevokeOptions) => setCode(await runAgentRevoke(io, id, opts)));

  const jobs = program.command('agent-jobs').description('signed jobs run by agents');
  serverOptions(jobs.command('run'))
    .description('queue a signed job on agents of a tenant')
    .requiredOption('--tenant <id>', 'the tenant')
    .addOption(
      new Option('--kind <kind>', 'what the agents run').choices(AGENT_JOB_KINDS).makeOptionMandatory(),
    )
    .option('--agent <id>', 'an agent to run it (repeat for more)', collect, [])
    .option('--all', 'every active agent of the tenant')
    .option('--params <json>', 'the kind\'s parameters, e.g. \'{"advisory_id":"proxylogon-2021-03"}\'')
    .option('--expires-in <duration>', 'how long the job may wait for its agent, e.g. 1h, 7d (default 1d)')
    .action(async (opts: AgentJobsRunOptions) => setCode(await runAgentJobsRun(io, opts)));
  serverOptions(jobs.command('list'))
    .description("a tenant's agent jobs, newest first")
    .requiredOption('--tenant <id>', 'the tenant')
    .option('--agent <id>', "only this agent's jobs")
    .addOption(new Option('--state <state>', 'only jobs in this state').choices(AGENT_JOB_STATES))
    .addOption(new Option('--kind <kind>', 'only jobs of this kind').choices(AGENT_JOB_KINDS))
    .option('--limit <n>', 'at most this many', positive('--limit', 1000))
    .option('--cursor <cursor>', 'continue from a page before')
    .action(async (opts: AgentJobsListOptions) => setCode(await runAgentJobsList(io, opts)));
  serverOptions(jobs.command('show'))
    .description('one agent job: state, progress, outcome (exit 1 when it ended without doing its work)')
    .argument('<id>', 'the agent job id (aj-…)')
    .requiredOption('--tenant <id>', 'the tenant')
    .action(async (id: string, opts: AgentShowOptions) => setCode(await runAgentJobsShow(io, id, opts)));
}
