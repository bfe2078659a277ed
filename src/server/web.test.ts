/**
 * Serving the console build: which paths get which file, cache headers, compression, revalidation, and what the
 * server does without a build. The browser tests (test/console.test.ts) run the real build on the real server.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import Fastify, { type FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CONSOLE_CSP, registerConsole } from './web.js';

const INDEX =
  '<!doctype html><html><head><script type="module" src="/assets/app-abc123.js"></script></head></html>';
const SCRIPT = `console.log(${JSON.stringify('x'.repeat(4000))});`;

async function appWith(distDir: string): Promise<FastifyInstance> {
  const app = Fastify({ logger: false });
  app.get('/api/v1/things', async () => ({ items: [] }));
  app.get('/health', async () => ({ status: 'ok' }));
  app.setNotFoundHandler((request, reply) =>
    reply.status(404).send({ error: 'not_found', message: `no route ${request.method} ${request.url}` }),
  );
  await registerConsole(app, { distDir });
  await app.ready();
  return app;
}

describe('registerConsole', () => {
  let dir: string;
  let app: FastifyInstance;
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'bulwark-web-'));
    mkdirSync(join(dir, 'assets'));
    writeFileSync(join(dir, 'index.html'), INDEX);
    writeFileSync(join(dir, 'assets/app-abc123.js'), SCRIPT);
    writeFileSync(join(dir, 'favicon.svg'), '<svg xmlns="http://www.w3.org/2000/svg"/>');
    writeFileSync(join(dir, 'notes.unknown'), 'not served: unknown type');
    app = await appWith(dir);
  });
  afterAll(async () => {
    await app?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('answers index.html, not cached, with the CSP for console paths at any depth', async () => {
    for (const url of ['/', '/setup', '/sign-in?next=%2Fadvisories', '/advisories/a/b', '/tenants/t1']) {
      const res = await app.inject({ url });
      expect(res.statusCode, url).toBe(200);
      expect(res.body).toBe(INDEX);
      expect(res.headers['content-type']).toBe('text/html; charset=utf-8');
      expect(res.headers['cache-control']).toBe('no-cache');
      expect(res.headers['content-security-policy']).toBe(CONSOLE_CSP);
      expect(res.headers['x-content-type-options']).toBe('nosniff');
      expect(res.headers['x-frame-options']).toBe('DENY');
      expect(res.headers['referrer-policy']).toBe('no-referrer');
    }
    expect(CONSOLE_CSP).not.toContain('unsafe-inline');
    expect((await app.inject({ method: 'HEAD', url: '/advisories' })).statusCode).toBe(200);
  });

  it('serves hashed assets for a year, other files revalidated, gzip when asked, 304 on a matching ETag', async () => {
    const js = await app.inject({ url: '/assets/app-abc123.js' });
    expect(js.statusCode).toBe(200);
    expect(js.headers['content-type']).toBe('text/javascript; charset=utf-8');
    expect(js.headers['cache-control']).toBe('public, max-age=31536000, immutable');
    expect(js.headers['content-security-policy']).toBe(CONSOLE_CSP);
    expect(js.body).toBe(SCRIPT);
    const gz = await app.inject({ url: '/assets/app-abc123.js', headers: { 'accept-encoding': 'br, gzip' } });
    expect(gz.headers['content-encoding']).toBe('gzip');
    expect(gz.headers.vary).toBe('accept-encoding');
    expect(gunzipSync(gz.rawPayload).toString()).toBe(SCRIPT);
    const refused = await app.inject({
      url: '/assets/app-abc123.js',
      headers: { 'accept-encoding': 'gzip;q=0' },
    });
    expect(refused.headers['content-encoding']).toBeUndefined();
    const again = await app.inject({
      url: '/assets/app-abc123.js',
      headers: { 'if-none-match': String(js.headers.etag) },
    });
    expect(again.statusCode).toBe(304);
    expect(again.body).toBe('');
    const icon = await app.inject({ url: '/favicon.svg' });
    expect(icon.headers['content-type']).toBe('image/svg+xml');
    expect(icon.headers['cache-control']).toBe('no-cache');
  });

  it('leaves the API, operations and missing files to the JSON 404, never the page in their place', async () => {
    expect((await app.inject({ url: '/api/v1/things' })).json()).toEqual({ items: [] });
    expect((await app.inject({ url: '/health' })).json()).toEqual({ status: 'ok' });
    for (const url of [
      '/api',
      '/api/v1/nothing',
      '/api/docs/x',
      '/metrics',
      '/ready',
      '/assets/gone-123.js',
      '/assets/',
      '/favicon.ico',
      '/notes.unknown',
      '/index.html/x.js',
      '/%2e%2e/%2e%2e/etc/passwd.txt',
    ]) {
      const res = await app.inject({ url });
      expect(res.statusCode, url).toBe(404);
      expect(res.json().error, url).toBe('not_found');
    }
    expect((await app.inject({ method: 'POST', url: '/advisories' })).statusCode).toBe(404);
    // Dot segments name no file outside the build: at most the page, which has no such route.
    for (const url of ['/../../etc/passwd', '/%2e%2e/%2e%2e/etc/passwd', '/assets/../index.html']) {
      const res = await app.inject({ url });
      expect([200, 404], url).toContain(res.statusCode);
      if (res.statusCode === 200) expect(res.body, url).toBe(INDEX);
    }
  });

  it('without a build answers console paths with 503 and how to build, and the API as before', async () => {
    const empty = mkdtempSync(join(tmpdir(), 'bulwark-web-empty-'));
    const bare = await appWith(empty);
    try {
      const res = await bare.inject({ url: '/advisories' });
      expect(res.statusCode).toBe(503);
      expect(res.body).toContain('npm run build');
      expect(res.headers['content-security-policy']).toBe(CONSOLE_CSP);
      expect((await bare.inject({ url: '/api/v1/things' })).statusCode).toBe(200);
    } finally {
      await bare.close();
      rmSync(empty, { recursive: true, force: true });
    }
  });
});
