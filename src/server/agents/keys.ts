/**
 * The installation's agent secrets. A master key (32 random bytes in `master_key_file`, default
 * `<data_dir>/master.key`, mode 0600, made on the first start) seals the CA key and the job-signing keys, which are
 * stored in `server_keys` with AES-256-GCM (the row's name is the associated data, so a sealed value cannot be
 * moved to another name). Every replica shares the master key; without it no stored key opens.
 *
 * The job-signing key is Ed25519, made at first need (one per installation: PostgreSQL replicas serialise its
 * creation on an advisory lock), stored as `job_signing:<key_id>` where key_id is the first 16 hex of the SHA-256 of
 * the raw public key. Keys never reach a log or an answer; only public keys and key ids leave this module.
 */
import {
  createCipheriv,
  createDecipheriv,
  createHash,
  createPrivateKey,
  createPublicKey,
  generateKeyPairSync,
  type KeyObject,
  randomBytes,
  sign,
} from 'node:crypto';
import { chmodSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { type Kysely, sql } from 'kysely';
import {
  canonicalJson,
  type JobEnvelope,
  publicKeyToRaw,
  SIGNING_DOMAINS,
  type SignedJob,
} from '../../api/agent-protocol.js';
import { ConfigError, type ServerConfig } from '../config.js';
import type { Database } from '../db/schema.js';
import { isPostgres } from '../events/outbox.js';

export const MASTER_KEY_BYTES = 32;
const SEAL_VERSION = 'v1';
const JOB_SIGNING_PREFIX = 'job_signing:';
/** PostgreSQL advisory lock held while the first job-signing key is made. */
const SIGNING_KEY_LOCK = '7094710713734726917';

/** The master key file cannot be read, made, or holds something else than 32 bytes. */
export class MasterKeyError extends ConfigError {
  override name = 'MasterKeyError';
}

export function masterKeyPath(config: Pick<ServerConfig, 'master_key_file' | 'data_dir'>): string {
  return resolve(config.master_key_file ?? join(config.data_dir, 'master.key'));
}

/**
 * The master key: read from its file, or made there (0600) when the file does not exist. Two processes making
 * it at once both end up with the one that was written first. Throws MasterKeyError naming the file and the fix.
 */
export function loadMasterKey(config: Pick<ServerConfig, 'master_key_file' | 'data_dir'>): Buffer {
  const path = masterKeyPath(config);
  const read = (): Buffer | undefined => {
    let text: string;
    try {
      text = readFileSync(path, 'utf8');
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOENT') return undefined;
      throw new MasterKeyError(
        `master key ${path}: cannot read (${code}); the server needs it to open the agent keys — fix its permissions or set master_key_file / BULWARK_MASTER_KEY_FILE`,
      );
    }
    const trimmed = text.trim();
    const key = /^[A-Za-z0-9+/_-]+=*$/.test(trimmed) ? Buffer.from(trimmed, 'base64') : Buffer.alloc(0);
    if (key.length !== MASTER_KEY_BYTES)
      throw new MasterKeyError(
        `master key ${path}: must hold ${MASTER_KEY_BYTES} bytes as base64 text (found ${key.length}); restore it from your backup — a new key cannot open the stored agent keys`,
      );
    return key;
  };
  const existing = read();
  if (existing) return existing;
  try {
    mkdirSync(dirname(path), { recursive: true });
    writeFileSync(path, `${randomBytes(MASTER_KEY_BYTES).toString('base64')}\n`, { mode: 0o600, flag: 'wx' });
    chmodSync(path, 0o600);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code !== 'EEXIST')
      throw new MasterKeyError(
        `master key ${path}: cannot create (${code}); make its directory writable or set master_key_file / BULWARK_MASTER_KEY_FILE`,
      );
  }
  const made = read();
  if (!made) throw new MasterKeyError(`master key ${path}: vanished right after it was written`);
  return made;
}

/** AES-256-GCM under the master key; `name` is bound as associated data. Text: `v1.<base64url iv|tag|ciphertext>`. */
export function seal(master: Buffer, name: string, plaintext: Buffer): string {
  const iv = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', master, iv);
  cipher.setAAD(Buffer.from(name, 'utf8'));
  const body = Buffer.concat([cipher.update(plaintext), cipher.final()]);
  return `${SEAL_VERSION}.${Buffer.concat([iv, cipher.getAuthTag(), body]).toString('base64url')}`;
}

export function unseal(master: Buffer, name: string, sealed: string): Buffer {
  const [version, text] = sealed.split('.', 2);
  const raw = Buffer.from(text ?? '', 'base64url');
  if (version !== SEAL_VERSION || raw.length < 28)
    throw new MasterKeyError(`server key ${name}: not a sealed value this version reads`);
  const decipher = createDecipheriv('aes-256-gcm', master, raw.subarray(0, 12));
  decipher.setAAD(Buffer.from(name, 'utf8'));
  decipher.setAuthTag(raw.subarray(12, 28));
  try {
    return Buffer.concat([decipher.update(raw.subarray(28)), decipher.final()]);
  } catch {
    throw new MasterKeyError(
      `server key ${name}: does not open with this master key; every replica must use the same master key file (restore it from your backup)`,
    );
  }
}

/** key_id of an Ed25519 public key: the first 16 hex of the SHA-256 of its raw 32 bytes. */
export function keyIdOf(publicKey: KeyObject): string {
  return createHash('sha256')
    .update(Buffer.from(publicKeyToRaw(publicKey), 'base64url'))
    .digest('hex')
    .slice(0, 16);
}

