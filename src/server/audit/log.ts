/**
 * The audit log: append-only and hash-chained, so that changing, removing, re-ordering or inserting a record is
 * detectable afterwards.
 *
 * Records are appended in two stages. The transaction that makes a change inserts its record into `audit_pending`
 * (`appendAudit`), so a change never commits without its record and concurrent writers do not wait for each other.
 * A chainer (`AuditChainer`, in any replica; `flushAudit`) then moves committed pending records into `audit_log`
 * in batches, in pending-id order, in one transaction under one lock (on PostgreSQL an advisory lock): it reads
 * the head, numbers the records on from it and hashes each onto the one before. Reads that promise a complete log
 * (listing, paging, verifying, the head) chain what is pending first, so callers see their own writes.
 *
 * Every chained record carries `prev_hash` (the hash of the record before it; 64 zeros for the first) and `hash`,
 * the SHA-256 (hex) of the canonical JSON of its own fields:
 *
 *   sha256(canonicalJson({ action, actor, at, detail, prev_hash, seq, target, tenant_id }))
 *
 * where `detail` is the stored text (itself canonical JSON) and canonical JSON means object keys sorted by UTF-16
 * code units, no white space, and JSON.stringify's escaping of strings and numbers. Only text and integers go
 * into the hash, so SQLite and PostgreSQL give the same hashes, and anyone can re-check a chain with `jq` and
 * `sha256sum`. `at` is the time of the change (taken in its transaction); `seq` is the order of chaining, so
 * between writers that commit at nearly the same moment `at` can run slightly against `seq`.
 *
 * What it does not stop: someone who can write to the database can rewrite the whole chain from the change
 * onwards with fresh hashes, or cut records off its end. Against both, an operator records the head hash
 * (`bulwark audit verify` and `bulwark backup` print it) somewhere else and later passes it as `expectHead`:
 * verification then fails unless that exact record is still in the chain.
 */
import { createHash } from 'node:crypto';
import { type Kysely, PostgresAdapter, sql, type Transaction } from 'kysely';
import { keysetPage } from '../data/cursor.js';
import { type CursorPage, pageBounds, sortOrder } from '../data/page.js';
import type { DialectName } from '../db/connect.js';
import type { AuditLogTable, Database } from '../db/schema.js';
import type { WriteBatch } from '../db/write-batch.js';

/** `prev_hash` of the first record. */
export const GENESIS_HASH = '0'.repeat(64);

/**
 * The PostgreSQL advisory lock that chainers take in turn, across connections and replicas
 * (ASCII "bulwaud" + 1, well inside the signed 64-bit range).
 */
export const AUDIT_LOCK_KEY = '7094710713734726913';

/** Keys whose values never reach the log, at any depth of `detail`. */
export const SECRET_KEY = /pass(word)?|secret|token|totp|code|cookie|authorization/i;
export const REDACTED = '[redacted]';

const MAX_DEPTH = 32;
const HASH_RE = /^[0-9a-f]{64}$/;

export interface AuditEntry {
  /** Who acted: a user id or email, `token:<id>`, `system`, `agent:<id>`. */
  actor: string;
  /** The tenant the action concerns; null for installation-wide actions. */
  tenantId: string | null;
  /** What was done, e.g. `tenant.create`, `user.login`, `rollout.approve`. */
  action: string;
  /** What it was done to, e.g. `tenant:acme`, `user:u_123`. */
  target: string;
  /** Anything else worth keeping. Secrets are replaced by "[redacted]" before it is stored. */
  detail?: Record<string, unknown>;
}

export interface AuditRecord {
  seq: number;
  at: string;
  actor: string;
  tenantId: string | null;
  action: string;
  target: string;
  detail: Record<string, unknown>;
  prevHash: string;
  hash: string;
}

/** The fields that go into a record's hash, as stored (the detail as its stored text). */
export type AuditHashInput = Omit<AuditLogTable, 'hash'>;

export interface AuditProblem {
  /** The record at fault; for records missing at the end, the first seq that is missing. */
  seq: number;
  kind: 'changed' | 'missing' | 'broken_link' | 'out_of_order' | 'head_not_found';
  problem: string;
}

