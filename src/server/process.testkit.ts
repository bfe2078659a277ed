/**
 * Real server processes for tests: `bulwark serve` (cli/serve-child.testkit.ts, transpiled from the sources with
 * jobs.testkit's transpileTree) in a child process on 127.0.0.1 and an ephemeral port, on the embedded database of
 * a data directory or on one PostgreSQL schema; an HTTP client over fetch with every request bounded in time; a
 * Server-Sent Events reader; a deterministic Exchange fleet; and the exposure of that fleet recounted by the core
 * engine, independently of the server.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { symlinkSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadBuiltinCatalogs } from '../advisories/index.js';
import type { EventEnvelope } from '../api/events.js';
import type { Job } from '../api/jobs.js';
import {
  type Advisory,
  type AssetFactsInput,
  assetFactsValidator,
  CatalogIndex,
  ExposureEngine,
  type Verdict,
} from '../core/index.js';
import { TEST_PG_URL } from './db/db.testkit.js';
import { CAUTION } from './exposure/writer.js';
import { transpileTree } from './jobs/jobs.testkit.js';

const SRC = fileURLToPath(new URL('../', import.meta.url));
const ROOT = resolve(SRC, '..');
const CHILD = join(SRC, 'cli/serve-child.testkit.ts');

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Polls `fn` every `stepMs` until it returns a truthy value; fails naming `what` after `ms`. */
export async function waitFor<T>(
  what: string,
  fn: () => Promise<T | undefined | false | null> | T | undefined | false | null,
  ms = 20_000,
  stepMs = 25,
): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await sleep(stepMs);
  }
}

/** The serve command transpiled into a temporary tree, with the advisory packs and catalogs it reads beside it. */
export interface ServeTree {
  entry: string;
  dispose(): void;
}

export function serveTree(): ServeTree {
  const tree = transpileTree(CHILD);
  const out = tree.file.slice(0, tree.file.length - relative(ROOT, CHILD).replace(/\.ts$/, '.js').length);
  for (const dir of ['packs', 'catalogs'])
    symlinkSync(join(SRC, 'advisories', dir), join(out, 'src/advisories', dir), 'dir');
  return { entry: tree.file, dispose: tree.dispose };
}

/** A PostgreSQL URL whose connections use `schema` (the test database's schema) as their search path. */
export function pgUrlFor(schema: string): string {
  const url = new URL(TEST_PG_URL);
  url.searchParams.set('options', `-c search_path=${schema}`);
  return url.toString();
}

export interface ServerProcess {
  child: ChildProcess;
  pid: number;
  url: string;
  /** Printed on a first start. */
  setupToken?: string;
  /** Everything the process wrote so far (standard output and error). */
  output(): string;
  /** SIGKILL: the process dies without closing anything. Resolves once it is gone. */
  kill9(): Promise<void>;
  /** SIGTERM and the exit code (the process is SIGKILLed after `ms`). */
  stop(ms?: number): Promise<number | null>;
}

export interface ServeOptions {
  dataDir: string;
  /** PostgreSQL (see pgUrlFor); the embedded SQLite database of dataDir otherwise. */
  databaseUrl?: string;
  /** Default 0: an ephemeral port. */
  port?: number;
  /** More BULWARK_* settings. */
  env?: Record<string, string>;
  startMs?: number;
}

const live = new Set<ChildProcess>();
process.once('exit', () => {
  for (const child of live) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
});

