// Agent fleet at MSP scale: 10,000 and 100,000 simulated agents (src/lab/fleet, the real agent protocol: real
// keys, envelopes and WebSockets from many loopback source addresses) enrolled and connected to the real server
// from dist/, on embedded SQLite and on PostgreSQL, heartbeats every 60 s. Measured:
//   - connect rate: from the first connection attempt until every agent is online (the server's welcome);
//   - server CPU and RSS, from /proc of the server processes, while the fleet is held (HOLD_S, two heartbeats);
//   - heartbeat p99: agent-side, heartbeat sent → heartbeat_ack received, over the hold;
//   - fan-out: one hunt job to every Exchange agent (POST /api/v1/agent-jobs/fan-out, product
//     microsoft:exchange_server), from the request until the simulator holds the last result_ack;
//   - reconnect storm: every agent's channel dropped at once; recovery is until every agent is online again at
//     the server (the agents table's `online` column, written by the server's presence batches, counted directly
//     in the database) and at the simulator, with no server process exiting.
// Servers and simulators are child processes; this process only drives them and reads /proc and the database.
//
// Open files: every agent holds one socket in a simulator process and one in a server process. A process may hold
// at most its hard `ulimit -n` (read from /proc/self/limits; raising the hard limit needs CAP_SYS_RESOURCE, e.g.
// `prlimit --nofile=262144:262144 -- npm run bench -- fleet` as root on a host). When one process cannot hold the
// fleet, the simulator is split over several processes, and on PostgreSQL the server runs as several replicas of
// one installation (the channel's replicas share the database; agents are spread over them as a load balancer
// would); SQLite is one server process, so a fleet beyond one process's limit is skipped there with the reason.
//
// Options: `npm run bench -- fleet --agents 10000 --db sqlite` (also BULWARK_BENCH_FLEET_AGENTS=10000,100000 and
// BULWARK_BENCH_FLEET_DB=sqlite,postgres); BULWARK_BENCH_FLEET_HOLD_S (default 120), BULWARK_BENCH_FLEET_EXCHANGE
// (share of Exchange agents, default 1: the fan-out reaches the whole fleet), BULWARK_BENCH_FLEET_RATE (the
// server's agent_connect_rate, default the server's 1000 per process).
import { fork } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { adminToken, importAndWait, sleep, startChild } from './server.mjs';

const SELF = fileURLToPath(import.meta.url);
const SIM_FLAG = '--bulwark-bench-fleet-sim';
const PACK = new URL('../../src/advisories/packs/proxylogon-2021-03.yaml', import.meta.url);
const ADVISORY = 'proxylogon-2021-03';
const PG_URL =
  process.env.BULWARK_BENCH_DATABASE_URL ?? 'postgres://bulwark:bulwark@127.0.0.1:5432/bulwark_test';
const HEARTBEAT_S = 60;
const HOLD_S = Number(process.env.BULWARK_BENCH_FLEET_HOLD_S ?? 2 * HEARTBEAT_S);
const EXCHANGE_SHARE = Number(process.env.BULWARK_BENCH_FLEET_EXCHANGE ?? 1);
const CONNECT_RATE = process.env.BULWARK_BENCH_FLEET_RATE
  ? Number(process.env.BULWARK_BENCH_FLEET_RATE)
  : undefined;
/** Agents per tenant (a tenant per 100 agents: 1,000 tenants at 100,000). */
const AGENTS_PER_TENANT = 100;
/** Descriptors a process keeps for itself (database, listening socket, files) besides the agents' sockets. */
const FD_MARGIN = 1000;
/** Agents one process holds; default the open-files hard limit less FD_MARGIN (set lower to try the split here). */
const PER_PROCESS = process.env.BULWARK_BENCH_FLEET_PER_PROCESS
  ? Number(process.env.BULWARK_BENCH_FLEET_PER_PROCESS)
  : undefined;
/** Every wait ends: the slowest phase may take this long per agent, at least MIN_WAIT_S. */
const WAIT_MS_PER_AGENT = 15;
const MIN_WAIT_S = 300;
const POLL_MS = 250;
const FANOUT_TARGET_S = 30;
const STORM_TARGET_S = 120;
const RSS_TARGET_BYTES = 4 * 2 ** 30;

