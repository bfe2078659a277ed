/**
 * One process at a time owns a data directory with the embedded database: `bulwark serve` holds
 * `<dataDir>/server.lock` (containing its pid) while it runs, and `bulwark restore` refuses to replace the
 * database under a live server. A lock left behind by a process that is gone (crash, kill -9) is replaced.
 *
 * The pid check is local: a data directory on a network file system shared between machines is not protected.
 * A lock whose pid has since been reused by an unrelated process looks live; the error names the file to remove.
 */
import { linkSync, mkdirSync, readFileSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export const LOCK_FILE = 'server.lock';

export interface DataDirLock {
  /** Removes the lock file if it is still ours. Safe to call more than once. */
  release(): void;
  readonly path: string;
  readonly pid: number;
}

export class DataDirLockedError extends Error {
  override name = 'DataDirLockedError';
  constructor(
    readonly dataDir: string,
    readonly holder: number,
    readonly lockPath: string,
  ) {
    super(
      `data directory ${dataDir} is in use by process ${holder} (lock file ${lockPath}); stop that process first, or remove the lock file if that pid is not a Bulwark server`,
    );
  }
}

/** Whether a process with this pid exists (EPERM: it exists but belongs to someone else). */
export function pidAlive(pid: number): boolean {
  // Never 0 or negative: kill(0) and kill(-n) address process groups.
  if (!Number.isSafeInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function readPid(path: string): number | undefined {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
  const m = /^\s*(\d{1,10})\s*(?:\n|$)/.exec(text);
  return m ? Number(m[1]) : Number.NaN;
}

/** The pid of the live process holding the data directory's lock, if any. */
export function dataDirLockHolder(dataDir: string): number | undefined {
  const pid = readPid(join(dataDir, LOCK_FILE));
  return pid !== undefined && pidAlive(pid) ? pid : undefined;
}

/** Creates `path` holding `<pid>\n` only if it does not exist. Written to a temporary file and hard-linked into
 * place, so nobody ever reads a lock file that exists but has no pid in it yet. */
function createWithPid(path: string, pid: number): boolean {
  const temp = `${path}.${pid}.tmp`;
  writeFileSync(temp, `${pid}\n`, { mode: 0o644 });
  try {
    linkSync(temp, path);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw err;
  } finally {
    try {
      unlinkSync(temp);
    } catch {
      // already gone
    }
  }
}

function unlinkIfPresent(path: string): void {
  try {
    unlinkSync(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
}

const pause = new Int32Array(new SharedArrayBuffer(4));

/**
 * Takes `<dataDir>/server.lock` (creating the directory if needed) or throws DataDirLockedError naming the live
 * holder. The lock is created atomically with its pid in it (link of a temporary file), so of several processes
 * starting at once exactly one wins. A stale lock (its pid is gone) is removed only by the process holding a
 * second, short-lived lock (`server.lock.break`), after reading it again under that lock: nobody can replace the
 * stale lock while it is being checked, so a live lock is never removed by mistake. (A breaker left behind by a
 * process killed in those microseconds is itself removed once its pid is gone.)
 */
export function acquireDataDirLock(dataDir: string): DataDirLock {
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  const path = join(dataDir, LOCK_FILE);
  const breaker = `${path}.break`;
  const pid = process.pid;
  for (let attempt = 0; attempt < 200; attempt++) {
    if (createWithPid(path, pid)) return ownLock(path, pid);
    const holder = readPid(path);
    if (holder === undefined) continue; // released in between: try again
    if (pidAlive(holder)) throw new DataDirLockedError(dataDir, holder, path);
    if (createWithPid(breaker, pid)) {
      try {
        // Still the same stale lock? (Object.is: an unreadable lock reads as NaN both times.)
        if (Object.is(readPid(path), holder)) unlinkIfPresent(path);
      } finally {
        unlinkIfPresent(breaker);
      }
      continue;
    }
    const breakerHolder = readPid(breaker);
    if (breakerHolder !== undefined && !pidAlive(breakerHolder)) unlinkIfPresent(breaker);
    Atomics.wait(pause, 0, 0, 2); // another process is breaking the stale lock: give it a moment
  }
  throw new Error(`could not take the lock ${path}: it keeps changing; is another process starting?`);
}

function ownLock(path: string, pid: number): DataDirLock {
  let released = false;
  const release = () => {
    if (released) return;
    released = true;
    process.removeListener('exit', release);
    try {
      if (readPid(path) === pid) unlinkSync(path);
    } catch {
      // Nothing to do on the way out.
    }
  };
  process.on('exit', release);
  return { release, path, pid };
}