/** Starts `bulwark serve` (built-in advisories off unless env says otherwise); resolves once it listens. */
export function startServe(tree: ServeTree, options: ServeOptions): Promise<ServerProcess> {
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    BULWARK_HOST: '127.0.0.1',
    BULWARK_PORT: String(options.port ?? 0),
    BULWARK_DATA_DIR: options.dataDir,
    BULWARK_LOG_LEVEL: 'warn',
    BULWARK_LOG_FORMAT: 'json',
    BULWARK_BUILTIN_ADVISORIES: 'false',
    ...options.env,
  };
  delete env.BULWARK_DATABASE_URL;
  if (options.databaseUrl) env.BULWARK_DATABASE_URL = options.databaseUrl;
  const child = spawn(process.execPath, [tree.entry], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  live.add(child);
  child.once('exit', () => live.delete(child));
  let out = '';
  child.stdout!.setEncoding('utf8').on('data', (d: string) => {
    out += d;
  });
  child.stderr!.setEncoding('utf8').on('data', (d: string) => {
    out += d;
  });
  const gone = new Promise<void>((r) => {
    if (child.exitCode !== null || child.signalCode !== null) r();
    else child.once('exit', () => r());
  });
  const startMs = options.startMs ?? 30_000;
  return new Promise((resolvePromise, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`bulwark serve did not start within ${startMs} ms: ${out}`));
    }, startMs);
    const onExit = () => {
      clearTimeout(timer);
      reject(new Error(`bulwark serve exited (${child.exitCode ?? child.signalCode}): ${out}`));
    };
    child.once('exit', onExit);
    const check = () => {
      const url = /listening on (http:\/\/\S+)/.exec(out)?.[1];
      if (!url || !out.includes('API docs')) return;
      clearTimeout(timer);
      child.off('exit', onExit);
      child.stdout!.off('data', check);
      resolvePromise({
        child,
        pid: child.pid!,
        url,
        setupToken: /setup#token=(\S+)/.exec(out)?.[1],
        output: () => out,
        kill9: async () => {
          child.kill('SIGKILL');
          await gone;
        },
        stop: async (ms = 15_000) => {
          if (child.exitCode !== null || child.signalCode !== null) return child.exitCode;
          child.kill('SIGTERM');
          const timeout = setTimeout(() => child.kill('SIGKILL'), ms);
          await gone;
          clearTimeout(timeout);
          return child.exitCode;
        },
      });
    };
    child.stdout!.on('data', check);
  });
}

export interface HttpAnswer {
  status: number;
  headers: Headers;
  // biome-ignore lint/suspicious/noExplicitAny: test answers are read field by field
  json: any;
  text: string;
}

/** Requests to one server with one credential; each bounded by `timeoutMs`. */
export interface Api {
  base: string;
  headers: Record<string, string>;
  call(
    method: string,
    path: string,
    body?: unknown,
    extra?: { contentType?: string; headers?: Record<string, string>; timeoutMs?: number },
  ): Promise<HttpAnswer>;
  /** The same credential against another server (a replica). */
  at(base: string): Api;
}

export function apiClient(base: string, headers: Record<string, string> = {}): Api {
  return {
    base,
    headers,
    async call(method, path, body, extra = {}) {
      const res = await fetch(base + path, {
        method,
        headers: {
          ...headers,
          ...extra.headers,
          ...(body !== undefined ? { 'content-type': extra.contentType ?? 'application/json' } : {}),
        },
        body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
        signal: AbortSignal.timeout(extra.timeoutMs ?? 30_000),
      });
      const text = await res.text();
      let json: unknown;
      try {
        json = text ? JSON.parse(text) : undefined;
      } catch {
        json = undefined;
      }
      return { status: res.status, headers: res.headers, json, text };
    },
    at: (other) => apiClient(other, headers),
  };
}

/** Fails with the answer when its status is not `status`. */
export function expectStatus(answer: HttpAnswer, status: number, what: string): HttpAnswer {
  if (answer.status !== status) throw new Error(`${what}: ${answer.status} ${answer.text.slice(0, 500)}`);
  return answer;
}

export const ADMIN = {
  email: 'admin@replicas.example',
  name: 'Admin',
  password: 'correct horse battery staple',
};

/**
 * First start: the administrator from the setup token, signed in (`session`, which creates API tokens), and an
 * admin API token (`admin`).
 */
