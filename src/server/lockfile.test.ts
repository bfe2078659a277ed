import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import ts from 'typescript';
import { afterEach, describe, expect, it } from 'vitest';
import {
  acquireDataDirLock,
  DataDirLockedError,
  dataDirLockHolder,
  LOCK_FILE,
  pidAlive,
} from './lockfile.js';

const dirs: string[] = [];
const children: ChildProcess[] = [];
const tempDir = () => {
  const d = mkdtempSync(join(tmpdir(), 'bulwark-lock-'));
  dirs.push(d);
  return d;
};

afterEach(() => {
  for (const c of children.splice(0)) if (c.exitCode === null && c.pid) process.kill(c.pid);
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

/** A pid that belonged to a process which has exited. */
function deadPid(): number {
  const r = spawnSync(process.execPath, ['-e', '0']);
  expect(pidAlive(r.pid)).toBe(false);
  return r.pid;
}

/** A live process that is not us. */
function liveChild(): number {
  const c = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 60000)'], { stdio: 'ignore' });
  children.push(c);
  return c.pid!;
}

describe('data-directory lock', () => {
  it('writes our pid, refuses a second holder and is gone after release', () => {
    const dir = join(tempDir(), 'nested', 'data');
    const lock = acquireDataDirLock(dir);
    const path = join(dir, LOCK_FILE);
    expect(readFileSync(path, 'utf8')).toBe(`${process.pid}\n`);
    expect(dataDirLockHolder(dir)).toBe(process.pid);
    expect(() => acquireDataDirLock(dir)).toThrow(DataDirLockedError);
    expect(() => acquireDataDirLock(dir)).toThrow(new RegExp(`in use by process ${process.pid}`));
    lock.release();
    lock.release();
    expect(existsSync(path)).toBe(false);
    expect(dataDirLockHolder(dir)).toBeUndefined();
    acquireDataDirLock(dir).release();
  });

  it('refuses while another live process holds it, naming the pid and the file', () => {
    const dir = tempDir();
    const pid = liveChild();
    writeFileSync(join(dir, LOCK_FILE), `${pid}\n`);
    expect(dataDirLockHolder(dir)).toBe(pid);
    expect(() => acquireDataDirLock(dir)).toThrow(
      `data directory ${dir} is in use by process ${pid} (lock file ${join(dir, LOCK_FILE)})`,
    );
    expect(readFileSync(join(dir, LOCK_FILE), 'utf8')).toBe(`${pid}\n`);
  });

  it('replaces a stale lock (dead pid, or garbage) and leaves nothing else behind', () => {
    for (const content of [`${deadPid()}\n`, 'not a pid', '', '0\n', '-1\n']) {
      const dir = tempDir();
      writeFileSync(join(dir, LOCK_FILE), content);
      expect(dataDirLockHolder(dir)).toBeUndefined();
      const lock = acquireDataDirLock(dir);
      expect(dataDirLockHolder(dir)).toBe(process.pid);
      expect(readdirSync(dir)).toEqual([LOCK_FILE]);
      lock.release();
      expect(readdirSync(dir)).toEqual([]);
    }
  });

  it('release does not remove a lock that is no longer ours', () => {
    const dir = tempDir();
    const lock = acquireDataDirLock(dir);
    const other = liveChild();
    writeFileSync(join(dir, LOCK_FILE), `${other}\n`);
    lock.release();
    expect(dataDirLockHolder(dir)).toBe(other);
  });

  it('lets exactly one of several processes racing for a stale lock win', async () => {
    const dir = tempDir();
    writeFileSync(join(dir, LOCK_FILE), `${deadPid()}\n`);
    // The children run this very module, compiled to plain JavaScript (it imports only node:fs and node:path).
    const source = readFileSync(new URL('./lockfile.ts', import.meta.url), 'utf8');
    const js = ts.transpileModule(source, {
      compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022 },
    }).outputText;
    const modulePath = join(tempDir(), 'lockfile.mjs');
    writeFileSync(modulePath, js);
    const script = `
      const { acquireDataDirLock } = await import(${JSON.stringify(pathToFileURL(modulePath).href)});
      let r;
      try { acquireDataDirLock(${JSON.stringify(dir)}); r = 'won'; } catch (e) { r = e.name === 'DataDirLockedError' ? 'lost' : String(e); }
      process.stdout.write(r);
      setTimeout(() => {}, 30000);
    `;
    const runs = Array.from(
      { length: 6 },
      () =>
        new Promise<string>((resolve) => {
          const c = spawn(process.execPath, ['--input-type=module', '-e', script], {
            stdio: ['ignore', 'pipe', 'inherit'],
          });
          children.push(c);
          let out = '';
          c.stdout.on('data', (d) => {
            out += d;
            resolve(out);
          });
          c.on('exit', () => resolve(out));
        }),
    );
    const results = await Promise.all(runs);
    expect(results.sort()).toEqual(['lost', 'lost', 'lost', 'lost', 'lost', 'won']);
    const winner = dataDirLockHolder(dir);
    expect(children.map((c) => c.pid)).toContain(winner);
    expect(readdirSync(dir)).toEqual([LOCK_FILE]);
  });
});
