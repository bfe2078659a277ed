/** First administrator, sign-in and sign-out, the current user, password change and TOTP enrolment. */
import { Type } from '@sinclair/typebox';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import {
  ErrorBody,
  LoginBody,
  LoginResult,
  Me,
  PasswordChange,
  SetupBody,
  TotpConfirm,
  TotpDisable,
  TotpEnrolment,
  User,
} from '../../api/index.js';
import { actorOf, permissionsOf } from '../auth/principal.js';
import { type AppContext, principalOf, SESSION_COOKIE, typed } from '../context.js';
import { ApiError, unauthorized } from '../errors.js';
import { SESSION_TTL_MS } from './service.js';

export async function sessionRoutes(fastify: FastifyInstance, ctx: AppContext): Promise<void> {
  const app = typed(fastify);
  const limit = ctx.config.login_rate_limit;
  // Per client address and per account, so neither one address nor many addresses can guess one password: the
  // plugin limits per address (its default key, which folds IPv6 to /64) in onRequest, before the body is read,
  // and a second limiter counts attempts per account once the body is parsed. (One limiter keyed by address and
  // account cannot do both: in onRequest the body, and so the account, is not known yet.)
  const cache = 20_000;
  const loginLimit = {
    rateLimit: { max: limit.max, timeWindow: limit.window_seconds * 1000, cache },
  };
  const accountLimiter = () => {
    const check = app.createRateLimit({
      max: limit.max,
      timeWindow: limit.window_seconds * 1000,
      cache,
      keyGenerator: (request) => {
        const email = (request.body as { email?: unknown } | undefined)?.email;
        return typeof email === 'string' ? email.trim().toLowerCase().slice(0, 254) : '';
      },
    } as Parameters<typeof app.createRateLimit>[0]);
    return async (request: FastifyRequest) => {
      const r = await check(request);
      if (!r.isAllowed && r.isExceeded) {
        throw new ApiError(
          429,
          'rate_limited',
          `too many sign-in attempts for this account; retry in ${r.ttlInSeconds} s`,
        );
      }
    };
  };

  // The setup route alone also reads an HTML-form body, so that the command printed on first start can send the
  // password with `curl --data-urlencode password@-` from a prompt instead of asking people to edit a JSON
  // literal (pasted unchanged, such a literal would set the placeholder as the administrator's password).
  await app.register(async (scope) => {
    scope.addContentTypeParser(
      'application/x-www-form-urlencoded',
      { parseAs: 'string', bodyLimit: 16 * 1024 },
      (_request, body, done) => done(null, Object.fromEntries(new URLSearchParams(body as string))),
    );
    await setupRoute(scope);
  });

  async function setupRoute(plugin: FastifyInstance): Promise<void> {
    typed(plugin).post(
      '/api/v1/setup',
      {
        config: { access: 'public', ...loginLimit },
        preHandler: accountLimiter(),
        schema: {
          tags: ['session'],
          summary: 'Create the first administrator with the setup token printed on first start',
          description:
            'JSON, or an HTML-form body (application/x-www-form-urlencoded) as the printed curl command sends. ' +
            'Passwords that look like placeholders (<…>, changeme, password…) are refused with 400.',
          consumes: ['application/json', 'application/x-www-form-urlencoded'],
          body: SetupBody,
          response: { 201: User, 400: ErrorBody, 403: ErrorBody, 409: ErrorBody },
        },
      },
      async (request, reply) => {
        const user = await ctx.accounts.completeSetup(request.body);
        request.log.info({ user: user.email }, 'first administrator created');
        return reply.status(201).send(user);
      },
    );
  }

  app.post(
    '/api/v1/session',
    {
      config: { access: 'public', ...loginLimit },
      preHandler: accountLimiter(),
      schema: {
        tags: ['session'],
        summary: 'Sign in; sets the session cookie and returns the CSRF token for state-changing requests',
        body: LoginBody,
        response: { 200: LoginResult, 401: ErrorBody, 429: ErrorBody },
      },
    },
    async (request, reply) => {
      const body = request.body;
      try {
        const { user, sessionId, csrfToken, expiresAt } = await ctx.accounts.login(body);
        ctx.metrics.logins.inc({ outcome: 'ok' });
        reply.setCookie(SESSION_COOKIE, sessionId, {
          path: '/',
          httpOnly: true,
          sameSite: 'strict',
          secure: request.protocol === 'https',
          maxAge: SESSION_TTL_MS / 1000,
        });
        return { user, csrf_token: csrfToken, expires_at: expiresAt };
      } catch (err) {
        ctx.metrics.logins.inc({ outcome: 'failed' });
        request.log.warn({ email: body.email.toLowerCase() }, 'sign-in failed');
        throw err;
      }
    },
  );

  app.delete(
    '/api/v1/session',
    {
      config: { access: 'authenticated' },
      schema: { tags: ['session'], summary: 'Sign out (ends this session)', response: { 204: Type.Null() } },
    },
    async (request, reply) => {
      const sessionId = request.cookies[SESSION_COOKIE];
      if (sessionId) await ctx.accounts.logout(sessionId);
      reply.clearCookie(SESSION_COOKIE, { path: '/' });
      return reply.status(204).send(null);
    },
  );

  app.get(
    '/api/v1/me',
    {
      config: { access: 'authenticated' },
      schema: {
        tags: ['session'],
        summary: 'The signed-in user or token owner, with the role and tenant scope in force',
        response: { 200: Me },
      },
    },
    async (request) => {
      const p = principalOf(request);
      return {
        user: await ctx.accounts.getUser(p.userId),
        via: p.kind,
        role: p.role,
        tenant: p.scope.all ? null : p.scope.tenantId,
        permissions: permissionsOf(p),
        ...(p.csrfToken ? { csrf_token: p.csrfToken } : {}),
      };
    },
  );

  app.post(
    '/api/v1/me/password',
    {
      config: { access: 'authenticated' },
      schema: {
        tags: ['session'],
        summary: 'Change your password (ends all your sessions)',
        body: PasswordChange,
        response: { 204: Type.Null(), 403: ErrorBody },
      },
    },
    async (request, reply) => {
      const p = principalOf(request);
      if (p.kind !== 'session')
        throw unauthorized('change a password from a signed-in session, not with a token');
      const body = request.body;
      await ctx.accounts.changePassword(p, body.current_password, body.new_password);
      return reply.status(204).send(null);
    },
  );

  app.post(
    '/api/v1/me/totp',
    {
      config: { access: 'authenticated' },
      schema: {
        tags: ['session'],
        summary: 'Start two-factor enrolment: a TOTP secret and otpauth:// URI for an authenticator app',
        response: { 200: TotpEnrolment },
      },
    },
    async (request) => {
      const p = principalOf(request);
      if (p.kind !== 'session') throw unauthorized('enrol from a signed-in session');
      return ctx.accounts.startTotp(p);
    },
  );

  app.post(
    '/api/v1/me/totp/confirm',
    {
      config: { access: 'authenticated' },
      schema: {
        tags: ['session'],
        summary: 'Finish enrolment with a current code; sign-in then needs a code',
        body: TotpConfirm,
        response: { 204: Type.Null() },
      },
    },
    async (request, reply) => {
      const p = principalOf(request);
      // Like starting and turning off enrolment, finishing it needs a signed-in session.
      if (p.kind !== 'session') throw unauthorized('enrol from a signed-in session');
      await ctx.accounts.confirmTotp(p, request.body.code);
      return reply.status(204).send(null);
    },
  );

  app.delete(
    '/api/v1/me/totp',
    {
      config: { access: 'authenticated' },
      schema: {
        tags: ['session'],
        summary: 'Turn two-factor sign-in off (needs the password)',
        body: TotpDisable,
        response: { 204: Type.Null() },
      },
    },
    async (request, reply) => {
      const p = principalOf(request);
      if (p.kind !== 'session') throw unauthorized('change two-factor settings from a signed-in session');
      await ctx.accounts.disableTotp(p, request.body.password);
      request.log.info({ actor: actorOf(p) }, 'two-factor sign-in turned off');
      return reply.status(204).send(null);
    },
  );
}
