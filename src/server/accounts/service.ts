/**
 * People and credentials: the first administrator (with the one-time setup token), users, sessions, API tokens
 * and TOTP. Secrets are stored only as fingerprints or scrypt hashes, and never written to logs or the audit log.
 */
import { randomUUID } from 'node:crypto';
import * as OTPAuth from 'otpauth';
import type { TokenInfo as ApiTokenInfo, User } from '../../api/index.js';
import { appendAudit } from '../audit/log.js';
import { dummyHash, hashPassword, passwordProblem, verifyPassword } from '../auth/passwords.js';
import { ALL_TENANTS, type Principal, type Role, roleWithin, scopeFor } from '../auth/principal.js';
import { fingerprint, newApiToken, parseApiToken, randomSecret, sameSecret } from '../auth/secrets.js';
import type { Page, PageQuery } from '../data/page.js';
import type { Db } from '../db/connect.js';
import type { UserTable } from '../db/schema.js';
import { ApiError, badRequest, conflict, forbidden, notFound } from '../errors.js';
import { TenantScope } from '../scope.js';
import { AccountRepository } from './repository.js';

export type { ApiTokenInfo, User };

export const SESSION_TTL_MS = 12 * 60 * 60 * 1000;
/** A session idle this long ends, whatever its absolute expiry. */
export const SESSION_IDLE_MS = 60 * 60 * 1000;
const TOTP_PERIOD = 30;

function toUser(r: UserTable): User {
  return {
    id: r.id,
    email: r.email,
    name: r.name,
    role: r.role as Role,
    tenant_id: r.tenant_id,
    totp_enabled: r.totp_enabled === 1,
    disabled: r.disabled === 1,
    created_at: r.created_at,
  };
}

function totpFor(secret: string, label: string): OTPAuth.TOTP {
  return new OTPAuth.TOTP({
    issuer: 'Bulwark',
    label,
    algorithm: 'SHA1',
    digits: 6,
    period: TOTP_PERIOD,
    secret: OTPAuth.Secret.fromBase32(secret),
  });
}

/** The time step a code belongs to (±1 step of clock drift), or undefined when it is wrong. */
function totpStep(secret: string, label: string, code: string, now = Date.now()): number | undefined {
  if (!/^\d{6}$/.test(code)) return undefined;
  const delta = totpFor(secret, label).validate({ token: code, timestamp: now, window: 1 });
  return delta === null ? undefined : Math.floor(now / 1000 / TOTP_PERIOD) + delta;
}

export class AccountsService {
  private readonly repo: AccountRepository;

  constructor(private readonly db: Db) {
    this.repo = new AccountRepository(db);
  }

  private get k() {
    return this.db.kysely;
  }

  /** The principal's own user row (it exists: the principal was resolved from it). */
  private async ownUser(principal: Principal): Promise<UserTable> {
    const row = await this.repo.userById(principal.userId);
    if (!row) throw notFound(`user ${principal.userId}`);
    return row;
  }

  // First start

  userCount(): Promise<number> {
    return this.repo.userCount();
  }

  /**
   * On a start with no users: a new one-time setup token (its fingerprint stored), to be printed once. Undefined
   * when an administrator exists.
   */
  async issueSetupToken(): Promise<string | undefined> {
    if ((await this.userCount()) > 0) return undefined;
    const token = randomSecret(24);
    await this.repo.setSetupToken(fingerprint(token));
    return token;
  }

  async completeSetup(input: {
    token: string;
    email: string;
    name: string;
    password: string;
  }): Promise<User> {
    return this.k.transaction().execute(async (trx) => {
      const tokenHash = await this.repo.setupTokenHash(trx);
      if ((await this.repo.userCount(trx)) > 0 || !tokenHash) {
        throw new ApiError(
          409,
          'already_set_up',
          'this installation already has an administrator; sign in instead',
        );
      }
      if (!sameSecret(fingerprint(input.token), tokenHash)) {
        throw new ApiError(
          403,
          'bad_setup_token',
          'the setup token is wrong; use the one the server printed on start',
        );
      }
      // The token is consumed with a conditional update before the user is created: of two concurrent set-ups
      // (PostgreSQL, read committed) that both passed the checks above, only one creates an administrator.
      if (!(await this.repo.consumeSetupToken(trx, tokenHash))) {
        throw new ApiError(409, 'already_set_up', 'the setup token was used meanwhile; sign in instead');
      }
      const user = await this.insertUser(trx, { ...input, role: 'admin', tenant_id: null });
      await appendAudit(trx, this.db.dialect, {
        actor: `user:${user.email}`,
        tenantId: null,
        action: 'setup.complete',
        target: `user:${user.id}`,
        detail: { email: user.email },
      });
      return user;
    });
  }

