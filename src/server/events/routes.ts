/**
 * GET /api/v1/events: the live event stream (Server-Sent Events) of the caller's tenants. Resume with the
 * Last-Event-ID header (what EventSource sends when it reconnects) or `?after=<seq>`; the header wins when both
 * are present, since it is the newer of the two. Without either the stream starts with the next event.
 */
import { Type } from '@sinclair/typebox';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { Db } from '../db/connect.js';
import { badRequest, unauthorized } from '../errors.js';
import { TenantScope } from '../scope.js';
import { type EventBus, headSeq } from './bus.js';
import { DEFAULT_SSE_LIMITS, runSseStream, type SseLimits } from './sse.js';

export interface EventRoutesDeps {
  db: Db;
  bus: EventBus;
  limits?: Partial<SseLimits>;
}

const SEQ_PATTERN = '^[0-9]{1,15}$';

/** The resume point: Last-Event-ID, else ?after=, else undefined (start at the head). */
export function resumePoint(
  request: FastifyRequest<{ Querystring: { after?: string } }>,
): number | undefined {
  const header = request.headers['last-event-id'];
  if (header !== undefined) {
    const value = Array.isArray(header) ? header[0] : header;
    if (typeof value !== 'string' || !new RegExp(SEQ_PATTERN).test(value.trim()))
      throw badRequest('Last-Event-ID must be the id of an event this stream sent (a whole number)');
    return Number(value.trim());
  }
  const after = request.query.after;
  return after === undefined ? undefined : Number(after);
}

export async function eventRoutes(app: FastifyInstance, deps: EventRoutesDeps): Promise<void> {
  const limits: SseLimits = { ...DEFAULT_SSE_LIMITS, ...deps.limits };
  // Open streams end when the server closes (clients resume elsewhere), or closing would wait for them.
  const open = new Set<() => void>();
  app.addHook('preClose', async () => {
    for (const end of [...open]) end();
  });
  app.get<{ Querystring: { after?: string } }>(
    '/api/v1/events',
    {
      config: { access: 'authenticated' },
      schema: {
        tags: ['events'],
        summary: 'Live events of your tenants (Server-Sent Events), resumable with Last-Event-ID',
        description:
          'text/event-stream: `id:` is the event seq, `event:` its type, `data:` the JSON event envelope. ' +
          'Comment lines (`: ping`) every 15 s. The server ends a stream after 5 minutes or when the client ' +
          'reads too slowly; reconnect with Last-Event-ID to continue without loss.',
        querystring: Type.Object({
          after: Type.Optional(
            Type.String({
              pattern: SEQ_PATTERN,
              description: 'send events after this seq (Last-Event-ID wins)',
            }),
          ),
        }),
        headers: Type.Object({
          'last-event-id': Type.Optional(Type.String({ description: 'the id of the last event received' })),
        }),
        response: {
          200: {
            description: 'the event stream',
            content: { 'text/event-stream': { schema: Type.String() } },
          },
        },
      },
    },
    async (request, reply) => {
      const principal = request.principal;
      if (!principal) throw unauthorized();
      const after = resumePoint(request) ?? (await headSeq(deps.db.kysely));
      reply.hijack();
      const res = reply.raw;
      res.writeHead(200, {
        'content-type': 'text/event-stream; charset=utf-8',
        'cache-control': 'no-store',
        'x-accel-buffering': 'no',
        'x-content-type-options': 'nosniff',
        connection: 'keep-alive',
      });
      res.write('retry: 2000\n\n');
      const end = runSseStream({
        db: deps.db.kysely,
        bus: deps.bus,
        scope: TenantScope.of(principal.scope),
        after,
        res,
        limits,
        log: request.log,
      });
      open.add(end);
      res.on('close', () => open.delete(end));
    },
  );
}
