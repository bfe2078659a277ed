/**
 * `mitigate` and `rollback`: an advisory's host mitigation steps (advisory packs, `steps`). Mitigate checks each
 * step first (`already` when it holds), applies it, records how to undo it in the state dir
 * (`mitigations/<advisory>/<mitigation>.json`), and checks again. Rollback undoes the recorded steps in reverse
 * order. PowerShell-only steps are `unsupported` off Windows; `shielded` is true only when every shielding step's
 * check passes, false when one fails, null when one could not be checked.
 */
import { existsSync, mkdirSync, readFileSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { JobEnvelope } from '../../api/agent-protocol.js';
import {
  type Advisory,
  type AssetFacts,
  compareVersions,
  type HostState,
  type Mitigation,
  type MitigationStep,
} from '../../core/index.js';
import {
  type ExecutorContext,
  type ExecutorOutcome,
  failed,
  type HostDeps,
  ParamError,
  stringParam,
} from './context.js';
import {
  applyRule,
  checkRule,
  type SpliceRecord,
  siteWebConfig,
  undoSplice,
  writeAtomic,
} from './url-rewrite.js';
import { holds, readAppPool, readService, setAppPool, setService } from './windows.js';

export type StepOutcome = 'applied' | 'already' | 'undone' | 'failed' | 'unsupported' | 'skipped';

export interface StepResult {
  id: string;
  outcome: StepOutcome;
  detail: string;
}

export interface MitigationOutput {
  advisory_id: string;
  /** The mitigation run; null when the job named none and every mitigation with steps ran. */
  mitigation_id: string | null;
  steps: StepResult[];
  shielded: boolean | null;
}

/** How one applied step is undone: the splice it made (rule), or the state it found (service, app pool). */
type UndoRecord =
  | { kind: 'splice'; splice: SpliceRecord; created: boolean }
  | { kind: 'state'; state: HostState };

interface RecordFile {
  steps: Record<string, UndoRecord>;
}

const EXCHANGE = 'microsoft:exchange_server';

class Unsupported extends Error {}

function recordPath(stateDir: string, advisory: string, mitigation: string): string {
  return join(stateDir, 'mitigations', advisory, `${mitigation}.json`);
}

function readRecord(path: string): RecordFile {
  if (!existsSync(path)) return { steps: {} };
  return JSON.parse(readFileSync(path, 'utf8')) as RecordFile;
}

function saveRecord(path: string, rec: RecordFile): void {
  mkdirSync(join(path, '..'), { recursive: true });
  if (Object.keys(rec.steps).length === 0) {
    if (existsSync(path)) unlinkSync(path);
    return;
  }
  writeAtomic(path, Buffer.from(`${JSON.stringify(rec, null, 2)}\n`).toString('latin1'));
}

const MINIMAL_WEB_CONFIG = '<?xml version="1.0" encoding="UTF-8"?>\n<configuration>\n</configuration>\n';

/** The host-state operations, bound to this machine (or a test's stand-ins). */
class Host {
  constructor(
    private readonly deps: HostDeps,
    private readonly ctx: ExecutorContext,
  ) {}

  private windowsOnly(kind: string): void {
    if (this.ctx.platform !== 'win32') {
      throw new Unsupported(
        `${kind} steps run through Windows PowerShell; this host is ${this.ctx.platform}`,
      );
    }
  }

  webConfig(site: string): string {
    const appHost =
      this.deps.applicationHostConfig ??
      (this.deps.env.windir || this.deps.env.WINDIR
        ? `${this.deps.env.windir ?? this.deps.env.WINDIR}\\System32\\inetsrv\\config\\applicationHost.config`
        : undefined);
    if (!appHost || !existsSync(appHost)) {
      throw new Unsupported(
        `no IIS configuration on this host (looked for ${appHost ?? 'applicationHost.config under %windir%'})`,
      );
    }
    return siteWebConfig(appHost, site, this.deps.env);
  }

  async check(state: HostState): Promise<boolean> {
    if (state.kind === 'iis_url_rewrite_rule') return checkRule(this.webConfig(state.site), state.rule);
    this.windowsOnly(state.kind);
    const now =
      state.kind === 'windows_service'
        ? await readService(this.deps.powershell, state.name, this.ctx.signal)
        : await readAppPool(this.deps.powershell, state.name, this.ctx.signal);
    return holds(state, now);
  }

  async apply(state: HostState): Promise<UndoRecord> {
    if (state.kind === 'iis_url_rewrite_rule') {
      const file = this.webConfig(state.site);
      const created = !existsSync(file);
      if (created) writeFileSync(file, MINIMAL_WEB_CONFIG, { flag: 'wx' });
      return { kind: 'splice', splice: applyRule(file, state.rule), created };
    }
    this.windowsOnly(state.kind);
    if (state.kind === 'windows_service') {
      const before = await readService(this.deps.powershell, state.name, this.ctx.signal);
      await setService(this.deps.powershell, state, this.ctx.signal);
      return { kind: 'state', state: before };
    }
    const before = await readAppPool(this.deps.powershell, state.name, this.ctx.signal);
    await setAppPool(this.deps.powershell, state, this.ctx.signal);
    return { kind: 'state', state: before };
  }

  async undo(step: MitigationStep, rec: UndoRecord): Promise<void> {
    const target = step.undo === 'restore' ? undefined : step.undo;
    if (rec.kind === 'splice' && !target) {
      undoSplice(rec.splice);
      if (rec.created && readFileSync(rec.splice.file, 'utf8') === MINIMAL_WEB_CONFIG)
        unlinkSync(rec.splice.file);
      return;
    }
    const want = target ?? (rec.kind === 'state' ? rec.state : undefined);
    if (!want) throw new Error('nothing recorded to restore');
    if (want.kind === 'iis_url_rewrite_rule') {
      await this.apply(want);
      return;
    }
    this.windowsOnly(want.kind);
    if (want.kind === 'windows_service') await setService(this.deps.powershell, want, this.ctx.signal);
    else await setAppPool(this.deps.powershell, want, this.ctx.signal);
  }
}

function message(err: unknown): string {
  return (err instanceof Error ? err.message : String(err)).slice(0, 500);
}

/** Why a step is skipped on this host's build (its `skip_on` ranges), or undefined. */
function skipReason(step: MitigationStep, build: string | undefined): string | undefined {
  if (!step.skip_on.length || !build) return undefined;
  for (const r of step.skip_on) {
    const from = r.introduced ?? '0';
    if (compareVersions('exchange', build, from) < 0) continue;
    if (r.fixed && compareVersions('exchange', build, r.fixed) >= 0) continue;
    if (r.last_affected && compareVersions('exchange', build, r.last_affected) > 0) continue;
    return `not on this build (${build}${r.train ? `: ${r.train}` : ''})`;
  }
  return undefined;
}

function choose(advisory: Advisory, id: string | undefined): Mitigation[] {
  if (id) {
    const m = advisory.mitigations.find((x) => x.id === id);
    if (!m) throw new ParamError(`params.mitigation_id: advisory ${advisory.id} has no mitigation "${id}"`);
    if (!m.steps.length) throw new ParamError(`params.mitigation_id: mitigation "${id}" has no host steps`);
    return [m];
  }
  const all = advisory.mitigations.filter((m) => m.steps.length > 0);
  if (!all.length)
    throw new ParamError(`params.advisory_id: advisory ${advisory.id} has no host mitigation steps`);
  return all;
}

async function exchangeBuild(ctx: ExecutorContext, mitigations: Mitigation[]): Promise<string | undefined> {
  if (!mitigations.some((m) => m.steps.some((s) => s.skip_on.length))) return undefined;
  let facts: AssetFacts;
  try {
    facts = await ctx.collectInventory();
  } catch {
    return undefined;
  }
  return facts.products.find((p) => p.product === EXCHANGE)?.version;
}

export async function runMitigation(
  mode: 'mitigate' | 'rollback',
  envelope: JobEnvelope,
  ctx: ExecutorContext,
  deps: HostDeps,
  advisories: () => readonly Advisory[],
): Promise<ExecutorOutcome> {
  let advisory: Advisory;
  let mitigations: Mitigation[];
  let mitigationId: string | undefined;
  try {
    const advisoryId = stringParam(envelope.params, 'advisory_id', true);
    mitigationId = stringParam(envelope.params, 'mitigation_id', false);
    const found = advisories().find((a) => a.id === advisoryId);
    if (!found) throw new ParamError(`params.advisory_id: no advisory "${advisoryId}" in this agent's packs`);
    advisory = found;
    mitigations = choose(advisory, mitigationId);
  } catch (err) {
    if (err instanceof ParamError) return failed(err.message);
    throw err;
  }
  const host = new Host(deps, ctx);
  const build = await exchangeBuild(ctx, mitigations);
  const prefix = mitigations.length > 1;
  const results: StepResult[] = [];
  const shieldChecks: (boolean | null)[] = [];
  const total = mitigations.reduce((n, m) => n + m.steps.length, 0);
  let done = 0;
  for (const m of mitigations) {
    const path = recordPath(ctx.stateDir, advisory.id, m.id);
    const record = readRecord(path);
    const steps = mode === 'mitigate' ? m.steps : [...m.steps].reverse();
    for (const step of steps) {
      if (ctx.signal.aborted) return failed('cancelled');
      const id = prefix ? `${m.id}/${step.id}` : step.id;
      ctx.progress(done++, total, `${mode} ${id}`);
      const skip = skipReason(step, build);
      if (skip) {
        results.push({ id, outcome: 'skipped', detail: skip });
        continue;
      }
      const r =
        mode === 'mitigate' ? await mitigateStep(host, step, record) : await rollbackStep(host, step, record);
      results.push({ id, ...r });
      saveRecord(path, record);
      if (step.shielding) shieldChecks.push(await checkQuietly(host, step));
    }
  }
  ctx.progress(total, total);
  const shielded = shieldChecks.includes(false)
    ? false
    : shieldChecks.length > 0 && shieldChecks.every((c) => c === true)
      ? true
      : null;
  const output: MitigationOutput = {
    advisory_id: advisory.id,
    mitigation_id: mitigationId ?? null,
    steps: results,
    shielded,
  };
  const bad = results.filter((r) => r.outcome === 'failed');
  if (bad.length) {
    return {
      status: 'failed',
      reason: `${bad.length} step(s) failed: ${bad
        .map((b) => `${b.id}: ${b.detail}`)
        .join('; ')
        .slice(0, 900)}`,
      output,
    };
  }
  return { status: 'succeeded', output };
}

async function checkQuietly(host: Host, step: MitigationStep): Promise<boolean | null> {
  try {
    return await host.check(step.check ?? step.apply);
  } catch {
    return null;
  }
}

async function mitigateStep(
  host: Host,
  step: MitigationStep,
  record: RecordFile,
): Promise<Omit<StepResult, 'id'>> {
  const check = step.check ?? step.apply;
  try {
    if (await host.check(check)) return { outcome: 'already', detail: 'the check holds; nothing changed' };
    const undo = await host.apply(step.apply);
    // Re-applying after a partial run keeps the first record: it holds the state before any change.
    record.steps[step.id] ??= undo;
    if (!(await host.check(check)))
      return { outcome: 'failed', detail: 'applied, but the check does not hold' };
    return { outcome: 'applied', detail: 'applied; the check holds' };
  } catch (err) {
    if (err instanceof Unsupported) return { outcome: 'unsupported', detail: err.message };
    return { outcome: 'failed', detail: message(err) };
  }
}

async function rollbackStep(
  host: Host,
  step: MitigationStep,
  record: RecordFile,
): Promise<Omit<StepResult, 'id'>> {
  const rec = record.steps[step.id];
  if (!rec) return { outcome: 'already', detail: 'nothing this agent applied is recorded for this step' };
  try {
    await host.undo(step, rec);
    delete record.steps[step.id];
    return {
      outcome: 'undone',
      detail: step.undo === 'restore' ? 'restored the state found before apply' : 'undo state set',
    };
  } catch (err) {
    if (err instanceof Unsupported) return { outcome: 'unsupported', detail: err.message };
    return { outcome: 'failed', detail: message(err) };
  }
}
