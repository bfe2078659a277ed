/**
 * Live updates from the server's event stream (GET /api/v1/events, Server-Sent Events, same origin, the session
 * cookie). One stream serves every subscriber of the page; it opens with the first subscriber and closes a little
 * after the last one leaves, so that moving between pages that both listen keeps it. When the stream fails or the
 * server ends it (it does after a few minutes), it is opened again after a growing pause, resuming after the last
 * event seen (`?after=`), and every subscriber is asked to read its data again once it is back (also when the
 * server says, with `event: reset`, that events were lost). After too many
 * failures in a row it stays down until a page subscribes anew; pages that must follow something (a running job)
 * then fall back to reading it again every few seconds.
 */
import { useEffect, useRef, useSyncExternalStore } from 'react';
import type { EventEnvelope, EventType } from '../api/events.js';
import { onSessionExpired } from './api';

export type { EventEnvelope, EventType };

/** The event types the console listens to (EventSource delivers only the types it is told about). */
const TYPES = [
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
] as const satisfies readonly string[];

/** The stream's `event: reset` frame (STREAM_RESET_EVENT in src/api/events.ts). */
const RESET = 'reset';

export type LiveState = 'off' | 'connecting' | 'open' | 'down';

interface Subscriber {
  types: ReadonlySet<string>;
  onEvent(event: EventEnvelope): void;
  /** The stream was down for a while: events may have been missed. */
  onResync(): void;
}

/** Pause before the first reconnect; doubled per failure in a row, up to MAX_RETRY_MS. */
const FIRST_RETRY_MS = 1_000;
const MAX_RETRY_MS = 30_000;
/** Failed connections in a row before the stream stays down. */
const MAX_FAILURES = 8;
/** A connection that stayed open this long was healthy: its end is no failure. */
const HEALTHY_MS = 10_000;
/** The stream stays open this long after the last subscriber left. */
const LINGER_MS = 2_000;

const subscribers = new Set<Subscriber>();
const stateListeners = new Set<() => void>();
let state: LiveState = 'off';
let source: EventSource | undefined;
let lastSeq: number | undefined;
let failures = 0;
let openedAt = 0;
let everOpened = false;
let retryTimer: number | undefined;
let lingerTimer: number | undefined;

function setState(next: LiveState): void {
  if (next === state) return;
  state = next;
  for (const l of stateListeners) l();
}

function deliver(message: MessageEvent<string>): void {
  let event: EventEnvelope;
  try {
    event = JSON.parse(message.data) as EventEnvelope;
  } catch {
    return;
  }
  if (typeof event?.seq === 'number') lastSeq = Math.max(lastSeq ?? 0, event.seq);
  failures = 0;
  for (const s of [...subscribers]) if (s.types.has(event.type)) s.onEvent(event);
}

/**
 * The server could not deliver some events (retention removed them): every subscriber reads its data again, and
 * the stream goes on after the point the server names.
 */
function reset(message: MessageEvent<string>): void {
  try {
    const data = JSON.parse(message.data) as { resume_after?: unknown };
    if (typeof data.resume_after === 'number') lastSeq = data.resume_after;
  } catch {
    // The frame's id (the browser's Last-Event-ID) still moves the stream on.
  }
  for (const s of [...subscribers]) s.onResync();
}

function connect(): void {
  retryTimer = undefined;
  if (source || subscribers.size === 0) return;
  setState('connecting');
  const es = new EventSource(lastSeq === undefined ? '/api/v1/events' : `/api/v1/events?after=${lastSeq}`);
  source = es;
  es.onopen = () => {
    openedAt = Date.now();
    const reopened = everOpened;
    everOpened = true;
    setState('open');
    if (reopened) for (const s of [...subscribers]) s.onResync();
  };
  for (const type of TYPES) es.addEventListener(type, deliver as EventListener);
  es.addEventListener(RESET, reset as EventListener);
  // The browser would retry on its own at a fixed pace; the console paces the retries itself instead.
  es.onerror = () => {
    if (source !== es) return;
    es.close();
    source = undefined;
    if (!(openedAt && Date.now() - openedAt >= HEALTHY_MS)) failures++;
    openedAt = 0;
    if (subscribers.size === 0) {
      setState('off');
      return;
    }
    if (failures >= MAX_FAILURES) {
      setState('down');
      return;
    }
    setState('connecting');
    const pause = Math.min(MAX_RETRY_MS, failures === 0 ? 250 : FIRST_RETRY_MS * 2 ** (failures - 1));
    retryTimer = window.setTimeout(connect, pause * (0.8 + Math.random() * 0.4));
  };
}

