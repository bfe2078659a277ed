/**
 * `bulwark serve` as a user runs it: the built executable in its own process on the embedded database. It prints
 * the URL and a one-time setup link, answers health checks, holds the data directory against a second server,
 * keeps its data across restarts, and exits 0 on SIGTERM after finishing in-flight work.
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const BIN = join(ROOT, 'bin/bulwark.js');

function start(
  dataDir: string,
): Promise<{ child: ChildProcess; url: string; token?: string; output: () => string }> {
  const child = spawn(
    process.execPath,
    [BIN, '--data-dir', dataDir, 'serve', '--port', '0', '--log-level', 'warn'],
    {
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  let out = '';
  child.stdout!.on('data', (d) => {
    out += d;
  });
  child.stderr!.on('data', (d) => {
    out += d;
  });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`serve did not start: ${out}`)), 30_000);
    const check = () => {
      const url = /listening on (http:\/\/\S+)/.exec(out)?.[1];
      if (url && (out.includes('API docs') || child.exitCode !== null)) {
        clearTimeout(timer);
        const token = /setup#token=(\S+)/.exec(out)?.[1];
        resolve({ child, url, token, output: () => out });
      }
    };
    child.stdout!.on('data', check);
    child.on('exit', () => {
      clearTimeout(timer);
      reject(new Error(`serve exited: ${out}`));
    });
  });
}

const stopped = (child: ChildProcess) =>
  new Promise<number | null>((resolve) => {
    if (child.exitCode !== null) resolve(child.exitCode);
    else child.once('exit', (code) => resolve(code));
  });

describe.skipIf(!existsSync(join(ROOT, 'dist/cli/main.js')))('bulwark serve (built executable)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'bulwark-serve-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('starts on the embedded database with a setup link, refuses a second server, stops cleanly, restarts', async () => {
    const first = await start(dir);
    expect(first.token).toMatch(/^[A-Za-z0-9_-]{20,}$/);
    expect(((await (await fetch(`${first.url}/ready`)).json()) as { ready: boolean }).ready).toBe(true);
    const setup = await fetch(`${first.url}/api/v1/setup`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        token: first.token,
        email: 'admin@x.example',
        name: 'Admin',
        password: 'long enough password',
      }),
    });
    expect(setup.status).toBe(201);

    const second = spawnSync(process.execPath, [BIN, '--data-dir', dir, 'serve', '--port', '0'], {
      encoding: 'utf8',
      timeout: 30_000,
    });
    expect(second.status).toBe(2);
    expect(second.stderr).toMatch(/in use by process \d+/);

    first.child.kill('SIGTERM');
    expect(await stopped(first.child)).toBe(0);
    expect(existsSync(join(dir, 'server.lock'))).toBe(false);

    // Data survives; no new setup token once an administrator exists.
    const again = await start(dir);
    expect(again.token).toBeUndefined();
    const login = await fetch(`${again.url}/api/v1/session`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ email: 'admin@x.example', password: 'long enough password' }),
    });
    expect(login.status).toBe(200);
    again.child.kill('SIGINT');
    expect(await stopped(again.child)).toBe(0);
  });

  it('refuses a database URL that is not PostgreSQL with one line and exit 2', () => {
    const r = spawnSync(process.execPath, [BIN, '--data-dir', dir, 'serve', '--database', 'mysql://x@y/z'], {
      encoding: 'utf8',
      timeout: 30_000,
    });
    expect(r.status).toBe(2);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(/postgres:\/\//);
  });
});
