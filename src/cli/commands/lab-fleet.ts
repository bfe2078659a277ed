/**
 * `bulwark lab fleet`: N simulated agents across M tenants on the real agent protocol, against a server (a test and
 * benchmark fixture). API credentials from BULWARK_TOKEN or --token-file; the tenants are created when missing.
 */
import type { KnowledgeBase } from '../../advisories/index.js';
import { terminalSafeJson } from '../../core/index.js';
import { openFilesLimit } from '../../lab/farm.js';
import { Fleet, type FleetStats, fleetEmulators, SOCKETS_PER_SOURCE } from '../../lab/fleet/index.js';
import { labIsVulnerable } from '../../lab/knowledge.js';
import { exchangeCatalogBuilds } from '../../scan/index.js';
import { type Io, UsageError } from '../io.js';
import { serverClient } from './server-access.js';

export interface LabFleetOptions {
  agents: number;
  tenants: number;
  /** Tenant ids are `<prefix>-<nnn>` (default `fleet`). */
  tenantPrefix?: string;
  server: string;
  tokenFile?: string;
  sources?: number;
  heartbeat?: number;
  exchangeShare?: number;
  exchangeEmulators?: number;
  /** Seconds to keep the fleet after it is online, then exit (default: until SIGINT/SIGTERM). */
  duration?: number;
  json?: boolean;
}

/** Descriptors the process needs besides the agents' sockets (database-free, a few files and the REST agents). */
const FD_MARGIN = 200;
/** How long the whole fleet may take to come online: at least 60 s, else 2 ms per agent beyond the first. */
const onlineTimeoutMs = (agents: number) => Math.max(60_000, agents * 2);

function summary(fleet: Fleet, s: FleetStats, enrollS: number, onlineS: number) {
  return {
    server: fleet.base.origin,
    tenants: fleet.tenantIds,
    agents: s.agents,
    enrolled: s.enrolled,
    online: s.online,
    kinds: s.kinds,
    enroll_s: Number(enrollS.toFixed(2)),
    online_s: Number(onlineS.toFixed(2)),
    connect_attempts: s.connectAttempts,
    busy_refusals: s.busy,
    heartbeat_p99_ms: s.heartbeats.p99 === null ? null : Number(s.heartbeats.p99.toFixed(2)),
    jobs: {
      received: s.jobs.received,
      results: s.jobs.results,
      acked: s.jobs.acked,
      refused: s.jobs.refused,
    },
    rss_per_agent_bytes: Math.round(s.rssBytes / Math.max(1, s.agents)),
    errors: s.errors,
  };
}

export async function runLabFleet(io: Io, kb: KnowledgeBase, opts: LabFleetOptions): Promise<number> {
  const access = serverClient(io, { url: opts.server, tokenFile: opts.tokenFile, flag: '--server' });
  if (opts.tenants > opts.agents) throw new UsageError('--tenants: at most as many tenants as --agents');
  const limit = openFilesLimit();
  if (limit !== undefined && opts.agents + FD_MARGIN > limit)
    throw new UsageError(
      `--agents ${opts.agents}: this process may open ${limit} files (ulimit -n) and needs one per agent plus ${FD_MARGIN}; raise the limit (ulimit -n, or prlimit --nofile as root with CAP_SYS_RESOURCE) or run several fleets with --tenants shared`,
    );
  const sources = opts.sources ?? Math.ceil(opts.agents / SOCKETS_PER_SOURCE);
  if (opts.agents > sources * 28_000)
    throw new UsageError(
      `--sources ${sources}: one loopback source address gives about 28,000 sockets; ${opts.agents} agents need at least ${Math.ceil(opts.agents / 28_000)}`,
    );
  const builds = exchangeCatalogBuilds(kb).filter((b) => /^15\.[012]\./.test(b.build));
  let fleet: Fleet;
  try {
    fleet = new Fleet({
      server: access.baseUrl,
      apiToken: access.token,
      agents: opts.agents,
      tenants: opts.tenants,
      tenantPrefix: opts.tenantPrefix,
      sources,
      heartbeatS: opts.heartbeat,
      exchangeShare: opts.exchangeShare,
      exchangeBuilds: builds,
      emulators: opts.exchangeEmulators
        ? fleetEmulators(opts.exchangeEmulators, labIsVulnerable(kb))
        : undefined,
    });
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  const say = (line: string) => io.err(`lab fleet: ${line}\n`);
  let enrollS: number;
  try {
    enrollS = await fleet.enroll();
  } catch (err) {
    await fleet.close();
    throw new UsageError(`--server: ${(err as Error).message}`);
  }
  say(`${opts.agents} agents enrolled across ${opts.tenants} tenants in ${enrollS.toFixed(1)} s`);
  const t0 = performance.now();
  fleet.connect();
  const allOnline = await fleet.waitOnline(opts.agents, onlineTimeoutMs(opts.agents));
  const onlineS = (performance.now() - t0) / 1000;
  const first = summary(fleet, fleet.stats(), enrollS, onlineS);
  if (!allOnline) {
    say(`only ${fleet.online} of ${opts.agents} agents online after ${onlineS.toFixed(0)} s`);
    io.out(`${terminalSafeJson(first, opts.json ? 0 : 1)}\n`);
    await fleet.close();
    return 1;
  }
  say(`${opts.agents} agents online in ${onlineS.toFixed(1)} s`);
  if (opts.json) io.out(`${terminalSafeJson({ ...first, agents_list: fleet.agents() }, 0)}\n`);
  else io.out(`${terminalSafeJson(first, 1)}\n`);

  const status = setInterval(() => {
    const s = fleet.stats();
    say(
      `online ${s.online}/${s.agents}, heartbeat p99 ${s.heartbeats.p99?.toFixed(1) ?? '-'} ms, jobs ${s.jobs.received} received / ${s.jobs.acked} answered, RSS ${(s.rssBytes / 2 ** 20).toFixed(0)} MiB`,
    );
  }, 30_000);
  status.unref();
  await new Promise<void>((resolve) => {
    const stop = () => {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      clearTimeout(timer);
      resolve();
    };
    const timer = opts.duration !== undefined ? setTimeout(stop, opts.duration * 1000) : undefined;
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
  });
  clearInterval(status);
  const last = summary(fleet, fleet.stats(), enrollS, onlineS);
  await fleet.close();
  say(`stopped: ${last.jobs.received} jobs received, ${last.jobs.acked} results acknowledged`);
  if (opts.json) io.out(`${terminalSafeJson({ final: last }, 0)}\n`);
  return 0;
}
