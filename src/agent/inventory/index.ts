/**
 * The agent's inventory: what this machine runs, as AssetFacts (src/core/exposure/facts.ts), and the hash and
 * diff the agent reports it with (src/api/agent-inventory.ts). Linux reads os-release, `uname -r`, dpkg and rpm
 * (linux.ts); Windows runs windows/collect-inventory.ps1 (windows.ts). Commands run through an injected runner, so
 * every parser is tested on recorded output.
 */
import { execFile } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { hostname as osHostname } from 'node:os';
import { fileURLToPath } from 'node:url';
import { normalizeFacts } from '../../api/agent-inventory.js';
import type { AssetFacts, ProductFact } from '../../core/exposure/facts.js';
import { parseWindowsInventory } from '../../core/inventory/windows.js';
import {
  DPKG_FORMAT,
  debNamespace,
  dpkgProducts,
  kernelFact,
  osFact,
  parseDpkg,
  parseOsRelease,
  parseRpm,
  RPM_DATABASES,
  RPM_FORMAT,
  rpmNamespace,
  rpmProducts,
} from './linux.js';

export {
  applyDiff,
  DiffMismatchError,
  diffFacts,
  factsHash,
  type InventoryDiff,
  InventoryDiffSchema,
  normalizeFacts,
} from '../../api/agent-inventory.js';
export { EOMT_RULES, parseWindowsInventory, WINDOWS_INVENTORY_SCHEMA } from '../../core/inventory/windows.js';
export { parseDpkg, parseOsRelease, parseRpm } from './linux.js';

/** Runs a command without a shell and resolves with its standard output; rejects when it cannot run or fails. */
export type Runner = (cmd: string, args: string[]) => Promise<string>;

export interface CollectOptions {
  platform?: NodeJS.Platform;
  run?: Runner;
  /** Reads a file's text, undefined when it does not exist. */
  readFile?: (path: string) => string | undefined;
  /** Whether a path exists (the rpm database check). */
  exists?: (path: string) => boolean;
  /** The asset id the facts carry (the server sets the agent's own id in any case); default: the host name. */
  id?: string;
  hostname?: string;
}

/** Largest output a collector command may print (a full package list is a few hundred KB). */
const MAX_OUTPUT_BYTES = 32 * 1024 * 1024;
const COMMAND_TIMEOUT_MS = 120_000;

export const defaultRunner: Runner = (cmd, args) =>
  new Promise((resolve, reject) => {
    execFile(
      cmd,
      args,
      { maxBuffer: MAX_OUTPUT_BYTES, timeout: COMMAND_TIMEOUT_MS, windowsHide: true, encoding: 'utf8' },
      (err, stdout) => (err ? reject(err) : resolve(stdout)),
    );
  });

function defaultReadFile(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8').slice(0, 1024 * 1024);
  } catch {
    return undefined;
  }
}

/** Where the Windows collector script lives beside this module (the build copies windows/*.ps1 into dist). */
export const WINDOWS_SCRIPT = fileURLToPath(new URL('./windows/collect-inventory.ps1', import.meta.url));

function safeId(text: string): string {
  const id = text.replace(/[^A-Za-z0-9._:-]+/g, '-').replace(/^[^A-Za-z0-9]+/, '');
  return id.slice(0, 128) || 'host';
}

/** This machine's facts, in canonical form (normalizeFacts). */
export async function collectInventory(opts: CollectOptions = {}): Promise<AssetFacts> {
  const platform = opts.platform ?? process.platform;
  const run = opts.run ?? defaultRunner;
  const host = opts.hostname ?? osHostname();
  const id = opts.id ?? safeId(host);
  if (platform === 'win32') {
    const out = await run('powershell.exe', [
      '-NoProfile',
      '-NonInteractive',
      '-ExecutionPolicy',
      'Bypass',
      '-File',
      WINDOWS_SCRIPT,
    ]);
    return normalizeFacts(parseWindowsInventory(out, id));
  }
  if (platform !== 'linux') throw new Error(`inventory: no collector for platform ${platform}`);
  return normalizeFacts(
    await collectLinux(run, opts.readFile ?? defaultReadFile, opts.exists ?? existsSync, id, host),
  );
}

async function collectLinux(
  run: Runner,
  readFile: (path: string) => string | undefined,
  exists: (path: string) => boolean,
  id: string,
  host: string,
): Promise<AssetFacts> {
  const release = parseOsRelease(readFile('/etc/os-release') ?? readFile('/usr/lib/os-release') ?? '');
  const products: ProductFact[] = [];
  const tags = ['linux'];
  // dpkg: absent on rpm distributions (the command fails to start), which is not an error.
  const dpkg = await run('dpkg-query', ['-W', '-f', DPKG_FORMAT]).catch(notInstalled);
  if (dpkg !== undefined) {
    products.push(...dpkgProducts(parseDpkg(dpkg), debNamespace(release)));
    tags.push('dpkg');
  }
  // rpm only where it has a database: querying without one would create an empty database.
  if (RPM_DATABASES.some(exists)) {
    const rpm = await run('rpm', ['-qa', '--qf', RPM_FORMAT]).catch(notInstalled);
    if (rpm !== undefined) {
      products.push(...rpmProducts(parseRpm(rpm), rpmNamespace(release)));
      tags.push('rpm');
    }
  }
  const kernel = kernelFact((await run('uname', ['-r']).catch(() => undefined)) ?? '');
  if (kernel) products.push(kernel);
  const os = osFact(release, readFile('/etc/debian_version'));
  return {
    id,
    name: host.slice(0, 255),
    ...(os ? { os } : {}),
    products,
    installed_kbs: [],
    endpoints: [],
    tags,
  };
}

/** A command that is not installed reads as "no such package manager"; any other failure is an error. */
function notInstalled(err: unknown): undefined {
  if ((err as NodeJS.ErrnoException)?.code === 'ENOENT') return undefined;
  throw err;
}
