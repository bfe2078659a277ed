/** Worker thread of the hunt pool: compiles the rules once, then runs the jobs it is sent. */
import { parentPort, workerData } from 'node:worker_threads';
import { runJob } from './job.js';
import { buildRuleSet, type RuleConfig } from './rules.js';

const ruleSet = buildRuleSet(workerData as RuleConfig);
const port = parentPort!;

port.on('message', async (msg: { id: number; job: Parameters<typeof runJob>[0] }) => {
  try {
    const outcome = await runJob(msg.job, ruleSet.rulesFor, ruleSet.iocs, (n) =>
      port.postMessage({ type: 'bytes', n }),
    );
    port.postMessage({ type: 'done', id: msg.id, outcome });
  } catch (err) {
    port.postMessage({ type: 'failed', id: msg.id, message: `${msg.job.path}: ${(err as Error).message}` });
  }
});