export interface AuditVerification {
  ok: boolean;
  records: number;
  /** Hash of the last record (GENESIS_HASH for an empty log): record it to detect truncation later. */
  head: string;
  /** Seq of the last record (0 for an empty log). */
  headSeq: number;
  problems: AuditProblem[];
  /** Problems not listed because `maxProblems` was reached. */
  problemsOmitted: number;
}

// ---------------------------------------------------------------------------------------------------------------
// Canonical JSON, hashing and redaction

/**
 * Canonical JSON: object keys sorted, no white space; `undefined`, functions and symbols are left out of objects
 * (null in arrays), as JSON.stringify does; `toJSON` is honoured (dates); bigints become strings; non-finite
 * numbers become null.
 */
export function canonicalJson(value: unknown): string {
  return encode(value, 0);
}

function encode(value: unknown, depth: number): string {
  if (depth > MAX_DEPTH) throw new Error('value too deeply nested for canonical JSON');
  if (value === null) return 'null';
  if (typeof value === 'object' && typeof (value as { toJSON?: unknown }).toJSON === 'function')
    value = (value as { toJSON(): unknown }).toJSON();
  switch (typeof value) {
    case 'string':
      return JSON.stringify(value);
    case 'number':
      return Number.isFinite(value) ? JSON.stringify(value) : 'null';
    case 'boolean':
      return value ? 'true' : 'false';
    case 'bigint':
      return JSON.stringify(value.toString());
    case 'object': {
      if (value === null) return 'null';
      if (Array.isArray(value)) {
        return `[${value.map((v) => (isOmitted(v) ? 'null' : encode(v, depth + 1))).join(',')}]`;
      }
      const obj = value as Record<string, unknown>;
      const keys = Object.keys(obj)
        .filter((k) => !isOmitted(obj[k]))
        .sort();
      return `{${keys.map((k) => `${JSON.stringify(k)}:${encode(obj[k], depth + 1)}`).join(',')}}`;
    }
    default:
      return 'null';
  }
}

function isOmitted(v: unknown): boolean {
  return v === undefined || typeof v === 'function' || typeof v === 'symbol';
}

/** The hash of one record: SHA-256 hex over the canonical JSON of its fields. */
export function auditHash(r: AuditHashInput): string {
  const canonical = canonicalJson({
    action: r.action,
    actor: r.actor,
    at: r.at,
    detail: r.detail,
    prev_hash: r.prev_hash,
    seq: r.seq,
    target: r.target,
    tenant_id: r.tenant_id,
  });
  return createHash('sha256').update(canonical, 'utf8').digest('hex');
}

/**
 * A copy of `detail` with the value of every key that looks like it names a secret replaced by "[redacted]", at
 * any depth (arrays included). Cycles become "[circular]", nesting deeper than 32 levels "[too deep]".
 */
export function redactDetail(detail: Record<string, unknown>): Record<string, unknown> {
  return redactValue(detail, 0, new WeakSet()) as Record<string, unknown>;
}

function redactValue(value: unknown, depth: number, seen: WeakSet<object>): unknown {
  if (value === null || typeof value !== 'object') return value;
  if (typeof (value as { toJSON?: unknown }).toJSON === 'function')
    return redactValue((value as { toJSON(): unknown }).toJSON(), depth, seen);
  if (depth >= MAX_DEPTH - 1) return '[too deep]';
  if (seen.has(value)) return '[circular]';
  seen.add(value);
  let out: unknown;
  if (Array.isArray(value)) {
    out = value.map((v) => redactValue(v, depth + 1, seen));
  } else {
    const obj: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) {
      obj[k] = SECRET_KEY.test(k) ? REDACTED : redactValue(v, depth + 1, seen);
    }
    out = obj;
  }
  seen.delete(value);
  return out;
}

// ---------------------------------------------------------------------------------------------------------------
// Appending: stage one, in the writer's transaction

type Executor = Kysely<Database> | Transaction<Database>;

/** An appended record before it is chained: what the writer's transaction committed. */
export interface PendingAuditRecord {
  /** Its place in the queue (chained in this order among the records committed by then). */
  pendingId: number;
  at: string;
  actor: string;
  tenantId: string | null;
  action: string;
  target: string;
  detail: Record<string, unknown>;
}

