/**
 * The event-stream client and the server's answers for a stream it cannot serve as asked, against small HTTP
 * servers on 127.0.0.1: a `reset` frame reaches onReset and the stream resumes after its resume_after; without
 * onReset a reset ends the stream with an error (never a silent partial view); a malformed reset is an error;
 * a 429 is retried after its Retry-After.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { EventStreamError, followEvents } from './client.js';
import type { EventEnvelope, StreamReset } from './events.js';

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

const event = (seq: number): EventEnvelope => ({
  seq,
  type: 'asset.changed',
  tenant_id: 't',
  subject: 'asset:x',
  data: { asset_id: 'x' },
  at: '2026-01-01T00:00:00.000Z',
});
const wire = (e: EventEnvelope) => `id: ${e.seq}\nevent: ${e.type}\ndata: ${JSON.stringify(e)}\n\n`;
const resetWire = (r: StreamReset) => `id: ${r.resume_after}\nevent: reset\ndata: ${JSON.stringify(r)}\n\n`;

describe('followEvents and resets', () => {
  it('hands a reset to onReset, then follows after resume_after (also on the next reconnect)', async () => {
    const seen: (string | undefined)[] = [];
    const base = await serve((req, res) => {
      const last = req.headers['last-event-id'] as string | undefined;
      seen.push(last);
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      if (seen.length === 1)
        res.end(
          `retry: 50\n\n${resetWire({ reason: 'expired', oldest_seq: 90, resume_after: 100 })}${wire(event(101))}`,
        );
      else res.end(wire(event(Number(last) + 1)));
    });
    const log: string[] = [];
    const stop = new AbortController();
    await followEvents({
      baseUrl: base,
      token: 't',
      after: 5,
      signal: stop.signal,
      onReset: (r) => {
        log.push(`reset:${r.reason}:${r.oldest_seq}:${r.resume_after}`);
      },
      onEvent: (e) => {
        log.push(String(e.seq));
        if (e.seq === 102) stop.abort();
      },
    });
    expect(log).toEqual(['reset:expired:90:100', '101', '102']);
    expect(seen).toEqual(['5', '101']);
  });

  it('ends with an error on a reset when there is no onReset, instead of carrying on', async () => {
    let connections = 0;
    const base = await serve((_req, res) => {
      connections++;
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.end(`${resetWire({ reason: 'expired', oldest_seq: 10, resume_after: 20 })}${wire(event(21))}`);
    });
    const got: number[] = [];
    const err = await followEvents({
      baseUrl: base,
      token: 't',
      after: 1,
      onEvent: (e) => void got.push(e.seq),
    }).catch((e) => e);
    expect(err).toBeInstanceOf(EventStreamError);
    expect(err.message).toMatch(/no longer available.*reload/);
    expect(got).toEqual([]);
    expect(connections).toBe(1);
  });

  it('refuses a malformed reset frame', async () => {
    const base = await serve((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.end(`event: reset\ndata: {"reason":"expired","resume_after":"soon"}\n\n`);
    });
    const err = await followEvents({ baseUrl: base, token: 't', onReset: () => {}, onEvent: () => {} }).catch(
      (e) => e,
    );
    expect(err).toBeInstanceOf(EventStreamError);
    expect(err.message).toMatch(/reset frame/);
  });

  it('waits as long as a 429 says before trying again', async () => {
    const times: number[] = [];
    const base = await serve((_req, res) => {
      times.push(Date.now());
      if (times.length === 1) {
        res.writeHead(429, { 'content-type': 'application/json', 'retry-after': '1' });
        res.end(JSON.stringify({ error: 'rate_limited', message: 'too many streams' }));
        return;
      }
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.end(wire(event(1)));
    });
    const stop = new AbortController();
    await followEvents({
      baseUrl: base,
      token: 't',
      retryMs: 10,
      signal: stop.signal,
      onEvent: () => stop.abort(),
    });
    expect(times).toHaveLength(2);
    expect(times[1]! - times[0]!).toBeGreaterThanOrEqual(900);
  });
});
