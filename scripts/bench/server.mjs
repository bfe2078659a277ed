// Control-plane server at MSP scale: 1,000 tenants and 100,000 assets registered through the HTTP API, the
// ProxyLogon advisory imported, then the time to know, exposure-query latency and fact-update throughput — on
// embedded SQLite and on PostgreSQL — and, on PostgreSQL, how fast a write on one replica reaches an event-stream
// client of another. The server is the real one from dist/ (startServer), in a child process of its own; this
// process is only the HTTP client, so client CPU does not count as server time. Every figure is checked against
// verdicts computed independently: by construction of the fleet (which builds carry the March 2021 security
// update) and by the core exposure engine run here on the same facts.
//
// The time to know runs from the import request to the moment the client knows the findings are written: the
// answer of a synchronous import (200), or the import job seen finished by polling GET /api/v1/jobs/:id (202).
// So the script measures servers before and after the import became a job alike; BULWARK_BENCH_JSON=<file>
// writes the figures as JSON, and scripts/bench/server-compare.mjs puts two such files side by side. The console
// benchmark (scripts/bench/console.mjs) reuses the exported fleet, server child and HTTP client helpers.
import { execSync, fork } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { prng } from './prng.mjs';

const CHILD_FLAG = '--bulwark-bench-server-child';
const SELF = fileURLToPath(import.meta.url);
const PACK = new URL('../../src/advisories/packs/proxylogon-2021-03.yaml', import.meta.url);
const ADVISORY = 'proxylogon-2021-03';
const PG_URL =
  process.env.BULWARK_BENCH_DATABASE_URL ?? 'postgres://bulwark:bulwark@127.0.0.1:5432/bulwark_test';
/** Write CPU profiles of the server (import request, single updates) here, e.g. /tmp/bulwark-prof. */
const PROFILE_DIR = process.env.BULWARK_BENCH_SERVER_PROFILE;
const DIALECTS = (process.env.BULWARK_BENCH_SERVER_DB ?? 'sqlite,postgres').split(',');

const TENANTS = 1000;
const ASSETS = Number(process.env.BULWARK_BENCH_SERVER_ASSETS ?? 100_000);
const MIXED_EXCHANGE_SHARE = 0.2;
const PUSH = 1000;
const REGISTER_CLIENTS = 4;
const QUERIES = 2000;
const QUERY_CLIENTS = 8;
const PUT_CLIENTS = 8;
const PUT_MAX = 3000;
const PUT_SECONDS = 15;
const BATCH_ASSETS = 20_000;
const BATCH_CLIENTS = 2;
const TTK_TARGET_S = 10;
const P99_TARGET_MS = 50;
/** The import job is polled this often; its end is known to within this (plus one request). */
const JOB_POLL_MS = 20;
const JOB_TIMEOUT_S = 600;
/** Event delivery between replicas: single-asset writes on A, one at a time, this far apart; an SSE client on B. */
const EVENT_WRITES = Number(process.env.BULWARK_BENCH_SERVER_EVENTS ?? 500);
const EVENT_WARMUP = 20;
const EVENT_GAP_MS = 5;
const EVENT_WAIT_S = 10;
const EVENT_P99_TARGET_MS = 100;
export const ADMIN = { email: 'bench@msp.example', name: 'Bench', password: 'benchmark password 42' };

// ---------------------------------------------------------------------------------------------------------------
// The server child: startServer from dist/ with the configuration it is given, driven over IPC.

async function serveChild() {
  const { startServer, loadServerConfig } = await import('../../dist/server/index.js');
  const inspector = await import('node:inspector');
  const overrides = JSON.parse(process.env.BULWARK_BENCH_SERVER_CONFIG);
  const sqlTimes = PROFILE_DIR ? await timeStatements() : undefined;
  const server = await startServer(loadServerConfig({ overrides }), { print: () => {} });
  let session;
  process.on('message', async (msg) => {
    const reply = (extra = {}) => process.send({ id: msg.id, ...extra });
    if (msg.type === 'cpu') {
      const u = process.cpuUsage();
      reply({ cpu: (u.user + u.system) / 1e6 });
    } else if (msg.type === 'profile-start') {
      sqlTimes?.clear();
      session = new inspector.Session();
      session.connect();
      session.post('Profiler.enable', () =>
        session.post('Profiler.setSamplingInterval', { interval: 500 }, () =>
          session.post('Profiler.start', () => reply()),
        ),
      );
    } else if (msg.type === 'profile-stop') {
      session.post('Profiler.stop', (err, { profile }) => {
        writeFileSync(msg.file, JSON.stringify(profile));
        const rows = [...(sqlTimes ?? [])].sort((a, b) => b[1].ms - a[1].ms);
        writeFileSync(
          msg.file.replace(/\.cpuprofile$/, '.sql.txt'),
          rows
            .map(([k, v]) => `${v.ms.toFixed(0).padStart(8)} ms ${String(v.n).padStart(7)}x  ${k}`)
            .join('\n'),
        );
        session.disconnect();
        reply({ err: err ? String(err) : undefined });
      });
    } else if (msg.type === 'stop') {
      await server.close();
      process.send({ id: msg.id }, () => process.exit(0));
    }
  });
  process.send({ type: 'ready', url: server.url, setupToken: server.setupToken });
}

/**
 * Profiling only: wall time per kind of SQL statement (first words and table), on either driver. PostgreSQL's own
 * work is invisible to the server's CPU profile, so this shows where the waiting goes.
 */
async function timeStatements() {
  const times = new Map();
  const kind = (sql) =>
    sql
      .replace(/\s+/g, ' ')
      .replace(/\(\$\d+[^)]*\)|\(\?[^)]*\)/g, '(…)')
      .replace(/(, \(…\))+/g, ', …')
      .slice(0, 140);
  const kinds = new Map();
  const add = (sql, t0) => {
    let k = kinds.get(sql);
    if (k === undefined) {
      k = kind(sql);
      if (kinds.size < 10_000) kinds.set(sql, k);
    }
    const e = times.get(k) ?? { n: 0, ms: 0 };
    e.n++;
    e.ms += performance.now() - t0;
    times.set(k, e);
  };
  const { default: pg } = await import('pg');
  const query = pg.Client.prototype.query;
  pg.Client.prototype.query = function (config, ...rest) {
    const t0 = performance.now();
    const out = query.call(this, config, ...rest);
    const text = typeof config === 'string' ? config : config?.text;
    if (text && out && typeof out.then === 'function')
      out.then(
        () => add(text, t0),
        () => add(text, t0),
      );
    return out;
  };
  const { default: Sqlite } = await import('better-sqlite3');
  const prepare = Sqlite.prototype.prepare;
  Sqlite.prototype.prepare = function (source, ...rest) {
    const stmt = prepare.call(this, source, ...rest);
    for (const m of ['all', 'run', 'get']) {
      const f = stmt[m];
      stmt[m] = (...args) => {
        const t0 = performance.now();
        try {
          return f.apply(stmt, args);
        } finally {
          add(source, t0);
        }
      };
    }
    return stmt;
  };
  return times;
}

