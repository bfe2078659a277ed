import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ConfigError, ENV_KEYS, loadServerConfig } from './config.js';

const file = (text: string, name = 'bulwark.yaml') => {
  const path = join(mkdtempSync(join(tmpdir(), 'bulwark-config-')), name);
  writeFileSync(path, text);
  return path;
};

describe('server configuration', () => {
  it('defaults to loopback:8440 on the embedded database', () => {
    const c = loadServerConfig({});
    expect(c).toMatchObject({ host: '127.0.0.1', port: 8440, data_dir: 'bulwark-data', log_level: 'info' });
    expect(c.database_url).toBeUndefined();
    expect(c.builtin_advisories).toBe(true);
  });

  it('layers file < environment < flags', () => {
    const path = file('port: 9000\nhost: 0.0.0.0\nlog_level: warn\nlogin_rate_limit: { max: 3 }\n');
    const c = loadServerConfig({
      file: path,
      env: { BULWARK_PORT: '9100', BULWARK_LOG_LEVEL: 'debug' },
      overrides: { log_level: 'error' },
    });
    expect(c).toMatchObject({ host: '0.0.0.0', port: 9100, log_level: 'error' });
    expect(c.login_rate_limit).toEqual({ max: 3, window_seconds: 60 });
  });

  it('names the file, variable or flag at fault', () => {
    expect(() => loadServerConfig({ file: file('port: 9000\nprot: 1\n') })).toThrow(/bulwark\.yaml.*prot/);
    expect(() => loadServerConfig({ file: file('port: [1\n') })).toThrow(/bulwark\.yaml:\d+:\d+/);
    expect(() => loadServerConfig({ env: { BULWARK_PORT: 'eighty' } })).toThrow(
      /BULWARK_PORT: "eighty" is not a number/,
    );
    expect(() => loadServerConfig({ env: { BULWARK_DATABASE_URL: 'mysql://x' } })).toThrow(
      /^BULWARK_DATABASE_URL: database_url: must start with postgres:\/\//,
    );
    expect(() => loadServerConfig({ overrides: { database_url: 'sqlite:x' } })).toThrow(/^--database: /);
    expect(() => loadServerConfig({ env: { BULWARK_BUILTIN_ADVISORIES: 'yes' } })).toThrow(
      /use true or false/,
    );
    expect(() => loadServerConfig({ file: '/nonexistent/bulwark.yaml' })).toThrow(/cannot read \(ENOENT\)/);
  });

  it('retention and the jobs lease: defaults, environment, bounds named', () => {
    expect(loadServerConfig({})).toMatchObject({
      event_retention_days: 30,
      job_retention_days: 30,
      jobs_lease_seconds: 30,
    });
    expect(
      loadServerConfig({
        env: {
          BULWARK_EVENT_RETENTION_DAYS: '7',
          BULWARK_JOB_RETENTION_DAYS: '90',
          BULWARK_JOBS_LEASE_SECONDS: '5',
        },
      }),
    ).toMatchObject({ event_retention_days: 7, job_retention_days: 90, jobs_lease_seconds: 5 });
    expect(() => loadServerConfig({ env: { BULWARK_JOBS_LEASE_SECONDS: '4' } })).toThrow(
      /^BULWARK_JOBS_LEASE_SECONDS: jobs_lease_seconds: .*5/,
    );
    expect(() => loadServerConfig({ env: { BULWARK_JOBS_LEASE_SECONDS: '3601' } })).toThrow(
      /^BULWARK_JOBS_LEASE_SECONDS: jobs_lease_seconds: .*3600/,
    );
    expect(() => loadServerConfig({ env: { BULWARK_EVENT_RETENTION_DAYS: 'month' } })).toThrow(
      /^BULWARK_EVENT_RETENTION_DAYS: "month" is not a number/,
    );
    expect(() => loadServerConfig({ file: file('job_retention_days: 0\n') })).toThrow(
      /bulwark\.yaml: job_retention_days: .*1/,
    );
    expect(() => loadServerConfig({ file: file('event_retention_days: 1.5\n') })).toThrow(
      /bulwark\.yaml: event_retention_days: /,
    );
  });

  it('documents every environment variable in docs/configuration.md', async () => {
    const { readFileSync } = await import('node:fs');
    const doc = readFileSync(new URL('../../docs/configuration.md', import.meta.url), 'utf8');
    for (const name of Object.keys(ENV_KEYS)) expect(doc).toContain(name);
  });

  it('any text in a configuration file gives a config or a ConfigError, nothing else', () => {
    const path = file('');
    fc.assert(
      fc.property(fc.string({ maxLength: 200 }), (text) => {
        writeFileSync(path, text);
        try {
          loadServerConfig({ file: path });
        } catch (err) {
          expect(err).toBeInstanceOf(ConfigError);
        }
      }),
      { numRuns: 200 },
    );
  });
});
