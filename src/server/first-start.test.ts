/**
 * The first hour of a new installation (issue 11, item 4): the setup command a first start prints creates the
 * administrator only with a password someone typed — pasted unchanged it asks, and sends nothing usable — and the
 * server refuses placeholder-looking passwords everywhere a password is set. The printed link opens the web
 * console's setup page.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer as createHttpServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { buildApp } from './app.js';
import { ADMIN, openTestServer } from './app.testkit.js';
import { looksLikePlaceholder } from './auth/passwords.js';
import { loadServerConfig } from './config.js';
import { openTestDb, TEST_DIALECTS } from './db/db.testkit.js';
import { setupInstructions } from './setup-command.js';
import { startServer } from './start.js';
import { CONSOLE_CSP } from './web.js';

/** Passwords that are publicly known the moment someone pastes them. */
const PLACEHOLDERS = [
  '<12+ characters>',
  '<your password here>',
  '$BULWARK_PASSWORD',
  // biome-ignore lint/suspicious/noTemplateCurlyInString: an unexpanded variable is the point
  '${ADMIN_PASSWORD}',
  '{{ admin_password }}',
  'changeme-changeme',
  'Change-Me-Now-2024',
  'Password123456',
  'password-long-enough',
  'your-password-here!',
];

describe('placeholder passwords', () => {
  it('are recognised; ordinary passphrases are not', () => {
    for (const p of PLACEHOLDERS) expect(looksLikePlaceholder(p), p).toBe(true);
    for (const p of [
      'correct horse battery',
      'long enough password',
      'x<y>z-is-fine-1',
      'Tr0ub4dor&3-passw0rd',
    ]) {
      expect(looksLikePlaceholder(p), p).toBe(false);
    }
  });
});

describe.each(TEST_DIALECTS)('first administrator (%s)', (dialect) => {
  it('refuses placeholder passwords with a clear 400 and keeps the setup token usable', async (ctx) => {
    const db = await openTestDb(dialect);
    if (!db) return ctx.skip();
    const config = loadServerConfig({
      overrides: {
        data_dir: db.dataDir,
        log_level: 'silent',
        login_rate_limit: { max: 1000, window_seconds: 60 },
      },
    });
    const { app, ctx: appCtx } = await buildApp({ db, config, logger: false });
    try {
      await app.ready();
      const token = (await appCtx.accounts.issueSetupToken())!;
      for (const password of PLACEHOLDERS) {
        const res = await app.inject({
          method: 'POST',
          url: '/api/v1/setup',
          payload: { token, email: 'admin@x.example', name: 'Admin', password },
        });
        expect(res.statusCode, password).toBe(400);
        expect(res.json().message).toMatch(/^password: looks like a placeholder/);
      }
      expect(await appCtx.accounts.userCount()).toBe(0);
      // The same form body the printed command sends.
      const form = new URLSearchParams({
        token,
        email: 'admin@x.example',
        name: 'Administrator',
        password: 'a real pass phrase',
      });
      const ok = await app.inject({
        method: 'POST',
        url: '/api/v1/setup',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        payload: form.toString(),
      });
      expect(ok.statusCode, ok.body).toBe(201);
      expect(ok.json()).toMatchObject({ email: 'admin@x.example', role: 'admin' });
    } finally {
      await app.close();
      await db.dispose();
    }
  });

  it('refuses placeholder passwords for new users and password changes', async (ctx) => {
    const t = await openTestServer(dialect);
    if (!t) return ctx.skip();
    try {
      const user = await t.call(t.admin, {
        method: 'POST',
        url: '/api/v1/users',
        payload: { email: 'tech@x.example', name: 'Tech', role: 'technician', password: '<12+ characters>' },
      });
      expect(user.statusCode).toBe(400);
      expect(user.json().message).toMatch(/^password: looks like a placeholder/);
      const change = await t.call(t.admin, {
        method: 'POST',
        url: '/api/v1/me/password',
        payload: { current_password: ADMIN.password, new_password: 'changeme-changeme' },
      });
      expect(change.statusCode).toBe(400);
      expect(change.json().message).toMatch(/^new_password: looks like a placeholder/);
      // Only form bodies for setup: other routes still answer 415 to them.
      const formElsewhere = await t.call(t.admin, {
        method: 'POST',
        url: '/api/v1/tenants',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        payload: 'id=acme&name=Acme',
      });
      expect(formElsewhere.statusCode).toBe(415);
    } finally {
      await t.dispose();
    }
  });
});

/** The shell command from what a first start prints: the lines after "or from a shell". */
function command(lines: string[]): string {
  const at = lines.findIndex((l) => l.startsWith('or from a shell'));
  expect(at).toBeGreaterThan(0);
  const out: string[] = [];
  for (const line of lines.slice(at + 1)) {
    out.push(line.trim());
    if (!line.endsWith('\\')) break;
  }
  return out.join('\n');
}

