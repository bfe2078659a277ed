/**
 * Worker thread of the hunt pool: compiles the rules once, then runs the batches of jobs it is sent. Progress is
 * reported every PROGRESS_BYTES (a message per file would cost more than scanning a small file).
 */
import { parentPort, workerData } from 'node:worker_threads';
import { type JobOutcome, runJob } from './job.js';
import { buildRuleSet, type RuleConfig } from './rules.js';

const PROGRESS_BYTES = 32 << 20;

const ruleSet = buildRuleSet(workerData as RuleConfig);
const port = parentPort!;

let unreported = 0;
const onBytes = (n: number) => {
  unreported += n;
  if (unreported >= PROGRESS_BYTES) {
    port.postMessage({ type: 'bytes', n: unreported });
    unreported = 0;
  }
};

port.on('message', async (msg: { id: number; jobs: Parameters<typeof runJob>[0][] }) => {
  const outcomes: JobOutcome[] = [];
  for (const job of msg.jobs) {
    try {
      outcomes.push(await runJob(job, ruleSet.rulesFor, ruleSet.iocs, onBytes));
    } catch (err) {
      port.postMessage({ type: 'failed', id: msg.id, message: `${job.path}: ${(err as Error).message}` });
      return;
    }
  }
  port.postMessage({ type: 'done', id: msg.id, outcomes, bytes: unreported });
  unreported = 0;
});