/**
 * Appends one record. Call it inside the transaction that makes the change it describes, so both commit or
 * neither does: it inserts the record into `audit_pending` (no lock, no read of the chain head, so concurrent
 * writers do not wait for each other) and wakes this process's audit chainers, which chain it once committed.
 *
 * Given a plain Kysely instance it opens a transaction of its own and chains at once (everything pending
 * included), returning the chained record.
 */
export async function appendAudit(
  trx: Transaction<Database>,
  dialect: DialectName,
  entry: AuditEntry,
): Promise<PendingAuditRecord>;
export async function appendAudit(
  db: Kysely<Database>,
  dialect: DialectName,
  entry: AuditEntry,
): Promise<AuditRecord>;
export async function appendAudit(
  trx: Executor,
  dialect: DialectName,
  entry: AuditEntry,
): Promise<PendingAuditRecord | AuditRecord> {
  if (!trx.isTransaction) {
    return (trx as Kysely<Database>).transaction().execute(async (t) => {
      const pending = await insertPending(t, entry);
      // Records pending before it are chained first, in batches, until its own turn comes.
      for (let i = 0; i < MAX_BATCHES; i++) {
        const chained = await chainBatch(t, dialect === 'postgres', pending.pendingId, CHAIN_BATCH);
        const mine = chained.find((c) => c.pendingId === pending.pendingId);
        if (mine) return mine.record;
        if (!chained.length) break;
      }
      throw new Error('audit record was not chained');
    });
  }
  const pending = await insertPending(trx as Transaction<Database>, entry);
  wakeChainers();
  return pending;
}

/** The pending row of an entry: checked, its detail redacted and in canonical JSON. */
function pendingRow(entry: AuditEntry) {
  for (const [name, v] of [
    ['actor', entry.actor],
    ['action', entry.action],
    ['target', entry.target],
  ] as const) {
    if (typeof v !== 'string' || !v) throw new Error(`audit entry: ${name} must be a non-empty string`);
  }
  return {
    // The time of the change, taken in its transaction.
    at: new Date().toISOString(),
    actor: entry.actor,
    tenant_id: entry.tenantId ?? null,
    action: entry.action,
    target: entry.target,
    detail: canonicalJson(redactDetail(entry.detail ?? {})),
  };
}

/**
 * Queues a record on a transaction's write batch (db/write-batch.ts), the batched form of `appendAudit` in a
 * transaction: the pending row goes with the batch's other writes and this process's chainers are woken.
 */
export function queueAudit(batch: WriteBatch, entry: AuditEntry): void {
  batch.upsert(
    { table: 'audit_pending', columns: ['at', 'actor', 'tenant_id', 'action', 'target', 'detail'] },
    [pendingRow(entry)],
  );
  batch.afterFlush(() => wakeChainers());
}

async function insertPending(trx: Transaction<Database>, entry: AuditEntry): Promise<PendingAuditRecord> {
  const row = pendingRow(entry);
  const detail = row.detail;
  const { id } = await trx.insertInto('audit_pending').values(row).returning('id').executeTakeFirstOrThrow();
  return {
    pendingId: Number(id),
    at: row.at,
    actor: row.actor,
    tenantId: row.tenant_id,
    action: row.action,
    target: row.target,
    detail: JSON.parse(detail) as Record<string, unknown>,
  };
}

// ---------------------------------------------------------------------------------------------------------------
// Chaining: stage two, in batches under one lock

/** Pending records chained per transaction. */
const CHAIN_BATCH = 500;
/** Batches one flush chains at most before it returns (a writer that never stops cannot keep it busy forever). */
const MAX_BATCHES = 1000;

/**
 * Chains up to `limit` pending records with id <= `upTo`, in id order, in `trx`: takes the lock (PostgreSQL),
 * reads the head, inserts the chained records and deletes their pending rows. The lock is taken before any read,
 * and every statement at READ COMMITTED sees what earlier lock holders committed, so no record is chained twice
 * or skipped.
 */
