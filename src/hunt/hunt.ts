/**
 * `bulwark hunt`: lists the jobs under the given paths and runs them, across worker threads when there is
 * enough data to be worth it, then assesses each server.
 */
import { statSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import type { ArchiveLimits } from './archive.js';
import { type AssessContext, assessHosts, type FileOutcome } from './assess.js';
import { enumerateJobs, type Job } from './inputs.js';
import { type JobOutcome, runJob } from './job.js';
import type { FileSummary, HuntResult } from './report/model.js';
import { buildRuleSet, type RuleConfig } from './rules.js';
import type { HuntFinding } from './types.js';

export interface HuntOptions {
  paths: readonly string[];
  host?: string;
  rules: RuleConfig;
  assess: AssessContext;
  /** Worker threads; default: one per core when the input is over WORKER_THRESHOLD bytes. 1 = in-process. */
  workers?: number;
  onProgress?: (done: number, total: number) => void;
  /** Bounds on what each zip or gzip may expand to (default DEFAULT_ARCHIVE_LIMITS). */
  archiveLimits?: ArchiveLimits;
  /** Stops an in-process hunt between files: the hunt then rejects with the signal's reason. */
  signal?: AbortSignal;
}

/** Below this much input, starting workers costs more than it saves. */
const WORKER_THRESHOLD = 64 * 1024 * 1024;

export async function hunt(opts: HuntOptions): Promise<HuntResult> {
  const started = process.hrtime.bigint();
  const canUseWorkers = import.meta.url.endsWith('.js');
  // Workers take a while to start (modules, rules): when the input looks large, start them first so they get
  // ready while this thread lists the files. Not needed after all (small input): they are stopped.
  const early =
    canUseWorkers && (opts.workers ?? 2) > 1 && availableParallelism() > 1 && looksLarge(opts.paths)
      ? spawnWorkers(opts.rules, opts.workers ?? availableParallelism())
      : [];
  const ruleSet = buildRuleSet(opts.rules);
  const { jobs, problems } = await enumerateJobs(opts.paths, {
    host: opts.host,
    ...(opts.archiveLimits ? { limits: opts.archiveLimits } : {}),
  });
  const total = jobs.reduce((n, j) => n + j.size, 0);
  let done = 0;
  const onBytes = (n: number) => {
    done += n;
    opts.onProgress?.(Math.min(done, total), total);
  };
  const wanted = opts.workers ?? (total > WORKER_THRESHOLD ? availableParallelism() : 1);
  const workers = canUseWorkers ? Math.max(1, Math.min(wanted, jobs.length)) : 1;
  const pool = workers > 1 ? early.slice(0, workers) : [];
  for (const w of early) if (!pool.includes(w)) void w.worker.terminate();
  if (workers > 1 && pool.length < workers) pool.push(...spawnWorkers(opts.rules, workers - pool.length));

  const outcomes: JobOutcome[] =
    workers > 1
      ? await runInWorkers(jobs, pool, onBytes)
      : await runInProcess(jobs, ruleSet.rulesFor, ruleSet.iocs, onBytes, opts.signal);

  const files: FileOutcome[] = outcomes.flatMap((o) => o.files);
  const findings: HuntFinding[] = outcomes
    .flatMap((o) => o.findings)
    .sort(
      (a, b) =>
        a.host.localeCompare(b.host) ||
        (a.timestamp ?? '').localeCompare(b.timestamp ?? '') ||
        a.file.localeCompare(b.file) ||
        a.line - b.line,
    );
  const skipped: HuntResult['skipped'] = [
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
      incomplete_archives: skipped.filter((s) => s.incomplete).length,
      mode: opts.rules.strict ? 'strict-2021-03-02' : 'current',
    },
  };
}

async function runInProcess(
  jobs: Job[],
  rulesFor: Parameters<typeof runJob>[1],
  iocs: Parameters<typeof runJob>[2],
  onBytes: (n: number) => void,
  signal?: AbortSignal,
): Promise<JobOutcome[]> {
  const out: JobOutcome[] = [];
  for (const job of jobs) {
    signal?.throwIfAborted();
    out.push(await runJob(job, rulesFor, iocs, onBytes));
  }
  return out;
}

type FromWorker =
  | { type: 'bytes'; n: number }
  | { type: 'done'; id: number; outcomes: JobOutcome[]; bytes: number }
  | { type: 'failed'; id: number; message: string };

/**
 * Consecutive jobs (largest first) grouped so that each batch holds about `bytes` of input: one message each way
 * per batch instead of per file (a hunt of thousands of small files spent a tenth of its time in messages).
 */
export function batchJobs(jobs: readonly Job[], bytes: number, maxJobs = 512): number[][] {
  const batches: number[][] = [];
  let current: number[] = [];
  let size = 0;
  jobs.forEach((job, i) => {
    current.push(i);
    size += job.size;
    if (size >= bytes || current.length >= maxJobs) {
      batches.push(current);
      current = [];
      size = 0;
    }
  });
  if (current.length) batches.push(current);
  return batches;
}

/** A folder, or files adding up to more than the worker threshold. */
function looksLarge(paths: readonly string[]): boolean {
  let bytes = 0;
  for (const p of paths) {
    try {
      const st = statSync(p);
      if (st.isDirectory()) return true;
      bytes += st.size;
    } catch {
      // enumerateJobs reports it
    }
  }
  return bytes > WORKER_THRESHOLD;
}

interface PoolWorker {
  worker: Worker;
  /** An error the worker raised before it was given work. */
  error?: Error;
}

function spawnWorkers(rules: RuleConfig, count: number): PoolWorker[] {
  return Array.from({ length: count }, () => {
    const w: PoolWorker = {
      worker: new Worker(new URL('./worker.js', import.meta.url), { workerData: rules }),
    };
    w.worker.on('error', (err) => {
      w.error ??= err;
    });
    return w;
  });
}

/** A small pool: each worker compiles the rules once and takes the next batch of jobs when it finishes one. */
function runInWorkers(
  jobs: Job[],
  workers: PoolWorker[],
  onBytes: (n: number) => void,
): Promise<JobOutcome[]> {
  const total = jobs.reduce((n, j) => n + j.size, 0);
  const count = workers.length;
  // Small enough batches that the workers finish together, large enough that messages cost nothing.
  const batches = batchJobs(jobs, Math.min(32 << 20, Math.max(1 << 20, total / (count * 16))));
  return new Promise((resolve, reject) => {
    const results: JobOutcome[] = new Array(jobs.length);
    let next = 0;
    let finished = 0;
    let failed = false;
    const pool = workers.map((w) => w.worker);
    const stopAll = () => {
      for (const w of pool) void w.terminate();
    };
    const fail = (err: Error) => {
      if (failed) return;
      failed = true;
      stopAll();
      reject(err);
    };
    const feed = (w: Worker) => {
      if (next < batches.length) {
        const id = next++;
        w.postMessage({ id, jobs: batches[id]!.map((j) => jobs[j]) });
      }
    };
    for (const { worker: w, error } of workers) {
      if (error) return fail(error);
      w.on('message', (m: FromWorker) => {
        if (m.type === 'bytes') onBytes(m.n);
        else if (m.type === 'done') {
          onBytes(m.bytes);
          batches[m.id]!.forEach((j, k) => {
            results[j] = m.outcomes[k]!;
          });
          finished++;
          if (finished === batches.length) {
            stopAll();
            resolve(results);
          } else feed(w);
        } else fail(new Error(m.message));
      });
      w.on('error', fail);
      // Two batches in flight per worker so it never waits for the next message between batches.
      feed(w);
      feed(w);
    }
  });
}
