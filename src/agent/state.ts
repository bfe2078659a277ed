/**
 * The agent's state directory: its identity (agent.json, agent-key.pem 0600, cert.pem, ca.pem), the local job
 * queue (queue/), results until the server acknowledged them (results/), the job ids and nonces it has seen
 * (nonces.json), the last inventory the server acknowledged (inventory.json) and the lock that keeps a second
 * agent process off the same directory (agent.lock).
 *
 * Every write is atomic and durable: a temporary file in the same folder, fsync, rename, fsync of the folder. A
 * crash leaves either the old file or the new one, never half of one.
 */
import { randomBytes } from 'node:crypto';
import {
  closeSync,
  existsSync,
  fsyncSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  unlinkSync,
  writeSync,
} from 'node:fs';
import { hostname } from 'node:os';
import { basename, dirname, join } from 'node:path';

/** The folder an agent keeps its state in unless told otherwise (env BULWARK_AGENT_STATE_DIR, --state-dir). */
export function defaultStateDir(
  env: NodeJS.ProcessEnv = process.env,
  platform: NodeJS.Platform = process.platform,
): string {
  if (env.BULWARK_AGENT_STATE_DIR) return env.BULWARK_AGENT_STATE_DIR;
  if (platform === 'win32') return join(env.ProgramData ?? 'C:\\ProgramData', 'Bulwark', 'agent');
  return '/var/lib/bulwark-agent';
}

/** A server job-signing key the agent pinned at enrolment; `key_id` picks it. */
export interface PinnedKey {
  key_id: string;
  public_key: string;
}

/** agent.json: who the agent is and where its server is. */
export interface AgentConfig {
  server: string;
  agent_id: string;
  tenant_id: string;
  site_id: string | null;
  asset_id: string;
  /** The channel generation the server last handed out (see the clone rule in docs/agent.md). */
  generation: number;
  server_keys: PinnedKey[];
  heartbeat_s: number;
  enrolled_at: string;
}

/** A problem with the state directory, said in one line (exit 2). */
export class StateError extends Error {
  override name = 'StateError';
}

