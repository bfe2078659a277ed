/**
 * Signed jobs on the agent: every check a job must pass before it runs (each failure refused with its reason in
 * a signed `refused` result, never silently dropped), the local durable queue, and the runner — one job at a time
 * per kind, progress reported, results signed, stored and re-sent until the server acknowledges them.
 *
 * Restart safety: a job is stored before the agent says `received`; its result is stored before the job leaves
 * the queue; a job whose result exists never runs again; a job that was running when the agent stopped runs again
 * at the next start (every kind is idempotent) and its result is sent once.
 */
import { createHash, type KeyObject } from 'node:crypto';
import { TypeCompiler } from '@sinclair/typebox/compiler';
import {
  AGENT_MAX_MESSAGE_BYTES,
  AGENT_PROTOCOL_VERSION,
  JOB_KINDS,
  type JobEnvelope,
  type JobKind,
  type JobResult,
  jobSigningBytes,
  publicKeyFromRaw,
  type RefusalReason,
  type ResultStatus,
  resultSigningBytes,
  SignedJob,
  type SignedResult,
  signBytes,
  verifyBytes,
} from '../api/agent-protocol.js';
import type { AssetFacts } from '../core/index.js';
import type { Executor, ExecutorContext, ExecutorOutcome } from './executors/index.js';
import type { AgentLog } from './log.js';
import type { JobStore, QueuedJob } from './queue.js';
import type { PinnedKey } from './state.js';

/** Clock skew tolerated on a job's not_before. */
export const CLOCK_SKEW_MS = 60_000;

const signedJobCheck = TypeCompiler.Compile(SignedJob);

export type { Executor, ExecutorContext, ExecutorOutcome } from './executors/index.js';
export type ExecutorSet = Partial<Record<JobKind, Executor>>;

export interface Identity {
  agentId: string;
  tenantId: string;
  serverKeys: readonly PinnedKey[];
}

export type JobCheck =
  | { ok: true; job: SignedJob }
  | { ok: false; reason: RefusalReason; detail: string; jobId?: string; envelope?: JobEnvelope };

/** The job id of something that claims to be a job, if it names one. */
function claimedJobId(raw: unknown): string | undefined {
  const id = (raw as { envelope?: { job_id?: unknown } } | undefined)?.envelope?.job_id;
  return typeof id === 'string' && id.length > 0 && id.length <= 100 ? id : undefined;
}

/**
 * The checks, in order: shape (malformed), signing key (unknown_key), signature (bad_signature), tenant
 * (foreign_tenant), agent (foreign_agent), kind (unsupported_kind), time window (not_yet_valid beyond the clock
 * skew, expired), replay (job id or nonce seen), script hash (script_mismatch).
 */
export function checkJob(
  raw: unknown,
  identity: Identity,
  supported: ReadonlySet<JobKind>,
  seen: (jobId: string, nonce: string) => boolean,
  now = Date.now(),
): JobCheck {
  const jobId = claimedJobId(raw);
  if (!signedJobCheck.Check(raw)) {
    const first = signedJobCheck.Errors(raw).First();
    return {
      ok: false,
      reason: 'malformed',
      detail: `malformed job${first ? ` at ${first.path || '/'}: ${first.message}` : ''}`,
      jobId,
    };
  }
  const job = raw as SignedJob;
  const env = job.envelope;
  const refuse = (reason: RefusalReason, detail: string): JobCheck => ({
    ok: false,
    reason,
    detail,
    jobId: env.job_id,
    envelope: env,
  });
  const notBefore = Date.parse(env.not_before);
  const expiresAt = Date.parse(env.expires_at);
  if (Number.isNaN(notBefore) || Number.isNaN(expiresAt))
    return refuse('malformed', 'malformed job: not_before and expires_at must be ISO-8601 times');
  const pinned = identity.serverKeys.find((k) => k.key_id === env.key_id);
  if (!pinned)
    return refuse('unknown_key', `job signed with key ${env.key_id}, which this agent did not pin`);
  let key: KeyObject;
  try {
    key = publicKeyFromRaw(pinned.public_key);
  } catch {
    return refuse('unknown_key', `pinned key ${env.key_id} is unreadable`);
  }
  if (!verifyBytes(key, jobSigningBytes(env), job.signature))
    return refuse('bad_signature', 'the job signature does not verify with the pinned server key');
  if (env.tenant_id !== identity.tenantId)
    return refuse(
      'foreign_tenant',
      `job for tenant ${env.tenant_id}, this agent belongs to ${identity.tenantId}`,
    );
  if (env.agent_id !== identity.agentId)
    return refuse('foreign_agent', `job for agent ${env.agent_id}, this agent is ${identity.agentId}`);
  if (!supported.has(env.kind)) return refuse('unsupported_kind', `this agent cannot run ${env.kind} jobs`);
  if (notBefore > now + CLOCK_SKEW_MS)
    return refuse('not_yet_valid', `job not valid before ${env.not_before}`);
  if (expiresAt <= now) return refuse('expired', `job expired at ${env.expires_at}`);
  if (seen(env.job_id, env.nonce)) return refuse('replayed', 'job id or nonce seen before');
  const script = env.params.script;
  if (env.script_sha256 !== undefined || script !== undefined) {
    const digest =
      typeof script === 'string' ? createHash('sha256').update(script, 'utf8').digest('hex') : undefined;
    if (digest !== undefined && env.script_sha256 !== digest)
      return refuse('script_mismatch', "the job's script does not match its signed SHA-256");
  }
  return { ok: true, job };
}

