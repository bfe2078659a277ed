import { spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const BIN = fileURLToPath(new URL('../../bin/bulwark.js', import.meta.url));

/** Waits until the child's standard error contains `text` (bounded). */
function waitFor(read: () => string, text: string, ms = 10_000): Promise<void> {
  const until = Date.now() + ms;
  return new Promise((resolve, reject) => {
    const tick = () => {
      if (read().includes(text)) resolve();
      else if (Date.now() > until) reject(new Error(`timed out waiting for "${text}" in: ${read()}`));
      else setTimeout(tick, 50);
    };
    tick();
  });
}

describe('bulwark gateway (the built CLI)', () => {
  it('reloads on a rule file change and on SIGHUP, keeps the old rules when the new ones are bad, stops on SIGTERM', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'bulwark-gw-cli-'));
    const rules = join(dir, 'rules.conf');
    writeFileSync(rules, 'SecRule REQUEST_URI "@contains /blocked" "id:1000,phase:1,deny,status:403"\n');
    const config = join(dir, 'gateway.yaml');
    writeFileSync(
      config,
      `listen: [{ host: 127.0.0.1, port: 0 }]\nroutes:\n  - name: app\n    upstream: { url: "http://127.0.0.1:9" }\n    rules: [rules.conf]\n    mode: enforce\n`,
    );
    const child = spawn(process.execPath, [BIN, 'gateway', '--config', config], {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let err = '';
    child.stderr.on('data', (d) => {
      err += d;
    });
    try {
      await waitFor(() => err, 'listening on');
      writeFileSync(rules, 'SecRule REQUEST_URI "@contains /other" "id:1000,phase:1,deny,status:403"\n');
      await waitFor(() => err, 'reloaded (');
      writeFileSync(rules, 'SecAction "id:1,phase:1,pass"\n');
      await waitFor(() => err, 'reload refused');
      expect(err).toMatch(/reload refused, the running configuration stays: .*rules\.conf:1/);
      writeFileSync(rules, 'SecRule REQUEST_URI "@contains /x" "id:1001,phase:1,deny"\n');
      await new Promise((r) => setTimeout(r, 500));
      const before = (err.match(/reloaded \(/g) ?? []).length;
      child.kill('SIGHUP');
      await waitFor(() => ((err.match(/reloaded \(/g) ?? []).length > before ? err : ''), 'reloaded');
      expect(err).toMatch(/reloaded \(SIGHUP\)|reloaded \(.*changed\)/);
    } finally {
      const closed = new Promise((resolve) => child.on('close', resolve));
      child.kill('SIGTERM');
      expect(await closed).toBe(0);
    }
  }, 30_000);

  it('refuses to start on an invalid rule file, naming file and line', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'bulwark-gw-cli-'));
    writeFileSync(join(dir, 'bad.conf'), '# comment\nSecRule REQUEST_URI "@rx (?=x)" "id:5,phase:1,deny"\n');
    const child = spawn(
      process.execPath,
      [
        BIN,
        'gateway',
        '--listen',
        '127.0.0.1:0',
        '--upstream',
        'http://127.0.0.1:9',
        '--config',
        join(dir, 'x.yaml'),
      ],
      { stdio: ['ignore', 'ignore', 'pipe'] },
    );
    let err = '';
    child.stderr.on('data', (d) => {
      err += d;
    });
    const code = await new Promise((resolve) => child.on('close', resolve));
    expect(code).toBe(2);
    expect(err).toMatch(/^bulwark: give either --config or --listen\/--upstream/);
    writeFileSync(
      join(dir, 'gw.yaml'),
      'listen: [{ host: 127.0.0.1, port: 0 }]\nroutes:\n  - name: a\n    upstream: { url: "http://127.0.0.1:9" }\n    rules: [bad.conf]\n',
    );
    const bad = spawn(process.execPath, [BIN, 'gateway', '--config', join(dir, 'gw.yaml')], {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let err2 = '';
    bad.stderr.on('data', (d) => {
      err2 += d;
    });
    expect(await new Promise((resolve) => bad.on('close', resolve))).toBe(2);
    expect(err2).toMatch(/bad\.conf:2/);
  }, 30_000);
});
