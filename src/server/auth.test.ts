/**
 * People and access, on SQLite and on PostgreSQL: scrypt password hashes, the session cookie's attributes, sign-out,
 * TOTP enrolment and sign-in (replay refused, turning it off needs the password), password change, disabled and
 * demoted users, rate-limited sign-in (per address and per account), the single-use setup token, and secrets kept
 * out of the audit log and the server log.
 */
import { Writable } from 'node:stream';
import * as OTPAuth from 'otpauth';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp } from './app.js';
import { ADMIN, type Caller, openTestServer, sessionOf, type TestServer } from './app.testkit.js';
import { loadServerConfig } from './config.js';
import { CSRF_HEADER, SESSION_COOKIE } from './context.js';
import { openTestDb, TEST_DIALECTS } from './db/db.testkit.js';

const PASSWORD = 'auth-test-password-1';
const METRICS_TOKEN = 'metrics-token-for-the-auth-test';

/** The secret part of `bwk_<12-character id>_<secret>` (the secret itself may contain `_`). */
const tokenSecret = (token: string) => token.slice('bwk_'.length + 12 + 1);

/** A code for the secret at `offset` periods from now (the server accepts one period of drift either way). */
function totpCode(secret: string, offset = 0): string {
  return new OTPAuth.TOTP({
    algorithm: 'SHA1',
    digits: 6,
    period: 30,
    secret: OTPAuth.Secret.fromBase32(secret),
  }).generate({ timestamp: Date.now() + offset * 30_000 });
}

function login(t: TestServer, email: string, password: string, extra: object = {}, headers = {}) {
  return t.app.inject({
    method: 'POST',
    url: '/api/v1/session',
    payload: { email, password, ...extra },
    headers,
  });
}