if (process.argv.includes(CHILD_FLAG)) await serveChild();

export function startChild(overrides) {
  const child = fork(SELF, [CHILD_FLAG], {
    env: { ...process.env, BULWARK_BENCH_SERVER_CONFIG: JSON.stringify(overrides) },
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  let next = 0;
  const waiting = new Map();
  return new Promise((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`server child exited with ${code}`)));
    child.on('message', (msg) => {
      if (msg.type === 'ready') {
        resolve({
          url: msg.url,
          setupToken: msg.setupToken,
          pid: child.pid,
          call: (type, extra = {}) =>
            new Promise((res) => {
              const id = ++next;
              waiting.set(id, res);
              child.send({ id, type, ...extra });
            }),
          stop: () =>
            new Promise((res) => {
              child.removeAllListeners('exit');
              child.once('exit', res);
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

/** CPU seconds used by PostgreSQL processes so far (best effort: /proc, Linux only). */
function postgresCpu() {
  let ticks = 0;
  try {
    for (const pid of readdirSync('/proc')) {
      if (!/^\d+$/.test(pid)) continue;
      try {
        const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
        const close = stat.lastIndexOf(')');
        if (stat.slice(stat.indexOf('(') + 1, close) !== 'postgres') continue;
        const f = stat.slice(close + 2).split(' ');
        // utime, stime, and the children's times the postmaster collected from backends that ended
        ticks += Number(f[11]) + Number(f[12]) + Number(f[13]) + Number(f[14]);
      } catch {
        // the process ended meanwhile
      }
    }
  } catch {
    return Number.NaN;
  }
  return ticks / 100;
}

// ---------------------------------------------------------------------------------------------------------------
// The fleet: real Exchange builds from the catalog, each asset labelled with the verdict it must get.

const cmpBuild = (a, b) => {
  const x = a.split('.').map(Number);
  const y = b.split('.').map(Number);
  for (let i = 0; i < 4; i++) if (x[i] !== y[i]) return x[i] - y[i];
  return 0;
};

/**
 * Exchange 2013/2016/2019/SE builds grouped by what ProxyLogon makes of them, from the catalog's facts alone
 * (which CU received the March 2021 security update KB5000871, and when each CU came out) — not from the pack.
 */
function exchangeBuilds(catalog) {
  const pre = []; // before the CU's March 2021 SU: affected, or fixed with KB5000871 installed
  const post = []; // the March 2021 SU or a later update of that CU: fixed
  const old = []; // a CU that never received the SU (released before March 2021): affected
  const later = []; // a CU released after the SU (2016 CU20+, 2019 CU9+, SE): contains the fixes
  const known = new Set();
  for (const t of catalog.trains) {
    for (const b of [t.build, ...t.updates.map((u) => u.build)]) known.add(b);
    if (!t.build.startsWith('15.')) continue; // Exchange 2010 is left out
    const su = t.updates.find((u) => u.name === 'Mar21SU');
    const all = [t.build, ...t.updates.map((u) => u.build)];
    if (su) {
      for (const b of all)
        (cmpBuild(b, su.build) < 0 ? pre : post).push({ build: b, su: su.build, train: t.id });
    } else {
      for (const b of all) (t.released < '2021-03-02' ? old : later).push({ build: b, train: t.id });
    }
  }
  const unknown = [];
  for (const minor of [1, 2])
    for (let n = 1; n <= 20; n++) {
      const b = `15.${minor}.2999.${n}`;
      if (!known.has(b)) unknown.push({ build: b });
    }
  return { pre, post, old, later, unknown };
}

const WINDOWS = [
  {
    product: 'microsoft:windows_server_2012_r2',
    version: (r) => `6.3.9600.${19000 + Math.floor(r() * 2000)}`,
  },
  { product: 'microsoft:windows_server_2016', version: (r) => `10.0.14393.${4000 + Math.floor(r() * 2500)}` },
  { product: 'microsoft:windows_server_2019', version: (r) => `10.0.17763.${1500 + Math.floor(r() * 4000)}` },
  { product: 'microsoft:windows_server_2022', version: (r) => `10.0.20348.${500 + Math.floor(r() * 2000)}` },
];
const WINDOWS_KBS = [
  'KB5000822',
  'KB5000803',
  'KB5001342',
  'KB5003171',
  'KB4601345',
  'KB5005030',
  'KB5009557',
];

/** Tenant sizes: a few large customers, many small ones (share ∝ 1/(rank+20)), summing to `total`. */
function tenantSizes(total) {
  const w = Array.from({ length: TENANTS }, (_, i) => 1 / (i + 20));
  const sum = w.reduce((a, b) => a + b, 0);
  const sizes = w.map((x) => Math.max(1, Math.floor((x / sum) * total)));
  let rest = total - sizes.reduce((a, b) => a + b, 0);
  for (let i = TENANTS - 1; rest > 0; i = (i - 1 + TENANTS) % TENANTS, rest--) sizes[i]++;
  return sizes;
}

/**
 * `assets` assets (BULWARK_BENCH_SERVER_ASSETS, default 100,000) over 1,000 tenants. `exchangeShare` of them run Exchange (one build from the mix below, with
 * its Windows OS, IIS and .NET); the rest are Windows servers (SQL Server, IIS) and Debian hosts (OpenSSL, nginx).
 * Each asset carries `expect`: the ProxyLogon verdict it must get, or null when it does not run Exchange.
 */
export function buildFleet(catalog, exchangeShare, seed, assets = ASSETS) {
  const r = prng(seed);
  const pick = (xs) => xs[Math.floor(r() * xs.length)];
  const groups = exchangeBuilds(catalog);
  const sizes = tenantSizes(assets);
  const tenants = [];
  let n = 0;
  for (let t = 0; t < TENANTS; t++) {
    const id = `t${String(t).padStart(4, '0')}`;
    const assets = [];
    for (let i = 0; i < sizes[t]; i++, n++) {
      const kbs = WINDOWS_KBS.filter(() => r() < 0.25);
      const asset = { id: `${id}-srv${String(i).padStart(5, '0')}`, name: `SRV${n}.${id}.example` };
      let expect = null;
      let train;
      let su;
      if (r() < exchangeShare) {
        const win = pick(WINDOWS);
        const x = r();
        let b;
        if (x < 0.45) {
          b = pick(groups.pre);
          const withKb = r() < 1 / 3;
          if (withKb) kbs.push('KB5000871');
          expect = withKb ? 'fixed' : 'affected';
          su = b.su;
        } else if (x < 0.7) {
          b = pick(groups.post);
          expect = 'fixed';
        } else if (x < 0.8) {
          b = pick(groups.old);
          expect = 'affected';
        } else if (x < 0.95) {
          b = pick(groups.later);
          expect = 'fixed';
        } else {
          b = pick(groups.unknown);
          expect = 'unknown';
        }
        train = b.train;
        asset.os = { product: win.product, version: win.version(r) };
        asset.products = [
          { product: 'microsoft:exchange_server', version: b.build, name: 'Microsoft Exchange Server' },
          { product: 'microsoft:iis', version: '10.0' },
          { product: 'microsoft:net_framework', version: pick(['4.7.2', '4.8', '4.8.1']) },
        ];
        asset.endpoints = [`https://mail.${id}.example/owa`, `https://autodiscover.${id}.example`];
        asset.tags = ['exchange', pick(['dag', 'standalone', 'hybrid'])];
      } else if (r() < 0.6) {
        const win = pick(WINDOWS);
        asset.os = { product: win.product, version: win.version(r) };
        asset.products =
          r() < 0.5
            ? [
                {
                  product: 'microsoft:sql_server',
                  version: pick(['13.0.6300.2', '15.0.4153.1', '16.0.4003.1']),
                },
              ]
            : [{ product: 'microsoft:iis', version: '10.0' }];
        asset.tags = ['windows'];
      } else {
        asset.os = { product: 'debian:debian_linux', version: pick(['11', '12']) };
        asset.products = [
          { product: 'pkg:deb/debian/openssl', version: `3.0.11-1~deb12u${1 + Math.floor(r() * 3)}` },
          { product: 'pkg:deb/debian/nginx', version: '1.22.1-9' },
        ];
        asset.tags = ['linux'];
        kbs.length = 0;
      }
      asset.installed_kbs = kbs;
      assets.push({ facts: asset, expect, su, train });
    }
    tenants.push({ id, assets });
  }
  return tenants;
}

const emptyCounts = () => ({ affected: 0, unknown: 0, fixed: 0, not_affected: 0 });
const CAUTION = { affected: 3, unknown: 2, fixed: 1, not_affected: 0 };

/** Expected exposure per tenant, by construction and by the core engine on the same facts. */
function expectedExposure(tenants, engine, assetFactsValidator) {
  const byConstruction = new Map();
  const byEngine = new Map();
  for (const t of tenants) {
    const c = emptyCounts();
    const e = emptyCounts();
    for (const a of t.assets) {
      if (a.expect) c[a.expect]++;
      const verdicts = engine
        .evaluate(assetFactsValidator.parse(a.facts))
        .verdicts.filter((v) => v.advisory === ADVISORY);
      if (verdicts.length) {
        let worst = verdicts[0].verdict;
        for (const v of verdicts) if (CAUTION[v.verdict] > CAUTION[worst]) worst = v.verdict;
        e[worst]++;
      }
    }
    byConstruction.set(t.id, c);
    byEngine.set(t.id, e);
  }
  return { byConstruction, byEngine };
}

const sumCounts = (m) => {
  const s = emptyCounts();
  for (const c of m.values()) for (const k of Object.keys(s)) s[k] += c[k];
  return s;
};
const fmtCounts = (c) => `${c.affected} affected / ${c.fixed} fixed / ${c.unknown} unknown`;
const sameCounts = (a, b) => Object.keys(emptyCounts()).every((k) => (a?.[k] ?? 0) === (b?.[k] ?? 0));

/** Compares the server's GET /advisories/:id/exposure answer with both expectations; returns problems. */
function checkExposure(body, expected) {
  const problems = [];
  const served = new Map(body.tenants.map((t) => [t.tenant, t.counts]));
  const c = sumCounts(expected.byConstruction);
  const e = sumCounts(expected.byEngine);
  if (!sameCounts(c, e)) problems.push(`construction (${fmtCounts(c)}) ≠ core engine (${fmtCounts(e)})`);
  if (!sameCounts(body.totals, e))
    problems.push(`server totals (${fmtCounts(body.totals)}) ≠ expected (${fmtCounts(e)})`);
  let bad = 0;
  for (const [tenant, counts] of expected.byEngine) {
    const want = Object.values(counts).some((x) => x > 0) ? counts : undefined;
    if (!sameCounts(served.get(tenant), want)) bad++;
  }
  if (bad) problems.push(`${bad} tenants with wrong per-tenant counts`);
  return problems;
}

// ---------------------------------------------------------------------------------------------------------------
// HTTP client

export function client(base, headers = {}) {
  return async (method, path, body, contentType = 'application/json') => {
    const t0 = performance.now();
    const res = await fetch(base + path, {
      method,
      headers: { ...headers, ...(body !== undefined ? { 'content-type': contentType } : {}) },
      body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
    });
    const text = await res.text();
    const ms = performance.now() - t0;
    if (res.status >= 300) throw new Error(`${method} ${path}: ${res.status} ${text.slice(0, 300)}`);
    return { status: res.status, json: text ? JSON.parse(text) : undefined, ms, headers: res.headers };
  };
}

/** Runs `work(i)` for i = 0..count-1 on `clients` concurrent loops; stops early after `seconds` if given. */
export async function drive(clients, count, work, seconds) {
  let next = 0;
  const deadline = seconds ? performance.now() + seconds * 1000 : Number.POSITIVE_INFINITY;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: clients }, async () => {
      while (next < count && performance.now() < deadline) await work(next++);
    }),
  );
  return { seconds: (performance.now() - t0) / 1000, done: Math.min(next, count) };
}

export const pct = (sorted, q) =>
  sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))];
function stats(ms, seconds) {
  const s = [...ms].sort((a, b) => a - b);
  return { n: s.length, p50: pct(s, 0.5), p99: pct(s, 0.99), rps: s.length / seconds };
}

/** Signs in as the admin; returns an API client with an admin API token and the signed-in session's client. */
export async function adminToken(url, setupToken) {
  const anon = client(url);
  await anon('POST', '/api/v1/setup', { token: setupToken, ...ADMIN });
  const login = await anon('POST', '/api/v1/session', { email: ADMIN.email, password: ADMIN.password });
  const cookie = login.headers.get('set-cookie').split(';')[0];
  const session = client(url, { cookie, 'x-csrf-token': login.json.csrf_token });
  const token = await session('POST', '/api/v1/tokens', { name: 'bench', role: 'admin' });
  return { api: client(url, { authorization: `Bearer ${token.json.token}` }), session };
}

/** Pushes to each tenant in requests of at most PUSH assets, `clients` at a time; returns assets/s. */
export async function pushAll(api, requests, clients) {
  let assets = 0;
  const { seconds } = await drive(clients, requests.length, async (i) => {
    const { tenant, facts } = requests[i];
    const res = await api('POST', `/api/v1/tenants/${tenant}/assets`, { assets: facts });
    if (res.json.results.length !== facts.length) throw new Error(`push to ${tenant}: short answer`);
    assets += facts.length;
  });
  return { assets, seconds, rate: assets / seconds };
}

export function pushRequests(tenants, select = () => true) {
  const out = [];
  for (const t of tenants) {
    const chosen = t.assets.filter(select);
    for (let i = 0; i < chosen.length; i += PUSH)
      out.push({ tenant: t.id, facts: chosen.slice(i, i + PUSH).map((a) => a.facts) });
  }
  return out;
}

export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const FINISHED = new Set(['succeeded', 'failed', 'cancelled', 'expired']);

/**
 * Imports the pack and waits until its findings are written. A synchronous import (200) is done when it answers;
 * an import job (202) when GET /api/v1/jobs/:id, polled every JOB_POLL_MS, shows it finished. Returns the time to
 * know as the client saw it (request → done), the answer time, the import result (advisories, run) and, for a
 * job, its own timestamps.
 */
export async function importAndWait(api, pack) {
  const t0 = performance.now();
  const res = await api('POST', '/api/v1/advisories/import', pack, 'application/yaml');
  const answered = performance.now() - t0;
  if (res.status === 200) return { mode: 'sync', ttkMs: answered, answerMs: answered, result: res.json };
  if (res.status !== 202) throw new Error(`import: unexpected status ${res.status}`);
  const location = res.headers.get('location') ?? `/api/v1/jobs/${res.json.id}`;
  let job = res.json;
  let polls = 0;
  const deadline = t0 + JOB_TIMEOUT_S * 1000;
  while (!FINISHED.has(job.state)) {
    if (performance.now() > deadline)
      throw new Error(`import job ${job.id} not finished after ${JOB_TIMEOUT_S} s (${job.state})`);
    await sleep(JOB_POLL_MS);
    job = (await api('GET', location)).json;
    polls++;
  }
  const ttkMs = performance.now() - t0;
  if (job.state !== 'succeeded') throw new Error(`import job ${job.id} ${job.state}: ${job.error ?? ''}`);
  const at = (x) => (x ? Date.parse(x) : Number.NaN);
  // Job envelopes are snake_case; earlier builds of the jobs feature sent camelCase keys.
  const createdAt = job.created_at ?? job.createdAt;
  const startedAt = job.started_at ?? job.startedAt;
  const finishedAt = job.finished_at ?? job.finishedAt;
  return {
    mode: 'job',
    ttkMs,
    answerMs: answered,
    result: job.result,
    job: {
      id: job.id,
      polls,
      attempts: job.attempts,
      queuedMs: at(startedAt) - at(createdAt),
      runMs: at(finishedAt) - at(startedAt),
    },
  };
}

/**
 * A Server-Sent Events client on `url` (GET /api/v1/events): calls `onEvent(envelope, receivedAt)` for every
 * event. Resolves once the stream answered 200 (with `close()`), or to undefined when the server has no event
 * stream (404).
 */
async function openEvents(url, token, onEvent) {
  const abort = new AbortController();
  const res = await fetch(`${url}/api/v1/events`, {
    headers: { authorization: `Bearer ${token}`, accept: 'text/event-stream' },
    signal: abort.signal,
  });
  if (res.status === 404) {
    await res.body?.cancel();
    return undefined;
  }
  if (res.status !== 200)
    throw new Error(`GET /api/v1/events: ${res.status} ${(await res.text()).slice(0, 300)}`);
  const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = '';
  let ready;
  const opened = new Promise((resolve) => {
    ready = resolve;
  });
  const done = (async () => {
    for (;;) {
      const { value, done: ended } = await reader.read();
      if (ended) return;
      const receivedAt = performance.now();
      buffer += value;
      let end = buffer.indexOf('\n\n');
      while (end >= 0) {
        const frame = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        end = buffer.indexOf('\n\n');
        if (frame.startsWith('retry:')) ready();
        const data = frame
          .split('\n')
          .filter((l) => l.startsWith('data:'))
          .map((l) => l.slice(5).trimStart())
          .join('\n');
        if (data) onEvent(JSON.parse(data), receivedAt);
      }
    }
  })().catch((err) => {
    if (err.name !== 'AbortError') throw err;
  });
  // The stream's first frame (`retry:`) comes once the server has hijacked the reply; bounded wait.
  await Promise.race([opened, sleep(5000)]);
  return {
    close: async () => {
      abort.abort();
      await done.catch(() => {});
    },
  };
}

/**
 * Event delivery between replicas: a second server (B) on the same database, an SSE client on B with a token of
 * one tenant, EVENT_WRITES single-asset writes through A, one at a time and EVENT_GAP_MS apart; for each, the time
 * from A's answer to the asset.changed event arriving on B. The writes change a tag only, so no verdict changes.
 */
async function eventDelivery(server, api, session, fleet, overrides, log) {
  const tenant = fleet[0];
  let scoped;
  try {
    scoped = await session('POST', '/api/v1/tokens', {
      name: 'bench-events',
      role: 'customer',
      tenant_id: tenant.id,
    });
  } catch (err) {
    throw new Error(`a token for tenant ${tenant.id}: ${err.message}`);
  }
  const probe = await openEvents(server.url, scoped.json.token, () => {});
  if (!probe) {
    log('events: the server has no event stream (GET /api/v1/events: 404)');
    return { na: 'no events' };
  }
  await probe.close();
  const dataDir = mkdtempSync(join(tmpdir(), 'bulwark-bench-server-b-'));
  const b = await startChild({ ...overrides, data_dir: dataDir });
  const out = { writes: EVENT_WRITES, lat: [], early: 0, missing: 0, foreign: 0 };
  const pending = new Map(); // asset id → write indices (in order) whose event has not arrived
  const acked = [];
  const received = [];
  let stream;
  try {
    stream = await openEvents(b.url, scoped.json.token, (event, at) => {
      // Event envelopes and data are snake_case; earlier builds of the events feature sent camelCase keys.
      if ((event.tenant_id ?? event.tenantId) !== tenant.id) out.foreign++;
      if (event.type !== 'asset.changed') return;
      const queue = pending.get(event.data?.asset_id ?? event.data?.assetId);
      if (queue?.length) received[queue.shift()] = at;
    });
    if (!stream) throw new Error('replica B has no event stream');
    const assets = tenant.assets;
    const total = EVENT_WARMUP + EVENT_WRITES;
    for (let i = 0; i < total; i++) {
      const a = assets[i % assets.length];
      const facts = {
        ...a.facts,
        tags: [...(a.facts.tags ?? []).filter((t) => !t.startsWith('ev-')), `ev-${i}`],
      };
      const q = pending.get(facts.id) ?? [];
      q.push(i);
      pending.set(facts.id, q);
      await api('PUT', `/api/v1/tenants/${tenant.id}/assets/${facts.id}`, facts);
      acked[i] = performance.now();
      a.facts = facts;
      await sleep(EVENT_GAP_MS);
    }
    const deadline = performance.now() + EVENT_WAIT_S * 1000;
    while (received.filter((x) => x !== undefined).length < total && performance.now() < deadline)
      await sleep(20);
    for (let i = EVENT_WARMUP; i < total; i++) {
      if (received[i] === undefined) {
        out.missing++;
        continue;
      }
      const d = received[i] - acked[i];
      if (d < 0) out.early++;
      out.lat.push(Math.max(0, d));
    }
  } finally {
    await stream?.close();
    await b.stop();
    rmSync(dataDir, { recursive: true, force: true });
  }
  const s = [...out.lat].sort((x, y) => x - y);
  const result = {
    writes: out.writes,
    received: s.length,
    missing: out.missing,
    early: out.early,
    foreign: out.foreign,
    p50: pct(s, 0.5),
    p95: pct(s, 0.95),
    p99: pct(s, 0.99),
    max: s.at(-1),
  };
  log(
    `events A → B: ${result.received}/${result.writes}, p50 ${ms(result.p50)} p95 ${ms(result.p95)} p99 ${ms(result.p99)} max ${ms(result.max)} ms${result.missing ? `, ${result.missing} MISSING` : ''}`,
  );
  return result;
}

export async function withDatabase(dialect, label, fn) {
  const dataDir = mkdtempSync(join(tmpdir(), 'bulwark-bench-server-'));
  let pgAdmin;
  let dbName;
  const overrides = {
    host: '127.0.0.1',
    port: 0,
    data_dir: dataDir,
    log_level: 'warn',
    builtin_advisories: false,
  };
  try {
    if (dialect === 'postgres') {
      const { default: pg } = await import('pg');
      dbName = `bulwark_bench_${process.pid}_${label}`;
      pgAdmin = new pg.Client({ connectionString: PG_URL });
      await pgAdmin.connect();
      await pgAdmin.query(`CREATE DATABASE ${dbName}`);
      const u = new URL(PG_URL);
      u.pathname = `/${dbName}`;
      overrides.database_url = u.toString();
    }
    const server = await startChild(overrides);
    try {
      return await fn(server, overrides);
    } finally {
      await server.stop();
    }
  } finally {
    if (pgAdmin) {
      await pgAdmin.query(`DROP DATABASE IF EXISTS ${dbName} WITH (FORCE)`).catch(() => {});
      await pgAdmin.end();
    }
    rmSync(dataDir, { recursive: true, force: true });
  }
}

async function profiled(server, name, fn) {
  if (!PROFILE_DIR) return fn();
  mkdirSync(PROFILE_DIR, { recursive: true });
  await server.call('profile-start');
  try {
    return await fn();
  } finally {
    await server.call('profile-stop', { file: join(PROFILE_DIR, `${name}.cpuprofile`) });
  }
}

/** Registers the fleet, imports ProxyLogon, verifies; the main phase also measures queries and updates. */
async function runPhase(dialect, label, fleet, kb, full) {
  return withDatabase(dialect, label, async (server, overrides) => {
    const log = (m) => console.error(`[server ${dialect} ${label}] ${m}`);
    const { api, session } = await adminToken(server.url, server.setupToken);
    const out = { dialect, label };

    await drive(8, fleet.length, async (i) => {
      await api('POST', '/api/v1/tenants', { id: fleet[i].id, name: `Customer ${i}` });
    });
    const reg = await pushAll(api, pushRequests(fleet), REGISTER_CLIENTS);
    out.register = reg;
    log(`registered ${reg.assets} assets in ${reg.seconds.toFixed(1)} s (${Math.round(reg.rate)}/s)`);

    // Import ProxyLogon: the time to know, as the server reports it and as the client sees it.
    const pack = readFileSync(PACK, 'utf8');
    const cpu0 = (await server.call('cpu')).cpu;
    const pg0 = dialect === 'postgres' ? postgresCpu() : 0;
    const imported = await profiled(server, `${dialect}-${label}-import`, () => importAndWait(api, pack));
    out.serverCpu = (await server.call('cpu')).cpu - cpu0;
    out.pgCpu = dialect === 'postgres' ? postgresCpu() - pg0 : undefined;
    out.run = imported.result.run;
    out.importMode = imported.mode;
    out.ttkMs = imported.ttkMs;
    out.importAnswerMs = imported.answerMs;
    out.job = imported.job;
    log(
      `import (${imported.mode}): time to know ${imported.ttkMs.toFixed(0)} ms (answered in ${imported.answerMs.toFixed(0)} ms); run ${out.run.duration_ms} ms (${out.run.assets_evaluated} assets, ${out.run.findings_written} findings)`,
    );

    let expected = expectedExposure(fleet, kb.engine, kb.assetFactsValidator);
    const exposure = await api('GET', `/api/v1/advisories/${ADVISORY}/exposure`);
    out.problems = checkExposure(exposure.json, expected);
    out.totals = exposure.json.totals;
    out.exchangeAssets = sumCounts(expected.byConstruction);
    if (!full) return out;

    // Exposure queries: sequential, then QUERY_CLIENTS at a time. Every answer is checked as well.
    const r = prng(7);
    const tenantAt = () => fleet[Math.floor(r() * fleet.length)].id;
    const queries = {
      advisory: async () => {
        const res = await api('GET', `/api/v1/advisories/${ADVISORY}/exposure`);
        if (!sameCounts(res.json.totals, exposure.json.totals))
          out.problems.push('advisory exposure changed');
        return res.ms;
      },
      tenant: async () => {
        const t = tenantAt();
        const res = await api('GET', `/api/v1/tenants/${t}/exposure`);
        const want = expected.byEngine.get(t);
        const got = res.json.advisories.find((a) => a.advisory === ADVISORY)?.counts;
        if (!sameCounts(got, Object.values(want).some((x) => x) ? want : undefined))
          out.problems.push(`tenant exposure ${t} wrong`);
        return res.ms;
      },
      assets: async () => {
        const t = tenantAt();
        const res = await api(
          'GET',
          `/api/v1/tenants/${t}/assets?advisory=${ADVISORY}&verdict=affected&limit=100`,
        );
        if (res.json.total !== expected.byEngine.get(t).affected) out.problems.push(`asset list ${t} wrong`);
        return res.ms;
      },
    };
    out.queries = {};
    // BULWARK_BENCH_SERVER_QUERIES=0 skips the query latencies (quick runs while working on writes).
    const queryRuns = process.env.BULWARK_BENCH_SERVER_QUERIES === '0' ? [] : Object.entries(queries);
    for (const [name, q] of queryRuns) {
      for (let i = 0; i < 50; i++) await q(); // warm-up
      const seq = [];
      const s1 = await drive(1, QUERIES, async () => seq.push(await q()));
      const con = [];
      const s2 = await drive(QUERY_CLIENTS, QUERIES, async () => con.push(await q()));
      out.queries[name] = { seq: stats(seq, s1.seconds), con: stats(con, s2.seconds) };
      log(
        `${name}: p50 ${out.queries[name].seq.p50.toFixed(2)} p99 ${out.queries[name].seq.p99.toFixed(2)} ms; ${QUERY_CLIENTS} clients p99 ${out.queries[name].con.p99.toFixed(2)} ms`,
      );
    }

    // Fact updates: affected assets get their CU's March 2021 SU build, so four findings per asset change.
    const patchable = fleet.flatMap((t) =>
      t.assets.filter((a) => a.expect === 'affected' && a.su).map((a) => ({ tenant: t.id, a })),
    );
    for (let i = patchable.length - 1; i > 0; i--) {
      const j = Math.floor(r() * (i + 1));
      [patchable[i], patchable[j]] = [patchable[j], patchable[i]];
    }
    const patch = (a) => {
      a.facts = {
        ...a.facts,
        products: a.facts.products.map((p) =>
          p.product === 'microsoft:exchange_server' ? { ...p, version: a.su } : p,
        ),
      };
      a.expect = 'fixed';
    };
    const putMs = [];
    let findingsWritten = 0;
    const putCpu0 = (await server.call('cpu')).cpu;
    const putPg0 = dialect === 'postgres' ? postgresCpu() : 0;
    const client0 = process.cpuUsage();
    const puts = await profiled(server, `${dialect}-${label}-put`, () =>
      drive(
        PUT_CLIENTS,
        Math.min(PUT_MAX, patchable.length),
        async (i) => {
          const { tenant, a } = patchable[i];
          patch(a);
          const res = await api('PUT', `/api/v1/tenants/${tenant}/assets/${a.facts.id}`, a.facts);
          findingsWritten += res.json.findings_written;
          putMs.push(res.ms);
        },
        PUT_SECONDS,
      ),
    );
    const clientCpu = process.cpuUsage(client0);
    out.put = {
      ...stats(putMs, puts.seconds),
      findings: findingsWritten,
      // CPU seconds per request: the server, PostgreSQL and this client (all share the machine's cores).
      cpuPerRequestMs: {
        server: (((await server.call('cpu')).cpu - putCpu0) * 1000) / putMs.length,
        postgres: dialect === 'postgres' ? ((postgresCpu() - putPg0) * 1000) / putMs.length : undefined,
        client: (clientCpu.user + clientCpu.system) / 1000 / putMs.length,
      },
    };
    log(
      `PUT: ${puts.done} in ${puts.seconds.toFixed(1)} s, ${out.put.rps.toFixed(0)}/s, p99 ${out.put.p99.toFixed(1)} ms; CPU ms per request: server ${out.put.cpuPerRequestMs.server.toFixed(2)}, PostgreSQL ${out.put.cpuPerRequestMs.postgres?.toFixed(2) ?? '-'}, client ${out.put.cpuPerRequestMs.client.toFixed(2)}`,
    );

    const batch = new Set(patchable.slice(puts.done, puts.done + BATCH_ASSETS).map((x) => x.a));
    for (const a of batch) patch(a);
    out.batch = await pushAll(
      api,
      pushRequests(fleet, (a) => batch.has(a)),
      BATCH_CLIENTS,
    );
    log(`batch: ${out.batch.assets} in ${out.batch.seconds.toFixed(1)} s (${Math.round(out.batch.rate)}/s)`);

    expected = expectedExposure(fleet, kb.engine, kb.assetFactsValidator);
    const after = await api('GET', `/api/v1/advisories/${ADVISORY}/exposure`);
    out.problems.push(...checkExposure(after.json, expected).map((p) => `after updates: ${p}`));
    out.totalsAfter = after.json.totals;

    if (dialect === 'postgres') {
      out.events = await eventDelivery(server, api, session, fleet, overrides, log);
      if (out.events.foreign)
        out.problems.push(`${out.events.foreign} events of other tenants on a tenant's stream`);
      if (!out.events.na) {
        const last = await api('GET', `/api/v1/advisories/${ADVISORY}/exposure`);
        out.problems.push(...checkExposure(last.json, expected).map((p) => `after the event writes: ${p}`));
      }
    }
    return out;
  });
}

// ---------------------------------------------------------------------------------------------------------------

const ms = (x) => (x < 10 ? x.toFixed(2) : x.toFixed(1));
const fmt = (n) => Math.round(n).toLocaleString('en-US');
const met = (ok) => (ok ? 'met' : '**NOT met**');

/** The figures as JSON (for scripts/bench/server-compare.mjs), labelled with the commit they measured. */
function writeJson(file, results) {
  let commit = 'unknown';
  try {
    commit = execSync('git rev-parse --short HEAD', {
      cwd: fileURLToPath(new URL('../..', import.meta.url)),
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
    }).trim();
  } catch {
    // not a git checkout
  }
  const doc = {
    label: process.env.BULWARK_BENCH_LABEL ?? commit,
    commit,
    at: new Date().toISOString(),
    assets: ASSETS,
    tenants: TENANTS,
    constants: { JOB_POLL_MS, PUT_CLIENTS, PUT_MAX, PUT_SECONDS, EVENT_WRITES, EVENT_GAP_MS, QUERY_CLIENTS },
    results,
  };
  writeFileSync(file, `${JSON.stringify(doc, null, 2)}\n`);
  console.error(`[server] figures written to ${file}`);
}

/** How the client knew the import was done. */
const doneHow = (out) =>
  out.importMode === 'job'
    ? `job seen done (polled every ${JOB_POLL_MS} ms)`
    : 'its answer (synchronous import)';

function jobRows(out) {
  if (out.importMode !== 'job') return ['| … the import answered (200) when done, no job | — | |'];
  return [
    `| … the import answered (202 with the job) / job queued → started (server clock) | ${ms(out.importAnswerMs)} ms / ${ms(out.job.queuedMs)} ms | |`,
  ];
}

const EVENT_MEASURE = `event delivery: single-asset write on replica A acknowledged → \`asset.changed\` received by an SSE client (one tenant's token) on replica B, same PostgreSQL; ${fmt(EVENT_WRITES)} writes ${EVENT_GAP_MS} ms apart: p50 / p95 / p99 / max`;

/** The events figure: true when measured, complete and under the target; undefined measurements count as met. */
function eventsOk(e) {
  return !e || !!e.na || (e.missing === 0 && e.p99 < EVENT_P99_TARGET_MS);
}

function eventRow(e) {
  if (e.na) return `| ${EVENT_MEASURE} | n/a (${e.na}) | p99 < ${EVENT_P99_TARGET_MS} ms: — |`;
  const lost = e.missing
    ? `; **${fmt(e.missing)} of ${fmt(e.writes)} not received in ${EVENT_WAIT_S} s**`
    : '';
  return `| ${EVENT_MEASURE} | ${ms(e.p50)} / ${ms(e.p95)} / ${ms(e.p99)} / ${ms(e.max)} ms${lost} | p99 < ${EVENT_P99_TARGET_MS} ms: ${met(eventsOk(e))} |`;
}

function table(main, mixed) {
  const q = main.queries;
  const ttk = main.ttkMs / 1000;
  const ttkMixed = mixed ? mixed.ttkMs / 1000 : undefined;
  const p99 = Math.max(0, ...Object.values(q).flatMap((x) => [x.seq.p99]));
  const rows = [
    `| registration: ${fmt(main.register.assets)} assets, ≤ ${fmt(PUSH)} per POST, ${REGISTER_CLIENTS} clients (no advisory loaded) | ${fmt(main.register.rate)} assets/s (${main.register.seconds.toFixed(1)} s) | — |`,
    `| **time to know**, every asset an Exchange server: import request → ${doneHow(main)} (${fmt(main.run.assets_evaluated)} assets judged, ${fmt(main.run.findings_written)} findings written) | **${ttk.toFixed(2)} s** | < ${TTK_TARGET_S} s: ${met(ttk < TTK_TARGET_S)} |`,
    `| … the run's own \`run.duration_ms\` | ${(main.run.duration_ms / 1000).toFixed(2)} s | |`,
    ...jobRows(main),
    `| … server CPU during the import${main.pgCpu !== undefined ? ' / PostgreSQL CPU' : ''} | ${main.serverCpu.toFixed(2)} s${main.pgCpu !== undefined ? ` / ${main.pgCpu.toFixed(2)} s` : ''} | |`,
  ];
  if (mixed)
    rows.push(
      `| time to know, mixed fleet (${Math.round(MIXED_EXCHANGE_SHARE * 100)}% Exchange: ${fmt(mixed.run.assets_evaluated)} of ${fmt(mixed.register.assets)} assets judged); \`run.duration_ms\` | ${ttkMixed.toFixed(2)} s; ${(mixed.run.duration_ms / 1000).toFixed(2)} s | < ${TTK_TARGET_S} s: ${met(ttkMixed < TTK_TARGET_S)} |`,
    );
  const names = {
    advisory: `\`GET /api/v1/advisories/${ADVISORY}/exposure\` (1,000 tenants)`,
    tenant: '`GET /api/v1/tenants/:t/exposure`',
    assets: `\`GET /api/v1/tenants/:t/assets?advisory=…&verdict=affected\``,
  };
  for (const [k, name] of Object.entries(names)) {
    if (!q[k]) continue;
    const { seq, con } = q[k];
    rows.push(
      `| ${name}: p50 / p99, 1 client; ${QUERY_CLIENTS} clients (req/s) | ${ms(seq.p50)} / ${ms(seq.p99)} ms; ${ms(con.p50)} / ${ms(con.p99)} ms (${fmt(con.rps)}/s) | p99 < ${P99_TARGET_MS} ms: ${met(seq.p99 < P99_TARGET_MS)} |`,
    );
  }
  rows.push(
    `| fact update \`PUT /api/v1/tenants/:t/assets/:id\` (SU installed: 4 findings change), ${PUT_CLIENTS} clients, ${fmt(main.put.n)} requests; CPU per request: server${main.put.cpuPerRequestMs.postgres !== undefined ? ' / PostgreSQL' : ''} / client | ${fmt(main.put.rps)} req/s, p50 / p99 ${ms(main.put.p50)} / ${ms(main.put.p99)} ms; ${ms(main.put.cpuPerRequestMs.server)}${main.put.cpuPerRequestMs.postgres !== undefined ? ` / ${ms(main.put.cpuPerRequestMs.postgres)}` : ''} / ${ms(main.put.cpuPerRequestMs.client)} ms | — |`,
    `| batch fact update: ${fmt(main.batch.assets)} assets, ≤ ${fmt(PUSH)} per POST, ${BATCH_CLIENTS} clients | ${fmt(main.batch.rate)} assets/s | — |`,
  );
  if (main.events) rows.push(eventRow(main.events));
  const problems = [...main.problems, ...(mixed?.problems ?? [])];
  const verdict = problems.length
    ? `**Correctness: FAIL** — ${problems.slice(0, 5).join('; ')}`
    : `**Correctness: PASS** — totals ${fmtCounts(main.totals)} after the import and ${fmtCounts(main.totalsAfter)} after the updates${mixed ? ` (mixed fleet: ${fmtCounts(mixed.totals)})` : ''}, equal to the construction of the fleet and to the core engine run on the same facts, for every one of the 1,000 tenants; every query answer checked too.`;
  return {
    text: `| measurement | figure | target |\n|---|---|---|\n${rows.join('\n')}\n\n${verdict}`,
    ok: !problems.length && ttk < TTK_TARGET_S && p99 < P99_TARGET_MS && eventsOk(main.events),
  };
}

export async function run() {
  const { loadBuiltinCatalogs, parseAdvisory } = await import('../../dist/advisories/index.js');
  const core = await import('../../dist/core/index.js');
  const { CatalogIndex, ExposureEngine } = core;
  // Older builds name the facts validator assetFactsSchema; both have parse().
  const assetFactsValidator = core.assetFactsValidator ?? core.assetFactsSchema;
  const catalogs = loadBuiltinCatalogs();
  const catalog = catalogs.find((c) => c.id === 'exchange');
  const advisory = parseAdvisory(readFileSync(PACK, 'utf8'), 'pack');
  const kb = { engine: new ExposureEngine([advisory], new CatalogIndex(catalogs)), assetFactsValidator };

  const results = {};
  for (const dialect of DIALECTS) {
    const allExchange = buildFleet(catalog, 1, 20210302);
    const main = await runPhase(dialect, 'all', allExchange, kb, true);
    const mixed =
      process.env.BULWARK_BENCH_SERVER_MIXED === '0'
        ? undefined
        : await runPhase(dialect, 'mixed', buildFleet(catalog, MIXED_EXCHANGE_SHARE, 20210303), kb, false);
    results[dialect] = { main, mixed };
  }

  const fleet = buildFleet(catalog, 1, 20210302);
  const sizes = fleet.map((t) => t.assets.length);
  const groups = exchangeBuilds(catalog);
  const c = results[DIALECTS[0]].main.exchangeAssets;
  if (process.env.BULWARK_BENCH_JSON) writeJson(process.env.BULWARK_BENCH_JSON, results);
  const sections = DIALECTS.map((d) => {
    const t = table(results[d].main, results[d].mixed);
    return `### ${d === 'sqlite' ? 'SQLite (embedded, WAL)' : 'PostgreSQL 15 (local, pool of 10)'}\n\n${t.text}`;
  });
  return `## Control-plane server

${fmt(ASSETS)} assets over ${fmt(TENANTS)} tenants (${sizes[0]} assets for the largest, ${sizes.at(-1)} for the smallest; share ∝
1/(rank+20)) registered through the HTTP API, then the ProxyLogon pack imported with \`POST /api/v1/advisories/import\`
(\`application/yaml\`) into a server started with \`builtin_advisories: false\`. The headline fleet is the worst case:
**every asset an Exchange server**, on one of ${groups.pre.length + groups.post.length + groups.old.length + groups.later.length} real 2013/2016/2019/SE builds from the catalog — 45% before
their CU's March 2021 SU (a third of those with KB5000871 installed), 25% on that SU or later, 10% on CUs that never got
it, 15% on CUs released after it, 5% on builds the catalog does not know — each with a Windows Server OS, IIS and .NET
facts, two endpoints and some Windows KBs (${fmtCounts(c)} expected). A second database holds a mixed fleet where
${Math.round(MIXED_EXCHANGE_SHARE * 100)}% of the assets run Exchange and the rest are Windows (SQL Server, IIS) and Debian hosts (OpenSSL, nginx).

The server is \`startServer\` from \`dist/\` in a child process (127.0.0.1, ephemeral port, log level warn, an admin API
token); the benchmark process is only the HTTP client (Node fetch, keep-alive), so client CPU is not server time, but
both share the machine's 2 cores with PostgreSQL. Each database is new: a temporary data directory for SQLite, a
\`CREATE DATABASE bulwark_bench_<pid>_…\` dropped afterwards for PostgreSQL. Latency is client-observed per request,
${fmt(QUERIES)} requests per query after 50 warm-up ones; fact updates move affected assets to their CU's March 2021 SU
build (${PUT_CLIENTS} clients, at most ${fmt(PUT_MAX)} requests or ${PUT_SECONDS} s). The time to know runs from the import request until the
client knows the findings are written: the import job seen finished by polling \`GET /api/v1/jobs/:id\` every ${JOB_POLL_MS} ms
(an import answered 202), or the answer of a synchronous import (200); the run's own \`duration_ms\` stands beside it.
On PostgreSQL, a second server process (replica B) is then started on the same database, an SSE client with one
tenant's token follows \`GET /api/v1/events\` on B, and ${fmt(EVENT_WRITES)} single-asset writes (a tag changed, after ${EVENT_WARMUP} warm-up ones) go
through replica A one at a time, ${EVENT_GAP_MS} ms apart: the delay from A's answer to the event's arrival on B. Targets: time
to know < ${TTK_TARGET_S} s for 100,000 assets, exposure queries p99 < ${P99_TARGET_MS} ms (one client), event delivery p99 < ${EVENT_P99_TARGET_MS} ms.

${sections.join('\n\n')}`;
}
