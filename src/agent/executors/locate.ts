/**
 * Where a host keeps the logs the hunt reads: the registered log types' host locations (hunt/logtypes), with
 * `%VARIABLES%` from the environment or, for ExchangeInstallPath, the Exchange setup registry key, and a `*` in
 * the last segment matched against folder names.
 */
import { readdirSync, statSync } from 'node:fs';
import { sep as pathSep } from 'node:path';
import { logTypes } from '../../hunt/logtypes/registry.js';
import type { HostDeps } from './context.js';

const EXCHANGE_SETUP_KEY = 'HKEY_LOCAL_MACHINE\\SOFTWARE\\Microsoft\\ExchangeServer\\v15\\Setup';

export interface LocatedLogs {
  /** Existing folders with logs of a registered type. */
  folders: string[];
  /** Every place looked at (patterns expanded where possible), for the reason when nothing is found. */
  looked: string[];
}

async function variable(name: string, deps: HostDeps): Promise<string | undefined> {
  const key = Object.keys(deps.env).find((k) => k.toLowerCase() === name.toLowerCase());
  if (key && deps.env[key]) return deps.env[key];
  if (name.toLowerCase() === 'exchangeinstallpath')
    return deps.readRegistry(EXCHANGE_SETUP_KEY, 'MsiInstallPath');
  return undefined;
}

function isDir(path: string): boolean {
  try {
    return statSync(path).isDirectory();
  } catch {
    return false;
  }
}

/** Folders matching a pattern whose last segment may hold `*`. */
function expandGlob(pattern: string, sep: string): string[] {
  const cut = pattern.lastIndexOf(sep);
  const last = pattern.slice(cut + 1);
  if (!last.includes('*')) return isDir(pattern) ? [pattern] : [];
  const parent = pattern.slice(0, cut);
  const re = new RegExp(
    `^${last
      .split('*')
      .map((p) => p.replace(/[.+?^${}()|[\]\\]/g, '\\$&'))
      .join('.*')}$`,
    'i',
  );
  let names: string[];
  try {
    names = readdirSync(parent);
  } catch {
    return [];
  }
  return names
    .filter((n) => re.test(n))
    .sort()
    .map((n) => `${parent}${sep}${n}`)
    .filter(isDir);
}

export async function locateLogs(platform: NodeJS.Platform, deps: HostDeps): Promise<LocatedLogs> {
  const key = platform === 'win32' ? 'win32' : 'linux';
  // Which list by the platform; which separator by the file system actually here.
  const sep = pathSep;
  const folders: string[] = [];
  const looked: string[] = [];
  for (const d of logTypes()) {
    for (const pattern of d.locations[key] ?? []) {
      let missing: string | undefined;
      let expanded = pattern;
      for (const m of pattern.matchAll(/%([^%]+)%/g)) {
        const v = await variable(m[1]!, deps);
        if (v === undefined) {
          missing = m[1];
          break;
        }
        expanded = expanded.replace(m[0], v);
      }
      if (missing) {
        looked.push(`${pattern} (%${missing}% not set)`);
        continue;
      }
      // A path written with `\` in the pack is used with this platform's separator (tests lay Windows out on Linux).
      const native = sep === '/' ? expanded.replace(/\\/g, '/') : expanded;
      looked.push(native);
      for (const f of expandGlob(native.replace(/[\\/]+$/, ''), sep))
        if (!folders.includes(f)) folders.push(f);
    }
  }
  return { folders, looked };
}
