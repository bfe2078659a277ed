/**
 * Results and inventory from a connected agent. A result counts only with the agent's own signature and only for
 * an open job of that agent; it is stored once (a repeat, or a result for an unknown, foreign, cancelled or
 * finished job, is acknowledged and changes nothing). A succeeded job's output then goes where it belongs:
 * inventory and verify to the agent's asset (INVENTORY's applyInventory), hunt to the response board as a
 * compromise observation, mitigate and rollback as a shield observation, all with source `agent`. Output that
 * cannot be applied turns the job `failed` with the reason: never silent.
 */
import type { Static } from '@sinclair/typebox';
import { Type } from '@sinclair/typebox';
import { TypeCompiler } from '@sinclair/typebox/compiler';
import { factsHash } from '../../../api/agent-inventory.js';
import {
  canonicalJson,
  type InventoryMessage,
  type JobResult,
  publicKeyFromRaw,
  resultSigningBytes,
  type SignedResult,
  verifyBytes,
} from '../../../api/agent-protocol.js';
import { HuntReport, type Observation, type ObservationsResult } from '../../../api/response.js';
import type { TenantScope } from '../../scope.js';
import type { Connection } from './connection.js';
import type { ChannelMetrics } from './metrics.js';
import { type ChannelStore, type JobRow, scopeOf } from './store.js';

type Log = { warn(obj: object, msg: string): void };

export type InventoryInput = Static<typeof InventoryMessage>;
export interface InventoryAck {
  hash: string;
  ok: boolean;
  need?: 'full';
  /** Why the report was refused (sent to the agent as a non-fatal error). */
  message?: string;
}

/** INVENTORY's applyInventory: a full report or a diff applied to the agent's asset. */
export type ApplyInventory = (
  scope: TenantScope,
  agent: { tenantId: string; agentId: string },
  message: InventoryInput,
) => Promise<InventoryAck>;

export interface ResultDeps {
  applyInventory: ApplyInventory;
  /** The response service's record (observations of one tenant). */
  recordObservations(
    scope: TenantScope,
    tenantId: string,
    observations: Observation[],
    actor: { name: string },
  ): Promise<ObservationsResult>;
}

const HuntOutputSchema = Type.Object({
  advisory_id: Type.String({ minLength: 1, maxLength: 200 }),
  report: HuntReport,
});
const HuntOutput = TypeCompiler.Compile(HuntOutputSchema);
const ShieldOutput = TypeCompiler.Compile(
  Type.Object({
    advisory_id: Type.String({ minLength: 1, maxLength: 200 }),
    shielded: Type.Union([Type.Boolean(), Type.Null()]),
  }),
);
const FactsOutput = TypeCompiler.Compile(Type.Object({ facts: Type.Record(Type.String(), Type.Unknown()) }));

/** Observations may not lie in the future: the agent's finish time, or now when its clock runs ahead. */
function observedAt(result: JobResult): string {
  const at = Date.parse(result.finished_at);
  const now = Date.now();
  return new Date(Number.isFinite(at) && at <= now ? at : now).toISOString();
}

function firstError(
  check: { Errors(v: unknown): { First(): { path: string; message: string } | undefined } },
  v: unknown,
) {
  const e = check.Errors(v).First();
  return e ? `output${e.path.replaceAll('/', '.')}: ${e.message}` : 'output: invalid';
}

export class ResultIntake {
  constructor(
    private readonly store: ChannelStore,
    private readonly metrics: ChannelMetrics,
    private readonly deps: ResultDeps,
    private readonly log?: Log,
  ) {}