export interface RunnerOptions {
  identity: Identity;
  key: KeyObject;
  store: JobStore;
  executors: ExecutorSet;
  /** Sends one channel message; false when disconnected (results are re-sent on the next connection). */
  send(message: { t: string } & Record<string, unknown>): boolean;
  collectInventory(): Promise<AssetFacts>;
  stateDir: string;
  log: AgentLog;
  platform?: NodeJS.Platform;
  /** Least time between two progress messages of one job (default 1 s). */
  progressEveryMs?: number;
}

/** Receives, checks, queues and runs jobs. */
export class JobRunner {
  private readonly lanes = new Map<JobKind, Promise<void>>();
  private readonly active = new Set<string>();
  private readonly abort = new AbortController();
  private readonly supported: ReadonlySet<JobKind>;

  constructor(private readonly options: RunnerOptions) {
    this.supported = new Set(JOB_KINDS.filter((k) => options.executors[k]));
  }

  /** Kinds this agent runs. */
  get kinds(): JobKind[] {
    return [...this.supported];
  }

  /**
   * Start-up: a queued job whose result exists leaves the queue (it never runs again); every other queued job —
   * received, or running when the agent stopped — is run.
   */
  resume(): void {
    const { store, log } = this.options;
    for (const entry of store.queued()) {
      const id = entry.job.envelope.job_id;
      if (store.getResult(id)) {
        store.removeQueued(id);
        continue;
      }
      if (entry.state === 'running') log.info('job interrupted by a stop; running it again', { job_id: id });
      this.schedule(entry);
    }
  }

  /** On every new connection: unacknowledged results and the state of queued jobs, so the server catches up. */
  resync(): void {
    for (const result of this.options.store.results()) this.options.send({ t: 'job_result', result });
    for (const entry of this.options.store.queued()) this.sendStatus(entry);
  }

  /** A `job` message. */
  receive(raw: unknown): void {
    const { store, log } = this.options;
    const claimed = claimedJobId(raw);
    // The same signed job again (the server re-sends what it has not seen acknowledged): answered from the store,
    // never run twice. Anything else under a stored job's id is checked, and a refusal never replaces what is stored.
    let holds = false;
    if (claimed) {
      const result = store.getResult(claimed);
      if (result) {
        this.options.send({ t: 'job_result', result });
        return;
      }
      const queued = store.getQueued(claimed);
      if (queued && queued.job.signature === (raw as { signature?: unknown }).signature) {
        this.sendStatus(queued);
        return;
      }
      holds = queued !== undefined;
    }
    const check = checkJob(raw, this.options.identity, this.supported, (id, nonce) => store.seen(id, nonce));
    if (!check.ok) {
      log.warn('job refused', { job_id: check.jobId ?? null, reason: check.reason, detail: check.detail });
      if (!check.jobId) {
        this.options.send({ t: 'error', message: `job refused (${check.reason}): it names no job id` });
        return;
      }
      // Only a job the server signed is remembered (its refusal stored, its nonce spent): a forgery, a replay or
      // anything under a stored job's id is answered but never replaces or blocks the genuine job.
      const unsigned = ['malformed', 'unknown_key', 'bad_signature'].includes(check.reason);
      const sendOnly = holds || unsigned || check.reason === 'replayed';
      if (!sendOnly && check.envelope)
        store.remember(check.envelope.job_id, check.envelope.nonce, check.envelope.expires_at);
      this.finish(check.jobId, 'refused', { reason: check.reason }, sendOnly);
      return;
    }
    const env = check.job.envelope;
    const entry: QueuedJob = {
      job: check.job,
      state: 'received',
      received_at: new Date().toISOString(),
      runs: 0,
    };
    store.putQueued(entry);
    store.remember(env.job_id, env.nonce, env.expires_at);
    log.info('job received', { job_id: env.job_id, kind: env.kind });
    this.sendStatus(entry);
    this.schedule(entry);
  }

  /** A `result_ack`: the server stored the result; the local copy goes. */
  acknowledge(jobId: string): void {
    this.options.store.removeResult(jobId);
    this.options.log.info('result acknowledged', { job_id: jobId });
  }

