/**
 * The server's event stream as clients see it (GET /api/v1/events, Server-Sent Events): one envelope for every
 * event, a closed list of event types, and the shape of each type's data. Event data carries ids and counts,
 * never secrets and never another tenant's data: an event with a tenant_id is shown only to principals that see
 * that tenant; an installation-wide event (tenant_id null) only when its type is listed in
 * INSTALLATION_EVENT_TYPES_FOR_TENANTS.
 */
import { type Static, type TSchema, Type } from '@sinclair/typebox';

export const EVENT_TYPES = [
  'advisory.changed',
  'asset.changed',
  'asset.deleted',
  'findings.changed',
  'response.changed',
  'tenant.changed',
  'job.updated',
  'agent.changed',
  'agents.presence',
  'agent_job.updated',
  'agent_jobs.queued',
] as const;
export type EventType = (typeof EVENT_TYPES)[number];

/**
 * Installation-wide events (tenant_id null) a tenant-scoped principal may see. The advisory catalogue is shared by
 * every tenant; an installation-wide job's progress counts the whole installation's assets, so it is not here.
 */
export const INSTALLATION_EVENT_TYPES_FOR_TENANTS: readonly EventType[] = ['advisory.changed'];

export const EventTypeName = Type.Union(
  EVENT_TYPES.map((t) => Type.Literal(t)),
  { description: 'what changed' },
);

const TenantId = Type.Union([Type.String(), Type.Null()], {
  description: 'the tenant the event belongs to; null for installation-wide events',
});

/** Data of each event type: ids and counts, enough for a client to know what to reload. */
export const EventData = {
  'advisory.changed': Type.Object({
    advisory_ids: Type.Array(Type.String()),
    action: Type.Union([Type.Literal('imported'), Type.Literal('updated'), Type.Literal('deleted')]),
  }),
  'asset.changed': Type.Object({ asset_id: Type.String() }),
  'asset.deleted': Type.Object({ asset_id: Type.String() }),
  'findings.changed': Type.Object({
    advisory_ids: Type.Array(Type.String()),
    asset_ids: Type.Optional(Type.Array(Type.String(), { description: 'absent when many assets changed' })),
    assets: Type.Integer({ minimum: 0, description: 'assets whose findings changed' }),
    findings: Type.Integer({ minimum: 0, description: 'findings written' }),
  }),
  'response.changed': Type.Object({
    advisory_ids: Type.Array(Type.String(), { maxItems: 100 }),
    asset_ids: Type.Optional(
      Type.Array(Type.String(), { maxItems: 100, description: 'absent when more than 100 assets changed' }),
    ),
    assets: Type.Integer({ minimum: 0, description: 'assets whose response answers were observed' }),
  }),
  'tenant.changed': Type.Object({
    action: Type.Union([Type.Literal('created'), Type.Literal('updated'), Type.Literal('deleted')]),
  }),
  'job.updated': Type.Object({
    job_id: Type.String(),
    kind: Type.String(),
    state: Type.String(),
    progress: Type.Object({
      done: Type.Integer({ minimum: 0 }),
      total: Type.Union([Type.Integer({ minimum: 0 }), Type.Null()]),
    }),
    attempts: Type.Integer({ minimum: 0 }),
    max_attempts: Type.Integer({ minimum: 1 }),
    cancel_requested: Type.Boolean(),
    error: Type.Union([Type.String(), Type.Null()], { description: 'the last failure, one line' }),
  }),
  'agent.changed': Type.Object({
    agent_id: Type.String(),
    action: Type.Union(
      ['enrolled', 'revoked', 'quarantined', 'certificate_renewed', 'updated'].map((a) => Type.Literal(a)),
    ),
  }),
  'agents.presence': Type.Object({
    online: Type.Array(Type.String(), {
      maxItems: 1000,
      description: 'agents that connected since the last event',
    }),
    offline: Type.Array(Type.String(), {
      maxItems: 1000,
      description: 'agents whose connection ended or went silent',
    }),
  }),
  'agent_job.updated': Type.Object({
    job_id: Type.String(),
    agent_id: Type.String(),
    kind: Type.String(),
    state: Type.String(),
  }),
  'agent_jobs.queued': Type.Object({
    agent_ids: Type.Array(Type.String(), {
      maxItems: 1000,
      description: 'agents with new jobs; the replica holding each connection delivers them',
    }),
  }),
} satisfies Record<EventType, TSchema>;
export type EventDataOf<T extends EventType> = Static<(typeof EventData)[T]>;

/** What every event looks like on the wire (the SSE `data:` line) and to in-process consumers. */
export const EventEnvelope = Type.Object({
  seq: Type.Integer({
    minimum: 1,
    description: 'position in the installation-wide event order; the SSE id, resume with Last-Event-ID',
  }),
  type: EventTypeName,
  tenant_id: TenantId,
  subject: Type.String({ description: 'what the event is about, e.g. asset:<id>, advisory:<id>, job:<id>' }),
  data: Type.Record(Type.String(), Type.Unknown()),
  at: Type.String({ description: 'ISO-8601 UTC, when the change was written' }),
});
export type EventEnvelope = Static<typeof EventEnvelope>;

export function isEventType(value: unknown): value is EventType {
  return typeof value === 'string' && (EVENT_TYPES as readonly string[]).includes(value);
}

/**
 * The stream's `event: reset` frame: the events between the client's resume point and `resume_after` cannot be
 * delivered, so what the client built from earlier events is incomplete. The client reloads what it shows (the
 * REST answers), then applies the events that follow; the frame's `id:` is `resume_after`, so a reconnect resumes
 * from there. Tenant-scoped streams get it whenever any event after their resume point is gone, theirs or not.
 */
export const STREAM_RESET_EVENT = 'reset';
export const StreamReset = Type.Object({
  reason: Type.Union([Type.Literal('expired'), Type.Literal('unknown')], {
    description:
      'expired: events after the resume point were removed by retention (event_retention_days); unknown: the resume point is past the newest event, not an id this installation sent',
  }),
  oldest_seq: Type.Integer({ minimum: 0, description: 'the oldest event the server still keeps (0: none)' }),
  resume_after: Type.Integer({
    minimum: 0,
    description: 'the stream continues with the events after this seq (the newest when the reset was sent)',
  }),
});
export type StreamReset = Static<typeof StreamReset>;
