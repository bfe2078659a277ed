/**
 * The `windows_service` and `iis_app_pool` host states, read and set through PowerShell (Windows only). Names come
 * from signed advisory packs and are still passed as single-quoted PowerShell strings.
 */
import { execFile } from 'node:child_process';
import type { HostState } from '../../core/index.js';

export type ServiceState = Extract<HostState, { kind: 'windows_service' }>;
export type AppPoolState = Extract<HostState, { kind: 'iis_app_pool' }>;

/** Runs a PowerShell script; stdout is its answer. */
export type PowerShell = (script: string, signal: AbortSignal) => Promise<string>;

export const POWERSHELL_TIMEOUT_MS = 120_000;

export const runPowerShell: PowerShell = (script, signal) =>
  new Promise((resolve, reject) => {
    execFile(
      'powershell.exe',
      ['-NoProfile', '-NonInteractive', '-ExecutionPolicy', 'Bypass', '-Command', script],
      { timeout: POWERSHELL_TIMEOUT_MS, signal, windowsHide: true, maxBuffer: 1024 * 1024 },
      (err, stdout, stderr) =>
        err ? reject(new Error(`${err.message}: ${stderr.trim().slice(0, 500)}`)) : resolve(stdout),
    );
  });

const q = (s: string) => `'${s.replace(/'/g, "''")}'`;

const SERVICE_START: Record<string, string> = {
  automatic: 'Automatic',
  manual: 'Manual',
  disabled: 'Disabled',
};

/** The service's state now, in the pack's words. */
export async function readService(ps: PowerShell, name: string, signal: AbortSignal): Promise<ServiceState> {
  const out = await ps(
    `$s = Get-Service -Name ${q(name)} -ErrorAction Stop; "$($s.Status)|$($s.StartType)"`,
    signal,
  );
  const [status, start] = out.trim().split('|');
  return {
    kind: 'windows_service',
    name,
    state: status === 'Running' ? 'running' : 'stopped',
    start_mode:
      (start ?? '').toLowerCase() === 'disabled'
        ? 'disabled'
        : (start ?? '').toLowerCase() === 'manual'
          ? 'manual'
          : 'automatic',
  };
}

export async function setService(ps: PowerShell, want: ServiceState, signal: AbortSignal): Promise<void> {
  const lines = [];
  if (want.start_mode)
    lines.push(`Set-Service -Name ${q(want.name)} -StartupType ${SERVICE_START[want.start_mode]}`);
  lines.push(
    want.state === 'running'
      ? `Start-Service -Name ${q(want.name)}`
      : `Stop-Service -Name ${q(want.name)} -Force`,
  );
  await ps(`$ErrorActionPreference = 'Stop'; ${lines.join('; ')}`, signal);
}

export async function readAppPool(ps: PowerShell, name: string, signal: AbortSignal): Promise<AppPoolState> {
  const path = q(`IIS:\\AppPools\\${name}`);
  const out = await ps(
    `$ErrorActionPreference = 'Stop'; Import-Module WebAdministration; $p = Get-Item ${path}; "$($p.state)|$($p.startMode)|$($p.autoStart)"`,
    signal,
  );
  const [state, startMode, autoStart] = out.trim().split('|');
  return {
    kind: 'iis_app_pool',
    name,
    state: state === 'Started' ? 'started' : 'stopped',
    start_mode: startMode === 'AlwaysRunning' ? 'AlwaysRunning' : 'OnDemand',
    auto_start: (autoStart ?? '').toLowerCase() === 'true',
  };
}

export async function setAppPool(ps: PowerShell, want: AppPoolState, signal: AbortSignal): Promise<void> {
  const path = q(`IIS:\\AppPools\\${want.name}`);
  const lines = ["$ErrorActionPreference = 'Stop'", 'Import-Module WebAdministration'];
  if (want.start_mode) lines.push(`Set-ItemProperty ${path} -Name startMode -Value ${want.start_mode}`);
  if (want.auto_start !== undefined)
    lines.push(`Set-ItemProperty ${path} -Name autoStart -Value $${want.auto_start}`);
  lines.push(
    want.state === 'started'
      ? `if ((Get-WebAppPoolState -Name ${q(want.name)}).Value -ne 'Started') { Start-WebAppPool -Name ${q(want.name)} }`
      : `if ((Get-WebAppPoolState -Name ${q(want.name)}).Value -ne 'Stopped') { Stop-WebAppPool -Name ${q(want.name)} }`,
  );
  await ps(lines.join('; '), signal);
}

/** Whether `now` satisfies `want` (fields `want` leaves out are not compared). */
export function holds(want: ServiceState | AppPoolState, now: ServiceState | AppPoolState): boolean {
  if (want.state !== now.state) return false;
  if (want.start_mode !== undefined && want.start_mode !== now.start_mode) return false;
  if (want.kind === 'iis_app_pool' && now.kind === 'iis_app_pool' && want.auto_start !== undefined) {
    return want.auto_start === now.auto_start;
  }
  return true;
}