async function chainBatch(
  trx: Transaction<Database>,
  postgres: boolean,
  upTo: number,
  limit: number,
): Promise<{ pendingId: number; record: AuditRecord }[]> {
  // Re-entrant: a transaction that already holds it (several batches in one caller's transaction) goes on.
  if (postgres) await sql`select pg_advisory_xact_lock(${sql.raw(AUDIT_LOCK_KEY)})`.execute(trx);
  const pending = await trx
    .selectFrom('audit_pending')
    .selectAll()
    .where('id', '<=', upTo)
    .orderBy('id', 'asc')
    .limit(limit)
    .execute();
  if (!pending.length) return [];
  const last = await trx
    .selectFrom('audit_log')
    .select(['seq', 'hash'])
    .orderBy('seq', 'desc')
    .limit(1)
    .executeTakeFirst();
  let seq = last ? Number(last.seq) : 0;
  let prevHash = last?.hash ?? GENESIS_HASH;
  const rows: AuditLogTable[] = [];
  const out: { pendingId: number; record: AuditRecord }[] = [];
  for (const p of pending) {
    const input: AuditHashInput = {
      seq: ++seq,
      at: p.at,
      actor: p.actor,
      tenant_id: p.tenant_id,
      action: p.action,
      target: p.target,
      detail: p.detail,
      prev_hash: prevHash,
    };
    const hash = auditHash(input);
    rows.push({ ...input, hash });
    out.push({
      pendingId: Number(p.id),
      record: {
        seq: input.seq,
        at: input.at,
        actor: input.actor,
        tenantId: input.tenant_id,
        action: input.action,
        target: input.target,
        detail: parseDetail(input.detail),
        prevHash: input.prev_hash,
        hash,
      },
    });
    prevHash = hash;
  }
  // 9 columns a row: 100 rows stay far below either database's limit on bound parameters.
  for (let i = 0; i < rows.length; i += 100) {
    await trx
      .insertInto('audit_log')
      .values(rows.slice(i, i + 100))
      .execute();
  }
  await trx
    .deleteFrom('audit_pending')
    .where(
      'id',
      'in',
      pending.map((p) => p.id),
    )
    .execute();
  return out;
}

function isPostgres(db: Executor): boolean {
  return db.getExecutor().adapter instanceof PostgresAdapter;
}

/**
 * Chains every record that was pending when it started (and committed by then), in batches of one transaction
 * each; returns how many it chained. Given a transaction, chains inside it (on PostgreSQL the lock is then held
 * until that transaction ends). Reads that promise a complete log call it first, so callers see their own writes.
 * A database without the pending table (a copy from before it existed) has nothing to chain.
 */
export async function flushAudit(db: Executor): Promise<number> {
  const postgres = isPostgres(db);
  let top: { id: number | null } | undefined;
  try {
    top = await db
      .selectFrom('audit_pending')
      .select((eb) => eb.fn.max('id').as('id'))
      .executeTakeFirst();
  } catch (err) {
    if (
      /audit_pending/.test(String((err as Error).message)) &&
      /no such table|does not exist/.test(String((err as Error).message))
    )
      return 0;
    throw err;
  }
  if (top?.id === null || top?.id === undefined) return 0;
  const upTo = Number(top.id);
  let total = 0;
  for (let i = 0; i < MAX_BATCHES; i++) {
    const n = db.isTransaction
      ? (await chainBatch(db as Transaction<Database>, postgres, upTo, CHAIN_BATCH)).length
      : await (db as Kysely<Database>)
          .transaction()
          .execute(async (t) => (await chainBatch(t, postgres, upTo, CHAIN_BATCH)).length);
    total += n;
    if (n < CHAIN_BATCH) break;
  }
  return total;
}

/** After a run an append woke: one more run this much later, for commits that landed after it looked. */
const FOLLOW_UP_MS = 25;

const chainers = new Set<AuditChainer>();

function wakeChainers(): void {
  for (const c of chainers) c.wake();
}

export interface AuditChainerOptions {
  /** How often it looks for records left pending (by a replica that died mid-way, or a missed wake-up); default 1000 ms. */
  intervalMs?: number;
  /** Called with any error of a background run (the next run retries); default: ignored. */
  onError?: (err: unknown) => void;
}

