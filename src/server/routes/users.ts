/** Users (administrators only) and API tokens (each principal manages its own). */
import { Type } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import type { AppContext } from '../app.js';
import type { Role as RoleName } from '../auth/principal.js';
import { unauthorized } from '../errors.js';
import { Email, ErrorBody, Id, PageParams, Password, pageOf, Role, TokenInfo, User } from './schemas.js';

export async function userRoutes(app: FastifyInstance, ctx: AppContext): Promise<void> {
  app.get(
    '/api/v1/users',
    {
      config: { access: 'admin' },
      schema: {
        tags: ['users'],
        summary: 'List users',
        querystring: Type.Object(PageParams),
        response: { 200: pageOf(User) },
      },
    },
    async (request) =>
      ctx.accounts.listUsers(request.query as { limit?: number; offset?: number; sort?: string }),
  );

  app.post(
    '/api/v1/users',
    {
      config: { access: 'admin' },
      schema: {
        tags: ['users'],
        summary: 'Create a user: an operator (admin, technician, read_only) or a customer user of one tenant',
        body: Type.Object(
          {
            email: Email,
            name: Type.String({ minLength: 1, maxLength: 200 }),
            password: Password,
            role: Role,
            tenant_id: Type.Optional(Type.Union([Id, Type.Null()])),
          },
          { additionalProperties: false },
        ),
        response: { 201: User, 400: ErrorBody, 409: ErrorBody },
      },
    },
    async (request, reply) => {
      const body = request.body as {
        email: string;
        name: string;
        password: string;
        role: RoleName;
        tenant_id?: string | null;
      };
      const user = await ctx.accounts.createUser(body, `user:${request.principal!.email}`);
      return reply.status(201).send(user);
    },
  );

  app.get(
    '/api/v1/users/:id',
    {
      config: { access: 'admin' },
      schema: {
        tags: ['users'],
        summary: 'One user',
        params: Type.Object({ id: Type.String({ maxLength: 64 }) }),
        response: { 200: User, 404: ErrorBody },
      },
    },
    async (request) => ctx.accounts.getUser((request.params as { id: string }).id),
  );

  app.patch(
    '/api/v1/users/:id',
    {
      config: { access: 'admin' },
      schema: {
        tags: ['users'],
        summary: 'Rename, change role, or disable a user (a changed role or disabling ends their sessions)',
        params: Type.Object({ id: Type.String({ maxLength: 64 }) }),
        body: Type.Object(
          {
            name: Type.Optional(Type.String({ minLength: 1, maxLength: 200 })),
            role: Type.Optional(Role),
            disabled: Type.Optional(Type.Boolean()),
          },
          { additionalProperties: false, minProperties: 1 },
        ),
        response: { 200: User, 400: ErrorBody, 403: ErrorBody, 404: ErrorBody },
      },
    },
    async (request) =>
      ctx.accounts.updateUser(
        (request.params as { id: string }).id,
        request.body as { name?: string; role?: RoleName; disabled?: boolean },
        request.principal!,
      ),
  );

  app.get(
    '/api/v1/tokens',
    {
      config: { access: 'authenticated' },
      schema: {
        tags: ['tokens'],
        summary: 'Your API tokens (never the secrets)',
        response: { 200: Type.Array(TokenInfo) },
      },
    },
    async (request) => ctx.accounts.listTokens(request.principal!),
  );

  app.post(
    '/api/v1/tokens',
    {
      config: { access: 'authenticated' },
      schema: {
        tags: ['tokens'],
        summary: 'Create an API token scoped to a role (at most yours) and optionally one tenant; shown once',
        body: Type.Object(
          {
            name: Type.String({ minLength: 1, maxLength: 200 }),
            role: Type.Optional(Role),
            tenant_id: Type.Optional(Type.Union([Id, Type.Null()])),
            expires_in_days: Type.Optional(Type.Integer({ minimum: 1, maximum: 3650 })),
          },
          { additionalProperties: false },
        ),
        response: {
          201: Type.Object({
            token: Type.String({ description: 'shown once; store it now' }),
            info: TokenInfo,
          }),
        },
      },
    },
    async (request, reply) => {
      const p = request.principal!;
      if (p.kind !== 'session')
        throw unauthorized('create API tokens from a signed-in session, not with a token');
      const created = await ctx.accounts.createToken(
        p,
        request.body as {
          name: string;
          role?: RoleName;
          tenant_id?: string | null;
          expires_in_days?: number;
        },
      );
      return reply.status(201).send(created);
    },
  );

  app.delete(
    '/api/v1/tokens/:id',
    {
      config: { access: 'authenticated' },
      schema: {
        tags: ['tokens'],
        summary: 'Revoke a token (yours; administrators may revoke any)',
        params: Type.Object({ id: Type.String({ maxLength: 64 }) }),
        response: { 204: Type.Null(), 404: ErrorBody },
      },
    },
    async (request, reply) => {
      await ctx.accounts.revokeToken(request.principal!, (request.params as { id: string }).id);
      return reply.status(204).send();
    },
  );
}