  /**
   * Stops running jobs (their queue entries stay: they run again at the next start) and waits for the lanes, at
   * most `ms`: an executor that does not heed the abort does not hold up the stop.
   */
  async stop(ms = 20_000): Promise<void> {
    this.abort.abort();
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      Promise.allSettled([...this.lanes.values()]),
      new Promise((r) => {
        timer = setTimeout(r, ms);
      }),
    ]);
    clearTimeout(timer);
  }

  private sendStatus(entry: QueuedJob): void {
    this.options.send({ t: 'job_status', job_id: entry.job.envelope.job_id, state: entry.state });
  }

  private schedule(entry: QueuedJob): void {
    const id = entry.job.envelope.job_id;
    if (this.active.has(id)) return;
    this.active.add(id);
    const kind = entry.job.envelope.kind;
    const previous = this.lanes.get(kind) ?? Promise.resolve();
    const next = previous
      .then(() => this.run(id))
      .catch((err) => this.options.log.error('job runner error', { job_id: id, error: String(err) }))
      .finally(() => this.active.delete(id));
    this.lanes.set(kind, next);
  }

  private async run(jobId: string): Promise<void> {
    const { store, log } = this.options;
    if (this.abort.signal.aborted) return;
    const entry = store.getQueued(jobId);
    if (!entry) return;
    if (store.getResult(jobId)) {
      store.removeQueued(jobId);
      return;
    }
    const env = entry.job.envelope;
    // Work queued for a long time does not run after its expiry.
    if (Date.parse(env.expires_at) <= Date.now()) {
      this.finish(jobId, 'refused', { reason: 'expired' });
      return;
    }
    const executor = this.options.executors[env.kind];
    if (!executor) {
      this.finish(jobId, 'refused', { reason: 'unsupported_kind' });
      return;
    }
    const startedAt = new Date().toISOString();
    store.putQueued({ ...entry, state: 'running', started_at: startedAt, runs: entry.runs + 1 });
    this.options.send({ t: 'job_status', job_id: jobId, state: 'running' });
    log.info('job started', { job_id: jobId, kind: env.kind, run: entry.runs + 1 });
    let lastProgress = 0;
    const every = this.options.progressEveryMs ?? 1000;
    const ctx: ExecutorContext = {
      stateDir: this.options.stateDir,
      signal: this.abort.signal,
      platform: this.options.platform ?? process.platform,
      collectInventory: this.options.collectInventory,
      progress: (done, total, message) => {
        const now = Date.now();
        if (now - lastProgress < every && (total === null || done < total)) return;
        lastProgress = now;
        this.options.send({
          t: 'job_status',
          job_id: jobId,
          state: 'running',
          progress: {
            done: Math.max(0, Math.floor(done)),
            total: total === null ? null : Math.max(0, Math.floor(total)),
          },
          ...(message ? { message: message.slice(0, 500) } : {}),
        });
      },
    };
    let outcome: ExecutorOutcome;
    try {
      outcome = await executor(env, ctx);
    } catch (err) {
      if (this.abort.signal.aborted) {
        log.info('job interrupted by the stop; it runs again at the next start', { job_id: jobId });
        return;
      }
      outcome = {
        status: 'failed',
        reason: `the ${env.kind} executor failed: ${(err as Error).message ?? err}`,
      };
    }
    if (this.abort.signal.aborted && outcome.status === 'failed') {
      log.info('job interrupted by the stop; it runs again at the next start', { job_id: jobId });
      return;
    }
    this.finish(jobId, outcome.status, { reason: outcome.reason, output: outcome.output, startedAt });
  }

  /**
   * Signs a result, stores it, takes the job out of the queue and sends the result (now or on reconnect). With
   * `sendOnly` the result is sent but not stored (a replayed job's refusal must not replace the genuine result).
   */
  private finish(
    jobId: string,
    status: ResultStatus,
    details: { reason?: string; output?: unknown; startedAt?: string },
    sendOnly = false,
  ): void {
    const { store, log, identity, key } = this.options;
    const result: JobResult = {
      v: AGENT_PROTOCOL_VERSION,
      job_id: jobId,
      agent_id: identity.agentId,
      status,
      ...(details.reason !== undefined ? { reason: details.reason.replace(/\s+/g, ' ').slice(0, 2000) } : {}),
      ...(details.output !== undefined ? { output: details.output } : {}),
      ...(details.startedAt ? { started_at: details.startedAt } : {}),
      finished_at: new Date().toISOString(),
    };
    if (
      result.output !== undefined &&
      JSON.stringify(result.output).length > AGENT_MAX_MESSAGE_BYTES - 64 * 1024
    ) {
      result.status = 'failed';
      result.reason = 'the output is larger than the channel carries';
      delete result.output;
    }
    const signed: SignedResult = { result, signature: signBytes(key, resultSigningBytes(result)) };
    if (!sendOnly) {
      store.putResult(signed);
      store.removeQueued(jobId);
    }
    log.info('job finished', { job_id: jobId, status: result.status, reason: result.reason ?? null });
    this.options.send({ t: 'job_result', result: signed });
  }
}
