/**
 * A farm of lab Exchange emulators (TEST AND DEMO FIXTURE): N servers with a spread of builds and states, each on
 * its own loopback address 127.0.x.y so the farm looks like N hosts, plus the ground truth a scanner must reproduce.
 *
 * Address scheme: server i (0-based) listens on 127.0.(1 + ⌊i/254⌋).(1 + i mod 254), on port 8443 (HTTPS) or 8080
 * (HTTP) unless `port` says otherwise; where that port is taken on an address the server falls back to an
 * ephemeral port (the ground truth carries the real URL). Linux routes all of 127.0.0.0/8 to the loopback
 * interface, so no set-up is needed there; other systems may only have 127.0.0.1 (use `sameAddress`).
 *
 * Limits: each server holds one listening socket (plus one per open client connection), so the farm needs about
 * `count` file descriptors more than the process already uses; `startFarm` refuses counts above the soft
 * open-files limit (Linux: /proc/self/limits) with a clear error rather than failing half-way. Hard cap 60,000.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { labCertificate } from './cert.js';
import {
  type ExchangeEmulator,
  LabConfigError,
  parseExchangeBuild,
  startExchangeEmulator,
} from './exchange.js';
import { LabLogWriter } from './logs.js';

export type FarmState = 'vulnerable' | 'patched' | 'shielded';
export const FARM_STATES: readonly FarmState[] = ['vulnerable', 'patched', 'shielded'];
export const MAX_FARM_SIZE = 60_000;

export interface FarmOptions {
  /** Default: enough servers to show every CU of the catalog in every state it can be in (one pass). */
  count?: number;
  /** Builds to spread over (each its own group); default the catalog's Exchange 2013/2016/2019 builds by CU. */
  builds?: string[];
  /** States to spread over; default all three. */
  states?: FarmState[];
  http?: boolean;
  /** Each server logs to `<logDir>/<server name>/` (its own emulated install). */
  logDir?: string;
  /** Bind every server to 127.0.0.1 on its own (ephemeral) port instead of one address per server. */
  sameAddress?: boolean;
  /** Port for every server; default 8443 (HTTPS) / 8080 (HTTP); 0 = ephemeral everywhere. */
  port?: number;
  isVulnerable: (build: string) => boolean;
  /** The catalog's known builds with their names (`Exchange Server 2016 CU19 Mar21SU`). */
  catalogBuilds: { build: string; name: string }[];
  tls?: { key: string; cert: string };
}

export interface FarmServer {
  url: string;
  host: string;
  port: number;
  build: string;
  /** Server name (X-FEServer, HttpProxy ServerHostName, log sub-folder). */
  name: string;
  /** Catalog name of the build, when known (`Exchange Server 2016 CU19 Mar21SU`). */
  release?: string;
  /** First three parts of the build: what the OWA resource paths reveal on 2013+. */
  cu: string;
  state: FarmState;
  /** The exact build is shown directly: X-OWA-Version header, export-tool manifest, or 2010 resource paths. */
  exposesExactBuild: boolean;
  /** The exact build can be found by brute-forcing /ecp/<candidate>/exporttool/… over the catalog builds of its CU. */
  exactBuildByBruteForce: boolean;
  hideVersionHeader: boolean;
  hideManifest: boolean;
  logDir?: string;
}

export interface Farm {
  servers: FarmServer[];
  close(): Promise<void>;
}

interface Slot {
  build: string;
  state: FarmState;
}

const MODERN = /\bExchange Server (2013|2016|2019)\b/;

/** The catalog's 2013/2016/2019 builds grouped by CU (the first three parts), in catalog order. */
export function groupCatalogByCu(catalogBuilds: { build: string; name: string }[]): string[][] {
  const groups = new Map<string, string[]>();
  for (const { build, name } of catalogBuilds) {
    if (!MODERN.test(name)) continue;
    const b = parseExchangeBuild(build);
    if (b.parts[0] !== 15) continue;
    const list = groups.get(b.cu) ?? [];
    if (!list.includes(b.text)) list.push(b.text);
    groups.set(b.cu, list);
  }
  return [...groups.values()];
}

/**
 * Indices 0..n-1 in an order whose every prefix is spread evenly over the range (bit-reversal / van der Corput:
 * first, middle, quarters, eighths, …), so the first few picks of a long list are not its first few items.
 */