describe.each(TEST_DIALECTS)('people and access (%s)', (dialect) => {
  let s: TestServer | undefined;
  const logLines: string[] = [];
  /** Every secret the tests see: none may appear in the log or the audit log. */
  const secrets = new Set<string>([ADMIN.password, PASSWORD]);
  let users = 0;

  beforeAll(async () => {
    const stream = new Writable({
      write(chunk, _enc, done) {
        logLines.push(String(chunk));
        done();
      },
    });
    s = await openTestServer(
      dialect,
      { trust_proxy: true, login_rate_limit: { max: 1000, window_seconds: 60 } },
      { logger: { level: 'trace', stream } },
    );
  }, 60_000);
  afterAll(async () => {
    await s?.dispose();
  });
  const server = (ctx: { skip: () => void }) => {
    if (!s) ctx.skip();
    return s!;
  };

  /** A new user (created by the administrator) and a signed-in session of it. */
  async function newUser(t: TestServer, role: string, tenant_id?: string) {
    const email = `user${++users}-${role}@auth.example`;
    const res = await t.call(t.admin, {
      method: 'POST',
      url: '/api/v1/users',
      payload: { email, name: email, role, password: PASSWORD, ...(tenant_id ? { tenant_id } : {}) },
    });
    expect(res.statusCode, res.body).toBe(201);
    const session = await sessionOf(t.app, email, PASSWORD);
    secrets.add(session.headers.cookie!.split('=')[1]!);
    secrets.add(session.headers[CSRF_HEADER]!);
    return { id: res.json().id as string, email, session };
  }

  async function tokenFor(t: TestServer, by: Caller, payload: object = {}) {
    const res = await t.call(by, {
      method: 'POST',
      url: '/api/v1/tokens',
      payload: { name: 'tok', ...payload },
    });
    expect(res.statusCode, res.body).toBe(201);
    const token = res.json().token as string;
    secrets.add(token);
    secrets.add(tokenSecret(token));
    return { id: res.json().info.id as string, caller: { headers: { authorization: `Bearer ${token}` } } };
  }

  const me = (t: TestServer, caller: Caller) => t.call(caller, { method: 'GET', url: '/api/v1/me' });

  it('stores passwords as salted scrypt hashes', async (ctx) => {
    const t = server(ctx);
    const a = await newUser(t, 'read_only');
    const b = await newUser(t, 'read_only');
    const rows = await t.db.kysely
      .selectFrom('users')
      .select(['id', 'password_hash'])
      .where('id', 'in', [a.id, b.id])
      .execute();
    expect(rows).toHaveLength(2);
    for (const r of rows) {
      expect(r.password_hash).toMatch(/^scrypt\$32768\$8\$1\$[A-Za-z0-9_-]{22}\$[A-Za-z0-9_-]{43}$/);
      expect(r.password_hash).not.toContain(PASSWORD);
    }
    // Same password, different salt: different hashes.
    expect(rows[0]!.password_hash).not.toBe(rows[1]!.password_hash);
  });

  it('sets the session cookie HttpOnly, SameSite=Strict, and Secure over https', async (ctx) => {
    const t = server(ctx);
    const plain = await login(t, ADMIN.email, ADMIN.password);
    expect(plain.statusCode).toBe(200);
    const c1 = plain.cookies.find((c) => c.name === SESSION_COOKIE)!;
    expect(c1).toMatchObject({ httpOnly: true, sameSite: 'Strict', path: '/' });
    expect(c1.secure).toBeFalsy();
    // Behind a TLS-terminating proxy (trust_proxy is on here), the cookie is Secure.
    const tls = await login(t, ADMIN.email, ADMIN.password, {}, { 'x-forwarded-proto': 'https' });
    const c2 = tls.cookies.find((c) => c.name === SESSION_COOKIE)!;
    expect(c2).toMatchObject({ httpOnly: true, sameSite: 'Strict', secure: true, path: '/' });
    const raw = String(tls.headers['set-cookie']);
    expect(raw).toMatch(/HttpOnly/);
    expect(raw).toMatch(/SameSite=Strict/);
    expect(raw).toMatch(/Secure/);
    // The session id is random per sign-in, and the CSRF token is not the session id.
    expect(c1.value).not.toBe(c2.value);
    expect(plain.json().csrf_token).not.toBe(c1.value);
    for (const c of [c1, c2]) secrets.add(c.value);
    secrets.add(plain.json().csrf_token);
    secrets.add(tls.json().csrf_token);
  });

  it('signs out: the session ends, and signing out needs the CSRF token', async (ctx) => {
    const t = server(ctx);
    const u = await newUser(t, 'technician');
    const noCsrf = await t.call(
      { headers: { cookie: u.session.headers.cookie! } },
      { method: 'DELETE', url: '/api/v1/session' },
    );
    expect(noCsrf.statusCode).toBe(403);
    const wrongCsrf = await t.call(
      { headers: { cookie: u.session.headers.cookie!, [CSRF_HEADER]: 'x'.repeat(32) } },
      { method: 'DELETE', url: '/api/v1/session' },
    );
    expect(wrongCsrf.statusCode).toBe(403);
    expect((await me(t, u.session)).statusCode).toBe(200);
    const out = await t.call(u.session, { method: 'DELETE', url: '/api/v1/session' });
    expect(out.statusCode).toBe(204);
    expect(String(out.headers['set-cookie'])).toMatch(new RegExp(`${SESSION_COOKIE}=;`));
    expect((await me(t, u.session)).statusCode).toBe(401);
    const rows = await t.db.kysely
      .selectFrom('sessions')
      .select('user_id')
      .where('user_id', '=', u.id)
      .execute();
    expect(rows).toHaveLength(0);
  });

  it('TOTP: enrol, confirm, sign-in needs a fresh code, replay refused, turning off needs the password', async (ctx) => {
    const t = server(ctx);
    const u = await newUser(t, 'technician');
    const token = await tokenFor(t, u.session);
    // Enrolment is for a signed-in person, not a token.
    expect((await t.call(token.caller, { method: 'POST', url: '/api/v1/me/totp' })).statusCode).toBe(401);
    const start = await t.call(u.session, { method: 'POST', url: '/api/v1/me/totp' });
    expect(start.statusCode).toBe(200);
    const { secret, uri } = start.json() as { secret: string; uri: string };
    secrets.add(secret);
    expect(uri).toMatch(/^otpauth:\/\/totp\/Bulwark:/);
    expect(uri).toContain(`secret=${secret}`);
    // Not yet confirmed: sign-in does not ask for a code.
    expect((await login(t, u.email, PASSWORD)).statusCode).toBe(200);
    const confirmByToken = await t.call(token.caller, {
      method: 'POST',
      url: '/api/v1/me/totp/confirm',
      payload: { code: totpCode(secret) },
    });
    expect(confirmByToken.statusCode).toBe(401);
    const current = totpCode(secret);
    const wrong = current === '000000' ? '111111' : '000000';
    const bad = await t.call(u.session, {
      method: 'POST',
      url: '/api/v1/me/totp/confirm',
      payload: { code: wrong },
    });
    expect(bad.statusCode).toBe(400);
    const ok = await t.call(u.session, {
      method: 'POST',
      url: '/api/v1/me/totp/confirm',
      payload: { code: current },
    });
    expect(ok.statusCode).toBe(204);
    expect((await me(t, u.session)).json().user.totp_enabled).toBe(true);
    // Enrolling again while on is refused.
    expect((await t.call(u.session, { method: 'POST', url: '/api/v1/me/totp' })).statusCode).toBe(409);

    const noCode = await login(t, u.email, PASSWORD);
    expect(noCode.statusCode).toBe(401);
    expect(noCode.json().error).toBe('totp_required');
    expect(noCode.cookies.find((c) => c.name === SESSION_COOKIE)).toBeUndefined();
    const wrongCode = await login(t, u.email, PASSWORD, { code: wrong });
    expect(wrongCode.json().error).toBe('bad_totp');
    // The code used to confirm is spent.
    const replayConfirm = await login(t, u.email, PASSWORD, { code: current });
    expect(replayConfirm.statusCode).toBe(401);
    expect(replayConfirm.json().error).toBe('bad_totp');
    // A wrong password with a right code is still a wrong password.
    const next = totpCode(secret, 1);
    expect((await login(t, u.email, 'not-the-password-at-all', { code: next })).statusCode).toBe(401);
    // The next code works once, even when two sign-ins race with it.
    const raced = await Promise.all([
      login(t, u.email, PASSWORD, { code: next }),
      login(t, u.email, PASSWORD, { code: next }),
    ]);
    expect(raced.map((r) => r.statusCode).sort()).toEqual([200, 401]);
    const replay = await login(t, u.email, PASSWORD, { code: next });
    expect(replay.statusCode).toBe(401);
    expect(replay.json().error).toBe('bad_totp');

    // Turning it off: a session and the password.
    expect(
      (
        await t.call(token.caller, {
          method: 'DELETE',
          url: '/api/v1/me/totp',
          payload: { password: PASSWORD },
        })
      ).statusCode,
    ).toBe(401);
    const wrongPw = await t.call(u.session, {
      method: 'DELETE',
      url: '/api/v1/me/totp',
      payload: { password: 'not-the-password-at-all' },
    });
    expect(wrongPw.statusCode).toBe(403);
    expect((await login(t, u.email, PASSWORD)).statusCode).toBe(401); // still on
    const off = await t.call(u.session, {
      method: 'DELETE',
      url: '/api/v1/me/totp',
      payload: { password: PASSWORD },
    });
    expect(off.statusCode).toBe(204);
    expect((await login(t, u.email, PASSWORD)).statusCode).toBe(200);
    const row = await t.db.kysely
      .selectFrom('users')
      .select(['totp_secret', 'totp_enabled'])
      .where('id', '=', u.id)
      .executeTakeFirstOrThrow();
    expect(row.totp_secret).toBeNull();
    expect(Number(row.totp_enabled)).toBe(0);
  });

  it('a password change needs the current password and ends every session', async (ctx) => {
    const t = server(ctx);
    const u = await newUser(t, 'read_only');
    const second = await sessionOf(t.app, u.email, PASSWORD);
    const token = await tokenFor(t, u.session);
    const next = 'auth-test-password-2-new';
    secrets.add(next);
    // Not with a token.
    const viaToken = await t.call(token.caller, {
      method: 'POST',
      url: '/api/v1/me/password',
      payload: { current_password: PASSWORD, new_password: next },
    });
    expect(viaToken.statusCode).toBe(401);
    const wrong = await t.call(u.session, {
      method: 'POST',
      url: '/api/v1/me/password',
      payload: { current_password: 'not-the-password-at-all', new_password: next },
    });
    expect(wrong.statusCode).toBe(403);
    const short = await t.call(u.session, {
      method: 'POST',
      url: '/api/v1/me/password',
      payload: { current_password: PASSWORD, new_password: 'short' },
    });
    expect(short.statusCode).toBe(400);
    expect((await me(t, u.session)).statusCode).toBe(200);
    const changed = await t.call(u.session, {
      method: 'POST',
      url: '/api/v1/me/password',
      payload: { current_password: PASSWORD, new_password: next },
    });
    expect(changed.statusCode).toBe(204);
    expect((await me(t, u.session)).statusCode).toBe(401);
    expect((await me(t, second)).statusCode).toBe(401);
    expect((await login(t, u.email, PASSWORD)).statusCode).toBe(401);
    expect((await login(t, u.email, next)).statusCode).toBe(200);
  });

  it("a disabled user's sessions and tokens stop working at once; re-enabling does not revive sessions", async (ctx) => {
    const t = server(ctx);
    const u = await newUser(t, 'technician');
    const token = await tokenFor(t, u.session);
    expect((await me(t, token.caller)).statusCode).toBe(200);
    const off = await t.call(t.admin, {
      method: 'PATCH',
      url: `/api/v1/users/${u.id}`,
      payload: { disabled: true },
    });
    expect(off.statusCode).toBe(200);
    expect((await me(t, u.session)).statusCode).toBe(401);
    expect((await me(t, token.caller)).statusCode).toBe(401);
    expect((await t.call(token.caller, { method: 'GET', url: '/api/v1/tenants' })).statusCode).toBe(401);
    const denied = await login(t, u.email, PASSWORD);
    expect(denied.statusCode).toBe(401);
    expect(denied.json().error).toBe('bad_credentials'); // same answer as a wrong password
    const on = await t.call(t.admin, {
      method: 'PATCH',
      url: `/api/v1/users/${u.id}`,
      payload: { disabled: false },
    });
    expect(on.statusCode).toBe(200);
    expect((await me(t, u.session)).statusCode).toBe(401);
    expect((await me(t, token.caller)).statusCode).toBe(200);
    // An administrator cannot disable or demote themselves.
    const self = (await me(t, t.admin)).json().user.id;
    const selfOff = await t.call(t.admin, {
      method: 'PATCH',
      url: `/api/v1/users/${self}`,
      payload: { disabled: true },
    });
    expect(selfOff.statusCode).toBe(403);
  });

  it("a demoted user's tokens do not keep the old role", async (ctx) => {
    const t = server(ctx);
    const u = await newUser(t, 'admin');
    const adminToken = await tokenFor(t, u.session);
    const techToken = await tokenFor(t, u.session, { role: 'technician' });
    const roToken = await tokenFor(t, u.session, { role: 'read_only' });
    const createTenant = (caller: Caller, id: string) =>
      t.call(caller, { method: 'POST', url: '/api/v1/tenants', payload: { id, name: id } });
    expect((await createTenant(adminToken.caller, 'demote-1')).statusCode).toBe(201);
    const demoted = await t.call(t.admin, {
      method: 'PATCH',
      url: `/api/v1/users/${u.id}`,
      payload: { role: 'read_only' },
    });
    expect(demoted.statusCode).toBe(200);
    // The session ended with the role change; the admin and technician tokens no longer act at all.
    expect((await me(t, u.session)).statusCode).toBe(401);
    const asAdmin = await createTenant(adminToken.caller, 'demote-2');
    expect(asAdmin.statusCode).toBe(401);
    const asTech = await t.call(techToken.caller, {
      method: 'POST',
      url: '/api/v1/tenants/demote-1/sites',
      payload: { id: 's1', name: 'S1' },
    });
    expect(asTech.statusCode).toBe(401);
    // A token within the new role still works, as that role.
    const ro = await me(t, roToken.caller);
    expect(ro.statusCode).toBe(200);
    expect(ro.json().role).toBe('read_only');
    expect(
      (await t.call(roToken.caller, { method: 'GET', url: '/api/v1/tenants/demote-1' })).statusCode,
    ).toBe(200);
    expect((await createTenant(roToken.caller, 'demote-3')).statusCode).toBe(403);
    // Promoted back, the old tokens work again (the token's own role never exceeds the owner's).
    await t.call(t.admin, { method: 'PATCH', url: `/api/v1/users/${u.id}`, payload: { role: 'admin' } });
    expect((await me(t, adminToken.caller)).json().role).toBe('admin');
  });

  it('API tokens: a role at most the creator’s, a customer only for its own tenant, malformed tokens refused', async (ctx) => {
    const t = server(ctx);
    await t.call(t.admin, { method: 'POST', url: '/api/v1/tenants', payload: { id: 'tok-a', name: 'A' } });
    await t.call(t.admin, { method: 'POST', url: '/api/v1/tenants', payload: { id: 'tok-b', name: 'B' } });
    const cust = await newUser(t, 'customer', 'tok-a');
    const tech = await newUser(t, 'technician');
    const attempts: [Caller, object, number][] = [
      [tech.session, { role: 'admin' }, 403],
      [cust.session, { role: 'read_only' }, 403],
      [cust.session, { role: 'technician' }, 403],
      [cust.session, { tenant_id: 'tok-b' }, 403],
      [cust.session, {}, 201],
      [tech.session, { role: 'customer', tenant_id: 'tok-b' }, 201],
      [tech.session, { role: 'customer' }, 400],
    ];
    for (const [caller, payload, status] of attempts) {
      const res = await t.call(caller, {
        method: 'POST',
        url: '/api/v1/tokens',
        payload: { name: 'x', ...payload },
      });
      expect(res.statusCode, `${JSON.stringify(payload)}: ${res.body}`).toBe(status);
      if (res.statusCode === 201) {
        secrets.add(res.json().token);
        expect(res.json().info.tenant_id).toBe(payload === attempts[4]![1] ? 'tok-a' : 'tok-b');
      }
    }
    const good = await tokenFor(t, tech.session);
    const raw = good.caller.headers.authorization.slice('Bearer '.length);
    const variants = [
      raw.slice(0, -1), // short
      `${raw}x`, // long
      `${raw.slice(0, -1)}${raw.endsWith('A') ? 'B' : 'A'}`, // wrong secret
      raw.replace(/^bwk_/, 'bwk-'),
      raw.toUpperCase(),
      `${raw} ${raw}`,
    ];
    for (const v of variants) {
      const res = await t.call(
        { headers: { authorization: `Bearer ${v}` } },
        { method: 'GET', url: '/api/v1/me' },
      );
      expect(res.statusCode, v).toBe(401);
    }
    expect((await me(t, good.caller)).statusCode).toBe(200);
    // A token is stored as a fingerprint only.
    const row = await t.db.kysely
      .selectFrom('api_tokens')
      .selectAll()
      .where('id', '=', good.id)
      .executeTakeFirstOrThrow();
    expect(JSON.stringify(row)).not.toContain(tokenSecret(raw));
    // Others cannot revoke it; its owner can, and then it stops working.
    const other = await tokenFor(t, cust.session);
    expect(
      (await t.call(cust.session, { method: 'DELETE', url: `/api/v1/tokens/${good.id}` })).statusCode,
    ).toBe(404);
    expect((await t.call(other.caller, { method: 'GET', url: '/api/v1/tokens' })).json()).not.toContainEqual(
      expect.objectContaining({ id: good.id }),
    );
    expect(
      (await t.call(tech.session, { method: 'DELETE', url: `/api/v1/tokens/${good.id}` })).statusCode,
    ).toBe(204);
    expect((await me(t, good.caller)).statusCode).toBe(401);
  });

  it('public routes ignore credentials: a stale bearer token does not break sign-in or health', async (ctx) => {
    const t = server(ctx);
    const stale = { authorization: 'Bearer bwk_AAAAAAAAAAAA_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA' };
    expect((await t.app.inject({ method: 'GET', url: '/health', headers: stale })).statusCode).toBe(200);
    expect((await login(t, ADMIN.email, ADMIN.password, {}, stale)).statusCode).toBe(200);
  });

  it('never writes a password, token, cookie or TOTP secret to the audit log or the server log', async (ctx) => {
    const t = server(ctx);
    // A failed sign-in with a recognisable password, and a bad setup attempt.
    const marker = 'never-log-this-password-42';
    secrets.add(marker);
    expect((await login(t, ADMIN.email, marker)).statusCode).toBe(401);
    await t.app.inject({
      method: 'POST',
      url: '/api/v1/setup',
      payload: { token: 'never-log-this-setup-token', email: 'x@y.example', name: 'X', password: marker },
    });
    secrets.add('never-log-this-setup-token');
    const audit = await t.call(t.admin, { method: 'GET', url: '/api/v1/audit?limit=1000' });
    expect(audit.statusCode).toBe(200);
    expect(audit.json().items.length).toBeGreaterThan(10);
    const auditRows = JSON.stringify(await t.db.kysely.selectFrom('audit_log').selectAll().execute());
    const log = logLines.join('');
    expect(log).toContain('sign-in failed');
    expect(log).toContain('incoming request');
    expect(secrets.size).toBeGreaterThan(20);
    for (const secret of secrets) {
      expect(audit.body.includes(secret), `audit log shows ${secret}`).toBe(false);
      expect(auditRows.includes(secret), `audit table holds ${secret}`).toBe(false);
      expect(log.includes(secret), `server log shows ${secret}`).toBe(false);
    }
    expect(log).not.toMatch(/scrypt\$/);
  });
});

