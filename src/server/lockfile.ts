/**
 * One process at a time owns a data directory with the embedded database: `bulwark serve` holds
 * `<dataDir>/server.lock` (containing its pid) while it runs, and `bulwark restore` refuses to replace the
 * database under a live server. A lock left behind by a process that is gone (crash, kill -9) is replaced.
 *
 * The pid check is local: a data directory on a network file system shared between machines is not protected.
 * A lock whose pid has since been reused by an unrelated process looks live; the error names the file to remove.
 */
import {
  closeSync,
  linkSync,
  mkdirSync,
  openSync,
  readFileSync,
  renameSync,
  unlinkSync,
  writeSync,
} from 'node:fs';
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

/**
 * Takes `<dataDir>/server.lock` (creating the directory if needed) or throws DataDirLockedError naming the live
 * holder. The file is created exclusively, so two processes starting at once cannot both win; a stale lock is
 * moved aside atomically before it is replaced, so two processes replacing the same stale lock cannot both win
 * either.
 */
export function acquireDataDirLock(dataDir: string): DataDirLock {
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  const path = join(dataDir, LOCK_FILE);
  const pid = process.pid;
  for (let attempt = 0; attempt < 10; attempt++) {
    try {
      const fd = openSync(path, 'wx', 0o644);
      try {
        writeSync(fd, `${pid}\n`);
      } finally {
        closeSync(fd);
      }
      return ownLock(path, pid);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    const holder = readPid(path);
    if (holder === undefined) continue; // released in between: try again
    if (pidAlive(holder)) throw new DataDirLockedError(dataDir, holder, path);
    // Stale (or unreadable). Move it aside under a name of our own; only one process can move a given file.
    const aside = `${path}.stale-${pid}-${Date.now()}-${attempt}`;
    try {
      renameSync(path, aside);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') continue;
      throw err;
    }
    // Between our read and the rename someone may have replaced the stale lock with a live one: put it back.
    const moved = readPid(aside);
    if (moved !== undefined && moved !== holder && !Number.isNaN(moved) && pidAlive(moved)) {
      try {
        linkSync(aside, path);
      } catch {
        // Another lock is in place already; the loop finds it.
      }
    }
    try {
      unlinkSync(aside);
    } catch {
      // already gone
    }
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
