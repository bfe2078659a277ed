/**
 * `bulwark agent enroll` and `bulwark agent run`: argument parsing and output only; the work is in src/agent.
 * The enrolment token is read from a file or standard input (`-`), never from the command line.
 */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import type { Command } from 'commander';
import { escapeControls } from '../../core/index.js';
import { EXIT, type Io, printJson, UsageError } from '../io.js';
import type { CommandHost } from './agent-group.js';

export interface AgentEnrollCliOptions {
  server: string;
  tokenFile: string;
  stateDir?: string;
  force?: boolean;
  hostname?: string;
  json?: boolean;
}

export interface AgentRunCliOptions {
  stateDir?: string;
}

/** Reads the enrolment token from a file or, for `-`, from standard input. */
export function readToken(io: Io, file: string, stdin: () => string = () => readFileSync(0, 'utf8')): string {
  let text: string;
  try {
    text = file === '-' ? stdin() : readFileSync(resolve(io.cwd, file), 'utf8');
  } catch (err) {
    throw new UsageError(
      `--token-file ${escapeControls(file)}: cannot read (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`,
    );
  }
  const token = text.trim();
  if (!token) throw new UsageError(`--token-file ${escapeControls(file)}: the file is empty`);
  return token;
}

async function stateDirOf(io: Io, given: string | undefined): Promise<string> {
  const { defaultStateDir } = await import('../../agent/state.js');
  return resolve(io.cwd, given ?? defaultStateDir(io.env));
}

/** Known agent failures (state, enrolment) become one line and exit 2. */
async function asUsage<T>(work: () => Promise<T>): Promise<T> {
  const { StateError } = await import('../../agent/state.js');
  const { EnrollError } = await import('../../agent/enroll.js');
  try {
    return await work();
  } catch (err) {
    if (err instanceof StateError || err instanceof EnrollError) throw new UsageError(err.message);
    throw err;
  }
}

export async function runAgentEnroll(io: Io, opts: AgentEnrollCliOptions): Promise<number> {
  const token = readToken(io, opts.tokenFile);
  const stateDir = await stateDirOf(io, opts.stateDir);
  const { enroll } = await import('../../agent/enroll.js');
  const config = await asUsage(() =>
    enroll({ server: opts.server, token, stateDir, force: opts.force, hostname: opts.hostname }),
  );
  if (opts.json)
    printJson(io, {
      agent_id: config.agent_id,
      tenant_id: config.tenant_id,
      site_id: config.site_id,
      asset_id: config.asset_id,
      server: config.server,
      state_dir: stateDir,
    });
  else
    io.out(
      `enrolled as ${config.agent_id} (tenant ${config.tenant_id}${config.site_id ? `, site ${config.site_id}` : ''}); state in ${stateDir}\nstart it with: bulwark agent run --state-dir ${stateDir}\n`,
    );
  return EXIT.clean;
}

/** Runs the agent in the foreground until SIGTERM/SIGINT or until the server removes it. */
export async function runAgentRun(io: Io, opts: AgentRunCliOptions): Promise<number> {
  const stateDir = await stateDirOf(io, opts.stateDir);
  const { runAgent } = await import('../../agent/run.js');
  const { jsonLog, LOG_LEVELS } = await import('../../agent/log.js');
  const level = (io.env.BULWARK_AGENT_LOG_LEVEL ?? 'info') as keyof typeof LOG_LEVELS;
  if (!(level in LOG_LEVELS))
    throw new UsageError(`BULWARK_AGENT_LOG_LEVEL: expected one of ${Object.keys(LOG_LEVELS).join(', ')}`);
  const number = (name: string, min: number, max: number): number | undefined => {
    const text = io.env[name];
    if (text === undefined || text === '') return undefined;
    const n = Number(text);
    if (!Number.isInteger(n) || n < min || n > max)
      throw new UsageError(`${name}: expected a whole number from ${min} to ${max}`);
    return n;
  };
  const baseMs = number('BULWARK_AGENT_BACKOFF_BASE_MS', 1, 3_600_000);
  const capMs = number('BULWARK_AGENT_BACKOFF_CAP_MS', 1, 3_600_000);
  const inventoryIntervalS = number('BULWARK_AGENT_INVENTORY_INTERVAL_S', 1, 7 * 24 * 3600);
  const controller = new AbortController();
  const stop = () => controller.abort();
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
  try {
    const { code } = await asUsage(() =>
      runAgent({
        stateDir,
        log: jsonLog((line) => io.err(line), level),
        signal: controller.signal,
        backoff: { ...(baseMs ? { baseMs } : {}), ...(capMs ? { capMs } : {}) },
        inventoryIntervalS,
      }),
    );
    return code;
  } finally {
    process.off('SIGTERM', stop);
    process.off('SIGINT', stop);
  }
}

export function registerAgentEnrollRun(agent: Command, { io, setCode }: CommandHost): void {
  agent
    .command('enroll')
    .description("enrol this machine with a Bulwark server: make the agent's key and store its identity")
    .requiredOption('--server <url>', 'the Bulwark server, e.g. https://bulwark.example.com')
    .requiredOption('--token-file <file>', 'file holding the enrolment token (bwe_…); - reads standard input')
    .option(
      '--state-dir <dir>',
      'state directory (env BULWARK_AGENT_STATE_DIR; default /var/lib/bulwark-agent, %ProgramData%\\Bulwark\\agent)',
    )
    .option('--force', 'replace an enrolled identity in the state directory with a new one')
    .option('--hostname <name>', 'the name the asset gets (default: this host name)')
    .option('--json', 'print one JSON object')
    .action(async (opts: AgentEnrollCliOptions) => {
      setCode(await runAgentEnroll(io, opts));
    });
  agent
    .command('run')
    .description(
      'run the agent in the foreground until SIGTERM/SIGINT (exit 0), or until the server revokes or quarantines it (exit 3)',
    )
    .option(
      '--state-dir <dir>',
      'state directory (env BULWARK_AGENT_STATE_DIR; default /var/lib/bulwark-agent, %ProgramData%\\Bulwark\\agent)',
    )
    .action(async (opts: AgentRunCliOptions) => {
      setCode(await runAgentRun(io, opts));
    });
}