export async function setupAdmin(server: ServerProcess): Promise<{ admin: Api; session: Api }> {
  if (!server.setupToken) throw new Error(`no setup token printed: ${server.output()}`);
  const anon = apiClient(server.url);
  expectStatus(
    await anon.call('POST', '/api/v1/setup', { token: server.setupToken, ...ADMIN }),
    201,
    `setup (server log: ${server.output().slice(-2000)})`,
  );
  const login = expectStatus(
    await anon.call('POST', '/api/v1/session', { email: ADMIN.email, password: ADMIN.password }),
    200,
    'sign-in',
  );
  const cookie = login.headers.get('set-cookie')!.split(';')[0]!;
  const session = apiClient(server.url, { cookie, 'x-csrf-token': login.json.csrf_token });
  const token = expectStatus(
    await session.call('POST', '/api/v1/tokens', { name: 'process-tests', role: 'admin' }),
    201,
    'admin token',
  );
  return { admin: apiClient(server.url, { authorization: `Bearer ${token.json.token}` }), session };
}

/** An API token with `role`, optionally scoped to one tenant, created in an administrator's `session`. */
export async function tokenFor(session: Api, role: string, tenantId?: string): Promise<Api> {
  const token = expectStatus(
    await session.call('POST', '/api/v1/tokens', {
      name: `${role}-${tenantId ?? 'all'}-${Date.now()}`,
      role,
      ...(tenantId ? { tenant_id: tenantId } : {}),
    }),
    201,
    `${role} token`,
  );
  return apiClient(session.base, { authorization: `Bearer ${token.json.token}` });
}

/** Reads a job until it finished (any final state); returns it. */
export async function waitForJobDone(api: Api, id: string, ms = 60_000): Promise<Job> {
  return waitFor(
    `job ${id} to finish`,
    async () => {
      const res = await api.call('GET', `/api/v1/jobs/${id}`);
      if (res.status !== 200) return undefined;
      const job = res.json as Job;
      return ['succeeded', 'failed', 'cancelled', 'expired'].includes(job.state) && job;
    },
    ms,
    50,
  );
}

// ------------------------------------------------------------------------------------------------------------
// A fleet, pushed through the API, and its exposure as the core engine judges it.

/**
 * `count` Exchange servers spread over `tenants` tenants (`t00`, `t01`, …): builds from every 2013/2016/2019 train
 * of the catalog (with and without the March 2021 security update KB5000871) and some builds the catalog does not
 * know, so every verdict occurs. Deterministic.
 */
export function exchangeFleet(count: number, tenants: number): Map<string, AssetFactsInput[]> {
  const builds: string[] = [];
  for (const catalog of loadBuiltinCatalogs())
    for (const train of catalog.trains) {
      if (!train.build.startsWith('15.')) continue;
      builds.push(train.build, ...train.updates.map((u) => u.build));
    }
  for (let n = 1; n <= 20; n++) builds.push(`15.1.2999.${n}`);
  const fleet = new Map<string, AssetFactsInput[]>();
  for (let i = 0; i < count; i++) {
    const tenant = `t${String(i % tenants).padStart(2, '0')}`;
    const build = builds[(i * 7919) % builds.length]!;
    const list = fleet.get(tenant) ?? [];
    list.push({
      id: `ex-${String(i).padStart(6, '0')}`,
      name: `EX${i}.${tenant}.example`,
      os: { product: 'microsoft:windows_server_2019', version: `10.0.17763.${1500 + (i % 3000)}` },
      products: [{ product: 'microsoft:exchange_server', version: build, name: 'Microsoft Exchange Server' }],
      installed_kbs: i % 3 === 0 ? ['KB5000871'] : [],
    });
    fleet.set(tenant, list);
  }
  return fleet;
}

/** Creates the fleet's tenants and pushes its assets in requests of `chunk`, `clients` at a time. */
export async function pushFleet(
  admin: Api,
  fleet: Map<string, AssetFactsInput[]>,
  options: { chunk?: number; clients?: number } = {},
): Promise<void> {
  const chunk = options.chunk ?? 1000;
  for (const tenant of fleet.keys())
    expectStatus(
      await admin.call('POST', '/api/v1/tenants', { id: tenant, name: `Tenant ${tenant}` }),
      201,
      `create tenant ${tenant}`,
    );
  const requests: { tenant: string; assets: AssetFactsInput[] }[] = [];
  for (const [tenant, assets] of fleet)
    for (let i = 0; i < assets.length; i += chunk)
      requests.push({ tenant, assets: assets.slice(i, i + chunk) });
  let next = 0;
  await Promise.all(
    Array.from({ length: options.clients ?? 3 }, async () => {
      while (next < requests.length) {
        const r = requests[next++]!;
        expectStatus(
          await admin.call(
            'POST',
            `/api/v1/tenants/${r.tenant}/assets`,
            { assets: r.assets },
            { timeoutMs: 120_000 },
          ),
          200,
          `push to ${r.tenant}`,
        );
      }
    }),
  );
}