function option(name, env, fallback) {
  const args = process.argv.slice(2);
  for (let i = 0; i < args.length; i++) {
    if (args[i] === `--${name}` && args[i + 1]) return args[i + 1];
    if (args[i].startsWith(`--${name}=`)) return args[i].slice(name.length + 3);
  }
  return process.env[env] ?? fallback;
}
const SIZES = option('agents', 'BULWARK_BENCH_FLEET_AGENTS', '10000,100000').split(',').map(Number);
const DIALECTS = option('db', 'BULWARK_BENCH_FLEET_DB', 'sqlite,postgres').split(',');

// ---------------------------------------------------------------------------------------------------------------
// The simulator child: one Fleet from dist/, driven over IPC.

async function simChild() {
  const { Fleet } = await import('../../dist/lab/fleet/index.js');
  const cfg = JSON.parse(process.env.BULWARK_BENCH_FLEET_CONFIG);
  const fleet = new Fleet(cfg);
  process.on('message', async (msg) => {
    const reply = (extra = {}) => process.send({ id: msg.id, ...extra });
    try {
      if (msg.type === 'enroll') reply({ seconds: await fleet.enroll() });
      else if (msg.type === 'connect') {
        fleet.connect();
        reply();
      } else if (msg.type === 'stats') reply({ stats: fleet.stats({ resetLatency: msg.resetLatency }) });
      else if (msg.type === 'drop') reply({ dropped: fleet.dropAll() });
      else if (msg.type === 'reset-jobs') {
        fleet.resetJobs();
        reply();
      } else if (msg.type === 'stop') {
        await fleet.close();
        process.send({ id: msg.id }, () => process.exit(0));
      }
    } catch (err) {
      reply({ error: err.stack ?? String(err) });
    }
  });
  process.send({ type: 'ready' });
}

if (process.argv.includes(SIM_FLAG)) await simChild();

function startSim(config) {
  const child = fork(SELF, [SIM_FLAG], {
    env: { ...process.env, BULWARK_BENCH_FLEET_CONFIG: JSON.stringify(config) },
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  let next = 0;
  const waiting = new Map();
  return new Promise((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`simulator child exited with ${code}`)));
    child.on('message', (msg) => {
      if (msg.type === 'ready') {
        resolve({
          pid: child.pid,
          call: (type, extra = {}) =>
            new Promise((res, rej) => {
              const id = ++next;
              waiting.set(id, (m) => (m.error ? rej(new Error(m.error)) : res(m)));
              child.send({ id, type, ...extra });
            }),
          stop: () =>
            new Promise((res) => {
              child.removeAllListeners('exit');
              const t = setTimeout(() => child.kill('SIGKILL'), 15_000);
              child.once('exit', () => {
                clearTimeout(t);
                res();
              });
              const id = ++next;
              waiting.set(id, () => {});
              child.send({ id, type: 'stop' });
            }),
        });
      } else if (waiting.has(msg.id)) {
        waiting.get(msg.id)(msg);
        waiting.delete(msg.id);
      }
    });
  });
}

// ---------------------------------------------------------------------------------------------------------------
// /proc and the database

/** The hard limit of open files of this process (children inherit it), from /proc/self/limits. */
function openFilesHard() {
  const m = /^Max open files\s+(\d+|unlimited)\s+(\d+|unlimited)/m.exec(
    readFileSync('/proc/self/limits', 'utf8'),
  );
  if (!m) return 1024;
  return m[1] === 'unlimited' ? 1_048_576 : Number(m[1]);
}

/** CPU seconds (user + system) and RSS bytes of the processes `pids`, summed; a pid that ended counts nothing. */
function procUsage(pids) {
  let cpu = 0;
  let rss = 0;
  let alive = 0;
  for (const pid of pids) {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      cpu += (Number(f[11]) + Number(f[12])) / 100;
      const status = readFileSync(`/proc/${pid}/status`, 'utf8');
      rss += Number(/^VmRSS:\s+(\d+) kB/m.exec(status)?.[1] ?? 0) * 1024;
      alive++;
    } catch {
      // ended
    }
  }
  return { cpu, rss, alive };
}

/** Samples the servers' CPU and RSS every second until stopped; answers mean CPU (cores) and peak RSS. */
function sampler(pids) {
  const first = procUsage(pids);
  const t0 = performance.now();
  let peak = first.rss;
  const timer = setInterval(() => {
    peak = Math.max(peak, procUsage(pids).rss);
  }, 1000);
  return () => {
    clearInterval(timer);
    const last = procUsage(pids);
    peak = Math.max(peak, last.rss);
    const seconds = (performance.now() - t0) / 1000;
    return {
      cores: (last.cpu - first.cpu) / seconds,
      cpuSeconds: last.cpu - first.cpu,
      rssPeak: peak,
      rss: last.rss,
    };
  };
}