describe.each(TEST_DIALECTS)('rate-limited sign-in (%s)', (dialect) => {
  let s: TestServer | undefined;
  beforeAll(async () => {
    s = await openTestServer(dialect, {
      login_rate_limit: { max: 3, window_seconds: 600 },
      metrics_token: METRICS_TOKEN,
    });
  }, 60_000);
  afterAll(async () => {
    await s?.dispose();
  });

  it('answers 429 after login_rate_limit.max attempts from one address, even with the right password', async (ctx) => {
    if (!s) ctx.skip();
    const t = s!;
    // openTestServer signed in once from the default address (127.0.0.1); use another one here.
    const from = (ip: string, email: string, password: string) =>
      t.app.inject({
        method: 'POST',
        url: '/api/v1/session',
        remoteAddress: ip,
        payload: { email, password },
      });
    for (let i = 0; i < 3; i++) {
      expect((await from('10.0.0.1', `nobody${i}@x.example`, 'wrong-password-123')).statusCode).toBe(401);
    }
    const blocked = await from('10.0.0.1', ADMIN.email, ADMIN.password);
    expect(blocked.statusCode).toBe(429);
    expect(blocked.json().error).toBe('rate_limited');
    expect(blocked.headers['retry-after']).toBeDefined();
    // Another address is not affected.
    expect((await from('10.0.0.2', ADMIN.email, ADMIN.password)).statusCode).toBe(200);
  });

  it('serves /metrics with the metrics token (which is not an API token) and refuses it without', async (ctx) => {
    if (!s) ctx.skip();
    const t = s!;
    const anon = await t.app.inject({ method: 'GET', url: '/metrics' });
    expect(anon.statusCode).toBe(401);
    const res = await t.app.inject({
      method: 'GET',
      url: '/metrics',
      headers: { authorization: `Bearer ${METRICS_TOKEN}` },
    });
    expect(res.statusCode, res.body).toBe(200);
    expect(res.body).toContain('bulwark_');
  });

  it('limits attempts on one account from many addresses', async (ctx) => {
    if (!s) ctx.skip();
    const t = s!;
    const res: number[] = [];
    for (let i = 0; i < 4; i++) {
      const r = await t.app.inject({
        method: 'POST',
        url: '/api/v1/session',
        remoteAddress: `10.1.0.${i + 1}`,
        payload: { email: 'Victim@X.example', password: `guess-number-${i}` },
      });
      res.push(r.statusCode);
    }
    expect(res).toEqual([401, 401, 401, 429]);
    // The limit applies to the account however the address is written.
    const again = await t.app.inject({
      method: 'POST',
      url: '/api/v1/session',
      remoteAddress: '10.1.0.9',
      payload: { email: 'victim@x.example', password: 'guess-number-9' },
    });
    expect(again.statusCode).toBe(429);
  });
});