/** Runs `cmd` with sh, typing `input`; asynchronous, since a server in this process answers it. */
function runShell(cmd: string, input: string): Promise<{ stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn('sh', ['-c', cmd], { stdio: ['pipe', 'pipe', 'pipe'], timeout: 20_000 });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => {
      stdout += d;
    });
    child.stderr.on('data', (d) => {
      stderr += d;
    });
    child.on('error', reject);
    child.on('close', () => resolve({ stdout, stderr }));
    child.stdin.end(input);
  });
}

describe('the printed setup command', () => {
  it(
    'sends any typed password and email exactly as typed (spaces, quotes, backslashes, non-ASCII)',
    async () => {
      // A stand-in for the server that decodes the form body the way Fastify's parser for this route does.
      let received: Record<string, string> = {};
      const echo = createHttpServer((req, res) => {
        let body = '';
        req.on('data', (d) => {
          body += d;
        });
        req.on('end', () => {
          received = Object.fromEntries(new URLSearchParams(body));
          res.end('{}');
        });
      });
      await new Promise<void>((resolve) => echo.listen({ host: '127.0.0.1', port: 0 }, resolve));
      const url = `http://127.0.0.1:${(echo.address() as { port: number }).port}`;
      const cmd = command(setupInstructions(url, "tok'en-1"));
      // What a person can type at a prompt: any characters but line ends and NUL, often with blanks at either end.
      const blank = fc.constantFrom('', '', ' ', '  ', '\t');
      const typed = fc
        .tuple(blank, fc.string({ unit: 'grapheme', minLength: 1, maxLength: 40 }), blank)
        .map((parts) => parts.join(''))
        .filter((v) => !/[\r\n\0]/.test(v));
      try {
        await fc.assert(
          fc.asyncProperty(typed, typed, async (email, password) => {
            received = {};
            await runShell(cmd, `${email}\n${password}\n`);
            // The email's blanks at either end go (the server trims it anyway); the password's stay.
            const trimmed = email.replace(/^[ \t]+|[ \t]+$/g, '');
            expect(received).toEqual({ token: "tok'en-1", email: trimmed, name: 'Administrator', password });
          }),
          process.env.BULWARK_PROPERTY_RUNS
            ? { numRuns: Number(process.env.BULWARK_PROPERTY_RUNS) }
            : { numRuns: 40, interruptAfterTimeLimit: 20_000 },
        );
      } finally {
        echo.close();
      }
    },
    Number(process.env.BULWARK_PROPERTY_RUNS ? 3_600_000 : 60_000),
  );

  it('carries no password, creates nothing when pasted with nothing typed, and works with what is typed', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'bulwark-first-'));
    const lines: string[] = [];
    const config = loadServerConfig({
      overrides: { data_dir: dataDir, port: 0, log_level: 'silent', builtin_advisories: false },
    });
    const server = await startServer(config, { print: (l) => lines.push(l), logger: false });
    try {
      const printed = lines.join('\n');
      expect(printed).toContain(`/setup#token=${server.setupToken}`);
      expect(printed).not.toMatch(/"password"\s*:|<12\+ characters>/);
      const cmd = command(lines);
      const run = (input: string) => runShell(cmd, input);

      // Pasted as printed, with nothing typed (end of input at the prompts): no administrator.
      const pasted = await run('');
      expect(pasted.stdout).toMatch(/"error":"bad_request".*password/);
      expect(await server.ctx.accounts.userCount()).toBe(0);

      // A placeholder typed at the prompt: refused too.
      expect((await run('admin@x.example\n<12+ characters>\n')).stdout).toMatch(/looks like a placeholder/);
      expect(await server.ctx.accounts.userCount()).toBe(0);

      // Email and password typed: the administrator exists and can sign in with exactly that password,
      // including characters a shell or a URL encoding could mangle.
      const password = `it's a "real" pass & phrase = 100%`;
      const created = await run(`admin@x.example\n${password}\n`);
      expect(created.stdout, created.stderr).toMatch(/"email":"admin@x.example"/);
      const login = await fetch(`${server.url}/api/v1/session`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ email: 'admin@x.example', password }),
      });
      expect(login.status).toBe(200);
    } finally {
      await server.close();
      rmSync(dataDir, { recursive: true, force: true });
    }
  }, 60_000);
});

describe('the setup page', () => {
  it('is the web console: GET /setup answers its page with the console CSP', async (ctx) => {
    const t = await openTestServer('sqlite');
    if (!t) return ctx.skip();
    try {
      const page = await t.app.inject({ method: 'GET', url: '/setup' });
      expect(page.statusCode).toBe(200);
      expect(page.headers['content-type']).toMatch(/^text\/html/);
      expect(page.headers['content-security-policy']).toBe(CONSOLE_CSP);
      expect(page.body).toMatch(/<html/i);
    } finally {
      await t.dispose();
    }
  });
});
