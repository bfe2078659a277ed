/**
 * `bulwark agent run`: the agent process. Takes the state directory's lock, resumes the local job queue, keeps the
 * channel to the server, reports inventory (a full report when the server holds none or another one, then diffs
 * every inventory interval when something changed) and runs signed jobs. Ends on the abort signal (SIGTERM,
 * SIGINT) or when the server revoked or quarantined the agent — then it records that in agent.json and refuses
 * to start again until it is enrolled anew, so no supervisor can turn it into a reconnect loop.
 */
import { hostname } from 'node:os';
import { privateKeyFromPem } from '../api/agent-protocol.js';
import type { AssetFacts } from '../core/index.js';
import { type BackoffOptions, DEFAULT_BACKOFF } from './backoff.js';
import { AgentChannel, type ChannelEnd, type ChannelMessage, type Welcome } from './channel.js';
import { collectInventory, diffFacts, factsHash } from './inventory/index.js';
import { type Executor, type ExecutorSet, JobRunner } from './jobs.js';
import type { AgentLog } from './log.js';
import { JobStore } from './queue.js';
import {
  type AgentConfig,
  readJson,
  StateDir,
  StateError,
  writeFileAtomic,
  writeJsonAtomic,
} from './state.js';
import { AGENT_VERSION } from './version.js';

/** Exit codes of `bulwark agent run`. */
export const AGENT_EXIT = {
  /** stopped by SIGTERM/SIGINT */
  stopped: 0,
  /** not enrolled, damaged state, another agent on the state directory */
  usage: 2,
  /** revoked or quarantined by the server: enrol again to come back (never restarted by the service files) */
  removed: 3,
} as const;

/** Default inventory interval: once an hour. */
export const DEFAULT_INVENTORY_INTERVAL_S = 3600;

export interface RunOptions {
  stateDir: string;
  log: AgentLog;
  signal: AbortSignal;
  backoff?: Partial<BackoffOptions>;
  inventoryIntervalS?: number;
  /** Job executors by kind (default: inventory and the executors of src/agent/executors). */
  executors?: ExecutorSet;
  collectInventory?: () => Promise<AssetFacts>;
}

export interface RunEnd {
  code: number;
  end: ChannelEnd;
}

/** agent.json's record of a removal, kept until a new enrolment. */
interface RemovedConfig extends AgentConfig {
  removed?: { state: string; reason: string; at: string };
}

/** The `inventory` kind: collect now and return the facts with their hash. */
export const inventoryExecutor: Executor = async (_envelope, ctx) => {
  const facts = await ctx.collectInventory();
  return { status: 'succeeded', output: { facts, hash: factsHash(facts) } };
};

/** The executors this agent runs by default: inventory and those of src/agent/executors. */
export async function defaultExecutors(): Promise<ExecutorSet> {
  const { EXECUTORS } = await import('./executors/index.js');
  return { inventory: inventoryExecutor, ...EXECUTORS };
}