/**
 * Moves committed pending records into the chain, in the background. One per process and database: create it
 * with the server's database, `start()` it when the server starts and `stop()` it when it closes. Any number of
 * replicas may run one; the lock makes them take turns. It runs when `appendAudit` in this process wakes it
 * (coalesced: one run at a time, and one more if woken meanwhile), once more shortly after (a writer's commit
 * can land after the run its append woke), and every `intervalMs`.
 */
export class AuditChainer {
  private readonly intervalMs: number;
  private readonly onError: (err: unknown) => void;
  private interval: NodeJS.Timeout | undefined;
  private timer: NodeJS.Timeout | undefined;
  private followUp: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private again = false;
  private followUpDue = false;
  private started = false;

  constructor(
    private readonly db: Kysely<Database>,
    options: AuditChainerOptions = {},
  ) {
    this.intervalMs = Math.max(10, options.intervalMs ?? 1000);
    this.onError = options.onError ?? (() => {});
  }

  start(): void {
    if (this.started) return;
    this.started = true;
    chainers.add(this);
    this.interval = setInterval(() => this.schedule(), this.intervalMs);
    this.interval.unref();
    // Records a previous process left pending.
    this.schedule();
  }

  /** Stops the timers and waits for a run in progress. */
  async stop(): Promise<void> {
    this.started = false;
    chainers.delete(this);
    for (const t of [this.interval, this.timer, this.followUp]) if (t) clearTimeout(t);
    this.interval = this.timer = this.followUp = undefined;
    this.again = false;
    await this.running;
  }

  /** A record was appended in this process: a run soon, and one more shortly after. */
  wake(): void {
    if (!this.started) return;
    this.followUpDue = true;
    this.schedule();
  }

