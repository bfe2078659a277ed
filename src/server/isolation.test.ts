/**
 * Tenant isolation and access control across EVERY route, on SQLite and on PostgreSQL.
 *
 * The routes come from the running app (`server.routes`, collected by its onRoute hook), never from a list kept
 * here, so a new route is exercised the day it is added. Path parameters are filled by name with another tenant's
 * identifiers; a route with a path parameter this file does not know fails the test, so whoever adds it has to
 * say here what a foreign value for it is. Query strings and bodies come from the route's own schema (through
 * the OpenAPI description), filled with the other tenant's identifiers where a field names one.
 *
 * Tenant B ("zzb-globex") holds sites, assets with findings, a finding status change, a customer user and API
 * tokens whose names and ids carry marker strings. Principals of tenant A (a customer session, a customer token,
 * a technician token and an admin-role token scoped to A) call every route with B's identifiers; the answer must
 * be 401/403/404, must never contain a B marker the request did not itself carry, and must leave B's data (and
 * anything outside tenant A) exactly as it was. The live event stream is called over real HTTP (an injected
 * request cannot read a stream that stays open) and read for a moment; its answer gets the same checks.
 * Tenant A's event streams, live and caught up from the first event, carry none of B's events.
 */

import { generateKeyPairSync } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { enrollSigningBytes, publicKeyToRaw, signBytes } from '../api/agent-protocol.js';
import { type EventEnvelope, INSTALLATION_EVENT_TYPES_FOR_TENANTS } from '../api/events.js';
import { type Caller, openTestServer, sessionOf, type TestServer } from './app.testkit.js';
import { flushAudit } from './audit/log.js';
import type { RouteInfo } from './context.js';
import { TEST_DIALECTS } from './db/db.testkit.js';
import { openSse, sseOnce } from './sse-client.testkit.js';

const A = 'acme-iso';
const B = 'zzb-globex';
const B_NAME = 'ZZ-GLOBEX-SECRET';
const B_ASSETS = ['zzb-mail01', 'zzb-mail02'];
const B_SITE = 'zzb-site';
const B_CUSTOMER = { email: 'zzb-customer@globex-secret.example', name: 'ZZB-PERSON-SECRET' };
const CVE = 'CVE-2021-26855';
const ADVISORY = 'proxylogon-2021-03';
const PASSWORD = 'iso-test-password-1';
const EXCHANGE = 'microsoft:exchange_server';

/** Routes anyone may call. Every other route must answer 401 without credentials. */
const PUBLIC_ROUTES = new Set([
  'GET /health',
  'GET /ready',
  'GET /metrics',
  'GET /*',
  'GET /api/openapi.json',
  'POST /api/v1/setup',
  'POST /api/v1/session',
  // Agents enrol with an enrolment token, which names the tenant; no principal.
  'POST /api/v1/agents/enroll',
]);
/** Routes that answer with a stream kept open: called over real HTTP and read for a moment. */
const STREAM_ROUTES = new Set(['GET /api/v1/events']);
/** The Swagger UI plugin's own routes (static files of the readable docs). */
const isDocsRoute = (r: RouteInfo) => r.method === 'GET' && /^\/api\/docs(\/|$)/.test(r.url);

const KNOWN_ACCESS = new Set(['public', 'authenticated', 'read', 'write', 'admin']);
const SAFE = new Set(['GET', 'HEAD', 'OPTIONS']);
const DENIED = [401, 403, 404];

interface World {
  t: TestServer;
  /** B's identifiers that are not secret (an attacker may guess them) and B's secrets (names, emails, ids). */
  bIds: string[];
  bMarkers: string[];
  bUserId: string;
  bTokenIds: string[];
  /** A job of tenant B (queued; no worker runs its kind). */
  bJobId: string;
  /** Tenant B's enrolment token, enrolled agent and a queued agent job for it. */
  bAgentTokenId: string;
  bAgentId: string;
  bAgentJobId: string;
  customerAId: string;
  /** The tenant-A principals that probe every route. */
  probes: { name: string; caller: () => Caller; relogin?: () => Promise<void> }[];
  /** Principals per role, for the permission sweep. */
  roles: { name: string; role: string; caller: () => Caller }[];
  advisoryDoc: unknown;
}

const exchange = (id: string, version: string, name?: string) => ({
  id,
  ...(name ? { name } : {}),
  products: [{ product: EXCHANGE, version }],
});

async function ok(res: { statusCode: number; body: string }, status: number, what: string) {
  if (res.statusCode !== status) throw new Error(`${what}: ${res.statusCode} ${res.body}`);
  return JSON.parse(res.body || 'null');
}

