/**
 * A client of the server's event stream (GET /api/v1/events, Server-Sent Events) that stays bounded whatever the
 * other end sends: lines longer than a limit end the stream with an error, a connection silent for longer than
 * a few heartbeats is dropped, and reconnects (with Last-Event-ID, so nothing is lost) are limited in number and
 * spaced out. The server ends every stream after a few minutes; that is a reconnect like any other, and a
 * reconnect that delivers an event resets the count of failed attempts. A `reset` frame (the events after the
 * resume point are gone) reaches onReset, or ends the stream with an error when there is none: a consumer never
 * carries on with a partial view without knowing. A refusal for too many streams (429) is retried after its
 * Retry-After.
 */
import { type EventEnvelope, isEventType, STREAM_RESET_EVENT, type StreamReset } from './events.js';

export class EventStreamError extends Error {
  override name = 'EventStreamError';
  constructor(
    message: string,
    /** The HTTP status when the server refused the stream. */
    readonly status?: number,
  ) {
    super(message);
  }
}

export interface EventStreamOptions {
  baseUrl: string;
  token: string;
  /** Start after this event seq (sent as Last-Event-ID); default: the next event. */
  after?: number;
  /** Called for each event, in order; the stream waits for a returned promise. */
  onEvent(event: EventEnvelope): void | Promise<void>;
  /**
   * The server cannot send the events between the resume point and `reset.resume_after` (retention removed them,
   * or the resume point is unknown to it): reload what you built from events, then the stream continues after
   * `resume_after`. Without it, a reset ends the stream with an EventStreamError.
   */
  onReset?(reset: StreamReset): void | Promise<void>;
  /** Called once the server has accepted a connection (the first one and every reconnect). */
  onOpen?(): void | Promise<void>;
  /** Aborting ends the stream; the returned promise then resolves. */
  signal?: AbortSignal;
  /** Longest line accepted, in characters (default 1 MiB): a longer one ends the stream with an error. */
  maxLineLength?: number;
  /** Failed connection attempts in a row before giving up (default 5). */
  maxReconnects?: number;
  /** Silence longer than this drops the connection and reconnects (default 45 s: three server heartbeats). */
  idleTimeoutMs?: number;
  /** Wait before the first reconnect (default 1 s, or what the server's `retry:` says, up to 30 s). */
  retryMs?: number;
}

const DEFAULTS = { maxLineLength: 1024 * 1024, maxReconnects: 5, idleTimeoutMs: 45_000, retryMs: 1000 };
const MAX_RETRY_MS = 30_000;

/**
 * Reads the stream until `signal` aborts, reconnecting as needed. Resolves when aborted; rejects with
 * EventStreamError when the server refuses the stream (401, 403, 404: reconnecting would not help), a line is
 * too long, an event is not an event envelope, or `maxReconnects` attempts in a row failed.
 */
export async function followEvents(options: EventStreamOptions): Promise<void> {
  const limits = { ...DEFAULTS, ...options };
  let lastSeq = options.after;
  let retryMs = limits.retryMs;
  let failures = 0;
  for (;;) {
    if (options.signal?.aborted) return;
    let delivered = false;
    const started = Date.now();
    try {
      await connectOnce(limits, lastSeq, {
        onEvent: async (event) => {
          delivered = true;
          failures = 0;
          lastSeq = event.seq;
          try {
            await options.onEvent(event);
          } catch (err) {
            throw new ConsumerFailure(err);
          }
        },
        onReset: async (reset) => {
          if (!options.onReset)
            throw new EventStreamError(
              `event stream: the events after seq ${lastSeq ?? 'the start'} are no longer available (${reset.reason}; oldest kept: ${reset.oldest_seq}); reload and follow again`,
              200,
            );
          delivered = true;
          failures = 0;
          lastSeq = reset.resume_after;
          try {
            await options.onReset(reset);
          } catch (err) {
            throw new ConsumerFailure(err);
          }
        },
        onRetry: (ms) => {
          retryMs = Math.min(MAX_RETRY_MS, Math.max(100, ms));
        },
      });
      // A stream the server ended after a while (its 5-minute limit) reconnects at once; one it ended at once
      // without an event counts as a failed attempt, so a server that keeps doing that is given up on.
      if (!delivered && Date.now() - started < limits.idleTimeoutMs) failures++;
    } catch (err) {
      if (err instanceof ConsumerFailure) throw err.failure;
      if (options.signal?.aborted) return;
      if (err instanceof EventStreamError && !isTransient(err)) throw err;
      if (++failures > limits.maxReconnects)
        throw new EventStreamError(
          `event stream: gave up after ${limits.maxReconnects} failed reconnects (${(err as Error).message})`,
        );
    }
    if (options.signal?.aborted) return;
    if (failures > limits.maxReconnects)
      throw new EventStreamError(`event stream: the server ended ${failures} streams in a row at once`);
    if (failures > 0) await sleep(Math.min(MAX_RETRY_MS, retryMs * 2 ** (failures - 1)), options.signal);
  }
}