/** Counts agents the server has marked online, straight from its database. */
async function onlineCounter(dialect, overrides) {
  if (dialect === 'postgres') {
    const { default: pg } = await import('pg');
    const c = new pg.Client({ connectionString: overrides.database_url });
    await c.connect();
    return {
      count: async () =>
        Number((await c.query('SELECT count(*) AS n FROM agents WHERE online = 1')).rows[0].n),
      total: async () => Number((await c.query('SELECT count(*) AS n FROM agents')).rows[0].n),
      close: () => c.end(),
    };
  }
  const { default: Sqlite } = await import('better-sqlite3');
  const db = new Sqlite(join(overrides.data_dir, 'bulwark.sqlite'), { readonly: true, fileMustExist: true });
  db.pragma('busy_timeout = 5000');
  const online = db.prepare('SELECT count(*) AS n FROM agents WHERE online = 1');
  const all = db.prepare('SELECT count(*) AS n FROM agents');
  return { count: async () => online.get().n, total: async () => all.get().n, close: async () => db.close() };
}

// ---------------------------------------------------------------------------------------------------------------
// One run: a database, R server processes, S simulator processes.

async function withServers(dialect, label, replicas, fn) {
  const dirs = Array.from({ length: replicas }, () => mkdtempSync(join(tmpdir(), 'bulwark-bench-fleet-')));
  const base = {
    host: '127.0.0.1',
    port: 0,
    log_level: 'warn',
    builtin_advisories: false,
    agent_heartbeat_s: HEARTBEAT_S,
    master_key_file: join(dirs[0], 'master.key'),
    ...(CONNECT_RATE ? { agent_connect_rate: CONNECT_RATE } : {}),
  };
  let pgAdmin;
  let dbName;
  try {
    if (dialect === 'postgres') {
      const { default: pg } = await import('pg');
      dbName = `bulwark_bench_fleet_${process.pid}_${label}`;
      pgAdmin = new pg.Client({ connectionString: PG_URL });
      await pgAdmin.connect();
      await pgAdmin.query(`CREATE DATABASE ${dbName}`);
      const u = new URL(PG_URL);
      u.pathname = `/${dbName}`;
      base.database_url = u.toString();
    }
    const servers = [];
    try {
      // The first replica migrates and is set up (a replica that starts before the setup would replace the setup
      // token); the others start after it.
      servers.push(await startChild({ ...base, data_dir: dirs[0] }));
      const { api } = await adminToken(servers[0].url, servers[0].setupToken);
      for (let r = 1; r < replicas; r++) servers.push(await startChild({ ...base, data_dir: dirs[r] }));
      return await fn(servers, { ...base, data_dir: dirs[0] }, api);
    } finally {
      for (const s of servers) await s.stop();
    }
  } finally {
    if (pgAdmin) {
      await pgAdmin.query(`DROP DATABASE IF EXISTS ${dbName} WITH (FORCE)`).catch(() => {});
      await pgAdmin.end();
    }
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  }
}

/** Polls `probe` every POLL_MS until it answers true or `ms` pass; answers the milliseconds it took, or null. */
async function until(probe, ms) {
  const t0 = performance.now();
  while (performance.now() - t0 < ms) {
    if (await probe()) return performance.now() - t0;
    await sleep(POLL_MS);
  }
  return null;
}