  /** False when the signature does not verify (nothing stored); true when the result may be acknowledged. */
  async intake(conn: Connection, signed: SignedResult): Promise<boolean> {
    const { result, signature } = signed;
    let key: ReturnType<typeof publicKeyFromRaw>;
    try {
      key = publicKeyFromRaw(conn.publicKey);
    } catch {
      return false;
    }
    if (!verifyBytes(key, resultSigningBytes(result), signature)) return false;
    // Another agent's job: this agent cannot speak for it.
    if (result.agent_id !== conn.agentId) return true;
    const job = await this.store.finishJob(conn.tenantId, conn.agentId, result.job_id, {
      state: result.status,
      reason: result.status === 'succeeded' ? null : (result.reason ?? `${result.status} without a reason`),
      result: canonicalJson(result),
      signature,
      startedAt: result.started_at,
    });
    if (!job) return true;
    if (result.status !== 'succeeded') {
      this.metrics.jobsFinished.inc({ state: result.status });
      return true;
    }
    let failure: string | undefined;
    try {
      failure = await this.#apply(conn, job, result);
    } catch (err) {
      this.log?.warn({ err, job: job.id }, 'agent channel: a job output could not be applied');
      failure = `the output could not be applied: ${(err as Error).message ?? String(err)}`.slice(0, 2000);
    }
    if (failure) {
      await this.store.failAfterResult(conn.tenantId, job, failure);
      this.metrics.jobsFinished.inc({ state: 'failed' });
    } else this.metrics.jobsFinished.inc({ state: 'succeeded' });
    return true;
  }

  /** Applies a succeeded job's output; returns why it could not be, or undefined. */
  async #apply(conn: Connection, job: JobRow, result: JobResult): Promise<string | undefined> {
    const scope = scopeOf(conn.tenantId);
    const agent = { tenantId: conn.tenantId, agentId: conn.agentId };
    const output = result.output;
    const actor = { name: `agent:${conn.agentId}` };
    switch (job.kind) {
      case 'inventory':
      case 'verify': {
        if (!FactsOutput.Check(output)) return firstError(FactsOutput, output);
        const facts = (output as { facts: Record<string, unknown> }).facts;
        const hash = factsHash(facts as Parameters<typeof factsHash>[0]);
        const ack = await this.deps.applyInventory(scope, agent, {
          t: 'inventory',
          mode: 'full',
          hash,
          facts,
        });
        return ack.ok
          ? undefined
          : `the inventory in the output was not applied: ${ack.message ?? ack.need ?? 'refused'}`;
      }
      case 'hunt': {
        if (!HuntOutput.Check(output)) return firstError(HuntOutput, output);
        const { advisory_id, report } = output as Static<typeof HuntOutputSchema>;
        return this.#observe(scope, conn.tenantId, actor, {
          asset_id: conn.agentId,
          advisory_id,
          kind: 'compromise',
          value: report.verdict,
          source: 'agent',
          observed_at: observedAt(result),
          window: report.window,
          summary: report.summary,
        });
      }
      case 'mitigate':
      case 'rollback': {
        if (!ShieldOutput.Check(output)) return firstError(ShieldOutput, output);
        const { advisory_id, shielded } = output as { advisory_id: string; shielded: boolean | null };
        return this.#observe(scope, conn.tenantId, actor, {
          asset_id: conn.agentId,
          advisory_id,
          kind: 'shield',
          value: shielded === true ? 'shielded' : shielded === false ? 'unshielded' : 'unknown',
          source: 'agent',
          observed_at: observedAt(result),
        });
      }
      default:
        return `kind ${job.kind}: no output is applied for it`;
    }
  }

  async #observe(
    scope: TenantScope,
    tenantId: string,
    actor: { name: string },
    observation: Observation,
  ): Promise<string | undefined> {
    const out = await this.deps.recordObservations(scope, tenantId, [observation], actor);
    if (out.unknown_assets.length) return `the agent's asset ${observation.asset_id} does not exist`;
    return undefined;
  }

  /** An inventory message: applied to the agent's asset, answered with inventory_ack. */
  async inventory(conn: Connection, message: InventoryInput): Promise<InventoryAck> {
    return this.deps.applyInventory(
      scopeOf(conn.tenantId),
      { tenantId: conn.tenantId, agentId: conn.agentId },
      message,
    );
  }
}
