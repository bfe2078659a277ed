/**
 * GET /api/v1/events: the live event stream (Server-Sent Events) of the caller's tenants. Resume with the
 * Last-Event-ID header (what EventSource sends when it reconnects) or `?after=<seq>`; the header wins when both
 * are present, since it is the newer of the two. Without either the stream starts with the next event.
 *
 * Open streams are limited per user (all their sessions and tokens together) and in total, per process: beyond
 * either limit the answer is 429 with Retry-After, before anything is read from the database.
 */
import { Type } from '@sinclair/typebox';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { Db } from '../db/connect.js';
import { badRequest, unauthorized } from '../errors.js';
import { TenantScope } from '../scope.js';
import { type EventBus, headSeq } from './bus.js';
import { DEFAULT_SSE_LIMITS, runSseStream, type SseLimits } from './sse.js';
import { StreamSlots } from './stream-slots.js';

export interface EventRoutesDeps {
  db: Db;
  bus: EventBus;
  limits?: Partial<SseLimits>;
}

const SEQ_PATTERN = '^[0-9]{1,15}$';
/** Seconds a refused client waits before trying again: streams end within minutes, slots free up often. */
export const STREAM_RETRY_AFTER_SECONDS = 10;

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
  const slots = new StreamSlots(limits.perUser, limits.total);
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
          'reads too slowly; reconnect with Last-Event-ID to continue without loss. A resume point the server can ' +
          'no longer serve (events after it were removed by retention, or it is past the newest event) gets an ' +
          '`event: reset` frame (data: reason, oldest_seq, resume_after; id: resume_after): reload what you show, ' +
          'the stream continues after resume_after. Open streams are limited per user and per server ' +
          '(event_streams_per_user, event_streams_max): beyond them 429 with Retry-After.',
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
          429: Type.Object(
            { error: Type.String(), message: Type.String() },
            { description: 'too many open streams (yours or the server’s): retry after Retry-After seconds' },
          ),
        },
      },
    },
    async (request, reply) => {
      const principal = request.principal;
      if (!principal) throw unauthorized();
      const resume = resumePoint(request);
      const refused = slots.refusal(principal.userId);
      if (refused)
        return reply
          .code(429)
          .header('retry-after', String(STREAM_RETRY_AFTER_SECONDS))
          .send({ error: 'rate_limited', message: refused });
      const release = slots.take(principal.userId);
      let after: number;
      try {
        after = resume ?? (await headSeq(deps.db.kysely));
      } catch (err) {
        release();
        throw err;
      }
      reply.hijack();
      const res = reply.raw;
      res.once('close', release);
      // The client may have gone while the head was read: its 'close' has fired already.
      if (res.destroyed || !res.socket || res.socket.destroyed) {
        release();
        res.destroy();
        return;
      }
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
