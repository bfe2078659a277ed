/**
 * `bulwark hunt`: lists the jobs under the given paths and runs them, across worker threads when there is
 * enough data to be worth it, then assesses each server.
 */
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import { type AssessContext, assessHosts, type FileOutcome } from './assess.js';
import { enumerateJobs, type Job } from './inputs.js';
import { type JobOutcome, runJob } from './job.js';
import type { FileSummary, HuntResult } from './report/model.js';
import { buildRuleSet, type RuleConfig } from './rules.js';
import type { Finding } from './types.js';

export interface HuntOptions {
  paths: readonly string[];
  host?: string;
  rules: RuleConfig;
  assess: AssessContext;
  /** Worker threads; default: one per core when the input is over WORKER_THRESHOLD bytes. 1 = in-process. */
  workers?: number;
  onProgress?: (done: number, total: number) => void;
}

/** Below this much input, starting workers costs more than it saves. */
const WORKER_THRESHOLD = 64 * 1024 * 1024;

export async function hunt(opts: HuntOptions): Promise<HuntResult> {
  const started = process.hrtime.bigint();
  const ruleSet = buildRuleSet(opts.rules);
  const { jobs, problems } = await enumerateJobs(opts.paths, { host: opts.host });
  const total = jobs.reduce((n, j) => n + j.size, 0);
  let done = 0;
  const onBytes = (n: number) => {
    done += n;
    opts.onProgress?.(Math.min(done, total), total);
  };
  const canUseWorkers = import.meta.url.endsWith('.js');
  const wanted = opts.workers ?? (total > WORKER_THRESHOLD ? availableParallelism() : 1);
  const workers = canUseWorkers ? Math.max(1, Math.min(wanted, jobs.length)) : 1;

  const outcomes: JobOutcome[] =
    workers > 1
      ? await runInWorkers(jobs, opts.rules, workers, onBytes)
      : await runInProcess(jobs, ruleSet.rulesFor, ruleSet.iocs, onBytes);

  const files: FileOutcome[] = outcomes.flatMap((o) => o.files);
  const findings: Finding[] = outcomes
    .flatMap((o) => o.findings)
    .sort(
      (a, b) =>
        a.host.localeCompare(b.host) ||
        (a.timestamp ?? '').localeCompare(b.timestamp ?? '') ||
        a.file.localeCompare(b.file) ||
        a.line - b.line,
    );
  const skipped = [
    ...problems.map((p) => ({ file: p.display, reason: p.problem })),
    ...outcomes.flatMap((o) => o.skipped),
  ];
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  const bytes = files.reduce((n, f) => n + f.stats.bytes, 0);
  const summaries: FileSummary[] = files
    .map((f) => ({
      file: f.stats.file,
      host: f.host,
      type: f.stats.type ?? null,
      bytes: f.stats.bytes,
      lines: f.stats.lines,
      records: f.stats.records,
      malformed: f.stats.malformed,
      truncated: f.stats.truncated,
      first: f.stats.first ?? null,
      last: f.stats.last ?? null,
      build: f.stats.build ?? null,
      samples: f.stats.samples,
    }))
    .sort((a, b) => a.file.localeCompare(b.file));
  return {
    hosts: assessHosts(findings, files, opts.assess),
    findings,
    files: summaries,
    skipped,
    rules: { loaded: ruleSet.loaded, unsupported: ruleSet.unsupported },
    summary: {
      files: files.length,
      bytes,
      seconds,
      mb_per_s: seconds > 0 ? bytes / 1e6 / seconds : 0,
      findings: findings.length,
      malformed_lines: files.reduce((n, f) => n + f.stats.malformed, 0),
      truncated_lines: files.reduce((n, f) => n + f.stats.truncated, 0),
      mode: opts.rules.strict ? 'strict-2021-03-02' : 'current',
    },
  };
}

async function runInProcess(
  jobs: Job[],
  rulesFor: Parameters<typeof runJob>[1],
  iocs: Parameters<typeof runJob>[2],
  onBytes: (n: number) => void,
): Promise<JobOutcome[]> {
  const out: JobOutcome[] = [];
  for (const job of jobs) out.push(await runJob(job, rulesFor, iocs, onBytes));
  return out;
}

type FromWorker =
  | { type: 'bytes'; n: number }
  | { type: 'done'; id: number; outcome: JobOutcome }
  | { type: 'failed'; id: number; message: string };

/** A small pool: each worker compiles the rules once and takes the next job when it finishes one. */
function runInWorkers(
  jobs: Job[],
  rules: RuleConfig,
  count: number,
  onBytes: (n: number) => void,
): Promise<JobOutcome[]> {
  return new Promise((resolve, reject) => {
    const results: JobOutcome[] = new Array(jobs.length);
    let next = 0;
    let finished = 0;
    let failed = false;
    const pool: Worker[] = [];
    const stopAll = () => {
      for (const w of pool) void w.terminate();
    };
    const feed = (w: Worker) => {
      if (next < jobs.length) {
        const id = next++;
        w.postMessage({ id, job: jobs[id] });
      }
    };
    for (let i = 0; i < count; i++) {
      const w = new Worker(new URL('./worker.js', import.meta.url), { workerData: rules });
      pool.push(w);
      w.on('message', (m: FromWorker) => {
        if (m.type === 'bytes') onBytes(m.n);
        else if (m.type === 'done') {
          results[m.id] = m.outcome;
          finished++;
          if (finished === jobs.length) {
            stopAll();
            resolve(results);
          } else feed(w);
        } else if (!failed) {
          failed = true;
          stopAll();
          reject(new Error(m.message));
        }
      });
      w.on('error', (err) => {
        if (failed) return;
        failed = true;
        stopAll();
        reject(err);
      });
      // Two jobs in flight per worker so it never waits for the next message between jobs.
      feed(w);
      feed(w);
    }
  });
}