async function buildWorld(t: TestServer): Promise<World> {
  const admin = t.admin;
  const call = t.call;
  for (const [id, name] of [
    [A, 'Acme Isolation'],
    [B, B_NAME],
  ] as const) {
    await ok(await call(admin, { method: 'POST', url: '/api/v1/tenants', payload: { id, name } }), 201, id);
  }
  await ok(
    await call(admin, {
      method: 'POST',
      url: `/api/v1/tenants/${A}/sites`,
      payload: { id: 'a-site', name: 'A site' },
    }),
    201,
    'site A',
  );
  await ok(
    await call(admin, {
      method: 'POST',
      url: `/api/v1/tenants/${B}/sites`,
      payload: { id: B_SITE, name: 'ZZB-SITE-SECRET' },
    }),
    201,
    'site B',
  );
  await ok(
    await call(admin, {
      method: 'POST',
      url: `/api/v1/tenants/${A}/assets?site=a-site`,
      payload: { assets: [exchange('a-mail01', '15.1.2176.2', 'A mail')] },
    }),
    200,
    'assets A',
  );
  await ok(
    await call(admin, {
      method: 'POST',
      url: `/api/v1/tenants/${B}/assets?site=${B_SITE}`,
      payload: {
        assets: [
          exchange(B_ASSETS[0]!, '15.1.2176.2', 'ZZB-ASSET-SECRET-1'), // affected by ProxyLogon
          exchange(B_ASSETS[1]!, '15.1.2176.9', 'ZZB-ASSET-SECRET-2'), // fixed
        ],
      },
    }),
    200,
    'assets B',
  );
  for (const [tenant, asset, reason] of [
    [A, 'a-mail01', 'A reason'],
    [B, B_ASSETS[0]!, 'ZZB-REASON-SECRET'],
  ] as const) {
    await ok(
      await call(admin, {
        method: 'PATCH',
        url: `/api/v1/tenants/${tenant}/assets/${asset}/findings/${CVE}`,
        payload: { status: 'acknowledged', reason },
      }),
      200,
      `status ${tenant}`,
    );
  }

  // People: a customer of each tenant, operators of each role.
  const createUser = async (email: string, name: string, role: string, tenant_id?: string) =>
    (
      await ok(
        await call(admin, {
          method: 'POST',
          url: '/api/v1/users',
          payload: { email, name, role, password: PASSWORD, ...(tenant_id ? { tenant_id } : {}) },
        }),
        201,
        `user ${email}`,
      )
    ).id as string;
  const customerAId = await createUser('customer-a@acme.example', 'Customer A', 'customer', A);
  const bUserId = await createUser(B_CUSTOMER.email, B_CUSTOMER.name, 'customer', B);
  await createUser('tech@msp.example', 'Tech', 'technician');
  await createUser('ro@msp.example', 'Read Only', 'read_only');

  let customerA = await sessionOf(t.app, 'customer-a@acme.example', PASSWORD);
  const customerB = await sessionOf(t.app, B_CUSTOMER.email, PASSWORD);
  const tech = await sessionOf(t.app, 'tech@msp.example', PASSWORD);
  const readOnly = await sessionOf(t.app, 'ro@msp.example', PASSWORD);

  const mint = async (by: Caller, payload: object) => {
    const body = await ok(await call(by, { method: 'POST', url: '/api/v1/tokens', payload }), 201, 'token');
    return { caller: { headers: { authorization: `Bearer ${body.token}` } }, id: body.info.id as string };
  };
  const customerAToken = await mint(customerA, { name: 'A customer token' });
  const techTokenA = await mint(admin, { name: 'A tech token', role: 'technician', tenant_id: A });
  const adminTokenA = await mint(admin, { name: 'A admin token', role: 'admin', tenant_id: A });
  const bToken = await mint(admin, { name: 'ZZB-TOKEN-SECRET', role: 'technician', tenant_id: B });
  const bCustomerToken = await mint(customerB, { name: 'ZZB-CUSTOMER-TOKEN-SECRET' });
  const techToken = await mint(tech, { name: 'tech token' });
  const readOnlyToken = await mint(readOnly, { name: 'ro token' });

  const advisoryDoc = await ok(
    await call(admin, { method: 'GET', url: `/api/v1/advisories/${ADVISORY}` }),
    200,
    'advisory',
  );

  const bJob = await t.ctx.jobs.queue.enqueue(t.db.kysely, {
    kind: 'iso.probe',
    tenantId: B,
    params: { asset: B_ASSETS[0] },
    createdBy: 'user:admin',
  });

  // Response state of both tenants: an observation and a hunt report each, B's evidence carrying a marker.
  for (const [tenant, asset, text] of [
    [A, 'a-mail01', 'A evidence'],
    [B, B_ASSETS[0]!, 'ZZB-EVIDENCE-SECRET'],
  ] as const) {
    await ok(
      await call(admin, {
        method: 'POST',
        url: `/api/v1/tenants/${tenant}/observations`,
        payload: {
          observations: [
            {
              asset_id: asset,
              advisory_id: ADVISORY,
              kind: 'shield',
              value: 'shielded',
              source: 'scan',
              observed_at: '2026-01-01T00:00:00Z',
              summary: { text },
            },
          ],
        },
      }),
      200,
      `observation ${tenant}`,
    );
    await ok(
      await call(admin, {
        method: 'POST',
        url: `/api/v1/tenants/${tenant}/hunt-reports`,
        payload: {
          advisory_id: ADVISORY,
          reports: [
            {
              host: asset,
              verdict: 'compromised',
              window: { from: '2026-01-01T00:00:00Z', to: '2026-01-02T00:00:00Z' },
              summary: { text },
            },
          ],
        },
      }),
      200,
      `hunt report ${tenant}`,
    );
  }

  // An agent of B: enrolled with B's token, with a queued job.
  const bAgentToken = await ok(
    await call(admin, {
      method: 'POST',
      url: `/api/v1/tenants/${B}/agent-tokens`,
      payload: { note: 'ZZB-NOTE-SECRET' },
    }),
    201,
    'agent token',
  );
  const agentKey = generateKeyPairSync('ed25519');
  const agentRaw = publicKeyToRaw(agentKey.publicKey);
  const bAgent = await ok(
    await call(undefined, {
      method: 'POST',
      url: '/api/v1/agents/enroll',
      payload: {
        token: bAgentToken.token,
        public_key: agentRaw,
        proof: signBytes(agentKey.privateKey, enrollSigningBytes(bAgentToken.id, agentRaw)),
        hostname: 'zzb-agent-host-secret',
        version: '0.1.0',
      },
    }),
    201,
    'enrol',
  );
  const bAgentJob = await ok(
    await call(admin, {
      method: 'POST',
      url: `/api/v1/tenants/${B}/agent-jobs`,
      payload: { kind: 'inventory', agents: [bAgent.agent_id] },
    }),
    202,
    'agent job',
  );

  const bIds = [B, ...B_ASSETS, B_SITE, bJob.id, bAgentToken.id, bAgent.agent_id, bAgentJob.jobs[0].id];
  return {
    t,
    bIds,
    bMarkers: [
      ...bIds,
      B_NAME,
      'ZZB-SITE-SECRET',
      'ZZB-ASSET-SECRET',
      'ZZB-REASON-SECRET',
      'ZZB-EVIDENCE-SECRET',
      'ZZB-TOKEN-SECRET',
      'ZZB-CUSTOMER-TOKEN-SECRET',
      'ZZB-NOTE-SECRET',
      'zzb-agent-host-secret',
      B_CUSTOMER.email,
      B_CUSTOMER.name,
      bUserId,
      bToken.id,
      bCustomerToken.id,
    ],
    bUserId,
    bTokenIds: [bToken.id, bCustomerToken.id],
    bJobId: bJob.id,
    bAgentTokenId: bAgentToken.id,
    bAgentId: bAgent.agent_id,
    bAgentJobId: bAgentJob.jobs[0].id,
    customerAId,
    probes: [
      {
        name: 'customer of A (session)',
        caller: () => customerA,
        relogin: async () => {
          customerA = await sessionOf(t.app, 'customer-a@acme.example', PASSWORD);
        },
      },
      { name: 'customer of A (API token)', caller: () => customerAToken.caller },
      { name: 'technician token scoped to A', caller: () => techTokenA.caller },
      { name: 'admin-role token scoped to A', caller: () => adminTokenA.caller },
    ],
    roles: [
      { name: 'customer session', role: 'customer', caller: () => customerA },
      { name: 'customer token', role: 'customer', caller: () => customerAToken.caller },
      { name: 'read_only session', role: 'read_only', caller: () => readOnly },
      { name: 'read_only token', role: 'read_only', caller: () => readOnlyToken.caller },
      { name: 'technician session', role: 'technician', caller: () => tech },
      { name: 'technician token', role: 'technician', caller: () => techToken.caller },
    ],
    advisoryDoc,
  };
}

