/**
 * Account queries: the installation's setup token, users, sessions and API tokens. Secrets arrive here only as
 * fingerprints or scrypt hashes.
 */
import type { Kysely } from 'kysely';
import type { PageQuery } from '../data/page.js';
import { pageBounds, sortOrder } from '../data/page.js';
import type { Db } from '../db/connect.js';
import type { ApiTokenTable, Database, SessionTable, UserTable } from '../db/schema.js';
import type { TenantScope } from '../scope.js';

type K = Kysely<Database>;

export class AccountRepository {
  constructor(private readonly db: Db) {}

  private get k(): K {
    return this.db.kysely;
  }

  // Installation

  async userCount(k: K = this.k): Promise<number> {
    const r = await k
      .selectFrom('users')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .executeTakeFirstOrThrow();
    return Number(r.n);
  }

  async setSetupToken(tokenHash: string): Promise<void> {
    await this.k
      .insertInto('installation')
      .values({ id: 1, name: 'Bulwark', created_at: new Date().toISOString(), setup_token_hash: tokenHash })
      .onConflict((oc) => oc.column('id').doUpdateSet({ setup_token_hash: tokenHash }))
      .execute();
  }

  async setupTokenHash(k: K): Promise<string | null | undefined> {
    const inst = await k.selectFrom('installation').selectAll().where('id', '=', 1).executeTakeFirst();
    return inst?.setup_token_hash;
  }

  /** Clears the setup token if it is still `tokenHash`; false when another set-up consumed it first. */
  async consumeSetupToken(k: K, tokenHash: string): Promise<boolean> {
    const r = await k
      .updateTable('installation')
      .set({ setup_token_hash: null })
      .where('id', '=', 1)
      .where('setup_token_hash', '=', tokenHash)
      .executeTakeFirst();
    return Number(r.numUpdatedRows) === 1;
  }

  async tenantExists(k: K, tenantId: string): Promise<boolean> {
    return !!(await k.selectFrom('tenants').select('id').where('id', '=', tenantId).executeTakeFirst());
  }

  // Users

  async userById(id: string): Promise<UserTable | undefined> {
    return this.k.selectFrom('users').selectAll().where('id', '=', id).executeTakeFirst();
  }

  async userByEmail(email: string, k: K = this.k): Promise<UserTable | undefined> {
    return k.selectFrom('users').selectAll().where('email', '=', email).executeTakeFirst();
  }

  async insertUser(k: K, row: UserTable): Promise<void> {
    await k.insertInto('users').values(row).execute();
  }

  async listUsers(
    q: PageQuery,
  ): Promise<{ rows: UserTable[]; total: number; limit: number; offset: number }> {
    const { limit, offset } = pageBounds(q);
    const order = sortOrder(q.sort, ['email', 'name', 'role', 'created_at'] as const, 'email');
    const rows = await this.k
      .selectFrom('users')
      .selectAll()
      .orderBy(order.column, order.direction)
      .limit(limit)
      .offset(offset)
      .execute();
    return { rows, total: await this.userCount(), limit, offset };
  }

  async updateUser(k: K, id: string, set: Partial<Pick<UserTable, 'name' | 'role' | 'disabled'>>) {
    await k.updateTable('users').set(set).where('id', '=', id).execute();
  }

  async setPassword(k: K, id: string, passwordHash: string): Promise<void> {
    await k.updateTable('users').set({ password_hash: passwordHash }).where('id', '=', id).execute();
  }

  /** Records a used TOTP step if it is newer than the last one; false when a concurrent sign-in claimed it. */
  async claimTotpStep(id: string, step: number): Promise<boolean> {
    const r = await this.k
      .updateTable('users')
      .set({ totp_last_step: step })
      .where('id', '=', id)
      .where('totp_last_step', '<', step)
      .executeTakeFirst();
    return Number(r.numUpdatedRows) === 1;
  }

  async setTotp(
    k: K,
    id: string,
    set: Partial<Pick<UserTable, 'totp_secret' | 'totp_enabled' | 'totp_last_step'>>,
  ): Promise<void> {
    await k.updateTable('users').set(set).where('id', '=', id).execute();
  }

  // Sessions

  async insertSession(k: K, row: SessionTable): Promise<void> {
    await k.insertInto('sessions').values(row).execute();
  }

  async deleteSession(idHash: string): Promise<void> {
    await this.k.deleteFrom('sessions').where('id_hash', '=', idHash).execute();
  }

  async deleteUserSessions(k: K, userId: string): Promise<void> {
    await k.deleteFrom('sessions').where('user_id', '=', userId).execute();
  }

  async sessionWithUser(idHash: string) {
    return this.k
      .selectFrom('sessions as s')
      .innerJoin('users as u', 'u.id', 's.user_id')
      .select([
        's.csrf_token',
        's.expires_at',
        's.last_seen_at',
        'u.id',
        'u.email',
        'u.role',
        'u.tenant_id',
        'u.disabled',
      ])
      .where('s.id_hash', '=', idHash)
      .executeTakeFirst();
  }

  async touchSession(idHash: string, at: string): Promise<void> {
    await this.k.updateTable('sessions').set({ last_seen_at: at }).where('id_hash', '=', idHash).execute();
  }

  // API tokens

  async insertToken(k: K, row: ApiTokenTable): Promise<void> {
    await k.insertInto('api_tokens').values(row).execute();
  }

  /** A user's tokens that the scope sees (a tenant-scoped principal: only tokens scoped to its tenant). */
  async listTokens(scope: TenantScope, userId: string) {
    const q = this.k
      .selectFrom('api_tokens')
      .select(['id', 'name', 'role', 'tenant_id', 'created_at', 'expires_at', 'last_used_at', 'revoked_at'])
      .where('user_id', '=', userId);
    return scope.filter(q, 'tenant_id').orderBy('created_at', 'desc').execute();
  }

  async tokenOwner(id: string) {
    return this.k
      .selectFrom('api_tokens')
      .select(['id', 'user_id', 'tenant_id'])
      .where('id', '=', id)
      .executeTakeFirst();
  }

  async revokeToken(k: K, id: string, at: string): Promise<void> {
    await k.updateTable('api_tokens').set({ revoked_at: at }).where('id', '=', id).execute();
  }

  async tokenWithUser(id: string) {
    return this.k
      .selectFrom('api_tokens as t')
      .innerJoin('users as u', 'u.id', 't.user_id')
      .select([
        't.id',
        't.role',
        't.tenant_id',
        't.secret_hash',
        't.expires_at',
        't.revoked_at',
        't.last_used_at',
        'u.id as user_id',
        'u.email',
        'u.role as user_role',
        'u.disabled',
      ])
      .where('t.id', '=', id)
      .executeTakeFirst();
  }

  async touchToken(id: string, at: string): Promise<void> {
    await this.k.updateTable('api_tokens').set({ last_used_at: at }).where('id', '=', id).execute();
  }
}
