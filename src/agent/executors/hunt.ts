/**
 * `hunt`: runs the hunt engine over this host's own logs for one advisory's hunt pack, and reports one host
 * report (HuntReport, as `bulwark hunt --push` uploads it). Folders come from `params.paths` or from the log-type
 * registry's host locations; none found is a failure naming where it looked, never `clean`.
 */
import { hostname } from 'node:os';
import { huntAdvisories, type KnowledgeBase } from '../../advisories/index.js';
import type { JobEnvelope } from '../../api/agent-protocol.js';
import type { HuntReport } from '../../api/index.js';
import { hostReportUploads, hunt, huntConfig } from '../../hunt/index.js';
import {
  type ExecutorContext,
  type ExecutorOutcome,
  failed,
  type HostDeps,
  ParamError,
  stringParam,
} from './context.js';
import { locateLogs } from './locate.js';

export const DEFAULT_HUNT_SECONDS = 1800;
const MAX_PATHS = 100;

export interface HuntOutput {
  advisory_id: string;
  report: HuntReport;
}

function pathsParam(params: Record<string, unknown>): string[] | undefined {
  const v = params.paths;
  if (v === undefined) return undefined;
  if (
    !Array.isArray(v) ||
    v.length === 0 ||
    v.length > MAX_PATHS ||
    v.some((p) => typeof p !== 'string' || !p)
  ) {
    throw new ParamError(`params.paths: expected 1 to ${MAX_PATHS} non-empty path strings`);
  }
  return v as string[];
}

function secondsParam(params: Record<string, unknown>): number {
  const v = params.max_seconds;
  if (v === undefined) return DEFAULT_HUNT_SECONDS;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 1 || v > 86_400) {
    throw new ParamError('params.max_seconds: expected a whole number of seconds from 1 to 86400');
  }
  return v;
}

export async function runHuntJob(
  envelope: JobEnvelope,
  ctx: ExecutorContext,
  deps: HostDeps,
  kb: () => KnowledgeBase,
): Promise<ExecutorOutcome> {
  let advisoryId: string;
  let given: string[] | undefined;
  let seconds: number;
  let packs: ReturnType<typeof huntAdvisories>;
  try {
    advisoryId = stringParam(envelope.params, 'advisory_id', true);
    given = pathsParam(envelope.params);
    seconds = secondsParam(envelope.params);
    // The engine judges every record of the logs it reads; a time window would need it to filter records first.
    for (const name of ['since', 'until'] as const) {
      if (envelope.params[name] !== undefined) {
        throw new ParamError(
          `params.${name}: this agent hunts the whole of the logs it finds and cannot limit them to a time window`,
        );
      }
    }
    try {
      packs = huntAdvisories(kb(), advisoryId);
    } catch (err) {
      throw new ParamError(`params.advisory_id: ${(err as Error).message}`);
    }
  } catch (err) {
    if (err instanceof ParamError) return failed(err.message);
    throw err;
  }
  let paths = given;
  if (!paths) {
    const located = await locateLogs(ctx.platform, deps);
    if (!located.folders.length) {
      return failed(
        located.looked.length
          ? `no log folders found: looked in ${located.looked.join(', ')}`
          : `no log folders found: no registered log type lists folders on ${ctx.platform}; give params.paths`,
      );
    }
    paths = located.folders;
  }
  const config = huntConfig({ advisories: packs, sigmaPaths: [], iocFiles: [], strict: false });
  const host = hostname();
  ctx.progress(0, null, `hunting ${paths.length} folder(s)`);
  const deadline = AbortSignal.timeout(seconds * 1000);
  const stop = AbortSignal.any([deadline, ctx.signal]);
  const run = hunt({
    paths,
    host,
    rules: config.rules,
    assess: config.assess,
    workers: 1,
    signal: stop,
    onProgress: (done, total) => ctx.progress(done, total),
  });
  const stopped = new Promise<never>((_, reject) => {
    if (stop.aborted) reject(stop.reason);
    else stop.addEventListener('abort', () => reject(stop.reason), { once: true });
  });
  // Whichever loses the race settles later with nobody awaiting it.
  run.catch(() => {});
  stopped.catch(() => {});
  let result: Awaited<typeof run>;
  try {
    result = await Promise.race([run, stopped]);
  } catch (err) {
    if (deadline.aborted) return failed(`the hunt did not finish within params.max_seconds (${seconds} s)`);
    if (ctx.signal.aborted) return failed('cancelled');
    return failed(`the hunt failed: ${(err as Error).message}`.slice(0, 1000));
  }
  if (!result.hosts.length) {
    const skipped = result.skipped.slice(0, 3).map((s) => `${s.file}: ${s.reason}`);
    return failed(
      `no recognised log under ${paths.join(', ')}${skipped.length ? ` (skipped: ${skipped.join('; ')})` : ''}`.slice(
        0,
        1000,
      ),
    );
  }
  // Every log on this host is this host's, whatever server name the logs carry: one report, the worst verdict.
  const reports = hostReportUploads(result);
  const report = reports.length === 1 ? reports[0]! : mergeReports(reports, host);
  const output: HuntOutput = { advisory_id: advisoryId, report };
  return { status: 'succeeded', output };
}

const VERDICT_RANK = ['clean', 'insufficient_logs', 'probed', 'exploitation_attempted', 'compromised'];

function mergeReports(reports: HuntReport[], host: string): HuntReport {
  const rank = (v: string) => VERDICT_RANK.indexOf(v);
  const worst = reports.reduce((a, b) => (rank(b.verdict) > rank(a.verdict) ? b : a));
  const froms = reports
    .map((r) => r.window.from)
    .filter((x): x is string => x !== null)
    .sort();
  const tos = reports
    .map((r) => r.window.to)
    .filter((x): x is string => x !== null)
    .sort();
  return {
    ...worst,
    host,
    window: { from: froms[0] ?? null, to: tos[tos.length - 1] ?? null },
  };
}
