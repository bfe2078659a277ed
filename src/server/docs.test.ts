/**
 * docs/api.md, docs/configuration.md and docs/operations.md say what the server does (issue 11 item 6: each
 * disagreement found became a line here): every configuration key and variable is documented, the CLI's
 * configuration files are described as they are, the CSRF token is where the docs say (the sign-in body, not a
 * cookie), and the first-start output shown is what the server prints.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ADMIN, openTestServer } from './app.testkit.js';
import { ENV_KEYS, serverConfigSchema } from './config.js';
import { SESSION_COOKIE } from './context.js';
import { setupInstructions } from './setup-command.js';

const doc = (name: string) => readFileSync(new URL(`../../docs/${name}`, import.meta.url), 'utf8');

describe('docs/configuration.md', () => {
  const text = doc('configuration.md');

  it('documents every server configuration key and environment variable', () => {
    for (const key of Object.keys(serverConfigSchema.properties)) expect(text, key).toContain(`\`${key}`);
    for (const name of Object.keys(ENV_KEYS)) expect(text, name).toContain(`\`${name}\``);
  });

  it('says which commands take a configuration file (serve and gateway take --config)', () => {
    const main = readFileSync(new URL('../cli/main.ts', import.meta.url), 'utf8');
    expect(main).toMatch(/--config <file>/);
    const intro = text.slice(0, text.indexOf('\n## '));
    expect(intro).not.toMatch(/reads no configuration file yet/);
    expect(intro).toMatch(/`bulwark serve`/);
    expect(intro).toMatch(/`bulwark gateway`/);
    expect(intro).toMatch(/--config FILE/);
  });
});

describe('docs/api.md', () => {
  const text = doc('api.md');

  it('shows the first-start output the server prints', () => {
    const printed = setupInstructions('http://127.0.0.1:8440', '3kQ…');
    for (const line of printed) expect(text, line).toContain(line);
    expect(text).not.toContain('<12+ characters>"');
  });

  it('puts the CSRF token where the server does: in the sign-in body, never in a cookie', async () => {
    expect(text).toMatch(/`csrf_token` in the \*\*response body\*\*/);
    const t = await openTestServer('sqlite');
    try {
      const res = await t!.app.inject({
        method: 'POST',
        url: '/api/v1/session',
        payload: { email: ADMIN.email, password: ADMIN.password },
      });
      expect(res.cookies.map((c) => c.name)).toEqual([SESSION_COOKIE]);
      expect(res.json().csrf_token).toMatch(/\S{20,}/);
    } finally {
      await t?.dispose();
    }
  }, 60_000);

  it('documents the confirmation tenant deletion needs and the audit list shape', () => {
    expect(text).toContain('`?confirm={t}`');
    expect(text).toMatch(/\{seq, at, actor, tenant_id, action, target, detail, prev_hash, hash\}/);
  });
});

describe('docs/operations.md', () => {
  const text = doc('operations.md');

  it('describes /ready and /metrics as they answer', () => {
    expect(text).toContain('"database":"unavailable"');
    expect(text).toContain('metrics_public: true');
  });
});
