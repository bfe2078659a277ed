/**
 * The agent's job executors (the runner calls them after the envelope checks): `hunt`, `mitigate`, `rollback`,
 * `verify`. `inventory` is the runner's own (src/agent/inventory). createExecutors takes the host lookups tests
 * replace; EXECUTORS reads this machine and the built-in advisory packs.
 */
import { type KnowledgeBase, loadKnowledgeBase } from '../../advisories/index.js';
import type { JobKind } from '../../api/agent-protocol.js';
import { defaultHostDeps, type Executor, type HostDeps } from './context.js';
import { runHuntJob } from './hunt.js';
import { runMitigation } from './mitigate.js';
import { runVerifyJob } from './verify.js';

export type { Executor, ExecutorContext, ExecutorOutcome, HostDeps } from './context.js';
export { DEFAULT_HUNT_SECONDS, type HuntOutput } from './hunt.js';
export { type LocatedLogs, locateLogs } from './locate.js';
export type { MitigationOutput, StepOutcome, StepResult } from './mitigate.js';
export type { VerifyOutput } from './verify.js';

export interface ExecutorOptions {
  deps?: Partial<HostDeps>;
  /** The advisories and packs (default: the built-in knowledge base, loaded once on first use). */
  knowledge?: () => KnowledgeBase;
}

export function createExecutors(opts: ExecutorOptions = {}): Record<Exclude<JobKind, 'inventory'>, Executor> {
  const deps: HostDeps = { ...defaultHostDeps(), ...opts.deps };
  let kb: KnowledgeBase | undefined;
  const knowledge = opts.knowledge ?? (() => (kb ??= loadKnowledgeBase()));
  return {
    hunt: (envelope, ctx) => runHuntJob(envelope, ctx, deps, knowledge),
    mitigate: (envelope, ctx) => runMitigation('mitigate', envelope, ctx, deps, () => knowledge().advisories),
    rollback: (envelope, ctx) => runMitigation('rollback', envelope, ctx, deps, () => knowledge().advisories),
    verify: (envelope, ctx) => runVerifyJob(envelope, ctx, knowledge),
  };
}

export const EXECUTORS: Record<Exclude<JobKind, 'inventory'>, Executor> = createExecutors();