export async function runAgent(options: RunOptions): Promise<RunEnd> {
  const { log, signal } = options;
  const state = new StateDir(options.stateDir);
  let config = state.readConfig() as RemovedConfig;
  if (config.removed)
    throw new StateError(
      `agent ${config.agent_id} was ${config.removed.state} by the server at ${config.removed.at} (${config.removed.reason}); it does not connect again — enrol anew with bulwark agent enroll --force`,
    );
  const release = state.lock();
  try {
    const key = privateKeyFromPem(state.readKeyPem());
    const store = new JobStore(state);
    const collect =
      options.collectInventory ?? (() => collectInventory({ id: config.asset_id, hostname: hostname() }));
    const executors = options.executors ?? (await defaultExecutors());
    const backoff: BackoffOptions = { ...DEFAULT_BACKOFF, ...options.backoff };

    let channel: AgentChannel | undefined;
    const send = (message: { t: string } & Record<string, unknown>) => channel?.send(message) ?? false;
    const runner = new JobRunner({
      identity: { agentId: config.agent_id, tenantId: config.tenant_id, serverKeys: config.server_keys },
      key,
      store,
      executors,
      send,
      collectInventory: collect,
      stateDir: state.dir,
      log,
    });
    const inventory = new InventoryReporter(state, collect, send, log);

    log.info('agent starting', {
      agent_id: config.agent_id,
      tenant_id: config.tenant_id,
      server: config.server,
      state_dir: state.dir,
      version: AGENT_VERSION,
      kinds: runner.kinds,
    });
    runner.resume();

    channel = new AgentChannel({
      server: config.server,
      agentId: config.agent_id,
      key,
      serverKeys: config.server_keys,
      generation: () => config.generation,
      saveGeneration: (generation) => {
        config = { ...config, generation };
        state.writeConfig(config);
      },
      backoff,
      log,
      signal,
      hooks: {
        onOpen: (welcome: Welcome) => {
          if (welcome.heartbeat_s !== config.heartbeat_s) {
            config = { ...config, heartbeat_s: welcome.heartbeat_s };
            state.writeConfig(config);
          }
          runner.resync();
          if (welcome.renew_certificate) send({ t: 'renew' });
          inventory.afterWelcome(welcome.inventory_hash);
        },
        onMessage: (message: ChannelMessage) => {
          switch (message.t) {
            case 'job':
              return runner.receive(message.job);
            case 'result_ack':
              if (typeof message.job_id === 'string') runner.acknowledge(message.job_id);
              return;
            case 'inventory_ack':
              return inventory.acknowledged(message);
            case 'certificate':
              if (
                typeof message.certificate_pem === 'string' &&
                message.certificate_pem.includes('CERTIFICATE')
              ) {
                writeFileAtomic(state.cert, message.certificate_pem);
                log.info('device certificate renewed');
              }
              return;
            case 'error':
              log.warn('the server reported an error', {
                message: String(message.message ?? '').slice(0, 500),
              });
              return;
            default:
              log.debug('message ignored', { t: message.t });
          }
        },
        onClose: () => {},
      },
    });

    const interval = Math.max(1, options.inventoryIntervalS ?? DEFAULT_INVENTORY_INTERVAL_S) * 1000;
    const timer = setInterval(() => {
      if (channel?.connected) inventory.periodic();
    }, interval);
    let end: ChannelEnd;
    try {
      end = await channel.run();
    } finally {
      clearInterval(timer);
      await runner.stop();
    }
    if (end.kind === 'removed') {
      config = { ...config, removed: { state: end.state, reason: end.reason, at: new Date().toISOString() } };
      state.writeConfig(config);
      log.fatal(
        `the server ${end.state === 'removed' ? 'removed' : end.state} this agent: stopping for good; enrol again to come back`,
        { agent_id: config.agent_id, state: end.state, reason: end.reason },
      );
      return { code: AGENT_EXIT.removed, end };
    }
    log.info('agent stopped', { agent_id: config.agent_id });
    return { code: AGENT_EXIT.stopped, end };
  } finally {
    release();
  }
}

/** inventory.json: the last report the server acknowledged (the base of the next diff). */
interface AckedInventory {
  hash: string;
  facts: AssetFacts;
}

/** Sends full reports and diffs, one at a time, and remembers what the server acknowledged. */
class InventoryReporter {
  private acked: AckedInventory | undefined;
  private pending: AckedInventory | undefined;
  private busy = false;
  private firstWelcome = true;

  constructor(
    private readonly state: StateDir,
    private readonly collect: () => Promise<AssetFacts>,
    private readonly send: (message: { t: string } & Record<string, unknown>) => boolean,
    private readonly log: AgentLog,
  ) {
    const stored = readJson<AckedInventory>(state.inventory);
    if (stored && typeof stored.hash === 'string' && stored.facts) this.acked = stored;
  }

  /** After a welcome: report when the server holds another inventory than ours, and once per process start. */
  afterWelcome(serverHash: string | null): void {
    const first = this.firstWelcome;
    this.firstWelcome = false;
    if (this.acked && serverHash !== this.acked.hash) this.acked = undefined;
    if (!first && this.acked) return;
    void this.report();
  }

  periodic(): void {
    void this.report();
  }

  acknowledged(message: ChannelMessage): void {
    const hash = typeof message.hash === 'string' ? message.hash : '';
    if (message.ok === true && this.pending?.hash === hash) {
      this.acked = this.pending;
      this.pending = undefined;
      writeJsonAtomic(this.state.inventory, this.acked, 0o600);
      this.log.info('inventory acknowledged', { hash, products: this.acked.facts.products.length });
      return;
    }
    if (message.ok === false && this.pending) {
      this.log.info('the server asked for a full inventory', { hash });
      this.acked = undefined;
      this.sendReport(this.pending);
    }
  }

  private async report(): Promise<void> {
    if (this.busy) return;
    this.busy = true;
    try {
      const facts = await this.collect();
      const hash = factsHash(facts);
      if (this.acked?.hash === hash) return;
      this.pending = { hash, facts };
      this.sendReport(this.pending);
    } catch (err) {
      this.log.error('inventory collection failed', { error: (err as Error).message });
    } finally {
      this.busy = false;
    }
  }

  private sendReport(report: AckedInventory): void {
    const message: { t: 'inventory'; mode: 'full' | 'diff' } & Record<string, unknown> = this.acked
      ? {
          t: 'inventory',
          mode: 'diff',
          hash: report.hash,
          base_hash: this.acked.hash,
          diff: diffFacts(this.acked.facts, report.facts),
        }
      : { t: 'inventory', mode: 'full', hash: report.hash, facts: report.facts };
    if (this.send(message))
      this.log.info('inventory sent', {
        mode: message.mode,
        hash: report.hash,
        products: report.facts.products.length,
      });
  }
}