// Filling requests

type Schema = {
  type?: string | string[];
  properties?: Record<string, Schema>;
  items?: Schema;
  anyOf?: Schema[];
  oneOf?: Schema[];
  enum?: unknown[];
  const?: unknown;
  minimum?: number;
  required?: string[];
};

interface OpenApiOperation {
  parameters?: { in: string; name: string; schema?: Schema }[];
  requestBody?: { content?: Record<string, { schema?: Schema }> };
}

/**
 * A value for every field a request schema can have (only the required ones at the top level when `minimal`),
 * by the field's name; the rest by type.
 */
function sample(
  schema: Schema,
  key: string | undefined,
  values: Record<string, unknown>,
  depth = 0,
  minimal = false,
): unknown {
  if (depth > 8) return undefined;
  if (key !== undefined && key in values) return values[key];
  if (schema.const !== undefined) return schema.const;
  if (Array.isArray(schema.enum)) return schema.enum[0];
  const options = schema.anyOf ?? schema.oneOf;
  if (options?.length) {
    const pick = options.find((o) => o.type !== 'null') ?? options[0]!;
    return sample(pick, key, values, depth + 1);
  }
  const type = Array.isArray(schema.type) ? schema.type.find((x) => x !== 'null') : schema.type;
  switch (type) {
    case 'object': {
      const out: Record<string, unknown> = {};
      for (const [k, s] of Object.entries(schema.properties ?? {})) {
        if (minimal && !schema.required?.includes(k)) continue;
        out[k] = sample(s, k, values, depth + 1);
      }
      return out;
    }
    case 'array':
      return schema.items ? [sample(schema.items, undefined, values, depth + 1)] : [];
    case 'integer':
    case 'number':
      return schema.minimum ?? 1;
    case 'boolean':
      return true;
    default:
      return 'iso-probe';
  }
}