export interface Counts {
  affected: number;
  unknown: number;
  fixed: number;
  not_affected: number;
}

export const emptyCounts = (): Counts => ({ affected: 0, unknown: 0, fixed: 0, not_affected: 0 });

/**
 * Assets by their worst verdict for `advisory`, in total and per tenant, as the core engine judges the fleet's facts
 * (tenants without any verdict left out) — what GET /api/v1/advisories/:id/exposure must answer.
 */
export function recount(
  advisory: Advisory,
  fleet: Map<string, AssetFactsInput[]>,
): { totals: Counts; byTenant: Map<string, Counts> } {
  const engine = new ExposureEngine([advisory], new CatalogIndex(loadBuiltinCatalogs()));
  const totals = emptyCounts();
  const byTenant = new Map<string, Counts>();
  for (const [tenant, assets] of fleet) {
    const counts = emptyCounts();
    for (const facts of assets) {
      let worst: Verdict | undefined;
      for (const v of engine.evaluate(assetFactsValidator.parse(facts)).verdicts) {
        if (v.advisory !== advisory.id) continue;
        if (!worst || CAUTION[v.verdict] > CAUTION[worst]) worst = v.verdict;
      }
      if (worst) {
        counts[worst]++;
        totals[worst]++;
      }
    }
    if (Object.values(counts).some((n) => n > 0)) byTenant.set(tenant, counts);
  }
  return { totals, byTenant };
}

/** The exposure answer's per-tenant counts as a map, for comparing with a recount. */
export function servedByTenant(body: { tenants: { tenant: string; counts: Counts }[] }): Map<string, Counts> {
  return new Map(body.tenants.map((t) => [t.tenant, { ...emptyCounts(), ...t.counts }]));
}

// ------------------------------------------------------------------------------------------------------------
// Server-Sent Events

export interface SseStream {
  status: number;
  events: (EventEnvelope & { receivedAt: number })[];
  ended: boolean;
  close(): void;
}

/** Opens GET /api/v1/events; resolves once the response headers arrived. */
export function openEventStream(base: string, headers: Record<string, string>): Promise<SseStream> {
  const url = new URL('/api/v1/events', base);
  return new Promise((resolvePromise, reject) => {
    const req = httpRequest(
      {
        host: url.hostname,
        port: url.port,
        path: url.pathname,
        headers: { accept: 'text/event-stream', ...headers },
      },
      (res) => {
        const stream: SseStream = {
          status: res.statusCode ?? 0,
          events: [],
          ended: false,
          close: () => req.destroy(),
        };
        let buffer = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => {
          buffer += chunk;
          for (let cut = buffer.indexOf('\n\n'); cut >= 0; cut = buffer.indexOf('\n\n')) {
            const block = buffer.slice(0, cut);
            buffer = buffer.slice(cut + 2);
            const data = block
              .split('\n')
              .filter((line) => line.startsWith('data: '))
              .map((line) => line.slice(6))
              .join('\n');
            if (data)
              stream.events.push({ ...(JSON.parse(data) as EventEnvelope), receivedAt: performance.now() });
          }
        });
        res.on('close', () => {
          stream.ended = true;
        });
        resolvePromise(stream);
      },
    );
    req.setTimeout(120_000, () => req.destroy());
    req.on('error', (err) => {
      if ((err as NodeJS.ErrnoException).code !== 'ECONNRESET') reject(err);
    });
    req.end();
  });
}