  // Users

  private async insertUser(
    trx: Parameters<Parameters<ReturnType<Db['kysely']['transaction']>['execute']>[0]>[0],
    input: { email: string; name: string; password: string; role: Role; tenant_id: string | null },
  ): Promise<User> {
    const problem = passwordProblem(input.password);
    if (problem) throw badRequest(`password: ${problem}`);
    const email = input.email.trim().toLowerCase();
    const taken = await this.repo.userByEmail(email, trx);
    if (taken) throw conflict(`a user with email ${email} already exists`);
    if (input.role === 'customer' && !input.tenant_id)
      throw badRequest('tenant_id: a customer user needs a tenant');
    if (input.role !== 'customer' && input.tenant_id) {
      throw badRequest('tenant_id: only customer users belong to a tenant; operators see every tenant');
    }
    if (input.tenant_id && !(await this.repo.tenantExists(trx, input.tenant_id))) {
      throw badRequest(`tenant_id: tenant ${input.tenant_id} does not exist`);
    }
    const row: UserTable = {
      id: randomUUID(),
      email,
      name: input.name,
      role: input.role,
      tenant_id: input.tenant_id,
      password_hash: await hashPassword(input.password),
      totp_secret: null,
      totp_enabled: 0,
      totp_last_step: 0,
      disabled: 0,
      created_at: new Date().toISOString(),
    };
    await this.repo.insertUser(trx, row);
    return toUser(row);
  }

  async createUser(
    input: { email: string; name: string; password: string; role: Role; tenant_id?: string | null },
    actor: string,
  ): Promise<User> {
    return this.k.transaction().execute(async (trx) => {
      const user = await this.insertUser(trx, { ...input, tenant_id: input.tenant_id ?? null });
      await appendAudit(trx, this.db.dialect, {
        actor,
        tenantId: user.tenant_id,
        action: 'user.create',
        target: `user:${user.id}`,
        detail: { email: user.email, role: user.role },
      });
      return user;
    });
  }

  async listUsers(q: PageQuery): Promise<Page<User>> {
    const { rows, ...page } = await this.repo.listUsers(q);
    return { items: rows.map(toUser), ...page };
  }

  async getUser(id: string): Promise<User> {
    const row = await this.repo.userById(id);
    if (!row) throw notFound(`user ${id}`);
    return toUser(row);
  }

  async updateUser(
    id: string,
    input: { name?: string; role?: Role; disabled?: boolean },
    actor: Principal,
  ): Promise<User> {
    const user = await this.getUser(id);
    if (id === actor.userId && (input.disabled || (input.role && input.role !== user.role))) {
      throw forbidden('you cannot disable yourself or change your own role; ask another administrator');
    }
    if (input.role && (input.role === 'customer') !== (user.role === 'customer')) {
      throw badRequest('role: a customer user cannot become an operator or the reverse; create a new user');
    }
    return this.k.transaction().execute(async (trx) => {
      await this.repo.updateUser(trx, id, {
        ...(input.name !== undefined ? { name: input.name } : {}),
        ...(input.role !== undefined ? { role: input.role } : {}),
        ...(input.disabled !== undefined ? { disabled: input.disabled ? 1 : 0 } : {}),
      });
      // A changed role or a disabled account ends every session at once.
      if (input.disabled || input.role) await this.repo.deleteUserSessions(trx, id);
      await appendAudit(trx, this.db.dialect, {
        actor: `user:${actor.email}`,
        tenantId: user.tenant_id,
        action: 'user.update',
        target: `user:${id}`,
        detail: { ...input },
      });
      return { ...user, ...input } as User;
    });
  }

  // Login and sessions