async function runOne(dialect, agents, builds, log) {
  const hard = openFilesHard();
  const perProcess = PER_PROCESS ?? hard - FD_MARGIN;
  const replicas = Math.ceil(agents / perProcess);
  const out = { dialect, agents, replicas, openFiles: hard, problems: [] };
  if (replicas > 1 && dialect === 'sqlite') {
    out.skipped = `one SQLite server process holds at most ${perProcess} channels here (open files hard limit ${hard})`;
    log(`skipped: ${out.skipped}`);
    return out;
  }
  const shards = Math.ceil(agents / perProcess);
  const tenants = Math.max(1, Math.round(agents / AGENTS_PER_TENANT));
  const waitMs = Math.max(MIN_WAIT_S * 1000, agents * WAIT_MS_PER_AGENT);
  return withServers(dialect, `${agents}`, replicas, async (servers, overrides, api) => {
    const pids = servers.map((s) => s.pid);
    await importAndWait(api, readFileSync(PACK, 'utf8'));
    // Tenants and one enrolment token each, through the API, shared by the simulator processes.
    // Named as the simulator names them: fleet-001 … (at least three digits).
    const width = Math.max(3, String(tenants).length);
    const tenantIds = Array.from(
      { length: tenants },
      (_, t) => `fleet-${String(t + 1).padStart(width, '0')}`,
    );
    const tokens = {};
    const perTenant = Math.ceil(agents / tenants);
    for (const id of tenantIds) {
      await api('POST', '/api/v1/tenants', { id, name: `Fleet customer ${id}` });
      const made = await api('POST', `/api/v1/tenants/${id}/agent-tokens`, {
        uses: Math.min(100_000, perTenant + 1),
        ttl_s: 86_400,
      });
      tokens[id] = made.json.token;
    }
    const sims = [];
    const per = Math.ceil(agents / shards);
    const sourcesPerShard = Math.ceil(per / 20_000);
    try {
      for (let i = 0; i < shards; i++) {
        const count = Math.min(per, agents - i * per);
        sims.push(
          await startSim({
            server: servers[i % replicas].url,
            agents: count,
            tenants,
            tenantPrefix: 'fleet',
            enrollTokens: tokens,
            firstIndex: i * per,
            sources: sourcesPerShard,
            sourceBase: 1 + i * sourcesPerShard,
            exchangeShare: EXCHANGE_SHARE,
            exchangeBuilds: builds,
            seed: 42,
          }),
        );
      }
      const all = async (type, extra) => Promise.all(sims.map((s) => s.call(type, extra)));
      const stats = async (extra) => (await all('stats', extra)).map((m) => m.stats);
      const sum = (xs, f) => xs.reduce((a, x) => a + f(x), 0);
      const counter = await onlineCounter(dialect, overrides);
      try {
        // Enrolment (not a target; reported for the record).
        const e0 = performance.now();
        const enrollUsage = sampler(pids);
        await all('enroll');
        out.enrollS = (performance.now() - e0) / 1000;
        out.enrollCpuS = enrollUsage().cpuSeconds;
        out.enrolled = await counter.total();
        log(
          `enrolled ${out.enrolled} agents in ${out.enrollS.toFixed(1)} s (${Math.round(agents / out.enrollS)}/s), server CPU ${((out.enrollCpuS * 1000) / agents).toFixed(1)} ms per enrolment`,
        );
        if (out.enrolled !== agents) out.problems.push(`${out.enrolled} agents enrolled of ${agents}`);

        // Connect: first attempt → every agent welcomed, and the server's presence rows say so.
        let usage = sampler(pids);
        const c0 = performance.now();
        await all('connect');
        const simOnline = await until(async () => sum(await stats(), (s) => s.online) === agents, waitMs);
        const dbOnline = await until(async () => (await counter.count()) === agents, waitMs);
        out.connect = { ...usage(), seconds: (performance.now() - c0) / 1000, simOnline, dbOnline };
        out.connect.rate = agents / out.connect.seconds;
        const afterConnect = await stats();
        out.busy = sum(afterConnect, (s) => s.busy);
        out.exchangeAgents = sum(afterConnect, (s) => s.kinds.exchange ?? 0);
        log(
          `connected in ${out.connect.seconds.toFixed(1)} s (${Math.round(out.connect.rate)}/s, ${out.busy} refused busy), server ${out.connect.cores.toFixed(2)} cores, RSS ${(out.connect.rssPeak / 2 ** 20).toFixed(0)} MiB, CPU ${((out.connect.cpuSeconds * 1000) / agents).toFixed(1)} ms per connection`,
        );
        if (simOnline === null || dbOnline === null) out.problems.push('not every agent came online');

        // Hold: two heartbeat intervals; heartbeat latency counted from here.
        await stats({ resetLatency: true });
        usage = sampler(pids);
        await sleep(HOLD_S * 1000);
        out.hold = usage();
        const held = await stats();
        out.hold.online = sum(held, (s) => s.online);
        out.hold.dbOnline = await counter.count();
        out.heartbeat = {
          n: sum(held, (s) => s.heartbeats.acked),
          p99: Math.max(...held.map((s) => s.heartbeats.p99 ?? 0)),
          max: Math.max(...held.map((s) => s.heartbeats.max ?? 0)),
        };
        out.simRss = sum(held, (s) => s.rssBytes);
        log(
          `held ${HOLD_S} s: ${out.hold.online} online (server ${out.hold.dbOnline}), server ${out.hold.cores.toFixed(2)} cores, RSS ${(out.hold.rssPeak / 2 ** 20).toFixed(0)} MiB; heartbeat p99 ${out.heartbeat.p99.toFixed(1)} ms over ${out.heartbeat.n}; simulator ${(out.simRss / agents).toFixed(0)} B/agent`,
        );
        if (out.hold.online !== agents)
          out.problems.push(`${agents - out.hold.online} agents dropped while held`);

        // Fan-out: one hunt job to every Exchange agent.
        await all('reset-jobs');
        usage = sampler(pids);
        const f0 = Date.now();
        await api('POST', '/api/v1/agent-jobs/fan-out', {
          kind: 'hunt',
          params: { advisory_id: ADVISORY },
          filter: { product: 'microsoft:exchange_server' },
          expires_in_s: 3600,
        });
        const fanned = await until(
          async () => sum(await stats(), (s) => s.jobs.acked) >= out.exchangeAgents,
          waitMs,
        );
        const jobs = await stats();
        out.fanout = {
          ...usage(),
          jobs: sum(jobs, (s) => s.jobs.received),
          acked: sum(jobs, (s) => s.jobs.acked),
          refused: sum(jobs, (s) => s.jobs.refused),
          firstJobS:
            (Math.min(...jobs.map((s) => s.jobs.firstReceivedAt ?? Number.POSITIVE_INFINITY)) - f0) / 1000,
          lastJobS: (Math.max(...jobs.map((s) => s.jobs.lastReceivedAt ?? 0)) - f0) / 1000,
          seconds: (Math.max(...jobs.map((s) => s.jobs.lastAckAt ?? 0)) - f0) / 1000,
        };
        log(
          `fan-out to ${out.exchangeAgents} Exchange agents: first job ${out.fanout.firstJobS.toFixed(2)} s, last job ${out.fanout.lastJobS.toFixed(2)} s, last result acknowledged ${out.fanout.seconds.toFixed(2)} s; ${out.fanout.acked} results, ${out.fanout.refused} refused; server CPU ${((out.fanout.cpuSeconds * 1000) / Math.max(1, out.fanout.acked)).toFixed(1)} ms per job`,
        );
        if (fanned === null)
          out.problems.push(`fan-out: ${out.fanout.acked} of ${out.exchangeAgents} results`);
        if (out.fanout.refused) out.problems.push(`fan-out: ${out.fanout.refused} jobs refused by agents`);

        // Reconnect storm: every channel dropped at once.
        usage = sampler(pids);
        const s0 = performance.now();
        const dropped = sum(await all('drop'), (m) => m.dropped);
        const recovered = await until(
          async () => sum(await stats(), (s) => s.online) === agents && (await counter.count()) === agents,
          waitMs,
        );
        out.storm = {
          ...usage(),
          dropped,
          seconds: recovered === null ? null : (performance.now() - s0) / 1000,
        };
        const after = await stats();
        out.storm.busy = sum(after, (s) => s.busy) - out.busy;
        out.storm.alive = procUsage(pids).alive;
        log(
          `storm: ${dropped} dropped, recovered in ${out.storm.seconds?.toFixed(1) ?? 'NOT'} s (${out.storm.busy} refused busy), server ${out.storm.cores.toFixed(2)} cores, RSS ${(out.storm.rssPeak / 2 ** 20).toFixed(0)} MiB, ${out.storm.alive}/${replicas} server processes alive`,
        );
        if (recovered === null) out.problems.push('the storm did not recover');
        if (out.storm.alive !== replicas) out.problems.push('a server process exited');
        out.serverRssPeak = Math.max(
          out.connect.rssPeak,
          out.hold.rssPeak,
          out.fanout.rssPeak,
          out.storm.rssPeak,
        );
      } finally {
        await counter.close();
      }
    } finally {
      for (const s of sims) await s.stop();
    }
    return out;
  });
}

