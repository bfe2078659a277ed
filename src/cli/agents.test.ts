/**
 * `bulwark agent token`, `bulwark agents list|show|revoke` and `bulwark agent-jobs run|list|show` against the real
 * server listening on 127.0.0.1, on SQLite and PostgreSQL.
 */
import { generateKeyPairSync } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { enrollSigningBytes, publicKeyToRaw, signBytes } from '../api/agent-protocol.js';
import { enrollAgent } from '../api/index.js';
import { openTestServer, type TestServer } from '../server/app.testkit.js';
import { TEST_DIALECTS } from '../server/db/db.testkit.js';
import { parseDuration } from './commands/agents.js';
import { runCli } from './run.testkit.js';

describe.each(TEST_DIALECTS)('bulwark agent token / agents / agent-jobs on %s', (dialect) => {
  let s: TestServer | undefined;
  let url = '';
  let operator = '';

  beforeAll(async () => {
    s = await openTestServer(dialect);
    if (!s) return;
    await s.app.listen({ host: '127.0.0.1', port: 0 });
    url = `http://127.0.0.1:${(s.app.server.address() as AddressInfo).port}`;
    await s.call(s.admin, { method: 'POST', url: '/api/v1/tenants', payload: { id: 'acme', name: 'ACME' } });
    await s.call(s.admin, {
      method: 'POST',
      url: '/api/v1/tenants/acme/sites',
      payload: { id: 'hq', name: 'HQ' },
    });
    operator = (await s.token({ role: 'technician', tenant_id: null })).headers.authorization!.replace(
      /^Bearer /,
      '',
    );
  }, 60_000);
  afterAll(async () => s?.dispose());

  const run = (argv: string[], token = operator) => runCli(argv, { BULWARK_TOKEN: token });

  it('prints an enrolment token (--json: {"token": …}) that enrols an agent, which the agents commands show and revoke', async () => {
    if (!s) return;
    const res = await run([
      'agent',
      'token',
      '--server',
      url,
      '--tenant',
      'acme',
      '--site',
      'hq',
      '--uses',
      '2',
      '--ttl',
      '30m',
      '--json',
    ]);
    expect(res.code, res.stderr).toBe(0);
    const out = JSON.parse(res.stdout);
    expect(out.token).toMatch(/^bwe_[A-Za-z0-9]{12}_[A-Za-z0-9_-]{43}$/);
    const ttl = (Date.parse(out.expires_at) - Date.now()) / 1000;
    expect(ttl).toBeGreaterThan(1700);
    expect(ttl).toBeLessThanOrEqual(1800);

    const plain = await run(['agent', 'token', '--server', url, '--tenant', 'acme']);
    expect(plain.code).toBe(0);
    expect(plain.stdout.trim()).toMatch(/^bwe_/);

    const { privateKey, publicKey } = generateKeyPairSync('ed25519');
    const raw = publicKeyToRaw(publicKey);
    const enrolled = await enrollAgent(
      { baseUrl: url },
      {
        token: out.token,
        public_key: raw,
        proof: signBytes(privateKey, enrollSigningBytes(out.token.slice(4, 16), raw)),
        hostname: 'mail\u001b[31m01',
        version: '0.1.0',
      },
    );
    expect(enrolled.site_id).toBe('hq');

    const list = await run(['agents', 'list', '--server', url, '--tenant', 'acme']);
    expect(list.code, list.stderr).toBe(0);
    expect(list.stdout).toContain(enrolled.agent_id);
    // The hostname came from the agent: escaped, never obeyed.
    expect(list.stdout).not.toContain('\u001b');
    const show = await run([
      'agents',
      'show',
      enrolled.agent_id,
      '--server',
      url,
      '--tenant',
      'acme',
      '--json',
    ]);
    expect(show.code).toBe(0);
    expect(JSON.parse(show.stdout)).toMatchObject({ id: enrolled.agent_id, state: 'active' });

    const jobs = await run([
      'agent-jobs',
      'run',
      '--server',
      url,
      '--tenant',
      'acme',
      '--kind',
      'hunt',
      '--agent',
      enrolled.agent_id,
      '--params',
      '{"advisory_id":"proxylogon-2021-03"}',
      '--json',
    ]);
    expect(jobs.code, jobs.stderr).toBe(0);
    const jobId = JSON.parse(jobs.stdout).jobs[0].id;
    const jl = await run([
      'agent-jobs',
      'list',
      '--server',
      url,
      '--tenant',
      'acme',
      '--agent',
      enrolled.agent_id,
    ]);
    expect(jl.stdout).toContain(jobId);
    const js = await run(['agent-jobs', 'show', jobId, '--server', url, '--tenant', 'acme']);
    expect(js.code).toBe(0);
    expect(js.stdout).toContain('queued');

    const revoke = await run([
      'agents',
      'revoke',
      enrolled.agent_id,
      '--server',
      url,
      '--tenant',
      'acme',
      '--reason',
      'test',
    ]);
    expect(revoke.code, revoke.stderr).toBe(0);
    // Its job was cancelled with it: show exits 1.
    expect((await run(['agent-jobs', 'show', jobId, '--server', url, '--tenant', 'acme'])).code).toBe(1);
  });

  it('refuses bad input with one usage error (exit 2) before or from the server', async () => {
    if (!s) return;
    const noToken = await runCli(['agent', 'token', '--server', url, '--tenant', 'acme'], {});
    expect(noToken.code).toBe(2);
    expect(noToken.stderr).toMatch(/BULWARK_TOKEN/);
    const ttl = await run(['agent', 'token', '--server', url, '--tenant', 'acme', '--ttl', '10s']);
    expect(ttl.code).toBe(2);
    expect(ttl.stderr).toMatch(/--ttl/);
    const tenant = await run(['agent', 'token', '--server', url, '--tenant', 'nope']);
    expect(tenant.code).toBe(2);
    expect(tenant.stderr).toMatch(/404/);
    const both = await run(['agent-jobs', 'run', '--server', url, '--tenant', 'acme', '--kind', 'inventory']);
    expect(both.code).toBe(2);
    expect(both.stderr).toMatch(/--agent ID .* or --all/);
    const params = await run([
      'agent-jobs',
      'run',
      '--server',
      url,
      '--tenant',
      'acme',
      '--kind',
      'inventory',
      '--all',
      '--params',
      '{',
    ]);
    expect(params.code).toBe(2);
  });

  it('reads durations', () => {
    expect(parseDuration('--ttl', '1h')).toBe(3600);
    expect(parseDuration('--ttl', '30m')).toBe(1800);
    expect(parseDuration('--ttl', '7d')).toBe(604800);
    expect(parseDuration('--ttl', '90')).toBe(90);
    expect(() => parseDuration('--ttl', '1w')).toThrow(/--ttl/);
  });
});