  /** Checks email, password and (when enrolled) the TOTP code; a new session on success. */
  async login(input: { email: string; password: string; code?: string }): Promise<{
    user: User;
    sessionId: string;
    csrfToken: string;
    expiresAt: string;
  }> {
    const email = input.email.trim().toLowerCase();
    const row = await this.repo.userByEmail(email);
    const ok = await verifyPassword(input.password, row?.password_hash ?? (await dummyHash()));
    if (!row || !ok || row.disabled) {
      throw new ApiError(401, 'bad_credentials', 'email or password is wrong (or the account is disabled)');
    }
    if (row.totp_enabled && row.totp_secret) {
      if (!input.code)
        throw new ApiError(401, 'totp_required', 'this account has two-factor sign-in; send code');
      const step = totpStep(row.totp_secret, row.email, input.code);
      const badTotp = () =>
        new ApiError(401, 'bad_totp', 'the code is wrong or was already used; wait for the next one');
      if (step === undefined || step <= row.totp_last_step) throw badTotp();
      // The step is claimed atomically: of two concurrent sign-ins with the same code, only the one whose
      // update lands gets a session.
      if (!(await this.repo.claimTotpStep(row.id, step))) throw badTotp();
    }
    const sessionId = randomSecret(32);
    const csrfToken = randomSecret(24);
    const now = Date.now();
    const expiresAt = new Date(now + SESSION_TTL_MS).toISOString();
    await this.k.transaction().execute(async (trx) => {
      await this.repo.insertSession(trx, {
        id_hash: fingerprint(sessionId),
        user_id: row.id,
        csrf_token: csrfToken,
        created_at: new Date(now).toISOString(),
        expires_at: expiresAt,
        last_seen_at: new Date(now).toISOString(),
      });
      await appendAudit(trx, this.db.dialect, {
        actor: `user:${row.email}`,
        tenantId: row.tenant_id,
        action: 'session.login',
        target: `user:${row.id}`,
      });
    });
    return { user: toUser(row), sessionId, csrfToken, expiresAt };
  }

  async logout(sessionId: string): Promise<void> {
    await this.repo.deleteSession(fingerprint(sessionId));
  }

  /** The principal behind a session cookie, or undefined (expired, idle, unknown, user disabled). */
  async sessionPrincipal(sessionId: string): Promise<Principal | undefined> {
    const hash = fingerprint(sessionId);
    const row = await this.repo.sessionWithUser(hash);
    if (!row) return undefined;
    const now = Date.now();
    if (
      row.disabled ||
      Date.parse(row.expires_at) <= now ||
      Date.parse(row.last_seen_at) + SESSION_IDLE_MS <= now
    ) {
      await this.repo.deleteSession(hash);
      return undefined;
    }
    // Touch at most once a minute: a busy console does not turn every read into a write.
    if (Date.parse(row.last_seen_at) + 60_000 < now) {
      await this.repo.touchSession(hash, new Date(now).toISOString());
    }
    const role = row.role as Role;
    return {
      kind: 'session',
      userId: row.id,
      email: row.email,
      role,
      scope: scopeFor(role, row.tenant_id),
      csrfToken: row.csrf_token,
    };
  }

  async changePassword(principal: Principal, current: string, next: string): Promise<void> {
    const row = await this.ownUser(principal);
    if (!(await verifyPassword(current, row.password_hash))) {
      throw new ApiError(403, 'bad_credentials', 'current_password is wrong');
    }
    const problem = passwordProblem(next);
    if (problem) throw badRequest(`new_password: ${problem}`);
    const hash = await hashPassword(next);
    await this.k.transaction().execute(async (trx) => {
      await this.repo.setPassword(trx, row.id, hash);
      await this.repo.deleteUserSessions(trx, row.id);
      await appendAudit(trx, this.db.dialect, {
        actor: `user:${row.email}`,
        tenantId: row.tenant_id,
        action: 'user.password',
        target: `user:${row.id}`,
      });
    });
  }

  // TOTP

  /** Starts enrolment: a new secret, not yet required at login until confirmed with a code. */
  async startTotp(principal: Principal): Promise<{ secret: string; uri: string }> {
    const row = await this.ownUser(principal);
    if (row.totp_enabled)
      throw conflict('two-factor sign-in is already on; turn it off first to enrol again');
    const secret = new OTPAuth.Secret({ size: 20 }).base32;
    await this.repo.setTotp(this.k, row.id, { totp_secret: secret });
    return { secret, uri: totpFor(secret, row.email).toString() };
  }

  async confirmTotp(principal: Principal, code: string): Promise<void> {
    const row = await this.ownUser(principal);
    if (!row.totp_secret) throw badRequest('start enrolment first (POST /api/v1/me/totp)');
    // Confirming again while enrolled would move totp_last_step back to an older step and so re-open an already
    // used code for sign-in.
    if (row.totp_enabled) throw conflict('two-factor sign-in is already on');
    const step = totpStep(row.totp_secret, row.email, code);
    if (step === undefined) throw badRequest('code: wrong code; check the authenticator clock');
    await this.k.transaction().execute(async (trx) => {
      await this.repo.setTotp(trx, row.id, { totp_enabled: 1, totp_last_step: step });
      await appendAudit(trx, this.db.dialect, {
        actor: `user:${row.email}`,
        tenantId: row.tenant_id,
        action: 'user.totp.enable',
        target: `user:${row.id}`,
      });
    });
  }