describe.each(TEST_DIALECTS)('first administrator (%s)', (dialect) => {
  it('the setup token works once, even when two set-ups race with it', async (ctx) => {
    const db = await openTestDb(dialect);
    if (!db) return ctx.skip();
    const config = loadServerConfig({ overrides: { data_dir: db.dataDir, log_level: 'silent' } });
    const { app, ctx: appCtx } = await buildApp({ db, config, logger: false });
    try {
      await app.ready();
      const token = (await appCtx.accounts.issueSetupToken())!;
      expect(token).toBeTruthy();
      const setup = (email: string, tok = token) =>
        app.inject({
          method: 'POST',
          url: '/api/v1/setup',
          payload: { token: tok, email, name: 'First', password: 'first-admin-password' },
        });
      const wrong = await setup('a@x.example', `${token}x`);
      expect(wrong.statusCode).toBe(403);
      const raced = await Promise.all([setup('a@x.example'), setup('b@x.example')]);
      expect(raced.map((r) => r.statusCode).sort()).toEqual([201, 409]);
      expect((await setup('c@x.example')).statusCode).toBe(409);
      expect(await appCtx.accounts.userCount()).toBe(1);
      // With an administrator present no new token is issued.
      expect(await appCtx.accounts.issueSetupToken()).toBeUndefined();
      const row = await db.kysely.selectFrom('installation').selectAll().executeTakeFirstOrThrow();
      expect(row.setup_token_hash).toBeNull();
    } finally {
      await app.close();
      await db.dispose();
    }
  });
});