function disconnect(): void {
  lingerTimer = undefined;
  if (subscribers.size > 0) return;
  if (retryTimer !== undefined) window.clearTimeout(retryTimer);
  retryTimer = undefined;
  source?.close();
  source = undefined;
  openedAt = 0;
  setState('off');
}

/**
 * Ends the stream at once (the session ended: reconnecting would only be refused). The next page that subscribes,
 * after sign-in, opens it again.
 */
export function endLive(): void {
  if (retryTimer !== undefined) window.clearTimeout(retryTimer);
  retryTimer = undefined;
  source?.close();
  source = undefined;
  openedAt = 0;
  failures = 0;
  setState(subscribers.size > 0 ? 'down' : 'off');
}
onSessionExpired(endLive);

function subscribe(s: Subscriber): () => void {
  subscribers.add(s);
  if (lingerTimer !== undefined) window.clearTimeout(lingerTimer);
  lingerTimer = undefined;
  if (state === 'down') failures = 0;
  if (!source && retryTimer === undefined) connect();
  return () => {
    subscribers.delete(s);
    if (subscribers.size === 0 && lingerTimer === undefined)
      lingerTimer = window.setTimeout(disconnect, LINGER_MS);
  };
}

/** Where the page's event stream stands: open (live), connecting, down (gave up), off (nobody listens). */
export function useLiveState(): LiveState {
  return useSyncExternalStore(
    (l) => {
      stateListeners.add(l);
      return () => stateListeners.delete(l);
    },
    () => state,
  );
}

/**
 * Calls `onEvent` for each event of `types`, and `onResync` when events may have been missed (the stream was
 * down, or the server said so), until the component unmounts. The latest callbacks are used.
 */
export function useEvents(
  types: readonly EventType[],
  handlers: { onEvent(event: EventEnvelope): void; onResync?(): void },
): void {
  const ref = useRef(handlers);
  ref.current = handlers;
  const key = types.join(' ');
  useEffect(
    () =>
      subscribe({
        types: new Set(key.split(' ')),
        onEvent: (e) => ref.current.onEvent(e),
        onResync: () => ref.current.onResync?.(),
      }),
    [key],
  );
}

/** Refreshes at most once per `intervalMs`: the first call soon, later calls folded into one after the pause. */
export function useThrottle(refresh: () => void, intervalMs = 500): () => void {
  const ref = useRef(refresh);
  ref.current = refresh;
  const timing = useRef<{ last: number; timer: number | undefined }>({ last: 0, timer: undefined });
  useEffect(
    () => () => {
      if (timing.current.timer !== undefined) window.clearTimeout(timing.current.timer);
      timing.current.timer = undefined;
    },
    [],
  );
  const run = useRef(() => {
    const t = timing.current;
    if (t.timer !== undefined) return;
    const wait = Math.max(0, t.last + intervalMs - Date.now());
    t.timer = window.setTimeout(() => {
      t.timer = undefined;
      t.last = Date.now();
      ref.current();
    }, wait);
  });
  return run.current;
}

/**
 * Reads a page's data again (at most once per 500 ms) when an event of `types` arrives that `match` accepts, and
 * after the stream was down.
 */
export function useLiveRefresh(
  types: readonly EventType[],
  match: (event: EventEnvelope) => boolean,
  refresh: () => void,
): void {
  const throttled = useThrottle(refresh, 500);
  useEvents(types, {
    onEvent: (e) => {
      if (match(e)) throttled();
    },
    onResync: throttled,
  });
}

/** While the stream is not live, pages that follow a running job read it again this often. */
const POLL_MS = 2_000;
/** A page left open stops asking after this long (the Refresh button still works). */
const POLL_FOR_MS = 30 * 60_000;

/**
 * Calls `changed` while `watching` is true and job `jobId` changes (job.updated from the event stream, at most
 * once per 500 ms); while the stream is not live, every 2 seconds instead.
 */
export function useJobUpdates(jobId: string, watching: boolean, changed: () => void): void {
  const live = useLiveState();
  const ref = useRef(changed);
  ref.current = changed;
  const throttled = useThrottle(() => ref.current(), 500);
  useEvents(['job.updated'], {
    onEvent: (e) => {
      if (watching && e.data.job_id === jobId) throttled();
    },
    onResync: () => {
      if (watching) throttled();
    },
  });
  const polling = watching && live !== 'open';
  useEffect(() => {
    if (!polling) return;
    const until = Date.now() + POLL_FOR_MS;
    const timer = window.setInterval(() => {
      if (Date.now() > until) window.clearInterval(timer);
      else ref.current();
    }, POLL_MS);
    return () => window.clearInterval(timer);
  }, [polling]);
}
