import Fastify from 'fastify';
import { describe, expect, it } from 'vitest';
import { loadServerConfig } from './config.js';
import { loggingSetup, logRequests } from './logging.js';

/** A stand-in for process.stdout that records what is written. */
function terminal(isTTY: boolean) {
  const lines: string[] = [];
  return { isTTY, lines, write: (chunk: string) => lines.push(...chunk.split('\n').filter(Boolean)) };
}

async function serveOnce(format: 'auto' | 'json' | 'pretty', out: ReturnType<typeof terminal>) {
  const logging = loggingSetup({ log_level: 'info', log_format: format }, undefined, out);
  // JSON mode writes through pino's default destination; point it at the recorder for the test.
  const logger =
    logging.readable || typeof logging.logger !== 'object'
      ? logging.logger
      : { ...logging.logger, stream: { write: (s: string) => out.write(s) } };
  const app = Fastify({ logger, ...(logging.logController ? { logController: logging.logController } : {}) });
  if (logging.readable) logRequests(app);
  app.get('/api/v1/tenants', async () => ({ items: [] }));
  await app.inject({
    method: 'GET',
    url: '/api/v1/tenants?limit=5',
    headers: { authorization: 'Bearer bwk_secret_value' },
  });
  await app.close();
  return logging;
}

describe('server logs', () => {
  it('prints one readable line per request on a terminal, without credentials', async () => {
    const out = terminal(true);
    const logging = await serveOnce('auto', out);
    expect(logging.readable).toBe(true);
    const requestLines = out.lines.filter((l) => l.includes('/api/v1/tenants'));
    expect(requestLines).toHaveLength(1);
    expect(requestLines[0]).toMatch(/GET \/api\/v1\/tenants 200 \d+ ms/);
    for (const line of out.lines) {
      expect(() => JSON.parse(line)).toThrow();
      expect(line).not.toContain('bwk_secret_value');
    }
  });

  it('prints JSON lines when not a terminal, or when asked, with the authorization header redacted', async () => {
    for (const [format, tty] of [
      ['auto', false],
      ['json', true],
    ] as const) {
      const out = terminal(tty);
      const logging = await serveOnce(format, out);
      expect(logging.readable).toBe(false);
      const objects = out.lines.map((l) => JSON.parse(l) as { msg: string; req?: { headers?: object } });
      expect(objects.map((o) => o.msg)).toEqual(['incoming request', 'request completed']);
      expect(out.lines.join('\n')).not.toContain('bwk_secret_value');
    }
  });

  it('reads log_format from BULWARK_LOG_FORMAT and refuses unknown formats naming the variable', () => {
    expect(loadServerConfig({ env: { BULWARK_LOG_FORMAT: 'json' } }).log_format).toBe('json');
    expect(loadServerConfig({ env: {} }).log_format).toBe('auto');
    expect(() => loadServerConfig({ env: { BULWARK_LOG_FORMAT: 'xml' } })).toThrow(/BULWARK_LOG_FORMAT/);
  });
});