// ---------------------------------------------------------------------------------------------------------------

const mib = (b) => `${(b / 2 ** 20).toFixed(0)} MiB`;
const s1 = (x) => (x === null || x === undefined ? '—' : `${x.toFixed(1)} s`);

function table(results) {
  const lines = [
    '| Database | Agents | Server processes | Connect (rate) | Server CPU held | Server RSS peak | Heartbeat p99 | Fan-out (Exchange agents) | Storm recovery | Problems |',
    '|---|---:|---:|---|---:|---:|---:|---|---|---|',
  ];
  for (const r of results) {
    if (r.skipped) {
      lines.push(
        `| ${r.dialect} | ${r.agents.toLocaleString('en')} | — | skipped: ${r.skipped} | | | | | | |`,
      );
      continue;
    }
    lines.push(
      `| ${r.dialect} | ${r.agents.toLocaleString('en')} | ${r.replicas} | ${s1(r.connect.seconds)} (${Math.round(r.connect.rate)}/s) | ${(r.hold.cores * 100).toFixed(0)} % of a core | ${mib(r.serverRssPeak)} | ${r.heartbeat.p99.toFixed(1)} ms | ${s1(r.fanout.seconds)} (${r.exchangeAgents.toLocaleString('en')}) | ${s1(r.storm.seconds)} | ${r.problems.length ? r.problems.join('; ') : 'none'} |`,
    );
  }
  return lines.join('\n');
}

