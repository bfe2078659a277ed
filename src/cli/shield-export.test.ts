/**
 * `bulwark shield export` as a shell runs it: every target's exit code and that what it printed is a valid file
 * for that target (SecLang that parses, web.config XML, HAProxy lines `haproxy -c` accepts when HAProxy is here).
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { XMLValidator } from 'fast-xml-parser';
import { describe, expect, it } from 'vitest';
import { parseSecLangAst } from '../shield/seclang/index.js';
import { runCli } from './run.testkit.js';

const HAPROXY = ['/usr/sbin/haproxy', '/usr/bin/haproxy'].find((p) => existsSync(p));

function haproxyAccepts(snippet: string): boolean {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'bulwark-cli-haproxy-'));
  try {
    const cfg = path.join(dir, 'haproxy.cfg');
    const body = snippet
      .split('\n')
      .map((l) => `  ${l}`)
      .join('\n');
    writeFileSync(
      cfg,
      `defaults\n  mode http\n  timeout client 5s\n  timeout server 5s\n  timeout connect 5s\nfrontend fe\n  bind 127.0.0.1:18081\n${body}\n  default_backend be\nbackend be\n  server s1 127.0.0.1:9\n`,
    );
    return spawnSync(HAPROXY!, ['-c', '-f', cfg], { encoding: 'utf8' }).status === 0;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const ADVISORY = ['--advisory', 'proxylogon-2021-03'];

describe('bulwark shield export exit codes', () => {
  it('modsecurity: everything exported, exit 0, output parses as SecLang', async () => {
    const r = await runCli(['shield', 'export', '--format', 'modsecurity', ...ADVISORY]);
    expect(r.code).toBe(0);
    expect(parseSecLangAst(r.stdout, 'export').rules.map((x) => x.id)).toContain(4210556);
  });

  it('iis: a valid web.config with some rules left out (reported) exits 0', async () => {
    const r = await runCli(['shield', 'export', '--format', 'iis', ...ADVISORY]);
    expect(r.code).toBe(0);
    expect(XMLValidator.validate(r.stdout)).toBe(true);
    expect(r.stdout).toContain('X-AnonResource-Backend Abort - inbound');
    expect(r.stderr).toMatch(/not exported rule 4210556/);
  });

  it('nginx and haproxy with --lossy: the cookie rules exported, the body rule reported, exit 0', async () => {
    for (const format of ['nginx', 'haproxy']) {
      const r = await runCli(['shield', 'export', '--format', format, '--lossy', ...ADVISORY]);
      expect(r.code, `${format}: ${r.stderr}`).toBe(0);
      expect(r.stdout).toMatch(format === 'nginx' ? /return 444;/ : /http-request silent-drop/);
      expect(r.stderr).toMatch(/not exported rule 4210556/);
      if (format === 'haproxy' && HAPROXY) expect(haproxyAccepts(r.stdout)).toBe(true);
    }
  });

  it('--json: exit 0 with the skipped rules in the object', async () => {
    const r = await runCli(['shield', 'export', '--format', 'haproxy', '--lossy', '--json', ...ADVISORY]);
    expect(r.code).toBe(0);
    const o = JSON.parse(r.stdout) as { skipped: { id: number }[]; text: string };
    expect(o.skipped.map((s) => s.id)).toContain(4210556); // the body rule: HAProxy cannot read bodies
    expect(o.text).toMatch(/silent-drop/);
  });

  it('--require-all: exit 1 when a rule is left out, 0 when none is', async () => {
    const some = await runCli(['shield', 'export', '--format', 'iis', '--require-all', ...ADVISORY]);
    expect(some.code).toBe(1);
    const all = await runCli(['shield', 'export', '--format', 'modsecurity', '--require-all', ...ADVISORY]);
    expect(all.code).toBe(0);
  });

  it('an export that would enforce nothing is an error (exit 2, one line, nothing on stdout)', async () => {
    for (const format of ['nginx', 'haproxy']) {
      const r = await runCli(['shield', 'export', '--format', format, ...ADVISORY]);
      expect(r.code, format).toBe(2);
      expect(r.stdout).toBe('');
      expect(r.stderr).toMatch(
        new RegExp(`^bulwark: none of the \\d+ rule\\(s\\) can be expressed for ${format} .*--lossy`),
      );
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
    }
  });

  it('unknown advisory and unreadable file: exit 2', async () => {
    expect((await runCli(['shield', 'export', '--format', 'nginx', '--advisory', 'nope'])).code).toBe(2);
    expect((await runCli(['shield', 'export', '--format', 'nginx', '/nonexistent/x.conf'])).code).toBe(2);
  });
});