export function spreadOrder(n: number): number[] {
  const out: number[] = [];
  const taken = new Set<number>();
  for (let i = 0; out.length < n; i++) {
    // The bit-reversed fraction of i: 0, 1/2, 1/4, 3/4, 1/8, 5/8, …
    let f = 0;
    let half = 0.5;
    for (let x = i; x > 0; x >>= 1, half /= 2) if (x & 1) f += half;
    const index = Math.floor(f * n);
    if (!taken.has(index)) {
      taken.add(index);
      out.push(index);
    }
    if (i > 4 * n + 64) break; // cannot happen (every index is reached by i < 2n); a bound all the same
  }
  for (let index = 0; out.length < n; index++) if (!taken.has(index)) out.push(index);
  return out;
}

/** Product line of a build: its first two parts (15.0 = 2013, 15.1 = 2016, 15.2 = 2019). */
const lineOf = (build: string): string => build.split('.').slice(0, 2).join('.');

interface PlacedGroup {
  builds: string[];
  /** Index of the group's product line (in order of first appearance). */
  line: number;
  /** Position of the group within its line's spread order. */
  rank: number;
}

/**
 * Groups (CUs) in farm order: round-robin over the product lines, and within a line spread over its CUs, so any
 * prefix mixes 2013, 2016 and 2019 and old and new CUs instead of starting with every 2013 CU.
 */
export function spreadGroups(groups: string[][]): PlacedGroup[] {
  const lines = new Map<string, string[][]>();
  for (const g of groups) {
    const key = lineOf(g[0] ?? '');
    lines.set(key, [...(lines.get(key) ?? []), g]);
  }
  const perLine = [...lines.values()].map((list) => spreadOrder(list.length).map((i) => list[i]!));
  const out: PlacedGroup[] = [];
  for (let rank = 0; out.length < groups.length; rank++) {
    perLine.forEach((list, line) => {
      const builds = list[rank];
      if (builds) out.push({ builds, line, rank });
    });
  }
  return out;
}

/**
 * The spread: groups in `spreadGroups` order; pass p = 0..k-1 gives a group the state states[(rank + line + p) mod
 * k] (skipped when no build of the group can be in that state), so a short farm already mixes product lines, CUs
 * and states, and k passes cover every (CU, state) pair. Later rounds repeat with other builds of each group.
 * Deterministic: the same inputs give the same farm.
 */
export function planFarm(
  groups: string[][],
  states: readonly FarmState[],
  isVulnerable: (build: string) => boolean,
  count: number | undefined,
): Slot[] {
  const vulnerable = new Map<string, boolean>();
  const achievable = (build: string, state: FarmState): boolean => {
    if (state === 'shielded') return true;
    let v = vulnerable.get(build);
    if (v === undefined) {
      v = isVulnerable(build);
      vulnerable.set(build, v);
    }
    return state === 'vulnerable' ? v : !v;
  };
  const k = states.length;
  const placed = spreadGroups(groups);
  const pass = (round: number): Slot[] => {
    const out: Slot[] = [];
    for (let p = 0; p < k; p++) {
      for (const [g, { builds, line, rank }] of placed.entries()) {
        const state = states[(rank + line + p) % k]!;
        const candidates = builds.filter((b) => achievable(b, state));
        if (candidates.length === 0) continue;
        out.push({ build: candidates[(round + g) % candidates.length]!, state });
      }
    }
    return out;
  };
  const first = pass(0);
  if (first.length === 0) throw new LabConfigError('farm: no build can be in any of the requested states');
  const target = count ?? first.length;
  const slots: Slot[] = [];
  for (let round = 0; slots.length < target; round++) {
    const list = round === 0 ? first : pass(round);
    for (const s of list) {
      if (slots.length >= target) break;
      slots.push(s);
    }
  }
  return slots;
}

/** Soft open-files limit of this process (Linux), or undefined where it cannot be read. */
export function openFilesLimit(): number | undefined {
  try {
    const text = readFileSync('/proc/self/limits', 'utf8');
    const m = /^Max open files\s+(\d+|unlimited)/m.exec(text);
    if (!m) return undefined;
    return m[1] === 'unlimited' ? Number.POSITIVE_INFINITY : Number(m[1]);
  } catch {
    return undefined;
  }
}

export function farmAddress(index: number): string {
  return `127.0.${1 + Math.floor(index / 254)}.${1 + (index % 254)}`;
}