function verdicts(results) {
  const pg100k = results.find((r) => r.dialect === 'postgres' && r.agents >= 100_000 && !r.skipped);
  if (!pg100k) return 'Targets (100,000 agents on PostgreSQL): not measured in this run.';
  const ok = (b) => (b ? 'met' : 'NOT met');
  return [
    `Targets at ${pg100k.agents.toLocaleString('en')} agents on PostgreSQL:`,
    `held with server RSS < 4 GB: ${ok(pg100k.hold.online === pg100k.agents && pg100k.serverRssPeak < RSS_TARGET_BYTES)} (${mib(pg100k.serverRssPeak)} over ${pg100k.replicas} process(es));`,
    `fan-out < ${FANOUT_TARGET_S} s: ${ok(pg100k.fanout.seconds < FANOUT_TARGET_S && pg100k.fanout.acked >= pg100k.exchangeAgents)} (${s1(pg100k.fanout.seconds)});`,
    `storm recovered < ${STORM_TARGET_S} s without a crash: ${ok(pg100k.storm.seconds !== null && pg100k.storm.seconds < STORM_TARGET_S && pg100k.storm.alive === pg100k.replicas)} (${s1(pg100k.storm.seconds)}).`,
  ].join(' ');
}

export async function run() {
  const { loadKnowledgeBase } = await import('../../dist/advisories/index.js');
  const { exchangeCatalogBuilds } = await import('../../dist/scan/index.js');
  const builds = exchangeCatalogBuilds(loadKnowledgeBase({})).filter((b) => /^15\.[012]\./.test(b.build));
  const results = [];
  for (const agents of SIZES)
    for (const dialect of DIALECTS) {
      const log = (m) => console.error(`[fleet ${dialect} ${agents}] ${m}`);
      results.push(await runOne(dialect, agents, builds, log));
    }
  const hard = openFilesHard();
  const load = loadavg()
    .map((x) => x.toFixed(1))
    .join(' / ');
  return `## Agent fleet

\`npm run bench -- fleet\` (options \`--agents 10000,100000 --db sqlite,postgres\`): simulated agents on the real
protocol (\`bulwark lab fleet\`'s simulator) against the server from dist/, both in child processes on this machine;
heartbeats every ${HEARTBEAT_S} s, ${Math.round(EXCHANGE_SHARE * 100)} % of the agents Exchange servers, a tenant per
${AGENTS_PER_TENANT} agents. Connect: first attempt until every agent is online at the simulator and in the server's
\`agents\` table (the server admits ${CONNECT_RATE ?? 1000} new channels a second per process). Server CPU and RSS
from /proc of the server processes (CPU while the fleet is held ${HOLD_S} s; RSS the peak of all phases). Heartbeat
p99: agent-side, sent → acknowledged, over the hold. Fan-out: one hunt job to every Exchange agent through
\`POST /api/v1/agent-jobs/fan-out\`, from the request to the last result acknowledged. Storm: every channel dropped
at once; recovery until every agent is online again at the server. This process may open ${hard} files (hard limit):
a fleet beyond one process's limit runs as several simulator processes and, on PostgreSQL, several server replicas
of one installation; SQLite (one process) is skipped then.

${table(results)}

${verdicts(results)}

Anchor: Velociraptor documents about 10,000 endpoints on a 2-vCPU server. Load average (1 / 5 / 15 min) at the
end of the run: ${load}.`;
}
