/**
 * Query parameters a route does not declare are a 400, never silently ignored: a misspelt or unsupported filter
 * (`?tag=prod`, `?verdcit=affected`) must not answer with the unfiltered list as if it had been applied.
 *
 * TypeBox objects allow additional properties unless told otherwise and the app's Ajv keeps them
 * (`removeAdditional: false`), so every querystring schema under /api/v1 is closed here, in one place, instead
 * of trusting each route to remember. A route without a querystring schema accepts no query parameters.
 */
import type { FastifyInstance } from 'fastify';

const API_PREFIX = '/api/v1/';

export function closeQueryStrings(app: FastifyInstance): void {
  app.addHook('onRoute', (route) => {
    if (!route.url.startsWith(API_PREFIX)) return;
    const schema = (route.schema ?? {}) as { querystring?: object };
    const declared = schema.querystring ?? { type: 'object', properties: {} };
    route.schema = { ...schema, querystring: { ...declared, additionalProperties: false } };
  });
}