export async function startFarm(opts: FarmOptions): Promise<Farm> {
  const states = opts.states ?? [...FARM_STATES];
  if (states.length === 0 || states.some((s) => !FARM_STATES.includes(s))) {
    throw new LabConfigError(`farm states must be some of ${FARM_STATES.join(', ')}`);
  }
  if (
    opts.count !== undefined &&
    (!Number.isInteger(opts.count) || opts.count < 1 || opts.count > MAX_FARM_SIZE)
  ) {
    throw new LabConfigError(`farm count ${JSON.stringify(opts.count)} is not 1..${MAX_FARM_SIZE}`);
  }
  const releaseOf = new Map<string, string>();
  for (const { build, name } of opts.catalogBuilds) {
    const parsed = parseExchangeBuildOrUndefined(build);
    if (parsed && !releaseOf.has(parsed)) releaseOf.set(parsed, name);
  }
  let groups: string[][];
  if (opts.builds) {
    if (opts.builds.length === 0) throw new LabConfigError('farm: builds is empty');
    groups = opts.builds.map((b) => [parseExchangeBuild(b).text]);
  } else {
    groups = groupCatalogByCu(opts.catalogBuilds);
    if (groups.length === 0)
      throw new LabConfigError('farm: the catalog has no Exchange 2013/2016/2019 builds');
  }
  const slots = planFarm(groups, states, opts.isVulnerable, opts.count);
  const limit = openFilesLimit();
  if (limit !== undefined && slots.length + 256 > limit) {
    throw new LabConfigError(
      `farm of ${slots.length} servers needs about ${slots.length + 256} open files but the limit is ${limit}; raise it (ulimit -n) or start fewer`,
    );
  }
  if (!opts.sameAddress && slots.length > 254 * 255) {
    throw new LabConfigError(`farm: at most ${254 * 255} servers fit in 127.0.1.1-127.0.255.254`);
  }

  const useHttp = opts.http === true;
  const tls = useHttp ? undefined : (opts.tls ?? (await labCertificate()));
  const preferredPort = opts.port ?? (useHttp ? 8080 : 8443);
  const writer = opts.logDir ? new LabLogWriter() : undefined;
  const catalogKnown = new Set(releaseOf.keys());
  const width = Math.max(4, String(slots.length).length);
  const emulators: ExchangeEmulator[] = [];
  const servers: FarmServer[] = [];

  const startOne = async (i: number): Promise<void> => {
    const slot = slots[i]!;
    const variant = i % 4; // 0: everything shown, 1: header hidden, 2: manifest hidden, 3: both hidden
    const hideVersionHeader = variant === 1 || variant === 3;
    const hideManifest = variant === 2 || variant === 3;
    const name = `EXLAB-${String(i + 1).padStart(width, '0')}`;
    const host = opts.sameAddress ? '127.0.0.1' : farmAddress(i);
    const logDir = opts.logDir ? join(opts.logDir, name) : undefined;
    const base = {
      build: slot.build,
      shielded: slot.state === 'shielded',
      http: useHttp,
      host,
      name,
      hideVersionHeader,
      hideManifest,
      logDir,
      isVulnerable: opts.isVulnerable,
      tls,
      logWriter: writer,
    };
    let emulator: ExchangeEmulator;
    try {
      emulator = await startExchangeEmulator({ ...base, port: opts.sameAddress ? 0 : preferredPort });
    } catch (error) {
      if (
        (error as NodeJS.ErrnoException).code !== 'EADDRINUSE' &&
        (error as NodeJS.ErrnoException).code !== 'EACCES'
      ) {
        throw error;
      }
      emulator = await startExchangeEmulator({ ...base, port: 0 });
    }
    emulators.push(emulator);
    const b = parseExchangeBuild(slot.build);
    const is2010 = b.parts[0] === 14;
    servers[i] = {
      url: emulator.url,
      host: emulator.host,
      port: emulator.port,
      build: emulator.build,
      name,
      release: releaseOf.get(emulator.build),
      cu: b.cu,
      state: slot.state,
      exposesExactBuild: is2010 || !hideVersionHeader || !hideManifest,
      exactBuildByBruteForce: !is2010 && catalogKnown.has(emulator.build),
      hideVersionHeader,
      hideManifest,
      ...(logDir ? { logDir } : {}),
    };
  };

  const closeAll = async (): Promise<void> => {
    await Promise.all(emulators.map((e) => e.close()));
    await writer?.close();
  };

  try {
    const batch = 128;
    for (let start = 0; start < slots.length; start += batch) {
      const end = Math.min(slots.length, start + batch);
      const jobs: Promise<void>[] = [];
      for (let i = start; i < end; i++) jobs.push(startOne(i));
      await Promise.all(jobs);
    }
  } catch (error) {
    await closeAll().catch(() => undefined);
    throw error;
  }

  let closing: Promise<void> | undefined;
  return {
    servers,
    close: () => {
      closing ??= closeAll();
      return closing;
    },
  };
}

function parseExchangeBuildOrUndefined(build: string): string | undefined {
  try {
    return parseExchangeBuild(build).text;
  } catch {
    return undefined;
  }
}
