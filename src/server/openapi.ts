/**
 * The OpenAPI 3.1 document at /api/openapi.json, as generated clients and Swagger UI (/api/docs) need it:
 *
 * - who may call each operation, as security requirements: an API token (`bearer`), or the session cookie
 *   (`session`) — and, for requests that change something, the session's CSRF token in the X-CSRF-Token header
 *   (`csrf`), so Swagger UI's "Authorize" sends the header and a generated client knows it exists;
 * - every error an operation can answer, with the one error shape ({error, message, details?});
 * - a description for every response instead of "Default Response", and the media types of bodies that are not
 *   JSON (Prometheus text, advisory documents in YAML or XML).
 *
 * Only the document changes here (@fastify/swagger's `transform`): validation and serialisation still use each
 * route's own schema.
 */
import type { SwaggerOptions } from '@fastify/swagger';
import { Type } from '@sinclair/typebox';
import type { FastifySchema } from 'fastify';
import { ErrorBody } from '../api/index.js';
import type { Access } from './context.js';

/** The names the document gives the three credentials. */
export const SECURITY = { bearer: 'bearer', session: 'session', csrf: 'csrf' } as const;

const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

const DESCRIPTIONS: Record<string, string> = {
  200: 'Success',
  201: 'Created',
  204: 'Done; no content',
  400: 'Invalid request: the message names the field at fault and what it must be',
  401: 'No valid credentials: sign in (session cookie) or send an API token (Authorization: Bearer bwk_…)',
  403: 'Your role or tenant scope may not do this, or a session request lacks the X-CSRF-Token header',
  404: 'Does not exist, or is outside your tenant scope (the two answer alike)',
  409: 'Conflicts with what is stored',
  413: 'The body is larger than this route accepts',
  415: 'The Content-Type is not one this route reads',
  429: 'Rate-limited: retry after the time the message gives',
  503: 'Not ready',
};

/** Bodies that are not a JSON schema the route validates, documented here so clients know what to send. */
const DOCUMENTED_BODIES: Record<string, FastifySchema['body']> = {
  'POST /api/v1/advisories/import': {
    content: {
      'application/json': {
        schema: Type.Object(
          {},
          {
            additionalProperties: true,
            description: 'CISA KEV, CVE JSON 5, CSAF 2.0, OSV or a Bulwark advisory',
          },
        ),
      },
      'application/yaml': { schema: Type.String({ description: 'a Bulwark advisory in YAML' }) },
      'application/xml': { schema: Type.String({ description: 'an MSRC CVRF document' }) },
    },
  },
};

const DOCUMENTED_RESPONSES: Record<string, Record<string, unknown>> = {
  'GET /metrics': {
    200: {
      description: 'Prometheus text exposition format',
      content: { 'text/plain': { schema: Type.String() } },
    },
    401: ErrorBody,
    403: ErrorBody,
  },
};

export function openapiOptions(info: {
  version: string;
  sessionCookie: string;
  csrfHeader: string;
}): SwaggerOptions {
  return {
    openapi: {
      openapi: '3.1.0',
      info: {
        title: 'Bulwark control plane API',
        version: info.version,
        description:
          'Tenants, assets and their facts, advisories, findings and fleet-wide exposure. Authenticate with an API ' +
          `token (Authorization: Bearer bwk_…), or sign in with POST /api/v1/session: the answer sets the ` +
          `${info.sessionCookie} cookie and carries \`csrf_token\` in its body; every request that changes something ` +
          `then also sends it in the ${info.csrfHeader} header. In this page: sign in with "Try it out", then ` +
          '"Authorize" the csrf scheme with that token.',
      },
      components: {
        securitySchemes: {
          [SECURITY.bearer]: {
            type: 'http',
            scheme: 'bearer',
            description: 'An API token (bwk_…) from POST /api/v1/tokens',
          },
          [SECURITY.session]: {
            type: 'apiKey',
            in: 'cookie',
            name: info.sessionCookie,
            description: 'The session cookie POST /api/v1/session sets (HttpOnly: the browser sends it)',
          },
          [SECURITY.csrf]: {
            type: 'apiKey',
            in: 'header',
            name: info.csrfHeader,
            description:
              'With the session cookie, requests that change something (POST, PUT, PATCH, DELETE) send the ' +
              '`csrf_token` from the sign-in answer (or GET /api/v1/me) in this header. Not needed with a bearer token.',
          },
        },
      },
      security: [{ [SECURITY.bearer]: [] }, { [SECURITY.session]: [] }],
    },
    transform: ({ schema, url, route }) => ({
      schema: documentedSchema(schema, route.method, url, route.config?.access ?? 'authenticated') as never,
      url,
    }),
  };
}

/** The route's schema as the document shows it: security, every error response, descriptions everywhere. */
export function documentedSchema(
  schema: FastifySchema | undefined,
  methods: string | string[],
  url: string,
  access: Access,
): FastifySchema {
  const method = (Array.isArray(methods) ? methods[0] : methods) ?? 'GET';
  const key = `${method} ${url}`;
  const out: FastifySchema & Record<string, unknown> = { ...(schema ?? {}) };
  const publicRoute = access === 'public';
  const changes = !SAFE_METHODS.has(method);
  out.security = publicRoute
    ? []
    : [
        { [SECURITY.bearer]: [] },
        changes ? { [SECURITY.session]: [], [SECURITY.csrf]: [] } : { [SECURITY.session]: [] },
      ];
  if (DOCUMENTED_BODIES[key] && !out.body) out.body = DOCUMENTED_BODIES[key];
  const response: Record<string, unknown> = {
    ...((out.response as Record<string, unknown> | undefined) ?? {}),
    ...(DOCUMENTED_RESPONSES[key] ?? {}),
  };
  const errors = new Set<number>();
  if (!publicRoute) errors.add(401).add(403);
  if (out.body || out.querystring || out.params) errors.add(400);
  if (out.params) errors.add(404);
  if (out.body) errors.add(415);
  if (access === 'public' && method === 'POST') errors.add(429);
  for (const status of errors) response[status] ??= ErrorBody;
  for (const [status, body] of Object.entries(response)) {
    const described = body as { description?: string };
    if (!described.description) {
      response[status] = { ...described, description: DESCRIPTIONS[status] ?? `HTTP ${status}` };
    }
  }
  out.response = response;
  return out;
}