/** An error of the caller's onEvent: passed through as it is, never taken for a lost connection. */
class ConsumerFailure {
  constructor(readonly failure: unknown) {}
}

function isTransient(err: EventStreamError): boolean {
  return err.status === undefined || err.status >= 500 || err.status === 429;
}

interface Sink {
  onEvent(event: EventEnvelope): Promise<void>;
  onReset(reset: StreamReset): Promise<void>;
  onRetry(ms: number): void;
}

async function connectOnce(
  options: EventStreamOptions & typeof DEFAULTS,
  after: number | undefined,
  sink: Sink,
): Promise<void> {
  const base = options.baseUrl.endsWith('/') ? options.baseUrl : `${options.baseUrl}/`;
  const url = new URL('api/v1/events', base);
  const local = new AbortController();
  const onAbort = () => local.abort();
  options.signal?.addEventListener('abort', onAbort, { once: true });
  let idle: NodeJS.Timeout | undefined;
  const touch = () => {
    clearTimeout(idle);
    idle = setTimeout(
      () => local.abort(new EventStreamError('event stream: the server went silent')),
      options.idleTimeoutMs,
    );
  };
  try {
    touch();
    let res: Response;
    try {
      res = await fetch(url, {
        headers: {
          accept: 'text/event-stream',
          authorization: `Bearer ${options.token}`,
          ...(after !== undefined ? { 'last-event-id': String(after) } : {}),
        },
        signal: local.signal,
      });
    } catch (err) {
      throw new EventStreamError(`event stream: cannot reach ${url.origin} (${causeOf(err)})`);
    }
    if (res.status !== 200) {
      const retryAfter = res.headers.get('retry-after');
      if (res.status === 429 && retryAfter && /^[0-9]{1,5}$/.test(retryAfter.trim()))
        sink.onRetry(Number(retryAfter.trim()) * 1000);
      const text = await res.text().catch(() => '');
      let message = text.slice(0, 200);
      try {
        message = (JSON.parse(text) as { message?: string }).message ?? message;
      } catch {}
      throw new EventStreamError(`GET ${url.pathname}: ${res.status} ${message}`, res.status);
    }
    if (!res.headers.get('content-type')?.startsWith('text/event-stream') || !res.body)
      throw new EventStreamError(`GET ${url.pathname}: the answer is not an event stream`, res.status);
    try {
      await options.onOpen?.();
    } catch (err) {
      throw new ConsumerFailure(err);
    }
    const parser = new SseParser(options.maxLineLength);
    const decoder = new TextDecoder();
    try {
      for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
        touch();
        for (const message of parser.push(decoder.decode(chunk, { stream: true }))) {
          if (message.retry !== undefined) sink.onRetry(message.retry);
          if (message.data === undefined) continue;
          if (message.event === STREAM_RESET_EVENT) await sink.onReset(resetFrom(message.data));
          else await sink.onEvent(envelopeFrom(message.data));
        }
      }
    } catch (err) {
      if (err instanceof EventStreamError || err instanceof ConsumerFailure) throw err;
      const reason = local.signal.reason;
      if (reason instanceof EventStreamError) throw reason;
      throw new EventStreamError(`event stream: connection lost (${causeOf(err)})`);
    }
  } finally {
    clearTimeout(idle);
    options.signal?.removeEventListener('abort', onAbort);
    local.abort();
  }
}