/** Field values that point at tenant B (or try to escalate), used in query strings and bodies. */
function foreignValues(own: { tenant: string; asset: string }) {
  return {
    tenant_id: B,
    tenant: own.tenant,
    id: own.asset,
    asset: B_ASSETS[0],
    site: B_SITE,
    q: 'zzb',
    // Bulk findings filter: text that names B's assets, over A's tenant (it must select none of B's findings).
    asset_q: 'zzb',
    cve: CVE,
    advisory: ADVISORY,
    product: EXCHANGE,
    version: '15.1.2176.2',
    verdict: 'affected',
    status: 'accepted_risk',
    reason: 'iso probe',
    role: 'admin',
    disabled: true,
    email: 'iso-probe@probe.example',
    password: 'iso-probe-password',
    current_password: 'iso-probe-password',
    new_password: 'iso-probe-password-new',
    code: '000000',
    token: 'iso-probe-token',
    name: 'iso-probe',
    expires_in_days: 1,
    limit: 1000,
    offset: 0,
    after: 0,
    source: 'iso-probe',
    // Fields with formats this file does not try to satisfy are left out.
    sort: undefined,
    format: undefined,
    expect_head: undefined,
    // A bulk filter's `all: true` excludes the other criteria, which the probe fills to point at B.
    all: undefined,
    os: undefined,
    installed_kbs: [],
    endpoints: [],
    tags: [],
    products: [{ product: EXCHANGE, version: '15.1.2176.2' }],
    assets: [{ ...exchange(own.asset, '15.1.2176.2'), tenant: own.tenant }],
    // Response state: observations and hunt reports about B's asset.
    asset_id: B_ASSETS[0],
    advisory_id: ADVISORY,
    observed_at: '2026-01-02T00:00:00Z',
    from: '2026-01-01T00:00:00Z',
    to: '2026-01-02T00:00:00Z',
    host: B_ASSETS[0],
    addresses: [B_ASSETS[0]],
    cursor: undefined,
  };
}

/** What a path parameter is filled with: tenant B's identifier of that kind. */
function pathValue(w: World, route: RouteInfo, name: string, variant: 'foreign' | 'own-tenant'): string {
  const segments = route.url.split('/');
  const before = segments[segments.indexOf(`:${name}`) - 1];
  switch (name) {
    case 'tenant':
      return variant === 'own-tenant' ? A : B;
    case 'asset':
      return B_ASSETS[0]!;
    case 'cve':
      return CVE;
    case 'advisory':
      return ADVISORY; // shared by every tenant; B has findings and observations for it
    case 'id':
      if (before === 'users') return w.bUserId;
      if (before === 'tokens') return w.bTokenIds[0]!;
      if (before === 'advisories') return ADVISORY; // shared by every tenant; B has findings for it
      if (before === 'jobs') return w.bJobId;
      break;
    case 'agent':
      return w.bAgentId;
    case 'token':
      if (before === 'agent-tokens') return w.bAgentTokenId;
      break;
    case 'job':
      if (before === 'agent-jobs') return w.bAgentJobId;
      break;
    case '*':
      return 'index.html';
  }
  throw new Error(
    `isolation.test.ts does not know how to fill :${name} in ${route.method} ${route.url}. ` +
      'Teach pathValue() what a value of another tenant looks like for it, so the new route is checked too.',
  );
}

function fill(w: World, route: RouteInfo, variant: 'foreign' | 'own-tenant') {
  let foreignInPath = false;
  const url = route.url.replace(/:(\w+)|\*/g, (_m, name: string | undefined) => {
    const key = name ?? '*';
    const value = pathValue(w, route, key, variant);
    if (w.bIds.includes(value) || value === w.bUserId || w.bTokenIds.includes(value)) foreignInPath = true;
    return encodeURIComponent(value);
  });
  return { url, foreignInPath };
}

function operation(doc: { paths: Record<string, Record<string, OpenApiOperation>> }, route: RouteInfo) {
  const path = route.url.replace(/:(\w+)/g, '{$1}');
  return doc.paths[path]?.[route.method.toLowerCase()];
}

