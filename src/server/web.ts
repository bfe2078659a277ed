/**
 * The web console: the files Vite builds into dist/web, served at `/` on the API's own origin.
 *
 * One route, `GET /*`, answers every path the API does not: a file of the build (hashed files under /assets/
 * are cached for a year, everything else is revalidated), and index.html for any other path, so that a console
 * URL can be opened, reloaded and shared. Paths of the API and of operations (/api, /metrics, /health, /ready)
 * and paths that name a missing file get the server's JSON 404 instead. Every console answer carries a strict
 * Content-Security-Policy: scripts and styles from this origin only, nothing inline.
 *
 * The files are read once, at registration, and served from memory (with a gzip copy of text files), so the
 * route never touches the file system with a name from a request.
 *
 * For a signed-in browser (its session cookie names a live session) the page names the API requests the console
 * will make first for that URL (console-requests.ts: GET /api/v1/me and the board's data) as
 * `<link rel="preload" as="fetch" crossorigin="anonymous">`, so they run while the scripts load instead of after
 * them. A page for anyone else names none: a signed-out browser must not send requests that answer 401.
 */
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { extname, join, relative, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { firstRequests } from '../api/console-requests.js';

/** dist/web of this package: two levels above both src/server/ (tests) and dist/server/ (the built server). */
export const DEFAULT_CONSOLE_DIR = fileURLToPath(new URL('../../dist/web/', import.meta.url));

export const CONSOLE_CSP = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "frame-ancestors 'none'",
  "base-uri 'none'",
  "form-action 'self'",
  "object-src 'none'",
].join('; ');

/** Headers on every answer of the console (files and pages). */
export const CONSOLE_HEADERS: Readonly<Record<string, string>> = {
  'content-security-policy': CONSOLE_CSP,
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
  'referrer-policy': 'no-referrer',
  'cross-origin-opener-policy': 'same-origin',
  'cross-origin-resource-policy': 'same-origin',
  'permissions-policy': 'camera=(), microphone=(), geolocation=(), payment=(), usb=()',
};

/** First path segments that belong to the API and operations, never to the console. */
const SERVER_SEGMENTS = new Set(['api', 'metrics', 'health', 'ready']);

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.json': 'application/json; charset=utf-8',
  '.webmanifest': 'application/manifest+json',
  '.txt': 'text/plain; charset=utf-8',
  '.woff2': 'font/woff2',
};
const COMPRESSIBLE = new Set(['.html', '.js', '.mjs', '.css', '.svg', '.json', '.webmanifest', '.txt']);

/** Bounds on what a build may hold; a larger folder is not a console build. */
const MAX_FILES = 2_000;
const MAX_BYTES = 64 * 1024 * 1024;

const IMMUTABLE = 'public, max-age=31536000, immutable';
const REVALIDATE = 'no-cache';

interface ConsoleFile {
  body: Buffer;
  gzip?: Buffer;
  type: string;
  etag: string;
  cacheControl: string;
}

export interface ConsoleOptions {
  /** The Vite build output (dist/web), with index.html at its top. */
  distDir: string;
  /**
   * Whether the request carries a live session; only then does the page name the console's first API requests
   * for preloading. Without it, no page names any.
   */
  signedIn?: (request: FastifyRequest) => Promise<boolean>;
}

/** What registerConsole found: the number of files it serves, or why it serves none. */
export type ConsoleState = { built: true; files: number } | { built: false; reason: string };

/**
 * Serves the console on `app`. Without a build (no index.html in distDir) console paths answer 503 with a
 * message saying how to build it, and the API works as before.
 */
export async function registerConsole(app: FastifyInstance, options: ConsoleOptions): Promise<ConsoleState> {
  const loaded = loadBuild(options.distDir);
  const files = loaded.files;
  const index = files.get('index.html');
  if (!loaded.state.built) app.log.warn({ distDir: options.distDir }, loaded.state.reason);

  app.get(
    '/*',
    { config: { access: 'public' }, schema: { hide: true } },
    async (request: FastifyRequest, reply: FastifyReply) => {
      const path = (request.params as { '*'?: string })['*'] ?? '';
      const first = path.split('/', 1)[0]!;
      if (SERVER_SEGMENTS.has(first)) return reply.callNotFound();
      const file = files.get(path);
      if (file && path !== 'index.html') return sendFile(request, reply, file);
      // A path with an extension names a file: a missing one is a 404, never the page in its place.
      if (first === 'assets' || extname(path) !== '') return reply.callNotFound();
      if (!index) {
        return reply
          .status(503)
          .headers(CONSOLE_HEADERS)
          .type('text/plain; charset=utf-8')
          .send(`${loaded.state.built ? '' : loaded.state.reason}\n`);
      }
      const preloads = await preloadsFor(request, options.signedIn);
      if (preloads.length) return sendPage(reply, index, preloads);
      return sendFile(request, reply, index);
    },
  );
  return loaded.state;
}