export interface SigningKey {
  keyId: string;
  privateKey: KeyObject;
  publicKey: KeyObject;
  /** Raw public key, base64url. */
  publicRaw: string;
}

/** Signs envelopes with one key, synchronously (many thousand a second). */
export class JobSigner {
  constructor(readonly key: SigningKey) {}

  get keyId(): string {
    return this.key.keyId;
  }

  sign(envelope: Omit<JobEnvelope, 'key_id'>): SignedJob {
    const { envelope: full, signature } = this.signText(envelope);
    return { envelope: full, signature };
  }

  /** As `sign`, with the envelope's canonical JSON (what was signed, and what a store keeps). */
  signText(envelope: Omit<JobEnvelope, 'key_id'>): SignedJob & { text: string } {
    const full: JobEnvelope = { ...envelope, key_id: this.key.keyId };
    const text = canonicalJson(full);
    // jobSigningBytes(full), with the canonical text computed once.
    const bytes = Buffer.from(`${SIGNING_DOMAINS.job}\n${text}`, 'utf8');
    return { envelope: full, text, signature: sign(null, bytes, this.key.privateKey).toString('base64url') };
  }

  /** A signature over other bytes (the channel's challenge), base64url. */
  signBytes(bytes: Buffer): string {
    return sign(null, bytes, this.key.privateKey).toString('base64url');
  }
}

export class AgentKeys {
  private master: Buffer | undefined;
  private signer: Promise<JobSigner> | undefined;
  private publicKeys: Promise<{ key_id: string; public_key: string }[]> | undefined;

  constructor(
    private readonly db: Kysely<Database>,
    private readonly config: Pick<ServerConfig, 'master_key_file' | 'data_dir'>,
  ) {}

  /** The master key, loaded once (start.ts loads it before anything else, so a bad file stops the start). */
  masterKey(): Buffer {
    this.master ??= loadMasterKey(this.config);
    return this.master;
  }

  /**
   * The sealed secret stored under `name`, made by `make` when there is none. Insert-or-read: replicas that make
   * it at once all end up with the one stored first.
   */
  async secret(name: string, make: () => Buffer | Promise<Buffer>): Promise<Buffer> {
    const stored = await this.db
      .selectFrom('server_keys')
      .select('secret')
      .where('name', '=', name)
      .executeTakeFirst();
    if (stored) return unseal(this.masterKey(), name, stored.secret);
    const made = seal(this.masterKey(), name, await make());
    await this.db
      .insertInto('server_keys')
      .values({ name, secret: made, created_at: new Date().toISOString() })
      .onConflict((oc) => oc.column('name').doNothing())
      .execute();
    const row = await this.db
      .selectFrom('server_keys')
      .select('secret')
      .where('name', '=', name)
      .executeTakeFirstOrThrow();
    return unseal(this.masterKey(), name, row.secret);
  }

  /** The job signer with the newest job-signing key, made at first need. */
  jobSigner(): Promise<JobSigner> {
    this.signer ??= this.loadSigner().catch((err) => {
      this.signer = undefined;
      throw err;
    });
    return this.signer;
  }

  /** Every job-signing public key (agents pin them at enrolment), oldest first. */
  serverKeys(): Promise<{ key_id: string; public_key: string }[]> {
    this.publicKeys ??= (async () => {
      await this.jobSigner();
      const rows = await this.signingRows(this.db);
      return rows.map((r) => {
        const key = this.openSigningKey(r.name, r.secret);
        return { key_id: key.keyId, public_key: key.publicRaw };
      });
    })().catch((err) => {
      this.publicKeys = undefined;
      throw err;
    });
    return this.publicKeys;
  }

  private signingRows(k: Kysely<Database>) {
    return k
      .selectFrom('server_keys')
      .select(['name', 'secret', 'created_at'])
      .where('name', 'like', `${JOB_SIGNING_PREFIX}%`)
      .orderBy('created_at')
      .orderBy('name')
      .execute();
  }

  private openSigningKey(name: string, secret: string): SigningKey {
    const privateKey = createPrivateKey({
      key: unseal(this.masterKey(), name, secret),
      format: 'der',
      type: 'pkcs8',
    });
    const publicKey = createPublicKey(privateKey);
    return { keyId: keyIdOf(publicKey), privateKey, publicKey, publicRaw: publicKeyToRaw(publicKey) };
  }

  private async loadSigner(): Promise<JobSigner> {
    const master = this.masterKey();
    let rows = await this.signingRows(this.db);
    if (!rows.length) {
      rows = await this.db.transaction().execute(async (trx) => {
        // One key per installation: replicas starting together wait here and read the key the first one made.
        if (isPostgres(trx))
          await sql`select pg_advisory_xact_lock(${SIGNING_KEY_LOCK}::bigint)`.execute(trx);
        const again = await this.signingRows(trx);
        if (again.length) return again;
        const { privateKey, publicKey } = generateKeyPairSync('ed25519');
        const name = `${JOB_SIGNING_PREFIX}${keyIdOf(publicKey)}`;
        const der = privateKey.export({ format: 'der', type: 'pkcs8' });
        await trx
          .insertInto('server_keys')
          .values({ name, secret: seal(master, name, der), created_at: new Date().toISOString() })
          .execute();
        return this.signingRows(trx);
      });
    }
    const newest = rows[rows.length - 1]!;
    return new JobSigner(this.openSigningKey(newest.name, newest.secret));
  }
}