interface Probe {
  method: string;
  url: string;
  payload?: unknown;
  foreignInPath: boolean;
  label: string;
  /** The query names a parameter the route does not declare: refused as a 400 before any data is read. */
  undeclaredQuery?: boolean;
}

/** The requests to send to one route: B's ids in the path, then also in the query, then A's tenant with B refs. */
function probesFor(
  w: World,
  route: RouteInfo,
  doc: { paths: Record<string, Record<string, OpenApiOperation>> },
): Probe[] {
  const op = operation(doc, route);
  const hasTenant = route.url.includes(':tenant');
  const creates = route.method === 'POST' || route.method === 'PUT';
  const variants: ('foreign' | 'own-tenant')[] = hasTenant ? ['foreign', 'own-tenant'] : ['foreign'];
  const out: Probe[] = [];
  for (const variant of variants) {
    const { url, foreignInPath: fip } = fill(w, route, variant);
    // A's own tenant with a new asset id for the routes that create; with B's asset id for the rest.
    const ownAsset = variant === 'own-tenant' && creates ? 'a-probe' : B_ASSETS[0]!;
    const path =
      variant === 'own-tenant' && creates ? url.replace(encodeURIComponent(B_ASSETS[0]!), ownAsset) : url;
    const foreignInPath = variant === 'own-tenant' && creates ? false : fip;
    const values: Record<string, unknown> = {
      ...foreignValues({ tenant: variant === 'own-tenant' ? A : B, asset: ownAsset }),
      // Agent jobs name B's agent (in a body's agent list and the list filter).
      agents: [w.bAgentId],
      agent: w.bAgentId,
    };
    // Every field filled (B's ids where a field names one), and only the required ones: an optional field
    // (tenant_id) can be what makes a request fail for another reason than the scope.
    const payloads: unknown[] = [undefined];
    if (!SAFE.has(route.method)) {
      const bodySchema = op?.requestBody?.content?.['application/json']?.schema;
      if (route.url === '/api/v1/advisories/import') {
        // The import reads any advisory format, so its schema says nothing; re-import a real document.
        payloads[0] = { ...(w.advisoryDoc as object), title: 'iso probe re-import' };
      } else if (bodySchema) {
        payloads[0] = sample(bodySchema, undefined, values);
        const minimal = sample(bodySchema, undefined, values, 0, true);
        if (JSON.stringify(minimal) !== JSON.stringify(payloads[0])) payloads.push(minimal);
      } else {
        payloads[0] = {};
      }
    }
    const query = new URLSearchParams();
    for (const p of op?.parameters ?? []) {
      if (p.in !== 'query') continue;
      const v = sample(p.schema ?? {}, p.name, values);
      if (v !== undefined) query.set(p.name, String(v));
    }
    const undeclaredQuery = !query.has('tenant');
    if (undeclaredQuery) query.set('tenant', B);
    payloads.forEach((payload, i) => {
      const body = i === 0 ? '' : ', required fields only';
      out.push({ method: route.method, url: path, payload, foreignInPath, label: `${variant}${body}` });
      out.push({
        method: route.method,
        url: `${path}?${query}`,
        payload,
        foreignInPath,
        label: `${variant} + query${body}`,
        undeclaredQuery,
      });
    });
  }
  return out;
}

// What must not change

async function snapshot(w: World): Promise<string> {
  const k = w.t.db.kysely;
  // Audit records are chained in the background; chain what is pending first, so a record of an earlier request
  // chained during this one does not read as a change made by it.
  await flushAudit(k);
  const strip = (row: Record<string, unknown>) => {
    const { last_used_at: _u, last_seen_at: _s, ...rest } = row;
    // The probing customer's own two-factor state is its own business (self-service routes).
    if (rest.id === w.customerAId) {
      delete rest.totp_secret;
      delete rest.totp_last_step;
    }
    return JSON.stringify(rest, (_k, v) => (typeof v === 'bigint' ? Number(v) : v));
  };
  const out: Record<string, string[]> = {};
  const tenantTables = [
    'sites',
    'assets',
    'asset_products',
    'findings',
    'asset_exposure',
    'exposure_counts',
    'finding_events',
    'observations',
    'asset_response',
    'audit_log',
    'jobs',
    'agent_tokens',
    'agents',
    'agent_certificates',
    'agent_jobs',
  ] as const;
  for (const table of tenantTables) {
    const rows = await k.selectFrom(table).selectAll().execute();
    // Every row of B, and any row elsewhere that mentions B (a cross-tenant reference).
    out[table] = rows
      .map((r) => strip(r as Record<string, unknown>))
      .filter((s) => s.includes(`"tenant_id":"${B}"`) || w.bIds.some((id) => s.includes(id)))
      .sort();
  }
  out.tenants = (await k.selectFrom('tenants').selectAll().execute())
    .filter((r) => r.id !== A)
    .map((r) => strip(r))
    .sort();
  out.users = (await k.selectFrom('users').selectAll().execute()).map((r) => strip(r)).sort();
  // Tokens other than A's own (A may mint tokens for itself; they are scoped to A).
  out.api_tokens = (await k.selectFrom('api_tokens').selectAll().execute())
    .filter((r) => r.tenant_id !== A)
    .map((r) => strip(r))
    .sort();
  out.advisories = (await k.selectFrom('advisories').select(['id', 'document_hash']).execute())
    .map((r) => strip(r))
    .sort();
  out.installation = (await k.selectFrom('installation').selectAll().execute()).map((r) => strip(r));
  return JSON.stringify(out, null, 1);
}

