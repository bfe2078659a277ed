/**
 * The event-stream client against small HTTP servers on 127.0.0.1 that misbehave on purpose: messages split
 * anywhere and CRLF line ends, a line without end, a stream that ends and must resume with Last-Event-ID, a
 * server that refuses, and waitForJob falling back to polling when the stream is not there.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import fc from 'fast-check';
import { afterEach, describe, expect, it } from 'vitest';
import { EventStreamError, followEvents, SseParser, waitForJob } from './client.js';
import type { EventEnvelope } from './events.js';
import type { Job } from './jobs.js';

const servers: Server[] = [];
afterEach(async () => {
  for (const s of servers.splice(0)) {
    s.closeAllConnections();
    await new Promise((r) => s.close(() => r(undefined)));
  }
});

async function serve(handler: (req: IncomingMessage, res: ServerResponse) => void): Promise<string> {
  const server = createServer(handler);
  servers.push(server);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

const event = (seq: number, data: Record<string, unknown> = {}): EventEnvelope => ({
  seq,
  type: 'job.updated',
  tenant_id: null,
  subject: 'job:x',
  data,
  at: '2026-01-01T00:00:00.000Z',
});
const wire = (e: EventEnvelope) => `id: ${e.seq}\nevent: ${e.type}\ndata: ${JSON.stringify(e)}\n\n`;

describe('SseParser', () => {
  it('yields the same messages however the text is split, with LF, CRLF or CR line ends', () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.string({ maxLength: 30 }).filter((s) => !/[\r\n]/.test(s)),
          { minLength: 1, maxLength: 5 },
        ),
        fc.constantFrom('\n', '\r\n', '\r'),
        fc.array(fc.nat(200), { maxLength: 6 }),
        (datas, eol, cuts) => {
          const text = `: ping${eol}${datas.map((d) => `id: 1${eol}data: ${d}${eol}${eol}`).join('')}`;
          const points = [...new Set(cuts.map((c) => c % (text.length + 1)))].sort((a, b) => a - b);
          const parser = new SseParser(1000);
          const out = [];
          let from = 0;
          for (const p of [...points, text.length]) {
            out.push(...parser.push(text.slice(from, p)));
            from = p;
          }
          expect(out.map((m) => m.data)).toEqual(datas);
        },
      ),
    );
  });

  it('refuses a line longer than its bound, also one that never ends', () => {
    const parser = new SseParser(100);
    expect(() => parser.push(`data: ${'x'.repeat(200)}`)).toThrow(/longer than 100/);
    const multi = new SseParser(100);
    expect(() => multi.push(`${'data: xxxxxxxxxxxxxxxxxxxx\n'.repeat(10)}\n`)).toThrow(/longer than 100/);
  });
});

describe('followEvents', () => {
  it('resumes with Last-Event-ID after the server ends the stream, losing nothing', async () => {
    const seen: (string | undefined)[] = [];
    const base = await serve((req, res) => {
      const last = req.headers['last-event-id'] as string | undefined;
      seen.push(last);
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      const from = last ? Number(last) + 1 : 1;
      res.end(`retry: 100\n\n${wire(event(from))}${wire(event(from + 1))}`);
    });
    const got: number[] = [];
    const stop = new AbortController();
    await followEvents({
      baseUrl: base,
      token: 't',
      signal: stop.signal,
      onEvent: (e) => {
        got.push(e.seq);
        if (got.length === 6) stop.abort();
      },
    });
    expect(got).toEqual([1, 2, 3, 4, 5, 6]);
    expect(seen.slice(0, 3)).toEqual([undefined, '2', '4']);
  });

  it('gives up at once on a refused token, and after its bound on a server that keeps failing', async () => {
    const refusing = await serve((_req, res) => {
      res.writeHead(401, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ error: 'unauthorized', message: 'sign in' }));
    });
    const err = await followEvents({ baseUrl: refusing, token: 't', onEvent: () => {} }).catch((e) => e);
    expect(err).toBeInstanceOf(EventStreamError);
    expect(err.status).toBe(401);
    expect(err.message).toMatch(/401 sign in/);

    let attempts = 0;
    const failing = await serve((_req, res) => {
      attempts++;
      res.writeHead(503);
      res.end();
    });
    const started = Date.now();
    const gaveUp = await followEvents({
      baseUrl: failing,
      token: 't',
      maxReconnects: 3,
      retryMs: 10,
      onEvent: () => {},
    }).catch((e) => e);
    expect(gaveUp.message).toMatch(/gave up after 3 failed reconnects/);
    expect(attempts).toBe(4);
    expect(Date.now() - started).toBeLessThan(5000);
  });

  it("passes the caller's own errors through at once instead of reconnecting", async () => {
    let connections = 0;
    const base = await serve((_req, res) => {
      connections++;
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.end(wire(event(1)));
    });
    const mine = new Error('mine');
    await expect(
      followEvents({
        baseUrl: base,
        token: 't',
        onOpen: () => {
          throw mine;
        },
        onEvent: () => {},
      }),
    ).rejects.toBe(mine);
    await expect(
      followEvents({
        baseUrl: base,
        token: 't',
        onEvent: () => {
          throw mine;
        },
      }),
    ).rejects.toBe(mine);
    expect(connections).toBe(2);
  });

  it('ends with an error on a line without end instead of growing without bound', async () => {
    const base = await serve((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.write(`data: ${'x'.repeat(5000)}`);
    });
    const err = await followEvents({
      baseUrl: base,
      token: 't',
      maxLineLength: 1000,
      onEvent: () => {},
    }).catch((e) => e);
    expect(err.message).toMatch(/longer than 1000/);
  });

  it('drops a silent connection and reconnects', async () => {
    let connections = 0;
    const base = await serve((_req, res) => {
      connections++;
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      if (connections === 1) res.write(': ping\n\n');
      else res.end(wire(event(7)));
    });
    const stop = new AbortController();
    const got: number[] = [];
    await followEvents({
      baseUrl: base,
      token: 't',
      idleTimeoutMs: 200,
      retryMs: 10,
      signal: stop.signal,
      onEvent: (e) => {
        got.push(e.seq);
        stop.abort();
      },
    });
    expect(got).toEqual([7]);
    expect(connections).toBe(2);
  });
});

describe('waitForJob', () => {
  const job = (state: Job['state'], done: number): Job => ({
    id: 'job_a',
    kind: 'advisories.recompute',
    state,
    tenant_id: null,
    progress: { done, total: 3 },
    attempts: 1,
    max_attempts: 3,
    cancel_requested: false,
    error: null,
    result: state === 'succeeded' ? { imported: ['x'] } : null,
    created_by: 'token:t',
    created_at: '2026-01-01T00:00:00.000Z',
    run_after: '2026-01-01T00:00:00.000Z',
    started_at: null,
    finished_at: null,
    expires_at: null,
    idempotency_key: null,
  });

  it('polls the job when the event stream is not available', async () => {
    let reads = 0;
    const base = await serve((req, res) => {
      if (req.url?.startsWith('/api/v1/events')) {
        res.writeHead(404, { 'content-type': 'application/json' });
        res.end('{"error":"not_found","message":"no such route"}');
        return;
      }
      reads++;
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify(reads < 3 ? job('running', reads) : job('succeeded', 3)));
    });
    const updates: string[] = [];
    const fallbacks: string[] = [];
    const done = await waitForJob({ baseUrl: base, token: 't' }, 'job_a', {
      pollMs: 20,
      onUpdate: (j) => updates.push(`${j.state} ${j.progress.done}`),
      onFallback: (r) => fallbacks.push(r),
    });
    expect(done.state).toBe('succeeded');
    expect(done.result).toEqual({ imported: ['x'] });
    expect(fallbacks).toHaveLength(1);
    expect(fallbacks[0]).toMatch(/404/);
    expect(updates).toEqual(['running 1', 'running 2', 'succeeded 3']);
  });

  it("follows the job's job.updated events (job_id) and ignores other jobs'", async () => {
    let current = job('running', 1);
    const progress = (jobId: string, state: string, done: number) =>
      wire(event(done, { job_id: jobId, kind: 'advisories.recompute', state, progress: { done, total: 3 } }));
    const base = await serve((req, res) => {
      if (req.url?.startsWith('/api/v1/events')) {
        res.writeHead(200, { 'content-type': 'text/event-stream' });
        res.write(progress('job_b', 'succeeded', 1));
        setTimeout(() => {
          res.write(progress('job_a', 'running', 2));
          current = job('succeeded', 3);
          res.write(progress('job_a', 'succeeded', 3));
        }, 50);
        return;
      }
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify(current));
    });
    const updates: string[] = [];
    const fallbacks: string[] = [];
    const done = await waitForJob({ baseUrl: base, token: 't' }, 'job_a', {
      pollMs: 60_000,
      timeoutMs: 10_000,
      onUpdate: (j) => updates.push(`${j.state} ${j.progress.done}`),
      onFallback: (r) => fallbacks.push(r),
    });
    expect(done).toMatchObject({ state: 'succeeded', result: { imported: ['x'] } });
    expect(fallbacks).toEqual([]);
    expect(updates).toEqual(['running 1', 'running 2', 'succeeded 3']);
  });

  it('stops waiting at its time limit, naming the state the job is still in', async () => {
    const base = await serve((req, res) => {
      if (req.url?.startsWith('/api/v1/events')) {
        res.writeHead(200, { 'content-type': 'text/event-stream' });
        res.write(': ping\n\n');
        return;
      }
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify(job('running', 1)));
    });
    const err = await waitForJob({ baseUrl: base, token: 't' }, 'job_a', { timeoutMs: 300 }).catch((e) => e);
    expect(err.name).toBe('WaitTimeoutError');
    expect(err.message).toMatch(/job_a is still running/);
  });
});