/** Writes `data` to `path` atomically and durably, with `mode` (0600 for secrets). */
export function writeFileAtomic(path: string, data: string | Buffer, mode = 0o644): void {
  const dir = dirname(path);
  const temp = join(dir, `.${basename(path)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
  const fd = openSync(temp, 'wx', mode);
  try {
    const buffer = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
    let written = 0;
    while (written < buffer.length) written += writeSync(fd, buffer, written, buffer.length - written);
    fsyncSync(fd);
  } catch (err) {
    closeSync(fd);
    rmSync(temp, { force: true });
    throw err;
  }
  closeSync(fd);
  renameSync(temp, path);
  syncDir(dir);
}

/** fsync of a folder, so a rename or unlink in it survives a power cut (not possible on Windows: skipped). */
function syncDir(dir: string): void {
  if (process.platform === 'win32') return;
  const fd = openSync(dir, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

export function writeJsonAtomic(path: string, value: unknown, mode = 0o644): void {
  writeFileAtomic(path, `${JSON.stringify(value)}\n`, mode);
}

/** The JSON of `path`, or undefined when the file does not exist. Corrupt JSON is a StateError naming the file. */
export function readJson<T>(path: string): T | undefined {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new StateError(`${path}: cannot read (${(err as NodeJS.ErrnoException).code})`);
  }
  try {
    return JSON.parse(text) as T;
  } catch {
    throw new StateError(`${path}: not valid JSON; the file is damaged`);
  }
}

/** Removes a file (and syncs its folder); a missing file is fine. */
export function removeFile(path: string): void {
  try {
    unlinkSync(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw err;
  }
  syncDir(dirname(path));
}

/** The files of one state directory. */
export class StateDir {
  readonly config: string;
  readonly key: string;
  readonly cert: string;
  readonly ca: string;
  readonly queue: string;
  readonly results: string;
  readonly nonces: string;
  readonly inventory: string;
  readonly lockFile: string;

  constructor(readonly dir: string) {
    this.config = join(dir, 'agent.json');
    this.key = join(dir, 'agent-key.pem');
    this.cert = join(dir, 'cert.pem');
    this.ca = join(dir, 'ca.pem');
    this.queue = join(dir, 'queue');
    this.results = join(dir, 'results');
    this.nonces = join(dir, 'nonces.json');
    this.inventory = join(dir, 'inventory.json');
    this.lockFile = join(dir, 'agent.lock');
  }

  /** Creates the folders (the state folder itself 0700: it holds the private key). */
  ensure(): void {
    mkdirSync(this.dir, { recursive: true, mode: 0o700 });
    mkdirSync(this.queue, { recursive: true, mode: 0o700 });
    mkdirSync(this.results, { recursive: true, mode: 0o700 });
  }

  enrolled(): boolean {
    return existsSync(this.config);
  }

  /** agent.json, checked field by field; a missing file says how to enrol. */
  readConfig(): AgentConfig {
    const config = readJson<AgentConfig>(this.config);
    if (!config)
      throw new StateError(
        `${this.dir} holds no enrolled agent (no agent.json); run bulwark agent enroll --server URL --token-file FILE --state-dir ${this.dir}`,
      );
    for (const field of ['server', 'agent_id', 'tenant_id', 'asset_id'] as const)
      if (typeof config[field] !== 'string' || !config[field])
        throw new StateError(`${this.config}: field ${field} is missing; the file is damaged`);
    if (!Number.isInteger(config.generation) || config.generation < 0)
      throw new StateError(`${this.config}: field generation is not a whole number; the file is damaged`);
    if (!Array.isArray(config.server_keys) || config.server_keys.length === 0)
      throw new StateError(`${this.config}: field server_keys is empty; the file is damaged`);
    if (!Number.isInteger(config.heartbeat_s) || config.heartbeat_s < 1)
      throw new StateError(
        `${this.config}: field heartbeat_s is not a whole number ≥ 1; the file is damaged`,
      );
    return config;
  }

  writeConfig(config: AgentConfig): void {
    writeJsonAtomic(this.config, config, 0o600);
  }

  readKeyPem(): string {
    try {
      return readFileSync(this.key, 'utf8');
    } catch (err) {
      throw new StateError(`${this.key}: cannot read the agent key (${(err as NodeJS.ErrnoException).code})`);
    }
  }

  /** The ids of the files in queue/ or results/ (`<job_id>.json`), oldest first by modification time. */
  jobFiles(folder: 'queue' | 'results'): string[] {
    const dir = folder === 'queue' ? this.queue : this.results;
    let names: string[];
    try {
      names = readdirSync(dir);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw err;
    }
    return names
      .filter((n) => n.endsWith('.json') && !n.startsWith('.'))
      .map((n) => ({ id: n.slice(0, -5), at: statSync(join(dir, n)).mtimeMs }))
      .sort((a, b) => a.at - b.at || (a.id < b.id ? -1 : 1))
      .map((f) => f.id);
  }

  /** Forgets everything but the lock: used by a forced re-enrolment (a new identity starts empty). */
  clear(): void {
    for (const path of [this.config, this.key, this.cert, this.ca, this.nonces, this.inventory])
      rmSync(path, { force: true });
    rmSync(this.queue, { recursive: true, force: true });
    rmSync(this.results, { recursive: true, force: true });
  }

  /**
   * Takes the lock: one agent process (or enrolment) per state directory. A lock left by a process that is gone —
   * or by a process of an earlier boot, as on a cloned VM's disk — is taken over; a live holder is a StateError
   * naming its pid.
   */
  lock(): () => void {
    this.ensure();
    const mine: LockRecord = {
      pid: process.pid,
      hostname: hostname(),
      boot_id: bootId(),
      at: new Date().toISOString(),
    };
    for (let attempt = 0; attempt < 3; attempt++) {
      try {
        const fd = openSync(this.lockFile, 'wx', 0o600);
        writeSync(fd, `${JSON.stringify(mine)}\n`);
        fsyncSync(fd);
        closeSync(fd);
        let released = false;
        return () => {
          if (released) return;
          released = true;
          const held = readLock(this.lockFile);
          if (held?.pid === process.pid) rmSync(this.lockFile, { force: true });
        };
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      }
      const held = readLock(this.lockFile);
      if (held && isLive(held))
        throw new StateError(
          `another bulwark agent process (pid ${held.pid}, since ${held.at}) uses the state directory ${this.dir}; stop it first (two agents on one identity would fight over it)`,
        );
      rmSync(this.lockFile, { force: true });
    }
    throw new StateError(`${this.lockFile}: cannot take the lock (another process keeps creating it)`);
  }
}

interface LockRecord {
  pid: number;
  hostname: string;
  boot_id: string | null;
  at: string;
}

function readLock(path: string): LockRecord | undefined {
  try {
    const value = JSON.parse(readFileSync(path, 'utf8')) as LockRecord;
    return Number.isInteger(value.pid) ? value : undefined;
  } catch {
    return undefined;
  }
}

/** This boot's id (Linux); a lock written under another boot belongs to no running process. */
function bootId(): string | null {
  try {
    return readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim() || null;
  } catch {
    return null;
  }
}

function isLive(lock: LockRecord): boolean {
  if (lock.boot_id && bootId() && lock.boot_id !== bootId()) return false;
  if (lock.pid === process.pid) return true;
  try {
    process.kill(lock.pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}
