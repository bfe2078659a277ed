/**
 * Events: the outbox written with each change, delivery to this process's consumers and (on PostgreSQL) every
 * replica, the SSE stream for clients and retention.
 *
 * Lifecycle: `startEvents` once the database is migrated and before the server listens (the SSE route needs the
 * bus running); subscribe consumers before or after; `stopEvents` before the database closes.
 */
import type { Db } from '../db/connect.js';
import { EventBus, type EventBusOptions } from './bus.js';

export type { EventEnvelope, EventType } from '../../api/events.js';
export { EventBus, type EventBusOptions, type EventHandler, type SubscribeOptions } from './bus.js';
export { type EventInput, publishEvent, publishEvents, queueEvents } from './outbox.js';
export { forgetConsumer, pruneEvents } from './retention.js';
export { type EventRoutesDeps, eventRoutes } from './routes.js';
export { sequenceEvents } from './sequencer.js';

/** Creates and starts the process's event bus. */
export async function startEvents(db: Db, options: EventBusOptions = {}): Promise<EventBus> {
  const bus = new EventBus(db, options);
  await bus.start();
  return bus;
}

/** Stops the bus: no more wake-ups, the LISTEN connection closed, the drain in progress finished. */
export async function stopEvents(bus: EventBus): Promise<void> {
  await bus.stop();
}