  async disableTotp(principal: Principal, password: string): Promise<void> {
    const row = await this.ownUser(principal);
    if (!(await verifyPassword(password, row.password_hash)))
      throw new ApiError(403, 'bad_credentials', 'password is wrong');
    await this.k.transaction().execute(async (trx) => {
      await this.repo.setTotp(trx, row.id, { totp_enabled: 0, totp_secret: null });
      await appendAudit(trx, this.db.dialect, {
        actor: `user:${row.email}`,
        tenantId: row.tenant_id,
        action: 'user.totp.disable',
        target: `user:${row.id}`,
      });
    });
  }

  // API tokens

  async createToken(
    principal: Principal,
    input: { name: string; role?: Role; tenant_id?: string | null; expires_in_days?: number },
  ): Promise<{ token: string; info: ApiTokenInfo }> {
    const role = input.role ?? principal.role;
    if (!roleWithin(role, principal.role))
      throw forbidden(`role: a ${principal.role} cannot create a ${role} token`);
    let tenantId = input.tenant_id ?? null;
    if (!principal.scope.all) {
      if (tenantId && tenantId !== principal.scope.tenantId)
        throw forbidden('tenant_id: you can only scope to your own tenant');
      tenantId = principal.scope.tenantId;
    }
    if (role === 'customer' && !tenantId) throw badRequest('tenant_id: a customer token needs a tenant');
    if (tenantId && !(await this.repo.tenantExists(this.k, tenantId))) {
      throw badRequest(`tenant_id: tenant ${tenantId} does not exist`);
    }
    const { id, secret, token } = newApiToken();
    const now = Date.now();
    const info: ApiTokenInfo = {
      id,
      name: input.name,
      role,
      tenant_id: tenantId,
      created_at: new Date(now).toISOString(),
      expires_at: input.expires_in_days
        ? new Date(now + input.expires_in_days * 86_400_000).toISOString()
        : null,
      last_used_at: null,
      revoked_at: null,
    };
    await this.k.transaction().execute(async (trx) => {
      await this.repo.insertToken(trx, {
        ...info,
        user_id: principal.userId,
        secret_hash: fingerprint(secret),
      });
      await appendAudit(trx, this.db.dialect, {
        actor: `user:${principal.email}`,
        tenantId,
        action: 'token.create',
        target: `token:${id}`,
        detail: { name: input.name, role, tenant: tenantId },
      });
    });
    return { token, info };
  }

  async listTokens(principal: Principal): Promise<ApiTokenInfo[]> {
    // A tenant-scoped principal sees only tokens scoped to its own tenant (never names of other tenants).
    const rows = await this.repo.listTokens(TenantScope.of(principal.scope), principal.userId);
    return rows.map((r) => ({ ...r, role: r.role as Role }));
  }

  async revokeToken(principal: Principal, id: string): Promise<void> {
    const row = await this.repo.tokenOwner(id);
    // Principals revoke their own tokens, and all-tenant administrators anyone's. A tenant-scoped principal (an
    // admin-role token scoped to one tenant included) reaches only tokens scoped to its own tenant.
    const scope = TenantScope.of(principal.scope);
    const inScope = scope.all || (!!row?.tenant_id && scope.sees(row.tenant_id));
    const mayRevoke =
      row?.user_id === principal.userId || (principal.role === 'admin' && principal.scope.all);
    if (!row || !inScope || !mayRevoke) throw notFound(`token ${id}`);
    await this.k.transaction().execute(async (trx) => {
      await this.repo.revokeToken(trx, id, new Date().toISOString());
      await appendAudit(trx, this.db.dialect, {
        actor: `user:${principal.email}`,
        tenantId: row.tenant_id,
        action: 'token.revoke',
        target: `token:${id}`,
      });
    });
  }

  /** The principal behind a bearer token, or undefined (malformed, unknown, revoked, expired, owner disabled). */
  async tokenPrincipal(token: string): Promise<Principal | undefined> {
    const parsed = parseApiToken(token);
    if (!parsed) return undefined;
    const row = await this.repo.tokenWithUser(parsed.id);
    if (!row || row.revoked_at || row.disabled || !sameSecret(fingerprint(parsed.secret), row.secret_hash))
      return undefined;
    const now = Date.now();
    if (row.expires_at && Date.parse(row.expires_at) <= now) return undefined;
    // A token never exceeds its owner's current role (the owner may have been demoted since).
    const role = row.role as Role;
    if (!roleWithin(role, row.user_role as Role)) return undefined;
    if (!row.last_used_at || Date.parse(row.last_used_at) + 60_000 < now) {
      await this.repo.touchToken(row.id, new Date(now).toISOString());
    }
    return {
      kind: 'token',
      userId: row.user_id,
      email: row.email,
      role,
      scope: role === 'customer' || row.tenant_id ? scopeFor(role, row.tenant_id) : ALL_TENANTS,
      tokenId: row.id,
    };
  }
}