function envelopeFrom(data: string): EventEnvelope {
  let value: unknown;
  try {
    value = JSON.parse(data);
  } catch {
    throw new EventStreamError('event stream: an event is not JSON', 200);
  }
  const e = value as Partial<EventEnvelope> | null;
  if (
    !e ||
    typeof e !== 'object' ||
    !Number.isSafeInteger(e.seq) ||
    !isEventType(e.type) ||
    typeof e.data !== 'object' ||
    e.data === null
  )
    throw new EventStreamError('event stream: an event is not an event envelope (seq, type, data)', 200);
  return e as EventEnvelope;
}

function resetFrom(data: string): StreamReset {
  let value: unknown;
  try {
    value = JSON.parse(data);
  } catch {
    throw new EventStreamError('event stream: a reset frame is not JSON', 200);
  }
  const r = value as Partial<StreamReset> | null;
  if (
    !r ||
    typeof r !== 'object' ||
    !Number.isSafeInteger(r.resume_after) ||
    (r.resume_after as number) < 0 ||
    !Number.isSafeInteger(r.oldest_seq) ||
    (r.reason !== 'expired' && r.reason !== 'unknown')
  )
    throw new EventStreamError('event stream: a reset frame is not {reason, oldest_seq, resume_after}', 200);
  return r as StreamReset;
}

function causeOf(err: unknown): string {
  return (err as { cause?: { code?: string } }).cause?.code ?? (err as Error).message;
}

export interface SseMessage {
  id?: string;
  event?: string;
  data?: string;
  retry?: number;
}

/**
 * The Server-Sent Events wire format, incrementally: text in, complete messages out. A line (or a message's
 * accumulated data) longer than `maxLineLength` throws, so a peer that never sends a newline cannot grow memory.
 */
export class SseParser {
  private buffer = '';
  private message: SseMessage = {};
  private dataLines: string[] = [];
  private dataLength = 0;
  /** The previous chunk ended with CR: a LF starting this one belongs to that line break. */
  private afterCr = false;

  constructor(private readonly maxLineLength: number) {}

  push(text: string): SseMessage[] {
    const out: SseMessage[] = [];
    let chunk = text;
    if (this.afterCr && chunk.startsWith('\n')) chunk = chunk.slice(1);
    this.afterCr = false;
    this.buffer += chunk;
    let start = 0;
    for (;;) {
      const cr = this.buffer.indexOf('\r', start);
      const lf = this.buffer.indexOf('\n', start);
      const end = cr === -1 ? lf : lf === -1 ? cr : Math.min(cr, lf);
      if (end === -1) break;
      const line = this.buffer.slice(start, end);
      if (this.buffer[end] === '\r') {
        if (end + 1 === this.buffer.length) this.afterCr = true;
        else if (this.buffer[end + 1] === '\n') start = end + 1;
      }
      start = end + 1;
      this.line(line, out);
    }
    this.buffer = this.buffer.slice(start);
    if (this.buffer.length > this.maxLineLength)
      throw new EventStreamError(`event stream: a line is longer than ${this.maxLineLength} characters`, 200);
    return out;
  }

  private line(line: string, out: SseMessage[]): void {
    if (line.length > this.maxLineLength)
      throw new EventStreamError(`event stream: a line is longer than ${this.maxLineLength} characters`, 200);
    if (line === '') {
      if (this.dataLines.length) this.message.data = this.dataLines.join('\n');
      if (this.message.data !== undefined || this.message.retry !== undefined) out.push(this.message);
      this.message = {};
      this.dataLines = [];
      this.dataLength = 0;
      return;
    }
    if (line.startsWith(':')) return;
    const colon = line.indexOf(':');
    const field = colon === -1 ? line : line.slice(0, colon);
    let value = colon === -1 ? '' : line.slice(colon + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    switch (field) {
      case 'data':
        this.dataLength += value.length + 1;
        if (this.dataLength > this.maxLineLength)
          throw new EventStreamError(
            `event stream: an event is longer than ${this.maxLineLength} characters`,
            200,
          );
        this.dataLines.push(value);
        break;
      case 'id':
        if (!value.includes('\0')) this.message.id = value;
        break;
      case 'event':
        this.message.event = value;
        break;
      case 'retry':
        if (/^[0-9]{1,9}$/.test(value)) this.message.retry = Number(value);
        break;
    }
  }
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done, { once: true });
  });
}