function sendFile(request: FastifyRequest, reply: FastifyReply, file: ConsoleFile): FastifyReply {
  reply.headers(CONSOLE_HEADERS).header('cache-control', file.cacheControl).header('etag', file.etag);
  if (file.gzip) reply.header('vary', 'accept-encoding');
  if (request.headers['if-none-match'] === file.etag) return reply.status(304).send();
  reply.type(file.type);
  if (file.gzip && acceptsGzip(request.headers['accept-encoding'])) {
    return reply.header('content-encoding', 'gzip').send(file.gzip);
  }
  return reply.send(file.body);
}

/** The console's first API requests for this page's URL when the browser is signed in; none otherwise. */
async function preloadsFor(request: FastifyRequest, signedIn: ConsoleOptions['signedIn']): Promise<string[]> {
  if (!signedIn) return [];
  const raw = request.raw.url ?? request.url;
  const q = raw.indexOf('?');
  const path = q < 0 ? raw : raw.slice(0, q);
  const requests = firstRequests(path, new URLSearchParams(q < 0 ? '' : raw.slice(q + 1)));
  if (!requests.length) return [];
  try {
    return (await signedIn(request)) ? requests : [];
  } catch (err) {
    // The page works without preloads: the console then asks for the same data itself.
    request.log.warn({ err }, 'console page served without preloads: the session could not be checked');
    return [];
  }
}

/**
 * index.html with preload links for `urls` before </head>. It depends on the session, so no shared or stored
 * copy may serve it to anyone else (no-store, no ETag).
 */
function sendPage(reply: FastifyReply, index: ConsoleFile, urls: readonly string[]): FastifyReply {
  const html = index.body.toString('utf8');
  const at = html.indexOf('</head>');
  const links = urls
    .map((u) => `<link rel="preload" as="fetch" crossorigin="anonymous" href="${escapeAttribute(u)}">`)
    .join('');
  const body = at < 0 ? html : `${html.slice(0, at)}${links}${html.slice(at)}`;
  return reply
    .headers(CONSOLE_HEADERS)
    .header('cache-control', 'no-store')
    .header('vary', 'cookie')
    .type(index.type)
    .send(body);
}

const ATTRIBUTE_ESCAPES: Record<string, string> = {
  '&': '&amp;',
  '"': '&quot;',
  "'": '&#39;',
  '<': '&lt;',
  '>': '&gt;',
};
const escapeAttribute = (s: string) => s.replace(/[&"'<>]/g, (c) => ATTRIBUTE_ESCAPES[c] ?? c);

function acceptsGzip(header: string | string[] | undefined): boolean {
  const value = Array.isArray(header) ? header.join(',') : (header ?? '');
  return value.split(',').some((part) => {
    const [coding, ...params] = part.trim().split(';');
    if (coding?.trim().toLowerCase() !== 'gzip') return false;
    const q = params.find((p) => p.trim().startsWith('q='));
    return !q || Number(q.trim().slice(2)) > 0;
  });
}

function loadBuild(distDir: string): { files: Map<string, ConsoleFile>; state: ConsoleState } {
  const files = new Map<string, ConsoleFile>();
  const notBuilt = (reason: string) => ({ files: new Map(), state: { built: false as const, reason } });
  if (!existsSync(join(distDir, 'index.html'))) {
    return notBuilt(`the web console is not built (no index.html in ${distDir}): run npm run build`);
  }
  let total = 0;
  const walk = (dir: string): string | undefined => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const full = join(dir, entry.name);
      if (entry.isDirectory()) {
        const problem = walk(full);
        if (problem) return problem;
        continue;
      }
      if (!entry.isFile()) continue;
      const ext = extname(entry.name).toLowerCase();
      const type = TYPES[ext];
      if (!type) continue;
      total += statSync(full).size;
      if (files.size >= MAX_FILES || total > MAX_BYTES) {
        return `${distDir} holds more than ${MAX_FILES} files or ${MAX_BYTES} bytes: not a console build`;
      }
      const rel = relative(distDir, full).split(sep).join('/');
      const body = readFileSync(full);
      const gzip = COMPRESSIBLE.has(ext) && body.length > 512 ? gzipSync(body, { level: 9 }) : undefined;
      files.set(rel, {
        body,
        ...(gzip && gzip.length < body.length ? { gzip } : {}),
        type,
        etag: `"${createHash('sha256').update(body).digest('base64url').slice(0, 22)}"`,
        // Vite names everything under assets/ by its content hash; other files keep their names.
        cacheControl: rel.startsWith('assets/') ? IMMUTABLE : REVALIDATE,
      });
    }
    return undefined;
  };
  const problem = walk(distDir);
  if (problem) return notBuilt(problem);
  return { files, state: { built: true, files: files.size } };
}
