/** What executors receive from the runner, and the host lookups tests replace. */
import type { JobEnvelope } from '../../api/agent-protocol.js';
import type { AssetFacts } from '../../core/index.js';
import { type PowerShell, runPowerShell } from './windows.js';

export interface ExecutorContext {
  stateDir: string;
  signal: AbortSignal;
  progress(done: number, total: number | null, message?: string): void;
  collectInventory(): Promise<AssetFacts>;
  platform: NodeJS.Platform;
}

export interface ExecutorOutcome {
  status: 'succeeded' | 'failed';
  reason?: string;
  output?: unknown;
}

export type Executor = (envelope: JobEnvelope, ctx: ExecutorContext) => Promise<ExecutorOutcome>;

/** Host lookups an executor makes; the defaults read this machine, tests pass their own. */
export interface HostDeps {
  env: NodeJS.ProcessEnv;
  /** A registry value on Windows (`HKLM\…` key, value name), or undefined. */
  readRegistry(key: string, value: string): Promise<string | undefined>;
  powershell: PowerShell;
  /** applicationHost.config (default `%windir%\System32\inetsrv\config\applicationHost.config`). */
  applicationHostConfig?: string;
}

export const defaultHostDeps = (): HostDeps => ({
  env: process.env,
  readRegistry: async (key, value) => {
    if (process.platform !== 'win32') return undefined;
    try {
      const out = await runPowerShell(
        `(Get-ItemProperty -Path 'Registry::${key.replace(/'/g, "''")}' -ErrorAction Stop).'${value.replace(/'/g, "''")}'`,
        AbortSignal.timeout(30_000),
      );
      return out.trim() || undefined;
    } catch {
      return undefined;
    }
  },
  powershell: runPowerShell,
});

export const failed = (reason: string): ExecutorOutcome => ({ status: 'failed', reason });

/** A required string parameter, or the reason it is not one. */
export function stringParam(params: Record<string, unknown>, name: string, required: true): string;
export function stringParam(
  params: Record<string, unknown>,
  name: string,
  required: false,
): string | undefined;
export function stringParam(
  params: Record<string, unknown>,
  name: string,
  required: boolean,
): string | undefined {
  const v = params[name];
  if (v === undefined && !required) return undefined;
  if (typeof v !== 'string' || v.length === 0 || v.length > 200) {
    throw new ParamError(`params.${name}: expected a non-empty string of at most 200 characters`);
  }
  return v;
}

export class ParamError extends Error {
  override name = 'ParamError';
}
