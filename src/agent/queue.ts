/**
 * The agent's durable job store in its state directory: jobs it accepted (queue/<job>.json, stored before it
 * tells the server `received`), results until the server acknowledged them (results/<job>.json) and the job ids
 * and nonces it has seen, kept until the job's expiry (nonces.json) so a replayed job is refused.
 */
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import type { SignedJob, SignedResult } from '../api/agent-protocol.js';
import { readJson, removeFile, type StateDir, writeJsonAtomic } from './state.js';

/** A job in the local queue. */
export interface QueuedJob {
  job: SignedJob;
  state: 'received' | 'running';
  received_at: string;
  started_at?: string;
  /** How many times a run started (a run interrupted by a stop or a crash starts again). */
  runs: number;
}

interface SeenEntry {
  job_id: string;
  nonce: string;
  expires_at: string;
}

/** A job id as a file name: itself when it is plainly safe, else a digest of it. */
export function fileKey(jobId: string): string {
  return /^[A-Za-z0-9][A-Za-z0-9_-]{0,99}$/.test(jobId)
    ? jobId
    : `x${createHash('sha256').update(jobId).digest('hex').slice(0, 40)}`;
}

export class JobStore {
  private seenIds = new Map<string, SeenEntry>();
  private seenNonces = new Set<string>();

  constructor(private readonly state: StateDir) {
    state.ensure();
    const file = readJson<{ entries?: SeenEntry[] }>(state.nonces);
    for (const entry of file?.entries ?? []) {
      if (typeof entry?.job_id !== 'string' || typeof entry.nonce !== 'string') continue;
      this.seenIds.set(entry.job_id, entry);
      this.seenNonces.add(entry.nonce);
    }
  }

  private queuePath(jobId: string): string {
    return join(this.state.queue, `${fileKey(jobId)}.json`);
  }
  private resultPath(jobId: string): string {
    return join(this.state.results, `${fileKey(jobId)}.json`);
  }

  getQueued(jobId: string): QueuedJob | undefined {
    return readJson<QueuedJob>(this.queuePath(jobId));
  }
  putQueued(entry: QueuedJob): void {
    writeJsonAtomic(this.queuePath(entry.job.envelope.job_id), entry, 0o600);
  }
  removeQueued(jobId: string): void {
    removeFile(this.queuePath(jobId));
  }
  /** Every queued job, oldest first. */
  queued(): QueuedJob[] {
    return this.state
      .jobFiles('queue')
      .map((key) => readJson<QueuedJob>(join(this.state.queue, `${key}.json`)))
      .filter((q): q is QueuedJob => Boolean(q?.job?.envelope?.job_id));
  }

  getResult(jobId: string): SignedResult | undefined {
    return readJson<SignedResult>(this.resultPath(jobId));
  }
  putResult(result: SignedResult): void {
    writeJsonAtomic(this.resultPath(result.result.job_id), result, 0o600);
  }
  removeResult(jobId: string): void {
    removeFile(this.resultPath(jobId));
  }
  /** Every result the server has not acknowledged, oldest first. */
  results(): SignedResult[] {
    return this.state
      .jobFiles('results')
      .map((key) => readJson<SignedResult>(join(this.state.results, `${key}.json`)))
      .filter((r): r is SignedResult => Boolean(r?.result?.job_id));
  }

  /** Whether this job id or this nonce was seen before. */
  seen(jobId: string, nonce: string): boolean {
    return this.seenIds.has(jobId) || this.seenNonces.has(nonce);
  }

  /** Remembers a job id and nonce until `expiresAt` (durably, before the job is acknowledged). */
  remember(jobId: string, nonce: string, expiresAt: string, now = Date.now()): void {
    this.seenIds.set(jobId, { job_id: jobId, nonce, expires_at: expiresAt });
    this.seenNonces.add(nonce);
    this.prune(now);
    writeJsonAtomic(this.state.nonces, { entries: [...this.seenIds.values()] }, 0o600);
  }

  /** Forgets entries past their expiry: such a job is refused as expired anyway. */
  private prune(now: number): void {
    for (const [id, entry] of this.seenIds) {
      const at = Date.parse(entry.expires_at);
      if (Number.isNaN(at) || at < now) {
        this.seenIds.delete(id);
        this.seenNonces.delete(entry.nonce);
      }
    }
  }
}