  /** A run soon; runs are coalesced. */
  private schedule(): void {
    if (!this.started) return;
    if (this.running) {
      this.again = true;
      return;
    }
    if (this.timer) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      void this.run();
    }, 1);
    this.timer.unref();
  }

  /** Chains everything committed and pending now; returns how many records it chained. */
  flush(): Promise<number> {
    return flushAudit(this.db);
  }

  private run(): Promise<void> {
    this.again = false;
    const followUp = this.followUpDue;
    this.followUpDue = false;
    this.running = (async () => {
      try {
        await flushAudit(this.db);
      } catch (err) {
        this.onError(err);
      }
    })().finally(() => {
      this.running = undefined;
      if (!this.started) return;
      if (this.again) {
        this.schedule();
      } else if (followUp && !this.followUp) {
        this.followUp = setTimeout(() => {
          this.followUp = undefined;
          this.schedule();
        }, FOLLOW_UP_MS);
        this.followUp.unref();
      }
    });
    return this.running;
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Verifying

export interface VerifyOptions {
  /**
   * A head hash recorded earlier (from `verify`, `bulwark audit verify` or `bulwark backup`). Verification fails
   * unless a record with exactly this hash is still in the chain: records cut off the end, or a chain rewritten
   * from before that record, are detected. A chain that has merely grown since still passes.
   */
  expectHead?: string;
  /** Records read per query (default 500). */
  pageSize?: number;
  /** Problems listed at most (default 1000); the rest are counted in `problemsOmitted`. */
  maxProblems?: number;
  /**
   * Chain pending records first (default true). False for a copy of a database (a backup being checked): chaining
   * there would number its pending records apart from the live chain, which chains them itself.
   */
  flush?: boolean;
}

export function isAuditHash(value: string): boolean {
  return HASH_RE.test(value);
}

/**
 * Chains what is pending, then walks the whole chain in seq order, one page at a time (memory stays flat however
 * long the log is), and reports every record that was changed, removed, inserted or moved. The walk reads without
 * a transaction, so it never holds up writers; records chained while it runs are simply included or not.
 */
export async function verifyAudit(
  db: Kysely<Database>,
  options: VerifyOptions = {},
): Promise<AuditVerification> {
  const expectHead = options.expectHead?.trim().toLowerCase();
  if (expectHead !== undefined && !isAuditHash(expectHead)) {
    throw new Error('expected head must be a SHA-256 hash: 64 hexadecimal characters');
  }
  const pageSize = Math.max(1, Math.min(options.pageSize ?? 500, 10_000));
  const maxProblems = options.maxProblems ?? 1000;
  if (options.flush !== false) await flushAudit(db);
  const problems: AuditProblem[] = [];
  let omitted = 0;
  const report = (p: AuditProblem) => {
    if (problems.length < maxProblems) problems.push(p);
    else omitted++;
  };

  let records = 0;
  let prevSeq = 0;
  let prevHash = GENESIS_HASH;
  let headFound = expectHead === GENESIS_HASH;
  let after: number | null = null;
  for (;;) {
    let q = db.selectFrom('audit_log').selectAll().orderBy('seq', 'asc').limit(pageSize);
    if (after !== null) q = q.where('seq', '>', after);
    const rows = await q.execute();
    for (const row of rows) {
      const seq = Number(row.seq);
      records++;
      if (!Number.isSafeInteger(seq) || seq <= prevSeq) {
        report({
          seq,
          kind: 'out_of_order',
          problem: `record ${seq} is out of order after record ${prevSeq}`,
        });
      } else if (seq !== prevSeq + 1) {
        const range =
          seq - 1 === prevSeq + 1 ? `record ${prevSeq + 1} is` : `records ${prevSeq + 1}–${seq - 1} are`;
        report({ seq: prevSeq + 1, kind: 'missing', problem: `${range} missing (removed)` });
      }
      if (row.prev_hash !== prevHash) {
        report({
          seq,
          kind: 'broken_link',
          problem:
            prevSeq === 0
              ? `prev_hash of record ${seq} is not the genesis hash: records before it were removed or it was inserted`
              : `prev_hash of record ${seq} does not match the hash of record ${prevSeq}: record ${prevSeq} was changed and re-hashed, or records between them were removed or inserted`,
        });
      }
      const recomputed = auditHash({
        seq,
        at: row.at,
        actor: row.actor,
        tenant_id: row.tenant_id,
        action: row.action,
        target: row.target,
        detail: row.detail,
        prev_hash: row.prev_hash,
      });
      if (recomputed !== row.hash) {
        report({
          seq,
          kind: 'changed',
          problem: `record ${seq} was changed: its content does not match its hash`,
        });
      }
      if (expectHead !== undefined && row.hash === expectHead) headFound = true;
      prevSeq = Math.max(prevSeq, Number.isSafeInteger(seq) ? seq : prevSeq);
      prevHash = row.hash;
      after = seq;
    }
    if (rows.length < pageSize) break;
  }

  if (expectHead !== undefined && !headFound) {
    report({
      seq: prevSeq + 1,
      kind: 'head_not_found',
      problem: `no record has the expected head hash ${expectHead}: records were removed from the end of the log, or the log was rewritten`,
    });
  }
  return {
    ok: problems.length === 0 && omitted === 0,
    records,
    head: prevHash,
    headSeq: prevSeq,
    problems,
    problemsOmitted: omitted,
  };
}

/**
 * The last record's seq and hash (seq 0 and GENESIS_HASH for an empty log) once what is pending is chained,
 * without verifying anything.
 */
export async function auditHead(db: Executor): Promise<{ seq: number; hash: string }> {
  await flushAudit(db);
  const last = await db
    .selectFrom('audit_log')
    .select(['seq', 'hash'])
    .orderBy('seq', 'desc')
    .limit(1)
    .executeTakeFirst();
  return last ? { seq: Number(last.seq), hash: last.hash } : { seq: 0, hash: GENESIS_HASH };
}

// ---------------------------------------------------------------------------------------------------------------
// Listing

export interface ListAuditOptions {
  /** undefined: every record; null: installation-wide records only; a tenant id: that tenant's records. */
  tenantId?: string | null;
  /** At most this many records (clamped to 1..1000). */
  limit: number;
  /** Only records with a seq greater than this: pass the last seq of the previous page. */
  after?: number;
}

/**
 * Records oldest first (ascending seq), starting after `after`. Oldest-first keeps paging stable while records
 * are appended: the next page starts after the last seq seen, and polling with the last seq returns exactly
 * what is new. A detail that is not valid JSON (the log was tampered with) is returned as `{ unparsed: text }`.
 */
export async function listAudit(db: Executor, options: ListAuditOptions): Promise<AuditRecord[]> {
  await flushAudit(db);
  const limit = Math.max(1, Math.min(Math.trunc(options.limit) || 1, 1000));
  let q = db.selectFrom('audit_log').selectAll().orderBy('seq', 'asc').limit(limit);
  if (options.after !== undefined) q = q.where('seq', '>', Math.trunc(options.after));
  if (options.tenantId === null) q = q.where('tenant_id', 'is', null);
  else if (options.tenantId !== undefined) q = q.where('tenant_id', '=', options.tenantId);
  const rows = await q.execute();
  return rows.map((row) => ({
    seq: Number(row.seq),
    at: row.at,
    actor: row.actor,
    tenantId: row.tenant_id,
    action: row.action,
    target: row.target,
    detail: parseDetail(row.detail),
    prevHash: row.prev_hash,
    hash: row.hash,
  }));
}

function parseDetail(text: string): Record<string, unknown> {
  try {
    const v = JSON.parse(text) as unknown;
    if (v && typeof v === 'object' && !Array.isArray(v)) return v as Record<string, unknown>;
  } catch {
    // fall through
  }
  return { unparsed: text };
}

/** One audit record as the API shows it: snake_case like every other API answer. */
export interface AuditRecordJson {
  seq: number;
  at: string;
  actor: string;
  tenant_id: string | null;
  action: string;
  target: string;
  detail: Record<string, unknown>;
  prev_hash: string;
  hash: string;
}

export const AUDIT_SORTS = ['seq', 'at'] as const;

/**
 * A page of the audit log in the API's list shape, `{items, total, limit, offset, next_cursor, prev_cursor}`,
 * by keyset (`cursor`, data/cursor.ts) or `offset`, and `sort` (`seq` or `at`, `-` for newest first) like every
 * other list. `after` (a seq) still narrows the list, for callers that poll for what is new; `total` counts every
 * record the filters match.
 */
export async function pageAudit(
  db: Executor,
  q: {
    limit?: number;
    offset?: number;
    sort?: string;
    after?: number;
    tenantId?: string | null;
    cursor?: string;
  },
): Promise<CursorPage<AuditRecordJson>> {
  await flushAudit(db);
  const { limit, offset } = pageBounds(q);
  const order = sortOrder(q.sort, AUDIT_SORTS, 'seq');
  let where = db.selectFrom('audit_log');
  if (q.after !== undefined) where = where.where('seq', '>', Math.trunc(q.after));
  if (q.tenantId === null) where = where.where('tenant_id', 'is', null);
  else if (q.tenantId !== undefined) where = where.where('tenant_id', '=', q.tenantId);
  const bySeq = order.column === 'seq';
  const keys = bySeq ? [sql.ref('seq')] : [sql.ref('at'), sql.ref('seq')];
  const [page, count] = await Promise.all([
    keysetPage({
      scope: {
        sort: `${order.direction === 'desc' ? '-' : ''}${order.column}`,
        filters: { after: q.after, tenant: q.tenantId },
        keyTypes: bySeq ? ['integer'] : ['string', 'integer'],
      },
      cursor: q.cursor,
      offset,
      limit,
      direction: order.direction,
      keys,
      keyOf: (row: AuditLogTable) => (bySeq ? [Number(row.seq)] : [row.at, Number(row.seq)]),
      fetch: (cond, direction, n, skip) => {
        let query = where.selectAll();
        if (cond) query = query.where(cond);
        for (const k of keys) query = query.orderBy(k, direction);
        return query.limit(n).offset(skip).execute();
      },
    }),
    where.select((eb) => eb.fn.countAll<number | string | bigint>().as('n')).executeTakeFirstOrThrow(),
  ]);
  return {
    items: page.rows.map((row) => ({
      seq: Number(row.seq),
      at: row.at,
      actor: row.actor,
      tenant_id: row.tenant_id,
      action: row.action,
      target: row.target,
      detail: parseDetail(row.detail),
      prev_hash: row.prev_hash,
      hash: row.hash,
    })),
    total: Number(count.n),
    limit,
    offset: q.cursor ? 0 : offset,
    next_cursor: page.next_cursor,
    prev_cursor: page.prev_cursor,
  };
}