function leaked(w: World, response: string, request: string): string[] {
  return w.bMarkers.filter((m) => response.includes(m) && !request.includes(m));
}

/** What an event stream a tenant-A principal received must not hold: B's events or B's markers. */
function foreignEvents(w: World, events: EventEnvelope[], body: string): string[] {
  const wrong = events
    .filter((e) =>
      e.tenant_id === null ? !INSTALLATION_EVENT_TYPES_FOR_TENANTS.includes(e.type) : e.tenant_id !== A,
    )
    .map((e) => `${e.seq} ${e.type} ${e.tenant_id} ${e.subject}`);
  return [...wrong, ...leaked(w, body, '')];
}

const sawMarkerOf = (r: { events: EventEnvelope[] }) =>
  r.events.some((e) => e.type === 'asset.changed' && e.subject === 'asset:a-sse-marker');

describe.each(TEST_DIALECTS)('tenant isolation and access on every route (%s)', (dialect) => {
  let w: World | undefined;
  let doc: { paths: Record<string, Record<string, OpenApiOperation>> };
  let port = 0;
  beforeAll(async () => {
    const t = await openTestServer(dialect, { login_rate_limit: { max: 10_000, window_seconds: 60 } });
    if (!t) return;
    w = await buildWorld(t);
    doc = (await t.app.inject({ method: 'GET', url: '/api/openapi.json' })).json();
    await t.app.listen({ host: '127.0.0.1', port: 0 });
    port = (t.app.server.address() as AddressInfo).port;
  }, 120_000);
  /** One request as `caller`; stream routes over real HTTP, read for a moment. */
  const send = async (
    t: TestServer,
    caller: Caller,
    route: RouteInfo,
    p: { method: string; url: string; payload?: unknown },
  ): Promise<{ statusCode: number; body: string }> => {
    if (STREAM_ROUTES.has(`${route.method} ${route.url}`)) {
      const read = await sseOnce(port, p.url, caller.headers);
      return { statusCode: read.status, body: read.body };
    }
    return t.call(caller, {
      method: p.method as 'GET',
      url: p.url,
      ...(p.payload !== undefined ? { payload: p.payload as object } : {}),
    });
  };
  afterAll(async () => {
    await w?.t.dispose();
  });
  const world = (ctx: { skip: () => void }) => {
    if (!w) ctx.skip();
    return w!;
  };

  it('enumerates the routes from the app, every one with a known access level, public ones listed', (ctx) => {
    const { t } = world(ctx);
    expect(t.routes.length).toBeGreaterThan(25);
    expect(t.routes.some((r) => r.url === '/api/v1/findings')).toBe(true);
    for (const r of t.routes) {
      expect(KNOWN_ACCESS.has(r.access), `${r.method} ${r.url}: access ${r.access}`).toBe(true);
      if (r.access === 'public') {
        // A route that forgets `config.access` is public; only the ones meant to be may be.
        expect(
          PUBLIC_ROUTES.has(`${r.method} ${r.url}`) || isDocsRoute(r),
          `${r.method} ${r.url} is public but not meant to be (set config.access)`,
        ).toBe(true);
      }
    }
  });

  it('fails loudly for a path parameter it cannot fill', (ctx) => {
    const cur = world(ctx);
    const route = { method: 'GET', url: '/api/v1/widgets/:widget', access: 'read' as const };
    expect(() => fill(cur, route, 'foreign')).toThrow(/does not know how to fill :widget/);
    const unknownId = { method: 'DELETE', url: '/api/v1/gadgets/:id', access: 'write' as const };
    expect(() => fill(cur, unknownId, 'foreign')).toThrow(/:id in DELETE \/api\/v1\/gadgets\/:id/);
  });

  it('answers 401 to anonymous callers and to bad credentials on every non-public route', async (ctx) => {
    const cur = world(ctx);
    const bad: (Caller | undefined)[] = [
      undefined,
      { headers: { authorization: 'Bearer bwk_AAAAAAAAAAAA_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA' } },
      { headers: { authorization: 'Basic YWRtaW46YWRtaW4=' } },
      { headers: { cookie: 'bulwark_session=forged-session-id', 'x-csrf-token': 'x' } },
    ];
    let checked = 0;
    for (const route of cur.t.routes) {
      if (route.access === 'public') continue;
      const { url } = fill(cur, route, 'foreign');
      for (const caller of bad) {
        const res = await cur.t.call(caller, {
          method: route.method as 'GET',
          url,
          ...(SAFE.has(route.method) ? {} : { payload: {} }),
        });
        expect(res.statusCode, `${route.method} ${route.url} as ${JSON.stringify(caller)}`).toBe(401);
        checked++;
      }
    }
    expect(checked).toBeGreaterThan(50);
  });

  it('refuses write and admin routes to customers and read-only operators, admin routes to technicians', async (ctx) => {
    const cur = world(ctx);
    let checked = 0;
    for (const route of cur.t.routes) {
      if (route.access !== 'write' && route.access !== 'admin') continue;
      // Own tenant in the path: the refusal must come from the role, not from the tenant scope.
      const { url } = fill(cur, route, 'own-tenant');
      for (const who of cur.roles) {
        const expected = who.role !== 'technician' || route.access === 'admin';
        if (!expected) continue;
        const res = await cur.t.call(who.caller(), {
          method: route.method as 'GET',
          url,
          ...(SAFE.has(route.method) ? {} : { payload: {} }),
        });
        expect(res.statusCode, `${route.method} ${route.url} as ${who.name}: ${res.body}`).toBe(403);
        checked++;
      }
    }
    expect(checked).toBeGreaterThan(20);
  });

  it("never shows or changes tenant B's data to tenant A's principals, on any route", async (ctx) => {
    const cur = world(ctx);
    let before = await snapshot(cur);
    const failures: string[] = [];
    let requests = 0;
    for (const probe of cur.probes) {
      for (const route of cur.t.routes) {
        for (const p of probesFor(cur, route, doc)) {
          const res = await send(cur.t, probe.caller(), route, p);
          requests++;
          const where = `${probe.name}: ${p.method} ${p.url} [${p.label}] -> ${res.statusCode}`;
          const denied = p.undeclaredQuery ? [...DENIED, 400] : DENIED;
          if (p.foreignInPath && !denied.includes(res.statusCode)) {
            failures.push(`${where}: B's identifier in the path must give 401/403/404; got ${res.body}`);
          }
          const leaks = leaked(cur, res.body, `${p.url} ${JSON.stringify(p.payload ?? '')}`);
          if (leaks.length) failures.push(`${where}: response shows ${leaks.join(', ')}: ${res.body}`);
          if (res.statusCode >= 500) failures.push(`${where}: ${res.body}`);
          if (!SAFE.has(p.method)) {
            const after = await snapshot(cur);
            if (after !== before) {
              const was = JSON.parse(before) as Record<string, string[]>;
              const now = JSON.parse(after) as Record<string, string[]>;
              const changed = Object.keys(now).filter(
                (key) => JSON.stringify(now[key]) !== JSON.stringify(was[key]),
              );
              failures.push(`${where}: changed data outside tenant A (${changed.join(', ')})`);
              before = after; // report each change once
            }
          }
          // Signing out ends the probing session; sign in again for the next request.
          if (p.method === 'DELETE' && route.url === '/api/v1/session') await probe.relogin?.();
        }
      }
    }
    expect(requests).toBeGreaterThan(200);
    expect(failures).toEqual([]);
  }, 300_000);

  it('counts only their own tenant in fleet-wide answers', async (ctx) => {
    const cur = world(ctx);
    // What A alone holds, as the administrator sees it.
    const full = (
      await cur.t.call(cur.t.admin, { method: 'GET', url: `/api/v1/advisories/${ADVISORY}/exposure` })
    ).json();
    const aCounts = full.tenants.find((x: { tenant: string }) => x.tenant === A).counts;
    expect(full.tenants.map((x: { tenant: string }) => x.tenant)).toContain(B);
    const aFindings = (
      await cur.t.call(cur.t.admin, { method: 'GET', url: `/api/v1/findings?tenant=${A}&limit=1` })
    ).json().total;
    for (const probe of cur.probes) {
      const exp = await cur.t.call(probe.caller(), {
        method: 'GET',
        url: `/api/v1/advisories/${ADVISORY}/exposure`,
      });
      expect(exp.statusCode).toBe(200);
      expect(exp.json(), probe.name).toEqual({
        advisory: ADVISORY,
        totals: aCounts,
        tenants: [{ tenant: A, counts: aCounts }],
      });
      const findings = await cur.t.call(probe.caller(), { method: 'GET', url: '/api/v1/findings' });
      expect(findings.json().total, probe.name).toBe(aFindings);
      expect(
        new Set(findings.json().items.map((f: { tenant_id: string }) => f.tenant_id)),
        probe.name,
      ).toEqual(new Set([A]));
      const board = await cur.t.call(probe.caller(), {
        method: 'GET',
        url: `/api/v1/advisories/${ADVISORY}/board`,
      });
      expect(board.statusCode, probe.name).toBe(200);
      expect(board.json().tenants.items, probe.name).toEqual([
        { tenant_id: A, name: 'Acme Isolation', counts: board.json().totals },
      ]);
      const aBoard = await cur.t.call(cur.t.admin, {
        method: 'GET',
        url: `/api/v1/advisories/${ADVISORY}/board?q=${A}`,
      });
      expect(board.json().totals, probe.name).toEqual(aBoard.json().tenants.items[0].counts);
      expect(board.json().totals, probe.name).toMatchObject({ compromised: 1, shielded: 1 });
      const tenants = await cur.t.call(probe.caller(), { method: 'GET', url: '/api/v1/tenants' });
      expect(tenants.json(), probe.name).toMatchObject({ total: 1, items: [{ id: A }] });
    }
    // The administrator, who sees every tenant, does see B: the markers are really there to be found.
    const all = await cur.t.call(cur.t.admin, { method: 'GET', url: '/api/v1/findings?limit=1000' });
    expect(all.body).toContain(B);
    const users = await cur.t.call(cur.t.admin, { method: 'GET', url: '/api/v1/users' });
    expect(users.body).toContain(B_CUSTOMER.email);
  });

  it("streams tenant A's principals none of B's events, live or caught up from Last-Event-ID 0", async (ctx) => {
    const cur = world(ctx);
    const { t } = cur;
    const streams = await Promise.all(
      cur.probes.map(async (probe) => ({
        name: probe.name,
        live: await openSse(port, '/api/v1/events', probe.caller().headers),
      })),
    );
    const closeAll = () => {
      for (const s of streams) s.live.close();
    };
    try {
      for (const s of streams) expect(s.live.status, s.name).toBe(200);
      // Real writes for B while A's streams are open: a push (assets and findings), a status change, a new site,
      // a rename.
      await ok(
        await t.call(t.admin, {
          method: 'POST',
          url: `/api/v1/tenants/${B}/assets`,
          payload: { assets: [exchange('zzb-mail03', '15.1.2176.2', 'ZZB-ASSET-SECRET-3')] },
        }),
        200,
        'push B',
      );
      await ok(
        await t.call(t.admin, {
          method: 'PATCH',
          url: `/api/v1/tenants/${B}/assets/zzb-mail03/findings/${CVE}`,
          payload: { status: 'accepted_risk', reason: 'ZZB-REASON-SECRET' },
        }),
        200,
        'status B',
      );
      await ok(
        await t.call(t.admin, {
          method: 'POST',
          url: `/api/v1/tenants/${B}/sites`,
          payload: { id: 'zzb-site-2', name: 'ZZB-SITE-SECRET-2' },
        }),
        201,
        'site B',
      );
      await ok(
        await t.call(t.admin, { method: 'PATCH', url: `/api/v1/tenants/${B}`, payload: { name: B_NAME } }),
        200,
        'rename B',
      );
      // Then one write for A: once a stream has it, it has had its chance to carry B's events before it.
      await ok(
        await t.call(t.admin, {
          method: 'POST',
          url: `/api/v1/tenants/${A}/assets`,
          payload: { assets: [exchange('a-sse-marker', '15.1.2176.2')] },
        }),
        200,
        'push A',
      );
      for (const s of streams) {
        const got = await s.live.until(sawMarkerOf, 10_000);
        expect(foreignEvents(cur, got.events, got.body), `${s.name} (live)`).toEqual([]);
        expect(
          got.events.some((e) => e.type === 'findings.changed' && e.tenant_id === A),
          s.name,
        ).toBe(true);
      }
    } finally {
      closeAll();
    }

    // Caught up from the first event: every write of the world, A's and B's, is in the table.
    for (const probe of cur.probes) {
      const replay = await openSse(port, '/api/v1/events', {
        ...probe.caller().headers,
        'last-event-id': '0',
      });
      try {
        expect(replay.status, probe.name).toBe(200);
        const got = await replay.until(sawMarkerOf, 10_000);
        expect(foreignEvents(cur, got.events, got.body), `${probe.name} (Last-Event-ID 0)`).toEqual([]);
        expect(got.events.some((e) => e.type === 'tenant.changed' && e.tenant_id === A)).toBe(true);
      } finally {
        replay.close();
      }
    }
    // The administrator's stream does carry B's events: they are there to be withheld.
    const all = await openSse(port, '/api/v1/events?after=0', t.admin.headers);
    try {
      const got = await all.until(sawMarkerOf, 10_000);
      expect(got.events.some((e) => e.tenant_id === B && e.type === 'asset.changed')).toBe(true);
      expect(got.events.some((e) => e.tenant_id === B && e.type === 'findings.changed')).toBe(true);
      expect(got.events.some((e) => e.tenant_id === B && e.type === 'tenant.changed')).toBe(true);
    } finally {
      all.close();
    }
  }, 60_000);
});
